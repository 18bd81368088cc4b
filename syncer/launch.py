"""The ``syncer`` executable: a plan remembered by :mod:`syncer.memo` is replayed before the
command line, the manifests' models or any third-party package is imported; anything else runs
:func:`syncer.cli.run`."""

from __future__ import annotations

import os
import sys
import time


def run() -> None:
    started = time.time_ns()
    argv = sys.argv[1:]
    recorder = None
    if "plan" in argv:  # only a plan offers itself; other commands are not recorded
        from . import memo

        code = memo.replay(argv)
        if code is not None:
            try:
                sys.stdout.flush()
            except BrokenPipeError:  # `syncer plan | head` stopped reading: nothing more to say
                code = 0
            os._exit(code)
        recorder = memo.Recorder(argv, started)
    from .cli import run as full

    full(recorder.save if recorder is not None else None)
