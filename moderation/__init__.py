"""Self-hosted image content moderation built on LLaVA-family vision-language models."""

__version__ = "0.1.0"
