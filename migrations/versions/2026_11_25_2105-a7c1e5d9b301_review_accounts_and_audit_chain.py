"""review console accounts and sessions; audit trail append-only and hash-chained per tenant

Revision ID: a7c1e5d9b301
Revises: f3a9c6e1b852
Create Date: 2026-11-25 21:05:00.000000+00:00

The chain is computed in a BEFORE INSERT trigger, so inserts made inside single SQL statements
(intake, decisions) are chained too. Each tenant's chain head lives in ``audit_chain_heads``;
the trigger updates that row first, so concurrent writers of one tenant take
turns, and a writer under REPEATABLE READ gets a serialization error rather than forking the
chain. The hashed content is documented in ``moderation.audit.chain``.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a7c1e5d9b301"
down_revision: Union[str, Sequence[str], None] = "f3a9c6e1b852"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_GENESIS = "0" * 64

_LINK_FUNCTION = f"""
CREATE FUNCTION audit_chain_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT length(value)::text || ':' || value $$;

CREATE FUNCTION audit_chain_link(e audit_events) RETURNS audit_events
LANGUAGE plpgsql AS $$
DECLARE
    chain_key text := coalesce(e.tenant_id::text, '');
BEGIN
    -- the head row's lock makes one tenant's writers take turns until they commit
    -- (row_hash is not changed here, so RETURNING gives the previous row's hash)
    UPDATE audit_chain_heads SET seq = seq + 1 WHERE chain = chain_key
        RETURNING seq, row_hash INTO e.chain_seq, e.prev_hash;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads AS h (chain, seq, row_hash)
            VALUES (chain_key, 1, '{_GENESIS}')
            ON CONFLICT (chain) DO UPDATE SET seq = h.seq + 1
            RETURNING seq, row_hash INTO e.chain_seq, e.prev_hash;
    END IF;
    e.row_hash := encode(sha256(convert_to(concat(
        audit_chain_field(chain_key), audit_chain_field(e.subject_type),
        audit_chain_field(e.subject_id), audit_chain_field(e.event),
        audit_chain_field(e.actor), audit_chain_field(e.data::text),
        audit_chain_field(to_char(e.created_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
        audit_chain_field(e.chain_seq::text), audit_chain_field(e.prev_hash)
    ), 'UTF8')), 'hex');
    UPDATE audit_chain_heads SET row_hash = e.row_hash WHERE chain = chain_key;
    RETURN e;
END $$;
"""

_CHAIN_TRIGGER = """
CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW := audit_chain_link(NEW);
    RETURN NEW;
END $$;
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();
"""

_REFUSE_TRIGGERS = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
"""

_SEAL_EXISTING = """
DO $$
DECLARE r audit_events;
BEGIN
    FOR r IN SELECT * FROM audit_events ORDER BY id LOOP
        r := audit_chain_link(r);
        UPDATE audit_events SET chain_seq = r.chain_seq, prev_hash = r.prev_hash,
            row_hash = r.row_hash WHERE id = r.id;
    END LOOP;
END $$;
"""


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_tenant_id"), "users", ["tenant_id"], unique=False)
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_seen", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index(
        op.f("ix_user_sessions_expires_at"), "user_sessions", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_heads")),
    )
    op.add_column("audit_events", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("row_hash", sa.String(length=64), nullable=True))
    op.execute(_LINK_FUNCTION)
    op.execute(_SEAL_EXISTING)
    for column in ("chain_seq", "prev_hash", "row_hash"):
        op.alter_column("audit_events", column, nullable=False)
    op.create_index(
        "ix_audit_events_chain", "audit_events", ["tenant_id", "chain_seq"], unique=False
    )
    op.execute(_CHAIN_TRIGGER)
    op.execute(_REFUSE_TRIGGERS)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP TRIGGER audit_events_chain ON audit_events")
    op.execute("DROP FUNCTION audit_events_refuse_change()")
    op.execute("DROP FUNCTION audit_events_chain()")
    op.execute("DROP FUNCTION audit_chain_link(audit_events)")
    op.execute("DROP FUNCTION audit_chain_field(text)")
    op.drop_index("ix_audit_events_chain", table_name="audit_events")
    for column in ("row_hash", "prev_hash", "chain_seq"):
        op.drop_column("audit_events", column)
    op.drop_table("audit_chain_heads")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_expires_at"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_index(op.f("ix_users_tenant_id"), table_name="users")
    op.drop_table("users")
