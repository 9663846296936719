"""``tailorcast render …`` against a fake API client: the watch loop, exit codes, API errors."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from chalicelib.api.renders import BatchOut
from chalicelib.api.videos import VideoOut
from tailorcast_cli import main, progress
from tailorcast_cli.client import ApiError

CAMPAIGN = "cmp_1"
BATCH = "bat_1"


def batch(status: str, total: int = 4, **counters: int) -> dict[str, Any]:
    c = {"queued": 0, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, **counters}
    finished = c["completed"] + c["failed"]
    return {
        "batch_id": BATCH,
        "campaign_id": CAMPAIGN,
        "status": status,
        "total": total,
        "skipped": 0,
        "refused": 0,
        "refused_reason": None,
        "counters": c,
        "percent": round(100 * (finished + c["cancelled"]) / total, 1) if total else 0.0,
        "eta_seconds": 12.0 if status == "running" else 0.0,
        "mode": "inline",
        "tolerated_failure_percent": 25.0,
        "error": None,
        "executions": 1,
        "created_at": "2026-11-22T11:59:00+00:00",
        "started_at": "2026-11-22T12:00:00+00:00",
        "finished_at": None,
    }


def failed_video(item: dict[str, Any]) -> VideoOut:
    """A failed prospect's video as the API lists it (``item`` has its id and error)."""
    return VideoOut.model_validate(
        {
            "render_id": "rnd_1",
            "render_version": 1,
            "batch_id": BATCH,
            "status": "failed",
            "progress": 0,
            "window": None,
            "overlay": None,
            "segments_rendered": None,
            "new_bytes": 0,
            "playlist_key": None,
            "poster_key": None,
            "preview_key": None,
            "gif_key": None,
            "playlist_url": None,
            "poster_url": None,
            "preview_url": None,
            "gif_url": None,
            "created_at": "2026-11-22T12:00:00+00:00",
            "queued_at": None,
            "synthesizing_at": None,
            "rendering_at": None,
            "completed_at": None,
            "failed_at": "2026-11-22T12:01:00+00:00",
            **item,
        }
    )


class FakeClient:
    """Replays a sequence of batch states (the API's JSON, returned as its models); records what
    the CLI asked for."""

    def __init__(self, states: list[dict[str, Any]], failed: list[dict[str, Any]] | None = None) -> None:
        self.started: dict[str, Any] = {}  # fields the start answer overrides
        self.states = states
        self.failed = failed or []
        self.calls: list[tuple[str, Any]] = []
        self.closed = False
        self.error: ApiError | None = None

    def _maybe_fail(self) -> None:
        if self.error is not None:
            raise self.error

    def start_batch(self, campaign_id: str, prospect_ids: list[str] | None = None, force: bool = False):
        self.calls.append(("start", (campaign_id, prospect_ids, force)))
        self._maybe_fail()
        return BatchOut.model_validate({**batch("running", queued=4), **self.started})

    def batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        self.calls.append(("batch", batch_id))
        self._maybe_fail()
        return BatchOut.model_validate(self.states.pop(0) if len(self.states) > 1 else self.states[0])

    def batches(self, campaign_id: str) -> list[BatchOut]:
        self._maybe_fail()
        return [BatchOut.model_validate(self.states[-1])]

    def batch_prospects(self, campaign_id: str, batch_id: str, status: str | None = None):
        self.calls.append(("prospects", status))
        return [failed_video(f) for f in self.failed]

    def cancel_batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        self._maybe_fail()
        return BatchOut.model_validate(batch("cancelled", completed=1, cancelled=3))

    def resume_batch(self, campaign_id: str, batch_id: str) -> BatchOut:
        self._maybe_fail()
        return BatchOut.model_validate({**batch("running"), "executions": 2})

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    holder: dict[str, FakeClient] = {}

    def install(client: FakeClient) -> FakeClient:
        holder["client"] = client
        return client

    monkeypatch.setattr(main, "_render_client", lambda state_dir, token: holder["client"])
    return install


def invoke(*args: str):
    return CliRunner().invoke(main.app, ["render", *args], env={"TAILORCAST_TOKEN": "t"})


def test_start_watch_ends_when_the_batch_completes(fake):
    # GIVEN a batch that runs for two polls, then completes
    client = fake(
        FakeClient(
            [
                batch("running", queued=3, in_progress=1),
                batch("running", queued=1, in_progress=1, completed=2),
                batch("completed", completed=4),
            ]
        )
    )
    # WHEN it is started and watched
    result = invoke("start", CAMPAIGN, "-p", "p1", "-p", "p2", "--watch", "--interval", "0")
    # THEN the watch stops at completion, the id is printed, and the exit status is 0
    assert result.exit_code == 0, result.output
    assert ("start", (CAMPAIGN, ["p1", "p2"], False)) in client.calls
    assert [c for c in client.calls if c[0] == "batch"] == [("batch", BATCH)] * 3
    assert BATCH in result.stdout
    assert "4/4" in result.output
    assert "completed 4" in result.output
    assert "batch bat_1 completed" in result.stdout
    assert ("prospects", "failed") not in client.calls  # nothing failed: no table asked for
    assert client.closed


