"""Submissions: intake, the worker's moderation flow, verdicts to decisions, appeals, sweeper."""
