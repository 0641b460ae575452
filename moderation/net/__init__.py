"""Outbound HTTP, guarded against server-side request forgery."""