def test_a_failed_batch_exits_1_with_the_reasons(fake):
    failed = [
        {"prospect_id": "pros_a", "error": "rendering failed: the encoder ran out of memory"},
        {"prospect_id": "pros_b", "error": "the name does not fit its slot"},
    ]
    client = fake(
        FakeClient(
            [batch("running", queued=2, completed=1, failed=1), {**batch("failed", completed=2, failed=2)}],
            failed,
        )
    )
    client.states[-1]["error"] = "stopped: 2 of 4 finished prospects failed"

    result = invoke("watch", CAMPAIGN, BATCH, "--interval", "0")

    assert result.exit_code == 1
    assert ("prospects", "failed") in client.calls
    for text in ("pros_a", "ran out of memory", "pros_b", "does not fit its slot", "2 of 4 finished"):
        assert text in result.stdout


@pytest.mark.parametrize("status", ["cancelled", "interrupted"])
def test_a_batch_that_did_not_finish_exits_1(fake, status):
    fake(FakeClient([batch(status, completed=1, cancelled=3)]))
    result = invoke("watch", CAMPAIGN, BATCH, "--interval", "0")
    assert result.exit_code == 1
    assert f"batch bat_1 {status}" in result.stdout


def test_a_completed_batch_with_some_failures_lists_them_and_exits_0(fake):
    failed = [{"prospect_id": "pros_x", "error": "MediaConvert kept throttling the render"}]
    fake(FakeClient([batch("completed", completed=3, failed=1)], failed))
    result = invoke("watch", CAMPAIGN, BATCH, "--interval", "0")
    assert result.exit_code == 0
    assert "pros_x" in result.stdout and "throttling" in result.stdout


def test_an_api_error_prints_its_message_and_fields_and_exits_1(fake):
    client = fake(FakeClient([batch("running")]))
    client.error = ApiError(
        400,
        {
            "error": {
                "code": "invalid_input",
                "message": "unknown prospects",
                "fields": [
                    {"field": "body.prospect_ids.0", "message": "no prospect 'nope' in this campaign"}
                ],
            }
        },
    )
    result = invoke("start", CAMPAIGN, "--prospect", "nope", "--watch")
    assert result.exit_code == 1
    assert "unknown prospects" in result.stderr
    assert "body.prospect_ids.0" in result.stderr and "no prospect 'nope'" in result.stderr
    assert "Traceback" not in result.output


def test_a_conflict_while_watching_is_reported(fake):
    client = fake(FakeClient([batch("running")]))
    client.error = ApiError(404, {"error": {"code": "not_found", "message": "no such batch"}})
    result = invoke("watch", CAMPAIGN, "bat_missing")
    assert result.exit_code == 1
    assert "no such batch" in result.stderr


def test_cancel_resume_and_list(fake):
    fake(FakeClient([batch("completed", completed=4)]))
    cancelled = invoke("cancel", CAMPAIGN, BATCH)
    assert cancelled.exit_code == 0
    assert "cancelled" in cancelled.stdout and "3 cancelled" in cancelled.stdout

    resumed = invoke("resume", CAMPAIGN, BATCH, "--watch", "--interval", "0")
    assert resumed.exit_code == 0, resumed.output
    assert "execution 2" in resumed.stderr
    assert "batch bat_1 completed" in resumed.stdout

    listed = invoke("list", CAMPAIGN)
    assert listed.exit_code == 0
    assert BATCH in listed.stdout and "4/4" in listed.stdout


def test_watch_batch_returns_the_final_state_without_a_real_sleep():
    from io import StringIO

    from rich.console import Console

    from tailorcast_cli.progress import watch_batch

    client = FakeClient(
        [batch("pending", total=0), batch("running", queued=4), batch("completed", completed=4)]
    )
    slept: list[float] = []
    out = StringIO()
    final = watch_batch(
        client, CAMPAIGN, BATCH, Console(file=out, width=200), interval=2.5, sleep=slept.append
    )
    assert final.status == "completed"
    assert slept == [2.5, 2.5]
    assert "ETA" in out.getvalue() and "100.0%" in out.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "—"), (0, "0s"), (5.2, "6s"), (59.5, "1m00s"), (125, "2m05s")]
)
def test_eta_text(seconds: float | None, text: str) -> None:
    assert progress.eta_text(seconds) == text


def test_a_batch_over_the_plans_videos_says_how_many_were_not_rendered_and_why(fake):
    client = FakeClient([batch("completed", total=3, completed=3)])
    reason = "the Trial plan allows 5 videos this period and 5 are used: upgrade to Basic for 50"
    client.started = {"total": 3, "refused": 2, "refused_reason": reason}
    fake(client)
    result = invoke("start", CAMPAIGN)
    assert result.exit_code == 0, result.output
    assert "2 not rendered" in result.output and "upgrade to Basic" in result.output
