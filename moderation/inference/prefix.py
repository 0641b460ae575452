"""The rubric prefix of ``policy_first`` prompts: its KV cache, computed once and reused.

With ``policy_first`` every prompt under one rubric starts with the same tokens (chat header and
the whole rubric) up to the first image token. Their keys and values do not depend on the image,
so one text-only forward pass per rubric version gives them for every later image.

A batch reuses them like this. Each row's real tokens are ``prefix + suffix`` (suffix: the image
tokens and what follows); suffixes differ in length (anyres tiles), so rows are laid out as
``prefix | pads | suffix``, the padding masked out. Only what follows the prefix goes through the
model, at the positions it has after the prefix (the running sum of the attention mask), and the
attention (attention.py) puts the prefix's keys and values, shared by all rows, in front of each
row's own. Every real token thus sees the same keys at the same positions as in the uncached
left-padded run: the same function, computed in another order (equal up to float rounding). The
per-row cache holds no copy of the prefix. Grouping rows by suffix length instead would avoid
the padding, but anyres gives almost every image size its own length: batches would fall apart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class PrefixEntry:
    """One prefix: its token ids and, per decoder layer, its keys and values (batch of one)."""

    ids: torch.Tensor  # (P,), on the model's device
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # (1, kv_heads, P, head_dim) each


def shared_prefix(inputs: dict[str, torch.Tensor], image_token_id: int) -> torch.Tensor | None:
    """The real tokens every row has before its first image token, or None when rows differ."""
    found: torch.Tensor | None = None
    for row, mask in zip(inputs["input_ids"], inputs["attention_mask"], strict=True):
        real = row[mask.bool()]
        images = torch.nonzero(real == image_token_id)
        if len(images) == 0:
            return None
        prefix = real[: int(images[0, 0])]
        if found is None:
            found = prefix
        elif not torch.equal(found, prefix):
            return None
    return found if found is not None and len(found) > 0 else None


def suffix_inputs(
    inputs: dict[str, torch.Tensor], prefix_len: int, pad_id: int
) -> dict[str, torch.Tensor]:
    """Rows laid out as ``prefix | pads | suffix`` (see the module docstring); other keys kept."""
    ids, masks = inputs["input_ids"], inputs["attention_mask"]
    suffixes = [row[mask.bool()][prefix_len:] for row, mask in zip(ids, masks, strict=True)]
    total = prefix_len + max(len(s) for s in suffixes)
    new_ids = torch.full((len(suffixes), total), pad_id, dtype=ids.dtype, device=ids.device)
    new_mask = torch.zeros_like(new_ids, dtype=masks.dtype)
    new_ids[:, :prefix_len] = ids[0][masks[0].bool()][:prefix_len]
    new_mask[:, :prefix_len] = 1
    for i, suffix in enumerate(suffixes):
        new_ids[i, total - len(suffix) :] = suffix
        new_mask[i, total - len(suffix) :] = 1
    return {**inputs, "input_ids": new_ids, "attention_mask": new_mask}


class PrefixCache:
    """An LRU of prefix KV caches for one model, keyed by rubric version."""

    def __init__(self, model: Any, max_entries: int = 4) -> None:
        self.model = model
        self.max_entries = max_entries
        self.computed = 0  # prefix forward passes run so far
        self.computed_tokens = 0
        self._entries: OrderedDict[str, PrefixEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, ids: torch.Tensor) -> PrefixEntry | None:
        """The entry for ``key`` computed from ``ids``; None when ``key`` holds other ids."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._compute(ids)
                self._entries[key] = entry
                if len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
        return entry if torch.equal(entry.ids, ids) else None

    def peek(self, key: str) -> PrefixEntry | None:
        """The entry held for ``key``, if any (does not compute or reorder)."""
        with self._lock:
            return self._entries.get(key)

    def _compute(self, ids: torch.Tensor) -> PrefixEntry:
        with torch.inference_mode():
            out = self.model(input_ids=ids[None], use_cache=True, logits_to_keep=1)
        self.computed += 1
        self.computed_tokens += len(ids)
        layers = tuple((k, v) for k, v, *_ in out.cache)
        return PrefixEntry(ids.clone(), layers)
