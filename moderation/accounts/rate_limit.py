"""Per-key rate limits with ``limits`` (moving window) on the broker's Redis, asynchronous (no
thread per check); fails open."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from moderation.storage.redis import TIMEOUT_S, limits_storage_uri

log = logging.getLogger(__name__)
WARN_EVERY_S = 30.0
CREDIT_SHARE = 1 / 32  # of the limit: what a process may let through before it asks again
CREDIT_S = 0.1  # at most this long (and a tenth of the window)
MAX_CREDITS = 10_000  # keys with a credit held in memory before the expired ones are dropped


@dataclass
class _Credit:
    """Requests a process may let through for a key without asking Redis, until ``until``;
    ``used``: those let through, not yet counted in the key's window."""

    left: int
    until: float
    used: int = 0


class KeyRateLimiter:
    """One moving-window limit per API key, shared by every API process through Redis.

    A request that Redis allows also earns its process a credit: the next
    ``CREDIT_SHARE`` of the limit may go through without a round trip for ``CREDIT_S``, and
    are added to the window at the key's next check (all requests are counted, a little
    late). A key refused in its current window earns none until the window resets, so every
    request of it is checked; what credit lets through beyond the limit is at most one
    credit, ``CREDIT_SHARE`` of the limit, per process and window (and a limit under
    ``1 / CREDIT_SHARE`` requests per window gets no credit: each request is checked)."""

    def __init__(
        self,
        broker_url: str,
        limit: str,
        credit_share: float = CREDIT_SHARE,
        credit_s: float = CREDIT_S,
    ) -> None:
        self.item: RateLimitItem = parse(limit)
        self._credit_size = int(self.item.amount * credit_share)
        self._window_s = float(self.item.get_expiry())
        self._credit_s = min(credit_s, self._window_s / 10)
        self._credits: dict[str, _Credit] = {}
        self._refused_until: dict[str, float] = {}  # monotonic
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
        now = time.monotonic()
        credit = self._credits.get(key_id)
        if credit is not None and credit.left > 0 and now < credit.until:
            credit.left, credit.used = credit.left - 1, credit.used + 1
            return None
        if credit is not None:
            del self._credits[key_id]
        # what went through on the last credit joins the window now (unless the window it
        # belonged to has passed)
        owed = credit.used if credit is not None and now - credit.until < self._window_s else 0
        try:
            if await self._limiter.hit(self.item, key_id, cost=owed + 1):
                self._grant(key_id)
                return None
            reset_at = (await self._limiter.get_window_stats(self.item, key_id)).reset_time
        except StorageError as exc:
            self._warn(exc)
            return None
        wait = max(0.0, reset_at - time.time())
        self._refused_until[key_id] = time.monotonic() + wait  # no credit before the reset
        return max(1, math.ceil(wait))

    def _grant(self, key_id: str) -> None:
        """A fresh credit for ``key_id``, unless it was refused in its current window
        (keeping the uncounted requests of one granted meanwhile, to a request checked at
        the same time)."""
        now = time.monotonic()
        if not self._credit_size or now < self._refused_until.get(key_id, -math.inf):
            return
        if len(self._credits) >= MAX_CREDITS:
            self._credits = {k: c for k, c in self._credits.items() if c.until > now}
        if len(self._refused_until) >= MAX_CREDITS:
            self._refused_until = {k: t for k, t in self._refused_until.items() if t > now}
        earlier = self._credits.get(key_id)
        used = earlier.used if earlier is not None else 0
        self._credits[key_id] = _Credit(self._credit_size, now + self._credit_s, used)

    def _warn(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("rate limiter unavailable, allowing requests: %s", exc.storage_error)
