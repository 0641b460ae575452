"""A labelled backtest folder: labels.csv rows and images are validated with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.policies.backtest_dataset import DatasetInvalid, dataset_images
from moderation.storage.blobs import FileBlobStore
from tests.support import images

CATEGORIES = ["W1", "D1", "S1"]


def _folder(tmp_path: Path, labels: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "gun.png").write_bytes(images.png(20, 20, seed=1))
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(20, 20, seed=2))
    (tmp_path / "broken.jpg").write_bytes(images.truncated_jpeg())
    (tmp_path / "labels.csv").write_text(labels)
    return tmp_path


def test_rows_become_labelled_images_and_blobs(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path / "ds", "file,rating,category\ngun.png,unsafe,W1\ncat.jpg,SAFE,none\n"
    )
    blobs = FileBlobStore(tmp_path / "blobs")
    found = dataset_images(folder, blobs, CATEGORIES, max_pixels=10**6)
    assert [(i.label, i.expected_rating, i.expected_category) for i in found] == [
        ("gun.png", "unsafe", "W1"),
        ("cat.jpg", "safe", None),
    ]
    assert blobs.get(found[0].image_sha256) == (folder / "gun.png").read_bytes()


def test_every_bad_row_is_reported_with_its_line(tmp_path: Path) -> None:
    labels = (
        "file,rating,category\n"
        "gun.png,unsafe,X9\n"
        "cat.jpg,maybe,\n"
        "missing.png,safe,\n"
        "broken.jpg,safe,\n"
        "../labels.csv,safe,\n"
    )
    folder = _folder(tmp_path, labels)
    with pytest.raises(DatasetInvalid) as caught:
        dataset_images(folder, FileBlobStore(tmp_path / "blobs"), CATEGORIES, max_pixels=10**6)
    problems = caught.value.problems
    csv = folder / "labels.csv"
    assert problems[0] == f"{csv}:2: category 'X9' is not one of W1, D1, S1"
    assert problems[1] == f"{csv}:3: rating must be safe or unsafe, not 'maybe'"
    assert problems[2].startswith(f"{csv}:4: no image file 'missing.png'")
    assert problems[3].startswith(f"{csv}:5: ")
    assert problems[4].startswith(f"{csv}:6: no image file '../labels.csv'")
    assert len(problems) == 5


def test_missing_labels_or_columns(tmp_path: Path) -> None:
    with pytest.raises(DatasetInvalid, match=r"labels\.csv: missing"):
        dataset_images(tmp_path, FileBlobStore(tmp_path / "b"), CATEGORIES, max_pixels=10**6)
    (tmp_path / "labels.csv").write_text("file,label\n")
    with pytest.raises(DatasetInvalid, match="missing columns category, rating"):
        dataset_images(tmp_path, FileBlobStore(tmp_path / "b"), CATEGORIES, max_pixels=10**6)
