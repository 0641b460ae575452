"""POST /v1/moderations with a JSON ``image_url``: fetched through the SSRF guard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation.config import Settings
from tests.conftest import Keys
from tests.support import images
from tests.support.db import count
from tests.support.processes import ApiServer, start_api
from tests.support.receiver import Receiver, Reply, start_receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with start_receiver() as server:
        yield server


@pytest.fixture(scope="module")
def private_ok_api(db: str) -> Iterator[ApiServer]:
    """An API allowed to fetch from loopback (a single-machine setup)."""
    with start_api(Settings(allow_private_urls=True, relay_in_api=False)) as server:
        yield server


def test_image_url_is_fetched_and_queued(
    private_ok_api: ApiServer, receiver: Receiver, keys: Keys, db: str
) -> None:
    data = images.png(41, 39, seed=71)
    url = receiver.route("/img/71.png", Reply(200, data, {"content-type": "image/png"}))
    with private_ok_api.client(keys.a) as client:
        response = client.post("/v1/moderations", json={"image_url": url, "external_id": "url-71"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["image"]["width"] == 41 and body["image"]["format"] == "PNG"
    assert body["external_id"] == "url-71" and body["status"] == "queued"
    assert len(receiver.received("/img/71.png")) == 1


def test_redirect_is_followed_and_a_404_is_a_clear_error(
    private_ok_api: ApiServer, receiver: Receiver, keys: Keys
) -> None:
    data = images.jpeg(30, 20, seed=72)
    target = receiver.route("/img/72.jpg", Reply(200, data, {"content-type": "image/jpeg"}))
    moved = receiver.route("/moved/72", Reply(302, b"", {"location": target}))
    missing = receiver.route("/img/none.jpg", Reply(404, b"nope"))
    with private_ok_api.client(keys.a) as client:
        redirected = client.post("/v1/moderations", json={"image_url": moved})
        gone = client.post("/v1/moderations", json={"image_url": missing})
    assert redirected.status_code == 202, redirected.text
    assert gone.status_code == 422
    assert gone.json()["error"]["code"] == "image_url_unreachable"
    assert "404" in gone.json()["error"]["message"]


def test_fetched_bytes_are_validated_like_uploads(
    private_ok_api: ApiServer, receiver: Receiver, keys: Keys
) -> None:
    svg = receiver.route("/img/x.svg", Reply(200, b"<svg xmlns='http://www.w3.org/2000/svg'/>"))
    with private_ok_api.client(keys.a) as client:
        response = client.post("/v1/moderations", json={"image_url": svg})
    assert response.status_code == 415, response.text


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1/x.jpg",
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",
        "http://2130706433/x.jpg",
        "http://0x7f.0.0.1/x.jpg",
        "http://10.0.0.5/x.jpg",
        "http://192.168.1.1/x.jpg",
        "file:///etc/passwd",
        "ftp://example.com/x.jpg",
    ],
)
def test_private_and_non_http_image_urls_are_refused(
    api: ApiServer, keys: Keys, db: str, url: str
) -> None:
    before = count(db, "submissions")
    with api.client(keys.a) as client:  # the suite's API: private addresses not allowed
        response = client.post("/v1/moderations", json={"image_url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "image_url_refused"
    assert count(db, "submissions") == before


def test_redirect_to_a_private_address_is_refused(
    api: ApiServer, keys: Keys, receiver: Receiver
) -> None:
    # the receiver itself is on loopback, so the suite's API refuses it before any redirect;
    # the guard's own tests cover a public hop redirecting to a private one
    url = receiver.route("/redir", Reply(302, b"", {"location": "http://10.1.2.3/x.jpg"}))
    with api.client(keys.a) as client:
        response = client.post("/v1/moderations", json={"image_url": url})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "image_url_refused"
    assert receiver.received("/redir") == []
