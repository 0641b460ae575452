"""API keys this process authenticated lately, for the route that re-checks the key where it
writes (``POST /v1/moderations``: its intake statement writes nothing for a revoked key)."""

from __future__ import annotations

import time
from collections import OrderedDict

from moderation.accounts.api_keys import Principal
from moderation.accounts.keys import hash_key


class KnownKeys:
    """At most ``size`` principals, each kept ``ttl_s`` seconds, by the hash of their key (the
    plaintext is never kept). Scopes and tenant of a key never change, so a principal stays
    right for as long as its key is unrevoked, which the write itself checks."""

    def __init__(self, size: int = 1024, ttl_s: float = 60.0) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, presented: str) -> Principal | None:
        """The principal of this key, if authenticated within ``ttl_s``."""
        digest = hash_key(presented)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        seen_at, principal = entry
        if time.monotonic() - seen_at > self.ttl_s:
            del self._entries[digest]
            return None
        return principal

    def put(self, presented: str, principal: Principal) -> None:
        """Remember a key that just authenticated (the oldest entry goes when full)."""
        digest = hash_key(presented)
        self._entries[digest] = (time.monotonic(), principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
