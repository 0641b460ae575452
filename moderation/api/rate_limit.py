"""Per-key rate limits with ``limits`` (moving window) on the broker's Redis, asynchronous (no
thread per check); fails open."""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from moderation.api.broker_redis import TIMEOUT_S, limits_storage_uri

log = logging.getLogger(__name__)
WARN_EVERY_S = 30.0


class KeyRateLimiter:
    """One moving-window limit per API key; one Redis round trip per request."""

    def __init__(self, broker_url: str, limit: str) -> None:
        self.item: RateLimitItem = parse(limit)
        storage = RedisStorage(
            limits_storage_uri(broker_url),
            wrap_exceptions=True,
            implementation="redispy",
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._warned_at = -math.inf

    async def retry_after(self, key_id: str) -> int | None:
        """Count one request; None if allowed, else seconds until the next one is (≥ 1).

        When Redis cannot be reached the request is allowed: availability beats limiting.
        """
        try:
            if await self._limiter.hit(self.item, key_id):
                return None
            reset_at = (await self._limiter.get_window_stats(self.item, key_id)).reset_time
        except StorageError as exc:
            self._warn(exc)
            return None
        return max(1, math.ceil(reset_at - time.time()))

    def _warn(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("rate limiter unavailable, allowing requests: %s", exc.storage_error)
