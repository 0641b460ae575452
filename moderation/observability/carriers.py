"""What a message about the current request carries on to the processes that handle it."""

from __future__ import annotations

from moderation.observability.logs import current_fields
from moderation.observability.tracing import carrier


def current_carrier() -> dict[str, str]:
    """The current request's ``request_id`` and trace context (W3C ``traceparent``), to store
    with what it creates (a submission, an outbox row) and send as message headers."""
    request_id = current_fields().get("request_id")
    return {**({"request_id": request_id} if request_id else {}), **carrier()}
