"""The depth of the Celery ``inference`` queue, read from Redis at most once a second."""

from __future__ import annotations

import logging
import threading
import time

import redis

from moderation.storage.redis import client

log = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue as a list named after it, plus one list per priority
# step (name + "\x06\x16" + step) when messages carry a priority
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold a queue's waiting messages."""
    return [queue, *(f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS)]


class QueueDepth:
    """A cached reading of a queue's depth: None when Redis could not be read."""

    def __init__(self, broker_url: str, queue: str, max_age_s: float = 1.0) -> None:
        self._redis = client(broker_url)
        self._keys = queue_keys(queue)
        self.queue = queue
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._depth: int | None = None

    def is_fresh(self) -> bool:
        """Whether :meth:`current` answers from its cache (no Redis round trip)."""
        return time.monotonic() - self._read_at < self.max_age_s

    def current(self) -> int | None:
        """Waiting messages, as read within the last ``max_age_s`` seconds."""
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self.max_age_s:
                self._read_at = now
                self._depth = self._read()
            return self._depth

    def _read(self) -> int | None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key in self._keys:
                pipe.llen(key)
            return sum(int(n) for n in pipe.execute())
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot read the depth of queue %s: %s", self.queue, exc)
            return None
