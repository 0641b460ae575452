"""The audit trail: hash-chained events, one chain per tenant."""
