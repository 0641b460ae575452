"""Fixtures: engines over the suite's tiny checkpoints, the shipped policies' rubrics, images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from moderation.inference import ARCHITECTURES, HFEngine, load_engine
from moderation.inference.rubric import Rubric
from moderation.policies.format import load_policy_file

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def default_policy() -> Rubric:
    return load_policy_file(POLICIES_DIR / "default.yaml").rubric()


@pytest.fixture(scope="session")
def marketplace_policy() -> Rubric:
    return load_policy_file(POLICIES_DIR / "marketplace.yaml").rubric()


@pytest.fixture(scope="session")
def llavaguard_policy() -> Rubric:
    """LlavaGuard's own O1-O9 policy, word for word."""
    return load_policy_file(POLICIES_DIR / "llavaguard.yaml").rubric()


@pytest.fixture(scope="session")
def engines(checkpoints: dict[str, Path]) -> dict[str, HFEngine]:
    """One engine per architecture over the suite's tiny checkpoints (tests/conftest.py)."""
    assert set(checkpoints) == set(ARCHITECTURES)
    return {arch: load_engine(str(path)) for arch, path in checkpoints.items()}


@pytest.fixture(params=ARCHITECTURES)
def engine(request: pytest.FixtureRequest, engines: dict[str, HFEngine]) -> HFEngine:
    return engines[request.param]


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Different content, sizes and aspect ratios (anyres picks different tile grids)."""
    gradient = Image.linear_gradient("L").resize((320, 200))
    mirrored = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    noise = Image.effect_noise((64, 48), 80)
    mandel = Image.effect_mandelbrot((30, 90), (-2.0, -1.0, 1.0, 1.0), 50)
    return [
        Image.merge("RGB", (gradient, gradient.rotate(180), mirrored)),
        noise.convert("RGB"),
        mandel.convert("RGB"),
        Image.new("RGB", (17, 17), (200, 30, 30)),
    ]
