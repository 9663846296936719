"""A local stand-in for Amazon Data Firehose (API 2015-08-04, JSON 1.1), delivering to S3.

boto3's ``firehose`` client talks to it through ``AWS_ENDPOINT_URL_FIREHOSE``. It serves
CreateDeliveryStream (DirectPut, an ``ExtendedS3DestinationConfiguration``),
DescribeDeliveryStream, ListDeliveryStreams, DeleteDeliveryStream, PutRecord and PutRecordBatch.
(moto has Firehose, but writes ``!{timestamp:…}`` prefixes literally and delivers every put at
once; this writes what Firehose writes.)

Delivery is Firehose's: records are buffered per stream and written as **one object per batch**
when the buffer reaches ``SizeInMBs`` or its oldest record is ``IntervalInSeconds`` old, whichever
comes first (a background thread watches the clock; :meth:`FirehoseStandIn.flush` delivers now).
An object holds the records concatenated exactly as sent (Firehose adds no delimiter) under::

    {Prefix, expressions evaluated}{stream}-{version}-YYYY-MM-DD-HH-MM-SS-{uuid4}

where the time, for the prefix's ``!{timestamp:…}`` and for the name, is the arrival time (UTC)
of the batch's oldest record. Without a ``Prefix`` Firehose's default ``YYYY/MM/dd/HH/`` is used.

Differences from the service, on purpose: a stream is ACTIVE as soon as it is created; deleting a
stream delivers what it has buffered first; an object that cannot be written (no bucket) stays
buffered and is retried every second, as Firehose retries, but never moves to the error prefix
(Firehose uses that prefix for failed transformations and conversions, which this stand-in does
not do). Only ``UNCOMPRESSED`` delivery is supported.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.awsjson import ApiError, Handler, JsonApiServer

logger = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_000 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_SECONDS = 300
#: How often the delivery thread looks at the buffers, and waits after a failed delivery.
TICK_SECONDS = 0.05
RETRY_SECONDS = 1.0
DEFAULT_PREFIX = "!{timestamp:yyyy/MM/dd/HH}/"

#: The Java DateTimeFormatter letters Firehose prefixes use, as strftime directives.
_JAVA_TIME = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_EXPRESSION = re.compile(r"!\{([^}:]*):([^}]*)\}")
_TIME_TOKEN = re.compile(r"yyyy|yy|MM|dd|HH|mm|ss|[A-Za-z]")
_RANDOM_ALPHABET = string.ascii_letters + string.digits


def _bad(message: str) -> ApiError:
    return ApiError("InvalidArgumentException", message)


def _java_time_format(pattern: str) -> str:
    """A ``!{timestamp:…}`` pattern (``yyyy-MM-dd``) as a strftime format.

    Raises
    ------
    ApiError
        A letter Firehose's prefixes do not support here.
    """

    def convert(match: re.Match[str]) -> str:
        token = match.group(0)
        if token not in _JAVA_TIME:
            raise _bad(f"unsupported pattern letter {token!r} in !{{timestamp:{pattern}}}")
        return _JAVA_TIME[token]

    return _TIME_TOKEN.sub(convert, pattern.replace("%", "%%"))


def check_prefix(prefix: str, *, error_prefix: bool) -> None:
    """Refuse a prefix Firehose would refuse, or one with expressions this stand-in cannot evaluate.

    Raises
    ------
    ApiError
        ``InvalidArgumentException`` saying what is wrong.
    """
    if len(prefix) > 1024:
        raise _bad("prefix must be at most 1024 characters")
    found = _EXPRESSION.findall(prefix)
    if "!{" in _EXPRESSION.sub("", prefix):
        raise _bad(f"malformed expression in prefix {prefix!r}")
    for namespace, value in found:
        if namespace == "timestamp":
            _java_time_format(value)
        elif namespace == "firehose" and value == "random-string":
            continue
        elif namespace == "firehose" and value == "error-output-type":
            if not error_prefix:
                raise _bad("!{firehose:error-output-type} may only be used in ErrorOutputPrefix")
        else:
            raise _bad(
                f"unsupported expression !{{{namespace}:{value}}} (dynamic partitioning is not supported)"
            )
    if error_prefix and found and not any(v == "error-output-type" for _, v in found):
        raise _bad("ErrorOutputPrefix with expressions must include !{firehose:error-output-type}")


def evaluate_prefix(prefix: str, when: datetime, error_output_type: str | None = None) -> str:
    """The prefix with its ``!{timestamp:…}`` and ``!{firehose:…}`` expressions evaluated at ``when``."""

    def expand(match: re.Match[str]) -> str:
        namespace, value = match.groups()
        if namespace == "timestamp":
            return when.astimezone(UTC).strftime(_java_time_format(value))
        if value == "random-string":
            return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(11))
        return error_output_type or ""

    return _EXPRESSION.sub(expand, prefix)


def object_key(prefix: str | None, stream: str, when: datetime, version: int = 1) -> str:
    """Where Firehose writes a batch whose oldest record arrived at ``when``."""
    evaluated = evaluate_prefix(prefix if prefix else DEFAULT_PREFIX, when)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{evaluated}{stream}-{version}-{stamp}-{uuid.uuid4()}"


@dataclass
class _Stream:
    name: str
    arn: str
    created: datetime
    destination: dict[str, Any]  # ExtendedS3DestinationDescription
    version: int = 1
    buffer: list[bytes] = field(default_factory=list)
    buffered_bytes: int = 0
    oldest: float | None = None  # arrival (epoch seconds) of the oldest buffered record

    @property
    def bucket(self) -> str:
        return str(self.destination["BucketARN"]).removeprefix("arn:aws:s3:::")

    @property
    def size_limit(self) -> int:
        return int(self.destination["BufferingHints"]["SizeInMBs"]) * 1024 * 1024

    @property
    def interval(self) -> float:
        return float(self.destination["BufferingHints"]["IntervalInSeconds"])


@dataclass(frozen=True)
class Delivered:
    """One object written: for tests and the benchmark."""

    stream: str
    bucket: str
    key: str
    records: int
    size: int


class FirehoseStandIn(JsonApiServer):
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager).

    ``s3`` makes the boto3 S3 client objects are written with (called once, lazily, so the
    stand-in may start before the S3 endpoint is configured). ``clock`` is the arrival clock
    (epoch seconds), replaceable in tests.
    """

    service = "firehose"
    target_prefix = "Firehose_20150804"
    invalid_request_code = "InvalidArgumentException"

    def __init__(
        self,
        s3: Callable[[], Any],
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        self.region, self.account_id = region, account_id
        self._s3_factory = s3
        self._s3: Any = None
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._delivering = threading.Lock()  # one delivery at a time: flush() waits for it
        self._streams: dict[str, _Stream] = {}
        self._failures: list[tuple[str, str]] = []  # injected per-record failures, next first
        self._stopping = threading.Event()
        self._deliverer: threading.Thread | None = None
        self._retry_after: dict[str, float] = {}
        self.delivered: list[Delivered] = []

    # lifecycle

    def start(self) -> None:
        """Serve on a background thread, and start the thread that delivers full or old buffers."""
        super().start()
        self._stopping.clear()
        self._deliverer = threading.Thread(target=self._deliver_loop, name="firehose-delivery", daemon=True)
        self._deliverer.start()

    def stop(self, flush: bool = True) -> None:
        """Stop serving; with ``flush`` (the default) deliver every buffered record first."""
        self.stop_serving()
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._deliverer is not None:
            self._deliverer.join()
            self._deliverer = None
        if flush:
            try:
                self.flush()
            except Exception:  # stopping must go on (the stack checkpoints next); say what was lost
                with self._lock:
                    lost = sum(len(s.buffer) for s in self._streams.values())
                logger.exception("Firehose stand-in: %d buffered record(s) could not be delivered", lost)

    def __enter__(self) -> FirehoseStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self, stream: str | None = None) -> list[Delivered]:
        """Deliver what is buffered now (one object per stream), whatever the buffering hints say;
        returns the objects written. Records buffered before the call are in S3 when it returns.

        Raises
        ------
        Exception
            The S3 write failed (the records stay buffered).
        """
        return self._deliver(lambda s, now: stream is None or s.name == stream, raise_errors=True)

    def inject_failures(
        self, count: int, code: str = "ServiceUnavailableException", message: str = "Slow down."
    ) -> None:
        """Make the next ``count`` records put fail with ``code`` (per record, as when throttled)."""
        with self._lock:
            self._failures.extend([(code, message)] * count)

    # operations

    def operations(self) -> dict[str, Handler]:
        return {
            "CreateDeliveryStream": self._create,
            "DescribeDeliveryStream": self._describe,
            "ListDeliveryStreams": self._list,
            "DeleteDeliveryStream": self._delete,
            "PutRecord": self._put_record,
            "PutRecordBatch": self._put_record_batch,
        }

    def decode(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Record ``Data`` travels base64-encoded; botocore's model (and the limits) are on bytes."""
        records = [params.get("Record")] if operation == "PutRecord" else params.get("Records")
        if isinstance(records, list):
            for index, record in enumerate(records):
                if isinstance(record, dict) and isinstance(record.get("Data"), str):
                    try:
                        record["Data"] = base64.b64decode(record["Data"], validate=True)
                    except (binascii.Error, ValueError) as exc:
                        raise ApiError(
                            "SerializationException", f"record {index}: Data is not base64"
                        ) from exc
        return params

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["DeliveryStreamName"]
        kind = params.get("DeliveryStreamType", "DirectPut")
        if kind != "DirectPut":
            raise _bad(f"DeliveryStreamType {kind} is not supported by the local Firehose stand-in")
        destinations = [k for k in params if k.endswith("DestinationConfiguration")]
        config = params.get("ExtendedS3DestinationConfiguration") or params.get("S3DestinationConfiguration")
        if config is None or len(destinations) != 1:
            raise _bad("the local Firehose stand-in delivers to one ExtendedS3DestinationConfiguration only")
        if not str(config["BucketARN"]).startswith("arn:aws:s3:::"):
            raise _bad(f"BucketARN {config['BucketARN']!r} is not an S3 bucket ARN")
        compression = config.get("CompressionFormat", "UNCOMPRESSED")
        if compression != "UNCOMPRESSED":
            raise _bad(f"CompressionFormat {compression} is not supported by the local Firehose stand-in")
        prefix, error_prefix = config.get("Prefix", ""), config.get("ErrorOutputPrefix", "")
        check_prefix(prefix, error_prefix=False)
        check_prefix(error_prefix, error_prefix=True)
        if _EXPRESSION.search(prefix) and not error_prefix:
            raise _bad("ErrorOutputPrefix cannot be null or empty when Prefix contains expressions")
        hints = {"SizeInMBs": DEFAULT_SIZE_MB, "IntervalInSeconds": DEFAULT_INTERVAL_SECONDS}
        hints.update(config.get("BufferingHints") or {})
        if not 1 <= hints["SizeInMBs"] <= 128:
            raise _bad("BufferingHints.SizeInMBs must be between 1 and 128")
        if not 0 <= hints["IntervalInSeconds"] <= 900:
            raise _bad("BufferingHints.IntervalInSeconds must be between 0 and 900")
        destination = {
            "RoleARN": config.get("RoleARN", f"arn:aws:iam::{self.account_id}:role/firehose"),
            "BucketARN": config["BucketARN"],
            "Prefix": prefix,
            "ErrorOutputPrefix": error_prefix,
            "BufferingHints": hints,
            "CompressionFormat": "UNCOMPRESSED",
            "EncryptionConfiguration": config.get(
                "EncryptionConfiguration", {"NoEncryptionConfig": "NoEncryption"}
            ),
            "CloudWatchLoggingOptions": config.get("CloudWatchLoggingOptions", {"Enabled": False}),
            "S3BackupMode": config.get("S3BackupMode", "Disabled"),
        }
        arn = f"arn:aws:firehose:{self.region}:{self.account_id}:deliverystream/{name}"
        with self._lock:
            if name in self._streams:
                raise ApiError(
                    "ResourceInUseException",
                    f"Firehose {name} under accountId {self.account_id} already exists",
                )
            self._streams[name] = _Stream(name, arn, datetime.now(UTC), destination)
        return {"DeliveryStreamARN": arn}

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            raise ApiError(
                "ResourceNotFoundException", f"Firehose {name} under account {self.account_id} not found."
            )
        return stream

    def _describe(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            stream = self._stream(params["DeliveryStreamName"])
            return {
                "DeliveryStreamDescription": {
                    "DeliveryStreamName": stream.name,
                    "DeliveryStreamARN": stream.arn,
                    "DeliveryStreamStatus": "ACTIVE",
                    "DeliveryStreamType": "DirectPut",
                    "VersionId": str(stream.version),
                    "CreateTimestamp": stream.created,
                    "Destinations": [
                        {
                            "DestinationId": "destinationId-000000000001",
                            "ExtendedS3DestinationDescription": dict(stream.destination),
                            "S3DestinationDescription": {
                                k: v for k, v in stream.destination.items() if k != "S3BackupMode"
                            },
                        }
                    ],
                    "HasMoreDestinations": False,
                }
            }

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("Limit", 10))
        after = params.get("ExclusiveStartDeliveryStreamName")
        kind = params.get("DeliveryStreamType")
        with self._lock:
            names = sorted(
                n for n in self._streams if (after is None or n > after) and kind in (None, "DirectPut")
            )
        return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    def _delete(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["DeliveryStreamName"]
        with self._lock:
            self._stream(name)
        self.flush(name)
        with self._lock:
            self._streams.pop(name, None)
        return {}

    def _put_record(self, params: dict[str, Any]) -> dict[str, Any]:
        data: bytes = params["Record"]["Data"]
        if len(data) > MAX_RECORD_BYTES:
            raise ApiError("ValidationException", _too_long("record.data", data, MAX_RECORD_BYTES))
        with self._wake:
            stream = self._stream(params["DeliveryStreamName"])
            if self._failures:
                code, message = self._failures.pop(0)
                raise ApiError(code, message)
            self._buffer(stream, [data])
        return {"RecordId": _record_id(), "Encrypted": False}

    def _put_record_batch(self, params: dict[str, Any]) -> dict[str, Any]:
        records: list[bytes] = [r["Data"] for r in params["Records"]]
        if len(records) > MAX_BATCH_RECORDS:
            raise ApiError(
                "ValidationException",
                "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_BATCH_RECORDS}",
            )
        too_long = [
            _too_long(f"records.{i + 1}.member.data", r, MAX_RECORD_BYTES)
            for i, r in enumerate(records)
            if len(r) > MAX_RECORD_BYTES
        ]
        if too_long:
            raise ApiError(
                "ValidationException", f"{len(too_long)} validation errors detected: " + "; ".join(too_long)
            )
        if sum(len(r) for r in records) > MAX_BATCH_BYTES:
            raise _bad("Records size exceeds 4 MB limit")
        responses: list[dict[str, str]] = []
        accepted: list[bytes] = []
        with self._wake:
            stream = self._stream(params["DeliveryStreamName"])
            for record in records:
                if self._failures:
                    code, message = self._failures.pop(0)
                    responses.append({"ErrorCode": code, "ErrorMessage": message})
                else:
                    accepted.append(record)
                    responses.append({"RecordId": _record_id()})
            self._buffer(stream, accepted)
        return {
            "FailedPutCount": len(records) - len(accepted),
            "Encrypted": False,
            "RequestResponses": responses,
        }

    # buffering and delivery

    def _buffer(self, stream: _Stream, records: list[bytes]) -> None:
        """Under the lock: add records arriving now; wake the delivery thread if the buffer is full."""
        if not records:
            return
        if stream.oldest is None:
            stream.oldest = self._clock()
        stream.buffer.extend(records)
        stream.buffered_bytes += sum(len(r) for r in records)
        if stream.buffered_bytes >= stream.size_limit:
            self._wake.notify_all()

    def _due(self, stream: _Stream, now: float) -> bool:
        if stream.oldest is None or now < self._retry_after.get(stream.name, 0.0):
            return False
        return stream.buffered_bytes >= stream.size_limit or now - stream.oldest >= stream.interval

    def _deliver_loop(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                self._wake.wait(TICK_SECONDS)
            try:
                self._deliver(self._due, raise_errors=False)
            except Exception:  # never let the thread die; the failure is logged in _deliver
                logger.exception("Firehose stand-in: delivery loop failed")

    def _deliver(self, which: Callable[[_Stream, float], bool], *, raise_errors: bool) -> list[Delivered]:
        written: list[Delivered] = []
        with self._delivering:
            with self._lock:
                now = self._clock()
                batches = []
                for stream in self._streams.values():
                    if stream.buffer and which(stream, now):
                        batches.append((stream, stream.buffer, stream.buffered_bytes, stream.oldest))
                        stream.buffer, stream.buffered_bytes, stream.oldest = [], 0, None
            for stream, records, size, oldest in batches:
                assert oldest is not None
                when = datetime.fromtimestamp(oldest, UTC)
                key = object_key(stream.destination["Prefix"], stream.name, when, stream.version)
                try:
                    self._client().put_object(Bucket=stream.bucket, Key=key, Body=b"".join(records))
                except Exception:
                    logger.exception(
                        "Firehose stand-in: could not write s3://%s/%s; retrying", stream.bucket, key
                    )
                    with self._lock:  # back in front of what arrived meanwhile, oldest arrival kept
                        stream.buffer[:0] = records
                        stream.buffered_bytes += size
                        stream.oldest = oldest
                        self._retry_after[stream.name] = self._clock() + RETRY_SECONDS
                    if raise_errors:
                        raise
                    continue
                delivered = Delivered(stream.name, stream.bucket, key, len(records), size)
                written.append(delivered)
                with self._lock:
                    self._retry_after.pop(stream.name, None)
                    self.delivered.append(delivered)
        return written

    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3


def _record_id() -> str:
    """Firehose's record ids are long opaque strings; only their uniqueness matters."""
    return base64.b64encode(secrets.token_bytes(42)).decode()


def _too_long(path: str, data: bytes, limit: int) -> str:
    return (
        f"Value 'java.nio.HeapByteBuffer[pos=0 lim={len(data)} cap={len(data)}]' at '{path}' failed to "
        f"satisfy constraint: Member must have length less than or equal to {limit}"
    )
