"""animated images (issue #21): the frames a decision judged, and the frame verdict cache

Revision ID: a3d7f1c9e254
Revises: f4b8e2a6c913
Create Date: 2026-12-08 10:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "a3d7f1c9e254"
down_revision: Union[str, Sequence[str], None] = "f4b8e2a6c913"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column(
        "decisions", sa.Column("frames", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.create_table(
        "frame_verdicts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prompt_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_frame_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("frame_verdicts")
    op.drop_column("decisions", "frames")
