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
5. **Run**: a fresh in-memory DuckDB per query (UTC session, like Athena's), with the tables as
   views over the pinned files, file access confined to the cache and configuration locked.

The JSON SerDe is read as Hive's OpenX SerDe reads it: keys matched to column names, a missing
key is NULL, a malformed line (``ignore.malformed.json``) is a row of NULLs.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from devstack.awsjson import ApiError, Handler, JsonApiServer

logger = logging.getLogger(__name__)

CATALOG = "awsdatacatalog"
DEFAULT_WORKGROUP = "primary"
MAX_PAGE = 1000
#: Parquet files per partition before they are merged into one.
MAX_SEGMENTS = 8
DOWNLOAD_WORKERS = 8
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
#: Glue/Hive column types -> DuckDB's (nested types are translated recursively).
_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
#: DuckDB result types -> the names Athena reports in ColumnInfo.
_ATHENA_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "UINTEGER": "bigint",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "BLOB": "varbinary",
    "UUID": "varchar",
    "INTERVAL": "interval day to second",
}
_ATHENA = Dialect.get_or_raise("athena")


class QueryError(Exception):
    """A query failed for a reason Athena would give: ``kind`` is Athena's error name."""

    def __init__(self, kind: str, message: str, user: bool = True) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.user = user


# --------------------------------------------------------------------------- SQL


def athena_literal(value: str) -> str:
    """One ``ExecutionParameters`` value as the SQL literal it stands for.

    Raises
    ------
    QueryError
        The value is not exactly one literal (``'a' OR 'b'``, ``x' OR 'a'='a``, ``1; DROP …``).
    """
    try:
        tokens = _ATHENA.tokenize(value)
    except TokenError as exc:
        raise QueryError(
            "INVALID_PARAMETER_USAGE", f"execution parameter {value!r} is not a literal"
        ) from exc
    kinds = [t.token_type for t in tokens]
    if kinds == [TokenType.STRING]:
        return _quote(tokens[0].text)
    if kinds in ([TokenType.NUMBER], [TokenType.DASH, TokenType.NUMBER]):
        return "".join(t.text for t in tokens)
    if kinds in ([TokenType.TRUE], [TokenType.FALSE], [TokenType.NULL]):
        return tokens[0].text.upper()
    if len(tokens) == 2 and kinds[1] == TokenType.STRING and tokens[0].text.upper() in ("DATE", "TIMESTAMP"):
        return f"{tokens[0].text.upper()} {_quote(tokens[1].text)}"
    raise QueryError("INVALID_PARAMETER_USAGE", f"execution parameter {value!r} is not a single literal")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def bind_parameters(sql: str, parameters: Sequence[str]) -> str:
    """Replace the query's ``?`` placeholders, in order, with the parameters' literals.

    Placeholders are found by tokenizing, so a ``?`` inside a string or a comment is left alone.

    Raises
    ------
    QueryError
        A parameter is not a literal, or their count does not match the placeholders'.
    """
    try:
        tokens = _ATHENA.tokenize(sql)
    except TokenError as exc:
        raise QueryError("SYNTAX_ERROR", str(exc)) from exc
    marks = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if len(marks) != len(parameters):
        raise QueryError(
            "INVALID_PARAMETER_USAGE",
            f"the query has {len(marks)} parameter(s) but {len(parameters)} value(s) were given",
        )
    out, position = [], 0
    for mark, value in zip(marks, parameters, strict=True):
        out.append(sql[position : mark.start])
        out.append(athena_literal(value))
        position = mark.end + 1
    out.append(sql[position:])
    return "".join(out)


