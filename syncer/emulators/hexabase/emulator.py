"""The Hexabase API's routes and handlers over the store and the import queue
(:class:`HexabaseEmulator`): login, ImportItems, GetQueueList, GetImportResults, items search and
delete, fields."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..base import (
    EmulatorApp,
    FaultConfig,
    Handler,
    HTTPError,
    Request,
    Response,
    empty_response,
    json_response,
)
from .csvfile import parse_csv
from .model import Datastore, ImportFailure, ImportOptions
from .queue import ImportWorker
from .schema import check_schema
from .store import HexabaseStore
from .wire import (
    filter_rows,
    flag,
    import_body,
    item_json,
    parse_conditions,
    positive_int,
    result_error,
    task_json,
)

DEFAULT_TOKEN = "hexabase-emulator-token"
NO_QUEUE_LIMIT = 100
_API = "/api/v0"
_DS = _API + "/applications/{app}/datastores/{ds}"
_TOO_MANY = {
    "description": "the number of imports exceeds the limit. please set the no_queue flag to false.",
    "error": "too many items",
    "error_level": "ERROR",
}


class HexabaseEmulator(EmulatorApp):
    """The Hexabase API over a SQLite store; serve it with :func:`syncer.emulators.base.running`.

    ``data_dir`` holds ``hexabase.sqlite3`` (a temporary directory, removed on :meth:`close`, when
    None). ``schema`` (see :func:`load_schema`) fixes applications, datastores and fields; without
    it any application id is accepted and datastores and their text fields are created by imports.
    ``queue_delay`` is how long each queued import waits before it runs.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        token: str = DEFAULT_TOKEN,
        schema: Mapping[str, Any] | None = None,
        faults: FaultConfig | None = None,
        queue_delay: float = 0.2,
    ) -> None:
        super().__init__(faults)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="hexabase-emulator-")
            data_dir = Path(self._tempdir.name)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self._token_expired = False
        self._schema = schema
        if schema is not None:
            check_schema(schema)
        self.store = HexabaseStore(self.data_dir / "hexabase.sqlite3")
        if schema is not None:
            self.store.seed(schema)
        self._worker = ImportWorker(self.store, queue_delay, fixed_fields=schema is not None,
                                    faults=self.faults)
        self.add_route("POST", _API + "/login", self._login, faultable=False)
        self.add_route("POST", _DS + "/import", self._authorized(self._import))
        self.add_route("GET", _API + "/tasks", self._authorized(self._queue_list))
        self.add_route(
            "GET",
            _API + "/datastores/{ds}/import/{temp_id}",
            self._authorized(self._import_results),
        )
        self.add_route("POST", _DS + "/items/search", self._authorized(self._search))
        self.add_route("DELETE", _DS + "/items/delete", self._authorized(self._delete))
        self.add_route("GET", _DS + "/fields", self._authorized(self._fields))
        self.add_control_route("POST", "/_emulator/expire-token", self._expire_token)

    def expire_token(self) -> None:
        """Make authenticated calls answer 401 until the next successful login."""
        self._token_expired = True

    def reset(self) -> None:
        """Delete all items and tasks (and, without a schema, every application and datastore)."""
        super().reset()
        self.store.clear(keep_definitions=self._schema is not None)
        self._token_expired = False

    def close(self) -> None:
        """Stop the import queue, close the database, remove a temporary data directory."""
        self._worker.stop()
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    # -- auth

    def _login(self, request: Request) -> Response:
        body = request.json_object()
        who = body.get("email") or body.get("user_code")
        if not isinstance(who, str) or not who or body.get("password") != self.token:
            raise HTTPError(401, "invalid email or password", "INVALID_PARAMS")
        self._token_expired = False
        return json_response({"token": self.token})

    def _authorized(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            token = request.bearer_token()
            if token is None:
                raise HTTPError(401, "missing Authorization: Bearer token", "NO_PRIVILEGES")
            if token != self.token or self._token_expired:
                raise HTTPError(401, "invalid or expired token", "NO_PRIVILEGES")
            return handler(request)

        return guarded

    def _expire_token(self, _request: Request) -> Response:
        self.expire_token()
        return json_response({"expired": True})

    # -- lookups

    def _datastore(self, request: Request, *, create: bool = False) -> Datastore:
        app_ref, ds_ref = request.params["app"], request.params["ds"]
        if create and self._schema is None:
            return self.store.create_datastore(app_ref, ds_ref)
        p_id = self.store.find_application(app_ref)
        if p_id is None:
            raise HTTPError(404, f"application not found: {app_ref}", "NOT_FOUND")
        ds = self.store.find_datastore(ds_ref, p_id)
        if ds is None:
            raise HTTPError(404, f"datastore not found: {ds_ref}", "NOT_FOUND")
        return ds

    # -- ImportItems, GetQueueList, GetImportResults

    def _import(self, request: Request) -> Response:
        form = request.form()
        upload = form.get("file")
        if upload is None:
            raise HTTPError(400, "the form has no 'file' part", "INVALID_PARAMS")
        key_part = form.get("key_field_displayid")
        options = ImportOptions(
            key_field=(key_part.text.strip() or None) if key_part else None,
            replace_all=flag(form, "replace_all"),
            append=flag(form, "append"),
            validate=flag(form, "validate", default=True),
            overwrite_autonumber=flag(form, "overwrite_autonumber"),
        )
        if options.replace_all and options.append:
            raise HTTPError(400, "replace_all and append cannot both be true", "INVALID_PARAMS")
        no_queue = flag(form, "no_queue")
        ds = self._datastore(request, create=True)
        if no_queue:
            return json_response(self._import_now(ds, upload.content, options))
        task = self.store.add_task(ds, upload.content, options)
        self._worker.notify()
        return json_response(
            {"temp_datastore_id": task["temp_datastore_id"], "stream_id": task["stream_id"]}
        )

    def _import_now(self, ds: Datastore, data: bytes, options: ImportOptions) -> dict[str, Any]:
        item_count = 0
        try:
            table = parse_csv(data)
            item_count = len(table.rows)
            if item_count > NO_QUEUE_LIMIT:
                return import_body([_TOO_MANY], 0, item_count)
            result = self.store.apply_import(
                ds, table, options, fixed_fields=self._schema is not None
            )
        except ImportFailure as failure:
            return import_body([failure.entry], 0, item_count)
        return import_body(list(result.errors), result.imported, result.item_count)

    def _queue_list(self, request: Request) -> Response:
        everything = (request.query_value("all") or "").lower() == "true"
        rows = self.store.tasks(request.query_value("stream_id"), unfinished_only=not everything)
        return json_response({row["qt_id"]: task_json(row) for row in rows})

    def _import_results(self, request: Request) -> Response:
        task = self.store.task_by_temp_id(request.params["temp_id"])
        ds = self.store.find_datastore(task["d_id"]) if task is not None else None
        if task is None or ds is None or request.params["ds"] not in (ds.d_id, ds.display_id):
            raise HTTPError(404, f"import not found: {request.params['temp_id']}", "NOT_FOUND")
        options = ImportOptions(**json.loads(task["options"]))
        if options.replace_all or options.append:
            raise HTTPError(
                400,
                "import results are not available for append or replace_all imports",
                "INVALID_PARAMS",
            )
        if task["status"] < 2:
            return json_response({"status": "processing"}, status=202)
        errors = json.loads(task["errors"] or "[]")
        if not errors:
            return empty_response()
        return json_response({"errors": [result_error(e) for e in errors]})

    # -- items and fields

    def _search(self, request: Request) -> Response:
        ds = self._datastore(request)
        body = request.json_object()
        page, per_page = positive_int(body, "page", 1), positive_int(body, "per_page", 100)
        fields = self.store.fields(ds.d_id)
        conditions = parse_conditions(body, fields, required=False)
        if conditions:
            rows = filter_rows(self.store.item_rows(ds.d_id), conditions)
            total, rows = len(rows), rows[(page - 1) * per_page : page * per_page]
        else:
            total, rows = self.store.count_items(ds.d_id), self.store.item_rows(
                ds.d_id, per_page, (page - 1) * per_page
            )
        use_display_id = bool(body.get("use_display_id", False))
        numbers = bool(body.get("return_number_value", False))
        items = [item_json(row, fields, use_display_id, numbers) for row in rows]
        return json_response({"items": items, "totalItems": total})

    def _delete(self, request: Request) -> Response:
        ds = self._datastore(request)
        conditions = parse_conditions(request.json_object(), self.store.fields(ds.d_id), required=True)
        seqs = [row["seq"] for row in filter_rows(self.store.item_rows(ds.d_id), conditions)]
        self.store.delete_items(seqs)
        return json_response({"deleted": len(seqs)})

    def _fields(self, request: Request) -> Response:
        ds = self._datastore(request)
        fields = {
            f.f_id: {
                "display_id": f.display_id,
                "name": f.name,
                "dataType": f.data_type,
                "unique": f.unique,
            }
            for f in self.store.fields(ds.d_id)
        }
        return json_response({"fields": fields})
