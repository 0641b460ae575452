"""Loading: revision and model id provenance, the hub-cache path, the small preset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from moderation.inference import build_tiny, load_engine
from moderation.inference.loading import checkpoint_revision, resolve_device, resolve_dtype
from moderation.inference.rubric import WARM_UP_RUBRIC
from moderation.inference.types import ModerationRequest


def test_revision_is_stable_and_tracks_the_config(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(checkpoints["llava"], tmp_path / "llava"))
    first = load_engine(str(copy)).revision
    assert first.startswith("sha256:")
    assert load_engine(str(copy)).revision == first
    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["rms_norm_eps"] = 1e-5
    (copy / "config.json").write_text(json.dumps(config))
    assert checkpoint_revision(str(copy)) != first


def test_builds_are_deterministic(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    again = build_tiny("llava_onevision", tmp_path / "again")
    first = checkpoints["llava_onevision"]
    assert checkpoint_revision(str(again)) == checkpoint_revision(str(first))


def test_hub_id_from_the_local_cache(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--moderation-demo--tiny-llava"
    shutil.copytree(checkpoints["llava"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    engine = load_engine("moderation-demo/tiny-llava")
    assert engine.revision == commit
    assert "RANDOM WEIGHTS" in engine.model_id


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") == "float32"
    with pytest.raises(ValueError):
        resolve_dtype("int8", "cpu")


def test_small_preset_has_50m_parameters_and_runs(tmp_path: Path) -> None:
    engine = load_engine(str(build_tiny("llava", tmp_path / "small", size="small")))
    assert sum(p.numel() for p in engine.model.parameters()) >= 50_000_000
    assert "tiny-llava-small" in engine.model_id
    image = Image.new("RGB", (80, 60), (10, 20, 30))
    (verdict,) = engine.moderate_batch([ModerationRequest(image, WARM_UP_RUBRIC)])
    assert verdict.rating in ("safe", "unsafe")
