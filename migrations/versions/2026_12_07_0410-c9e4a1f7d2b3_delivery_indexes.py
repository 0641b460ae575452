"""indexes for the hot queries at 10M rows: idempotency expiry, outbox pruning, audit search,
and the review queue's three reasons

Revision ID: c9e4a1f7d2b3
Revises: b8d2f6e0c412
Create Date: 2026-12-07 04:10:00.000000+00:00

Built with CREATE INDEX CONCURRENTLY where Alembic allows (outside a transaction), so a
running service keeps writing while they build.
"""

from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "c9e4a1f7d2b3"
down_revision: Union[str, Sequence[str], None] = "b8d2f6e0c412"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The review queue's sample bucket, exactly as moderation.review.queue_repository writes it.
SAMPLE_BUCKET = "(abs(hashtext(submission_id::text)::bigint) % 10000)"

INDEXES = {
    "ix_idempotency_keys_created_at": "idempotency_keys (created_at)",
    "ix_outbox_sent_at": "outbox (sent_at) WHERE sent_at IS NOT NULL",
    "ix_audit_events_tenant_recent": "audit_events (tenant_id, created_at DESC, id DESC)",
    "ix_audit_events_recent": "audit_events (created_at DESC, id DESC)",
    "ix_decisions_to_review": (
        "decisions (decided_at, submission_id) WHERE decided_by = 'model' AND action = 'review'"
    ),
    "ix_decisions_sample": (
        f"decisions ({SAMPLE_BUCKET}, decided_at, submission_id) "
        "WHERE decided_by = 'model' AND model_action IN ('allow', 'block')"
    ),
}


# The planner ignores the statistics of a partial index's expression: without these, it
# guesses a third of the decisions for the sample and joins them by scanning submissions.
STATISTICS = f"st_decisions_sample_bucket ON {SAMPLE_BUCKET} FROM decisions"


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(f"CREATE STATISTICS IF NOT EXISTS {STATISTICS}")
    with op.get_context().autocommit_block():
        for name, definition in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")


def downgrade() -> None:
    """Downgrade schema."""
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    op.execute("DROP STATISTICS IF EXISTS st_decisions_sample_bucket")
