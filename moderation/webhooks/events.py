"""Webhook events: which exist, and how they are emitted (set-based, in the caller's transaction).

Emitting writes one pending message per subscribed endpoint and one ``webhooks.deliver`` outbox
row per message, in a single statement; the payload is rendered later by the webhooks worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final, Literal

from sqlalchemy.orm import Session

from moderation.outbox import repository as outbox
from moderation.outbox.queues import DELIVER_TASK, WEBHOOKS_QUEUE
from moderation.submissions.decision_repository import Fanout
from moderation.webhooks import message_repository as webhook_messages

Event = Literal["moderation.decided", "moderation.updated", "moderation.failed"]
MODERATION_DECIDED: Final = "moderation.decided"
MODERATION_UPDATED: Final = "moderation.updated"  # a reviewer changed the decision
MODERATION_FAILED: Final = "moderation.failed"
EVENTS: Final[tuple[Event, ...]] = (MODERATION_DECIDED, MODERATION_UPDATED, MODERATION_FAILED)


def fanout(event: Event) -> Fanout:
    """``event``'s webhook messages and delivery tasks, to write inside another statement."""
    return Fanout(event, DELIVER_TASK, WEBHOOKS_QUEUE)


def emit_events(session: Session, event: Event, submission_ids: Sequence[uuid.UUID]) -> int:
    """Queue ``event`` for these submissions to every enabled endpoint of their tenants that
    subscribes to it; returns how many messages were written (0 and one cheap statement when
    no endpoint subscribes)."""
    if not submission_ids:
        return 0
    messages = webhook_messages.add_for_event(event, submission_ids)
    return outbox.add_per_row(session, DELIVER_TASK, WEBHOOKS_QUEUE, "message_id", messages)


def resend_overdue_deliveries(session: Session, grace_s: float) -> int:
    """Re-enqueue pending deliveries whose task was lost (due more than ``grace_s`` ago)."""
    overdue = webhook_messages.mark_overdue_for_resend(grace_s)
    return outbox.add_per_row(session, DELIVER_TASK, WEBHOOKS_QUEUE, "message_id", overdue)
