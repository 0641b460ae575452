"""HFEngine: batched, JSON-constrained greedy moderation with a transformers LLaVA model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import torch
import transformers
from PIL import Image
from transformers import GenerationConfig

from moderation.domain.policies import Category, Policy, Thresholds
from moderation.inference import decoding, grammar
from moderation.inference.loading import LoadedCheckpoint, load_checkpoint
from moderation.inference.prompt import prompt_sha256, render_prompt_text
from moderation.inference.types import ModerationRequest, Scores, Verdict

# A small policy for warm-up only: its verdicts are thrown away.
WARM_UP_POLICY = Policy(
    slug="warm-up",
    title="Warm-up",
    instructions="Judge the image.",
    categories=(Category(id="X1", name="Anything", should_not=("x",), can=("y",)),),
    thresholds=Thresholds(review_at=0.5, block_at=0.9),
    rationale_max_chars=20,
)


def _stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a turn: the tokenizer's EOS and the generation config's EOS ids."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    ids = [*ids, tokenizer.eos_token_id]
    return sorted({int(i) for i in ids if i is not None})


class HFEngine:
    """An :class:`~moderation.inference.types.Engine` over a loaded transformers checkpoint."""

    def __init__(self, checkpoint: LoadedCheckpoint) -> None:
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
        # our decoding is fully specified here; nothing from the checkpoint's generation_config
        # (repetition penalty, suppressed tokens, sampling...) may leak into it
        self.model.generation_config = GenerationConfig(
            do_sample=False, eos_token_id=self._stop_ids, pad_token_id=self._pad_id
        )

    def decoding_params(self, policy: Policy) -> dict[str, object]:
        """How verdicts under ``policy`` are decoded (stored as decision provenance)."""
        return {
            "strategy": "greedy",
            "max_new_tokens": grammar.max_new_tokens(policy),
            "constrained": "json_schema/xgrammar",
            "schema_sha256": grammar.schema_sha256(policy),
            "prompt_layout": policy.prompt_layout,
            "dtype": self.dtype,
            "transformers": transformers.__version__,
            "xgrammar": version("xgrammar"),
        }

    def warm_up(self) -> None:
        """One small generation on a blank image, so the first real batch does not pay for it."""
        self.moderate_batch([ModerationRequest(Image.new("RGB", (64, 64)), WARM_UP_POLICY)])
        self.warmed_up = True

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        """Judge the requests in one left-padded, grammar-constrained greedy generate call."""
        if not requests:
            return []
        started = time.perf_counter()
        policies = [r.policy for r in requests]
        prompts = [render_prompt_text(self.processor, p) for p in policies]
        inputs = self._inputs([r.image for r in requests], prompts)
        recorder = decoding.StepRecorder(grammar.category_close_chars(policies))
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=max(grammar.max_new_tokens(p) for p in policies),
            eos_token_id=self._stop_ids,
            pad_token_id=self._pad_id,
        )
        processors = [self.grammars.logits_processor(policies), recorder]
        new_tokens = decoding.generate(self.model, inputs, processors, config)
        rows = [
            self._row(policies[i], new_tokens[i], recorder.row(i)) for i in range(len(requests))
        ]
        share_ms = (time.perf_counter() - started) * 1000.0 / len(requests)
        return [
            Verdict(
                rating=parsed.rating,
                category=decoding.public_category(parsed),
                rationale=parsed.rationale,
                raw_text=raw_text,
                scores=scores,
                prompt_sha256=prompt_sha256(prompt),
                latency_ms=share_ms,
            )
            for (raw_text, parsed, scores), prompt in zip(rows, prompts, strict=True)
        ]

    def _inputs(self, images: list[Image.Image], prompts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.processor(images=images, text=prompts, padding=True, return_tensors="pt")
        dtype = getattr(torch, self.dtype)
        return {
            k: v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in batch.items()
        }

    def _row(
        self, policy: Policy, new_tokens: torch.Tensor, records: list[decoding.SparseDist]
    ) -> tuple[str, grammar.ParsedVerdict, Scores]:
        tokens = decoding.row_tokens(new_tokens, set(self._stop_ids))
        raw_text, parsed = decoding.decode_row(policy, tokens, self._vocab_bytes)
        scores = decoding.verdict_scores(policy, parsed, tokens, records, self._vocab_texts)
        return raw_text, parsed, scores


def load_engine(
    model: str,
    *,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    warm_up: bool | None = None,
) -> HFEngine:
    """Load a checkpoint (hub id or local dir) into an engine; warms up on CUDA unless told."""
    engine = HFEngine(load_checkpoint(model, revision=revision, device=device, dtype=dtype))
    if warm_up if warm_up is not None else engine.device.startswith("cuda"):
        engine.warm_up()
    return engine
