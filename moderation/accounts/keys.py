"""API keys: format, checksum, hash and scopes. Generated once, shown once, stored as a hash.

A key is ``mod_`` + 24 random base62 characters (≈143 bits) + a 6-character base62 CRC32 of
them, like GitHub's tokens: a mistyped or truncated key fails the checksum and is refused
without a database lookup. The first 12 characters (``mod_`` + 8 random ones) are the key's
public prefix: shown in listings, indexed, and used to find the row whose hash is then compared
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "mod_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_CHARS = 24  # 24 * log2(62) ≈ 142.9 random bits
CHECKSUM_CHARS = 6  # 62**6 > 2**32
PUBLIC_PREFIX_CHARS = 12

_KEY = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{{RANDOM_CHARS + CHECKSUM_CHARS}}}")
# keys issued before the checksum format: ``mod_`` + token_urlsafe(24); still valid until revoked
_LEGACY_KEY = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_-]{{32}}")


class Scope(StrEnum):
    """What a key may do."""

    MODERATIONS_WRITE = "moderations:write"
    MODERATIONS_READ = "moderations:read"
    MODERATIONS_HOLD = "moderations:hold"  # place and release legal holds on images
    POLICIES_WRITE = "policies:write"
    REVIEWS_WRITE = "reviews:write"
    KEYS_WRITE = "keys:write"
    WEBHOOKS_WRITE = "webhooks:write"
    BANKS_READ = "banks:read"
    BANKS_WRITE = "banks:write"


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    prefix: str
    key_hash: str


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The base62 CRC32 of a key's random part."""
    return _base62(zlib.crc32(body.encode()), CHECKSUM_CHARS)


def hash_key(plaintext: str) -> str:
    """The stored form of a key (keys carry >128 random bits, so a plain digest suffices)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_matches(plaintext: str, key_hash: str) -> bool:
    """Whether ``plaintext`` hashes to ``key_hash``, compared in constant time."""
    return hmac.compare_digest(hash_key(plaintext), key_hash)


def generate_api_key() -> NewApiKey:
    """A new random key with its public prefix and hash."""
    body = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    plaintext = KEY_PREFIX + body + checksum(body)
    return NewApiKey(
        plaintext=plaintext,
        prefix=plaintext[:PUBLIC_PREFIX_CHARS],
        key_hash=hash_key(plaintext),
    )


def public_prefix(presented: str) -> str | None:
    """The lookup prefix of a well-formed key; None when malformed or its checksum fails."""
    if _KEY.fullmatch(presented):
        body = presented[len(KEY_PREFIX) : -CHECKSUM_CHARS]
        if not hmac.compare_digest(checksum(body), presented[-CHECKSUM_CHARS:]):
            return None
    elif not _LEGACY_KEY.fullmatch(presented):
        return None
    return presented[:PUBLIC_PREFIX_CHARS]
