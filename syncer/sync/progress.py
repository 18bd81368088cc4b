"""The progress callbacks an apply reports through (no dependencies: the CLI's bars and the
executor both import it)."""

from __future__ import annotations


class Reporter:
    """Progress callbacks; the CLI passes one that draws bars, the default does nothing."""

    def start(self, dataset_id: str, total: int) -> None: ...

    def advance(self, dataset_id: str, rows: int) -> None: ...

    def done(self, dataset_id: str) -> None: ...

    def note(self, message: str) -> None: ...
