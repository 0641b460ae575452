"""Which checkpoint to run: the configured one, a cached real one, or an offline demo."""

from __future__ import annotations

import logging
from pathlib import Path

from moderation.config import Settings

log = logging.getLogger(__name__)

DEFAULT_REAL_MODEL = "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf"
DEMO_ARCH = "llava_onevision"
DEMO_WARNING = (
    "MODERATION_MODEL is not set and no real checkpoint is cached: using a tiny RANDOM-WEIGHT "
    "demo model. Its verdicts are meaningless. Set MODERATION_MODEL to a LLaVA checkpoint "
    f"(for example {DEFAULT_REAL_MODEL}) for real moderation."
)


def cached_real_model() -> str | None:
    """The default real checkpoint if it already sits in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return None
    found = try_to_load_from_cache(DEFAULT_REAL_MODEL, "config.json")
    return DEFAULT_REAL_MODEL if isinstance(found, str) else None


def demo_checkpoint_dir(settings: Settings) -> Path:
    """Where the demo checkpoint is built."""
    return settings.data_dir / "models" / f"demo-{DEMO_ARCH}-tiny"


def resolve_model(settings: Settings) -> tuple[str, bool]:
    """The model to load and whether it is the random-weight demo (built offline if needed)."""
    if settings.model:
        return settings.model, False
    real = cached_real_model()
    if real:
        return real, False
    from moderation.inference.tiny import build_tiny

    target = demo_checkpoint_dir(settings)
    if not (target / "moderation_checkpoint.json").exists():
        build_tiny(DEMO_ARCH, target, size="tiny")
    log.warning(DEMO_WARNING)
    return str(target.resolve()), True
