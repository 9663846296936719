"""The prospect's side end to end, in real headless Chromium against the local stack.

A rendered prospect's watch link is opened through the front door (the gateway: CloudFront's
stand-in, checking the signed cookies the page sets), played to the end over HLS, switched to
360p at 2x speed, and its CTA clicked. Scanner-style hits come first (a HEAD, Proofpoint's and curl's
fetches, a browser-like GET that never plays, a JavaScript-running scanner's beacons). Then the
analytics (the Athena stand-in over what the Firehose stand-in wrote) must show exactly the human
events, with every scanner hit flagged as a bot and left out of the funnel.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tailorcast_cli import viewer

pytestmark = pytest.mark.e2e

CTA = "https://cal.example.com/sam/15min"


def _athena_rows(stack: Any, sql: str, params: list[str]) -> list[dict[str, str | None]]:
    """Run ``sql`` through boto3 Athena (the stand-in locally), as the product does."""
    athena = stack.client("athena")
    settings = stack.settings
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": settings.analytics_database},
        WorkGroup=settings.athena_workgroup,
        ExecutionParameters=params,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        state = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline, "the query did not finish"
        time.sleep(0.05)
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    names = [c.get("VarCharValue") for c in rows[0]["Data"]]
    return [{n: c.get("VarCharValue") for n, c in zip(names, r["Data"], strict=True)} for r in rows[1:]]


def test_a_prospect_watches_and_analytics_count_only_the_person(
    stack: Any, seller: Any, tmp_path: Path
) -> None:
    if not viewer.CHROMIUM.exists():
        pytest.skip(f"{viewer.CHROMIUM} is absent: `make system-deps` installs Debian's chromium")
    client, account_id, cid = seller
    client.update_campaign(
        cid,
        watch_page={
            "headline": "{first_name}, a quick video for {company}",
            "seller_name": "Sam Rivera",
            "cta_label": "Book 15 minutes",
            "cta_url": CTA,
        },
    )
    csv = tmp_path / "one.csv"
    csv.write_text(
        "First Name,Last Name,Email,Company\r\nAda,Lovelace,ada@example.com,Analytical Engines\r\n"
    )
    ticket = client.upload(cid, "prospects_csv", csv, "text/csv")
    assert client.wait_for_import(cid, ticket.upload_id).imported == 1
    assert client.wait_for_voice(cid).status == "ready"
    batch = client.start_batch(cid)
    assert client.wait_for_batch(cid, batch.batch_id).status == "completed"
    (ada,) = client.prospects(cid)
    pid = ada.prospect_id
    link = client.watch_link(cid, pid)
    front = stack.endpoints.media
    assert link.watch_url.startswith(f"{front}/w/") and link.live
    # The email went out ten minutes ago (so the person below is not "too soon after sending").
    sent_at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    client.mark_sent(cid, [pid], sent_at)

    assert viewer.scanner_hits(link.watch_url) == 6
    assert client.prospect(cid, pid).video_view_count == 0  # none of that was a view
    # Without the page's cookies the video itself stays shut.
    playlist = client.video(cid, pid).playlist_url
    assert playlist.startswith(front) and httpx.get(playlist, timeout=30).status_code == 403

    seen = viewer.watch(link.watch_url, switch_to="360p", speed="2")
    assert seen.headline == "Ada, a quick video for Analytical Engines"
    assert seen.reached >= seen.duration - 0.3
    assert seen.quality_levels[0] == "auto" and "360p" in seen.quality_levels
    assert seen.cta_opened is not None and seen.cta_opened.startswith(CTA)
    assert seen.csp_violations == []

    assert sum(stack.gateway.denials.values()) >= 1  # the cookie-less playlist fetch, above

    deadline = time.monotonic() + 30
    while client.prospect(cid, pid).cta_click_count < 1:
        assert time.monotonic() < deadline, "the CTA click never reached the API"
        time.sleep(0.2)
    stack.firehose.flush()

    table = stack.settings.analytics_table
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    rows = _athena_rows(
        stack,
        f"SELECT type, bot, bot_reason, quartile, quality, method FROM {table} "  # noqa: S608 - our table setting; values are parameters
        "WHERE account_id = ? AND prospect_id = ? AND dt >= ? ORDER BY ts",
        [f"'{account_id}'", f"'{pid}'", f"'{yesterday}'"],
    )
    human = [r for r in rows if r["bot"] == "false" and r["type"] != "page_request"]
    kinds = [r["type"] for r in human]
    assert kinds.count("sent") == 1
    assert kinds.count("page_view") == 1
    assert kinds.count("play") == 1
    assert kinds.count("ended") == 1
    assert kinds.count("cta_click") == 1
    assert sorted(int(r["quartile"] or 0) for r in human if r["type"] == "quartile") == [25, 50, 75, 100]
    assert [r["quality"] for r in human if r["type"] == "quality_change"] == ["360p"]
    # Watched ranges arrive in heartbeats (every 5 s of play) and in the ``ended`` event; a 7 s
    # video at 2x may end before its first heartbeat.
    assert set(kinds) <= {
        "page_view",
        "play",
        "heartbeat",
        "quartile",
        "sent",
        "quality_change",
        "ended",
        "pause",
        "cta_click",
    }
    bots = [(r["type"], r["bot_reason"]) for r in rows if r["bot"] == "true"]
    assert sorted(bots) == sorted(
        [
            ("page_request", "head_request"),
            ("page_request", "scanner_user_agent"),  # Proofpoint
            ("page_request", "scanner_user_agent"),  # curl
            ("page_request", "scanner_user_agent"),  # Mimecast's fetch
            ("page_view", "scanner_user_agent"),  # Mimecast's beacons
            ("play", "scanner_user_agent"),
        ]
    )
    unflagged_gets = [r for r in rows if r["type"] == "page_request" and r["bot"] == "false"]
    assert len(unflagged_gets) == 2  # the prefetch that never played, and the person's own page

    report = client.analytics(cid, max_age=0)
    funnel = report.data.funnel.model_dump()
    assert {k: funnel[k] for k in ("sent", "opened", "played", "half", "completed", "cta")} == {
        "sent": 1,
        "opened": 1,
        "played": 1,
        "half": 1,
        "completed": 1,
        "cta": 1,
    }
    assert report.data.bots.total == 7
    assert report.data.bots.by_reason == {
        "get_without_play": 1,
        "head_request": 1,
        "scanner_user_agent": 5,
    }
    assert report.freshness.cached is False
    again = client.analytics(cid)
    assert again.freshness.cached is True and again.data == report.data

    mine = client.prospect_analytics(cid, pid, max_age=0).data
    assert mine.plays == 1 and mine.cta_clicks == 1
    assert mine.max_percent >= 99
    assert mine.first_viewed_at is not None
    assert mine.heatmap and min(mine.heatmap) >= 1  # every second of the video was watched
    assert mine.bot_hits.total == 7
    prospect = client.prospect(cid, pid)
    assert (prospect.video_view_count, prospect.cta_click_count) == (1, 1)
