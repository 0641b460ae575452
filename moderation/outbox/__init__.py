"""The transactional outbox: task messages committed with their rows, relayed to the broker."""
