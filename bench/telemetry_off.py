"""``moderation`` with the service's metrics and its per-upload worker log lines switched
off: the "before" of ``bench/pipeline.py --telemetry off,on`` (what metrics and logs cost
the worker). Never used by the service itself.

    python -m bench.telemetry_off worker --queues inference
"""

from __future__ import annotations

from typing import Any

from moderation.observability.processes import use_multiprocess_dir


class _Off:
    """A metric that records nothing."""

    def labels(self, *_: Any, **__: Any) -> _Off:
        return self

    def inc(self, *_: Any) -> None:
        pass

    def observe(self, *_: Any) -> None:
        pass

    def set(self, *_: Any) -> None:
        pass


def main() -> None:
    use_multiprocess_dir()  # as the CLI would, before any metric exists
    from moderation.observability import metrics

    for name in dir(metrics):
        if name.isupper() and hasattr(getattr(metrics, name), "_name"):
            setattr(metrics, name, _Off())
    import workers.tasks.inference as inference
    from moderation.cli import main as cli

    inference._log_outcomes = lambda *_: None  # type: ignore[assignment]
    cli()


if __name__ == "__main__":
    main()
