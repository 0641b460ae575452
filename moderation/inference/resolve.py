"""Which checkpoint to run: the configured one, a cached real one, or an offline demo."""

from __future__ import annotations

import logging
from pathlib import Path

from moderation.config import Settings

log = logging.getLogger(__name__)

DEFAULT_REAL_MODEL = "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf"
DEMO_ARCH = "llava_onevision"
# vLLM's CPU attention refuses the tiny preset's head size (16): its demo is a small LLaVA
VLLM_DEMO = ("llava", "small")
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


def demo_shape(settings: Settings) -> tuple[str, str]:
    """Architecture and size of the demo checkpoint for the configured engine."""
    return VLLM_DEMO if settings.engine == "vllm" else (DEMO_ARCH, "tiny")


def demo_checkpoint_dir(settings: Settings) -> Path:
    """Where the demo checkpoint is built."""
    arch, size = demo_shape(settings)
    return settings.data_dir / "models" / f"demo-{arch}-{size}"


def model_name(settings: Settings) -> str:
    """The checkpoint the local engine will load, by name, without building the demo."""
    return settings.model or cached_real_model() or str(demo_checkpoint_dir(settings))


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
        arch, size = demo_shape(settings)
        build_tiny(arch, target, size=size)
    log.warning(DEMO_WARNING)
    return str(target.resolve()), True
