"""Browser tests: Debian's Chromium (headless, never a downloaded browser build) driven by
Playwright's sync API against the real API + console served by uvicorn.

* one browser per session; a fresh context (cookie jar) per test; 5 s timeouts;
* any browser console error or uncaught page error fails the test at teardown;
* screenshots of every test (at the steps it names and at the end), and its browser console
  (``console.txt``, when it printed anything) go to ``$MODERATION_TEST_ARTIFACTS/browser/<test>/``
  (default ``var/test-artifacts/browser/<test>/``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect, sync_playwright

from moderation.config import Settings
from tests.conftest import ROOT, Env
from tests.support.processes import ApiServer, start_api

TIMEOUT_MS = 5_000


def artifacts_dir() -> Path:
    """Screenshots: ``$MODERATION_TEST_ARTIFACTS/browser``, else ``var/test-artifacts/browser``."""
    base = os.environ.get("MODERATION_TEST_ARTIFACTS")
    return (Path(base) if base else ROOT / "var" / "test-artifacts") / "browser"


def chromium_path() -> str:
    """Debian's Chromium (``make test`` installs it); the suite never downloads a browser."""
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError(
            "no `chromium` on PATH: run `make browser` (apt-get install chromium) first"
        )
    return found


def _no_publish(task: str, queue: str, args: dict[str, object], headers: object = None) -> None:
    raise AssertionError("the browser tests' API has no relay and publishes nothing")


@pytest.fixture(scope="package")
def db(make_db: Callable[[], str]) -> str:
    """A database of this package's own: the suite's API relay never sends its outbox, and
    queue pages list only what these tests made."""
    return make_db()


@pytest.fixture(scope="package")
def server(env: Env, db: str) -> Iterator[ApiServer]:
    """The real API with the console at /review, over HTTP, on this package's database (no
    outbox relay: nothing is published, no worker is needed)."""
    settings = Settings(database_url=db, relay_in_api=False)
    with start_api(settings, publish=_no_publish) as api:
        yield api


# package scope: Playwright's sync API keeps an event loop marked running in this thread while
# it is open, which would break every later test that calls asyncio.run()
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the browser tests (root needs --no-sandbox)."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@dataclass
class BrowserProblems:
    """What the page reported that a test must not leave behind."""

    errors: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # every console line, kept beside the shots

    def console(self, message: ConsoleMessage) -> None:
        self.log.append(f"{message.type}: {message.text}")
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console error: {message.text} ({where})")

    def page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught page error: {error.name}: {error.message}")
        self.log.append(self.errors[-1])


class Screenshots:
    """Numbered full-page screenshots of one test, in its own folder."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.page: Page | None = None
        self.count = 0

    def __call__(self, step: str) -> Path:
        """Save ``NN-step.png`` of the page as it is now; returns its path."""
        assert self.page is not None
        self.count += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", step).strip("-") or "step"
        path = self.folder / f"{self.count:02d}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    """``screenshot("step")`` saves the page now; the ``page`` fixture adds a last one."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Screenshots(artifacts_dir() / name)


@pytest.fixture
def page(browser: Browser, server: ApiServer, screenshot: Screenshots) -> Iterator[Page]:
    """A page in a fresh context (own cookies) on the live server; ``page.goto("/review/")``.

    Fails the test at teardown if the browser logged any console error or uncaught error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    problems = BrowserProblems()
    opened = context.new_page()
    opened.on("console", problems.console)
    opened.on("pageerror", problems.page_error)
    opened.on("dialog", lambda dialog: dialog.accept())  # "are you sure?" prompts say yes
    screenshot.page = opened
    try:
        yield opened
    finally:
        try:
            screenshot("end")
        except Error as exc:  # a crashed or closed page must not hide the test's own outcome
            problems.errors.append(f"no final screenshot: {exc.message}")
        finally:
            context.close()
    if problems.log:
        (screenshot.folder / "console.txt").write_text("\n".join(problems.log) + "\n")
    if problems.errors:
        pytest.fail("the browser reported errors:\n" + "\n".join(problems.errors), pytrace=False)
