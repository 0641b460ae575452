"""Attention with a shared prefix equals SDPA over the prefix laid in front of every row."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from moderation.inference.attention import shared_prefix_attention

BATCH, HEADS, KV_HEADS, DIM, PREFIX = 3, 6, 2, 8, 11


class _Attention(nn.Module):
    """What the attention functions read from a decoder layer's attention module."""

    def __init__(self) -> None:
        super().__init__()
        self.layer_idx = 0
        self.num_key_value_groups = HEADS // KV_HEADS
        self.is_causal = True


def _causal(queries: int, keys: int) -> torch.Tensor:
    return torch.ones(queries, keys, dtype=torch.bool).tril(keys - queries)[None, None]


PREFIX_KV = torch.randn(1, KV_HEADS, PREFIX, DIM), torch.randn(1, KV_HEADS, PREFIX, DIM)


def _reference(
    query: torch.Tensor, own: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor
) -> torch.Tensor:
    """SDPA over ``prefix + own`` keys, every row holding its own copy of the prefix."""
    keys, values = (
        torch.cat([p.expand(BATCH, -1, -1, -1), o], dim=2)
        for p, o in zip(PREFIX_KV, own, strict=True)
    )
    seen = torch.ones(BATCH, 1, query.shape[2], PREFIX, dtype=torch.bool)
    full = torch.cat([seen, mask.expand(BATCH, -1, -1, -1)], dim=-1)
    out: torch.Tensor = sdpa_attention_forward(
        _Attention(), query, keys, values, full, scaling=0.3
    )[0]
    return out


def _shared(
    query: torch.Tensor, own: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
) -> torch.Tensor:
    out, _ = shared_prefix_attention(
        _Attention(), query, *own, mask, scaling=0.3, shared_prefix_kv=(PREFIX_KV,)
    )
    return out


@pytest.mark.parametrize("queries", [1, 5])
@pytest.mark.parametrize("padded", [False, True])
def test_shared_prefix_equals_sdpa_over_copies(queries: int, padded: bool) -> None:
    keys = 7
    query = torch.randn(BATCH, HEADS, queries, DIM)
    own = torch.randn(BATCH, KV_HEADS, keys, DIM), torch.randn(BATCH, KV_HEADS, keys, DIM)
    mask = _causal(queries, keys).expand(BATCH, -1, -1, -1).clone()
    if padded:  # row 1 has two pads between the prefix and its own tokens
        mask[1, :, :, :2] = False
    expected = _reference(query, own, mask)
    assert expected.shape == (BATCH, queries, HEADS, DIM)
    torch.testing.assert_close(_shared(query, own, mask), expected, rtol=1e-5, atol=1e-6)
    if not padded:  # transformers passes no mask when plain causal attention will do
        torch.testing.assert_close(_shared(query, own, None), expected, rtol=1e-5, atol=1e-6)


def test_without_a_prefix_it_is_sdpa() -> None:
    query, key, value = torch.randn(2, HEADS, 4, DIM), *torch.randn(2, 2, KV_HEADS, 4, DIM)
    mask = _causal(4, 4)
    expected, _ = sdpa_attention_forward(_Attention(), query, key, value, mask, scaling=0.3)
    out, _ = shared_prefix_attention(_Attention(), query, key, value, mask, scaling=0.3)
    assert torch.equal(out, expected)
