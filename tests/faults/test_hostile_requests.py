"""The outside probe's reproductions (issue #22) against the real API process: each answered
with a 4xx and a clear message within 2 s, the process's memory growing by less than 50 MB
over all of them, and the keep-alive connection still usable after the deepest JSON."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.support import images
from tests.support.processes import ApiProcess, start_api_process

MAX_SECONDS = 2.0
MAX_GROWTH_MB = 50


def alias_bomb(levels: int) -> str:
    """The probe's 254-byte draft, ``levels`` anchors deep (each level 9 aliases of the last)."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [x,x,x,x,x,x,x,x,x]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    status: int
    code: str
    request: dict[str, Any] = field(default_factory=dict)


def _image(**fields: str) -> dict[str, Any]:
    return {"files": {"image": ("a.png", images.png(), "image/png")}, "data": fields}


def _raw_multipart(field_name: str, value: bytes) -> dict[str, Any]:
    boundary = "probe-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"\r\n\r\n'.encode()
        + value
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="image"; '
        'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + images.png()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {
        "content": body,
        "headers": {"content-type": f"multipart/form-data; boundary={boundary}"},
    }


DEEP_JSON = b'{"image_url": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
SOME_ID = str(uuid.uuid4())
PROBES = [
    Probe(
        "yaml alias bomb", "POST", "/v1/policies/default/drafts", 422, "invalid_policy",
        {"json": {"yaml": alias_bomb(9)}},
    ),
    Probe(
        "yaml 10,000 deep", "POST", "/v1/policies/default/drafts", 422, "invalid_policy",
        {"json": {"yaml": "a: " + "[" * 10_000 + "]" * 10_000}},
    ),
    Probe(
        "json 100,000 deep", "POST", "/v1/moderations", 400, "too_deep",
        {"content": DEEP_JSON, "headers": {"content-type": "application/json"}},
    ),
    Probe(
        "NUL in key name", "POST", "/v1/api-keys", 422, "invalid_request",
        {"json": {"name": "a\x00b", "scopes": ["moderations:read"]}},
    ),
    Probe("NUL in external_id", "POST", "/v1/moderations", 422, "invalid_request",
          _image(external_id="post\x00")),
    Probe("NUL in policy (form)", "POST", "/v1/moderations", 422, "invalid_request",
          _image(policy="default\x00")),
    Probe(
        "NUL in policy (json)", "POST", "/v1/moderations", 422, "invalid_request",
        {"json": {"image_url": "http://example.test/a.png", "policy": "de\x00fault"}},
    ),
    Probe(
        "control character in appeal reason", "POST", f"/v1/moderations/{SOME_ID}/appeals",
        422, "invalid_request", {"json": {"reason": "because\x1b[2J"}},
    ),
    Probe(
        "NUL in rollback version", "POST", "/v1/policies/default/rollback", 422,
        "invalid_request", {"json": {"version": "default-\x00"}},
    ),
    Probe("NUL in a policy slug", "GET", "/v1/policies/%00", 422, "invalid_text"),
    Probe("NUL in a version", "GET", "/v1/policies/default/versions/%00", 422, "invalid_text"),
    Probe("lone surrogate in key name", "POST", "/v1/api-keys", 422, "invalid_request",
          {"content": b'{"name": "\\ud800", "scopes": ["moderations:read"]}',
           "headers": {"content-type": "application/json"}}),
    Probe("invalid UTF-8 in external_id", "POST", "/v1/moderations", 422, "invalid_request",
          _raw_multipart("external_id", b"caf\xe9")),
    Probe("not UTF-8 in a query", "GET", "/v1/moderations/" + SOME_ID + "?wait=%ff", 422,
          "invalid_text"),
    Probe("NUL in the login email", "POST", "/review/login", 422, "invalid_text",
          {"data": {"email": "a\x00@b.test", "password": "x", "csrf_token": "x"}}),
    Probe("NUL in a queue filter", "GET", "/review/?policy=%00", 422, "invalid_text"),
    Probe("NUL in an agreement filter", "GET", "/review/agreement?version=%00", 422,
          "invalid_text"),
    Probe("NUL in an audit filter", "GET", "/review/audit?actor=%00", 422, "invalid_text"),
    Probe("NUL in a policy page", "GET", "/review/policies/%00", 422, "invalid_text"),
    Probe("NUL in a diff", "GET", "/review/policies/default/diff?a=%00&b=x", 422, "invalid_text"),
]  # fmt: skip


