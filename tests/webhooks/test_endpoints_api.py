"""``/v1/webhook-endpoints`` over HTTP: create (secret once), list, delete, isolation, URL guard."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from standardwebhooks import Webhook

from moderation.config import Settings
from moderation.webhooks.secrets import SecretBox, SecretUnreadable
from tests.support.db import rows
from tests.support.processes import ApiServer
from tests.support.receiver import Receiver
from tests.webhooks.conftest import create_endpoint


def test_create_shows_the_secret_once_then_list_and_delete(
    loopback_api: ApiServer, receiver: Receiver, new_key: Callable[[], str]
) -> None:
    url = receiver.route("/crud")
    with loopback_api.client(new_key()) as client:
        created = create_endpoint(client, url, "moderation.decided", "moderation.failed")
        secret = str(created["secret"])
        assert secret.startswith("whsec_") and Webhook(secret).sign("msg_x", _now(), "{}")
        assert (created["url"], created["events"], created["enabled"]) == (
            url,
            ["moderation.decided", "moderation.failed"],
            True,
        )
        listed = client.get("/v1/webhook-endpoints").json()["data"]
        assert [e["id"] for e in listed] == [created["id"]]
        assert "secret" not in listed[0] and secret not in client.get("/v1/webhook-endpoints").text
        assert client.delete(f"/v1/webhook-endpoints/{created['id']}").status_code == 204
        assert client.get("/v1/webhook-endpoints").json() == {"data": []}
        again = client.delete(f"/v1/webhook-endpoints/{created['id']}")
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_another_tenants_endpoint_is_not_found(
    loopback_api: ApiServer, receiver: Receiver, new_key: Callable[[], str]
) -> None:
    with loopback_api.client(new_key()) as owner, loopback_api.client(new_key()) as other:
        created = create_endpoint(owner, receiver.route("/isolated"))
        eid = created["id"]
        assert other.get("/v1/webhook-endpoints").json() == {"data": []}
        for response in (
            other.delete(f"/v1/webhook-endpoints/{eid}"),
            other.get(f"/v1/webhook-endpoints/{eid}/deliveries"),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
        assert owner.get(f"/v1/webhook-endpoints/{eid}/deliveries").json() == {"data": []}
        assert [e["id"] for e in owner.get("/v1/webhook-endpoints").json()["data"]] == [eid]
        assert owner.delete("/v1/webhook-endpoints/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://169.254.169.254/latest", "cloud metadata"),
        ("http://10.0.0.1/hook", "private-network"),
        ("ftp://example.com/hook", "only http and https"),
    ],
)
def test_urls_the_guard_refuses_are_422(
    api: ApiServer, new_key: Callable[[], str], url: str, reason: str
) -> None:
    """The suite's API runs with the default settings: no private addresses."""
    with api.client(new_key()) as client:
        response = client.post(
            "/v1/webhook-endpoints", json={"url": url, "events": ["moderation.decided"]}
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_webhook_url" and reason in error["message"]
        assert client.get("/v1/webhook-endpoints").json() == {"data": []}


def test_unknown_events_and_empty_event_lists_are_422(
    loopback_api: ApiServer, receiver: Receiver, new_key: Callable[[], str]
) -> None:
    with loopback_api.client(new_key()) as client:
        for events in (["moderation.exploded"], []):
            response = client.post(
                "/v1/webhook-endpoints", json={"url": receiver.route("/ev"), "events": events}
            )
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "invalid_request"


def test_a_database_dump_holds_no_usable_secret(
    loopback_api: ApiServer, receiver: Receiver, new_key: Callable[[], str], db: str
) -> None:
    with loopback_api.client(new_key()) as client:
        created = create_endpoint(client, receiver.route("/sealed"))
    secret = str(created["secret"])
    (row,) = rows(db, "SELECT * FROM webhook_endpoints WHERE id = :i", i=created["id"])
    dump = repr(row)
    assert secret not in dump and secret.removeprefix("whsec_") not in dump
    sealed = str(row["secret_sealed"])
    assert SecretBox(Settings().secret_key.get_secret_value()).open(sealed) == secret
    with pytest.raises(SecretUnreadable):
        SecretBox("some-other-server-key-of-enough-length-000").open(sealed)


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
