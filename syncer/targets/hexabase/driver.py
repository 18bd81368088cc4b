"""The Hexabase target: rows go in as CSV through ImportItems, as the API documents it.

``replace`` -> one import with ``replace_all=true`` (further chunks ``append=true``); ``append``
-> ``append=true`` with only the rows not yet delivered; ``upsert`` -> ``key_field_displayid``
with the new and changed rows, and ``_delete_=1`` rows for removed keys.  Batches of at most 100
rows go with ``no_queue=true`` and are confirmed by the reply; larger ones are queued and followed
through GetQueueList (and GetImportResults for key-field imports).  Row errors come back with
the CSV line, mapped to the batch row and from there to the source file and line.

Only an append is not idempotent: when its outcome is unknown (a dropped connection, a 5xx) the
driver waits for the queue to drain and compares the datastore's item count with what it was,
so an append is never delivered twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl

from ...errors import TargetError
from ...model.manifest import DatasetSpec
from ...model.schema import Schema
from ..base import Batch, Capabilities, Pending, RowError
from ..frames import frame_of
from ..http import OutcomeUnknown, message_of
from .api import Api
from .config import SPECIAL_COLUMNS, HexabaseTarget
from .csvfile import csv_of, row_of_line

NO_QUEUE_LIMIT = 100


class HexabaseDriver:
    """Driver for ``type: hexabase``."""

    streams = False  # a batch's rows are sent as one frame

    def __init__(self, target: HexabaseTarget, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self.api = Api(target, transport=transport)
        self._checked: set[str] = set()

    def close(self) -> None:
        self.api.close()

    # -- protocol ---------------------------------------------------------------------------
    def prepare(self, dataset: DatasetSpec, schema: Schema) -> Capabilities:
        """Check every CSV column against the datastore's fields before anything is sent."""
        response = self.api.call("GET", f"{self.api.datastore_path(dataset)}/fields")
        if response.status_code == 404:
            raise TargetError(f"hexabase target '{self.target.name}': datastore "
                              f"'{dataset.table_name}' not found in application "
                              f"'{self.target.application}' ({message_of(response)})",
                              hint="check `table:`/`datastore:` and `application:`")
        if response.status_code != 200:
            raise TargetError(f"hexabase target '{self.target.name}': cannot read the fields of "
                              f"'{dataset.table_name}': {message_of(response)}")
        fields = response.json().get("fields", {})
        known = {f.get("display_id") for f in fields.values()} if isinstance(fields, dict) else set()
        unknown = [c for c in schema.names if c not in known and c not in SPECIAL_COLUMNS]
        if unknown:
            raise TargetError(f"hexabase datastore '{dataset.table_name}' has no field(s) "
                              f"{', '.join(unknown)}; nothing was sent",
                              hint=f"rename them under `columns:`; its fields are: "
                                   f"{', '.join(sorted(k for k in known if k))}")
        self._checked.add(dataset.table_name)
        return Capabilities(max_batch_rows=self.target.max_rows_per_import,
                            in_flight=self.target.max_imports_in_flight)

    def apply(self, batch: Batch) -> list[RowError]:
        errors: list[RowError] = []
        if batch.deletes.height:
            errors += self._import(batch, "delete", batch.deletes)
        if batch.upserts.height or (batch.reset and not batch.deletes.height):
            errors += self._import(batch, "upsert", batch.upserts)
        return errors

    def overlaps(self, batch: Batch) -> bool:
        """A key-field import (upsert rows, deletes) may wait in the queue beside others: it
        is idempotent, so settled alone ("not landed": sent again).  An append or a replace
        is judged by the item count, which imports still queued beside it would blur."""
        return not batch.reset and (batch.dataset.mode == "upsert" or not batch.upserts.height)

    def submit(self, batch: Batch) -> Pending:
        """Post the batch's import; what waits for it (follows the queue, reads the results).
        The executor sends a batch of one kind at a time (deletes, or rows): both kinds, or an
        import that goes row by row (rows the encoding cannot carry), are applied at once."""
        if batch.deletes.height and batch.upserts.height:
            errors = self.apply(batch)
            return lambda: errors
        if batch.deletes.height:
            return self._post(batch, "delete", batch.deletes)
        return self._post(batch, "upsert", batch.upserts)

    def settle(self, batch: Batch, known_rows: int) -> bool:
        if not self._appends(batch):
            # replace_all, key-field updates and deletes are idempotent: when in doubt, report
            # "not landed" and the next plan sends them again with the same result
            return False
        self.api.wait_for_queue()
        count = self.api.count(batch.dataset)
        if count == known_rows + batch.upserts.height:
            return True
        if count == known_rows:
            return False
        raise TargetError(f"cannot tell whether an append to '{batch.dataset.table_name}' landed: "
                          f"the datastore holds {count} items, expected {known_rows} or "
                          f"{known_rows + batch.upserts.height}",
                          hint="check the datastore, then `syncer state forget` or re-run apply")

    # -- imports ----------------------------------------------------------------------------
    def _appends(self, batch: Batch) -> bool:
        mode = batch.dataset.mode
        return not batch.reset and (mode == "append" or mode == "replace")

    def _import(self, batch: Batch, kind: str, frame: pl.DataFrame) -> list[RowError]:
        return self._post(batch, kind, frame)()

    def _post(self, batch: Batch, kind: str, frame: pl.DataFrame) -> Pending:
        """Send one import; what waits for its outcome (at once for a ``no_queue`` import,
        whose reply is the outcome, and for one whose outcome a count settled)."""
        body, lines = csv_of(frame, batch.schema, delete=kind == "delete")
        try:
            data = body.encode(self.target.encoding, errors="strict") if body else b""
        except UnicodeEncodeError:
            errors = self._import_encodable(batch, kind, frame)
            return lambda: errors
        form: dict[str, str] = {"filename": f"{batch.id}.csv"}
        appends = False
        if kind == "delete" or batch.dataset.mode == "upsert":
            form["key_field_displayid"] = batch.schema.key[0]
        elif batch.reset:
            form["replace_all"] = "true"
        else:
            form["append"] = "true"
            appends = True
        if frame.height <= NO_QUEUE_LIMIT:
            form["no_queue"] = "true"
        path = f"{self.api.datastore_path(batch.dataset)}/import"
        for _attempt in self.api.http.attempts():
            before = self.api.count(batch.dataset) if appends else 0
            try:
                response = self.api.call("POST", path, idempotent=not appends, data=form,
                                      files={"file": (form["filename"], data, "text/csv")})
            except OutcomeUnknown:
                self.api.wait_for_queue()
                after = self.api.count(batch.dataset)
                if after == before + frame.height:
                    return lambda: []  # it landed; sending it again would duplicate every row
                if after != before:
                    raise TargetError(f"an append to '{batch.dataset.table_name}' partly landed "
                                      f"({after - before} of {frame.height} rows)") from None
                continue  # it did not land: send it again
            return lambda: self._result(response, batch, kind, lines, form)
        raise TargetError(f"hexabase import into '{batch.dataset.table_name}' did not go through "
                          f"after {self.target.retries + 1} attempts", retryable=True)

    def _import_encodable(self, batch: Batch, kind: str, frame: pl.DataFrame) -> list[RowError]:
        """Reject the rows the upload encoding cannot represent (each named, so the executor
        reports its source line and leaves it out of the state); import the others."""
        encoding = self.target.encoding
        columns = list(batch.schema.key) if kind == "delete" else batch.schema.names
        texts = [c for c in columns if frame.schema[c] == pl.String]
        bad: dict[int, str] = {}
        for index, row in enumerate(frame.select(texts).iter_rows()):
            for name, value in zip(texts, row, strict=True):
                try:
                    (value or "").encode(encoding)
                except UnicodeEncodeError as exc:
                    bad[index] = (f"{name}: {exc.object[exc.start:exc.end]!r} cannot be encoded "
                                  f"in {encoding} (the target's `encoding:`)")
                    break
        if not bad:  # then the header itself is not encodable: no row is to blame
            raise TargetError(f"hexabase target '{self.target.name}': the column names of "
                              f"'{batch.dataset.table_name}' cannot be encoded in {encoding}")
        errors = [RowError(kind, index, message) for index, message in bad.items()]
        keep = [i for i in range(frame.height) if i not in bad]
        if keep or (batch.reset and kind == "upsert"):  # a replace_all must still clear the rest
            errors += [RowError(e.kind, keep[e.index], e.message)
                       for e in self._import(batch, kind, frame[keep])]
        return errors

    def _result(self, response: httpx.Response, batch: Batch, kind: str, lines: list[int],
                form: dict[str, str]) -> list[RowError]:
        if response.status_code != 200:
            raise TargetError(f"hexabase import into '{batch.dataset.table_name}' failed: "
                              f"{message_of(response)}")
        body = response.json()
        if "has_error" in body:  # no_queue: the reply is the outcome
            return self._row_errors(body.get("errors") or [], batch, kind, lines)
        stream_id = body.get("stream_id")
        task = self.api.follow(stream_id, batch)
        errors = list((task.get("metadata") or {}).get("errors") or [])
        if task["status"]["id"] != 2:
            raise TargetError(f"hexabase import into '{batch.dataset.table_name}' failed "
                              f"(queue status {task['status'].get('name')}): "
                              + "; ".join(str(e.get("description")) for e in errors[:5]))
        if "key_field_displayid" in form and body.get("temp_datastore_id"):
            errors = self.api.import_results(batch, body["temp_datastore_id"])
        return self._row_errors(errors, batch, kind, lines)

    def _row_errors(self, errors: list[dict[str, Any]], batch: Batch, kind: str,
                    lines: list[int]) -> list[RowError]:
        whole = [e for e in errors if not isinstance(e.get("line"), int)]
        if whole:
            raise TargetError(f"hexabase import into '{batch.dataset.table_name}' failed: "
                              + "; ".join(f"{e.get('error', '')}: {e.get('description', '')}"
                                          for e in whole[:5]))
        out = []
        for error in errors:
            index = row_of_line(lines, int(error["line"]))
            # keep the server's own detail: no_queue errors carry it in `description` (`error` is
            # the category), GetImportResults in `error` (`description` is "Insert ERROR")
            parts = [str(error[k]) for k in ("error", "description")
                     if error.get(k) and error[k] != "Insert ERROR"]
            detail = ": ".join(dict.fromkeys(parts)) or "rejected"
            out.append(RowError(kind, index, f"{detail} (CSV line {error['line']})"))
        return out

    # -- reading ----------------------------------------------------------------------------
    def read_back(self, dataset: DatasetSpec, schema: Schema, per_page: int = 500
                  ) -> Iterator[pl.DataFrame]:
        """The datastore's items, one items/search page at a time (display ids, numbers as
        numbers); a field never set for an item reads as null."""
        path = f"{self.api.datastore_path(dataset)}/items/search"
        seen = 0
        for page in range(1, 1_000_000):
            response = self.api.call("POST", path, json={"page": page, "per_page": per_page,
                                                      "use_display_id": True,
                                                      "return_number_value": True})
            if response.status_code == 404 and page == 1:
                return  # no such datastore (yet): it holds nothing
            if response.status_code != 200:
                raise TargetError(f"hexabase items search failed: {message_of(response)}")
            answer = response.json()
            items = answer.get("items") or []
            if items:
                yield frame_of(items, schema.names)
            seen += len(items)
            if not items or seen >= int(answer.get("totalItems", 0)):
                return
