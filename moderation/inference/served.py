"""VLLMEngine: verdicts from an OpenAI-compatible vLLM server, one chat completion per image.

The worker holds no model and imports no torch: it renders the same conversation as the
in-process engine (the model profile's, profiles.py), sends each image as a PNG data URL with
the policy's verdict schema as ``response_format`` (or, for a profile whose JSON is indented, the
same language as a regex) and asks for the logprobs the scores are read from
(served_scores.py). The requests of a batch run concurrently (a bounded thread pool over one
HTTP connection pool); the server batches them continuously and reuses the rubric's KV blocks
across images (automatic prefix caching) when the rubric comes first.

A server that cannot be reached, answers 5xx/429 or times out raises ``EngineUnavailable``: the
caller puts the batch back without counting an attempt. An answer that is not a valid verdict
or lacks the logprobs raises ``VerdictFormatError`` for that image alone.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from moderation.inference.fingerprint import MARKER_FILE, local_revision, read_marker
from moderation.inference.profiles import ModelProfile, ProfileChoice, choose_profile
from moderation.inference.rubric import WARM_UP_RUBRIC, Rubric
from moderation.inference.served_scores import (
    served_scores,
    served_tokens,
    value_steps_complete,
)
from moderation.inference.types import EngineUnavailable, ModerationRequest, Verdict
from moderation.inference.verdict_format import VerdictFormat, VerdictFormatError, public_category

log = logging.getLogger(__name__)

ENGINE = "vllm"
# Tokens listed per step. Where a rating or category value starts the grammar allows a handful
# (prefixes of the values); a list that turns out to be cut there is asked again with
# SERVER_MAX_LOGPROBS, which ``moderation engine serve`` lets the server return. Every listed
# token costs the server's frontend CPU at every step: 32 instead of 8 cost a quarter of the
# throughput on 2 cores (docs/benchmarks.md).
DEFAULT_TOP_LOGPROBS = 8
SERVER_MAX_LOGPROBS = 64
# Larger images are scaled down before they travel: every LLaVA processor resizes far below it.
DEFAULT_MAX_IMAGE_SIDE = 2048
# Status codes that say "not now" rather than "not this image".
_UNAVAILABLE_STATUSES = {401, 403, 404, 408, 429}


@dataclass(frozen=True)
class ServerInfo:
    """What the server serves: the model id requests name, what it loaded, its version."""

    served_model: str
    root: str  # the directory or hub id the server loaded
    version: str


@dataclass
class ServedCounters:
    """Work the server reported so far (benchmarks, tests)."""

    images: int = 0
    prompt_tokens: int = 0  # as the server counts them (a prefix it reused included)
    generated_tokens: int = 0  # the stop token included
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, usage: dict[str, Any]) -> None:
        """Count one answer's ``usage``."""
        with self.lock:
            self.images += 1
            self.prompt_tokens += int(usage.get("prompt_tokens", 0))
            self.generated_tokens += int(usage.get("completion_tokens", 0))


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 500 or response.status_code in _UNAVAILABLE_STATUSES:
        raise EngineUnavailable(
            f"inference server answered {response.status_code}: {response.text[:300]}"
        )
    if response.status_code >= 400:
        raise VerdictFormatError(
            f"inference server refused the request ({response.status_code}): {response.text[:300]}"
        )


def _get_json(client: httpx.Client, url: str) -> Any:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise EngineUnavailable(f"inference server at {url} unreachable: {exc!r}") from exc
    _raise_for_status(response)
    return response.json()


def server_info(client: httpx.Client, url: str) -> ServerInfo:
    """The first model the server lists, and its version (``/version`` beside ``/v1``)."""
    models = _get_json(client, f"{url}/models").get("data") or []
    if not models:
        raise EngineUnavailable(f"inference server at {url} serves no model")
    first = models[0]
    base = url.removesuffix("/v1")
    version = str(_get_json(client, f"{base}/version").get("version", "unknown"))
    return ServerInfo(str(first["id"]), str(first.get("root") or first["id"]), version)


