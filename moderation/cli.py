"""The ``moderation`` command."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from moderation.accounts.keys import ALL_SCOPES
from moderation.config import get_settings
from moderation.outbox.queues import INFERENCE_QUEUE, MAINTENANCE_QUEUE, MODEL_QUEUES

T = TypeVar("T")


def _db_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException(
            "MODERATION_DATABASE_URL is not set (or use `moderation standalone`)"
        )
    return url


def _admin_call(fn: Callable[..., T], *args: Any) -> T:
    """Run an admin action on the configured database; its ValueError is a usage error."""
    try:
        return fn(_db_url(), *args)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("--log-level", default=None, help="default: MODERATION_LOG_LEVEL (INFO)")
def main(log_level: str | None) -> None:
    """Self-hosted image moderation with LLaVA-family models."""
    from moderation.observability.logs import configure_logging

    settings = get_settings()
    if log_level:
        os.environ["MODERATION_LOG_LEVEL"] = log_level.upper()  # for the servers' children
    configure_logging(log_level or settings.log_level, settings.log_format)


def _observed(service: str, metrics_port: int | None = None) -> None:
    """Before a long-running command starts: count metrics in multiprocess mode (this process
    and its children), send traces when OTEL_* asks for them, serve /metrics on
    ``metrics_port`` when given."""
    from moderation.observability.processes import use_multiprocess_dir
    from moderation.observability.tracing import setup_tracing

    use_multiprocess_dir()
    setup_tracing(service)
    if metrics_port:
        from moderation.observability.metrics import serve_metrics

        serve_metrics(metrics_port)


@main.command()
@click.option("--host", default=None, help="default: MODERATION_API_HOST")
@click.option("--port", type=int, default=None, help="default: MODERATION_API_PORT")
@click.option(
    "--engine",
    type=click.Choice(["local", "vllm"]),
    default=None,
    help="default: MODERATION_ENGINE; vllm also starts and supervises `moderation engine serve`",
)
def standalone(host: str | None, port: int | None, engine: str | None) -> None:
    """Everything on one machine: embedded Postgres/Redis (unless configured), API and workers
    (and with --engine vllm the vLLM server)."""
    from moderation.observability.processes import use_multiprocess_dir
    from moderation.standalone import run_standalone

    if engine:
        os.environ["MODERATION_ENGINE"] = engine
        get_settings.cache_clear()
    settings = get_settings()
    use_multiprocess_dir()  # one for every process: the API's /metrics counts them all
    sys.exit(run_standalone(settings, host or settings.api_host, port or settings.api_port))


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--workers", type=int, default=1, show_default=True)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API."""
    import uvicorn

    from moderation.web.http_protocol import server_options

    _db_url()
    settings = get_settings()
    from moderation.observability.processes import use_multiprocess_dir

    use_multiprocess_dir()  # each server process sets up its logging and traces itself
    uvicorn.run(
        "moderation.app:create_served_app",
        factory=True,
        log_config=None,  # the root logger's handler (MODERATION_LOG_FORMAT) writes uvicorn's
        **server_options(),
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="info",
        access_log=settings.access_log,
    )


def _workers_app() -> Any:
    """The Celery app of ``workers`` with its tasks, found by name as ``celery -A workers.app``
    finds it: the service's modules never import the workers (the arrow points the other way)."""
    from kombu.utils.imports import symbol_by_name

    return symbol_by_name("workers.app:app")


