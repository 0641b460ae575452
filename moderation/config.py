"""One Settings object for the whole service (environment prefix ``MODERATION_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
MIN_SECRET_KEY_CHARS = 32


class Settings(BaseSettings):
    """Service settings, read from the environment (``MODERATION_*``) or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description="server key that encrypts webhook signing secrets at rest; "
        "required (at least 32 characters) in production",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means an embedded PostgreSQL (standalone)"
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker URL; unset means an embedded Redis (standalone)"
    )
    data_dir: Path = Path("var")
    blob_dir: Path | None = None
    blob_sync: Literal["filesystem", "file"] = Field(
        default="filesystem",
        description="how a round of uploads is made durable: one syncfs of the blob "
        "directory's filesystem (Linux 5.8+, else 'file'), or 'file': each blob and directory "
        "synced on its own (for a blob directory on a filesystem that another program keeps "
        "busy with writes: the round would wait for them)",
    )
    # where image blobs live: a directory (shared by API and workers), or S3-compatible storage
    blob_store: Literal["file", "s3"] = Field(
        default="file", description="file: under blob_dir; s3: in s3_bucket under s3_prefix"
    )
    s3_endpoint_url: str = Field(
        default="", description="an S3-compatible store's URL; empty: AWS S3 (s3_region)"
    )
    s3_bucket: str = ""
    s3_prefix: str = Field(default="", description="key prefix, e.g. 'moderation/blobs/'")
    s3_region: str = ""
    s3_access_key_id: str = Field(
        default="", description="empty: the standard AWS credential chain (env, profile, role)"
    )
    s3_secret_access_key: SecretStr | None = None
    s3_timeout_s: float = Field(
        default=5.0, gt=0, description="connect and read timeout of each S3 request"
    )
    s3_concurrency: int = Field(
        default=16, ge=1, description="S3 requests in flight at once per process (an intake round)"
    )
    policies_dir: Path = Path("policies")

    # model and decoding
    model: str | None = Field(default=None, description="hub id or local checkpoint dir")
    model_revision: str | None = None
    model_profile: Literal["auto", "generic", "llavaguard", "llavaguard-v1.1"] = Field(
        default="auto",
        description="how the model is asked: generic (our rubric prompt, compact JSON: plain "
        "LLaVA checkpoints), llavaguard (LlavaGuard 1.2's template and labels), llavaguard-v1.1 "
        "(LlavaGuard 1.0/1.1); auto picks by the checkpoint's name",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"

    # where the model runs: in the worker process, or in an inference server the workers call
    engine: Literal["local", "vllm"] = Field(
        default="local",
        description="local: the model in each inference worker process (development, small "
        "CPU installs); vllm: an OpenAI-compatible vLLM server (production on GPUs)",
    )
    engine_url: str = Field(
        default="http://127.0.0.1:8100/v1", description="the vLLM server's OpenAI API base URL"
    )
    engine_api_key: SecretStr | None = Field(
        default=None, description="bearer token for the vLLM server (its --api-key)"
    )
    engine_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="time cap for one request to the vLLM server"
    )
    engine_retry_max_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="while the vLLM server does not answer, a batch is tried again after 1, 2, "
        "4 ... seconds, at most this long (no attempt is used up)",
    )
    engine_concurrency: int = Field(
        default=32, ge=1, le=1024, description="requests in flight to the vLLM server per worker"
    )
    vllm_python: Path | None = Field(
        default=None,
        description="the python of vLLM's own environment, for `moderation engine serve` "
        "(default: .venv-vllm/bin/python, built by `make vllm`)",
    )
    vllm_args: str = Field(
        default="",
        description="more arguments for the vLLM server that `moderation engine serve` (and "
        "`standalone --engine vllm`) starts, shell-quoted: e.g. '--enforce-eager "
        "--gpu-memory-utilization 0.8'",
    )

    # dynamic batching in the inference worker
    batch_size: int = Field(default=8, ge=1, le=256)
    batch_wait_ms: int = Field(default=50, ge=1, le=60_000)

    # intake limits
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_form_overhead_bytes: int = 64 * 1024

    # animated images (GIF, WebP, APNG): which frames are judged, and the caps on hostile ones
    max_frames: int = Field(
        default=8,
        ge=1,
        le=64,
        description="frames of an animated image judged by the model: the first, the frames "
        "where the picture changes, then evenly spaced ones",
    )
    max_animation_frames: int = Field(
        default=1000,
        ge=1,
        description="an animated upload with more frames is refused (413) at intake, before "
        "any frame past the first is decoded",
    )
    max_animation_pixels: int = Field(
        default=200_000_000,
        ge=1,
        description="cap on the pixels decoded across an animation's frames (each frame is "
        "its full canvas): an upload over it is refused (413) at intake",
    )
    animation_decode_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="the worker stops decoding an animation after this long and fails the "
        "submission ('image could not be loaded')",
    )

    # back-pressure: per-key rate limit on the broker's Redis, and a cap on the inference backlog
    rate_limit: str = Field(
        default="50/second",
        description="per API key, `limits` notation ('50/second', '3000/minute'); '' disables",
    )
    max_queue_depth: int = Field(
        default=10_000, ge=0, description="503 on new uploads above this inference backlog; 0 off"
    )

    verdict_cache_scope: Literal["tenant", "global"] = Field(
        default="tenant",
        description="whose verdicts the cache may reuse for identical bytes, policy version and "
        "model: the same tenant's only, or any tenant's (for one platform run as several "
        "tenants; a tenant still never sees the other tenant's submission)",
    )

    bank_backfill_days: int = Field(
        default=30,
        ge=0,
        description="a new hash-bank entry is matched against the submissions of this many "
        "days that the model allowed; those that match wait in the review queue (0: off)",
    )

    # delivery guarantees
    stuck_after_s: int = 300
    max_attempts: int = 3
    sweep_interval_s: float = 15.0
    visibility_timeout_s: int = 600

    idempotency_ttl_s: int = Field(
        default=86_400, ge=86_400, description="how long Idempotency-Key values are kept"
    )
    # webhooks and every outbound fetch (moderation.net.guarded_http)
    allow_private_urls: bool = Field(
        default=False,
        description="let outbound URLs reach loopback and private networks (tests, one-machine "
        "setups); link-local, multicast and cloud metadata addresses stay refused",
    )
    image_fetch_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="time cap for fetching an image_url"
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_base_s: float = Field(
        default=10.0, gt=0, description="delay before the first retry; each next one is 4x"
    )
    webhook_max_attempts: int = Field(default=8, ge=1, le=20)
    outbox_retention_s: int = Field(
        default=86_400, ge=3_600, description="sent task messages are pruned after this long"
    )
    webhook_sweep_grace_s: int = Field(
        default=60, ge=1, description="a due delivery this late is re-sent by the sweep"
    )

    # the human review queue
    review_sample_rate: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="share of automatic (allow/block) decisions sampled into the review queue",
    )
    review_claim_ttl_s: int = Field(
        default=600, ge=1, description="how long a reviewer's claim on a queue item lasts"
    )
    chaos_fail_image_size: str | None = Field(
        default=None,
        pattern=r"^\d+x\d+$",
        description="fault injection for resilience tests (WxH): the inference engine raises "
        "for every image of exactly this size; refused in production",
    )
    chaos_kill_image_size: str | None = Field(
        default=None,
        pattern=r"^\d+x\d+$",
        description="fault injection for resilience tests (WxH): the worker process kills "
        "itself (SIGKILL, as an out-of-memory kill would) when a model call holds an image of "
        "exactly this size; refused in production",
    )

    # retention of image bytes (decisions, verdicts, hashes and the audit trail stay)
    image_retention_days: int = Field(
        default=30,
        ge=0,
        description="the image bytes of a submission are purged this many days after upload "
        "(a tenant may have its own: `moderation tenants set NAME --image-retention-days N`)",
    )
    review_retention_days: int = Field(
        default=90,
        ge=0,
        description="images still open in the review queue or an appeal are kept until "
        "resolved, at most this many days after upload",
    )
    image_purge_interval_s: float = Field(
        default=3600.0, gt=0, description="how often the maintenance queue runs a purge round"
    )
    image_purge_batch: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="submissions (and blobs) a purge round handles per transaction",
    )

    relay_in_api: bool = Field(
        default=True, description="run the outbox relay thread in each API process"
    )

    # review console accounts
    session_ttl_s: int = Field(default=12 * 3600, ge=60, description="console login lifetime")
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins in a row that lock a console account"
    )
    login_lockout_s: int = Field(default=15 * 60, ge=1, description="how long a lockout lasts")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    access_log: bool = True  # one log line per HTTP request (uvicorn's access log)

    # what operators see (README "Observability")
    log_level: str = Field(default="INFO", description="the root logger's level")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one readable line; json: one object per line with request_id, "
        "tenant_id, submission_id, task_id when known (docker-compose sets json)",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="workers and the relay serve /metrics on this port (the API serves its own)",
    )

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        if value.strip():
            parse(value)  # ValueError for anything `limits` cannot read
        return value.strip()

    @model_validator(mode="after")
    def _require_bucket_for_s3(self) -> Self:
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("MODERATION_S3_BUCKET must be set when MODERATION_BLOB_STORE=s3")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Self:
        key = self.secret_key.get_secret_value()
        if self.environment == "production" and (
            key == DEVELOPMENT_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS
        ):
            raise ValueError(
                "MODERATION_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_KEY_CHARS} characters when MODERATION_ENVIRONMENT=production "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.environment == "production" and (
            self.chaos_fail_image_size or self.chaos_kill_image_size
        ):
            raise ValueError(
                "MODERATION_CHAOS_FAIL_IMAGE_SIZE and MODERATION_CHAOS_KILL_IMAGE_SIZE are for "
                "tests, not production"
            )
        return self

    @property
    def resolved_blob_dir(self) -> Path:
        """Where content-addressed image blobs live."""
        return self.blob_dir or self.data_dir / "blobs"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing the env)."""
    return Settings()
