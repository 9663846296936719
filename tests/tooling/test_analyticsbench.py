"""The analytics benchmark's synthetic events: exactly as many as asked, in Firehose's layout."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from benchmarks.analytics import TIMED, EventGenerator
from chalicelib.adapters.analytics_schema import COLUMNS

KEY = re.compile(r"events/dt=(\d{4}-\d\d-\d\d)/s-1-(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-[0-9a-f-]{36}")


def test_events_are_laid_out_as_firehose_batches_them() -> None:
    generator = EventGenerator(days=30, seed=3)
    objects = list(generator.objects(40_000, "s", "events/dt=!{timestamp:yyyy-MM-dd}/", 60, 5 * 1024 * 1024))
    events = [json.loads(line) for _, body, _ in objects for line in body.decode().splitlines()]
    assert len(events) == sum(n for _, _, n in objects) == 40_000
    assert len({e["event_id"] for e in events}) == 40_000
    assert all(set(e) == {name for name, _ in COLUMNS} for e in events)
    previous = 0
    for key, body, _ in objects:
        found = KEY.fullmatch(key)
        assert found, key
        stamps = [json.loads(line)["ts"] for line in body.decode().splitlines()]
        first = datetime.fromtimestamp(stamps[0] / 1000, UTC)
        assert found.groups() == (first.date().isoformat(), first.strftime("%Y-%m-%d-%H-%M-%S"))
        assert stamps == sorted(stamps) and stamps[0] >= previous  # arrival order
        assert stamps[-1] - stamps[0] < 60_000 and len(body) <= 5 * 1024 * 1024
        previous = stamps[-1]
    days = {e["ts"] // 86_400_000 for e in events}
    assert len(days) >= 20  # a month of activity (all 30 days with a million events)
    reasons = {e["bot_reason"] for e in events if e["bot"]}
    assert reasons == {"head_request", "scanner_user_agent", "too_soon_after_send", "impossible_timing"}
    kinds = {e["type"] for e in events}
    assert {
        "sent",
        "page_request",
        "page_view",
        "play",
        "heartbeat",
        "quartile",
        "ended",
        "cta_click",
    } <= kinds
    assert sum(e["campaign_id"] == TIMED[1] for e in events) > 10_000
    first_run = [key.split("/")[1] for key, _, _ in objects]
    again = EventGenerator(days=30, seed=3).objects(
        40_000, "s", "events/dt=!{timestamp:yyyy-MM-dd}/", 60, 1 << 30
    )
    assert [key.split("/")[1] for key, _, _ in again][:10] == first_run[:10]  # deterministic


def test_too_few_events_for_every_sent_event_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        list(EventGenerator().objects(1_000, "s", "p/", 60, 1 << 20))
