"""`syncer drift` and `syncer adopt`: read the targets back; report drift, or take a target over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import __version__
from ..sync.session import load, session
from ..errors import SyncError
from ..secrets import redact
from ..ui import ReadStatus, console, sample_text
from .options import (DatasetOpt, JsonOpt, Manifests, NoColor, StateOpt, TargetOpt,
                      complete_datasets)
from .options import selection as make_selection


def drift(
    manifests: Manifests = Path("manifests"),
    state: StateOpt = None,
    target: TargetOpt = None,
    dataset: DatasetOpt = None,
    json_out: JsonOpt = False,
    no_color: NoColor = False,
) -> None:
    """Read the targets back and report rows changed, added or removed outside syncer (exit 2
    when there is drift, 0 when none)."""
    selection = make_selection(manifests, state, target, dataset)
    _, datasets = load(selection)
    with session(selection.state, "drift", write=False) as held, \
            ReadStatus(enabled=not json_out) as status:
        from ..sync.refresh import check  # polars and the readers: loaded by the commands that read

        found = check(held.store, datasets, held.drivers.of, progress=status)
    drifted = any(d.drift.has_drift for d in found)
    if json_out:
        print(redact(json.dumps({"syncer_version": __version__, "drift": drifted,
                                 "datasets": [d.to_json() for d in found]},
                                default=str)))
    else:
        out = console(no_color=no_color)
        for d in found:
            name = escape(f"{d.target}/{d.dataset}")
            if not d.drift.has_drift:
                out.print(f"  [bold]{name}[/bold]: no drift")
                continue
            out.print(f"  [bold]{name}[/bold]: ~{d.drift.changed} changed +{d.drift.added} "
                      f"added -{d.drift.removed} removed outside syncer")
            for sample in d.drift.samples:
                out.print(f"      {sample_text(sample)}")
        total = sum(d.drift.rows for d in found)
        out.print(f"[bold]Drift:[/bold] {total} row(s) differ from the state; "
                  "`syncer apply --refresh` repairs them." if drifted else
                  "[bold]No drift.[/bold] The targets hold what syncer applied.")
    if drifted:
        raise typer.Exit(2)


def adopt(
    name: Annotated[str, typer.Argument(metavar="DATASET", help="NAME or TARGET/NAME.",
                                        autocompletion=complete_datasets)],
    manifests: Manifests = Path("manifests"),
    state: StateOpt = None,
    json_out: JsonOpt = False,
    no_color: NoColor = False,
) -> None:
    """Take over a target that already holds the dataset's rows: record them in the state as if
    syncer had applied them, so the next plan shows only the real difference."""
    selection = make_selection(manifests, state, None, name)
    _, datasets = load(selection)
    if len(datasets) != 1:
        raise SyncError(f"'{name}' names {len(datasets)} datasets", hint="use TARGET/NAME")
    ds = datasets[0]
    with session(selection.state, "adopt", write=True) as held, \
            ReadStatus(enabled=not json_out) as status:
        from ..sync.refresh import adopt as adopt_rows

        rows = adopt_rows(held.store, ds, held.drivers.of(ds), progress=status)
    if json_out:
        print(json.dumps({"syncer_version": __version__, "target": ds.target.name,
                          "dataset": ds.name, "rows": rows}))
    else:
        console(no_color=no_color).print(
            f"Adopted {ds.id}: {rows} row(s) of {escape(ds.spec.table_name)} recorded as applied. "
            "`syncer plan` now shows only the difference from the sources.")
