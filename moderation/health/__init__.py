"""Liveness and readiness: the service's dependencies and the inference workers' heartbeats."""
