"""A local stand-in for Amazon Athena (API 2017-05-18, JSON 1.1): DuckDB over the same files.

boto3's ``athena`` client talks to it through ``AWS_ENDPOINT_URL_ATHENA``. It serves
StartQueryExecution, GetQueryExecution, GetQueryResults, StopQueryExecution, CreateWorkGroup and
GetWorkGroup, with Athena's states (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), statistics,
paginated results (the first row holds the column names; every value is text, SQL NULL has no
``VarCharValue``) and the results CSV written to the output location in S3.

A query goes through these steps, on a worker thread (StartQueryExecution answers at once):

1. **Parameters**: each ``ExecutionParameters`` value must be one SQL literal, as Athena takes
   them (``'text'`` quoted, numbers bare, ``true``/``false``/``null``, ``DATE '…'``); it replaces
   the next ``?`` *token* of the query, so a value can never become SQL of its own.
2. **Translation**: ``sqlglot`` parses the Athena (Trino) SQL and writes DuckDB's
   (``sqlglot.transpile(sql, read="athena", write="duckdb")``). Only one SELECT (or WITH, UNION …)
   is accepted, as the product only reads.
3. **Tables** named by the query are read from the Glue catalog (moto's, through boto3
   ``glue.get_table``: the same ``TableInput`` the cloud uses): location, columns and types,
   partition keys and partition projection.
4. **Data**: DuckDB cannot read moto's S3, so the table's objects are copied into a **columnar
   cache** on local disk: new or changed objects (by ETag) are downloaded and converted, a
   partition's worth at a time, into Parquet files (one per batch, merged once a partition has
   more than :data:`MAX_SEGMENTS`), read back with hive partitioning so ``dt`` is a column and
   ``WHERE dt BETWEEN …`` skips whole files; projection's date range is applied like Athena's.
   What changed is found by listing the location, or, when the stack reports every S3 write
   (:meth:`AthenaStandIn.object_changed`), without listing: moto's listing time grows with the
   bucket (20,000 keys took 14 s here), far over a query's budget at Firehose's object counts.
   With those reports a background builder converts the objects as they arrive (a batch of
   :data:`BUILD_BATCH_OBJECTS` at a time, off the query path); a query then applies only what
   the builder has not yet (everything acknowledged before it started, so it misses nothing).
5. **Run**: a fresh in-memory DuckDB per query (UTC session, like Athena's), with the tables as
   views over the pinned files, file access confined to the cache and configuration locked.

The JSON SerDe is read as Hive's OpenX SerDe reads it: keys matched to column names, a missing
key is NULL, a malformed line (``ignore.malformed.json``) is a row of NULLs.
"""

from devstack.athena.cache import (
    BATCH_OBJECTS,
    BUILD_BATCH_OBJECTS,
    DOWNLOAD_WORKERS,
    MAX_SEGMENTS,
    ColumnarCache,
)
from devstack.athena.results import (
    athena_text,
    athena_type,
    java_double,
    read_results_csv,
    results_csv,
)
from devstack.athena.server import DEFAULT_WORKGROUP, MAX_PAGE, TERMINAL, AthenaStandIn
from devstack.athena.sql import (
    CATALOG,
    QueryError,
    athena_literal,
    bind_parameters,
    connect,
    duckdb_type,
    lock_down,
    parse_query,
    to_duckdb,
    translate,
    use_database,
)
from devstack.athena.tables import TableDef, view_sql

__all__ = [
    "BATCH_OBJECTS",
    "BUILD_BATCH_OBJECTS",
    "CATALOG",
    "DEFAULT_WORKGROUP",
    "DOWNLOAD_WORKERS",
    "MAX_PAGE",
    "MAX_SEGMENTS",
    "TERMINAL",
    "AthenaStandIn",
    "ColumnarCache",
    "QueryError",
    "TableDef",
    "athena_literal",
    "athena_text",
    "athena_type",
    "bind_parameters",
    "connect",
    "duckdb_type",
    "java_double",
    "lock_down",
    "parse_query",
    "read_results_csv",
    "results_csv",
    "to_duckdb",
    "translate",
    "use_database",
    "view_sql",
]
