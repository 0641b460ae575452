"""Image retention: the purge of expired image bytes, erasure on request, legal holds."""
