"""The columnar cache: a table location's JSON objects in S3, kept as Parquet on local disk.

DuckDB cannot read moto's S3, so new or changed objects (by ETag) are downloaded and converted,
a partition's worth at a time, into Parquet files (one per batch, merged once a partition has more
than :data:`MAX_SEGMENTS`). What changed is found by listing the location, or, with a change feed,
by probing only the keys the stack reported written.

Two callers bring it up to date: a query (:meth:`ColumnarCache.sync`: everything reported before
the query started, in batches of :data:`BATCH_OBJECTS`) and, with a change feed, the stand-in's
background builder (:meth:`ColumnarCache.build`: one batch of :data:`BUILD_BATCH_OBJECTS` at a
time, so that a query never waits long for the lock), which keeps the cache built as objects
arrive. Downloads go to files on disk; memory is bounded by the batch DuckDB converts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from devstack.athena.sql import QueryError, quote, quote_ident
from devstack.athena.tables import TableDef

#: Parquet files per partition before they are merged into one.
MAX_SEGMENTS = 8
DOWNLOAD_WORKERS = 8
#: Objects converted in one pass (and one Parquet file per partition) when a query syncs.
BATCH_OBJECTS = 1024
#: Objects per background batch: the lock is held for one batch, so a query waits at most that.
BUILD_BATCH_OBJECTS = 128
#: Reported keys already cached that are checked one by one (HEAD) at least; with more than
#: that and than a quarter of the cache, the location is listed instead (a HEAD costs moto several
#: times what one key of a listing does).
PROBE_MAX = 1000


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
        #: What the last query-time sync that changed something did, and how long each step took.
        self.last_sync: dict[str, Any] = {}
        #: What the background builder has done since this cache was opened (totals).
        self.background: dict[str, Any] = _totals()
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

    def pending(self) -> bool:
        """Whether something reported (or a listing) is still to be applied."""
        with self._feed_lock:
            return self._needs_listing or bool(self._dirty)

    def sync(self, requested_at: float) -> None:
        """Bring the cache up to date with S3, unless a sync that began after ``requested_at``
        (monotonic) already did: it saw every write acknowledged before then. What is pending is
        applied in batches of :data:`BATCH_OBJECTS` (a background batch running is waited for)."""
        entered = time.monotonic()
        with self.lock:
            if self._synced_at >= requested_at:
                return
            started = time.monotonic()
            stats = _totals()
            self._sync(started, None, stats)
            if stats["objects"]:
                stats["seconds"] = round(time.monotonic() - started, 3)
                stats["lock_wait_seconds"] = round(started - entered, 3)
                self.last_sync = stats

    def build(self) -> bool:
        """One background batch: up to :data:`BUILD_BATCH_OBJECTS` of what is pending; the rest
        stays pending (the next batch, or a query, takes it). Whether some was left."""
        with self.lock:
            started = time.monotonic()
            stats = _totals()
            left = not self._sync(started, BUILD_BATCH_OBJECTS, stats)
            if stats["objects"] or stats["listings"]:
                stats["seconds"] = time.monotonic() - started
                totals = self.background
                for name, value in stats.items():
                    totals[name] = round(totals[name] + value, 3)
        return left

    def tidy(self) -> bool:
        """Merge the files of one partition that has more than one into one (built a batch at a
        time, a partition has up to :data:`MAX_SEGMENTS`; a query reads fewer files after this).
        Whether there was one to merge."""
        with self.lock:
            started = time.monotonic()
            partitions: dict[str, int] = {}
            for segment in self.segments.values():
                partitions[segment.partition] = partitions.get(segment.partition, 0) + 1
            crowded = sorted(p for p, n in partitions.items() if n > 1)
            if not crowded:
                return False
            self._compact(crowded[0], at_most=1)
            self._save()
            self._empty_trash()
            self.background["merges"] += 1
            self.background["merge_seconds"] = round(
                self.background["merge_seconds"] + time.monotonic() - started, 3
            )
            return True

    def _sync(self, started: float, limit: int | None, stats: dict[str, Any]) -> bool:
        """Under the lock: apply what is pending (``limit``: at most that many objects, the rest
        put back); the sync counts as complete as of ``started`` only if nothing was put back
        (returned)."""
        with self._feed_lock:
            listing = not self._feed or self._needs_listing
            dirty, self._dirty, self._needs_listing = self._dirty, set(), False
        rewritten = sum(1 for k in dirty if k in self.objects)
        listing = listing or rewritten > max(PROBE_MAX, len(self.objects) // 4)  # a restart restoring
        try:
            changed = sorted(self._list() if listing else self._probe(dirty))
            stats["listings"] += int(listing)
            stats["list_seconds"] = round(time.monotonic() - started, 3)
            if limit is not None and len(changed) > limit:
                changed, rest = changed[:limit], changed[limit:]
                with self._feed_lock:
                    self._dirty.update(rest)
                complete = False
            else:
                complete = True
            for first in range(0, len(changed), BATCH_OBJECTS):
                batch = set(changed[first : first + BATCH_OBJECTS])
                self._apply(batch, stats)
                stats["objects"] += len(batch)
                stats["batches"] += 1
        except BaseException:
            with self._feed_lock:  # what the feed reported is not applied: list next time
                self._needs_listing = True
            raise
        if complete:
            self._synced_at = started
        return complete

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

    def _apply(self, changed: set[str], stats: dict[str, Any]) -> None:
        """Under the lock: rebuild what ``changed`` touches (``stats`` adds up what it did)."""
        # A segment holding a changed or deleted object is rebuilt from its other objects too.
        touched = {self.objects[k]["segment"] for k in changed if k in self.objects}
        refetch = {k for ident in touched for k in self.segments[ident].keys} - changed
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            began = time.monotonic()
            fetched = self._download(sorted(changed | refetch), Path(tmp))
            stats["downloaded_objects"] += sum(1 for f in fetched if f.path is not None)
            stats["downloaded_bytes"] += sum(f.path.stat().st_size for f in fetched if f.path)
            stats["download_seconds"] = round(stats["download_seconds"] + time.monotonic() - began, 3)
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
            stats["convert_seconds"] = round(stats["convert_seconds"] + time.monotonic() - began, 3)
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
        columns = "{" + ", ".join(f"{quote(n)}: {quote(t)}" for n, t in self.table.columns) + "}"
        files = "[" + ", ".join(quote(str(i.path)) for i in items if i.path and i.path.stat().st_size) + "]"
        tmp = path.with_suffix(".tmp")
        con = duckdb.connect(":memory:")
        try:
            if files == "[]":
                select = "SELECT " + ", ".join(
                    f"CAST(NULL AS {t}) AS {quote_ident(n)}" for n, t in self.table.columns
                )
                select += " WHERE false"
            else:
                select = (
                    "SELECT " + ", ".join(quote_ident(n) for n, _ in self.table.columns) + " FROM read_json("  # noqa: S608 (our identifiers and paths, quoted)
                    f"{files}, format = 'newline_delimited', columns = {columns}, ignore_errors = true, "
                    "hive_partitioning = false, maximum_object_size = 16777216)"
                )
            con.execute(f"COPY ({select}) TO {quote(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        finally:
            con.close()
        os.replace(tmp, path)
        ident = f"{partition}/{name}"
        self.segments[ident] = _Segment(partition, name, [i.key for i in items])
        for item in items:
            self.objects[item.key] = {"etag": item.etag, "segment": ident}

    def _compact(self, partition: str, at_most: int = MAX_SEGMENTS) -> None:
        """Merge a partition's files into one once there are more than ``at_most``."""
        idents = sorted(i for i, s in self.segments.items() if s.partition == partition)
        if len(idents) <= at_most:
            return
        name, path = self._new_file(partition)
        files = "[" + ", ".join(quote(str(self.root / "data" / i)) for i in idents) + "]"
        tmp = path.with_suffix(".tmp")
        con = duckdb.connect(":memory:")
        try:
            con.execute(
                f"COPY (SELECT * FROM read_parquet({files}, hive_partitioning = false)) "  # noqa: S608 (our identifiers and paths, quoted)
                f"TO {quote(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
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


def _totals() -> dict[str, Any]:
    """What syncs did, added up: objects applied, listings, downloads, and the time of each step."""
    return {
        "objects": 0,
        "batches": 0,
        "listings": 0,
        "downloaded_objects": 0,
        "downloaded_bytes": 0,
        "list_seconds": 0.0,
        "download_seconds": 0.0,
        "convert_seconds": 0.0,
        "seconds": 0.0,
        "merges": 0,  # partitions merged into one file once the builder had nothing pending
        "merge_seconds": 0.0,
    }
