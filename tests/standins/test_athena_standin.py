"""The local Athena, driven through boto3's real ``athena`` client over moto's S3 and Glue.

(The analytics queries themselves run against it in ``test_analytics_sql.py``: the contract.)
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.adapters.analytics_schema import glue_table_input
from devstack import athena
from devstack.athena import AthenaStandIn

BUCKET = "analytics-test"
DB = "analytics"
OUTPUT = f"s3://{BUCKET}/athena-results/"


class World:
    def __init__(self, tmp: Path, change_feed: bool = False) -> None:
        self.s3: Any = boto3.client("s3")
        self.gets = 0
        self.tmp = tmp
        self.change_feed = change_feed
        self.standin = self._standin()
        self.client: Any = boto3.client("athena", endpoint_url=self.standin.url)
        self.n = 0

    def _standin(self) -> AthenaStandIn:
        def s3_factory() -> Any:
            client: Any = boto3.client("s3")
            real = client.get_object

            def counting(**kwargs: Any) -> Any:
                self.gets += 1
                return real(**kwargs)

            client.get_object = counting
            return client

        standin = AthenaStandIn(
            s3_factory, lambda: boto3.client("glue"), self.tmp / "cache", change_feed=self.change_feed
        )
        standin.start()
        return standin

    def restart(self) -> None:
        self.standin.stop()
        self.standin = self._standin()
        self.client = boto3.client("athena", endpoint_url=self.standin.url)
        self.workgroup()

    def workgroup(self) -> None:
        self.client.create_work_group(
            Name="wg", Configuration={"ResultConfiguration": {"OutputLocation": OUTPUT}}
        )

    def put(self, day: str, *events: dict[str, Any], key: str | None = None) -> str:
        self.n += 1
        key = key or f"events/dt={day}/stream-1-{day}-10-00-00-{self.n:08d}"
        body = "".join(json.dumps(e) + "\n" for e in events).encode()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        if self.change_feed:
            self.standin.object_changed(BUCKET, key)
        return key

    def start(self, sql: str, *params: str) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": DB},
            "WorkGroup": "wg",
        }
        if params:
            kwargs["ExecutionParameters"] = list(params)
        query_id: str = self.client.start_query_execution(**kwargs)["QueryExecutionId"]
        return query_id

    def status(self, query_id: str) -> dict[str, Any]:
        self.standin.wait(query_id, 30)
        status: dict[str, Any] = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        return status

    def rows(self, sql: str, *params: str) -> list[list[str | None]]:
        query_id = self.start(sql, *params)
        state = self.status(query_id)["Status"]
        assert state["State"] == "SUCCEEDED", state
        out: list[list[str | None]] = []
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            out.extend([c.get("VarCharValue") for c in row["Data"]] for row in page["ResultSet"]["Rows"])
        return out[1:]

    def partition_files(self, day: str) -> list[Path]:
        return sorted(self.tmp.glob(f"cache/*/data/dt={day}/*.parquet"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        glue: Any = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": DB})
        glue.create_table(DatabaseName=DB, TableInput=glue_table_input(BUCKET, "events"))
        w = World(tmp_path)
        w.workgroup()
        try:
            yield w
        finally:
            w.standin.stop()


def ev(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "type": "play",
        "ts": 1_795_000_000_000 + i,
        "account_id": "a",
        "bot": False,
    } | fields


def test_a_query_runs_in_the_background_with_athenas_states_results_and_csv(world: World) -> None:
    world.put(
        "2026-11-20", ev(1, ranges=[[0.5, 2.0]], quartile=25), ev(2, bot=True, bot_reason="head_request")
    )
    query_id = world.start(
        "SELECT event_id, bot, quartile, ranges, position, dt, 1e-4 AS tiny, 2.5e0 AS d FROM events "
        "WHERE account_id = ? ORDER BY event_id",
        "'a'",
    )
    execution = world.status(query_id)
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{OUTPUT}{query_id}.csv"
    assert execution["ExecutionParameters"] == ["'a'"]
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    assert execution["QueryExecutionContext"]["Database"] == DB
    page = world.client.get_query_results(QueryExecutionId=query_id)["ResultSet"]
    columns = page["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("event_id", "varchar"),
        ("bot", "boolean"),
        ("quartile", "integer"),
        ("ranges", "array"),
        ("position", "double"),
        ("dt", "varchar"),
        ("tiny", "double"),
        ("d", "double"),
    ]
    rows = page["Rows"]
    assert [c["VarCharValue"] for c in rows[0]["Data"]] == [c["Name"] for c in columns]  # the header row
    assert rows[1]["Data"] == [
        {"VarCharValue": "e1"},
        {"VarCharValue": "false"},
        {"VarCharValue": "25"},
        {"VarCharValue": "[[0.5, 2.0]]"},
        {},  # NULL: no VarCharValue at all
        {"VarCharValue": "2026-11-20"},
        {"VarCharValue": "1.0E-4"},
        {"VarCharValue": "2.5"},
    ]
    csv = world.s3.get_object(Bucket=BUCKET, Key=f"athena-results/{query_id}.csv")["Body"].read().decode()
    assert csv.splitlines()[0] == '"event_id","bot","quartile","ranges","position","dt","tiny","d"'
    assert csv.splitlines()[1] == '"e1","false","25","[[0.5, 2.0]]",,"2026-11-20","1.0E-4","2.5"'


def test_results_are_paginated_with_the_header_on_the_first_page(world: World) -> None:
    world.put("2026-11-20", *(ev(i) for i in range(5)))
    query_id = world.start("SELECT event_id FROM events ORDER BY event_id")
    world.status(query_id)
    first = world.client.get_query_results(QueryExecutionId=query_id, MaxResults=4)
    second = world.client.get_query_results(
        QueryExecutionId=query_id, MaxResults=4, NextToken=first["NextToken"]
    )
    values = [r["Data"][0]["VarCharValue"] for page in (first, second) for r in page["ResultSet"]["Rows"]]
    assert values == ["event_id", "e0", "e1", "e2", "e3", "e4"]
    assert "NextToken" not in second


def test_new_changed_and_deleted_objects_are_seen_and_files_merged(world: World) -> None:
    count = "SELECT count(*), sum(ts - 1795000000000) FROM events"
    key = world.put("2026-11-20", ev(1))
    assert world.rows(count) == [["1", "1"]]
    for i in range(2, 12):  # one object per query: more files than MAX_SEGMENTS in the partition
        world.put("2026-11-20", ev(i))
        assert world.rows(count) == [[str(i), str(sum(range(1, i + 1)))]]
    assert len(world.partition_files("2026-11-20")) <= athena.MAX_SEGMENTS
    world.put("2026-11-20", ev(100), ev(101), key=key)  # the first object rewritten: e1 -> e100, e101
    assert world.rows(count) == [["12", str(sum(range(2, 12)) + 201)]]
    world.s3.delete_object(Bucket=BUCKET, Key=key)
    assert world.rows(count) == [["10", str(sum(range(2, 12)))]]


def test_the_cache_survives_a_restart_and_downloads_only_what_is_new(world: World) -> None:
    for day in ("2026-11-19", "2026-11-20"):
        world.put(day, ev(1), ev(2))
    assert world.rows("SELECT count(*) FROM events") == [["4"]]
    assert world.gets == 2
    world.rows("SELECT count(*) FROM events")
    assert world.gets == 2  # nothing new: nothing downloaded
    world.restart()
    world.put("2026-11-21", ev(3))
    assert world.rows("SELECT count(*) FROM events") == [["5"]]
    assert world.gets == 3


def test_with_a_change_feed_the_location_is_listed_once(tmp_path: Path) -> None:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        glue: Any = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": DB})
        glue.create_table(DatabaseName=DB, TableInput=glue_table_input(BUCKET, "events"))
        w = World(tmp_path, change_feed=True)
        try:
            w.workgroup()
            w.put("2026-11-20", ev(1))
            assert w.rows("SELECT count(*) FROM events") == [["1"]]
            listings: list[str] = []
            real = w.s3.get_paginator

            def listing(name: str) -> Any:
                listings.append(name)
                return real(name)

            w.standin._clients["s3"].get_paginator = listing
            w.put("2026-11-20", ev(2))  # reported by the feed (World.put)
            assert w.rows("SELECT count(*) FROM events") == [["2"]]
            w.s3.put_object(Bucket=BUCKET, Key="events/dt=2026-11-20/unreported", Body=b"{}\n")
            assert w.rows("SELECT count(*) FROM events") == [["2"]]  # the owner broke the promise
            w.standin.object_changed(BUCKET, None)  # "something changed": list again
            assert w.rows("SELECT count(*) FROM events") == [["3"]]
            assert listings == ["list_objects_v2"]
        finally:
            w.standin.stop()


def test_dt_prunes_files_and_projection_hides_days_outside_its_range(world: World) -> None:
    world.put("2026-11-19", ev(1))
    world.put("2026-11-20", ev(2))
    world.put("2025-12-31", ev(3))  # before projection.dt.range's start (2026-01-01)
    world.put("2099-01-01", ev(4))  # after NOW
    assert world.rows("SELECT count(*) FROM events") == [["2"]]
    # A query on the 20th never opens the 19th's file: break that file and the query still runs.
    (broken,) = world.partition_files("2026-11-19")
    broken.write_bytes(b"not parquet")
    sql = "SELECT event_id FROM events WHERE dt BETWEEN ? AND ?"
    assert world.rows(sql, "'2026-11-20'", "'2026-11-30'") == [["e2"]]
    failed = world.status(world.start("SELECT count(*) FROM events"))["Status"]
    assert failed["State"] == "FAILED"


def test_hive_json_serde_semantics(world: World) -> None:
    world.s3.put_object(
        Bucket=BUCKET,
        Key="events/dt=2026-11-20/odd",
        Body=b'{"event_id": "e1", "type": "play", "unknown": 1}\nnot json\n{"event_id": "e2", "ts": "soon"}\n',
    )
    world.s3.put_object(Bucket=BUCKET, Key="events/dt=2026-11-20/empty", Body=b"")
    world.s3.put_object(Bucket=BUCKET, Key="events/not-a-partition", Body=b'{"event_id": "x"}\n')
    rows = world.rows("SELECT event_id, type, ts FROM events ORDER BY event_id NULLS LAST")
    assert rows == [["e1", "play", None], ["e2", None, None], [None, None, None]]


@pytest.mark.parametrize(
    ("sql", "params", "kind"),
    [
        ("SELEC 1", (), "SYNTAX_ERROR"),
        ("SELECT 1; SELECT 2", (), "SYNTAX_ERROR"),
        ("DROP TABLE events", (), "NOT_SUPPORTED"),
        ("INSERT INTO events (event_id) VALUES ('x')", (), "NOT_SUPPORTED"),
        ("SELECT * FROM nothing_here", (), "TABLE_NOT_FOUND"),
        ("SELECT * FROM other.events", (), "TABLE_NOT_FOUND"),
        ("SELECT ?", (), "INVALID_PARAMETER_USAGE"),
        ("SELECT ? AS a", ("'a' OR 'b'",), "INVALID_PARAMETER_USAGE"),
        ("SELECT * FROM read_csv('/etc/passwd')", (), ""),
        ("SELECT no_such_column FROM events", (), "COLUMN_NOT_FOUND"),
    ],
)
def test_failures_are_reported_as_athena_reports_them(
    world: World, sql: str, params: tuple[str, ...], kind: str
) -> None:
    world.put("2026-11-20", ev(1))
    query_id = world.start(sql, *params)
    status = world.status(query_id)["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(kind)
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    with pytest.raises(ClientError, match="Final query state: FAILED"):
        world.client.get_query_results(QueryExecutionId=query_id)


def test_a_running_query_can_be_stopped(world: World) -> None:
    slow = (
        "SELECT count(*) FROM UNNEST(sequence(1, 20000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 20000)) AS b(y) "
        "WHERE x * y = -1"
    )
    query_id = world.start(slow)
    deadline = time.monotonic() + 10
    while (
        world.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
        != "RUNNING"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(ClientError, match="not yet finished"):
        world.client.get_query_results(QueryExecutionId=query_id)
    world.client.stop_query_execution(QueryExecutionId=query_id)
    assert world.standin.wait(query_id, 10) == "CANCELLED"
    assert world.status(query_id)["Status"]["StateChangeReason"] == "Query was cancelled by user"


def test_workgroups_output_locations_and_idempotent_starts(world: World) -> None:
    group = world.client.get_work_group(WorkGroup="wg")["WorkGroup"]
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == OUTPUT
    with pytest.raises(ClientError, match="already created"):
        world.workgroup()
    with pytest.raises(ClientError, match="is not found"):
        world.client.start_query_execution(QueryString="SELECT 1", WorkGroup="nope")
    with pytest.raises(ClientError, match="No output location"):
        world.client.start_query_execution(QueryString="SELECT 1")  # primary has none
    own = f"s3://{BUCKET}/mine/"
    query_id = world.client.start_query_execution(
        QueryString="SELECT 1 AS one", ResultConfiguration={"OutputLocation": own}
    )["QueryExecutionId"]
    assert world.status(query_id)["ResultConfiguration"]["OutputLocation"] == f"{own}{query_id}.csv"
    token = {"QueryString": "SELECT 2", "WorkGroup": "wg", "ClientRequestToken": "t" * 32}
    first = world.client.start_query_execution(**token)["QueryExecutionId"]
    assert world.client.start_query_execution(**token)["QueryExecutionId"] == first


def test_java_double_formatting() -> None:
    cases = {
        0.0: "0.0",
        2.5: "2.5",
        100.0: "100.0",
        1e-4: "1.0E-4",
        12345678.0: "1.2345678E7",
        -0.001: "-0.001",
    }
    assert {v: athena.java_double(v) for v in cases} == cases


# --------------------------------------------------------------------------- the product's adapter


def test_the_adapter_pages_through_long_results(world: World) -> None:
    from datetime import date

    from chalicelib.adapters.analytics import AthenaAnalytics

    hour = 3600.0
    heartbeat = ev(1, ts=1_795_000_000_000, campaign_id="c", prospect_id="p", type="heartbeat")
    heartbeat |= {"ranges": [[0.0, hour]], "duration": hour}
    world.put("2026-11-18", heartbeat)
    adapter = AthenaAnalytics(world.client, database=DB, table="events", workgroup="wg")
    answer = adapter.prospect("a", "c", "p", date(2026, 11, 1), date(2026, 11, 21))
    assert answer.heatmap == [1] * 3600  # 3,600 result rows: four pages
    assert answer.watch_seconds == hour


def test_the_adapter_reports_a_failed_query_as_a_storage_error(world: World) -> None:
    from datetime import date

    from chalicelib.adapters.analytics import AthenaAnalytics
    from chalicelib.domain.errors import StorageError

    adapter = AthenaAnalytics(world.client, database=DB, table="no_such_table", workgroup="wg")
    with pytest.raises(StorageError, match="TABLE_NOT_FOUND"):
        adapter.campaign("a", "c", date(2026, 11, 1), date(2026, 11, 21))


def test_the_adapter_stops_a_query_that_takes_too_long() -> None:
    from datetime import date

    from chalicelib.adapters.analytics import AthenaAnalytics
    from chalicelib.domain.errors import StorageError

    class Slow:
        def __init__(self) -> None:
            self.stopped: list[str] = []

        def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
            assert kwargs["ExecutionParameters"][:2] == ["'a'", "'c'"]
            return {"QueryExecutionId": "q1"}

        def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
            return {"QueryExecution": {"Status": {"State": "RUNNING"}}}

        def stop_query_execution(self, QueryExecutionId: str) -> None:
            self.stopped.append(QueryExecutionId)

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = Slow()
    adapter = AthenaAnalytics(
        client,
        database=DB,
        table="events",
        workgroup="wg",
        timeout_seconds=5,
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(StorageError, match="more than 5 s"):
        adapter.campaign("a", "c", date(2026, 11, 1), date(2026, 11, 21))
    assert client.stopped == ["q1"]
    assert slept[0] == 0.02 and max(slept) == 0.5  # short at first, never more than half a second
    assert all(b == min(a * 1.25, 0.5) for a, b in itertools.pairwise(slept))
