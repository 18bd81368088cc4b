"""syncer: keep data stores in line with the datasets declared in a Git repository."""

import os as _os
import sys as _sys

# polars allocates through jemalloc, which by default keeps freed pages for seconds; a
# one-shot planner pays for that cache in peak memory (about a third more on a million-row
# plan).  Pages are returned at once (a decay of 0).  It costs page faults (200k in a
# million-row plan; a decay of 200 ms halves them) but a 10M-row first load peaks 80 MB
# lower, and staying under 1 GB there is the goal.  Set before polars loads; the user's own
# setting wins.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
# Arrow's buffers (the CSV parser's, those handed to ADBC) come from its jemalloc, not its
# default mimalloc: blocks parsed on worker threads and freed on another are returned, where
# mimalloc's per-thread heaps kept them (a 10M-row first load: 901 -> 809 MB at the peak).
# Linux only (the wheels elsewhere may lack jemalloc, and Arrow would warn); the user's wins.
if _sys.platform == "linux":
    _os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
# pydantic looks for plugins in every installed distribution's entry points the first time a
# model is built (a scan of site-packages, ~8 ms with 130 packages, more in a big environment);
# syncer uses none.  The user's own setting wins.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

__version__ = "0.2.0"

#: the name to ``pip install`` (``syncer`` on PyPI is another project)
DISTRIBUTION = "syncer-data"
