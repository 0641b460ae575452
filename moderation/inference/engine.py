"""HFEngine: batched, JSON-constrained greedy moderation with a transformers LLaVA model."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import torch
import transformers
from PIL import Image

from moderation.inference import attention, decoding, grammar, prefix, verdict_format
from moderation.inference.loading import LoadedCheckpoint, load_checkpoint
from moderation.inference.loop import DecodedRow, greedy_decode
from moderation.inference.profiles import GENERIC_PROFILE, ProfileChoice, choose_profile
from moderation.inference.prompt import prompt_sha256, render_prompt_text
from moderation.inference.rubric import WARM_UP_RUBRIC, Rubric
from moderation.inference.types import ModerationRequest, Scores, Verdict

log = logging.getLogger(__name__)

ENGINE = "local"


def _stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a turn: the tokenizer's EOS and the generation config's EOS ids."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    ids = [*ids, tokenizer.eos_token_id]
    return sorted({int(i) for i in ids if i is not None})


@dataclass
class EngineCounters:
    """Work done so far, for benchmarks and tests."""

    images: int = 0
    decode_calls: int = 0
    prefill_tokens: int = 0  # real prompt tokens run through the model (a reused prefix is not)
    generated_tokens: int = 0  # per row, up to and including its stop token


@dataclass(frozen=True)
class _Row:
    prompt: str
    raw_text: str
    parsed: verdict_format.ParsedVerdict
    scores: Scores
    new_tokens: int  # generated, up to and including the stop token


class HFEngine:
    """An :class:`~moderation.inference.types.Engine` over a loaded transformers checkpoint."""

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        *,
        profile: ProfileChoice | None = None,
        prefix_cache: bool = True,
        prefix_entries: int = 4,
    ) -> None:
        self.profile = profile or ProfileChoice(GENERIC_PROFILE, "default")
        self.model_id = checkpoint.model_id
        self.revision = checkpoint.revision
        self.device = checkpoint.device
        self.dtype = checkpoint.dtype
        self.random_weights = checkpoint.random_weights
        self.warmed_up = False
        self.model = checkpoint.model
        self.processor = checkpoint.processor
        tokenizer = self.processor.tokenizer
        self._stop_ids = _stop_token_ids(self.model, tokenizer)
        pad = tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else self._stop_ids[0]
        vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        info = grammar.tokenizer_info(tokenizer, vocab_size, self._stop_ids)
        self.grammars = grammar.GrammarCache(info)
        self._vocab_bytes: list[bytes] = list(info.decoded_vocab)
        # one character per byte, so that text offsets match byte offsets
        self._vocab_texts = [b.decode("latin-1") for b in self._vocab_bytes]
        # the reused prefix reaches the model through our attention function
        self.prefix_cache_enabled = prefix_cache and attention.install(self.model)
        self.prefixes = prefix.PrefixCache(self.model, prefix_entries)
        self._prefix_refused: set[str] = set()
        self._image_token_id = int(self.model.config.image_token_id)
        self.counters = EngineCounters()

    @property
    def answer(self) -> verdict_format.VerdictFormat:
        """The verdict format of the profile the model is asked with."""
        return self.profile.profile.answer

    def uses_prefix_cache(self, rubric: Rubric) -> bool:
        """Whether verdicts under ``rubric`` reuse the KV cache of its rubric prefix."""
        return (
            self.prefix_cache_enabled
            and self.profile.profile.prompt_layout(rubric) == "policy_first"
            and rubric.version not in self._prefix_refused
        )

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        """How verdicts under ``rubric`` are decoded (stored as decision provenance)."""
        return {
            "engine": ENGINE,
            "profile": self.profile.name,
            "strategy": "greedy",
            "max_new_tokens": self.answer.max_new_tokens(rubric),
            "constrained": "json_schema/xgrammar",
            "schema_sha256": self.answer.schema_sha256(rubric),
            "prompt_layout": self.profile.profile.prompt_layout(rubric),
            "prefix_cache": self.uses_prefix_cache(rubric),
            "dtype": self.dtype,
            "transformers": transformers.__version__,
            "xgrammar": version("xgrammar"),
        }

    def ready(self) -> None:
        """An in-process model is always ready once loaded."""

    def warm_up(self) -> None:
        """One small generation on a blank image, so the first real batch does not pay for it."""
        self.moderate_batch([ModerationRequest(Image.new("RGB", (64, 64)), WARM_UP_RUBRIC)])
        self.warmed_up = True

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        """Judge the requests: one batched grammar-constrained greedy decoding per group.

        ``policy_first`` requests are grouped by rubric (each group reuses its prefix cache); all
        other requests share one group. Verdicts come back in request order.
        """
        if not requests:
            return []
        started = time.perf_counter()
        rows: dict[int, _Row] = {}
        for indices in self._groups(requests):
            group = self._run_group([requests[i] for i in indices])
            rows.update(zip(indices, group, strict=True))
        share_ms = (time.perf_counter() - started) * 1000.0 / len(requests)
        return [_verdict(rows[i], share_ms) for i in range(len(requests))]

    def _groups(self, requests: Sequence[ModerationRequest]) -> list[list[int]]:
        groups: dict[str | None, list[int]] = {}
        for i, request in enumerate(requests):
            rubric = request.rubric
            key = rubric.version if self.uses_prefix_cache(rubric) else None
            groups.setdefault(key, []).append(i)
        return list(groups.values())

    def _run_group(self, requests: Sequence[ModerationRequest]) -> list[_Row]:
        rubrics = [r.rubric for r in requests]
        conversation = self.profile.profile.conversation
        prompts = [render_prompt_text(self.processor, conversation(p)) for p in rubrics]
        inputs = self._inputs([r.image for r in requests], prompts)
        entry = None
        if self.uses_prefix_cache(rubrics[0]):
            inputs, entry = self._reuse_prefix(rubrics[0], inputs)
        if self.prefix_cache_enabled:
            attention.select(self.model, shared_prefix=entry is not None)
        decoded = greedy_decode(
            self.model,
            inputs,
            [self.grammars.grammar(self.answer, p) for p in rubrics],
            self._stop_ids,
            max_new_tokens=max(self.answer.max_new_tokens(p) for p in rubrics),
            record_steps=self.answer.category_close_chars(rubrics),
            prefix=entry,
        )
        rows = [self._row(*row) for row in zip(rubrics, prompts, decoded, strict=True)]
        reused = 0 if entry is None else len(entry.ids) * len(requests)
        self._count(int(inputs["attention_mask"].sum()) - reused, rows)
        return rows

    def _reuse_prefix(
        self, rubric: Rubric, inputs: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], prefix.PrefixEntry | None]:
        """Inputs laid out after the rubric's cached prefix, and that prefix (None: not shared)."""
        ids = prefix.shared_prefix(inputs, self._image_token_id)
        entry = None if ids is None else self.prefixes.get(rubric.version, ids)
        if entry is None:
            log.warning("rubric %s: no prefix shared by every prompt; not cached", rubric.version)
            self._prefix_refused.add(rubric.version)
            return inputs, None
        return prefix.suffix_inputs(inputs, len(entry.ids), self._pad_id), entry

    def _inputs(self, images: list[Image.Image], prompts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.processor(images=images, text=prompts, padding=True, return_tensors="pt")
        dtype = getattr(torch, self.dtype)
        return {
            k: v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in batch.items()
        }

    def _row(self, rubric: Rubric, prompt: str, decoded: DecodedRow) -> _Row:
        if not decoded.stopped:
            raise verdict_format.VerdictFormatError(
                f"generation ended without a stop token after {len(decoded.tokens)} tokens"
            )
        tokens, records = decoded.tokens, decoded.records
        raw_text, parsed = decoding.decode_row(self.answer, rubric, tokens, self._vocab_bytes)
        scores = decoding.verdict_scores(
            self.answer, rubric, parsed, tokens, records, self._vocab_texts
        )
        return _Row(prompt, raw_text, parsed, scores, len(tokens) + 1)

    def _count(self, prefill_tokens: int, rows: list[_Row]) -> None:
        self.counters.images += len(rows)
        self.counters.decode_calls += 1
        self.counters.prefill_tokens += prefill_tokens
        self.counters.generated_tokens += sum(r.new_tokens for r in rows)


def _verdict(row: _Row, share_ms: float) -> Verdict:
    return Verdict(
        rating=row.parsed.rating,
        category=verdict_format.public_category(row.parsed),
        rationale=row.parsed.rationale,
        raw_text=row.raw_text,
        scores=row.scores,
        prompt_sha256=prompt_sha256(row.prompt),
        latency_ms=share_ms,
    )


def load_engine(
    model: str,
    *,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    warm_up: bool | None = None,
    profile: str = "auto",
    prefix_cache: bool = True,
    prefix_entries: int = 4,
) -> HFEngine:
    """Load a checkpoint (hub id or local dir) into an engine; warms up on CUDA unless told.

    ``profile``: how to prompt it (profiles.py; ``auto`` picks by the checkpoint's name).
    ``prefix_cache``: reuse the rubric prefix of ``policy_first`` rubrics, keeping the keys and
    values of up to ``prefix_entries`` rubric versions (see prefix.py).
    """
    checkpoint = load_checkpoint(model, revision=revision, device=device, dtype=dtype)
    chosen = choose_profile(profile, [checkpoint.model_id, model])
    log.info("model profile %s (%s)", chosen.name, chosen.reason)
    engine = HFEngine(
        checkpoint, profile=chosen, prefix_cache=prefix_cache, prefix_entries=prefix_entries
    )
    if warm_up if warm_up is not None else engine.device.startswith("cuda"):
        engine.warm_up()
    return engine
