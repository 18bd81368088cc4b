"""A plan with nothing to do, made from the manifests as compiled by an earlier plan.

:mod:`syncer.memo` replays a plan only while every file it read is as it was; after an apply
the state and the target files have changed, so the first plan after it ran in full: the
command line built, the manifests parsed and validated (pydantic), for a plan that then reads
no row.  Here an earlier full plan of the same invocation (the same key as the memo's:
arguments, working directory, environment, terminal, syncer's own files) leaves a *recipe*:
what its manifests compiled to, as plain values (:class:`~syncer.model.place.Place` per
dataset, the state's path, each SQLite target's file, how the output was asked for), valid
while the files the manifests were compiled from keep their size, mtime, ctime and inode.

:func:`replay` looks at the state, the source files and each target through the same code the
full plan runs (:func:`~syncer.sync.glance.glance`, :class:`~syncer.sync.check.Checker`, the
SQLite probe) and prints the plan through the same renderer, only when every dataset is in sync
(no change, nothing blocked, every target as the state says).  Anything else (a change, drift,
a file that cannot be read, an error of any kind) and nothing is printed: the full plan runs
and says what it finds.  Only plans of local files are remembered (a SQLite state, SQLite
targets), and a recipe that would hold a secret is not written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import memo

if TYPE_CHECKING:
    from .model.place import Place, file_location
    from .model.plan import Plan
    from .targets.base import Found

FORMAT = 1
_pending: dict[str, Any] | None = None


def _name(key: str) -> str:
    return f"recipe-{key}.json"


def remember(recipe: dict[str, Any], inputs: list[str]) -> None:
    """Keep ``recipe`` (compiled from the files ``inputs``) to be written if the run ends well
    (:func:`save`, called by :class:`memo.Recorder`)."""
    global _pending
    _pending = {"format": FORMAT, "recipe": recipe, "inputs": sorted(set(inputs))}


def save(key: str, started_ns: int) -> None:
    """Write the pending recipe under ``key``, unless one of its files changed just before the
    run (not trusted yet: :data:`memo.SETTLE_NS`) or it would hold a secret."""
    folder = memo.cache_dir()
    if _pending is None or folder is None:
        return
    from .secrets import redact

    inputs = memo.settled_stamps(_pending["inputs"], started_ns)
    if inputs is None:
        return
    text = json.dumps({**_pending, "inputs": inputs})
    if redact(text) != text:
        return  # a value interpolated from a secret: never on disk
    memo.write(folder, _name(key), text)


def _load(key: str) -> dict[str, Any] | None:
    """The recipe of this invocation, when there is one and its files are all as they were."""
    folder = memo.cache_dir()
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, _name(key)), encoding="utf-8") as handle:
            entry = json.load(handle)
        if entry["format"] != FORMAT:
            return None
        inputs: dict[str, Any] = entry["inputs"]
        recipe: dict[str, Any] = entry["recipe"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not memo.unchanged(inputs):
        return None
    return recipe


@dataclass(frozen=True)
class _SqliteFile:
    name: str
    path: str


class SqliteLooks:
    """The checker's look at SQLite targets named by their files (no manifest models).  Each
    target is looked at on a thread of its own as soon as this is made: its count runs in
    SQLite, outside the GIL, while the state is opened and the sources are stamped (a look
    taken before the state is read is as sound as one after: a target and a state that do not
    match are never in sync, and only a plan in sync is printed)."""

    def __init__(self, files: dict[str, str], places: list[Place]) -> None:
        self._found: dict[str, Found | Exception] = {}
        self._threads = [threading.Thread(target=self._look, args=(name, path, [
            p for p in places if p.target == name]), name="syncer-look")
            for name, path in files.items()]
        for thread in self._threads:
            thread.start()

    def _look(self, name: str, path: str, places: list[Place]) -> None:
        from .targets.sqlite.probe import SqliteProbe

        probe = SqliteProbe(_SqliteFile(name, path))
        try:
            for place in places:
                try:
                    self._found[place.id] = probe.look(place)
                except Exception as exc:  # noqa: BLE001 - raised by look(), in the main thread
                    self._found[place.id] = exc
        finally:
            probe.close()

    def look(self, place: Place) -> Found:
        self.close()
        found = self._found[place.id]
        if isinstance(found, Exception):
            raise found
        return found

    def close(self) -> None:
        for thread in self._threads:
            thread.join()


def plan(recipe: dict[str, Any]) -> Plan | None:
    """The plan the recipe's invocation makes now, when every dataset is in sync (else None)."""
    from .model.place import Place, file_location

    places = [Place.from_json(p) for p in recipe["places"]]
    if any(file_location(recipe["sqlite"][p.target], p.root) != p.location for p in places):
        return None  # a target's file is reached through a link pointed elsewhere: it moved
    filtered = recipe["filtered_targets"]
    plans = []
    looks = SqliteLooks(recipe["sqlite"], places)  # the counts start while the state opens
    try:
        from .model.plan import Plan
        from .state import open_state
        from .sync.check import Checker
        from .sync.glance import glance, orphans_of

        with open_state(Path(recipe["state"]), create=True, missing_ok=True) as store, \
                Checker(store, looks, allow_existing=bool(recipe["allow_existing"])) as checker:
            open_ids = {f"{b.target}/{b.dataset}" for b in store.open_batches()}
            for place in places:
                seen = glance(place, store, checker, open_ids)
                if seen.plan is None:
                    return None
                plans.append(seen.plan)
            orphans = orphans_of(store, {(t, n) for t, n in recipe["declared"]},
                                 None if filtered is None else set(filtered))
    finally:
        looks.close()
    made = Plan(tuple(plans), orphans)
    return made if made.settled else None


def replay(key: str) -> int | None:
    """Print the plan of this invocation from its recipe and return the exit code, or None
    when there is no recipe, a file it was compiled from changed, or the plan is not a plan
    with nothing to do (then nothing was printed)."""
    recipe = _load(key)
    if recipe is None:
        return None
    try:
        made = plan(recipe)
    except Exception:  # noqa: BLE001 - whatever it is, the full plan finds it and says so
        return None
    if made is None:
        return None
    from . import ui

    verbosity, no_color = recipe["ui"]
    ui.configure(verbosity=int(verbosity), no_color=bool(no_color))
    ui.note(str(recipe["note"]))
    output = recipe["output"]
    ui.show_plan(made, json_out=bool(output["json"]), fmt=str(output["fmt"]),
                 no_color=bool(output["no_color"]))
    memo.offer(recipe["memo"])
    return 0
