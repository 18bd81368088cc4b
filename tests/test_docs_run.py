"""The documentation's shell blocks run as pasted.

A block marked ``<!-- doctest: run -->`` (the line before its fence) is executed: every marked
block of one page, in order, in one ``bash -euo pipefail`` session, in a fresh copy of the
repository's example project (manifests/, data/, examples/), with this Python's ``syncer`` on
the PATH.  The emulators and Milvus Lite the blocks start are real, on 127.0.0.1; whatever a
block leaves running in the background is stopped afterwards.  A doc example that breaks fails
here, not in a newcomer's shell.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

MARK = "<!-- doctest: run -->"
FENCE = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.M | re.S)
PAGES = sorted(p for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")]
               if MARK in p.read_text(encoding="utf-8"))


def runnable(page: Path) -> list[str]:
    """The bodies of the marked blocks of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for part in text.split(MARK)[1:]:
        match = FENCE.match(part.lstrip("\n"))
        assert match, f"{page.name}: {MARK} is not followed by a shell block"
        blocks.append(match.group(1))
    return blocks


def test_some_pages_are_checked() -> None:
    assert {p.name for p in PAGES} >= {"README.md", "getting-started.md", "hexabase.md",
                                       "zilliz.md", "milvus.md", "state.md"}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_marked_blocks_run_as_pasted(page: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for folder in ("manifests", "data", "examples"):
        shutil.copytree(REPO / folder, project / folder)
    (project / ".git").mkdir()  # the project root, as in a checkout
    script = "set -euo pipefail\n" + "\n".join(runnable(page))
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "HEXABASE_",
                                                                      "ZILLIZ_", "AWS_"))}
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1",
                "HOME": str(tmp_path), "PYTHONPATH": str(REPO)})
    log = tmp_path / "out.log"
    with log.open("w") as out:
        shell = subprocess.Popen(["bash", "-c", script], cwd=project, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            code = shell.wait(timeout=300)
        finally:
            try:  # the servers the blocks left in the background
                os.killpg(shell.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    output = log.read_text(errors="replace")
    assert code == 0, f"{page.name}: the marked blocks failed (exit {code}):\n{output[-4000:]}"
    assert "Traceback" not in output, output[-4000:]
