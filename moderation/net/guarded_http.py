"""Outbound HTTP that cannot be pointed at the service's own network (SSRF guard).

Each hop: http(s) only; the host is resolved once and every address it resolves to is checked
(:mod:`moderation.net.addresses`); the connection goes to the checked address itself (the URL
carries the IP, the ``Host`` header and TLS SNI/certificate check keep the name), so a second
DNS answer cannot swap it. Redirects are followed by hand and re-checked; the body and the total
time (name resolution included) are capped.
"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass

import httpx

from moderation.net.addresses import IPAddress, refusal_reason, resolve

SCHEMES = {"http": 80, "https": 443}
REDIRECTS = {301, 302, 303, 307, 308}
CHECK_TIMEOUT_S = 10.0  # name resolution for check_url
# certificates of https servers are checked against the name in the URL (sent as SNI), with
# httpx's default CA store; tests point this at their own CA
TLS_VERIFY: ssl.SSLContext | bool = True
# getaddrinfo cannot be interrupted: lookups run here and are waited for up to the deadline, so
# a slow DNS server delays no caller past its time cap (a stuck lookup holds one of these
# threads until the resolver gives up; when all are stuck, new lookups time out in the queue)
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


class GuardedHttpError(Exception):
    """An outbound request refused or failed; ``reason`` is one of the subclasses' names."""

    reason = "failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UrlRefused(GuardedHttpError):
    """The URL's scheme, host or any address it resolves to is not allowed."""

    reason = "refused"


class TooManyRedirects(GuardedHttpError):
    reason = "too_many_redirects"


class ResponseTooLarge(GuardedHttpError):
    reason = "too_large"


class FetchTimeout(GuardedHttpError):
    reason = "timeout"


class FetchFailed(GuardedHttpError):
    """Connection error, unresolvable host, or (for :func:`fetch`) a non-2xx answer."""

    reason = "failed"


@dataclass(frozen=True)
class Fetched:
    """A response: status, body (capped), content type and the URL that answered."""

    status_code: int
    content: bytes
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    address: IPAddress


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (:class:`UrlRefused`, :class:`FetchFailed`, :class:`FetchTimeout`) a URL the
    guard would not fetch."""
    _target(_parse(url), allow_private=allow_private, deadline=time.monotonic() + CHECK_TIMEOUT_S)


def _parse(url: str, base: httpx.URL | None = None) -> httpx.URL:
    try:
        return base.join(url) if base is not None else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UrlRefused(f"'{url}' is not a valid URL: {exc}") from exc


def _resolve_by(host: str, port: int, deadline: float) -> list[IPAddress]:
    """:func:`resolve`, given up (:class:`FetchTimeout`) at ``deadline``."""
    lookup = _RESOLVER.submit(resolve, host, port)
    try:
        return lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except WaitTimeout:
        lookup.cancel()  # if it is still queued
        raise FetchTimeout(f"the host '{host}' did not resolve in time") from None


def _target(url: httpx.URL, *, allow_private: bool, deadline: float) -> _Target:
    if url.scheme not in SCHEMES:
        raise UrlRefused(f"only http and https URLs are allowed, not '{url.scheme or url}'")
    if not url.host:
        raise UrlRefused(f"the URL '{url}' has no host")
    port = url.port or SCHEMES[url.scheme]
    try:
        addresses = _resolve_by(url.host, port, deadline)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"the host '{url.host}' does not resolve: {exc}") from exc
    for address in addresses:
        reason = refusal_reason(address, allow_private=allow_private)
        if reason is not None:
            raise UrlRefused(f"the host '{url.host}' resolves to {address}, {reason}")
    if not addresses:
        raise FetchFailed(f"the host '{url.host}' does not resolve")
    return _Target(url, addresses[0])


def _pinned(target: _Target) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The URL with the checked IP as host, the Host header and the TLS name to present."""
    url = target.url
    host_header = url.netloc.decode("ascii").rpartition("@")[2]
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=str(target.address)), {"Host": host_header}, extensions


def _read_capped(
    response: httpx.Response, max_bytes: int, truncate: bool, deadline: float
) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if time.monotonic() > deadline:
            raise FetchTimeout("the response took longer than the time cap")
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise ResponseTooLarge(f"the response is larger than {max_bytes} bytes")
    return bytes(body)


def _send_once(
    client: httpx.Client,
    method: str,
    target: _Target,
    request_options: tuple[bytes | None, dict[str, str]],
    max_bytes: int,
    truncate: bool,
    deadline: float,
) -> tuple[httpx.Response, bytes]:
    content, headers = request_options
    url, host_header, extensions = _pinned(target)
    request = client.build_request(
        method, url, content=content, headers={**headers, **host_header}, extensions=extensions
    )
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"no answer from {target.url.host} in time: {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"request to {target.url.host} failed: {exc}") from exc
    try:
        return response, _read_capped(response, max_bytes, truncate, deadline)
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"the response from {target.url.host} timed out: {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"reading the response of {target.url.host} failed: {exc}") from exc
    finally:
        response.close()


def request(
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int = 3,
    allow_private: bool = False,
    truncate: bool = False,
) -> Fetched:
    """One guarded request, following up to ``max_redirects`` re-checked redirects (a 303, or a
    301/302 after a POST, continues as GET without a body). Any other answer comes back, 2xx or
    not; ``truncate`` keeps the first ``max_bytes`` of a longer body instead of refusing it."""
    deadline = time.monotonic() + timeout_s
    current = _parse(url)
    options = (content, dict(headers or {}))
    client = httpx.Client(
        timeout=timeout_s, follow_redirects=False, trust_env=False, verify=TLS_VERIFY
    )
    with client:
        for _ in range(max_redirects + 1):
            target = _target(current, allow_private=allow_private, deadline=deadline)
            response, body = _send_once(
                client, method, target, options, max_bytes, truncate, deadline
            )
            location = response.headers.get("location")
            if response.status_code not in REDIRECTS or not location:
                return Fetched(
                    response.status_code, body, response.headers.get("content-type"), str(current)
                )
            current = _parse(location, base=current)
            if response.status_code == 303 or (method == "POST" and response.status_code < 307):
                method, options = "GET", (None, options[1])
    raise TooManyRedirects(f"more than {max_redirects} redirects starting at {url}")


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int = 3,
    allow_private: bool = False,
) -> Fetched:
    """GET ``url`` through the guard; a non-2xx final answer raises :class:`FetchFailed`."""
    fetched = request(
        "GET",
        url,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        max_redirects=max_redirects,
        allow_private=allow_private,
    )
    if not 200 <= fetched.status_code < 300:
        raise FetchFailed(f"{fetched.final_url} answered HTTP {fetched.status_code}")
    return fetched
