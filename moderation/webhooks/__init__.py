"""Webhooks: tenants' endpoints, signed events and their delivery with retries."""
