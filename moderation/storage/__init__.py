"""Persistence: SQLAlchemy models, the session scope, repositories (all SQL) and the blob store."""
