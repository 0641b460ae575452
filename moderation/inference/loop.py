"""Greedy grammar-constrained decoding of a batch, in our own loop over the model's forward.

``model.generate`` keeps every row in the batch until the longest one ends, and with random or
real weights verdict lengths differ a lot (a 300-character rationale against an empty one). Here
a row leaves the batch, and its keys and values the cache, as soon as it writes its stop token, so
the remaining steps cost what the remaining rows cost; and each row's prompt is prefilled alone
(see ``_prefill``), only the decoding steps run batched. The steps are otherwise those of
``generate``: position ids from the attention mask's running sum, the mask dropped when it is all
ones, float32 logits of the last position, xgrammar's mask applied in place, argmax.

With a shared prefix (prefix.py) the rows arrive as ``prefix | pads | suffix``: the model sees only
what follows the prefix, at the positions it has after it, and the prefix's keys and values come
in through the attention (attention.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import xgrammar as xgr
from torch import nn
from transformers import DynamicCache

from moderation.inference.attention import KWARG
from moderation.inference.decoding import SparseDist, sparse_distributions
from moderation.inference.prefix import PrefixEntry


@dataclass
class DecodedRow:
    """What one row wrote (stop token excluded) and its recorded distributions."""

    tokens: list[int] = field(default_factory=list)
    records: list[SparseDist] = field(default_factory=list)
    stopped: bool = False  # False: cut by the token budget


@dataclass
class _Active:
    """The rows still decoding: their original indices, matchers, mask and last positions."""

    rows: list[int]
    matchers: list[xgr.GrammarMatcher]
    mask: torch.Tensor
    last_position: torch.Tensor
    padded: bool = field(init=False)  # whether any row's cache holds padding (the mask matters)

    def __post_init__(self) -> None:
        self._check_padding()

    def keep(self, kept: list[int], cache: DynamicCache) -> None:
        """Drop every other row, here and in the cache."""
        index = torch.tensor(kept, device=self.mask.device)
        cache.batch_select_indices(index)
        self.rows = [self.rows[k] for k in kept]
        self.matchers = [self.matchers[k] for k in kept]
        self.mask, self.last_position = self.mask[index], self.last_position[index]
        if self.padded:
            self._check_padding()

    def _check_padding(self) -> None:
        # read from the device here, when rows change, not at every step: a decoding step
        # only appends ones, and a host sync per step stalls a GPU's queue of kernels
        self.padded = not bool(self.mask.all())


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip padding (wherever it sits): the mask's running sum, minus one."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _forward(
    model: Any,
    inputs: dict[str, Any],
    mask: torch.Tensor | None,
    cache: DynamicCache,
    shared: dict[str, Any],
) -> torch.Tensor:
    """Logits (float32) of the last position of each row; ``mask`` None: no padding."""
    out = model(
        **inputs,
        **shared,
        attention_mask=mask,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    logits: torch.Tensor = out.logits[:, -1, :].float()
    return logits


def _new_cache(model: Any) -> DynamicCache:
    return DynamicCache(config=model.config.get_text_config(decoder=True))


def _stacked(model: Any, rows: list[DynamicCache], width: int) -> DynamicCache:
    """One cache holding every row's keys and values, left-padded with zeros to ``width``."""

    def padded(t: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(t, (0, 0, width - t.shape[2], 0))

    per_row = [list(cache) for cache in rows]  # [row][layer] -> (keys, values, ...)
    layers = [
        tuple(torch.cat([padded(row[layer][j]) for row in per_row]) for j in (0, 1))
        for layer in range(len(per_row[0]))
    ]
    return DynamicCache(ddp_cache_data=layers, config=model.config.get_text_config(decoder=True))


def _prefill(
    model: Any, prompt: dict[str, torch.Tensor], mask: torch.Tensor, shared: dict[str, Any]
) -> tuple[torch.Tensor, DynamicCache]:
    """Run each row's prompt alone, then stack the rows' caches, left-padded to one width.

    Prefill is compute-bound: batching it gains nothing on a CPU, while padding costs the padded
    tokens and an explicit mask (which keeps SDPA off its fast causal path; on CPU it doubled
    the attention time). The padded cache entries are masked out as padded tokens are.
    """
    logits, caches = [], []
    for i in range(mask.shape[0]):
        real = mask[i].bool()
        row = {k: v[i : i + 1] for k, v in prompt.items()}
        row["input_ids"] = row["input_ids"][:, real]
        row["position_ids"] = row["position_ids"][:, real]
        caches.append(_new_cache(model))
        logits.append(_forward(model, row, None, caches[-1], shared))  # its real tokens only
    return torch.cat(logits), _stacked(model, caches, mask.shape[1])


def greedy_decode(
    model: Any,
    inputs: dict[str, torch.Tensor],
    grammars: Sequence[xgr.CompiledGrammar],
    stop_ids: Sequence[int],
    max_new_tokens: int,
    record_steps: int,
    prefix: PrefixEntry | None = None,
) -> list[DecodedRow]:
    """Decode each row under its grammar; ``prefix``: the shared first tokens of every row."""
    skip = 0 if prefix is None else len(prefix.ids)
    shared = {} if prefix is None else {KWARG: prefix.layers}
    full_mask = inputs["attention_mask"]
    mask, position = full_mask[:, skip:], positions(full_mask)
    matchers = [xgr.GrammarMatcher(g) for g in grammars]
    active = _Active(list(range(len(grammars))), matchers, mask, position[:, -1])
    bitmask = xgr.allocate_token_bitmask(len(grammars), grammars[0].tokenizer_info.vocab_size)
    if full_mask.device.type == "cuda":
        # page-locked: the mask goes to the GPU without a blocking copy (it is filled again
        # only after the step's tokens were read back, so the copy is done by then)
        bitmask = bitmask.pin_memory()
    decoded = [DecodedRow() for _ in grammars]
    stops = set(stop_ids)
    prompt = {k: v for k, v in inputs.items() if k != "attention_mask"}
    prompt.update(input_ids=inputs["input_ids"][:, skip:], position_ids=position[:, skip:])
    with torch.inference_mode():
        logits, cache = _prefill(model, prompt, mask, shared)
        for step in range(max_new_tokens):
            chosen = _choose(logits, active, bitmask, decoded, step < record_steps)
            kept = [k for k, token in enumerate(chosen) if token not in stops]
            for k, token in enumerate(chosen):
                row = decoded[active.rows[k]]
                row.stopped = token in stops
                if not row.stopped:
                    row.tokens.append(token)
            if not kept:
                break
            if len(kept) < len(chosen):
                active.keep(kept, cache)
            logits = _next(model, active, [chosen[k] for k in kept], cache, shared)
    return decoded


def _choose(
    logits: torch.Tensor,
    active: _Active,
    bitmask: torch.Tensor,
    decoded: list[DecodedRow],
    record: bool,
) -> list[int]:
    """Mask each row's logits with its grammar, record if asked, take the argmax, advance."""
    matchers = active.matchers
    for k, matcher in enumerate(matchers):
        matcher.fill_next_token_bitmask(bitmask, k)
    mask = bitmask[: len(matchers)].to(logits.device, non_blocking=True)
    xgr.apply_token_bitmask_inplace(logits, mask)
    if record:
        for k, dist in enumerate(sparse_distributions(logits)):
            decoded[active.rows[k]].records.append(dist)
    chosen: list[int] = logits.argmax(dim=-1).tolist()
    for matcher, token in zip(matchers, chosen, strict=True):
        if not matcher.accept_token(token):
            raise RuntimeError(f"the grammar refused its own greedy token {token}")
    return chosen


def _next(
    model: Any, active: _Active, tokens: list[int], cache: DynamicCache, shared: dict[str, Any]
) -> torch.Tensor:
    """One decoding step for the active rows."""
    device = active.mask.device
    ones = torch.ones((len(tokens), 1), dtype=active.mask.dtype, device=device)
    active.mask = torch.cat([active.mask, ones], dim=-1)
    active.last_position = active.last_position + 1
    step = {
        "input_ids": torch.tensor(tokens, device=device)[:, None],
        "position_ids": active.last_position[:, None],
    }
    return _forward(model, step, active.mask if active.padded else None, cache, shared)
