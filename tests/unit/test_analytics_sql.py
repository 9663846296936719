"""The analytics SQL (Athena's dialect, written once) on a small hand-made event set.

Every figure below is worked out by hand from :func:`scenario`. The queries run as the Athena
stand-in runs them (bound, translated by sqlglot, executed by DuckDB) through ``FakeAnalytics``;
``test_athena_standin.py`` runs the same scenario through boto3 and the stand-in and checks that
both answer the same.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from chalicelib.adapters.analytics import AthenaAnalytics, athena_parameter
from chalicelib.adapters.analytics_schema import COLUMNS
from chalicelib.domain import analytics
from chalicelib.domain.errors import InvalidInputError
from devstack import athena
from tests.fakes import FakeAnalytics

A, B = "acct_a", "acct_b"
C1, C2 = "camp_1", "camp_2"
SINCE, UNTIL = date(2026, 11, 19), date(2026, 11, 21)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
DURATION = 20.0
BUCKET = "analytics-test"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def ev(kind: str, when: str, prospect: str, session: str | None = None, **fields: Any) -> dict[str, Any]:
    """One event with every column of the contract (NULL unless given)."""
    event: dict[str, Any] = dict.fromkeys(name for name, _ in COLUMNS)
    event.update(
        event_id=f"ev_{kind}_{when}_{prospect}_{session}",
        type=kind,
        ts=ms(when),
        account_id=A,
        campaign_id=C1,
        prospect_id=prospect,
        variant="default",
        session_id=session,
        duration=DURATION,
        user_agent=CHROME,
        ip="203.0.113.0",
        bot=False,
    )
    if fields.get("bot_reason"):
        fields.setdefault("bot", True)
    event.update(fields)
    return event


def scenario() -> list[dict[str, Any]]:
    """Account A, campaign 1 (variants default and b), campaign 2; account B reusing A's ids."""
    d1, d2 = "2026-11-20T10:00:", "2026-11-21T09:00:"
    b = {"variant": "b"}
    return [
        # sent on the 19th (the funnel's first step); no session
        *(ev("sent", "2026-11-19T08:00:00", p, variant=v) for p, v in [("p1", "default"), ("p3", "default")]),
        *(ev("sent", "2026-11-19T08:00:00", p, **b) for p in ("p2", "p4")),
        # p1 (default): GET, view, play, two heartbeats, quartiles 25/50, CTA; a second session
        # with its own GET and play; and a bot heartbeat (impossible timing) that counts nowhere.
        ev("page_request", d1 + "00", "p1", "s1", method="GET"),
        ev("page_view", d1 + "01", "p1", "s1"),
        ev("play", d1 + "02", "p1", "s1", position=0.0),
        ev("heartbeat", d1 + "07", "p1", "s1", position=5.0, ranges=[[0.0, 5.0]], watched=5.0),
        ev("quartile", d1 + "08", "p1", "s1", quartile=25, position=5.0),
        ev("heartbeat", d1 + "12", "p1", "s1", position=10.0, ranges=[[5.0, 10.0]], watched=10.0),
        ev("quartile", d1 + "13", "p1", "s1", quartile=50, position=10.0),
        ev("cta_click", d1 + "14", "p1", "s1"),
        ev("page_request", "2026-11-20T18:00:00", "p1", "s2", method="GET"),
        ev("play", "2026-11-20T18:00:02", "p1", "s2", position=2.5),
        ev("heartbeat", "2026-11-20T18:00:04", "p1", "s2", position=4.0, ranges=[[2.5, 4.0]], watched=1.5),
        ev(
            "heartbeat",
            "2026-11-20T18:00:05",
            "p1",
            "s2",
            ranges=[[0.0, 20.0]],
            bot_reason="impossible_timing",
        ),
        # p2 (b): a scanner's HEAD, then a GET and a page view but no play (get_without_play)
        ev("page_request", d1 + "30", "p2", None, method="HEAD", bot_reason="head_request", **b),
        ev("page_request", d1 + "40", "p2", "s3", method="GET", **b),
        ev("page_view", d1 + "41", "p2", "s3", **b),
        # p3 (default): a "play" seconds after the send (flagged) is no play
        ev("play", "2026-11-19T08:00:05", "p3", "s5", bot_reason="too_soon_after_send"),
        # p4 (b): watches to the end and clicks; the click was received at 23:59:59.5 and reached
        # Firehose after midnight (dt of the 22nd): it belongs to the 21st.
        ev("page_view", d2 + "00", "p4", "s4", **b),
        ev("play", d2 + "01", "p4", "s4", position=0.0, **b),
        ev("heartbeat", d2 + "11", "p4", "s4", position=10.0, ranges=[[0.0, 10.0]], **b),
        *(ev("quartile", d2 + f"{10 + q // 10}", "p4", "s4", quartile=q, **b) for q in (25, 50, 75, 100)),
        ev("ended", d2 + "21", "p4", "s4", position=20.0, ranges=[[10.0, 20.0]], watched=20.0, **b),
        {**ev("cta_click", "2026-11-21T23:59:59.500", "p4", "s4", **b), "dt": "2026-11-22"},
        # outside the window: received just after it ends, though stored in the 21st's partition
        {**ev("play", "2026-11-22T00:00:00.500", "p1", "s6"), "dt": "2026-11-21"},
        ev("page_view", "2026-11-25T10:00:00", "p4", "s7", **b),
        # campaign 2, in October
        ev("sent", "2026-10-30T08:00:00", "q1", campaign_id=C2),
        ev("page_view", "2026-10-31T10:00:00", "q1", "t1", campaign_id=C2),
        ev("play", "2026-10-31T10:00:01", "q1", "t1", campaign_id=C2),
        ev("heartbeat", "2026-10-31T10:00:04", "q1", "t1", ranges=[[0.0, 3.0]], campaign_id=C2),
        # account B, with account A's campaign and prospect ids: never part of A's answers
        *(
            ev(kind, d1 + "50", "p1", "x1", account_id=B, ranges=[[0.0, 20.0]], quartile=100, **b)
            for kind in ("sent", "page_view", "play", "heartbeat", "quartile", "cta_click")
        ),
        ev("page_request", d1 + "51", "p1", None, account_id=B, method="HEAD", bot_reason="head_request"),
    ]