def parse_query(sql: str) -> exp.Query:
    """The one read-only statement in ``sql`` (Athena's dialect).

    Raises
    ------
    QueryError
        A syntax error, more than one statement, or a statement that is not a query.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except (ParseError, TokenError) as exc:
        raise QueryError("SYNTAX_ERROR", str(exc).splitlines()[0]) from exc
    if len(statements) != 1:
        raise QueryError("SYNTAX_ERROR", f"Only one sql statement is allowed. Got: {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(
            "NOT_SUPPORTED", f"the local Athena stand-in runs queries only, not {statement.key.upper()}"
        )
    return statement


def to_duckdb(statement: exp.Query) -> str:
    """The statement in DuckDB's dialect (what ``sqlglot.transpile(…, write="duckdb")`` writes).

    ``reduce``'s output function has no DuckDB equivalent; when it is the identity (``s -> s``)
    it is dropped, which changes nothing, instead of being warned about and dropped anyway.
    """
    statement = statement.copy()
    for node in statement.find_all(exp.Reduce):
        finish = node.args.get("finish")
        if isinstance(finish, exp.Lambda) and _is_identity(finish):
            node.set("finish", None)
    return statement.sql(dialect="duckdb")


def translate(sql: str, parameters: Sequence[str] = ()) -> str:
    """Athena SQL with its parameters bound, as DuckDB SQL.

    Raises
    ------
    QueryError
        See :func:`bind_parameters` and :func:`parse_query`.
    """
    return to_duckdb(parse_query(bind_parameters(sql, parameters)))


def _is_identity(fn: exp.Lambda) -> bool:
    params = fn.expressions
    body = fn.this
    if isinstance(body, exp.Column) and not body.table:
        body = body.this
    return len(params) == 1 and isinstance(body, exp.Identifier) and body.name == params[0].name


def duckdb_type(glue_type: str) -> str:
    """A Glue/Hive column type (``array<array<double>>``, ``struct<a:int>``) as DuckDB's.

    Raises
    ------
    QueryError
        A type the stand-in does not know.
    """
    t = glue_type.strip().lower()
    if t in _SCALARS:
        return _SCALARS[t]
    if found := re.fullmatch(r"(?:decimal|numeric)\((\d+),\s*(\d+)\)", t):
        return f"DECIMAL({found[1]},{found[2]})"
    if found := re.fullmatch(r"(?:varchar|char)\(\d+\)", t):
        return "VARCHAR"
    if t.startswith("array<") and t.endswith(">"):
        return duckdb_type(t[6:-1]) + "[]"
    if t.startswith("map<") and t.endswith(">"):
        key, value = _split_top(t[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if t.startswith("struct<") and t.endswith(">"):
        fields = []
        for member in _split_top(t[7:-1]):
            name, _, kind = member.partition(":")
            fields.append(f'"{name.strip()}" {duckdb_type(kind)}')
        return f"STRUCT({', '.join(fields)})"
    raise QueryError("NOT_SUPPORTED", f"column type {glue_type!r} is not supported by the local stand-in")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside ``<…>``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def connect(allowed_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with Athena's session semantics (UTC) and the ``awsdatacatalog``
    catalog. Call :func:`lock_down` once the tables are defined."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH ':memory:' AS {CATALOG}")
    if allowed_directory is not None:
        con.execute(f"SET allowed_directories = [{_quote(str(allowed_directory) + os.sep)}]")
    return con


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file outside the allowed directory, and no configuration change, from here on."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def use_database(con: duckdb.DuckDBPyConnection, database: str) -> None:
    con.execute(f'CREATE SCHEMA IF NOT EXISTS {CATALOG}."{_ident(database)}"')
    con.execute(f'USE {CATALOG}."{_ident(database)}"')


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", name):
        raise QueryError("NOT_SUPPORTED", f"identifier {name!r} is not a Glue name")
    return name


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableDef:
    """What the stand-in needs of a Glue table."""

    database: str
    name: str
    bucket: str
    prefix: str  # of the location, ending in "/" (or empty)
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    partition_keys: tuple[tuple[str, str], ...]
    projection: tuple[str, str] | None  # (first, last) date partition values, inclusive

    @property
    def signature(self) -> str:
        """Changes when what the cache holds would change (then the cache starts over)."""
        text = json.dumps([self.bucket, self.prefix, self.columns, self.partition_keys])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_glue(cls, database: str, table: Mapping[str, Any], today: date) -> TableDef:
        """Raises QueryError for a table this stand-in cannot read (format, location, layout)."""
        sd = table.get("StorageDescriptor", {})
        params = table.get("Parameters", {})
        serde = sd.get("SerdeInfo", {}).get("SerializationLibrary", "")
        if "json" not in serde.lower() and params.get("classification") != "json":
            raise QueryError("NOT_SUPPORTED", f"table {table['Name']}: only JSON tables are supported")
        location = str(sd.get("Location", ""))
        found = re.fullmatch(r"s3a?://([^/]+)/?(.*)", location)
        if not found:
            raise QueryError("NOT_SUPPORTED", f"table {table['Name']}: location {location!r} is not in S3")
        bucket, prefix = found[1], found[2]
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        keys = tuple((k["Name"].lower(), "VARCHAR") for k in table.get("PartitionKeys", []))
        template = params.get("storage.location.template")
        hive = location.rstrip("/") + "/" + "/".join(f"{k}=${{{k}}}" for k, _ in keys) + "/"
        if template and template.rstrip("/") != hive.rstrip("/"):
            raise QueryError("NOT_SUPPORTED", f"storage.location.template {template!r} is not hive-style")
        projection = None
        if params.get("projection.enabled") == "true" and len(keys) == 1:
            projection = _date_projection(params, keys[0][0], today)
        columns = tuple((c["Name"].lower(), duckdb_type(c["Type"])) for c in sd.get("Columns", []))
        return cls(database, table["Name"].lower(), bucket, prefix, columns, keys, projection)


def _date_projection(params: Mapping[str, str], key: str, today: date) -> tuple[str, str] | None:
    """A ``date`` projection's range as partition values; other projection types are not applied."""
    if (
        params.get(f"projection.{key}.type") != "date"
        or params.get(f"projection.{key}.format") != "yyyy-MM-dd"
    ):
        return None
    bounds = []
    for bound in params.get(f"projection.{key}.range", "").split(","):
        bound = bound.strip()
        relative = re.fullmatch(r"NOW(?:([+-])(\d+)DAYS?)?", bound, re.IGNORECASE)
        if relative:
            days = int(relative[2] or 0) * (-1 if relative[1] == "-" else 1)
            bounds.append((today + timedelta(days=days)).isoformat())
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", bound):
            bounds.append(bound)
        else:
            return None
    return (bounds[0], bounds[1]) if len(bounds) == 2 else None


