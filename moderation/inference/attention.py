"""SDPA attention over a key/value prefix that every row of the batch shares.

With a reused rubric prefix (see prefix.py) the cache holds only each row's own tokens (image,
tail of the prompt, generated tokens); the prefix's keys and values, computed once, come in
through the ``shared_prefix_kv`` forward argument (one ``(keys, values)`` pair per decoder layer,
batch of one). The prefix is in front of every row and never padded, so every query sees all of
it. Softmax over ``prefix + own tokens`` is the same function as over the keys laid end to end:

- decoding (one query per row): the scores against the prefix are one matrix product for all rows
  together, so the prefix is read once per step instead of once per row, and never copied;
- prefill (many queries): the prefix is laid in front of each row's keys and PyTorch's SDPA runs
  as usual (it keeps its memory-efficient kernels; this happens once per batch).

Without ``shared_prefix_kv`` this is transformers' SDPA attention, unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

log = logging.getLogger(__name__)

NAME = "sdpa_shared_prefix"
KWARG = "shared_prefix_kv"

PrefixKV = tuple[tuple[torch.Tensor, torch.Tensor], ...]


def _own_mask(mask: torch.Tensor | None, queries: int, keys: int, device: Any) -> torch.Tensor:
    """The boolean mask over a row's own keys; ``None`` from transformers means plain causal."""
    if mask is None:
        # query i is the token at key position keys - queries + i: it sees keys up to there
        offset = keys - queries
        rows = torch.arange(queries, device=device)[:, None] + offset
        return (torch.arange(keys, device=device)[None, :] <= rows)[None, None]
    return mask if mask.dtype == torch.bool else mask == 0


def _decode_step(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    own_mask: torch.Tensor,
    prefix: tuple[torch.Tensor, torch.Tensor],
    scaling: float,
) -> torch.Tensor:
    """Attention of one query per row over ``prefix + own keys``; returns (b, 1, heads, d)."""
    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    rep = heads // kv_heads
    grouped = query.reshape(batch, kv_heads, rep, dim)  # query head h uses kv head h // rep
    prefix_keys, prefix_values = prefix[0][0], prefix[1][0]  # (kv_heads, P, d)
    length = prefix_keys.shape[1]
    stacked = grouped.transpose(0, 1).reshape(kv_heads, batch * rep, dim)
    prefix_scores = (stacked @ prefix_keys.transpose(1, 2)).reshape(kv_heads, batch, rep, length)
    own_scores = (grouped @ key.transpose(2, 3)).masked_fill(~own_mask, float("-inf"))
    scores = torch.cat([prefix_scores.transpose(0, 1), own_scores], dim=-1).float() * scaling
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    head = probs[..., :length].transpose(0, 1).reshape(kv_heads, batch * rep, length)
    out = (head @ prefix_values).reshape(kv_heads, batch, rep, dim).transpose(0, 1)
    out = out + probs[..., length:] @ value
    return out.reshape(batch, 1, heads, dim)


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, with the keys and values of a shared prefix in front."""
    shared: PrefixKV | None = kwargs.pop(KWARG, None)
    if shared is None:
        out: tuple[torch.Tensor, None] = sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, **kwargs
        )
        return out
    layer = module.layer_idx
    assert isinstance(layer, int), "attention modules carry their decoder layer index"
    prefix = shared[layer]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    queries, batch = query.shape[2], query.shape[0]
    own = _own_mask(attention_mask, queries, key.shape[2], query.device)
    if queries == 1:
        return _decode_step(query, key, value, own, prefix, scale), None
    keys = torch.cat([prefix[0].expand(batch, -1, -1, -1), key], dim=2)
    values = torch.cat([prefix[1].expand(batch, -1, -1, -1), value], dim=2)
    seen = torch.ones((batch, 1, queries, prefix[0].shape[2]), dtype=torch.bool, device=own.device)
    mask = torch.cat([seen, own.expand(batch, -1, queries, -1)], dim=-1)
    out = sdpa_attention_forward(module, query, keys, values, mask, scaling=scale, **kwargs)
    return out


def install(model: Any) -> bool:
    """Make this attention available to the model; False where its language model is not SDPA."""
    text_config = model.config.get_text_config(decoder=True)
    if text_config._attn_implementation not in ("sdpa", NAME):
        log.warning(
            "prefix cache off: the language model uses %s", text_config._attn_implementation
        )
        return False
    AttentionInterface.register(NAME, shared_prefix_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return True


def select(model: Any, shared_prefix: bool) -> None:
    """Run the language model on this attention (a prefix comes in) or on transformers' SDPA.

    Only rows that reuse a prefix need this function; every other batch runs transformers' own
    path, untouched. Switching is a configuration change, done only when the mode changes.
    """
    wanted = NAME if shared_prefix else "sdpa"
    if model.config.get_text_config(decoder=True)._attn_implementation != wanted:
        model.set_attn_implementation({"text_config": wanted})
