"""syncer: keep data stores in line with the datasets declared in a Git repository."""

import os as _os

# polars allocates through jemalloc, which by default keeps freed pages for seconds; a
# one-shot planner gains nothing from that cache and pays for it in peak memory (about a
# third more on a million-row plan).  Set before polars loads; the user's own setting wins.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
# pydantic looks for plugins in every installed distribution's entry points the first time a
# model is built (a scan of site-packages, ~8 ms with 130 packages, more in a big environment);
# syncer uses none.  The user's own setting wins.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

__version__ = "0.2.0"

#: the name to ``pip install`` (``syncer`` on PyPI is another project)
DISTRIBUTION = "syncer-data"
