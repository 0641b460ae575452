"""A labelled folder for backtests: ``DIR/labels.csv`` with columns file, rating, category."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from moderation.inference.rubric import NO_CATEGORY
from moderation.policies.backtests import LabelledImage
from moderation.storage.blobs import BlobStore
from moderation.submissions.images import ImageRejected, inspect_image

COLUMNS = ("file", "rating", "category")


class DatasetInvalid(ValueError):
    """labels.csv or an image it names is unusable; ``problems`` say where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _expected(row: dict[str, str], category_ids: Sequence[str]) -> tuple[str, str | None] | str:
    """(rating, category) of a row, or what is wrong with it."""
    rating = (row.get("rating") or "").strip().lower()
    category = (row.get("category") or "").strip() or None
    if rating not in ("safe", "unsafe"):
        return f"rating must be safe or unsafe, not {rating!r}"
    if rating == "safe" or category == NO_CATEGORY:
        return rating, None
    if category not in category_ids:
        return f"category {category!r} is not one of {', '.join(category_ids)}"
    return rating, category


def _store_image(directory: Path, name: str, blobs: BlobStore, max_pixels: int) -> str:
    """Validate the image like an upload and store it content-addressed; returns its sha256."""
    path = (directory / name).resolve()
    if not path.is_relative_to(directory.resolve()) or not path.is_file():
        raise ImageRejected("invalid", f"no image file {name!r} in {directory}")
    data = path.read_bytes()
    info = inspect_image(data, max_bytes=len(data), max_pixels=max_pixels)
    blobs.put(info.sha256, data)
    return info.sha256


def dataset_images(
    directory: Path, blobs: BlobStore, category_ids: Sequence[str], *, max_pixels: int
) -> list[LabelledImage]:
    """Read ``labels.csv``, validate every row and image, store the images (DatasetInvalid)."""
    labels = directory / "labels.csv"
    if not labels.is_file():
        raise DatasetInvalid([f"{labels}: missing"])
    with labels.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise DatasetInvalid([f"{labels}:1: missing columns {', '.join(sorted(missing))}"])
        rows = list(reader)
    images, problems = [], []
    for line, row in enumerate(rows, start=2):
        expected = _expected(row, category_ids)
        if isinstance(expected, str):
            problems.append(f"{labels}:{line}: {expected}")
            continue
        try:
            sha256 = _store_image(directory, row["file"].strip(), blobs, max_pixels)
        except ImageRejected as exc:
            problems.append(f"{labels}:{line}: {exc.message}")
            continue
        images.append(LabelledImage(sha256, row["file"].strip(), *expected))
    if problems:
        raise DatasetInvalid(problems)
    return images
