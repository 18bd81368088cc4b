"""syncer: keep data stores in line with the datasets declared in a Git repository."""

import os as _os

# polars allocates through jemalloc, which by default keeps freed pages for seconds; a
# one-shot planner pays for that cache in peak memory (about a third more on a million-row
# plan).  Returning every page at once (a decay of 0) costs the other way: each block's
# buffers are faulted in afresh, 200,000 page faults and most of a second of kernel time in a
# million-row plan.  A fifth of a second keeps the pages of the blocks in flight and returns
# the rest: half the faults, about 10 MB more at the peak.  Set before polars loads; the
# user's own setting wins.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:200,muzzy_decay_ms:0")
# pydantic looks for plugins in every installed distribution's entry points the first time a
# model is built (a scan of site-packages, ~8 ms with 130 packages, more in a big environment);
# syncer uses none.  The user's own setting wins.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

__version__ = "0.2.0"

#: the name to ``pip install`` (``syncer`` on PyPI is another project)
DISTRIBUTION = "syncer-data"
