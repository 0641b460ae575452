"""Persistence every capability shares: the declarative base, session scope, blob store."""
