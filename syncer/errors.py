"""The one exception hierarchy of syncer.

::

    SyncError                 every expected failure; the CLI turns it into a message and exit 1
     +-- ManifestError        one or more problems in the manifests (all reported at once)
     +-- SourceError          a data file cannot be read or violates the dataset's contract
     +-- StateError           the state database is unusable, locked or damaged
     |    +-- LockError       another process holds the apply lock
     |    +-- StateLost       the connection to a state server was lost mid-command
     +-- PlanError            a saved plan is stale, or a plan is blocked by a safety guard
     +-- TargetError          a target refused or failed a request (the server's message kept)
     +-- ApplyFailed          some datasets failed during an apply (the others were applied)
     +-- Interrupted          Ctrl-C or SIGTERM stopped an apply: what was applied and what not
                              (exit 130)
     +-- DiskFull             a location syncer writes (state, spool, target) has no space left

Anything else that escapes is a bug (exit 3).  Messages never contain secrets: values that came
from ``${VAR}`` interpolation are redacted by :func:`syncer.secrets.redact` before they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One problem found in a file, pinned to a line when the line is known."""

    path: Path | None
    line: int | None
    message: str
    hint: str | None = None

    def format(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{_display(self.path)}:{self.line}: " if self.line else f"{_display(self.path)}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # elsewhere, or a symlink loop
        return str(path)


class SyncError(Exception):
    """Root of every expected error.  ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ManifestError(SyncError):
    """Problems in the manifests; every problem found is carried, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the manifests:"
        super().__init__("\n".join([head, *(p.format() for p in problems)]))


class SourceError(SyncError):
    """A source file that cannot be read, or rows that break the dataset's contract."""

    def __init__(
        self, path: Path, message: str, *, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.problem = Problem(path, line, message, hint)
        super().__init__(self.problem.format())


class StateError(SyncError):
    """The state database cannot be used as asked."""


class LockError(StateError):
    """Another process holds the state lock."""


class StateLost(StateError):
    """The connection to the state's server was lost: nothing more can be recorded, so the
    command stops (what the target confirmed before was recorded; an open batch is settled by
    the next run)."""


class PlanError(SyncError):
    """A saved plan that no longer matches the world, or a plan that may not be applied."""


class TargetError(SyncError):
    """A target failed a request.  ``retryable`` tells the executor whether backing off may help."""

    def __init__(
        self, message: str, *, hint: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class ApplyFailed(SyncError):
    """An apply finished, but some datasets failed.  The message names them."""


class Interrupted(SyncError):
    """An apply stopped by Ctrl-C (or SIGTERM): the message says which datasets were applied,
    which batch was in flight and which were not started.  Exit 130, as a shell expects."""

    exit_code = 130


class DiskFull(SyncError):
    """No space left where syncer writes: ``what`` (the state database, the spool...) at
    ``location``.  Nothing half-written is kept: the next run, with space, converges."""

    def __init__(self, what: str, location: object, detail: str) -> None:
        self.location = str(location)
        super().__init__(f"{what} {location} cannot be written: no space left on its disk "
                         f"({detail.strip() or 'ENOSPC'})",
                         hint="free space there (or move it elsewhere), then run again: what "
                              "was applied is recorded, the rest is planned again")
