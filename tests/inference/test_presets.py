"""Builder presets: ``7b`` has the shapes of LLaVA-1.5-7B (checked without weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText

from moderation.inference.tiny import _PRESETS, SIZES, _model_config, build_tiny

# llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14-336 + 2-layer projector + Llama-2-7B, 32064 logits
LLAVA_15_7B_PARAMETERS = 7_063_427_072


def test_7b_preset_has_the_parameter_count_of_llava_15_7b() -> None:
    config = _model_config("llava", _PRESETS["7b"], 32064, {"<image>": 32000, "<video>": 32001})
    with torch.device("meta"):  # shapes only: no 28 GB of float32 weights
        model = AutoModelForImageTextToText.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == LLAVA_15_7B_PARAMETERS
    vision = config.vision_config
    assert (vision.image_size // vision.patch_size) ** 2 == 576  # image tokens per image


def test_every_size_is_a_preset() -> None:
    assert set(SIZES) == set(_PRESETS)


def test_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown size"):
        build_tiny("llava", tmp_path / "x", size="13b")
