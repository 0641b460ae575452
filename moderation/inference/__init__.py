"""Framework-free ML: load a LLaVA checkpoint, prompt, constrained decoding, parse, scores."""

from moderation.inference.engine import HFEngine, load_engine
from moderation.inference.tiny import ARCHITECTURES, SIZES, build_tiny
from moderation.inference.types import Engine, ModerationRequest, Scores, Verdict

__all__ = [
    "ARCHITECTURES",
    "SIZES",
    "Engine",
    "HFEngine",
    "ModerationRequest",
    "Scores",
    "Verdict",
    "build_tiny",
    "load_engine",
]
