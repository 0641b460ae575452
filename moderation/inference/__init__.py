"""Framework-free ML: load a LLaVA checkpoint, prompt, constrained decoding, parse, scores.

The engine and the checkpoint builder import torch, transformers and xgrammar (seconds): they
are loaded on first use, so that importing ``moderation.inference.types`` (API, domain) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from moderation.inference.types import (
    Engine,
    EngineUnavailable,
    ModerationRequest,
    Scores,
    Verdict,
)

if TYPE_CHECKING:
    from moderation.inference.engine import HFEngine, load_engine
    from moderation.inference.tiny import ARCHITECTURES, SIZES, build_tiny

_LAZY = {
    "HFEngine": "moderation.inference.engine",
    "load_engine": "moderation.inference.engine",
    "ARCHITECTURES": "moderation.inference.tiny",
    "SIZES": "moderation.inference.tiny",
    "build_tiny": "moderation.inference.tiny",
}

__all__ = [
    "ARCHITECTURES",
    "SIZES",
    "Engine",
    "EngineUnavailable",
    "HFEngine",
    "ModerationRequest",
    "Scores",
    "Verdict",
    "build_tiny",
    "load_engine",
]


def __getattr__(name: str) -> Any:
    """Import the heavy parts of the public API on first access."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
