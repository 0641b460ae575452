"""review queue: claims, and the model's own action/category kept on each decision

Revision ID: b8d2f6e0c412
Revises: a7c1e5d9b301
Create Date: 2026-11-25 21:10:00.000000+00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "b8d2f6e0c412"
down_revision: Union[str, Sequence[str], None] = "a7c1e5d9b301"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "review_claims",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_review_claims_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_review_claims")),
    )
    op.add_column("decisions", sa.Column("model_action", sa.String(length=16), nullable=True))
    op.add_column("decisions", sa.Column("model_category", sa.String(length=16), nullable=True))
    # every decision so far was the model's own (no reviewer could change one before this)
    op.execute("UPDATE decisions SET model_action = action, model_category = category")
    op.alter_column("decisions", "model_action", nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("decisions", "model_category")
    op.drop_column("decisions", "model_action")
    op.drop_table("review_claims")