@dataclass
class _Segment:
    partition: str  # "dt=2026-11-20" (the directory)
    file: str  # file name in that directory
    keys: list[str]


@dataclass
class _Fetched:
    key: str
    etag: str
    path: Path | None  # None: the object no longer exists


class ColumnarCache:
    """One table location's objects as Parquet on local disk, kept in step with S3.

    Files are immutable once written; a query pins the files it reads (:meth:`pin`) and files
    replaced meanwhile are deleted only when no query holds them.
    """

    def __init__(
        self,
        table: TableDef,
        root: Path,
        s3: Callable[[], Any],
        change_feed: bool,
        stopping: threading.Event | None = None,
    ) -> None:
        self.table = table
        self.root = root
        self._s3 = s3
        self._feed = change_feed
        self._stopping = stopping or threading.Event()
        #: What the last sync that changed something did, and how long each step took.
        self.last_sync: dict[str, Any] = {}
        self.lock = threading.Lock()  # held by a sync, and briefly by readers pinning files
        self._feed_lock = threading.Lock()  # never held long: S3 writers report changes under it
        self._pins: dict[str, int] = {}
        self._trash: set[str] = set()
        self._dirty: set[str] = set()
        self._needs_listing = True
        self._synced_at = -1.0  # monotonic time at which the last completed sync started
        self.objects: dict[str, dict[str, str]] = {}  # key -> {"etag", "segment"}
        self.segments: dict[str, _Segment] = {}  # "partition/file" -> segment
        self._seq = 0
        self._load()

    # state on disk

    @property
    def _manifest(self) -> Path:
        return self.root / "manifest.json"

    def _load(self) -> None:
        try:
            data = json.loads(self._manifest.read_text())
        except (OSError, ValueError):
            data = None
        if not data or data.get("signature") != self.table.signature:
            shutil.rmtree(self.root, ignore_errors=True)
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            return
        self.objects = data["objects"]
        self.segments = {k: _Segment(**v) for k, v in data["segments"].items()}
        self._seq = data["seq"]
        for ident in list(self.segments):
            if not (self.root / "data" / ident).exists():  # lost: fetch its objects again
                for key in self.segments.pop(ident).keys:
                    self.objects.pop(key, None)

    def _save(self) -> None:
        data = {
            "signature": self.table.signature,
            "seq": self._seq,
            "objects": self.objects,
            "segments": {k: v.__dict__ for k, v in self.segments.items()},
        }
        tmp = self._manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._manifest)

    # change feed

    def object_changed(self, key: str | None) -> None:
        """An object under the location was written or deleted (``None``: unknown; list again)."""
        with self._feed_lock:
            if key is None:
                self._needs_listing = True
            else:
                self._dirty.add(key)

    # sync

    def sync(self, requested_at: float) -> None:
        """Bring the cache up to date with S3, unless a sync that began after ``requested_at``
        (monotonic) already did: it saw every write acknowledged before then."""
        with self.lock:
            if self._synced_at >= requested_at:
                return
            started = time.monotonic()
            with self._feed_lock:
                listing = not self._feed or self._needs_listing
                dirty, self._dirty, self._needs_listing = self._dirty, set(), False
            try:
                changed = self._list() if listing else self._probe(dirty)
                listed = time.monotonic()
                if changed:
                    self.last_sync = {"listed": listing, "changed_objects": len(changed)}
                    self.last_sync["list_seconds"] = round(listed - started, 3)
                    self._apply(changed)
                    self.last_sync["total_seconds"] = round(time.monotonic() - started, 3)
            except BaseException:
                with self._feed_lock:  # what the feed reported is not applied: list next time
                    self._needs_listing = True
                raise
            self._synced_at = started

    def _list(self) -> set[str]:
        """Keys that are new, changed (ETag) or gone, from a listing of the location."""
        s3, seen = self._s3(), {}
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.table.bucket, Prefix=self.table.prefix):
            for obj in page.get("Contents", []):
                if self._partition_of(obj["Key"]) is not None:
                    seen[obj["Key"]] = obj["ETag"]
        changed = {k for k, etag in seen.items() if self.objects.get(k, {}).get("etag") != etag}
        return changed | (set(self.objects) - set(seen))

    def _probe(self, keys: set[str]) -> set[str]:
        """Of the keys the feed reported, those that may have changed: new ones (Firehose only
        ever writes new keys), and cached ones whose ETag is not the cached one any more."""
        keys = {k for k in keys if self._partition_of(k) is not None}
        known = [k for k in keys if k in self.objects]
        if not known:
            return keys
        s3 = self._s3()

        def same(key: str) -> bool:
            try:
                return bool(
                    s3.head_object(Bucket=self.table.bucket, Key=key)["ETag"] == self.objects[key]["etag"]
                )
            except s3.exceptions.ClientError:
                return False  # gone (404): a change to apply

        with ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="athena-head") as pool:
            unchanged = {k for k, kept in zip(known, pool.map(same, known), strict=True) if kept}
        return keys - unchanged

    def _partition_of(self, key: str) -> str | None:
        """``dt=…`` (the partition directory) of an object of the table, or None if it is not one."""
        if not key.startswith(self.table.prefix):
            return None
        parts = key[len(self.table.prefix) :].split("/")
        names = [name for name, _ in self.table.partition_keys]
        if len(parts) != len(names) + 1 or not parts[-1]:
            return None
        for part, name in zip(parts, names, strict=False):
            k, sep, v = part.partition("=")
            if not sep or k.lower() != name or not v or not re.fullmatch(r"[A-Za-z0-9_.:+\-]+", v):
                return None
        return "/".join(parts[:-1])

    def _apply(self, changed: set[str]) -> None:
        """Under the lock: rebuild what ``changed`` touches."""
        # A segment holding a changed or deleted object is rebuilt from its other objects too.
        touched = {self.objects[k]["segment"] for k in changed if k in self.objects}
        refetch = {k for ident in touched for k in self.segments[ident].keys} - changed
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            began = time.monotonic()
            fetched = self._download(sorted(changed | refetch), Path(tmp))
            self.last_sync["downloaded_objects"] = sum(1 for f in fetched if f.path is not None)
            self.last_sync["downloaded_bytes"] = sum(f.path.stat().st_size for f in fetched if f.path)
            self.last_sync["download_seconds"] = round(time.monotonic() - began, 3)
            began = time.monotonic()
            for ident in touched:
                segment = self.segments.pop(ident)
                for key in segment.keys:
                    self.objects.pop(key, None)
                self._discard(ident)
            by_partition: dict[str, list[_Fetched]] = {}
            for item in fetched:
                if item.path is not None:
                    partition = self._partition_of(item.key)
                    assert partition is not None
                    by_partition.setdefault(partition, []).append(item)
            for partition, items in sorted(by_partition.items()):
                self._convert(partition, items)
                self._compact(partition)
            self.last_sync["convert_seconds"] = round(time.monotonic() - began, 3)
        self._save()
        self._empty_trash()

    def _download(self, keys: list[str], into: Path) -> list[_Fetched]:
        s3 = self._s3()

        def fetch(index_key: tuple[int, str]) -> _Fetched:
            index, key = index_key
            if self._stopping.is_set():
                raise QueryError("USER_CANCELLED", "the local Athena stand-in is stopping", user=False)
            try:
                got = s3.get_object(Bucket=self.table.bucket, Key=key)
            except s3.exceptions.NoSuchKey:
                return _Fetched(key, "", None)
            path = into / f"{index}.json"
            with path.open("wb") as fh:
                shutil.copyfileobj(got["Body"], fh)
            return _Fetched(key, got["ETag"], path)

        with ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="athena-fetch") as pool:
            return list(pool.map(fetch, enumerate(keys)))

    def _new_file(self, partition: str) -> tuple[str, Path]:
        self._seq += 1
        name = f"part-{self._seq:08d}.parquet"
        folder = self.root / "data" / partition
        folder.mkdir(parents=True, exist_ok=True)
        return name, folder / name

    def _convert(self, partition: str, items: list[_Fetched]) -> None:
        """JSON lines -> one Parquet file for the partition (a batch of objects, one DuckDB pass)."""
        name, path = self._new_file(partition)
        columns = "{" + ", ".join(f"{_quote(n)}: {_quote(t)}" for n, t in self.table.columns) + "}"
        files = "[" + ", ".join(_quote(str(i.path)) for i in items if i.path and i.path.stat().st_size) + "]"
        tmp = path.with_suffix(".tmp")
        con = duckdb.connect(":memory:")
        try:
            if files == "[]":
                select = "SELECT " + ", ".join(
                    f"CAST(NULL AS {t}) AS {_col(n)}" for n, t in self.table.columns
                )
                select += " WHERE false"
            else:
                select = (
                    "SELECT " + ", ".join(_col(n) for n, _ in self.table.columns) + " FROM read_json("  # noqa: S608 (our identifiers and paths, quoted)
                    f"{files}, format = 'newline_delimited', columns = {columns}, ignore_errors = true, "
                    "hive_partitioning = false, maximum_object_size = 16777216)"
                )
            con.execute(f"COPY ({select}) TO {_quote(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        finally:
            con.close()
        os.replace(tmp, path)
        ident = f"{partition}/{name}"
        self.segments[ident] = _Segment(partition, name, [i.key for i in items])
        for item in items:
            self.objects[item.key] = {"etag": item.etag, "segment": ident}

    def _compact(self, partition: str) -> None:
        """Merge a partition's files into one once there are more than :data:`MAX_SEGMENTS`."""
        idents = sorted(i for i, s in self.segments.items() if s.partition == partition)
        if len(idents) <= MAX_SEGMENTS:
            return
        name, path = self._new_file(partition)
        files = "[" + ", ".join(_quote(str(self.root / "data" / i)) for i in idents) + "]"
        tmp = path.with_suffix(".tmp")
        con = duckdb.connect(":memory:")
        try:
            con.execute(
                f"COPY (SELECT * FROM read_parquet({files}, hive_partitioning = false)) "  # noqa: S608 (our identifiers and paths, quoted)
                f"TO {_quote(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
            )
        finally:
            con.close()
        os.replace(tmp, path)
        keys = [k for i in idents for k in self.segments.pop(i).keys]
        ident = f"{partition}/{name}"
        self.segments[ident] = _Segment(partition, name, keys)
        for key in keys:
            self.objects[key]["segment"] = ident
        for old in idents:
            self._discard(old)

    def _discard(self, ident: str) -> None:
        self._trash.add(ident)

    def _empty_trash(self) -> None:
        for ident in list(self._trash):
            if not self._pins.get(ident):
                (self.root / "data" / ident).unlink(missing_ok=True)
                self._trash.discard(ident)

    # reading

    @contextlib.contextmanager
    def pin(self) -> Iterator[list[Path]]:
        """The table's current files, kept on disk until the block ends."""
        with self.lock:
            idents = sorted(self.segments)
            for ident in idents:
                self._pins[ident] = self._pins.get(ident, 0) + 1
        try:
            yield [self.root / "data" / i for i in idents]
        finally:
            with self.lock:
                for ident in idents:
                    self._pins[ident] -= 1
                    if not self._pins[ident]:
                        del self._pins[ident]
                self._empty_trash()


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(table: TableDef, files: Sequence[Path]) -> str:
    """The table as DuckDB sees it: its columns, then its partition keys, over ``files``."""
    names = [_col(n) for n, _ in table.columns] + [_col(n) for n, _ in table.partition_keys]
    if not files:
        nulls = [f"CAST(NULL AS {t}) AS {_col(n)}" for n, t in (*table.columns, *table.partition_keys)]
        return "SELECT " + ", ".join(nulls) + " WHERE false"
    hive_types = "{" + ", ".join(f"{_quote(n)}: {_quote(t)}" for n, t in table.partition_keys) + "}"
    listed = "[" + ", ".join(_quote(str(f)) for f in files) + "]"
    sql = (
        f"SELECT {', '.join(names)} FROM read_parquet({listed}, hive_partitioning = true, "  # noqa: S608 (our identifiers and paths, quoted)
        f"hive_types = {hive_types})"
    )
    if table.projection is not None:
        first, last = table.projection
        sql += f" WHERE {_col(table.partition_keys[0][0])} BETWEEN {_quote(first)} AND {_quote(last)}"
    return sql


# --------------------------------------------------------------------------- results


def athena_type(duckdb_type_name: str) -> tuple[str, int, int]:
    """(Athena type, precision, scale) of a DuckDB result column."""
    t = duckdb_type_name.upper()
    if t.endswith("[]"):
        return "array", 0, 0
    if t.startswith("DECIMAL"):
        found = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
        return ("decimal", int(found[1]), int(found[2])) if found else ("decimal", 38, 0)
    if t.startswith("STRUCT"):
        return "row", 0, 0
    if t.startswith("MAP"):
        return "map", 0, 0
    name = _ATHENA_TYPES.get(t, "varchar")
    precision = {"varchar": 2147483647, "bigint": 19, "integer": 10, "double": 17, "real": 7}.get(name, 0)
    return name, precision, 0


def athena_text(value: Any, athena_type_name: str = "") -> str | None:
    """A value as Athena writes it in results (and in the results CSV); ``None`` for NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return text + " UTC" if athena_type_name == "timestamp with time zone" else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _nested(value: Any) -> str:
    text = athena_text(value)
    return "null" if text is None else text


def java_double(value: float) -> str:
    """Java's ``Double.toString``, which Athena's results use: ``2.5``, ``100.0``, ``1.0E-4``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(value)
        if "e" in text:  # repr switches to exponents differently from Java
            text = f"{value:.17f}".rstrip("0")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    digits_text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) - 1 + int(exponent)
    mantissa = digits_text[0] + "." + (digits_text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def results_csv(columns: Sequence[str], rows: Iterable[Sequence[str | None]]) -> bytes:
    """Athena's results file: a header, every value quoted, NULL as nothing at all."""
    out = io.StringIO()

    def line(values: Sequence[str | None]) -> str:
        return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n"

    out.write(line(columns))
    for row in rows:
        out.write(line(row))
    return out.getvalue().encode()


# --------------------------------------------------------------------------- the service


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
    for every write to the tables' buckets, and the locations are listed only once.
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
        self._stopping = threading.Event()

    # lifecycle

    def start(self) -> None:
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="athena-query")
        super().start()

    def stop(self) -> None:
        """Stop serving; queries still queued are cancelled, running ones interrupted (a cache
        being filled stops between two downloads; what it had converted stays)."""
        self._stopping.set()
        self.stop_serving()
        with self._lock:
            for execution in self._executions.values():
                if execution.state not in TERMINAL:
                    self._cancel(execution, "the local Athena stand-in is stopping")
        if self._pool is not None:
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
        """Per table location: objects and files cached, and what the last sync that changed
        something did (how many objects, how long listing, downloading and converting took)."""
        with self._lock:
            caches = list(self._caches.values())
        return [
            {
                "location": f"s3://{c.table.bucket}/{c.table.prefix}",
                "objects": len(c.objects),
                "files": len(c.segments),
                "last_sync": dict(c.last_sync),
            }
            for c in caches
        ]

    def object_changed(self, bucket: str, key: str | None) -> None:
        """An object of ``bucket`` was written or deleted (``key`` None: some, unknown which)."""
        with self._lock:
            caches = [c for (b, _), c in self._caches.items() if b == bucket]
        for cache in caches:
            if key is None or key.startswith(cache.table.prefix):
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
            stack.callback(con.close)
            for table, files in views:
                use_database(con, table.database)
                con.execute(f'CREATE VIEW "{_ident(table.name)}" AS {view_sql(table, files)}')
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
                    f"CAST({_col(n)} AS TIMESTAMP) AS {_col(n)}" if i in zoned else _col(n)
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


def read_results_csv(body: bytes) -> list[list[str]]:
    """The results file back as rows (a test helper: NULL and '' both read as '')."""
    return list(csv.reader(io.StringIO(body.decode())))
