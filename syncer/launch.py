"""The ``syncer`` executable: a plan remembered by :mod:`syncer.memo` is replayed, or a plan with
nothing to do is made from a recipe (:mod:`syncer.quick`), before the command line, the
manifests' models or any third-party package is imported; anything else runs
:func:`syncer.cli.run`."""

from __future__ import annotations

import os
import sys
import time

#: polars' allocator (jemalloc, read from this variable when polars loads): give freed pages
#: back to the system at once instead of keeping them ten seconds for reuse.  A plan or a
#: commit frees hundreds of MB a second, so the default decay kept most of it: a 1M-row plan
#: peaked at 470 MB and a 3M-row zilliz load at 733 MB; with no decay 424 MB and 587 MB, in
#: the same time (bench/RESULTS.md).  A value the user set is kept.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def run() -> None:
    started = time.time_ns()
    os.environ.setdefault(*ALLOCATOR)
    argv = sys.argv[1:]
    finish = None
    if "plan" in argv:  # only a plan offers itself; other commands are not recorded
        from . import memo, quick

        name = memo.key(argv)
        code = memo.replay(name)
        recorder = memo.Recorder(name, started)
        if code is None:
            try:
                code = quick.replay(name)
            except KeyboardInterrupt:  # as the full command says it
                sys.stderr.write("Interrupted.\n")
                code = 130
            except BrokenPipeError:  # `syncer plan | head`: not an error, nothing more to say
                code = 0
            if code is not None:
                recorder.save(code)
        if code is not None:
            try:
                sys.stdout.flush()
            except BrokenPipeError:  # `syncer plan | head` stopped reading: nothing more to say
                code = 0
            os._exit(code)

        def finish(code: int) -> None:
            recorder.save(code)
            if code in (0, 2):  # a plan, with or without changes (--detailed-exitcode)
                quick.save(name, started)

    from .cli import run as full

    full(finish)
