"""A local emulator of the Hexabase REST API, for the ``hexabase`` target's tests and demos.

It speaks the wire format in ``reference/hexabase-api.md`` and the ImportItems seed: login,
ImportItems (queued or ``no_queue``), GetQueueList, GetImportResults, items search, fields and
delete-by-conditions. Data lives in SQLite under ``data_dir``, so it survives restarts; every
import is applied in one transaction. It is strict where a wrong driver must fail: ``replace_all``
deletes everything first, ``append`` never de-duplicates, ``_delete_`` deletes, key-field imports
update-or-create, and ``no_queue`` refuses more than 100 rows.

Choices where the real API is not documented:

* GetImportResults of an unfinished import answers **202** ``{"status": "processing"}``; for an
  ``append``/``replace_all`` import it answers 400 ``INVALID_PARAMS``; an unknown id is 404.
* A whole-import failure (unknown columns, undecodable CSV, missing key column) is an error entry
  *without* ``line``; row errors carry ``line`` (the header is line 1). Queued imports that fail
  whole end with status 3; an emulator bug ends a task with status 4.
* GetQueueList lists only unfinished tasks unless ``all=true``; ``category`` is accepted and ignored.
* Items search: ``per_page`` defaults to 100; a value never set for an item is absent from it;
  an empty number field comes back as ``null`` with ``return_number_value``; ``status`` and
  ``group_id`` (from ``_status_`` / ``_group_id_``) appear only when set.
* ``DELETE .../items/delete`` needs at least one condition and answers ``{"deleted": n}``.
* ``unique`` fields are reported, not enforced; ``overwrite_autonumber`` is accepted and ignored.

The package's modules: :mod:`.model` (records), :mod:`.csvfile` (CSV parsing), :mod:`.schema`
(the schema file), :mod:`.importer` (applying an import), :mod:`.store` (SQLite), :mod:`.queue`
(the import queue), :mod:`.wire` (request and answer shapes), :mod:`.emulator` (routes and
handlers) and :mod:`.cli` (:func:`serve`).
"""

from .cli import serve
from .csvfile import CsvTable, parse_csv
from .emulator import DEFAULT_TOKEN, NO_QUEUE_LIMIT, HexabaseEmulator
from .importer import SPECIAL_COLUMNS
from .model import Datastore, Field, ImportFailure, ImportOptions, ImportResult
from .schema import check_schema, load_schema
from .store import HexabaseStore
from .wire import TASK_STATUS_NAMES

__all__ = [
    "DEFAULT_TOKEN",
    "NO_QUEUE_LIMIT",
    "SPECIAL_COLUMNS",
    "TASK_STATUS_NAMES",
    "CsvTable",
    "Datastore",
    "Field",
    "HexabaseEmulator",
    "HexabaseStore",
    "ImportFailure",
    "ImportOptions",
    "ImportResult",
    "check_schema",
    "load_schema",
    "parse_csv",
    "serve",
]
