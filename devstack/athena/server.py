"""The Athena API (JSON 1.1) over HTTP: workgroups, query executions and their results.

A query runs on a worker thread (StartQueryExecution answers at once): parameters bound, SQL
translated (:mod:`devstack.athena.sql`), tables read from Glue (:mod:`devstack.athena.tables`) and
synced into the columnar cache (:mod:`devstack.athena.cache`), then run in a fresh DuckDB; the
results are kept for GetQueryResults and written as CSV to the output location
(:mod:`devstack.athena.results`).

With a change feed, a background builder keeps the caches built as objects arrive: each
:meth:`AthenaStandIn.object_changed` only records the key and wakes it (so an S3 writer, the
Firehose stand-in delivering, never waits on a download); it gathers what arrived for
:data:`BUILD_GATHER_SECONDS`, then applies it a batch at a time. A bucket with no cache yet is
matched to its Glue tables first (a new cache lists its location once). A query still syncs
before it reads, so it waits only for what the builder has not applied yet and never misses an
object whose write was acknowledged before the query started.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from devstack.athena.cache import ColumnarCache
from devstack.athena.results import athena_text, athena_type, results_csv
from devstack.athena.sql import (
    CATALOG,
    QueryError,
    bind_parameters,
    connect,
    glue_name,
    lock_down,
    parse_query,
    quote_ident,
    to_duckdb,
    use_database,
)
from devstack.athena.tables import TableDef, view_sql
from devstack.awsjson import ApiError, Handler, JsonApiServer

logger = logging.getLogger(__name__)

DEFAULT_WORKGROUP = "primary"
MAX_PAGE = 1000
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
#: How long the builder lets reports gather before a batch (objects arrive one write at a time;
#: each batch costs a DuckDB pass per partition and a manifest write, whatever its size).
BUILD_GATHER_SECONDS = 1.0
#: How long the builder waits after a failed batch before it tries again.
BUILD_RETRY_SECONDS = 1.0


@dataclass
class _Execution:
    query_id: str
    query: str
    database: str
    catalog: str
    workgroup: str
    output: str  # s3://bucket/prefix/ (the results file is {output}{id}.csv)
    parameters: list[str]
    submitted: datetime
    submitted_at: float  # monotonic
    state: str = "QUEUED"
    reason: str | None = None
    error: dict[str, Any] | None = None
    completed: datetime | None = None
    started_at: float | None = None
    planning_ms: int = 0
    engine_ms: int = 0
    scanned: int = 0
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    future: Future[None] | None = None
    connection: duckdb.DuckDBPyConnection | None = None
    done: threading.Event = field(default_factory=threading.Event)


class AthenaStandIn(JsonApiServer):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager).

    ``s3`` and ``glue`` make the boto3 clients the data and the catalog are read with (called
    lazily). ``cache_dir`` holds the columnar cache; it survives restarts (a manifest records
    each object's ETag). With ``change_feed`` the owner promises to call :meth:`object_changed`
    for every write to the tables' buckets, and the locations are listed only once; then, unless
    ``background`` is false, a builder thread applies the writes as they are reported, gathering
    them for ``gather_seconds`` after a pause (:meth:`wait_idle` waits for it to catch up).
    """

    service = "athena"
    target_prefix = "AmazonAthena"

    def __init__(
        self,
        s3: Callable[[], Any],
        glue: Callable[[], Any],
        cache_dir: Path,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 4,
        change_feed: bool = False,
        background: bool = True,
        gather_seconds: float = BUILD_GATHER_SECONDS,
    ) -> None:
        super().__init__(host, port)
        self.region, self.account_id = region, account_id
        self.cache_dir = cache_dir.resolve()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._s3_factory, self._glue_factory = s3, glue
        self._clients: dict[str, Any] = {}
        self._change_feed = change_feed
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._executions: dict[str, _Execution] = {}
        self._tokens: dict[str, str] = {}
        self._workgroups: dict[str, dict[str, Any]] = {
            DEFAULT_WORKGROUP: _workgroup(DEFAULT_WORKGROUP, {}, "", datetime.now(UTC))
        }
        self._caches: dict[tuple[str, str], ColumnarCache] = {}
        # What object_changed reads without taking _lock (replaced whole, never changed in place).
        self._cache_list: tuple[ColumnarCache, ...] = ()
        self._stopping = threading.Event()
        self._background = change_feed and background
        self._gather_seconds = gather_seconds
        self._builder: threading.Thread | None = None
        # Its own lock, held briefly: S3 writers report under it, the builder and wait_idle wait on it.
        self._build_wake = threading.Condition()
        self._unresolved: dict[str, set[str | None]] = {}  # bucket -> keys reported, no cache yet
        self._building = False  # applying a batch
        self._tidying = False  # merging files, nothing pending

    # lifecycle

    def start(self) -> None:
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="athena-query")
        super().start()
        if self._background:
            self._builder = threading.Thread(
                target=self._build_loop, name="athena-cache-builder", daemon=True
            )
            self._builder.start()

    def stop(self) -> None:
        """Stop serving; queries still queued are cancelled, running ones interrupted (a cache
        being filled stops between two downloads; what it had converted stays, and what was still
        pending is found by listing after a restart). The builder has ended when this returns."""
        self._stopping.set()
        with self._build_wake:
            self._build_wake.notify_all()
        if self._builder is not None:
            self._builder.join()
            self._builder = None
        self.stop_serving()
        with self._lock:
            for execution in self._executions.values():
                if execution.state not in TERMINAL:
                    self._cancel(execution, "the local Athena stand-in is stopping")
        if self._pool is not None:
            # Every query has ended once this returns, and with it its DuckDB connection.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> AthenaStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, query_id: str, timeout: float = 30.0) -> str:
        """Block until the query is terminal; its state. Raises KeyError, TimeoutError."""
        execution = self._executions[query_id]
        if not execution.done.wait(timeout):
            raise TimeoutError(f"query {query_id} is still {execution.state} after {timeout}s")
        return execution.state

    def cache_stats(self) -> list[dict[str, Any]]:
        """Per table location: objects and files cached, what the last query-time sync that
        changed something did (how many objects, how long listing, downloading and converting
        took), and what the background builder did in all."""
        with self._lock:
            caches = list(self._caches.values())
        return [
            {
                "location": f"s3://{c.table.bucket}/{c.table.prefix}",
                "objects": len(c.objects),
                "files": len(c.segments),
                "last_sync": dict(c.last_sync),
                "background": dict(c.background),
            }
            for c in caches
        ]

    def object_changed(self, bucket: str, key: str | None) -> None:
        """An object of ``bucket`` was written or deleted (``key`` None: some, unknown which).

        Called by S3 writers before they acknowledge the write: it only records the key (and
        wakes the builder), it never waits for a sync or a download."""
        caches = [c for c in self._cache_list if c.table.bucket == bucket]
        for cache in caches:
            if key is None or key.startswith(cache.table.prefix):
                cache.object_changed(key)
        if self._background:
            with self._build_wake:
                if not caches:  # no cache for the bucket yet: the builder looks for its tables
                    self._unresolved.setdefault(bucket, set()).add(key)
                self._build_wake.notify_all()

    def stop_builder(self) -> None:
        """From now on build the caches at query time only, as without a background builder
        (what the analytics benchmark compares with); the reports are still recorded."""
        with self._build_wake:
            self._background = False
            self._unresolved.clear()
            self._build_wake.notify_all()
        if self._builder is not None:
            self._builder.join()
            self._builder = None

    def wait_idle(self, timeout: float = 30.0, merged: bool = True) -> bool:
        """Wait until everything reported so far is applied (by the builder or a query) and, with
        ``merged``, the builder has merged the partitions' files too (True), or ``timeout`` passed
        (False). Without a background builder there is nothing to wait for (True)."""
        if self._builder is None:
            return True

        def idle() -> bool:
            busy = self._building or (merged and self._tidying) or self._has_work()
            return self._stopping.is_set() or not busy

        with self._build_wake:
            return self._build_wake.wait_for(idle, timeout)

    # background builder

    def _build_ends_or_has_work(self) -> bool:
        """Under _build_wake."""
        return self._stopping.is_set() or not self._background or self._has_work()

    def _has_work(self) -> bool:
        """Under _build_wake."""
        return bool(self._unresolved) or any(c.pending() for c in self._cache_list)

    def _build_loop(self) -> None:
        backlog = False
        while True:
            with self._build_wake:
                self._building = self._tidying = False
                self._build_wake.notify_all()  # wait_idle
                self._build_wake.wait_for(self._build_ends_or_has_work)
                if self._stopping.is_set() or not self._background:
                    return
                self._building = True
            # Unless a backlog is being worked off, let the reports of a burst of writes gather:
            # one batch for them, not one each (every batch costs a DuckDB pass and a manifest).
            if not backlog and self._stopping.wait(self._gather_seconds):
                return
            try:
                backlog = self._build_once()
                if not backlog:
                    with self._build_wake:  # caught up (wait_idle(merged=False) returns)
                        self._building, self._tidying = False, True
                        self._build_wake.notify_all()
                    self._tidy()
            except Exception:  # never let the builder die: a query syncs what it left
                if self._stopping.is_set():  # a download cancelled by stop()
                    return
                logger.exception("Athena stand-in: building the columnar cache failed; retrying")
                backlog = False
                if self._stopping.wait(BUILD_RETRY_SECONDS):
                    return

    def _build_once(self) -> bool:
        """Caches for the buckets reported without one, then one batch of each cache's pending;
        whether some is left for the next batch."""
        with self._build_wake:
            unresolved, self._unresolved = self._unresolved, {}
        if unresolved:
            self._resolve(unresolved)
        left = False
        for cache in self._cache_list:
            if self._stopping.is_set():
                break
            if cache.pending():
                left = cache.build() or left
        return left

    def _tidy(self) -> None:
        """Nothing pending: merge each partition's files into one, one partition at a time, until
        new work arrives (a query then reads a file per partition, as after a query-time build)."""
        for cache in self._cache_list:
            while self._background and not self._stopping.is_set():
                with self._build_wake:
                    if self._has_work():
                        return
                if not cache.tidy():
                    break

    def _resolve(self, unresolved: dict[str, set[str | None]]) -> None:
        """Open the caches of the Glue tables stored in these buckets (a new one lists its location
        on its first sync, so it misses nothing written before), and hand them the reports."""
        glue = self._client("glue", self._glue_factory)
        today = datetime.now(UTC).date()
        for page in glue.get_paginator("get_databases").paginate():
            for database in page["DatabaseList"]:
                db = database["Name"].lower()
                for tables in glue.get_paginator("get_tables").paginate(DatabaseName=database["Name"]):
                    for found in tables["TableList"]:
                        try:
                            table = TableDef.from_glue(db, found, today)
                        except (QueryError, KeyError):  # not a table this stand-in reads
                            continue
                        keys = unresolved.get(table.bucket)
                        if keys is None:
                            continue
                        cache = self._cache(table)
                        for key in keys:
                            if key is None or key.startswith(table.prefix):
                                cache.object_changed(key)

    # operations

    def operations(self) -> dict[str, Handler]:
        return {
            "StartQueryExecution": self._start_query,
            "GetQueryExecution": self._get_query,
            "GetQueryResults": self._get_results,
            "StopQueryExecution": self._stop_query,
            "CreateWorkGroup": self._create_workgroup,
            "GetWorkGroup": self._get_workgroup,
        }

    def _create_workgroup(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        with self._lock:
            if name in self._workgroups:
                raise ApiError("InvalidRequestException", "WorkGroup is already created")
            self._workgroups[name] = _workgroup(
                name, params.get("Configuration", {}), params.get("Description", ""), datetime.now(UTC)
            )
        return {}

    def _get_workgroup(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            group = self._workgroups.get(params["WorkGroup"])
        if group is None:
            raise ApiError("InvalidRequestException", f"WorkGroup {params['WorkGroup']} is not found.")
        return {"WorkGroup": group}

    def _start_query(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("WorkGroup", DEFAULT_WORKGROUP)
        with self._lock:
            token = params.get("ClientRequestToken")
            if token and token in self._tokens:
                return {"QueryExecutionId": self._tokens[token]}
            group = self._workgroups.get(name)
            if group is None:
                raise ApiError("InvalidRequestException", f"WorkGroup {name} is not found.")
            if group["State"] != "ENABLED":
                raise ApiError("InvalidRequestException", f"WorkGroup {name} is disabled.")
            config = group["Configuration"]
            enforced = config.get("EnforceWorkGroupConfiguration", True)
            output = config.get("ResultConfiguration", {}).get("OutputLocation")
            if not (enforced and output):
                output = params.get("ResultConfiguration", {}).get("OutputLocation") or output
            if not output:
                raise ApiError(
                    "InvalidRequestException",
                    "No output location provided. An output location is required either through the "
                    "Workgroup result configuration setting or as an API input.",
                )
            context = params.get("QueryExecutionContext", {})
            execution = _Execution(
                query_id=str(uuid.uuid4()),
                query=params["QueryString"],
                database=context.get("Database", "default"),
                catalog=context.get("Catalog", CATALOG),
                workgroup=name,
                output=output if output.endswith("/") else output + "/",
                parameters=list(params.get("ExecutionParameters", [])),
                submitted=datetime.now(UTC),
                submitted_at=time.monotonic(),
            )
            self._executions[execution.query_id] = execution
            if token:
                self._tokens[token] = execution.query_id
            assert self._pool is not None
            execution.future = self._pool.submit(self._run, execution)
        return {"QueryExecutionId": execution.query_id}

    def _execution(self, query_id: str) -> _Execution:
        execution = self._executions.get(query_id)
        if execution is None:
            raise ApiError("InvalidRequestException", f"QueryExecution {query_id} was not found")
        return execution

    def _get_query(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            e = self._execution(params["QueryExecutionId"])
            status: dict[str, Any] = {"State": e.state, "SubmissionDateTime": e.submitted}
            if e.reason:
                status["StateChangeReason"] = e.reason
            if e.completed:
                status["CompletionDateTime"] = e.completed
            if e.error:
                status["AthenaError"] = e.error
            queued = ((e.started_at or time.monotonic()) - e.submitted_at) * 1000
            total = (
                (e.completed.timestamp() if e.completed else time.time()) - e.submitted.timestamp()
            ) * 1000
            execution: dict[str, Any] = {
                "QueryExecutionId": e.query_id,
                "Query": e.query,
                "StatementType": "DML",
                "ResultConfiguration": {"OutputLocation": f"{e.output}{e.query_id}.csv"},
                "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
                "QueryExecutionContext": {"Database": e.database, "Catalog": e.catalog},
                "Status": status,
                "Statistics": {
                    "EngineExecutionTimeInMillis": e.engine_ms,
                    "DataScannedInBytes": e.scanned,
                    "TotalExecutionTimeInMillis": int(total),
                    "QueryQueueTimeInMillis": int(queued),
                    "ServicePreProcessingTimeInMillis": 0,
                    "QueryPlanningTimeInMillis": e.planning_ms,
                    "ServiceProcessingTimeInMillis": 0,
                    "ResultReuseInformation": {"ReusedPreviousResult": False},
                },
                "WorkGroup": e.workgroup,
                "EngineVersion": {
                    "SelectedEngineVersion": "AUTO",
                    "EffectiveEngineVersion": "Athena engine version 3",
                },
                "SubstatementType": "SELECT",
            }
            if e.parameters:
                execution["ExecutionParameters"] = list(e.parameters)
        return {"QueryExecution": execution}

    def _get_results(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            e = self._execution(params["QueryExecutionId"])
            if e.state != "SUCCEEDED":
                if e.state in TERMINAL:
                    message = f"Query did not finish successfully. Final query state: {e.state}"
                else:
                    message = f"Query has not yet finished. Current state: {e.state}"
                raise ApiError("InvalidRequestException", message)
            limit = int(params.get("MaxResults", MAX_PAGE))
            if not 1 <= limit <= MAX_PAGE:
                raise ApiError("InvalidRequestException", f"MaxResults must be between 1 and {MAX_PAGE}")
            start = _offset(params.get("NextToken"), e.query_id)
            header = [c["Name"] for c in e.columns]
            rows = [header, *e.rows]
            page = rows[start : start + limit]
        result: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
                "ResultSetMetadata": {"ColumnInfo": e.columns},
            },
        }
        if start + limit < len(rows):
            result["NextToken"] = f"{e.query_id}:{start + limit}"
        return result

    def _stop_query(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            e = self._execution(params["QueryExecutionId"])
            if e.state not in TERMINAL:
                self._cancel(e, "Query was cancelled by user")
        return {}

    def _cancel(self, e: _Execution, reason: str) -> None:
        """Under the lock."""
        if e.future is not None:
            e.future.cancel()
        if e.connection is not None:
            with contextlib.suppress(duckdb.Error):  # it may have just finished and closed
                e.connection.interrupt()
        self._finish(e, "CANCELLED", reason)

    def _finish(
        self, e: _Execution, state: str, reason: str | None = None, error: QueryError | None = None
    ) -> None:
        """Under the lock: a terminal state, once."""
        if e.state in TERMINAL:
            return
        e.state, e.reason, e.completed = state, reason, datetime.now(UTC)
        if error is not None:
            e.error = {
                "ErrorCategory": 2 if error.user else 1,
                "ErrorType": 1000 if error.user else 401,
                "Retryable": not error.user,
                "ErrorMessage": str(error),
            }
        e.done.set()

    # execution

    def _run(self, e: _Execution) -> None:
        with self._lock:
            if e.state != "QUEUED":
                return
            e.state, e.started_at = "RUNNING", time.monotonic()
        try:
            self._execute(e)
        except QueryError as exc:
            with self._lock:
                self._finish(e, "FAILED", str(exc), exc)
        except duckdb.InterruptException:
            with self._lock:
                self._finish(e, "CANCELLED", "Query was cancelled by user")
        except duckdb.Error as exc:
            failure = QueryError(_duckdb_kind(exc), str(exc).splitlines()[0])
            with self._lock:
                self._finish(e, "FAILED", str(failure), failure)
        except Exception as exc:
            logger.exception("Athena stand-in: query %s failed", e.query_id)
            failure = QueryError("GENERIC_INTERNAL_ERROR", str(exc) or type(exc).__name__, user=False)
            with self._lock:
                self._finish(e, "FAILED", str(failure), failure)

    def _execute(self, e: _Execution) -> None:
        began = time.monotonic()
        statement = parse_query(bind_parameters(e.query, e.parameters))
        if e.catalog.lower() != CATALOG:
            raise QueryError("CATALOG_NOT_FOUND", f"Catalog '{e.catalog}' does not exist")
        tables = self._tables(statement, e.database)
        sql = to_duckdb(statement)
        with contextlib.ExitStack() as stack:
            views = []
            for table in tables:
                cache = self._cache(table)
                cache.sync(e.submitted_at)
                files = stack.enter_context(cache.pin())
                e.scanned += sum(f.stat().st_size for f in files)
                views.append((table, files))
            con = connect(self.cache_dir)
            stack.callback(self._release, e, con)
            for table, files in views:
                use_database(con, table.database)
                con.execute(f'CREATE VIEW "{glue_name(table.name)}" AS {view_sql(table, files)}')
            use_database(con, e.database)
            lock_down(con)
            with self._lock:
                if e.state != "RUNNING":
                    return
                e.connection = con
            e.planning_ms = int((time.monotonic() - began) * 1000)
            relation = con.sql(sql)
            names = [n.lower() for n in relation.columns]
            types = [athena_type(str(t)) for t in relation.types]
            zoned = [i for i, t in enumerate(types) if t[0] == "timestamp with time zone"]
            if zoned:  # fetched as naive UTC: DuckDB needs pytz for zoned values
                casts = ", ".join(
                    f"CAST({quote_ident(n)} AS TIMESTAMP) AS {quote_ident(n)}"
                    if i in zoned
                    else quote_ident(n)
                    for i, n in enumerate(relation.columns)
                )
                relation = con.sql(f"SELECT {casts} FROM ({sql})")  # noqa: S608 (our identifiers and paths, quoted)
            fetched = relation.fetchall()
            e.engine_ms = int((time.monotonic() - began) * 1000) - e.planning_ms
        rows = [[athena_text(v, types[i][0]) for i, v in enumerate(row)] for row in fetched]
        columns = [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": kind,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": kind == "varchar",
            }
            for name, (kind, precision, scale) in zip(names, types, strict=True)
        ]
        self._write_results(e, names, rows)
        with self._lock:
            e.columns, e.rows = columns, rows
            self._finish(e, "SUCCEEDED")

    def _release(self, e: _Execution, con: duckdb.DuckDBPyConnection) -> None:
        """Close the query's connection and let go of it. A DuckDB object still referenced when
        the interpreter exits is reported by its bindings (nanobind) as a leak: the stand-in keeps
        its executions for GetQueryExecution, so it must not keep their connections with them."""
        with self._lock:
            if e.connection is con:
                e.connection = None
        con.close()

    def _tables(self, statement: exp.Query, database: str) -> list[TableDef]:
        """The Glue tables the statement reads (CTE names are not tables)."""
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        wanted: dict[tuple[str, str], None] = {}
        for table in statement.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in ctes):
                continue
            if table.catalog and table.catalog.lower() != CATALOG:
                raise QueryError("CATALOG_NOT_FOUND", f"Catalog '{table.catalog}' does not exist")
            wanted[((table.db or database).lower(), table.name.lower())] = None
        today = datetime.now(UTC).date()
        out = []
        glue = self._client("glue", self._glue_factory)
        for db, name in wanted:
            try:
                found = glue.get_table(DatabaseName=db, Name=name)["Table"]
            except glue.exceptions.EntityNotFoundException as exc:
                raise QueryError("TABLE_NOT_FOUND", f"Table '{CATALOG}.{db}.{name}' does not exist") from exc
            out.append(TableDef.from_glue(db, found, today))
        return out

    def _cache(self, table: TableDef) -> ColumnarCache:
        location = (table.bucket, table.prefix)
        with self._lock:
            cache = self._caches.get(location)
            if cache is None or cache.table.signature != table.signature:
                digest = hashlib.sha256(f"{table.bucket}/{table.prefix}".encode()).hexdigest()[:16]
                root = self.cache_dir / f"{table.bucket}-{digest}"
                cache = ColumnarCache(
                    table,
                    root,
                    lambda: self._client("s3", self._s3_factory),
                    self._change_feed,
                    self._stopping,
                )
                self._caches[location] = cache
                self._cache_list = tuple(self._caches.values())
            elif cache.table != table:  # same data, other metadata (projection range, database)
                cache.table = table
        return cache

    def _write_results(self, e: _Execution, names: list[str], rows: list[list[str | None]]) -> None:
        found = re.fullmatch(r"s3://([^/]+)/(.*)", e.output)
        if not found:
            raise QueryError("INVALID_OUTPUT_LOCATION", f"{e.output} is not an S3 location", user=True)
        bucket, key = found[1], f"{found[2]}{e.query_id}.csv"
        try:
            self._client("s3", self._s3_factory).put_object(
                Bucket=bucket, Key=key, Body=results_csv(names, rows), ContentType="text/csv"
            )
        except Exception as exc:
            raise QueryError(
                "PERMISSION_DENIED", f"Unable to write the results to s3://{bucket}/{key}: {exc}", user=False
            ) from exc

    def _client(self, name: str, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._clients:
                self._clients[name] = factory()
            return self._clients[name]


def _workgroup(
    name: str, configuration: dict[str, Any], description: str, created: datetime
) -> dict[str, Any]:
    config = {
        "EnforceWorkGroupConfiguration": True,
        "PublishCloudWatchMetricsEnabled": False,
        "RequesterPaysEnabled": False,
        "EngineVersion": {
            "SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": "Athena engine version 3",
        },
        **configuration,
    }
    return {
        "Name": name,
        "State": "ENABLED",
        "Configuration": config,
        "Description": description,
        "CreationTime": created,
    }


def _offset(token: str | None, query_id: str) -> int:
    if not token:
        return 0
    owner, _, offset = token.rpartition(":")
    if owner != query_id or not offset.isdigit():
        raise ApiError("InvalidRequestException", "The NextToken is not valid for this query")
    return int(offset)


def _duckdb_kind(exc: duckdb.Error) -> str:
    if isinstance(exc, duckdb.ParserException):
        return "SYNTAX_ERROR"
    if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
        return "COLUMN_NOT_FOUND" if "column" in str(exc).lower() else "FUNCTION_NOT_FOUND"
    if isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException):
        return "INVALID_CAST_ARGUMENT"
    return "GENERIC_USER_ERROR"
