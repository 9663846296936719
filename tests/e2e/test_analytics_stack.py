"""Engagement events through the local stack: the product's FirehoseEventSink puts them on the
Firehose stand-in, which writes Firehose's layout to moto's S3; the product's AthenaAnalytics reads
them back through the Athena stand-in (Glue table from the cloud's definition, DuckDB over the
files). Then the stack is stopped and started again on the same state: nothing is lost and the
columnar cache is reused."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import local_stack

pytestmark = pytest.mark.e2e

A, C = "acct_e2e", "camp_e2e"


def events(now: datetime) -> list[dict[str, Any]]:
    """Two prospects an hour ago: p1 watches half and clicks, p2 is only fetched by a scanner."""
    ms = int((now - timedelta(hours=1)).timestamp() * 1000)

    def ev(kind: str, offset_s: float, prospect: str, session: str | None, **fields: Any) -> dict[str, Any]:
        base = {
            "event_id": f"ev_{kind}_{offset_s}_{prospect}",
            "type": kind,
            "ts": ms + int(offset_s * 1000),
            "client_ts": None,
            "account_id": A,
            "campaign_id": C,
            "prospect_id": prospect,
            "render_id": "rnd_1",
            "variant": "default",
            "session_id": session,
            "duration": 10.0,
            "bot": False,
            "bot_reason": None,
        }
        return base | ({"bot": True} if fields.get("bot_reason") else {}) | fields

    return [
        ev("sent", -600, "p1", None),
        ev("sent", -600, "p2", None),
        ev("page_request", -595, "p2", None, method="GET", bot_reason="too_soon_after_send"),
        ev("page_request", 0, "p1", "s1", method="GET"),
        ev("page_view", 1, "p1", "s1"),
        ev("play", 2, "p1", "s1", position=0.0),
        ev("heartbeat", 7, "p1", "s1", position=5.0, ranges=[[0.0, 5.0]], watched=5.0, quality="auto"),
        ev("quartile", 7.5, "p1", "s1", quartile=50, position=5.0, watched=5.0),
        ev("cta_click", 9, "p1", "s1"),
        # another tenant, same ids
        ev("page_view", 1, "p1", "x1", account_id="acct_other"),
    ]


def test_events_put_through_firehose_are_read_back_through_athena(tmp_path: Path) -> None:
    from chalicelib import dependencies as deps

    now = datetime.now(UTC)
    since, until = (now - timedelta(days=1)).date(), now.date()
    with local_stack(tmp_path / "state", {}) as stack:
        # GIVEN events put by the product's sink (the adapter the beacon API uses)
        deps.get_event_sink().put(events(now))
        # WHEN Firehose's 1 s buffer has been delivered
        deadline = time.monotonic() + 10
        s3 = stack.client("s3")
        while not s3.list_objects_v2(Bucket=stack.settings.analytics_bucket, Prefix="events/").get(
            "KeyCount"
        ):
            assert time.monotonic() < deadline, "Firehose delivered nothing"
            time.sleep(0.1)
        # THEN the objects are in Firehose's layout
        listed = s3.list_objects_v2(Bucket=stack.settings.analytics_bucket, Prefix="events/")["Contents"]
        stream = stack.settings.events_stream_name
        for obj in listed:
            assert re.fullmatch(
                rf"events/dt=\d{{4}}-\d\d-\d\d/{stream}-1-[\d-]{{19}}-[0-9a-f-]{{36}}", obj["Key"]
            )
        # AND the product's Athena adapter answers from them
        campaign = deps.get_analytics().campaign(A, C, since, until)
        assert campaign.funnel.model_dump() == {
            "sent": 2,
            "opened": 1,
            "played": 1,
            "half": 1,
            "completed": 0,
            "cta": 1,
            "completion_rate": 0.0,
            "cta_rate": 1.0,
        }
        assert campaign.bots.by_reason == {"too_soon_after_send": 1}
        prospect = deps.get_analytics().prospect(A, C, "p1", since, until)
        assert (prospect.plays, prospect.watch_seconds, prospect.max_percent, prospect.cta_clicks) == (
            1,
            5.0,
            50.0,
            1,
        )
        assert prospect.heatmap == [1] * 5 + [0] * 5
        # AND events put just now are seen at once by the next query (the change feed, no listing)
        deps.get_event_sink().put([events(now)[4] | {"prospect_id": "p3", "event_id": "ev_late"}])
        stack.firehose.flush()
        assert deps.get_analytics().campaign(A, C, since, until).funnel.opened == 2
        account = deps.get_analytics().account(A, since, until)
        assert account.totals.opened == 2 and account.totals.cta_clicks == 1
        assert stack.athena.wait_idle()  # the background builder has merged each day's files
        cache_files = sorted(p.name for p in (tmp_path / "state" / "athena").rglob("*.parquet"))
        assert cache_files

    # The same state again: the events were flushed and mirrored on stop, and the columnar cache
    # (keyed by ETag) is reused, not rebuilt.
    with local_stack(tmp_path / "state", {}):
        again = deps.get_analytics().campaign(A, C, since, until)
        assert again.funnel.opened == 2 and again.funnel.cta == 1
        assert sorted(p.name for p in (tmp_path / "state" / "athena").rglob("*.parquet")) == cache_files
