"""The rate limiter's credit, against the real Redis: a key far from its limit is asked about
once per credit, every request is still counted in its window, and what a credit lets past
the limit stays within its share per process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from moderation.accounts.rate_limit import KeyRateLimiter
from tests.conftest import Env

Hits = list[int]  # the cost of every round trip that counted requests


def _counting(limiter: KeyRateLimiter) -> Hits:
    """Record the cost of each ``hit`` the limiter sends to Redis."""
    costs: Hits = []
    real = limiter._limiter.hit

    async def hit(item: Any, *identifiers: str, cost: int = 1) -> bool:
        costs.append(cost)
        return await real(item, *identifiers, cost=cost)

    limiter._limiter.hit = hit  # type: ignore[method-assign]
    return costs


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


async def _counted(limiter: KeyRateLimiter, key: str) -> int:
    """How many requests the key's window in Redis holds now."""
    stats = await limiter._limiter.get_window_stats(limiter.item, key)
    return limiter.item.amount - stats.remaining


def test_a_key_far_from_its_limit_is_asked_about_once_per_credit(env: Env) -> None:
    async def test() -> None:
        limiter = KeyRateLimiter(env.broker_url, "3200/minute", credit_s=60)  # credit of 100
        costs, key = _counting(limiter), uuid.uuid4().hex
        assert [await limiter.retry_after(key) for _ in range(303)] == [None] * 303
        # the 1st request is checked, the next 100 go on its credit and are counted with the
        # 102nd, and so on: 3 round trips for 303 requests, none left out of the window
        assert costs == [1, 101, 101]
        assert await _counted(limiter, key) == 203  # the last 100 join at the next check
        assert await limiter.retry_after(key) is None
        assert costs[-1] == 101 and await _counted(limiter, key) == 304

    _run(test)


def test_a_small_limit_gets_no_credit_and_is_exact(env: Env) -> None:
    async def test() -> None:
        limiter = KeyRateLimiter(env.broker_url, "20/minute")  # under 32 a window: no credit
        costs, key = _counting(limiter), uuid.uuid4().hex
        results = [await limiter.retry_after(key) for _ in range(22)]
        assert results[:20] == [None] * 20
        assert all(wait is not None and 1 <= wait <= 60 for wait in results[20:])
        assert costs == [1] * 22

    _run(test)


def test_the_credit_lets_at_most_its_share_past_the_limit_per_process(env: Env) -> None:
    """Two API processes hammering one key: at least the limit goes through, at most the limit
    plus one credit per process; once over, every request is checked and refused."""

    async def test() -> None:
        processes = [KeyRateLimiter(env.broker_url, "64/minute", credit_share=1 / 16)]
        processes.append(KeyRateLimiter(env.broker_url, "64/minute", credit_share=1 / 16))
        key, allowed = uuid.uuid4().hex, 0
        for i in range(200):
            if await processes[i % 2].retry_after(key) is None:
                allowed += 1
        assert 64 <= allowed <= 64 + 2 * 4
        costs = _counting(processes[0])
        assert await processes[0].retry_after(key) is not None
        assert costs == [1]  # refused keys hold no credit: each request is asked about

    _run(test)


def test_a_credit_runs_out_with_time_and_its_requests_are_counted_late(env: Env) -> None:
    async def test() -> None:
        limiter = KeyRateLimiter(env.broker_url, "3200/minute", credit_s=0.05)
        costs, key = _counting(limiter), uuid.uuid4().hex
        for _ in range(5):
            assert await limiter.retry_after(key) is None
        time.sleep(0.06)
        assert await limiter.retry_after(key) is None
        assert costs == [1, 5]  # 4 on credit, counted with the request after it ran out
        assert await _counted(limiter, key) == 6

    _run(test)
