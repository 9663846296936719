"""``bench campaign``'s figures from a finished batch (no stack: made-up timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.campaign import (
    Config,
    best_config,
    extrapolate,
    steady_rate,
    summarise_batch,
    verdict,
)

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def video(i: int, status: str = "completed", every: float = 0.5) -> dict[str, Any]:
    """Prospect ``i`` starts at i·every s, voices for 0.3 s, renders and publishes for 0.4 s."""
    start = T0 + timedelta(seconds=i * every)

    def at(s: float) -> str:
        return (start + timedelta(seconds=s)).isoformat()

    return {
        "prospect_id": f"pros_{i}",
        "status": status,
        "error": None if status == "completed" else "the name does not fit its slot",
        "new_bytes": 38_000,
        "queued_at": T0.isoformat(),
        "synthesizing_at": at(0.0),
        "rendering_at": at(0.3),
        "completed_at": at(0.7) if status == "completed" else None,
        "failed_at": at(0.7) if status == "failed" else None,
    }


def batch(status: str = "completed", **counters: int) -> dict[str, Any]:
    return {"status": status, "counters": {"cancelled": 0, **counters}}


def test_summary_of_a_completed_batch():
    videos = [video(i) for i in range(100)]
    done = {**batch(completed=100), "cpu_seconds": {"process": 60.0, "ffmpeg_children": 25.0}}
    ours = summarise_batch(done, videos, T0, wall_seconds=52.0)

    assert ours["completed"] == 100 and ours["failed"] == 0
    assert ours["seconds_per_prospect"] == 0.52
    assert ours["prospects_per_minute"] == pytest.approx(115.4)
    assert ours["first_completion_seconds"] == 0.7
    # one completion every 0.5 s in the steady state
    assert ours["steady_state_seconds_per_prospect"] == pytest.approx(0.5, abs=1e-3)
    phases = ours["phases_seconds"]
    assert phases["voice"]["p50"] == pytest.approx(0.3)
    assert phases["render_publish"]["p95"] == pytest.approx(0.4)
    assert phases["in_flight"]["max"] == pytest.approx(0.7)
    assert phases["queue_wait"]["max"] == pytest.approx(49.5)
    assert ours["new_bytes_per_prospect"]["mean"] == 38_000
    assert ours["cpu_seconds_per_prospect"] == {"process": 0.6, "ffmpeg_children": 0.25}


def test_failures_are_counted_and_named():
    videos = [video(i) for i in range(8)] + [video(8, "failed"), video(9, "failed")]
    ours = summarise_batch(batch(completed=8, failed=2), videos, T0, wall_seconds=10.0)
    assert (ours["completed"], ours["failed"]) == (8, 2)
    assert ours["failures"] == [
        "pros_8: the name does not fit its slot",
        "pros_9: the name does not fit its slot",
    ]


def test_steady_rate_leaves_out_the_ramp_and_the_tail():
    # a slow start (5 s to the first), 1 per second, then a straggler at the end
    completions = [5.0 + i for i in range(20)] + [60.0]
    assert steady_rate(completions) == pytest.approx(1.0)
    assert steady_rate([1.0, 2.0]) is None  # too few to tell


def test_extrapolation_adds_the_rest_at_the_steady_rate():
    ours = {"prospects": 200, "wall_seconds": 120.0, "steady_state_prospects_per_second": 2.0}
    assert extrapolate(ours) == 120.0 + 800 / 2.0
    assert extrapolate({**ours, "prospects": 1000, "wall_seconds": 480.0}) == 480.0
    # no steady state measured (a tiny run): linear
    assert extrapolate({**ours, "steady_state_prospects_per_second": None}) == 600.0


def test_verdict_ratio_and_targets():
    ours = {
        "prospects": 200,
        "status": "completed",
        "completed": 200,
        "wall_seconds": 100.0,
        "steady_state_prospects_per_second": 2.5,
    }
    result = verdict(ours, naive_seconds=[72.0])
    assert result["naive"]["extrapolated_seconds"] == 14400.0
    assert result["ratio"] == 144.0
    assert result["extrapolated_1000_seconds"] == 420.0
    assert "extrapolated from 200" in result["seconds_for_1000_source"]
    assert result["met"] == {"ratio_vs_naive": True, "seconds_for_1000": True}

    slow = verdict({**ours, "wall_seconds": 200.0, "steady_state_prospects_per_second": 1.0}, [72.0])
    assert slow["ratio"] == 72.0  # under issue 17's 100×
    assert slow["met"] == {"ratio_vs_naive": False, "seconds_for_1000": False}

    # a prospect that did not complete fails both targets, however fast the rest were
    partial = verdict({**ours, "completed": 199}, [72.0])
    assert partial["met"] == {"ratio_vs_naive": False, "seconds_for_1000": False}


def test_best_config_and_parsing():
    rows = [
        {"config": "4:2", "prospects": 40, "completed": 40, "seconds_per_prospect": 0.9},
        {"config": "8:2", "prospects": 40, "completed": 40, "seconds_per_prospect": 0.7},
        {"config": "16:2", "prospects": 40, "completed": 39, "seconds_per_prospect": 0.5},
    ]
    assert best_config(rows) == "8:2"
    assert best_config([]) is None
    assert Config.parse("16:3") == Config(16, 3)
    assert Config.parse("4") == Config(4, 2)
    assert Config(8, 2).label() == "8:2"
