"""The documentation keeps up with the CLI (in the spirit of sqlite-utils' ``test_docs.py``).

- every command and subcommand, found by walking the command tree (so commands added later are
  checked too), has a section in docs/cli.md; an option table in a section lists exactly the
  command's options;
- every ``syncer ...`` line in a shell block of the README and docs/, in the CI example and in the
  pre-commit hook parses against the real CLI (no unknown command, option or missing argument);
- every relative link resolves, and every guide is reachable from the README's map.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from syncer.cli import app
from tests.conftest import REPO
from tests.test_help import walk

DOCS = REPO / "docs"
CLI_DOC = DOCS / "cli.md"
ROOT = typer.main.get_command(app)
COMMANDS = [(path, command) for path, command in walk(ROOT) if path]
IDS = [" ".join(path) for path, _ in COMMANDS]
# guides written alongside their features; linked before they land, checked once they exist
PENDING = {DOCS / "watch.md", DOCS / "zilliz.md"}

SHELL_FENCE = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OPTION_ROW = re.compile(r"^\|\s*(`-[^|]*)\|", re.M)


def sections(text: str) -> dict[str, str]:
    """``## `syncer state list` `` heading -> the text under it, up to the next heading."""
    found: dict[str, str] = {}
    parts = re.split(r"^##+ (.*)$", text, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        match = re.fullmatch(r"`syncer ([^`]+)`", heading.strip())
        if match:
            found[match.group(1)] = body
    return found


def options_of(command: Any) -> set[str]:
    return {opt for param in command.params if param.param_type_name == "option"
            for opt in param.opts} - {"--help"}


# -- every command is documented --------------------------------------------------------------

@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_a_section_in_the_cli_reference(path: tuple[str, ...], command: Any) -> None:
    documented = sections(CLI_DOC.read_text(encoding="utf-8"))
    assert " ".join(path) in documented, \
        f"docs/cli.md has no `## \\`syncer {' '.join(path)}\\`` section"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_option_tables_match_the_command(path: tuple[str, ...], command: Any) -> None:
    """A command with options has a table of exactly its options: every one it takes, and none
    that does not exist (a group of subcommands, with no option of its own, has none)."""
    body = sections(CLI_DOC.read_text(encoding="utf-8")).get(" ".join(path), "")
    rows = OPTION_ROW.findall(body)
    if not options_of(command):
        assert not rows, f"syncer {' '.join(path)} takes no option, yet docs/cli.md tables some"
        return
    assert rows, f"docs/cli.md: the section of `syncer {' '.join(path)}` has no option table"
    tabled = {opt for row in rows for opt in re.findall(r"`(-[-\w]*)`", row)}
    assert tabled == options_of(command), (
        f"syncer {' '.join(path)}: undocumented {sorted(options_of(command) - tabled)}, "
        f"documented but absent {sorted(tabled - options_of(command))}")


def test_the_global_options_are_documented() -> None:
    body = CLI_DOC.read_text(encoding="utf-8").split("## Global options", 1)[1].split("\n## ", 1)[0]
    tabled = {opt for row in OPTION_ROW.findall(body) for opt in re.findall(r"`(-[-\w]*)`", row)}
    assert tabled == options_of(ROOT)


def test_every_command_is_mentioned_in_the_docs() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("**/*.md"))
    missing = [" ".join(path) for path, _ in COMMANDS if f"syncer {' '.join(path)}" not in text]
    assert not missing, f"not mentioned in docs/: {missing}"


# -- command lines in the docs and examples parse -----------------------------------------------

