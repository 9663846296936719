"""Local state that survives a restart of ``tailorcast up`` (moto itself keeps none).

* DynamoDB: every successful mutating request is appended to a journal as it happens (a
  write-ahead log, so even a killed process loses nothing acknowledged). On a clean stop the
  table is snapshotted and the journal truncated; on start the snapshot is loaded and the
  journal replayed, in order, through moto itself.
* S3: an object written with PutObject (or CopyObject) is copied to a file before the write is
  acknowledged, and a DeleteObject forgets it, each noted in an append-only index log; other
  writes (presigned POST uploads, multipart, bulk deletes) are mirrored by a full sync shortly
  after. Objects are put back before bucket notifications are configured, so restoring never
  re-triggers the upload handlers.

Every folder is created 0700 and every file 0600 (``devstack/private.py``): they hold what the
local AWS stores, personal data and secrets included.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from io import BytesIO
from pathlib import Path
from typing import Any

from devstack.private import open_private, private_dir, write_private

logger = logging.getLogger("devstack.persistence")

DYNAMO_MUTATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _atomic_write(path: Path, data: bytes) -> None:
    write_private(path, data)


class DynamoJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_dir(directory)
        self.journal_path = directory / "journal.jsonl"
        self.snapshot_path = directory / "snapshot.json"
        self._lock = threading.Lock()
        self._fh = open_private(self.journal_path, "a")
        self.enabled = True  # off while the journal itself is being replayed

    def record(self, operation: str, body: bytes) -> None:
        line = json.dumps({"op": operation, "body": body.decode("utf-8")})
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.journal_path.exists():
            return []
        out = []
        for line in self.journal_path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping a torn journal line (the process died mid-write)")
                continue
            out.append((entry["op"], json.loads(entry["body"])))
        return out

    def snapshot_items(self) -> dict[str, list[dict[str, Any]]]:
        if not self.snapshot_path.exists():
            return {}
        data: dict[str, list[dict[str, Any]]] = json.loads(self.snapshot_path.read_text())
        return data

    def checkpoint(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Replace snapshot + journal by one snapshot (journal lines are in it now)."""
        with self._lock:
            _atomic_write(self.snapshot_path, json.dumps(tables).encode())
            self._fh.close()
            self._fh = open_private(self.journal_path, "w")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


#: Called for each successful S3 write: (method, path, query string, body). The body is given
#: for a multi-object delete (``POST ?delete``: the keys it named) and empty otherwise.
S3WriteHook = Callable[[str, str, str, bytes], None]


class StoredObject:
    """One object as the mirror keeps it."""

    __slots__ = ("body", "content_type", "etag", "metadata")

    def __init__(self, body: bytes, etag: str, content_type: str, metadata: dict[str, str]) -> None:
        self.body, self.etag, self.content_type, self.metadata = body, etag, content_type, metadata


#: Reads one object where it is stored, without a request: (bucket, key) → the object or None.
ObjectReader = Callable[[str, str], "StoredObject | None"]


def moto_reader(account_id: str) -> ObjectReader:
    """Read objects from moto's S3 backend in this process (the mirror runs beside moto): the
    object that was just acknowledged, without a GetObject round trip through the server."""
    from moto.s3.models import s3_backends

    def read(bucket: str, key: str) -> StoredObject | None:
        try:
            found = s3_backends[account_id]["aws"].get_object(bucket, key)
        except Exception:  # moto raises MissingBucket/MissingKey; either way there is nothing
            return None
        if found is None:
            return None
        headers = dict(found.metadata)
        return StoredObject(
            body=found.value,
            etag=found.etag,
            content_type=headers.get("content-type", "binary/octet-stream"),
            metadata={k[len("x-amz-meta-") :]: v for k, v in headers.items() if k.startswith("x-amz-meta-")},
        )

    return read


class RecordingMiddleware:
    """WSGI middleware in front of moto: journals DynamoDB writes, reports S3 writes."""

    def __init__(self, app: WSGIApp, journal: DynamoJournal, on_s3_write: S3WriteHook) -> None:
        self.app = app
        self.journal = journal
        self.on_s3_write = on_s3_write

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        method = environ.get("REQUEST_METHOD", "GET")
        body = b""
        operation = target.split(".", 1)[1] if target.startswith("DynamoDB_") else ""
        deletes = not target and method == "POST" and environ.get("QUERY_STRING", "").startswith("delete")
        if operation in DYNAMO_MUTATIONS or deletes:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = BytesIO(body)
        status_holder: list[str] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        result = self.app(environ, recording_start_response)
        ok = bool(status_holder) and status_holder[0][:1] == "2"
        if ok and operation in DYNAMO_MUTATIONS and self.journal.enabled:
            self.journal.record(operation, body)
        elif ok and not target and method in ("PUT", "POST", "DELETE"):
            # Before the response goes out: an acknowledged object is already on disk.
            self.on_s3_write(
                method,
                environ.get("PATH_INFO", ""),
                environ.get("QUERY_STRING", ""),
                body if deletes else b"",
            )
        return result


