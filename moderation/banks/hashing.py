"""The hashes a bank compares: PDQ (256 bits, hex, with its quality), MD5 and SHA-256.

PDQ is computed by ``threatexchange`` (Meta's library under HMA, over ``pdqhash``), so our
hashes are the ones HMA and ThreatExchange exchange."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

PDQ_BITS = 256
MIN_QUALITY = 50  # HMA's: below it (flat, tiny images) a PDQ hash never matches
DEFAULT_DISTANCE = 31  # HMA's PDQ match threshold
MAX_DISTANCE = 63

_PDQ = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class HashInvalid(ValueError):
    """A hash that is not the hex string of its kind."""


@dataclass(frozen=True)
class ImageHashes:
    """All the hashes of one image."""

    pdq: str
    quality: int
    md5: str
    sha256: str


def hash_image(data: bytes) -> ImageHashes:
    """PDQ (and quality), MD5 and SHA-256 of the image file ``data`` (decoded by Pillow)."""
    pdq, quality = pdq_from_bytes(data)
    return ImageHashes(
        pdq=pdq,
        quality=int(quality),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def hash_frame(frame: Image.Image) -> ImageHashes:
    """PDQ (and quality) of a decoded RGB frame of an animation, the same as
    :func:`hash_image` gives a lossless still image of its pixels (threatexchange hashes the
    RGB array of the decoded file with ``pdqhash`` too); it has no file, so no MD5 or SHA-256
    to match."""
    bits, quality = pdqhash.compute(np.asarray(frame.convert("RGB")))
    pdq = f"{int(''.join(str(int(b)) for b in bits), 2):0{PDQ_BITS // 4}x}"
    return ImageHashes(pdq=pdq, quality=int(quality), md5="", sha256="")


def _normal(value: str, pattern: re.Pattern[str], kind: str) -> str:
    text = value.strip().lower()
    if not pattern.fullmatch(text):
        raise HashInvalid(f"not a {kind} hash (expected {pattern.pattern})")
    return text


def parse_pdq(value: str) -> str:
    """A PDQ hash as 64 lower-case hex digits (HashInvalid otherwise)."""
    return _normal(value, _PDQ, "PDQ")


def parse_md5(value: str) -> str:
    """An MD5 as 32 lower-case hex digits (HashInvalid otherwise)."""
    return _normal(value, _MD5, "MD5")


def parse_sha256(value: str) -> str:
    """A SHA-256 as 64 lower-case hex digits (HashInvalid otherwise)."""
    return _normal(value, _SHA256, "SHA-256")


def distance(a: str, b: str) -> int:
    """The Hamming distance of two PDQ hashes (hex)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