def shell_lines() -> Iterator[tuple[str, str]]:
    """(where, script line) for every shell line the project shows its users."""
    for doc in [REPO / "README.md", *sorted(DOCS.glob("**/*.md"))]:
        for block in SHELL_FENCE.findall(doc.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                yield str(doc.relative_to(REPO)), line.removeprefix("$ ")
    for workflow in sorted((REPO / "examples" / "ci").glob("*.y*ml")):
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job["steps"]:
                for line in step.get("run", "").replace("\\\n", " ").splitlines():
                    yield str(workflow.relative_to(REPO)), line


def syncer_invocations(line: str) -> Iterator[list[str]]:
    """The argument lists of each ``syncer`` command in a shell line (pipes, ``&&``, redirects
    and ``VAR=value`` prefixes are understood; anything else is left alone)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segment: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set("();<>|&"):
            words = [w for w in segment if not re.match(r"^[A-Za-z_]\w*=", w)]
            if words[:1] == ["syncer"]:
                yield words[1:]
            segment = []
        else:
            segment.append(token)


def parse(args: list[str]) -> Any:
    """Parse like the CLI does, down to the leaf command, without running anything."""
    command: Any = ROOT
    ctx = command.make_context("syncer", list(args))
    while hasattr(command, "commands"):
        rest = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
        if not rest:
            break
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
    return command


EAGER = {"--help", "--install-completion", "--show-completion"}  # they act while parsing
INVOCATIONS = [(where, args) for where, line in shell_lines() for args in syncer_invocations(line)
               if not EAGER & set(args)]


def test_the_examples_are_found() -> None:
    shown = {" ".join(args[:2]) for _, args in INVOCATIONS}
    assert {"init shop", "validate -m", "apply -m"} <= shown


@pytest.mark.parametrize(("where", "args"), INVOCATIONS,
                         ids=[f"{w}: syncer {' '.join(a)}" for w, a in INVOCATIONS])
def test_every_shown_command_line_parses(where: str, args: list[str]) -> None:
    try:
        parse(args)
    except Exception as exc:  # typer vendors click: match its usage errors by name
        pytest.fail(f"{where}: `syncer {' '.join(args)}` does not parse: {exc}")


def test_the_ci_example_plans_on_pull_requests_and_applies_on_main() -> None:
    workflow = yaml.safe_load((REPO / "examples" / "ci" / "github-actions.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"])
            for name, job in workflow["jobs"].items()}
    assert "pull_request" in workflow["jobs"]["plan"]["if"]
    assert "syncer validate" in runs["plan"] and "syncer plan" in runs["plan"]
    assert "--format markdown" in runs["plan"] and "gh pr comment" in runs["plan"]
    assert "refs/heads/main" in workflow["jobs"]["apply"]["if"]
    assert "syncer apply" in runs["apply"] and "--auto-approve" in runs["apply"]


def test_the_pre_commit_hook_runs_syncer_validate() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "syncer-validate"]
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    args = shlex.split(hook["entry"])
    assert args[0] == "syncer" and parse([*args[1:], *hook.get("args", [])]).name == "validate"
    assert re.search(hook["files"], "manifests/shop.yaml") and re.search(hook["files"], "data/a.csv")


# -- links ---------------------------------------------------------------------------------------

def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("**/*.md"))]


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() and path not in PENDING:
            broken.append(target)
    assert not broken, f"{doc.relative_to(REPO)}: broken links {broken}"


def test_every_guide_is_on_the_map() -> None:
    linked = set()
    for doc in (REPO / "README.md", DOCS / "index.md"):
        linked |= {(doc.parent / t.split("#", 1)[0]).resolve()
                   for t in LINK.findall(doc.read_text(encoding="utf-8"))}
    guides = set(DOCS.glob("**/*.md")) | PENDING
    assert {g.resolve() for g in guides} <= linked | {(DOCS / "index.md").resolve()}
    assert (DOCS / "index.md").resolve() in linked, "the README links docs/index.md"


def test_pins_name_a_commit_not_a_tag_that_does_not_exist() -> None:
    """The CI and pre-commit examples pin syncer; a pin to a tag nobody made fails when pasted."""
    texts = {path: path.read_text(encoding="utf-8") for path in
             [*DOCS.glob("*.md"), REPO / "README.md", *(REPO / "examples").rglob("*.yml")]}
    tags = re.compile(r"(?:syncer@|rev:\s*)(v\d[\w.]*)")
    found = [(path.name, tag) for path, text in texts.items() for tag in tags.findall(text)]
    assert not found, f"pinned to release tags that do not exist: {found}"
