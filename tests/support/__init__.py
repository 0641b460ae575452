"""Test helpers: images, services, processes."""
