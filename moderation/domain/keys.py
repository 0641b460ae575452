"""API keys: generated once, shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "mod_"


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    """The stored form of a key (keys carry 192 random bits, so a plain digest suffices)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """A new random key with its display prefix and hash."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(24)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:12], key_hash=hash_key(plaintext))