def image_data_url(image: Image.Image, max_side: int = DEFAULT_MAX_IMAGE_SIDE) -> str:
    """The image as a PNG data URL (lossless: the server sees the pixels the caller decoded)."""
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(profile: ModelProfile, rubric: Rubric, image_url: str) -> list[dict[str, Any]]:
    """The in-process engine's conversation with the image as an OpenAI ``image_url`` part."""
    messages = profile.conversation(rubric)
    for message in messages:
        message["content"] = [
            {"type": "image_url", "image_url": {"url": image_url}}
            if part["type"] == "image"
            else part
            for part in message["content"]
        ]
    return messages


def served_prompt_sha256(profile: ModelProfile, rubric: Rubric) -> str:
    """sha256 of the conversation sent for ``rubric`` (the image as a placeholder part): the
    server renders it with the checkpoint's own chat template, as the in-process engine does."""
    text = json.dumps(profile.conversation(rubric), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def constraint(answer: VerdictFormat, rubric: Rubric) -> dict[str, Any]:
    """The request fields that hold the server to the verdict grammar: the JSON schema (vLLM
    compiles it without whitespace), or, for an indented layout that its JSON-schema mode cannot
    write, the same language as a regex."""
    if answer.indent is None:
        schema = {"name": "verdict", "schema": answer.verdict_schema(rubric), "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    return {"structured_outputs": {"regex": answer.verdict_regex(rubric)}}


def _revision(root: str, configured: str | None) -> tuple[str, str]:
    """(model id, revision) of what the server loaded: a folder this machine can read is
    fingerprinted as the in-process engine does; a hub id keeps the configured revision."""
    path = Path(root)
    if path.is_dir():
        marker = read_marker(path / MARKER_FILE)
        return str(marker.get("model_id", root)), local_revision(path)
    return root, configured or "unpinned"


class VLLMEngine:
    """An :class:`~moderation.inference.types.Engine` whose model runs in a vLLM server."""

    device = "server"
    dtype = "server"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        concurrency: int = 32,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
        revision: str | None = None,
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        profile: str = "auto",
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="vllm-request")
        self._configured_revision = revision
        self._top_logprobs = top_logprobs
        self._max_image_side = max_image_side
        self._lock = threading.Lock()
        self._info: ServerInfo | None = None
        self._stale = False  # a request met an unavailable server: ask again before the next
        self._profile_setting = profile
        self.profile: ProfileChoice = choose_profile(profile, [])
        self.model_id = ""
        self.revision = ""
        self.warmed_up = False
        self.counters = ServedCounters()

    def connect(self) -> ServerInfo:
        """Ask the server what it serves (``EngineUnavailable`` when it does not answer)."""
        info = server_info(self._client, self.url)
        model_id, revision = _revision(info.root, self._configured_revision)
        names = [model_id, info.root, info.served_model]
        profile = choose_profile(self._profile_setting, names)
        with self._lock:
            self._info = info
            self.model_id, self.revision, self.profile = model_id, revision, profile
        return info

    def wait_until_ready(self, timeout_s: float | None = None, every_s: float = 2.0) -> ServerInfo:
        """Connect, retrying while the server starts; ``timeout_s`` None waits for ever."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                return self.connect()
            except EngineUnavailable as exc:
                if deadline is not None and time.monotonic() > deadline:
                    raise
                log.warning("waiting for the inference server: %s", exc)
                time.sleep(every_s)

    def ready(self) -> None:
        """After an outage (or before the first call), ask the server again what it serves:
        it may have come back with another model. ``EngineUnavailable`` while it is down."""
        if self._stale or self._info is None:
            self.connect()
            self._stale = False

    @property
    def info(self) -> ServerInfo:
        """What the server serves (connecting first if needed)."""
        return self._info or self.connect()

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        """How verdicts under ``rubric`` are decoded (stored as decision provenance)."""
        info, profile = self.info, self.profile.profile
        return {
            "engine": ENGINE,
            "profile": profile.name,
            "strategy": "greedy",
            "max_new_tokens": profile.answer.max_new_tokens(rubric),
            "constrained": f"{next(iter(constraint(profile.answer, rubric)))}/vllm",
            "schema_sha256": profile.answer.schema_sha256(rubric),
            "prompt_layout": profile.prompt_layout(rubric),
            "top_logprobs": self._top_logprobs,
            "served_model": info.served_model,
            "server_model": info.root,
            "vllm": info.version,
        }

    def warm_up(self) -> None:
        """One small request, so that the first real batch does not pay for connections."""
        self.moderate_batch([ModerationRequest(Image.new("RGB", (64, 64)), WARM_UP_RUBRIC)])
        self.warmed_up = True

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        """One chat completion per request, concurrently; verdicts in request order.

        ``EngineUnavailable`` when any request met an unavailable server (the batch goes back
        whole); otherwise the first request's error, if any (the caller retries them alone)."""
        if not requests:
            return []
        started = time.perf_counter()
        futures = [self._pool.submit(self._judge, r) for r in requests]
        outcomes: list[Verdict | BaseException] = []
        for future in futures:
            error = future.exception()
            outcomes.append(error if error is not None else future.result())
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        for error in errors:
            if isinstance(error, EngineUnavailable):
                self._stale = True
                raise error
        if errors:
            raise errors[0]
        share_ms = (time.perf_counter() - started) * 1000.0 / len(requests)
        return [_with_latency(v, share_ms) for v in outcomes if isinstance(v, Verdict)]

    def request_body(self, request: ModerationRequest) -> dict[str, Any]:
        """The chat-completion request for one image."""
        rubric, profile = request.rubric, self.profile.profile
        url = image_data_url(request.image, self._max_image_side)
        return {
            "model": self.info.served_model,
            "messages": chat_messages(profile, rubric, url),
            "temperature": 0,
            "max_tokens": profile.answer.max_new_tokens(rubric),
            **constraint(profile.answer, rubric),
            "logprobs": True,
            "top_logprobs": self._top_logprobs,
        }

    def _judge(self, request: ModerationRequest) -> Verdict:
        rubric, body = request.rubric, self.request_body(request)
        profile = self.profile.profile
        verdict, complete = self._ask(profile, rubric, body)
        if not complete:  # rare: more allowed tokens than listed where a value starts
            body = {**body, "top_logprobs": SERVER_MAX_LOGPROBS}
            verdict, _ = self._ask(profile, rubric, body)
        return verdict

    def _ask(
        self, profile: ModelProfile, rubric: Rubric, body: dict[str, Any]
    ) -> tuple[Verdict, bool]:
        try:
            response = self._client.post(f"{self.url}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"inference server request failed: {exc!r}") from exc
        _raise_for_status(response)
        answer = response.json()
        self.counters.add(answer.get("usage") or {})
        return read_choice(profile, rubric, answer["choices"][0])

    def close(self) -> None:
        """Let go of the connections and threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def read_choice(
    profile: ModelProfile, rubric: Rubric, choice: dict[str, Any]
) -> tuple[Verdict, bool]:
    """A verdict from one chat-completion choice (valid JSON in the profile's layout, scores read
    from its logprobs; ``VerdictFormatError`` otherwise: never a stored verdict), and whether
    the steps its scores read listed every allowed token (see served_scores.py)."""
    if choice.get("finish_reason") != "stop":
        raise VerdictFormatError(
            f"generation ended by {choice.get('finish_reason')!r}, not by a stop token"
        )
    # the stop token (EOS or one of the generation config's) ends the logprobs, not the text
    tokens = served_tokens(choice.get("logprobs"))[:-1]
    # the tokens as generated: the message's content went through the tokenizer's decode,
    # which may tidy spaces (clean_up_tokenization_spaces); the grammar constrained these
    raw_text = "".join(t.text for t in tokens)
    answer = profile.answer
    parsed = answer.parse(raw_text, rubric)
    verdict = Verdict(
        rating=parsed.rating,
        category=public_category(parsed),
        rationale=parsed.rationale,
        raw_text=raw_text,
        scores=served_scores(answer, rubric, parsed, tokens),
        prompt_sha256=served_prompt_sha256(profile, rubric),
        latency_ms=0.0,
    )
    return verdict, value_steps_complete(answer, tokens, parsed)


def _with_latency(verdict: Verdict, share_ms: float) -> Verdict:
    return dataclasses.replace(verdict, latency_ms=share_ms)
