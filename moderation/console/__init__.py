"""The reviewer / policy-author console: server-rendered pages (Jinja2 + htmx) under /review."""
