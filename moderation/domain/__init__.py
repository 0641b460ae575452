"""Rules of the service: intake, policies, verdicts and actions. No FastAPI, no torch."""
