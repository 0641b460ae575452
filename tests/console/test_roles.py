"""Role dependencies: admin ⊇ policy_author ⊇ reviewer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from moderation.accounts.users import ROLES, ReviewerSession, Role, role_includes
from moderation.config import Settings
from moderation.console.app import create_review_app
from moderation.console.auth import require_user
from tests.console.support import make_account, signed_in


def _page_for(role: Role) -> Callable[[ReviewerSession], str]:
    def page(user: ReviewerSession = Depends(require_user(role))) -> str:  # noqa: B008
        return user.email

    return page


@pytest.fixture(scope="module")
def role_client(db: str) -> Iterator[TestClient]:
    """The console plus one page per role, as the other console pages will add theirs."""
    console = create_review_app(Settings())
    for role in ROLES:
        console.add_api_route(f"/only-{role}", _page_for(role), methods=["GET", "POST"])
    outer = FastAPI()
    outer.mount("/review", console)
    with TestClient(outer, base_url="http://testserver") as client:
        yield client


def test_role_order() -> None:
    assert role_includes("admin", "policy_author") and role_includes("admin", "reviewer")
    assert role_includes("policy_author", "reviewer")
    assert not role_includes("reviewer", "policy_author")
    assert not role_includes("policy_author", "admin")
    assert not role_includes("intruder", "reviewer")


@pytest.mark.parametrize(
    ("held", "allowed"),
    [
        ("reviewer", {"reviewer"}),
        ("policy_author", {"reviewer", "policy_author"}),
        ("admin", {"reviewer", "policy_author", "admin"}),
    ],
)
def test_pages_answer_by_role(
    db: str, role_client: TestClient, held: Role, allowed: set[str]
) -> None:
    role_client.cookies.clear()
    account = make_account(db, held)
    token = signed_in(role_client, account)
    for role in ROLES:
        page = role_client.get(f"/review/only-{role}")
        assert page.status_code == (200 if role in allowed else 403), (held, role)
        posted = role_client.post(f"/review/only-{role}", headers={"X-CSRF-Token": token})
        assert posted.status_code == (200 if role in allowed else 403), (held, role)
        assert role_client.post(f"/review/only-{role}").status_code == 403  # no CSRF token
