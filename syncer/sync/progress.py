"""The progress callbacks an apply reports through (no dependencies: the CLI's bars and the
executor both import it)."""

from __future__ import annotations

from collections.abc import Callable

#: a line saying what is being done now ("reading shop/items", "reading back shop/items: 1,200
#: rows"): the CLI shows it in a spinner
Progress = Callable[[str], None]


class Reporter:
    """Progress callbacks; the CLI passes one that draws bars, the default does nothing."""

    def start(self, dataset_id: str, total: int) -> None: ...

    def advance(self, dataset_id: str, rows: int) -> None: ...

    def stage(self, dataset_id: str, what: str) -> None:
        """What the dataset's apply does now (``recording`` the batch in the journal,
        ``writing`` it to the target)."""

    def done(self, dataset_id: str) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None:
        """Take the display down (also when the apply stopped half way)."""
