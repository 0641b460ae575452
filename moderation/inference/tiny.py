"""Random-weight checkpoints of the real LLaVA architectures, built offline (tests, demos)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForImageTextToText,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaImageProcessorPil,
    LlavaNextConfig,
    LlavaNextImageProcessorPil,
    LlavaNextProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionImageProcessorPil,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2Config,
    SiglipVisionConfig,
)

from moderation.inference.fingerprint import MARKER_FILE
from moderation.inference.onevision import ImageOnlyOnevisionProcessor
from moderation.inference.tiny_tokenizer import IMAGE, VIDEO, train_tokenizer

ARCHITECTURES = ("llava", "llava_next", "llava_onevision")
SIZES = ("tiny", "small", "7b")
SEED = 1234
RANDOM_WEIGHTS_LABEL = "(RANDOM WEIGHTS - verdicts are meaningless)"


@dataclass(frozen=True)
class _Preset:
    vocab: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_ffn: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_ffn: int
    image: int
    patch: int
    dtype: torch.dtype
    embedding_rows: int = 0  # logits width when wider than the tokenizer (real checkpoints pad)


_PRESETS = {
    # about 0.2M parameters: the shapes from the feasibility notes, for fast tests
    "tiny": _Preset(512, 64, 2, 4, 2, 128, 32, 2, 2, 64, 32, 8, torch.float32),
    # about 60M parameters: big enough that the model dominates a CPU benchmark
    "small": _Preset(2048, 640, 8, 10, 2, 2560, 384, 6, 6, 1536, 112, 14, torch.bfloat16),
    # the exact shapes of LLaVA-1.5-7B (arch "llava": CLIP ViT-L/14 at 336 px, 576 image tokens,
    # Llama-2-7B), 7.1B parameters, 13.5 GB in bf16: for measuring a GPU (build it there)
    "7b": _Preset(
        32000, 4096, 32, 32, 32, 11008, 1024, 24, 16, 4096, 336, 14, torch.bfloat16, 32064
    ),
}


def _text_config(p: _Preset, vocab: int, qwen: bool) -> LlamaConfig | Qwen2Config:
    common: dict[str, Any] = {
        "vocab_size": vocab,
        "hidden_size": p.text_hidden,
        "intermediate_size": p.text_ffn,
        "num_hidden_layers": p.text_layers,
        "num_attention_heads": p.text_heads,
        "num_key_value_heads": p.text_kv_heads,
        # rubric + image tokens + the longest verdict must fit
        "max_position_embeddings": 8192,
    }
    return Qwen2Config(**common) if qwen else LlamaConfig(**common)


def _vision_common(p: _Preset) -> dict[str, Any]:
    return {
        "hidden_size": p.vision_hidden,
        "intermediate_size": p.vision_ffn,
        "num_hidden_layers": p.vision_layers,
        "num_attention_heads": p.vision_heads,
        "image_size": p.image,
        "patch_size": p.patch,
    }


def _pinpoints(p: _Preset) -> list[list[int]]:
    s = p.image
    return [[s, s], [s, 2 * s], [2 * s, s], [2 * s, 2 * s]]


def _model_config(arch: str, p: _Preset, vocab: int, ids: dict[str, int]) -> Any:
    if arch == "llava_onevision":
        return LlavaOnevisionConfig(
            vision_config=SiglipVisionConfig(**_vision_common(p)),
            text_config=_text_config(p, vocab, qwen=True),
            image_token_index=ids[IMAGE],
            video_token_index=ids[VIDEO],
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
            image_grid_pinpoints=_pinpoints(p),
            vision_aspect_ratio="anyres_max_9",
        )
    vision = CLIPVisionConfig(**_vision_common(p), projection_dim=p.vision_hidden)
    common: dict[str, Any] = {
        "vision_config": vision,
        "text_config": _text_config(p, vocab, qwen=False),
        "image_token_index": ids[IMAGE],
        "vision_feature_select_strategy": "default",
        "vision_feature_layer": -2,
    }
    if arch == "llava_next":
        return LlavaNextConfig(**common, image_grid_pinpoints=_pinpoints(p))
    return LlavaConfig(**common)


def _processor(arch: str, p: _Preset, tokenizer: PreTrainedTokenizerFast) -> Any:
    template = tokenizer.chat_template
    square = {"height": p.image, "width": p.image}
    clip = {"patch_size": p.patch, "vision_feature_select_strategy": "default"}
    if arch == "llava":
        images = LlavaImageProcessorPil(size={"shortest_edge": p.image}, crop_size=square)
        return LlavaProcessor(
            images, tokenizer, **clip, num_additional_image_tokens=1, chat_template=template
        )
    if arch == "llava_next":
        images = LlavaNextImageProcessorPil(
            size={"shortest_edge": p.image}, crop_size=square, image_grid_pinpoints=_pinpoints(p)
        )
        return LlavaNextProcessor(
            images, tokenizer, **clip, num_additional_image_tokens=1, chat_template=template
        )
    images = LlavaOnevisionImageProcessorPil(size=square, image_grid_pinpoints=_pinpoints(p))
    return ImageOnlyOnevisionProcessor(
        images,
        tokenizer,
        num_image_tokens=(p.image // p.patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=template,
    )


def _look_like_hub_checkpoint(out_dir: Path, arch: str, p: _Preset) -> None:
    """Describe the stock OneVision processor (with its video part) as a real checkpoint does."""
    if arch != "llava_onevision":
        return
    path = out_dir / "processor_config.json"
    config = json.loads(path.read_text())
    config["processor_class"] = "LlavaOnevisionProcessor"
    # stock AutoProcessor (torchvision installed) loads a video processor from this entry
    image = config["image_processor"]
    config["video_processor"] = {
        "video_processor_type": "LlavaOnevisionVideoProcessor",
        "size": {"height": p.image, "width": p.image},
        "image_mean": image["image_mean"],
        "image_std": image["image_std"],
    }
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def build_tiny(arch: str, out_dir: Path, size: str = "tiny", device: str = "cpu") -> Path:
    """Build and save a deterministic random-weight checkpoint of ``arch``; returns ``out_dir``.

    The weights are made on ``device`` (the ``7b`` preset needs 28 GB in float32 before it is cast:
    build it on a GPU); the same seed gives other numbers on another device.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {SIZES}")
    preset = _PRESETS[size]
    tokenizer = train_tokenizer(preset.vocab, chatml=arch == "llava_onevision")
    # pad the embedding like real checkpoints do: logits are wider than the tokenizer
    vocab = max(-(-len(tokenizer) // 64) * 64, preset.embedding_rows)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (IMAGE, VIDEO)}
    config = _model_config(arch, preset, vocab, ids)
    rng_devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    # seed the weights without touching the caller's RNG
    with torch.random.fork_rng(devices=rng_devices, device_type=torch.device(device).type):
        torch.manual_seed(SEED)
        with torch.device(device):
            model = AutoModelForImageTextToText.from_config(config).to(preset.dtype).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    _processor(arch, preset, tokenizer).save_pretrained(out_dir)
    _look_like_hub_checkpoint(out_dir, arch, preset)
    marker = {
        "random_weights": True,
        "model_id": f"moderation-demo/tiny-{arch}-{size} {RANDOM_WEIGHTS_LABEL}",
        "arch": arch,
        "size": size,
    }
    (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    return out_dir
