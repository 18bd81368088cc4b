"""syncer: keep data stores in line with the datasets declared in a Git repository."""

__version__ = "0.1.0"
