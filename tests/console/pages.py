"""Reading the review pages' DOM in tests (ids of the DOM contract)."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient

from tests.console.support import Account, signed_in


def element_text(html: str, element_id: str) -> str:
    """The inner HTML of the element with ``id`` (first closing tag of its kind)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no #{element_id}"
    return found.group(2).strip()


def row_ids(html: str) -> list[uuid.UUID]:
    """The submission ids of the queue rows, in order."""
    return [
        uuid.UUID(s)
        for s in re.findall(r'<tr class="queue-row" data-submission-id="([^"]+)"', html)
    ]


class Reviewer:
    """A signed-in console client acting on items through the real forms."""

    def __init__(self, client: TestClient, account: Account) -> None:
        self.client = client
        self.csrf = signed_in(client, account)

    def item(self, sid: uuid.UUID) -> str:
        response = self.client.get(f"/review/items/{sid}")
        assert response.status_code == 200, response.text
        return response.text

    def post(self, sid: uuid.UUID, verb: str, **fields: str) -> tuple[int, str]:
        response = self.client.post(
            f"/review/items/{sid}/{verb}",
            data={"csrf_token": self.csrf, **fields},
            follow_redirects=False,
        )
        return response.status_code, response.text
