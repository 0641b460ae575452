"""An image-only LLaVA-OneVision processor that works without torchvision."""

from __future__ import annotations

from typing import Any

from transformers import LlavaOnevisionProcessor


class ImageOnlyOnevisionProcessor(LlavaOnevisionProcessor):  # type: ignore[misc]
    """`LlavaOnevisionProcessor` without its video processor (which needs torchvision).

    The keyword arguments are listed explicitly because transformers saves exactly the parameters of
    ``__init__``; leaving out ``video_processor`` makes image processor + tokenizer the only parts.
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        num_image_tokens: int | None = None,
        vision_feature_select_strategy: str | None = None,
        chat_template: str | None = None,
        image_token: str = "<image>",
        video_token: str = "<video>",
        vision_aspect_ratio: str = "anyres_max_9",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            num_image_tokens=num_image_tokens,
            vision_feature_select_strategy=vision_feature_select_strategy,
            chat_template=chat_template,
            image_token=image_token,
            video_token=video_token,
            vision_aspect_ratio=vision_aspect_ratio,
            **kwargs,
        )
