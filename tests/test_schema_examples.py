"""The JSON Schema that `syncer schema` prints accepts every example manifest in the repository
(and the `init` scaffold, and the complete manifests shown in docs/), and rejects wrong ones.

Editors check manifests with this schema, so an example it rejects would show red squiggles on
a valid file, and a wrong manifest it accepts would pass the editor and fail `syncer validate`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.conftest import REPO

MANIFEST_GLOBS = ("manifests/**/*.yaml", "manifests/**/*.yml", "examples/**/*.yaml",
                  "examples/**/*.yml", "syncer/templates/*.yaml")
FENCE = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)


def is_manifest(data: Any) -> bool:
    """Other YAML lives under examples/ too (an emulator schema, a CI workflow)."""
    return isinstance(data, dict) and "version" in data and "target" in data


def example_manifests() -> list[tuple[str, Any]]:
    found: dict[str, Any] = {}
    for pattern in MANIFEST_GLOBS:
        for path in sorted(REPO.glob(pattern)):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if is_manifest(data):
                found[str(path.relative_to(REPO))] = data
    for doc in sorted((REPO / "docs").glob("**/*.md")):
        for number, block in enumerate(FENCE.findall(doc.read_text(encoding="utf-8")), 1):
            data = yaml.safe_load(block)
            if is_manifest(data):
                found[f"{doc.relative_to(REPO)} (yaml block {number})"] = data
    return sorted(found.items())


EXAMPLES = example_manifests()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    from syncer.model.project import json_schema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_examples_are_found() -> None:
    names = {name for name, _ in EXAMPLES}
    assert {"manifests/shop.yaml", "manifests/hexabase/shop.yaml", "manifests/milvus/docs.yaml",
            "syncer/templates/example.yaml"} <= names
    assert not any(n.startswith("examples/ci") or n == "examples/hexabase/schema.yaml" for n in names)


def test_the_cli_prints_the_same_schema(cli, validator: jsonschema.Draft202012Validator) -> None:  # type: ignore[no-untyped-def]
    result = cli("schema")
    assert result.code == 0, str(result)
    assert result.json() == validator.schema
    assert result.json()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(("name", "manifest"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_example_manifest_is_valid(name: str, manifest: Any,
                                         validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(manifest)]
    assert not errors, f"{name} fails the schema:\n" + "\n".join(errors)


def _shop() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "manifests" / "shop.yaml").read_text())
    return data


def _set(path: str, value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return mutate


_DELETE = object()
WRONG = {
    "misspelt dataset key": _set("datasets.0.delete_mising", True),
    "misspelt target key": _set("target.pth", "x.db"),
    "unknown mode": _set("datasets.0.mode", "merge"),
    "unknown target type": _set("target.type", "postgres"),
    "sqlite target without path": _set("target.path", _DELETE),
    "version 2": _set("version", 2),
    "no target": _set("target", _DELETE),
    "unknown column type": _set("datasets.0.columns.price", "money"),
    "unknown source format": _set("datasets.2.source.format", "xlsx"),
    "key as a number": _set("datasets.0.key", 7),
    "dataset name with a space": _set("datasets.0.name", "my products"),
    "delete_missing as text": _set("datasets.0.delete_missing", "sometimes"),
}


@pytest.mark.parametrize("mutation", WRONG.values(), ids=list(WRONG))
def test_a_wrong_manifest_is_rejected(mutation: Any, validator: jsonschema.Draft202012Validator) -> None:
    manifest = copy.deepcopy(_shop())
    assert validator.is_valid(manifest)
    mutation(manifest)
    assert not validator.is_valid(manifest)


def test_shorthands_and_long_forms_are_both_accepted(validator: jsonschema.Draft202012Validator) -> None:
    manifest = _shop()
    long_form = copy.deepcopy(manifest)
    long_form["datasets"][0]["source"] = {"path": "../data/products.csv", "format": "csv",
                                          "encoding": "utf-8-sig", "delimiter": ";"}
    long_form["datasets"][0]["key"] = "sku"
    long_form["datasets"][0]["columns"] = {"sku": {"type": "string"}, "cost": {"type": "float",
                                                                             "from": "price"}}
    assert validator.is_valid(long_form), list(validator.iter_errors(long_form))
