"""The layout rules of docs/architecture.md, checked on the source: small modules and classes,
no private name used across modules, no import cycle (imports inside functions included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "syncer"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports(name: str, path: Path) -> Iterator[tuple[str, str, int]]:
    """(module imported, name imported from it or "", line) for every import of a syncer module,
    those inside functions included, those under ``if TYPE_CHECKING:`` left out (types only)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module.split(".")[0] != "syncer":
                continue
            for alias in node.names:
                yield module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "syncer":
                    yield alias.name, "", node.lineno


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in modules()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_class_is_over_250_lines() -> None:
    long = {}
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    long[f"{name}.{node.name}"] = size
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [f"{path.relative_to(PACKAGE.parent)}:{line}: {module}.{imported}"
               for name, path in modules() for module, imported, line in imports(name, path)
               if imported.startswith("_") and not imported.startswith("__")]
    assert not private, "private names used across modules:\n" + "\n".join(private)


def test_no_import_cycles() -> None:
    known = dict(modules())
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for module, imported, _line in imports(name, path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in known else module
            if target in known and target != name:
                graph[name].add(target)
                # importing a.b.c runs a/__init__ and a/b/__init__ first (the importer's own
                # packages are already running: they are no edge)
                parts = target.split(".")
                graph[name].update(p for i in range(1, len(parts))
                                   if (p := ".".join(parts[:i])) in known
                                   and not f"{name}.".startswith(f"{p}."))
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
