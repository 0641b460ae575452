"""Log lines that say which upload they are about.

Every line carries, when known, the ``request_id`` of the upload's HTTP request (``X-Request-ID``,
carried through the submission row, the outbox row and the Celery message headers), the
``tenant_id``, the ``submission_id`` and the Celery ``task_id``. The fields live in a context
variable: :func:`log_context` sets them for a block, :func:`bind` adds to the block's fields
(visible to the whole request, also from a dependency that runs in a thread).

``MODERATION_LOG_FORMAT=json`` writes one JSON object per line (time, level, logger, message,
the fields); ``text`` the readable line. What goes into a line is the message and the fields:
image bytes, API keys, passwords and webhook secrets are never logged by this service.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = ("request_id", "tenant_id", "submission_id", "task_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_HANDLER_NAME = "moderation"
_fields: ContextVar[dict[str, str] | None] = ContextVar("moderation_log_fields", default=None)


@contextmanager
def log_context(**fields: object) -> Iterator[dict[str, str]]:
    """Lines logged inside carry ``fields`` (None values left out) on top of the outer ones."""
    outer = _fields.get() or {}
    inner = {**outer, **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _fields.set(inner)
    try:
        yield inner
    finally:
        _fields.reset(token)


def bind(**fields: object) -> None:
    """Add ``fields`` to the current :func:`log_context` block (nothing outside one)."""
    current = _fields.get()
    if current is not None:
        current.update({k: str(v) for k, v in fields.items() if v is not None})


def current_fields() -> dict[str, str]:
    """The fields lines logged now carry."""
    return dict(_fields.get() or {})


class ContextFilter(logging.Filter):
    """Puts the context's fields on each record (as attributes) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_fields.get() or {}).items():
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """The root logger of this process: one handler on stderr in ``fmt`` (text or json),
    replacing the one an earlier call made."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:  # ours from before; others (a test's) stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers write through the root (serve passes uvicorn no logging config)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