class S3Mirror:
    """Keeps ``directory`` equal to the buckets' contents: objects by key hash, an index, and an
    append-only log of index changes since the index was last written whole."""

    def __init__(self, directory: Path, reader: ObjectReader | None = None) -> None:
        self.directory = directory
        self.reader = reader
        self.index_path = directory / "index.json"
        self.log_path = directory / "index.log"
        private_dir(directory)
        self._lock = threading.Lock()
        self._entries = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        index: dict[str, dict[str, Any]] = (
            json.loads(self.index_path.read_text()) if self.index_path.exists() else {}
        )
        if self.log_path.exists():
            for line in self.log_path.read_text().splitlines():
                try:
                    change = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill: its object was not acknowledged
                if change.get("deleted"):
                    index.pop(change["deleted"], None)
                else:
                    index[change["ident"]] = change["entry"]
        return index

    @staticmethod
    def _blob_name(bucket: str, key: str) -> str:
        return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()

    def _log(self, change: dict[str, Any]) -> None:
        with open_private(self.log_path, "a") as fh:
            fh.write(json.dumps(change) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _store(self, s3: Any, bucket: str, key: str, etag: str | None = None) -> dict[str, Any] | None:
        """Copy one object to its blob; the index entry, or None if it no longer exists."""
        found = self.reader(bucket, key) if self.reader is not None else None
        if found is None:
            try:
                got = s3.get_object(Bucket=bucket, Key=key)
            except s3.exceptions.NoSuchKey:
                return None
            found = StoredObject(
                got["Body"].read(),
                got["ETag"],
                got.get("ContentType", "binary/octet-stream"),
                got.get("Metadata", {}),
            )
        _atomic_write(self.directory / self._blob_name(bucket, key), found.body)
        return {
            "bucket": bucket,
            "key": key,
            "etag": etag or found.etag,
            "content_type": found.content_type,
            "metadata": found.metadata,
        }

    def write_through(self, s3: Any, bucket: str, key: str) -> None:
        """Mirror one object now (it was just written)."""
        with self._lock:
            entry = self._store(s3, bucket, key)
            ident = f"{bucket}/{key}"
            if entry is None:
                self._forget(ident)
                return
            self._entries[ident] = entry
            self._log({"ident": ident, "entry": entry})

    def forget(self, bucket: str, key: str) -> None:
        with self._lock:
            self._forget(f"{bucket}/{key}")

    def _forget(self, ident: str) -> None:
        entry = self._entries.pop(ident, None)
        if entry is not None:
            (self.directory / self._blob_name(entry["bucket"], entry["key"])).unlink(missing_ok=True)
            self._log({"deleted": ident})

    def sync(self, s3: Any, buckets: Iterable[str]) -> int:
        """Mirror new/changed objects and forget deleted ones, then write the index whole (and
        empty the log); returns objects written."""
        with self._lock:
            seen: set[str] = set()
            written = 0
            for bucket in buckets:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    for obj in page.get("Contents", []):
                        ident = f"{bucket}/{obj['Key']}"
                        seen.add(ident)
                        if self._entries.get(ident, {}).get("etag") == obj["ETag"]:
                            continue
                        entry = self._store(s3, bucket, obj["Key"], obj["ETag"])
                        if entry is not None:
                            self._entries[ident] = entry
                            written += 1
            for ident in set(self._entries) - seen:
                entry = self._entries.pop(ident)
                (self.directory / self._blob_name(entry["bucket"], entry["key"])).unlink(missing_ok=True)
            _atomic_write(self.index_path, json.dumps(self._entries).encode())
            self.log_path.unlink(missing_ok=True)
            return written

    def restore(self, s3: Any) -> int:
        restored = 0
        for entry in list(self._entries.values()):
            blob = self.directory / self._blob_name(entry["bucket"], entry["key"])
            if not blob.exists():
                continue
            s3.put_object(
                Bucket=entry["bucket"],
                Key=entry["key"],
                Body=blob.read_bytes(),
                ContentType=entry["content_type"],
                Metadata=entry["metadata"],
            )
            restored += 1
        return restored
