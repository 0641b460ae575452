"""Policies: the rubric format, the catalog of versions, authoring, backtests."""
