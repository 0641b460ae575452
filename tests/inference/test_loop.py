"""The decoding loop's bookkeeping: when the attention mask must reach the model."""

from __future__ import annotations

import torch
from transformers import DynamicCache, LlamaConfig

from moderation.inference.loop import _Active


def _cache(rows: int) -> DynamicCache:
    config = LlamaConfig(hidden_size=8, num_attention_heads=2, num_hidden_layers=1)
    layer = (torch.zeros(rows, 2, 3, 4), torch.zeros(rows, 2, 3, 4))
    return DynamicCache(ddp_cache_data=[layer], config=config)


def test_the_mask_is_needed_while_a_padded_row_remains() -> None:
    mask = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 0, 1]])
    active = _Active([0, 1, 2], [None, None, None], mask, torch.zeros(3))  # type: ignore[list-item]
    assert active.padded
    cache = _cache(3)
    active.keep([0, 1], cache)
    assert active.padded and active.rows == [0, 1]
    active.keep([1], cache)  # only the row without padding is left
    assert not active.padded and active.rows == [1]
    assert cache.layers[0].keys.shape[0] == 1


def test_an_unpadded_batch_never_needs_the_mask() -> None:
    active = _Active([0, 1], [None, None], torch.ones(2, 4), torch.zeros(2))  # type: ignore[list-item]
    assert not active.padded
