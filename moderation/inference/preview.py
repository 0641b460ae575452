"""What the model will read for a rubric: the exact prompt text and its token counts.

Only the processor (tokenizer + image processor) is loaded, never the weights; it is cached.
transformers and xgrammar are imported on first use, so that the API starts without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image

from moderation.inference.rubric import Rubric

REFERENCE_IMAGE = (512, 512)


@dataclass(frozen=True)
class PromptPreview:
    """The prompt of a rubric under a model: text with the image placeholder, and token counts."""

    model: str
    profile: str
    text: str
    sha256: str
    image_placeholder: str
    text_tokens: int  # the prompt with the placeholder as one token
    tokens_with_image: int  # after the processor expands the placeholder for REFERENCE_IMAGE


@lru_cache(maxsize=4)
def cached_processor(model: str, revision: str | None) -> Any:
    """The processor of a checkpoint, loaded once per process."""
    from moderation.inference.loading import load_processor

    return load_processor(model, revision)


def preview_prompt(
    model: str, revision: str | None, rubric: Rubric, profile: str = "auto"
) -> PromptPreview:
    """The exact prompt ``rubric`` produces under ``model`` asked by ``profile`` (a setting:
    ``auto`` picks by the model's name), and how many tokens it costs."""
    from moderation.inference.profiles import choose_profile
    from moderation.inference.prompt import prompt_sha256, render_prompt_text

    processor = cached_processor(model, revision)
    chosen = choose_profile(profile, [model])
    text = render_prompt_text(processor, chosen.profile.conversation(rubric))
    text_ids = processor.tokenizer(text)["input_ids"]
    image = Image.new("RGB", REFERENCE_IMAGE)
    expanded = processor(images=[image], text=[text], return_tensors="pt")["input_ids"]
    return PromptPreview(
        model=model,
        profile=chosen.name,
        text=text,
        sha256=prompt_sha256(text),
        image_placeholder=str(processor.image_token),
        text_tokens=len(text_ids),
        tokens_with_image=int(expanded.shape[-1]),
    )
