"""A local emulator of Zilliz Cloud's REST API, for the ``zilliz`` target's tests and demos.

One server plays both halves of the service (``reference/zilliz-milvus-api.md``):

* the control plane: ``/v2/vectordb/jobs/import/create``, ``getProgress`` (POST, or GET with a
  body as the seed shows; ``describe`` is an alias), ``list``;
* the cluster endpoint: ``collections/{create,describe,drop,list,has}``,
  ``entities/{insert,upsert,delete,query}``, ``aliases/{create,alter,describe,list,drop}`` and
  ``partitions/{create,drop,list,has,load,release,get_stats}``.

Import jobs read their files from the S3 endpoint the emulator is given (boto3, with the job's
``accessKey``/``secretKey``): Parquet, JSON, JSON Lines and NumPy row groups (one ``.npy`` per
field), a folder URL (``s3://bucket/dir/``, or a prefix that names no file) standing for every file
in it; the rows go into the job's ``partitionName``; ``getProgress`` answers each file's own size
and rows in ``details[]``; a ``clusterId`` other than the emulator's is refused.  Jobs move
``Pending`` -> ``Importing`` (progress 10, 40, 80) -> ``Completed`` over ``job_delay`` seconds.  They are strict where the service is: a job fails whole
(nothing lands) on a missing field, a vector of the wrong dim, a value of the wrong type, a
primary key given for an ``autoId`` collection, or a field the schema lacks when dynamic fields
are off, with a ``reason`` naming the file and row.  Like the service, an import never
de-duplicates primary keys: importing a key that is already there leaves two entities (a driver
that forgets to delete first is caught).  Entities live in SQLite, one row per entity with its
values as JSON, under ``data_dir``, so they survive restarts.

Errors are HTTP 200 with a non-zero ``code`` and a ``message``, as the service answers them;
a wrong API key is ``{"code": 80001, "message": "Invalid token: ..."}``.  Fault injection (429,
500, dropped connections, stalled answers, jobs that stay Pending longer) comes from
:mod:`syncer.emulators.base`.

Choices where the service is not documented: error codes (100 collection not found, 1100 invalid
parameter, 1602 alias not found, 65535 anything else, 80001 bad key, 80010 too many pending jobs,
80016 job not found); job ids ``job-`` + 20 hex digits; the job list is newest first and
accepts a ``collectionName`` filter; a query's default ``limit`` is 100 and ``offset + limit``
may not pass 16384; 80020 an unknown cluster, 200 an unknown partition.

The package's modules: :mod:`.errors` (error codes), :mod:`.schema` (collection schemas),
:mod:`.rows` (checking entities), :mod:`.filters` (filter expressions), :mod:`.store` (SQLite),
:mod:`.objects` (reading import files from S3), :mod:`.jobs` (the import-job worker),
:mod:`.wire` (request and answer conventions), the route groups :mod:`.routes_jobs`,
:mod:`.routes_collections`, :mod:`.routes_entities`, :mod:`.routes_aliases` and
:mod:`.routes_partitions`,
:mod:`.emulator` (:class:`ZillizEmulator`) and :mod:`.cli` (:func:`serve`).
"""

from .cli import serve
from .emulator import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, MAX_PENDING_JOBS, ZillizEmulator
from .errors import (
    ALIAS_NOT_FOUND,
    BAD_KEY,
    CLUSTER_NOT_FOUND,
    COLLECTION_NOT_FOUND,
    GENERIC,
    INVALID_PARAMETER,
    JOB_NOT_FOUND,
    TOO_MANY_JOBS,
)
from .filters import Predicate, parse_filter
from .objects import ImportFailure, ObjectReader, parse_import_file, parse_object_url
from .routes_entities import MAX_QUERY_WINDOW
from .rows import RowProblem, check_row, entity_output
from .schema import MAX_VARCHAR, CollectionSchema, FieldDef, schema_from_request
from .store import DEFAULT_DB, Collection, ZillizStore

__all__ = [
    "ALIAS_NOT_FOUND",
    "BAD_KEY",
    "CLUSTER_NOT_FOUND",
    "COLLECTION_NOT_FOUND",
    "DEFAULT_API_KEY",
    "DEFAULT_CLUSTER_ID",
    "DEFAULT_DB",
    "GENERIC",
    "INVALID_PARAMETER",
    "JOB_NOT_FOUND",
    "MAX_PENDING_JOBS",
    "MAX_QUERY_WINDOW",
    "MAX_VARCHAR",
    "TOO_MANY_JOBS",
    "Collection",
    "CollectionSchema",
    "FieldDef",
    "ImportFailure",
    "ObjectReader",
    "Predicate",
    "RowProblem",
    "ZillizEmulator",
    "ZillizStore",
    "check_row",
    "entity_output",
    "parse_filter",
    "parse_import_file",
    "parse_object_url",
    "schema_from_request",
    "serve",
]