@pytest.fixture(
    params=["fake", pytest.param("athena", marks=pytest.mark.functional)]
)  # moto: functional tier
def fake(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The contract: every answer below comes out the same from the fake (the SQL on DuckDB in
    memory) and from AthenaAnalytics through boto3, the Athena stand-in and moto's S3 and Glue."""
    events = scenario()
    if request.param == "fake":
        yield FakeAnalytics(events)
        return
    with athena_over(events, request.getfixturevalue("tmp_path")) as real:
        yield real


@contextmanager
def athena_over(events: list[dict[str, Any]], tmp: Path) -> Iterator[AthenaAnalytics]:
    """AthenaAnalytics on the Athena stand-in, the events in moto's S3 in Firehose's layout
    (one object per ``dt`` partition), the table in moto's Glue from the cloud's definition."""
    import boto3
    from moto import mock_aws

    from chalicelib.adapters.analytics_schema import ATHENA_RESULTS_PREFIX, glue_table_input

    with mock_aws():
        s3: Any = boto3.client("s3")
        glue: Any = boto3.client("glue")
        s3.create_bucket(Bucket=BUCKET)
        glue.create_database(DatabaseInput={"Name": "analytics"})
        glue.create_table(DatabaseName="analytics", TableInput=glue_table_input(BUCKET, "events"))
        by_day: dict[str, list[str]] = {}
        for event in events:
            day = event.get("dt") or datetime.fromtimestamp(event["ts"] / 1000, UTC).date().isoformat()
            line = json.dumps({k: v for k, v in event.items() if k != "dt"})
            by_day.setdefault(day, []).append(line + "\n")
        for day, lines in by_day.items():
            key = f"events/dt={day}/stream-1-{day}-00-00-00-{uuid.uuid4()}"
            s3.put_object(Bucket=BUCKET, Key=key, Body="".join(lines).encode())
        with athena.AthenaStandIn(
            lambda: boto3.client("s3"), lambda: boto3.client("glue"), tmp / "cache"
        ) as standin:
            client: Any = boto3.client("athena", endpoint_url=standin.url)
            output = f"s3://{BUCKET}/{ATHENA_RESULTS_PREFIX}"
            client.create_work_group(
                Name="wg", Configuration={"ResultConfiguration": {"OutputLocation": output}}
            )
            yield AthenaAnalytics(client, database="analytics", table="events", workgroup="wg")


EXPECTED_CAMPAIGN: dict[str, Any] = {
    "account_id": A,
    "campaign_id": C1,
    "since": "2026-11-19",
    "until": "2026-11-21",
    "funnel": {
        "sent": 4,
        "opened": 3,
        "played": 2,
        "half": 2,
        "completed": 1,
        "cta": 2,
        "completion_rate": 0.5,
        "cta_rate": 0.6667,
    },
    "by_variant": [
        {
            "variant": "b",
            "sent": 2,
            "opened": 2,
            "played": 1,
            "half": 1,
            "completed": 1,
            "cta": 1,
            "completion_rate": 1.0,
            "cta_rate": 0.5,
        },
        {
            "variant": "default",
            "sent": 2,
            "opened": 1,
            "played": 1,
            "half": 1,
            "completed": 0,
            "cta": 1,
            "completion_rate": 0.0,
            "cta_rate": 1.0,
        },
    ],
    "by_day": [
        {"day": "2026-11-19", "opened": 0, "played": 0, "completed": 0, "cta": 0},
        {"day": "2026-11-20", "opened": 2, "played": 1, "completed": 0, "cta": 1},
        {"day": "2026-11-21", "opened": 1, "played": 1, "completed": 1, "cta": 1},
    ],
    "bots": {
        "total": 4,
        "by_reason": {
            "get_without_play": 1,
            "head_request": 1,
            "impossible_timing": 1,
            "too_soon_after_send": 1,
        },
    },
}


def test_campaign_funnel_variants_days_and_bots(fake: Any) -> None:
    answer = fake.campaign(A, C1, SINCE, UNTIL)
    assert answer.model_dump(mode="json") == EXPECTED_CAMPAIGN


def test_prospect_views_watch_time_reach_clicks_and_heatmap(fake: Any) -> None:
    p1 = fake.prospect(A, C1, "p1", SINCE, UNTIL)
    assert p1.first_viewed_at == datetime(2026, 11, 20, 10, 0, 2, tzinfo=UTC)  # the play, not the GET
    assert p1.last_viewed_at == datetime(2026, 11, 20, 18, 0, 4, tzinfo=UTC)  # not the bot heartbeat
    assert p1.plays == 2
    assert p1.watch_seconds == 11.5  # 5 + 5 + 1.5; the bot's 20 s are not watching
    assert p1.max_percent == 50.0  # quartile 50 and position 10 of 20
    assert p1.cta_clicks == 1
    assert p1.duration == DURATION
    # [0,5) and [5,10) once each, [2.5,4) again over seconds 2 and 3; 20 seconds long
    assert p1.heatmap == [1, 1, 2, 2, 1, 1, 1, 1, 1, 1] + [0] * 10
    assert p1.bot_hits.model_dump() == {"total": 1, "by_reason": {"impossible_timing": 1}}

    p4 = fake.prospect(A, C1, "p4", SINCE, UNTIL)
    assert (p4.plays, p4.watch_seconds, p4.max_percent, p4.cta_clicks) == (1, 20.0, 100.0, 1)
    assert p4.heatmap == [1] * 20
    assert p4.last_viewed_at == datetime(2026, 11, 21, 9, 0, 21, tzinfo=UTC)

    p2 = fake.prospect(A, C1, "p2", SINCE, UNTIL)
    assert (p2.first_viewed_at, p2.plays, p2.watch_seconds, p2.max_percent) == (None, 0, 0.0, 0.0)
    assert p2.heatmap == [0] * 20
    assert p2.bot_hits.by_reason == {"get_without_play": 1, "head_request": 1}


def test_prospect_without_events_is_all_zeros(fake: Any) -> None:
    nobody = fake.prospect(A, C1, "p-unknown", SINCE, UNTIL)
    assert (nobody.plays, nobody.heatmap, nobody.duration, nobody.bot_hits.total) == (0, [], None, 0)


def test_account_by_month_and_campaign(fake: Any) -> None:
    answer = fake.account(A, date(2026, 10, 1), UNTIL).model_dump(mode="json")
    november = {"sent": 4, "opened": 3, "plays": 3, "watch_seconds": 31.5, "completed": 1}
    november |= {"cta_clicks": 2, "bot_hits": 4}
    october = {"sent": 1, "opened": 1, "plays": 1, "watch_seconds": 3.0, "completed": 0}
    october |= {"cta_clicks": 0, "bot_hits": 0}
    assert answer["by_month"] == [{"month": "2026-10", **october}, {"month": "2026-11", **november}]
    assert answer["by_campaign"] == [{"campaign_id": C1, **november}, {"campaign_id": C2, **october}]
    assert answer["totals"] == {k: october[k] + november[k] for k in november}


def test_another_accounts_events_never_appear(fake: Any) -> None:
    # Account B's events carry A's campaign and prospect ids, and are all it has.
    b_campaign = fake.campaign(B, C1, SINCE, UNTIL)
    assert b_campaign.funnel.model_dump()["sent"] == 1
    assert b_campaign.bots.by_reason == {"head_request": 1}
    only_a = FakeAnalytics([e for e in scenario() if e["account_id"] == A])
    assert fake.campaign(A, C1, SINCE, UNTIL) == only_a.campaign(A, C1, SINCE, UNTIL)
    assert fake.prospect(A, C1, "p1", SINCE, UNTIL) == only_a.prospect(A, C1, "p1", SINCE, UNTIL)
    assert fake.account(A, SINCE, UNTIL) == only_a.account(A, SINCE, UNTIL)


def test_a_tampered_id_stays_one_string_literal(fake: Any) -> None:
    for hostile in (f"{A}' OR '1'='1", f"{A}' --", f"{A}''; SELECT 1; --", "\\' OR 1=1 --"):
        assert fake.campaign(hostile, C1, SINCE, UNTIL).funnel.sent == 0
        assert fake.account(hostile, SINCE, UNTIL).totals.sent == 0
    bound = athena.bind_parameters("SELECT 1 WHERE a = ?", [athena_parameter("x' OR 'a'='a")])
    assert bound == "SELECT 1 WHERE a = 'x'' OR ''a''=''a'"


@pytest.mark.parametrize(
    "value", ["'a' OR 'b'", "x' OR 'a'='a", "1; DROP TABLE events", "'a'; SELECT 1", "a", "(1)", ""]
)
def test_the_standin_refuses_a_parameter_that_is_not_one_literal(value: str) -> None:
    with pytest.raises(athena.QueryError):
        athena.bind_parameters("SELECT ?", [value])


def test_parameters_bind_in_order_and_skip_question_marks_in_strings() -> None:
    sql = "SELECT ?, '?' AS q -- ?\n, ?, ?, ?"
    bound = athena.bind_parameters(sql, ["'it''s'", "-2.5", "true", "DATE '2026-11-22'"])
    assert bound == "SELECT 'it''s', '?' AS q -- ?\n, -2.5, TRUE, DATE '2026-11-22'"
    with pytest.raises(athena.QueryError, match="2 parameter"):
        athena.bind_parameters("SELECT ?, ?", ["1"])


def _all_queries() -> list[analytics.Query]:
    return [
        *analytics.prospect_queries("events", A, C1, "p1", SINCE, UNTIL),
        analytics.campaign_query("events", A, C1, SINCE, UNTIL),
        analytics.account_query("events", A, SINCE, UNTIL),
    ]


@pytest.mark.parametrize("query", _all_queries(), ids=["prospect", "heatmap", "campaign", "account"])
def test_every_query_is_athena_sql_that_transpiles_cleanly(
    query: analytics.Query, caplog: pytest.LogCaptureFixture
) -> None:
    # Athena engine 3 is Trino: the text parses as Trino too, and names the table once.
    assert sqlglot.parse_one(query.sql, read="trino") is not None
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        translated = athena.translate(query.sql, [athena_parameter(p) for p in query.params])
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert sqlglot.transpile(query.sql, read="athena", write="duckdb")  # the spec's call works as is
    assert "?" not in translated
    # tenant scope and partition pruning are in every query, as parameters
    assert "account_id = ?" in query.sql and "dt BETWEEN ? AND ?" in query.sql
    assert query.params[0] == A


def test_window_prunes_partitions_with_a_day_of_slack_and_filters_ts_exactly() -> None:
    query = analytics.campaign_query("events", A, C1, SINCE, UNTIL)
    assert query.params == (
        A,
        C1,
        "2026-11-18",
        "2026-11-22",
        ms("2026-11-19T00:00:00"),
        ms("2026-11-22T00:00:00"),
    )
    with pytest.raises(InvalidInputError):
        analytics.campaign_query("events", A, C1, UNTIL, SINCE)
    with pytest.raises(ValueError, match="table name"):
        analytics.campaign_query('events" --', A, C1, SINCE, UNTIL)


def test_rows_that_are_not_the_querys_are_a_storage_error() -> None:
    from chalicelib.domain.errors import StorageError

    with pytest.raises(StorageError):
        analytics.campaign_engagement(
            [{"dimension": "total", "sent": "many"}], account_id=A, campaign_id=C1, since=SINCE, until=UNTIL
        )
