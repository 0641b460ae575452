"""Wellness: how each reviewer wants unrevealed images shown (blur strength, grayscale)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.review import display_repository as repo

BLURS: tuple[str, ...] = ("off", "light", "medium", "strong")


@dataclass(frozen=True)
class Display:
    """A reviewer's display settings; the defaults hide the most."""

    blur: str = "strong"
    grayscale: bool = True

    @property
    def css_classes(self) -> str:
        """The page's classes that apply the settings (a strict CSP allows no inline style)."""
        return f"blur-{self.blur}" + (" grayscale" if self.grayscale else "")


def display_settings(session: Session, user_id: uuid.UUID) -> Display:
    """The user's settings (the defaults until they save their own)."""
    row = repo.get(session, user_id)
    return Display() if row is None else Display(row.blur, row.grayscale)


def save_display(session: Session, user_id: uuid.UUID, display: Display) -> None:
    """Keep the user's settings (ValueError for an unknown blur)."""
    if display.blur not in BLURS:
        raise ValueError(f"blur must be one of {', '.join(BLURS)}")
    repo.put(session, user_id, display.blur, display.grayscale)
