"""bench/run.py's report names what it measured."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import syncer

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_machine_table_names_the_syncer_it_runs() -> None:
    """The version of the package the bench runs (its distribution is syncer-data: the
    metadata of "syncer" said "not installed")."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    run = importlib.import_module("run")
    assert run.machine_info()["syncer"] == syncer.__version__
