"""The SQLite state backend (the embedded default): a database file and a lock file beside it."""
