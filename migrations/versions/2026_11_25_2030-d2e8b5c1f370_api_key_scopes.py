"""api key scopes, names and prefix index

Revision ID: d2e8b5c1f370
Revises: c7a3f9d2e411
Create Date: 2026-11-25 20:30:00.000000+00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "d2e8b5c1f370"
down_revision: Union[str, Sequence[str], None] = "c7a3f9d2e411"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# every scope at the time of this revision: keys issued before scopes existed could do anything
ALL_SCOPES = [
    "moderations:write",
    "moderations:read",
    "policies:write",
    "reviews:write",
    "keys:write",
]


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("api_keys", sa.Column("name", sa.String(length=100), nullable=True))
    op.add_column(
        "api_keys",
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=32)), nullable=True),
    )
    op.execute(
        sa.text("UPDATE api_keys SET scopes = :scopes").bindparams(
            sa.bindparam("scopes", ALL_SCOPES, type_=postgresql.ARRAY(sa.String(length=32)))
        )
    )
    op.alter_column("api_keys", "scopes", nullable=False)
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_api_keys_prefix"), table_name="api_keys")
    op.drop_column("api_keys", "scopes")
    op.drop_column("api_keys", "name")
