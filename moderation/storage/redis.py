"""The broker's Redis as the API reaches it (rate limits, inference backlog)."""

from __future__ import annotations

import redis

# short timeouts: the API fails open when Redis is slow or down
TIMEOUT_S = 0.5


def redis_url(broker_url: str) -> str:
    """The broker URL as redis-py reads it (kombu's ``redis+socket://`` is ``unix://``)."""
    for scheme in ("redis+socket://", "socket://"):
        if broker_url.startswith(scheme):
            return "unix://" + broker_url[len(scheme) :]
    return broker_url


def limits_storage_uri(broker_url: str) -> str:
    """The broker URL as the ``limits`` library reads it (``redis+unix://`` for a socket)."""
    url = redis_url(broker_url)
    return "redis+unix://" + url[len("unix://") :] if url.startswith("unix://") else url


def client(broker_url: str) -> redis.Redis:
    """A client with short timeouts for the API's Redis reads."""
    return redis.Redis.from_url(
        redis_url(broker_url), socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
