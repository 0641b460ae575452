"""reviewer display settings: blur strength and grayscale per console user (issue #23)

Revision ID: e7a3c5d9f102
Revises: e7a3c5d9b1f2
Create Date: 2026-12-07 15:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "e7a3c5d9f102"
down_revision: Union[str, Sequence[str], None] = "e7a3c5d9b1f2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "reviewer_display",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("blur", sa.String(length=8), server_default="strong", nullable=False),
        sa.Column("grayscale", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("reviewer_display")
