"""The Celery app of the workers: the broker contract of ``moderation.outbox.broker`` with the
tasks of ``workers.tasks`` registered."""

from __future__ import annotations

from moderation.outbox.broker import create_celery, publisher

app = create_celery(include=["workers.tasks"])
publish = publisher(app)
