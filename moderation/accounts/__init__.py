"""Accounts: tenants, API keys and scopes, console users and sessions, rate limits."""
