"""Shared by the benchmarks: the machine description, synthetic images, a markdown table."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import torch
from PIL import Image, ImageDraw

# (width, height): square, landscape, portrait, tiny and large, so that anyres tilings differ
_SIZES = ((64, 64), (320, 200), (90, 160), (17, 17), (640, 480), (200, 300), (48, 120), (400, 100))


def machine(device: str) -> str:
    """One line on where the numbers come from."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        device = f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}, "
        f"load average {load} at the end, {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


def synthetic_images(count: int) -> list[Image.Image]:
    """``count`` deterministic RGB images of different sizes, colours and content."""
    images = []
    for i in range(count):
        width, height = _SIZES[i % len(_SIZES)]
        colour = ((53 * i) % 256, (101 * i + 80) % 256, (197 * i + 160) % 256)
        image = Image.new("RGB", (width, height), colour)
        draw = ImageDraw.Draw(image)
        inverse = tuple(255 - c for c in colour)
        draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=inverse)
        draw.line((0, 0, width, height), fill=(i * 17 % 256, 0, 0), width=max(1, width // 20))
        images.append(image)
    return images


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def service_database(stack: ExitStack) -> tuple[str, Path]:
    """A scratch directory and a migrated database with the shipped policies, on
    MODERATION_DATABASE_URL or an embedded Postgres (no broker); both go with ``stack``."""
    from moderation.admin import migrate, sync_policy_files
    from moderation.embedded import ensure_services

    base = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    services = ensure_services(
        base, os.environ.get("MODERATION_DATABASE_URL"), "redis://unused", stack
    )
    migrate(services.database_url)
    sync_policy_files(services.database_url, Path(__file__).resolve().parent.parent / "policies")
    return services.database_url, base