@main.command()
@click.option(
    "--queues",
    default=f"{INFERENCE_QUEUE},{MAINTENANCE_QUEUE}",
    show_default=True,
    help="comma-separated: inference, backtest (give it its own worker), maintenance",
)
@click.option(
    "--pool",
    default="solo",
    show_default=True,
    help="solo (one model: required for inference and backtest with the local engine), "
    "threads (with MODERATION_ENGINE=vllm: --concurrency batches in flight) or prefork",
)
@click.option("--concurrency", type=int, default=1, show_default=True)
@click.option("--beat/--no-beat", default=False, help="also run the periodic sweeper schedule")
def worker(queues: str, pool: str, concurrency: int, beat: bool) -> None:
    """Run a Celery worker (the model loads lazily in the process that runs tasks)."""
    from moderation.inference.resolve import resolve_model

    consumed = queues.split(",")
    settings = get_settings()
    models = any(q in consumed for q in MODEL_QUEUES)
    allowed = ("solo", "threads") if settings.engine == "vllm" else ("solo",)
    if models and pool not in allowed:
        raise click.UsageError(
            f"the {' and '.join(MODEL_QUEUES)} queues need --pool {' or '.join(allowed)}: "
            "with the local engine a worker process holds one model, and with celery-batches "
            "a prefork worker whose pool process dies mid-batch stops starting batches; run "
            "one solo worker per GPU (or per few cores), or serve the model with vLLM "
            "(MODERATION_ENGINE=vllm) and use --pool threads"
        )
    _db_url()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if models and settings.engine == "local":
        model, _ = resolve_model(settings)  # builds the demo checkpoint once, warns if used
        os.environ["MODERATION_MODEL"] = model
        get_settings.cache_clear()
    _observed("moderation-worker", settings.metrics_port)
    app = _workers_app()

    # the batching task can only group what the worker prefetched
    prefetch = settings.batch_size if INFERENCE_QUEUE in consumed else 1
    argv = ["worker", "-Q", queues, "--pool", pool, "-c", str(concurrency), "-l", "INFO"]
    argv += ["--prefetch-multiplier", str(prefetch)]
    app.worker_main([*argv, "-B"] if beat else argv)


@main.command()
def relay() -> None:
    """Run the outbox relay in its own process (for API processes started with
    MODERATION_RELAY_IN_API=false): sends committed task messages to the broker."""
    import signal
    import threading

    _observed("moderation-relay", get_settings().metrics_port)  # before metrics are imported
    from moderation.outbox.broker import default_publish
    from moderation.outbox.relay import OutboxRelay

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    outbox_relay = OutboxRelay(_db_url(), default_publish())
    outbox_relay.start()
    logging.getLogger(__name__).info("outbox relay running")
    stop.wait()
    outbox_relay.stop()


@main.command()
def beat() -> None:
    """Run the Celery beat scheduler (the periodic sweep)."""
    _workers_app().start(["beat", "-l", "INFO"])


@main.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from moderation.admin import migrate as run_migrations

    run_migrations(_db_url())
    click.echo("database is at head")


@main.group()
def tenants() -> None:
    """Manage tenants."""


@tenants.command("create")
@click.argument("name")
def tenants_create(name: str) -> None:
    """Create a tenant and print an API key with every scope (shown once; hash stored)."""
    from moderation.admin import create_tenant_key

    click.echo(_admin_call(create_tenant_key, name))


@tenants.command("set")
@click.argument("name")
@click.option(
    "--image-retention-days",
    type=click.IntRange(min=0),
    default=None,
    help="days its images are kept (default: MODERATION_IMAGE_RETENTION_DAYS)",
)
@click.option("--default-retention", is_flag=True, help="use the service's retention again")
def tenants_set(name: str, image_retention_days: int | None, default_retention: bool) -> None:
    """Change a tenant's settings."""
    from moderation.retention.tenants import set_image_retention

    if image_retention_days is None and not default_retention:
        raise click.UsageError("nothing to set: give --image-retention-days N")
    _admin_call(set_image_retention, name, image_retention_days)
    days = image_retention_days
    click.echo(f"tenant '{name}': images kept {'the default' if days is None else days} days")


@tenants.command("delete")
@click.argument("name")
@click.option("--confirm", is_flag=True, help="required: this cannot be undone")
def tenants_delete(name: str, confirm: bool) -> None:
    """Delete a tenant's images and personal data (its audit chain and counts stay)."""
    from moderation.retention.tenants import delete_tenant
    from moderation.storage.blobs import blob_store

    if not confirm:
        raise click.UsageError("deleting a tenant's data cannot be undone: add --confirm")
    settings = get_settings()
    click.echo(_admin_call(delete_tenant, blob_store(settings), settings, name).describe())


@main.group()
def keys() -> None:
    """Manage API keys and their scopes."""


@keys.command("create")
@click.option("--tenant", required=True, help="tenant name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(ALL_SCOPES),
    help="repeat for several scopes",
)
@click.option("--name", default=None, help="a label to recognise the key by")
def keys_create(tenant: str, scopes: tuple[str, ...], name: str | None) -> None:
    """Create a key and print it (shown once; only its hash is stored)."""
    from moderation.admin import create_key

    click.echo(_admin_call(create_key, tenant, scopes, name))


