"""Model profiles: ask each checkpoint in the format it was trained on.

A profile renders the conversation for a rubric and names the verdict format the model answers
in (verdict_format.py: its labels, layout, and the mapping back to our verdict). Both engines
take one; ``MODERATION_MODEL_PROFILE=auto`` picks it from the checkpoint's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from moderation.inference import llavaguard_prompt, prompt
from moderation.inference.rubric import PromptLayout, Rubric
from moderation.inference.verdict_format import GENERIC, LLAVAGUARD, VerdictFormat


@dataclass(frozen=True)
class ModelProfile:
    """How to ask one family of checkpoints: its conversation and its answer format."""

    name: str
    answer: VerdictFormat
    render: Callable[[Rubric], list[dict[str, Any]]] = field(compare=False, repr=False)
    layout: PromptLayout | None = None  # where the image goes; None: where the rubric says

    def conversation(self, rubric: Rubric) -> list[dict[str, Any]]:
        """The chat messages for ``rubric``, with one ``{"type": "image"}`` part."""
        return self.render(rubric)

    def prompt_layout(self, rubric: Rubric) -> PromptLayout:
        """Whether the image comes before the rubric text or after it, under this profile."""
        return self.layout or rubric.prompt_layout


def _llavaguard(name: str, rationale_step: str) -> ModelProfile:
    render = partial(llavaguard_prompt.conversation, rationale_step=rationale_step)
    return ModelProfile(name, LLAVAGUARD, render, layout="image_first")


PROFILES = {
    # our rubric layout and compact JSON: plain LLaVA-1.5/NeXT/OneVision checkpoints
    "generic": ModelProfile("generic", GENERIC, prompt.conversation),
    # LlavaGuard 1.2 (the -OV checkpoints)
    "llavaguard": _llavaguard("llavaguard", llavaguard_prompt.RATIONALE_STEP_V1_2),
    # LlavaGuard 1.0 and 1.1 (LlavaGuard-7B/13B/34B, LlavaGuard-v1.1-*)
    "llavaguard-v1.1": _llavaguard("llavaguard-v1.1", llavaguard_prompt.RATIONALE_STEP_V1_1),
}
GENERIC_PROFILE = PROFILES["generic"]
PROFILE_SETTINGS = ("auto", *PROFILES)  # what MODERATION_MODEL_PROFILE accepts

_BEFORE_1_2 = re.compile(r"v1[._-]?[01](?![0-9])")
_VERSIONED = re.compile(r"v1[._-]?[0-9]")


@dataclass(frozen=True)
class ProfileChoice:
    """The profile an engine uses, and why (shown in /healthz)."""

    profile: ModelProfile
    reason: str

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name


def choose_profile(setting: str, names: Sequence[str]) -> ProfileChoice:
    """The profile for a checkpoint known by ``names`` (hub id, directory, served model id).

    ``auto``: a name with "llavaguard" in it gets a LlavaGuard profile (1.0/1.1 when it says
    v1.0/v1.1 or no version at all, as the first releases were named; else 1.2), anything else
    the generic one.
    """
    if setting != "auto":
        if setting not in PROFILES:
            raise ValueError(f"unknown model profile {setting!r}; expected {PROFILE_SETTINGS}")
        return ProfileChoice(PROFILES[setting], "set by MODERATION_MODEL_PROFILE")
    for name in names:
        lowered = name.lower()
        if "llavaguard" not in lowered:
            continue
        if _BEFORE_1_2.search(lowered) or not _VERSIONED.search(lowered):
            return ProfileChoice(PROFILES["llavaguard-v1.1"], f"auto: {name} is LlavaGuard 1.0/1.1")
        return ProfileChoice(PROFILES["llavaguard"], f"auto: {name} is LlavaGuard 1.2")
    return ProfileChoice(GENERIC_PROFILE, "auto: not a LlavaGuard checkpoint")
