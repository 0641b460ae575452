"""Driving a review run with the keyboard, counting what it costs: page loads and key presses
per decision (shared by the browser tests and ``bench/review_console.py``)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from playwright.sync_api import Page, expect

ITEM_PATH = re.compile(r"/review/items/([0-9a-f-]{36})")


def current_item(page: Page) -> uuid.UUID | None:
    """The item the page shows (None on another page)."""
    found = ITEM_PATH.search(page.url)
    return uuid.UUID(found.group(1)) if found else None


@dataclass
class KeyRun:
    """A reviewer's run through the queue by keys alone, with its costs."""

    page: Page
    loads: int = 0
    keys: int = 0
    decided: list[uuid.UUID] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("load", lambda _: self._loaded())

    def _loaded(self) -> None:
        self.loads += 1

    def ready(self) -> None:
        """Wait until the item page listens to keys."""
        expect(self.page.locator("body[data-keys=ready]")).to_have_count(1)

    def press(self, *keys: str) -> None:
        """Press keys outside any field (as a reviewer's hand on the keyboard would)."""
        for key in keys:
            self.page.keyboard.press(key)
            self.keys += 1

    def type_note(self, text: str) -> None:
        """Type the note the page asked for (one press per character) and send it."""
        expect(self.page.locator("#note")).to_be_focused()
        self.page.keyboard.type(text)
        self.keys += len(text)
        self.press("Control+Enter")

    def start(self) -> uuid.UUID:
        """Press Start reviewing on the queue; the item it opened."""
        self.page.locator("#start-reviewing").click()
        expect(self.page).to_have_url(ITEM_PATH)
        self.ready()
        found = current_item(self.page)
        assert found is not None
        return found

    def decide(self, *keys: str, note: str | None = None) -> uuid.UUID | None:
        """Decide the open item with ``keys`` (and a ``note`` when the page asks for one);
        waits for the next item (or the queue) and returns it."""
        began = time.perf_counter()
        item = current_item(self.page)
        assert item is not None
        self.press(*keys)
        if note is not None:
            expect(self.page.locator("#note-needed")).to_be_visible()
            self.type_note(note)
        expect(self.page).to_have_url(re.compile(rf"done={item}"))
        expect(self.page.locator("#done")).to_be_visible()
        if current_item(self.page) is not None:
            self.ready()
        self.page.wait_for_load_state("load")  # the next item's image shown, its load counted
        self.seconds.append(time.perf_counter() - began)
        self.decided.append(item)
        return current_item(self.page)
