"""telemetry carriers (issue #20): an upload's request_id and trace context on its submission,
and on each outbox message (sent as Celery message headers)

Revision ID: a9c4e6f2b317
Revises: a3d7f1c9e254
Create Date: 2026-12-08 11:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "a9c4e6f2b317"
down_revision: Union[str, Sequence[str], None] = "a3d7f1c9e254"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("trace", postgresql.JSONB(), nullable=True))
    op.add_column("outbox", sa.Column("headers", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "headers")
    op.drop_column("submissions", "trace")
