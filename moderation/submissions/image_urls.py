"""Fetching a submission's image from its ``image_url``, through the SSRF guard."""

from __future__ import annotations

from moderation.config import Settings
from moderation.net.guarded_http import GuardedHttpError, ResponseTooLarge, fetch
from moderation.web.errors import ApiError

_CODES = {
    "refused": "image_url_refused",
    "too_many_redirects": "image_url_redirects",
    "timeout": "image_url_timeout",
    "failed": "image_url_unreachable",
}


def fetch_image(url: str, settings: Settings) -> bytes:
    """The bytes at ``url`` (http(s), public addresses only unless allowed, at most 3
    redirects, size and time capped); an ApiError that says why otherwise."""
    try:
        fetched = fetch(
            url,
            max_bytes=settings.max_image_bytes,
            timeout_s=settings.image_fetch_timeout_s,
            allow_private=settings.allow_private_urls,
        )
    except ResponseTooLarge as exc:
        raise ApiError(413, "payload_too_large", f"image_url: {exc.message}") from None
    except GuardedHttpError as exc:
        raise ApiError(
            422, _CODES.get(exc.reason, "image_url_unreachable"), f"image_url: {exc.message}"
        ) from None
    return fetched.content
