"""Celery tasks, named ``area.verb``."""

from workers import signals
from workers.tasks import backtest, inference, maintenance, webhooks

__all__ = ["backtest", "inference", "maintenance", "signals", "webhooks"]
