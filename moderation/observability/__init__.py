"""What operators see: metrics, structured logs, traces."""
