"""Celery app and tasks: thin shells over the capabilities' flows."""
