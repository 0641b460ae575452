"""image retention (issue #24): per-tenant retention, purged images, erasure, legal hold

Revision ID: f4b8e2a6c913
Revises: f4b8d2a6c913
Create Date: 2026-12-07 17:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "f4b8e2a6c913"
down_revision: Union[str, Sequence[str], None] = "f4b8d2a6c913"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("image_retention_days", sa.Integer(), nullable=True))
    op.add_column("images", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "images",
        sa.Column("purge_check", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_index(
        "ix_images_purge_check",
        "images",
        ["sha256"],
        postgresql_where=sa.text("purge_check"),
    )
    op.add_column(
        "submissions", sa.Column("image_purged_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "submissions", sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("submissions", sa.Column("legal_hold_reason", sa.Text(), nullable=True))
    op.add_column("submissions", sa.Column("legal_hold_by", sa.Text(), nullable=True))
    # the submissions that still keep their image: by content (is a blob still needed?) and
    # by age (which are due for the purge)
    op.create_index(
        "ix_submissions_image_kept",
        "submissions",
        ["image_sha256"],
        postgresql_where=sa.text("image_purged_at IS NULL"),
    )
    op.create_index(
        "ix_submissions_kept_created_at",
        "submissions",
        ["created_at"],
        postgresql_where=sa.text("image_purged_at IS NULL"),
    )
    op.add_column(
        "backtest_runs",
        sa.Column("skipped_purged", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("backtest_runs", "skipped_purged")
    op.drop_index("ix_submissions_kept_created_at", table_name="submissions")
    op.drop_index("ix_submissions_image_kept", table_name="submissions")
    for name in ("legal_hold_by", "legal_hold_reason", "legal_hold_at", "image_purged_at"):
        op.drop_column("submissions", name)
    op.drop_index("ix_images_purge_check", table_name="images")
    op.drop_column("images", "purge_check")
    op.drop_column("images", "purged_at")
    op.drop_column("tenants", "image_retention_days")
