"""Benchmarks: run as scripts, e.g. ``python bench/inference.py``."""
