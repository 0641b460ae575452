"""inference workers say which model profile they ask their model with

Revision ID: d1f5b2a8c6e4
Revises: c9e4a1f7d2b3
Create Date: 2026-12-07 12:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d1f5b2a8c6e4"
down_revision: Union[str, Sequence[str], None] = "c9e4a1f7d2b3"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # workers registered before profiles existed asked the generic way
    op.add_column(
        "inference_workers",
        sa.Column("profile", sa.String(length=32), nullable=False, server_default="generic"),
    )


def downgrade() -> None:
    op.drop_column("inference_workers", "profile")
