"""The ``syncer`` executable (syncer/launch.py) sets polars' allocator to give freed memory back
at once, before polars loads, and keeps a setting the user made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from syncer import launch

PROBE = ("import os, sys; sys.argv = ['syncer', '--version']; "
         "import syncer.cli as c; c.run = lambda before_exit=None: "
         "print(os.environ.get('_RJEM_MALLOC_CONF'), 'polars' in sys.modules); "
         "from syncer.launch import run; run()")


def _probe(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_the_executable_sets_the_allocator_before_polars_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    assert _probe(env) == f"{launch.ALLOCATOR[1]} False"


def test_a_setting_of_the_user_is_kept() -> None:
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:5000"}
    assert _probe(env) == "dirty_decay_ms:5000 False"


def test_polars_allocator_reads_the_variable() -> None:
    """The variable is the one polars' jemalloc reads (it complains of a pair it does not know,
    and says nothing of the pairs syncer sets)."""
    code = "import polars as pl; pl.Series([1, 2]).sum()"
    for conf, complaint in (("no_such_option:1", True), (launch.ALLOCATOR[1], False)):
        env = {**os.environ, launch.ALLOCATOR[0]: conf}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        assert ("<jemalloc>: Invalid conf pair" in done.stderr) is complaint, done.stderr


def test_the_documented_pyarrow_allocator_settings_are_read() -> None:
    """docs/cli.md names two variables for pyarrow's allocator: pyarrow takes the pool from the
    first, and its jemalloc reads the second (it complains of a pair it does not know only)."""
    import pyarrow as pa

    if "jemalloc" not in pa.supported_memory_backends():  # (a build without it: Windows)
        pytest.skip("this pyarrow is built without jemalloc")
    code = "import pyarrow as pa; pa.array([1, 2]); print(pa.default_memory_pool().backend_name)"
    for conf, complaint in (("no_such_option:1", True), (launch.ALLOCATOR[1], False)):
        env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc",
               "JE_ARROW_MALLOC_CONF": conf}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        assert done.stdout.strip() == "jemalloc"
        assert ("<jemalloc>: Invalid conf pair" in done.stderr) is complaint, done.stderr