@pytest.fixture(scope="module")
def api_process(db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    log = tmp_path_factory.mktemp("hostile-requests") / "api.log"
    with start_api_process(log, MODERATION_RATE_LIMIT="") as server:
        yield server


def _send(client: httpx.Client, probe: Probe) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(probe.method, probe.path, **probe.request)
    return response, time.monotonic() - started


def test_each_probe_gets_a_clear_4xx_fast_with_bounded_memory(
    api_process: ApiProcess, keys: Keys
) -> None:
    with api_process.client(keys.a) as client:
        _send(client, PROBES[0])  # warm up before measuring
        before = api_process.rss_mb()
        problems = []
        for _ in range(2):
            for probe in PROBES:
                response, seconds = _send(client, probe)
                body = response.json() if response.content else {}
                if (response.status_code, body.get("error", {}).get("code")) != (
                    probe.status,
                    probe.code,
                ):
                    problems.append(f"{probe.name}: {response.status_code} {response.text[:200]}")
                if seconds > MAX_SECONDS:
                    problems.append(f"{probe.name}: {seconds:.2f} s")
        growth = api_process.rss_mb() - before
    assert not problems, "\n".join(problems)
    assert growth < MAX_GROWTH_MB, f"API RSS grew by {growth:.0f} MiB"


def test_the_connection_survives_the_deepest_json(api_process: ApiProcess, keys: Keys) -> None:
    deep = next(p for p in PROBES if p.name == "json 100,000 deep")
    with api_process.client(keys.a) as client:
        refused, _ = _send(client, deep)
        assert refused.status_code == 400
        assert refused.headers.get("connection", "").lower() != "close"
        assert client.get("/healthz").status_code == 200
        assert api_process.proc.poll() is None


@pytest.mark.parametrize(
    "address",
    [
        "[::ffff:0:a9fe:a9fe]",  # SIIT of 169.254.169.254
        "[::a9fe:a9fe]",  # IPv4-compatible
        "[64:ff9b::a9fe:a9fe]",  # NAT64
        "[64:ff9b:1::a9fe:a9fe]",  # local-use NAT64
        "[2002:a9fe:a9fe::1]",  # 6to4
        "[2001:0:a9fe:a9fe::1]",  # Teredo
        "[fec0::1]",  # site-local
    ],
)
def test_ipv6_that_embeds_ipv4_is_refused_for_images_and_webhooks(
    api_process: ApiProcess, keys: Keys, address: str
) -> None:
    url = f"http://{address}/x"
    with api_process.client(keys.a) as client:
        image = client.post("/v1/moderations", json={"image_url": url})
        hook = client.post(
            "/v1/webhook-endpoints", json={"url": url, "events": ["moderation.decided"]}
        )
    assert image.status_code == 422 and image.json()["error"]["code"] == "image_url_refused"
    assert hook.status_code == 422 and hook.json()["error"]["code"] == "invalid_webhook_url"
    assert "IPv6" in image.json()["error"]["message"] and "IPv6" in hook.json()["error"]["message"]


def test_405_names_every_method_of_the_path(api_process: ApiProcess, keys: Keys) -> None:
    with api_process.client(keys.a) as client:
        for path in ("/v1/api-keys", "/v1/webhook-endpoints"):
            response = client.put(path)
            assert response.status_code == 405
            assert response.headers["allow"] == "GET, POST"


def test_api_answers_are_not_sniffed_or_cached(api_process: ApiProcess, keys: Keys) -> None:
    with api_process.client(keys.a) as client:
        answer = client.get("/v1/policies")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    with httpx.Client(base_url=api_process.url) as anonymous:
        health = anonymous.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in health.headers
