"""The local Firehose, driven through boto3's real ``firehose`` client, delivering to moto's S3;
and the product's FirehoseEventSink against it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.adapters.analytics import FirehoseEventSink
from chalicelib.domain.errors import StorageError
from devstack.firehose import FirehoseStandIn, evaluate_prefix, object_key

BUCKET = "events-test"
STREAM = "tailorcast-test-events"
PREFIX = "events/dt=!{timestamp:yyyy-MM-dd}/"
ERRORS = "events-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
KEY = re.compile(
    rf"events/dt=(\d{{4}}-\d\d-\d\d)/{STREAM}-1-(\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d)-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


class Clock:
    def __init__(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-11-20T23:59:58")


@pytest.fixture
def standin(s3: Any, clock: Clock) -> Iterator[FirehoseStandIn]:
    with FirehoseStandIn(lambda: boto3.client("s3"), clock=clock) as running:
        yield running


@pytest.fixture
def firehose(standin: FirehoseStandIn) -> Any:
    client: Any = boto3.client("firehose", endpoint_url=standin.url)
    return client


def create(firehose: Any, size_mb: int = 5, interval: int = 300, **extra: Any) -> None:
    config = {
        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
        "BucketARN": f"arn:aws:s3:::{BUCKET}",
        "Prefix": PREFIX,
        "ErrorOutputPrefix": ERRORS,
        "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval},
        "CompressionFormat": "UNCOMPRESSED",
        **extra,
    }
    firehose.create_delivery_stream(
        DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut", ExtendedS3DestinationConfiguration=config
    )


def objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def records(*lines: str) -> list[Any]:
    return [{"Data": line.encode()} for line in lines]


def test_a_batch_is_one_object_keyed_by_its_oldest_records_arrival(
    firehose: Any, standin: FirehoseStandIn, s3: Any, clock: Clock
) -> None:
    create(firehose)
    # GIVEN records arriving either side of midnight (UTC), inside one buffering interval
    first = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=records('{"a":1}\n', '{"a":2}\n'))
    clock.now += 3
    firehose.put_record(DeliveryStreamName=STREAM, Record={"Data": b'{"a":3}\n'})
    assert first["FailedPutCount"] == 0 and all(r["RecordId"] for r in first["RequestResponses"])
    assert objects(s3) == {}  # buffered: neither 5 MiB nor 300 s yet
    # WHEN the buffer is delivered
    (delivered,) = standin.flush()
    # THEN one object holds them as sent, concatenated, under the oldest arrival's day and time
    (key, body), *_ = objects(s3).items()
    assert body == b'{"a":1}\n{"a":2}\n{"a":3}\n'
    found = KEY.fullmatch(key)
    assert found and found.groups() == ("2026-11-20", "2026-11-20-23-59-58"), key
    assert (delivered.key, delivered.records, delivered.size) == (key, 3, len(body))
    assert standin.flush() == []  # nothing left


def test_the_interval_delivers_without_a_flush(s3: Any) -> None:
    with FirehoseStandIn(lambda: boto3.client("s3")) as standin:
        client: Any = boto3.client("firehose", endpoint_url=standin.url)
        create(client, interval=1)
        client.put_record_batch(DeliveryStreamName=STREAM, Records=records("x\n"))
        deadline = time.monotonic() + 5
        while not objects(s3) and time.monotonic() < deadline:
            time.sleep(0.05)
        (key,) = objects(s3)
        today = datetime.now(UTC).date().isoformat()
        assert key.startswith(f"events/dt={today}/{STREAM}-1-")


def test_the_size_hint_delivers_a_full_buffer(firehose: Any, standin: FirehoseStandIn, s3: Any) -> None:
    create(firehose, size_mb=1)
    line = ("y" * 999 + "\n").encode()
    for _ in range(3):
        firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": line}] * 400)  # 400 KB
    deadline = time.monotonic() + 5
    while not objects(s3) and time.monotonic() < deadline:
        time.sleep(0.05)
    (body,) = objects(s3).values()
    assert len(body) == 1_200_000  # the put that crossed 1 MiB triggered delivery of all three


def test_limits_are_firehoses(firehose: Any) -> None:
    create(firehose)
    with pytest.raises(ClientError) as too_many:
        firehose.put_record_batch(DeliveryStreamName=STREAM, Records=records(*["r"] * 501))
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    big = b"z" * (1_000 * 1024 + 1)
    with pytest.raises(ClientError) as too_big:
        firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": b"ok"}, {"Data": big}])
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    assert "records.2.member.data" in too_big.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as too_big_one:
        firehose.put_record(DeliveryStreamName=STREAM, Record={"Data": big})
    assert too_big_one.value.response["Error"]["Code"] == "ValidationException"
    just_under = b"z" * (1_000 * 1024)
    with pytest.raises(ClientError) as over_4mib:
        firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": just_under}] * 5)
    assert over_4mib.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "4 MB" in over_4mib.value.response["Error"]["Message"]
    ok = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": just_under}] * 4)
    assert ok["FailedPutCount"] == 0


def test_failed_records_are_reported_one_by_one(firehose: Any, standin: FirehoseStandIn, s3: Any) -> None:
    create(firehose)
    standin.inject_failures(2)
    answer = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=records("1\n", "2\n", "3\n"))
    assert answer["FailedPutCount"] == 2
    codes = [r.get("ErrorCode") for r in answer["RequestResponses"]]
    assert codes == ["ServiceUnavailableException", "ServiceUnavailableException", None]
    standin.flush()
    assert list(objects(s3).values()) == [b"3\n"]


def test_streams_are_described_listed_and_deleted(firehose: Any, standin: FirehoseStandIn, s3: Any) -> None:
    create(firehose, size_mb=2, interval=60)
    described = firehose.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    assert described["DeliveryStreamStatus"] == "ACTIVE"
    destination = described["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["Prefix"] == PREFIX and destination["ErrorOutputPrefix"] == ERRORS
    assert destination["BufferingHints"] == {"SizeInMBs": 2, "IntervalInSeconds": 60}
    assert firehose.list_delivery_streams()["DeliveryStreamNames"] == [STREAM]
    with pytest.raises(ClientError) as again:
        create(firehose)
    assert again.value.response["Error"]["Code"] == "ResourceInUseException"
    firehose.put_record(DeliveryStreamName=STREAM, Record={"Data": b"last\n"})
    firehose.delete_delivery_stream(DeliveryStreamName=STREAM)
    assert list(objects(s3).values()) == [b"last\n"]  # delivered before the stream went away
    with pytest.raises(ClientError) as gone:
        firehose.put_record(DeliveryStreamName=STREAM, Record={"Data": b"x"})
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("prefix", "errors", "problem"),
    [
        (PREFIX, "", "cannot be null or empty"),
        (PREFIX, "errors/dt=!{timestamp:yyyy}/", "error-output-type"),
        ("events/!{partitionKeyFromQuery:customer}/", ERRORS, "dynamic partitioning"),
        ("events/!{timestamp:yyyy-QQ}/", ERRORS, "pattern letter"),
        ("events/!{firehose:error-output-type}/", ERRORS, "ErrorOutputPrefix"),
    ],
)
def test_prefixes_firehose_would_refuse_are_refused(
    firehose: Any, prefix: str, errors: str, problem: str
) -> None:
    with pytest.raises(ClientError) as refused:
        create(firehose, Prefix=prefix, ErrorOutputPrefix=errors)
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert problem in refused.value.response["Error"]["Message"]


def test_prefix_expressions() -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert evaluate_prefix("a/!{timestamp:yyyy/MM/dd/HH/mm/ss}/yy=!{timestamp:yy}/", when) == (
        "a/2026/03/04/05/06/07/yy=26/"
    )
    assert len(evaluate_prefix("!{firehose:random-string}", when)) == 11
    assert object_key(None, "s", when).startswith("2026/03/04/05/s-1-2026-03-04-05-06-07-")  # the default


def test_concurrent_producers_lose_and_duplicate_nothing(
    firehose: Any, standin: FirehoseStandIn, s3: Any
) -> None:
    create(firehose)

    def produce(worker: int) -> None:
        client: Any = boto3.client("firehose", endpoint_url=standin.url)
        for batch in range(5):
            lines = [f"{worker}-{batch}-{i}\n" for i in range(40)]
            client.put_record_batch(DeliveryStreamName=STREAM, Records=records(*lines))
            if batch == 2:
                standin.flush()  # deliveries racing the puts

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    standin.flush()
    lines = b"".join(objects(s3).values()).decode().splitlines()
    assert sorted(lines) == sorted(f"{w}-{b}-{i}" for w in range(6) for b in range(5) for i in range(40))


# --------------------------------------------------------------------------- the product's sink


def event(i: int, padding: int = 0) -> dict[str, Any]:
    return {"event_id": f"ev_{i}", "type": "heartbeat", "ts": 1_795_000_000_000 + i, "pad": "p" * padding}


def test_the_sink_sends_json_lines_in_chunks_within_the_limits(
    firehose: Any, standin: FirehoseStandIn, s3: Any
) -> None:
    create(firehose)
    calls: list[int] = []
    real = firehose.put_record_batch

    def counting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Records"]))
        return real(**kwargs)

    firehose.put_record_batch = counting
    sink = FirehoseEventSink(firehose, STREAM)
    sink.put([event(i) for i in range(1_100)])
    sink.put([event(2_000 + i, padding=600_000) for i in range(8)])  # ~4.8 MB: over 4 MiB in one call
    assert calls == [500, 500, 100, 6, 2]
    standin.flush()
    lines = b"".join(objects(s3).values()).decode().splitlines()
    assert len(lines) == 1_108
    assert json.loads(lines[0]) == event(0)


def test_the_sink_retries_only_the_failed_records(firehose: Any, standin: FirehoseStandIn, s3: Any) -> None:
    create(firehose)
    standin.inject_failures(3)
    sent: list[list[bytes]] = []
    real = firehose.put_record_batch

    def recording(**kwargs: Any) -> Any:
        sent.append([r["Data"] for r in kwargs["Records"]])
        return real(**kwargs)

    firehose.put_record_batch = recording
    FirehoseEventSink(firehose, STREAM, sleep=lambda _: None).put([event(i) for i in range(10)])
    assert [len(batch) for batch in sent] == [10, 3]
    assert sent[1] == sent[0][:3]
    standin.flush()
    lines = b"".join(objects(s3).values()).decode().splitlines()
    assert sorted(json.loads(line)["event_id"] for line in lines) == sorted(f"ev_{i}" for i in range(10))


def test_the_sink_gives_up_with_a_storage_error(firehose: Any, standin: FirehoseStandIn) -> None:
    create(firehose)
    standin.inject_failures(100)
    sink = FirehoseEventSink(firehose, STREAM, attempts=3, sleep=lambda _: None)
    with pytest.raises(StorageError, match="10 engagement event"):
        sink.put([event(i) for i in range(10)])
    with pytest.raises(StorageError, match="record limit"):
        sink.put([event(1, padding=1_100_000)])
    with pytest.raises(StorageError, match="encoded"):
        sink.put([{"ts": float("nan")}])
    with pytest.raises(StorageError, match="refused"):
        FirehoseEventSink(firehose, "no-such-stream").put([event(1)])
