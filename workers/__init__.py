"""Celery app and tasks: thin shells around moderation.domain flows."""
