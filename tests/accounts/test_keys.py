"""API key format: random part, checksum, public prefix, hash."""

from __future__ import annotations

import math
import secrets

import pytest

from moderation.accounts.keys import (
    BASE62,
    CHECKSUM_CHARS,
    KEY_PREFIX,
    RANDOM_CHARS,
    generate_api_key,
    hash_key,
    key_matches,
    public_prefix,
)


def test_a_key_is_prefix_random_part_and_checksum() -> None:
    key = generate_api_key()
    body = key.plaintext[len(KEY_PREFIX) :]
    assert key.plaintext.startswith("mod_")
    assert len(body) == RANDOM_CHARS + CHECKSUM_CHARS == 30
    assert set(body) <= set(BASE62)
    assert RANDOM_CHARS * math.log2(len(BASE62)) >= 128
    assert key.prefix == key.plaintext[:12] == public_prefix(key.plaintext)
    assert key.key_hash == hash_key(key.plaintext) and len(key.key_hash) == 64
    assert key.plaintext not in key.key_hash


def test_keys_are_distinct() -> None:
    made = {generate_api_key().plaintext for _ in range(2000)}
    assert len(made) == 2000
    assert len({k[:12] for k in made}) == 2000  # prefixes collide only rarely


def test_every_single_character_typo_fails_the_checksum() -> None:
    key = generate_api_key().plaintext
    for i in range(len(KEY_PREFIX), len(key)):
        for c in "0aZ":
            if c != key[i]:
                assert public_prefix(key[:i] + c + key[i + 1 :]) is None, (i, c)


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "mod_",
        "Bearer",
        "mod_not-a-real-key",
        "sk_" + "a" * 31,
        "MOD_" + "a" * 30,
    ],
)
def test_malformed_keys_have_no_prefix(presented: str) -> None:
    assert public_prefix(presented) is None


def test_truncated_extended_and_transposed_keys_are_refused() -> None:
    key = generate_api_key().plaintext
    assert public_prefix(key[:-1]) is None
    assert public_prefix(key + "0") is None
    swapped = key[:10] + key[11] + key[10] + key[12:]
    assert swapped == key or public_prefix(swapped) is None


def test_keys_issued_before_the_checksum_format_still_parse() -> None:
    legacy = KEY_PREFIX + secrets.token_urlsafe(24)
    assert public_prefix(legacy) == legacy[:12]


def test_key_matches_its_hash_only() -> None:
    key = generate_api_key()
    assert key_matches(key.plaintext, key.key_hash)
    assert not key_matches(generate_api_key().plaintext, key.key_hash)
