"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we walk the node tree once to build the Python value
and a map from a value's path (``("datasets", 0, "mode")``) to its 1-based line, so validation
errors can point at the line to fix.  Duplicate mapping keys, which ``safe_load`` silently
accepts, are reported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem

PathKey = tuple[str | int, ...]


class LineMap:
    """Maps value paths to source lines; unknown paths fall back to their nearest parent."""

    def __init__(self) -> None:
        self._lines: dict[PathKey, int] = {}

    def set(self, path: PathKey, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: PathKey) -> int | None:
        while True:
            if path in self._lines:
                return self._lines[path]
            if not path:
                return None
            path = path[:-1]


def load_yaml(path: Path, text: str) -> tuple[Any, LineMap, list[Problem]]:
    """Parse ``text`` (the contents of ``path``) into plain Python data plus a :class:`LineMap`."""
    lines = LineMap()
    problems: list[Problem] = []
    try:
        too_deep = _too_deep(text)
        if too_deep != 0:
            problems.append(Problem(path, too_deep, f"the manifest is nested deeper than "
                                    f"{MAX_DEPTH} levels", "a manifest needs a few levels; "
                                    "remove the runaway brackets or indentation"))
            return None, lines, problems
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or str(exc)
        problems.append(
            Problem(path, line, f"invalid YAML: {what}", "check indentation, quotes and colons")
        )
        return None, lines, problems
    except yaml.YAMLError as exc:
        problems.append(Problem(path, None, f"invalid YAML: {exc}"))
        return None, lines, problems
    if node is None:
        return None, lines, problems
    constructor = yaml.SafeLoader("")
    try:
        value = _build(node, (), lines, problems, path, constructor, [MAX_VALUES])
    except _TooBig as exc:
        problems.append(Problem(path, exc.line, f"the manifest expands to more than {MAX_VALUES:,} "
                                "values (aliases nested too deep?)",
                                "write the values out, or use fewer nested aliases"))
        return None, lines, problems
    return value, lines, problems


MAX_VALUES = 100_000  # a manifest is small; aliases of aliases can expand exponentially
MAX_DEPTH = 64  # a manifest needs 5; PyYAML's composer (and our walk) recurse per level


def _too_deep(text: str) -> int | None:  # 0: not too deep
    """The line where collections nest deeper than MAX_DEPTH, or None (the parser's events
    come from a loop, not recursion, so any depth is safe to look at)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1 if event.start_mark is not None else None
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return 0


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _build(
    node: yaml.Node,
    where: PathKey,
    lines: LineMap,
    problems: list[Problem],
    path: Path,
    constructor: yaml.SafeLoader,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(node.start_mark.line + 1)
    lines.set(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, where, LineMap(), problems, path, constructor, budget)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(
                    Problem(path, key_node.start_mark.line + 1, "a mapping key must be a plain value")
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                problems.append(
                    Problem(
                        path,
                        key_node.start_mark.line + 1,
                        f"duplicate key '{key}'",
                        "remove one of the two entries",
                    )
                )
                continue
            lines.set((*where, key), key_node.start_mark.line + 1)
            result[key] = _build(value_node, (*where, key), lines, problems, path, constructor, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*where, index), lines, problems, path, constructor, budget)
            for index, item in enumerate(node.value)
        ]
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(Problem(path, node.start_mark.line + 1, f"invalid value: {exc}"))
        return None
