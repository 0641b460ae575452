"""Plain YAML only, and where things are in it: the line of every key and item, by field path.

A rubric needs no anchors, aliases, merge keys or tags, and with them a few hundred bytes can
expand to gigabytes (an alias bomb): :func:`check_plain` refuses them, and documents deeper or
larger than a rubric could be, from the event stream, before anything is composed. What is
left costs time and memory linear in the text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

MAX_DEPTH = 16  # a rubric nests 5 deep (categories[i].should_not[j])
MAX_NODES = 20_000  # scalars, sequences and mappings; a 100-category rubric has ~5,000


class NotPlainYaml(yaml.YAMLError):
    """The document uses what a policy may not (anchors, aliases, merge keys, tags), or is
    deeper or larger than a policy can be; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _refusal(event: NodeEvent, in_key: bool) -> str | None:
    if isinstance(event, AliasEvent) or event.anchor is not None:
        return "anchors and aliases (& and *) are not allowed in a policy"
    if (tag := getattr(event, "tag", None)) is not None:
        return f"tags ({tag}) are not allowed in a policy"
    if in_key and isinstance(event, ScalarEvent) and event.value == "<<" and event.style is None:
        return "merge keys (<<) are not allowed in a policy"
    return None


def check_plain(text: str) -> None:
    """Refuse (NotPlainYaml) anchors, aliases, merge keys and tags, more than ``MAX_DEPTH``
    levels or ``MAX_NODES`` nodes; yaml.YAMLError for malformed YAML. One pass over the events."""
    # per open collection: is it a mapping, and is its next node a key?
    open_: list[list[bool]] = []
    nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, CollectionEndEvent):
            open_.pop()
            continue
        if not isinstance(event, NodeEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        in_key = bool(open_) and open_[-1][0] and open_[-1][1]
        if open_ and open_[-1][0]:
            open_[-1][1] = not open_[-1][1]
        if (refused := _refusal(event, in_key)) is not None:
            raise NotPlainYaml(line, refused)
        nodes += 1
        if nodes > MAX_NODES:
            raise NotPlainYaml(line, f"a policy has at most {MAX_NODES} YAML nodes")
        if isinstance(event, CollectionStartEvent):
            open_.append([isinstance(event, MappingStartEvent), True])
            if len(open_) > MAX_DEPTH:
                raise NotPlainYaml(line, f"a policy nests at most {MAX_DEPTH} levels deep")


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
    """Check that ``text`` is plain (:func:`check_plain`), compose it (yaml.YAMLError on
    malformed YAML) and index its node positions."""
    check_plain(text)
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