@keys.command("list")
@click.option("--tenant", required=True, help="tenant name")
def keys_list(tenant: str) -> None:
    """A tenant's keys: id, prefix, name, scopes, created, revoked (never the key itself)."""
    from moderation.admin import list_keys

    for k in _admin_call(list_keys, tenant):
        revoked = k.revoked_at.isoformat() if k.revoked_at else "-"
        click.echo(
            f"{k.id}  {k.prefix}…  {k.name or '-'}  {','.join(k.scopes)}  "
            f"created {k.created_at.isoformat()}  revoked {revoked}"
        )


@keys.command("revoke")
@click.argument("key_id", type=click.UUID)
def keys_revoke(key_id: uuid.UUID) -> None:
    """Revoke a key: refused from the very next request on."""
    from moderation.admin import revoke_key

    _admin_call(revoke_key, key_id)
    click.echo(f"revoked {key_id}")


@main.group()
def models() -> None:
    """Model checkpoints."""


@models.command("build-tiny")
@click.option(
    "--arch", type=click.Choice(["llava", "llava_next", "llava_onevision"]), required=True
)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option(
    "--size",
    type=click.Choice(["tiny", "small", "7b"]),
    default="tiny",
    show_default=True,
    help="7b: the shapes of LLaVA-1.5-7B (13.5 GB; build it on a GPU with --device cuda)",
)
@click.option("--device", default="cpu", show_default=True, help="where the weights are made")
def models_build_tiny(arch: str, out: Path, size: str, device: str) -> None:
    """Build a random-weight LLaVA checkpoint offline (tests, demos, benchmarks)."""
    from moderation.inference.tiny import build_tiny

    path = build_tiny(arch, out, size=size, device=device)
    click.echo(f"built {arch}/{size} (random weights) at {path}")


@main.group()
def engine() -> None:
    """The inference server (MODERATION_ENGINE=vllm)."""


@engine.command("serve", context_settings={"ignore_unknown_options": True})
@click.option("--model", required=True, help="hub id or local checkpoint dir")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8100, show_default=True)
@click.option(
    "--dtype", default="auto", show_default=True, help="auto, bfloat16, float16 or float32"
)
@click.option("--revision", default=None, help="default: MODERATION_MODEL_REVISION")
@click.option("--served-model-name", default=None, help="default: the --model value")
@click.option("--max-model-len", type=int, default=None, help="default: the checkpoint's")
@click.argument("vllm_args", nargs=-1, type=click.UNPROCESSED)
def engine_serve(
    model: str,
    host: str,
    port: int,
    dtype: str,
    revision: str | None,
    served_model_name: str | None,
    max_model_len: int | None,
    vllm_args: tuple[str, ...],
) -> None:
    """Run a vLLM server with the flags this service needs; further arguments go to vLLM.

    Prints the URL to set as MODERATION_ENGINE_URL, then becomes the server process."""
    from moderation.inference import vllm_server

    settings = get_settings()
    key = settings.engine_api_key
    options = vllm_server.ServeOptions(
        model=model,
        host=host,
        port=port,
        dtype=dtype,
        revision=revision or settings.model_revision,
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        api_key=key.get_secret_value() if key else None,
    )
    try:
        python = vllm_server.vllm_python(settings.vllm_python)
    except vllm_server.VllmNotInstalled as exc:
        raise click.ClickException(str(exc)) from exc
    cpu = vllm_server.is_cpu_build(python)
    configured = shlex.split(settings.vllm_args)
    command = [*vllm_server.serve_command(python, options, cpu), *configured, *vllm_args]
    click.echo(f"vLLM ({'CPU' if cpu else 'GPU'} build) at {vllm_server.base_url(options)}")
    click.echo(f"  MODERATION_ENGINE=vllm MODERATION_ENGINE_URL={vllm_server.base_url(options)}")
    sys.stdout.flush()
    os.execve(command[0], command, vllm_server.serve_env(cpu))


def _add_groups() -> None:
    from moderation.accounts.cli import audit, users
    from moderation.banks.cli import banks
    from moderation.policies.cli import policies
    from moderation.retention.cli import images

    for group in (policies, users, audit, banks, images):
        main.add_command(group)


_add_groups()

if __name__ == "__main__":
    main()
