"""A real vLLM server (the CPU build from `make vllm`) over a small random-weight LLaVA.

vLLM's CPU attention refuses the tiny preset's head size (16), so these tests build the ``small``
preset (60M parameters, head size 64). The server starts once per session (45-90 s here).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import empty_inference_queue  # noqa: F401  (autouse)
from tests.support.processes import free_port
from tests.support.vllm import VllmServer


@pytest.fixture(scope="session")
def small_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from moderation.inference.tiny import build_tiny

    return build_tiny("llava", tmp_path_factory.mktemp("small") / "llava-small", size="small")


@pytest.fixture(scope="session")
def vllm_server(
    small_llava: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VllmServer]:
    server = VllmServer(small_llava, free_port(), tmp_path_factory.mktemp("vllm"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
