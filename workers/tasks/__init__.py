"""Celery tasks, named ``area.verb``."""

from workers import signals
from workers.tasks import inference, maintenance, webhooks

__all__ = ["inference", "maintenance", "signals", "webhooks"]
