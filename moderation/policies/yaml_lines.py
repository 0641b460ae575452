"""Where things are in a YAML document: the line of every key and item, by field path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("categories", 2, "can")`` → ``categories[2].can``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


@dataclass(frozen=True)
class Located:
    """A composed YAML document: the line (1-based) of each path, and duplicate keys found."""

    lines: dict[Path, int]
    duplicate_keys: list[Path]

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, or of its closest ancestor present in the document."""
        probe = tuple(path)
        while probe not in self.lines:
            probe = probe[:-1]
        return self.lines[probe]


def locate(text: str) -> Located:
    """Compose ``text`` (yaml.YAMLError on malformed YAML) and index its node positions."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    located = Located({(): 1}, [])
    if root is not None:
        _walk(root, (), located)
    return located


def _walk(node: Node, path: Path, located: Located) -> None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                continue
            child = (*path, str(key.value))
            if child in located.lines:
                located.duplicate_keys.append(child)
            located.lines[child] = key.start_mark.line + 1
            _walk(value, child, located)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            located.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), located)
