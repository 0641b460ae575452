"""Load a LLaVA-family checkpoint (hub id or local dir) and its processor, with provenance."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
from transformers.utils import cached_file, resolve_revision
from transformers.utils.hub import extract_commit_hash

from moderation.inference.fingerprint import MARKER_FILE, local_revision, read_marker
from moderation.inference.onevision import ImageOnlyOnevisionProcessor

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A model in eval mode on its device, its processor and where they came from."""

    model: Any
    processor: Any
    model_id: str
    revision: str
    device: str
    dtype: str
    random_weights: bool


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else is returned unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` → ``bfloat16`` on CUDA and ``float32`` on CPU; otherwise a name from ``_DTYPES``."""
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected auto or one of {sorted(_DTYPES)}")
    return dtype


def checkpoint_revision(model: str, revision: str | None = None) -> str:
    """A hub commit hash when known, else ``sha256:`` + a cheap fingerprint of the local files."""
    path = Path(model)
    if not path.is_dir():
        resolved = getattr(resolve_revision(model, revision), "resolved", None)
        if resolved:
            return str(resolved)
        config_path = cached_file(model, "config.json", revision=revision)
        if config_path is None:
            raise FileNotFoundError(f"cannot find config.json of {model!r}")
        commit = extract_commit_hash(config_path, None)
        if commit:
            return str(commit)
        path = Path(config_path).parent
    return local_revision(path)


def _marker(model: str, revision: str | None) -> dict[str, Any]:
    """The demo-checkpoint marker (``random_weights``, ``model_id``), or {} for real checkpoints."""
    path: Path | None = Path(model) / MARKER_FILE
    if not Path(model).is_dir():
        try:
            found = cached_file(
                model, MARKER_FILE, revision=revision, _raise_exceptions_for_missing_entries=False
            )
        except OSError:
            found = None
        path = Path(found) if found else None
    return {} if path is None else read_marker(path)


def load_processor(model: str, revision: str | None = None) -> Any:
    """The checkpoint's processor, PIL image backend when torchvision is absent, left padding."""
    kwargs: dict[str, Any] = {"revision": revision}
    if importlib.util.find_spec("torchvision") is None:
        kwargs["backend"] = "pil"
    try:
        processor = AutoProcessor.from_pretrained(model, **kwargs)
    except ImportError:
        # the stock OneVision processor needs a video processor, which needs torchvision
        if AutoConfig.from_pretrained(model, revision=revision).model_type != "llava_onevision":
            raise
        log.info("loading the image-only LLaVA-OneVision processor (no torchvision)")
        processor = ImageOnlyOnevisionProcessor.from_pretrained(model, **kwargs)
    tokenizer = processor.tokenizer
    # generation appends to the right end of every row, so pad on the left
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        # batching needs a pad token; padded positions are masked out, so EOS serves
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def load_model(model: str, revision: str | None, device: str, dtype: str) -> Any:
    """``AutoModelForImageTextToText`` with SDPA attention where supported, in eval mode."""
    kwargs: dict[str, Any] = {"revision": revision, "dtype": _DTYPES[dtype]}
    try:
        loaded = AutoModelForImageTextToText.from_pretrained(
            model, attn_implementation="sdpa", **kwargs
        )
    except (ValueError, ImportError) as exc:
        log.warning("SDPA attention unavailable for %s (%s); using the default", model, exc)
        loaded = AutoModelForImageTextToText.from_pretrained(model, **kwargs)
    return loaded.to(device).eval()


def load_checkpoint(
    model: str, *, revision: str | None = None, device: str = "auto", dtype: str = "auto"
) -> LoadedCheckpoint:
    """Load model + processor from a hub id or local dir (one path for real and demo weights)."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    resolved = checkpoint_revision(model, revision)
    # pin both loads to the same commit, so that a concurrent push cannot mix two versions
    load_revision = revision if resolved.startswith("sha256:") else resolved
    marker = _marker(model, load_revision)
    return LoadedCheckpoint(
        model=load_model(model, load_revision, device, dtype),
        processor=load_processor(model, load_revision),
        model_id=str(marker.get("model_id", model)),
        revision=resolved,
        device=device,
        dtype=dtype,
        random_weights=bool(marker.get("random_weights", False)),
    )
