"""policies belong to a tenant or are global; a policy's versions are its releases

Existing policies become global (tenant_id NULL) and every existing version becomes a release of
the global policy of its slug. Drafts and backtests keep the tenant that made them
(``created_by_tenant_id``); decisions keep their versions (``policy_versions`` is unchanged).

Revision ID: e7a3c5d9b1f2
Revises: d1f5b2a8c6e4
Create Date: 2026-12-07 14:00:00.000000+00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "e7a3c5d9b1f2"
down_revision: Union[str, Sequence[str], None] = "d1f5b2a8c6e4"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column(
        "policies",
        sa.Column("id", sa.Uuid(), nullable=False, server_default=sa.text("gen_random_uuid()")),
    )
    op.alter_column("policies", "id", server_default=None)
    op.add_column("policies", sa.Column("tenant_id", sa.Uuid(), nullable=True))
    op.drop_constraint("pk_policies", "policies", type_="primary")
    op.create_primary_key("pk_policies", "policies", ["id"])
    op.create_foreign_key(
        op.f("fk_policies_tenant_id_tenants"), "policies", "tenants", ["tenant_id"], ["id"]
    )
    op.create_index(
        "uq_policies_global_slug",
        "policies",
        ["slug"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NULL"),
    )
    op.create_index(
        "uq_policies_tenant_id_slug",
        "policies",
        ["tenant_id", "slug"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NOT NULL"),
    )
    op.create_table(
        "policy_releases",
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column(
            "released_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_policy_releases_policy_id_policies")
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["policy_versions.version"],
            name=op.f("fk_policy_releases_version_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("policy_id", "version", name=op.f("pk_policy_releases")),
    )
    op.create_index(
        op.f("ix_policy_releases_version"), "policy_releases", ["version"], unique=False
    )
    # every version so far was the operator's: a release of the global policy of its slug
    op.execute(
        "INSERT INTO policy_releases (policy_id, version, released_at) "
        "SELECT p.id, v.version, v.created_at FROM policy_versions v "
        "JOIN policies p ON p.slug = v.slug AND p.tenant_id IS NULL"
    )


def downgrade() -> None:
    # tenant policies have no place in the old schema: only the global ones are kept
    op.drop_index(op.f("ix_policy_releases_version"), table_name="policy_releases")
    op.drop_table("policy_releases")
    op.execute("DELETE FROM policies WHERE tenant_id IS NOT NULL")
    op.drop_index("uq_policies_tenant_id_slug", table_name="policies")
    op.drop_index("uq_policies_global_slug", table_name="policies")
    op.drop_constraint(op.f("fk_policies_tenant_id_tenants"), "policies", type_="foreignkey")
    op.drop_constraint("pk_policies", "policies", type_="primary")
    op.create_primary_key("pk_policies", "policies", ["slug"])
    op.drop_column("policies", "tenant_id")
    op.drop_column("policies", "id")
