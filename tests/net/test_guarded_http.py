"""The SSRF guard against a real HTTP server on loopback: what it refuses, and why."""

from __future__ import annotations

import ipaddress
import re
import ssl
import time
from collections.abc import Iterator

import pytest

from moderation.net import addresses, guarded_http
from moderation.net.guarded_http import (
    FetchFailed,
    FetchTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    UrlRefused,
    check_url,
    fetch,
)
from tests.support.receiver import Receiver, Reply, start_receiver
from tests.support.tls import ThrowawayCA


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with start_receiver() as server:
        yield server


REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://127.0.0.1/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 address of a loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://10.1.2.3/", "private-network"),
    ("http://172.16.0.1/", "private-network"),
    ("http://192.168.1.1/", "private-network"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[fd00::1]/", "private-network"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u for u, _ in REFUSED])
def test_refuses_non_public_addresses(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        fetch(url, max_bytes=1000, timeout_s=2)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://[fe80::1]/", "http://224.0.0.1/", "http://[::]/"]
)
def test_allow_private_still_refuses_metadata_link_local_and_multicast(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a/"])
def test_refuses_other_schemes(url: str) -> None:
    with pytest.raises(UrlRefused, match="only http and https"):
        fetch(url, max_bytes=1000, timeout_s=2)


@pytest.mark.parametrize("url", ["http://[::1", "http://", "http://:80/"])
def test_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, allow_private=False)


def test_fetches_from_loopback_only_when_allowed(receiver: Receiver) -> None:
    url = receiver.route("/image", Reply(200, b"\x89PNG...", {"content-type": "image/png"}))
    with pytest.raises(UrlRefused, match="loopback"):
        fetch(url, max_bytes=1000, timeout_s=5)
    fetched = fetch(url, max_bytes=1000, timeout_s=5, allow_private=True)
    assert (fetched.content, fetched.content_type, fetched.final_url) == (
        b"\x89PNG...",
        "image/png",
        url,
    )


def test_connects_to_the_checked_address_without_resolving_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name does not exist in DNS: only the pinned address can reach the server."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[addresses.IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(guarded_http, "resolve", resolve)
    receiver.route("/pinned", Reply(200, b"pinned"))
    port = receiver.url.rsplit(":", 1)[1]
    fetched = fetch(
        f"http://receiver.invalid:{port}/pinned", max_bytes=100, timeout_s=5, allow_private=True
    )
    assert fetched.content == b"pinned" and lookups == ["receiver.invalid"]
    assert receiver.received("/pinned")[-1].headers["host"] == f"receiver.invalid:{port}"


def test_every_redirect_is_checked_again(receiver: Receiver) -> None:
    url = receiver.route(
        "/to-metadata", Reply(302, b"", {"location": "http://169.254.169.254/latest/"})
    )
    with pytest.raises(UrlRefused, match="cloud metadata"):
        fetch(url, max_bytes=1000, timeout_s=5, allow_private=True)


def test_redirect_to_a_private_address_is_refused(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver's own address counts as public here; the 10.x it redirects to does not."""
    real = addresses.refusal_reason

    def as_if_public(address: addresses.IPAddress, *, allow_private: bool) -> str | None:
        return None if str(address) == "127.0.0.1" else real(address, allow_private=allow_private)

    monkeypatch.setattr(guarded_http, "refusal_reason", as_if_public)
    url = receiver.route("/to-private", Reply(307, b"", {"location": "http://10.0.0.7/admin"}))
    with pytest.raises(UrlRefused, match=re.escape("10.0.0.7, a private-network address")):
        fetch(url, max_bytes=1000, timeout_s=5)
    assert len(receiver.received("/to-private")) == 1


def test_follows_up_to_three_redirects(receiver: Receiver) -> None:
    receiver.route("/hop3", Reply(200, b"arrived"))
    receiver.route("/hop2", Reply(302, b"", {"location": "/hop3"}))
    receiver.route("/hop1", Reply(301, b"", {"location": "/hop2"}))
    start = receiver.route("/hop0", Reply(303, b"", {"location": "/hop1"}))
    fetched = fetch(start, max_bytes=100, timeout_s=5, allow_private=True)
    assert (fetched.content, fetched.final_url) == (b"arrived", receiver.url + "/hop3")
    loop = receiver.route("/loop", Reply(302, b"", {"location": "/loop"}))
    with pytest.raises(TooManyRedirects, match="more than 3 redirects"):
        fetch(loop, max_bytes=100, timeout_s=5, allow_private=True)
    assert len(receiver.received("/loop")) == 4


def test_caps_the_response_size(receiver: Receiver) -> None:
    url = receiver.route("/big", Reply(200, b"x" * 5000))
    with pytest.raises(ResponseTooLarge, match="larger than 4096 bytes"):
        fetch(url, max_bytes=4096, timeout_s=5, allow_private=True)


def test_caps_the_time(receiver: Receiver) -> None:
    url = receiver.route("/slow", Reply(200, b"late", delay_s=2))
    with pytest.raises(FetchTimeout):
        fetch(url, max_bytes=100, timeout_s=0.5, allow_private=True)


def test_error_answers_and_unknown_hosts_fail_clearly(receiver: Receiver) -> None:
    url = receiver.route("/missing", Reply(404, b"nope"))
    with pytest.raises(FetchFailed, match="HTTP 404"):
        fetch(url, max_bytes=100, timeout_s=5, allow_private=True)
    with pytest.raises(FetchFailed, match="does not resolve"):
        fetch("http://no-such-host.invalid/", max_bytes=100, timeout_s=5)


def test_a_slow_name_server_cannot_hold_a_fetch_past_its_time_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getaddrinfo cannot be interrupted: the guard stops waiting for it at the deadline."""

    def slow(host: str, port: int) -> list[addresses.IPAddress]:
        time.sleep(3)
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(guarded_http, "resolve", slow)
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match="did not resolve in time"):
        fetch("http://slow-dns.example/a.png", max_bytes=100, timeout_s=0.3)
    assert time.monotonic() - started < 1.5


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA.create(tmp_path_factory.mktemp("ca"))


def _tls_server(ca: ThrowawayCA, name: str, sni: list[str | None]) -> ssl.SSLContext:
    context = ca.server_context(name)
    context.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name)  # type: ignore[assignment, return-value]
    return context


def _pin_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    def loopback(host: str, port: int) -> list[addresses.IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(guarded_http, "resolve", loopback)


def test_https_goes_to_the_pinned_address_with_the_name_in_sni_and_certificate_check(
    ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    sni: list[str | None] = []
    _pin_to_loopback(monkeypatch)
    monkeypatch.setattr(guarded_http, "TLS_VERIFY", ca.client_context())
    with start_receiver(_tls_server(ca, "images.test", sni)) as server:
        server.route("/a.png", Reply(200, b"png bytes"))
        port = server.url.rsplit(":", 1)[1]
        url = f"https://images.test:{port}/a.png"
        fetched = fetch(url, max_bytes=100, timeout_s=5, allow_private=True)
        host = server.received("/a.png")[-1].headers["host"]
    assert (fetched.content, fetched.final_url) == (b"png bytes", url)
    assert sni == ["images.test"] and host == f"images.test:{port}"


@pytest.mark.parametrize("trusted", [True, False])
def test_https_with_a_certificate_for_another_name_or_an_unknown_ca_is_refused(
    ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    """Checked against the name, not the pinned IP; and only against trusted CAs (the
    default store does not know the test CA)."""
    _pin_to_loopback(monkeypatch)
    if trusted:
        monkeypatch.setattr(guarded_http, "TLS_VERIFY", ca.client_context())
    name = "elsewhere.test" if trusted else "images.test"
    with start_receiver(_tls_server(ca, name, [])) as server:
        port = server.url.rsplit(":", 1)[1]
        with pytest.raises(FetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(
                f"https://images.test:{port}/a.png", max_bytes=100, timeout_s=5, allow_private=True
            )


@pytest.mark.parametrize(("network", "reason"), addresses.EMBEDS_IPV4)
def test_ipv6_that_embeds_or_translates_ipv4_is_refused_even_with_private_allowed(
    network: ipaddress.IPv6Network, reason: str
) -> None:
    """One table, every range: its first address past the network's own, and one holding
    169.254.169.254 where the range carries an IPv4 address in its last 32 bits."""
    inside = [network.network_address + 0xA9FEA9FE, network.network_address + 2]
    for address in inside:
        assert address in network
        for allow_private in (False, True):
            assert addresses.refusal_reason(address, allow_private=allow_private) == reason
        with pytest.raises(UrlRefused, match=re.escape(reason)):
            check_url(f"http://[{address}]/", allow_private=True)


def test_loopback_and_mapped_addresses_are_judged_as_before() -> None:
    loopback, mapped = ipaddress.ip_address("::1"), ipaddress.ip_address("::ffff:10.0.0.1")
    assert addresses.refusal_reason(loopback, allow_private=True) is None
    assert addresses.refusal_reason(mapped, allow_private=True) is None
    assert "private-network" in str(addresses.refusal_reason(mapped, allow_private=False))
