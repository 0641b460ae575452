"""hash banks: banks, entries (PDQ/MD5/SHA-256), image hashes, backfill matches, decisions.match
(issue #19)

Revision ID: f4b8d2a6c913
Revises: e7a3c5d9f102
Create Date: 2026-12-07 16:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "f4b8d2a6c913"
down_revision: Union[str, Sequence[str], None] = "e7a3c5d9f102"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _now() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "hash_banks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.SmallInteger(), server_default="31", nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_hash_banks_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_banks")),
    )
    op.create_index(op.f("ix_hash_banks_tenant_id"), "hash_banks", ["tenant_id"])
    op.create_index(
        "uq_hash_banks_global_name",
        "hash_banks",
        ["name"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NULL"),
    )
    op.create_index(
        "uq_hash_banks_tenant_id_name",
        "hash_banks",
        ["tenant_id", "name"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NOT NULL"),
    )
    op.create_table(
        "bank_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bank_id", sa.Uuid(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.SmallInteger(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=300), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["hash_banks.id"],
            name=op.f("fk_bank_entries_bank_id_hash_banks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_bank_entries_seq")),
    )
    # (bank_id, pdq): a bank's entries, and an import's duplicate check
    op.create_index("ix_bank_entries_bank_id_pdq", "bank_entries", ["bank_id", "pdq"])
    op.create_index(op.f("ix_bank_entries_md5"), "bank_entries", ["md5"])
    op.create_index(op.f("ix_bank_entries_sha256"), "bank_entries", ["sha256"])
    op.create_table(
        "image_hashes",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(
            ["sha256"], ["images.sha256"], name=op.f("fk_image_hashes_sha256_images")
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_image_hashes")),
    )
    op.create_table(
        "bank_matches",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["bank_entries.id"],
            name=op.f("fk_bank_matches_entry_id_bank_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_bank_matches_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_bank_matches")),
    )
    op.add_column(
        "decisions",
        sa.Column("match", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("decisions", "match")
    op.drop_table("bank_matches")
    op.drop_table("image_hashes")
    op.drop_table("bank_entries")
    op.drop_table("hash_banks")
