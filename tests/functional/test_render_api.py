"""Render batches over HTTP: the Chalice test client, moto, and the real Step Functions adapter.

The render state machine is created in moto under the ARN the settings name (a single Pass
state: moto does not run it, so an execution stays RUNNING until a test stops it). What the
execution's tasks would do is done by calling the domain steps directly, on the DynamoDB adapters.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import dependencies
from chalicelib.domain import render
from chalicelib.domain.models import (
    BaseVideo,
    CampaignVoice,
    Ladder,
    Prospect,
    ProspectVideo,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    VoiceSlot,
    VoiceStatus,
    new_id,
    utcnow,
)
from chalicelib.settings import get_settings
from tests.functional.conftest import Tenant, call


def _json(response: Any) -> Any:
    return json.loads(response.body)


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in _json(response)["error"]["fields"]]


def _executions(sfn: Any) -> list[dict[str, Any]]:
    """The render state machine's executions, oldest first."""
    found = sfn.list_executions(stateMachineArn=get_settings().render_state_machine_arn)["executions"]
    return sorted(found, key=lambda e: e["name"])


@pytest.fixture
def sfn(aws: None) -> Any:
    """The render state machine the settings name, in moto."""
    import boto3

    arn = get_settings().render_state_machine_arn
    client = boto3.client("stepfunctions")
    created = client.create_state_machine(
        name=arn.rsplit(":", 1)[-1],
        definition=json.dumps({"StartAt": "Noop", "States": {"Noop": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/tailorcast-test",
    )["stateMachineArn"]
    assert created == arn
    return client


def _ready_campaign(client: Any, tenant: Tenant, prospects: int = 2) -> tuple[str, list[str]]:
    """A campaign whose base video and voice are ready, with ``prospects`` prospects."""
    cid = _json(call(client, "POST", "/campaigns", tenant, {"name": "Q4", "script": "Hi {first_name}"}))[
        "campaign_id"
    ]
    ladder = Ladder(
        prefix=f"{tenant.account_id}/{cid}/base/upl_x",
        master="main.m3u8",
        audio_playlist="main_audio.m3u8",
        pcm="audio.wav",
        renditions=["main_360p.m3u8"],
        width=640,
        height=360,
        fps=30,
        duration_seconds=10.0,
        segment_count=5,
    )
    dependencies.get_campaign_repo().update(
        tenant.account_id,
        cid,
        lambda c: c.model_copy(
            update={
                "base_video": BaseVideo(
                    upload_id="upl_x", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
                ),
                "voice": CampaignVoice(
                    status=VoiceStatus.READY,
                    slots=[VoiceSlot(variable="first_name", start=1.0, end=1.8)],
                    prepared_upload_id="upl_x",
                    prepared_at=utcnow(),
                ),
            }
        ),
    )
    ids = [
        dependencies.get_prospect_repo()
        .add(
            Prospect(
                account_id=tenant.account_id,
                campaign_id=cid,
                prospect_id=new_id("pros"),
                first_name=name,
                email=f"{name.lower()}@example.com",
            )
        )
        .prospect_id
        for name in ("Siobhan", "Priya", "Kwame", "Mette")[:prospects]
    ]
    return cid, ids


def _prepare(tenant: Tenant, cid: str, batch_id: str) -> render.PreparedBatch:
    """What the execution's first task does."""
    return render.prepare_batch(dependencies.render_ports(), tenant.account_id, cid, batch_id, 100, 4)


# --------------------------------------------------------------------------- starting


def test_start_a_batch_and_follow_it(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, (p0, p1) = _ready_campaign(client, me)
    # WHEN the seller starts rendering the campaign
    response = call(client, "POST", f"/campaigns/{cid}/batches", me, {"tolerated_failure_percent": 10})
    assert response.status_code == 202, response.body
    batch = _json(response)
    bid = batch["batch_id"]
    assert (
        batch["status"] == "running" and batch["executions"] == 1 and batch["tolerated_failure_percent"] == 10
    )
    assert (batch["total"], batch["percent"], batch["eta_seconds"]) == (0, 0.0, None)  # not prepared yet
    assert batch["counters"] == {"queued": 0, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    # THEN one execution runs, named after the batch, with the batch's ids as input
    (execution,) = _executions(sfn)
    assert execution["name"] == f"{bid}-1" and execution["status"] == "RUNNING"
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "account_id": me.account_id,
        "campaign_id": cid,
        "batch_id": bid,
    }
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["active_batch_id"] == bid

    # WHEN the execution prepares the batch and one prospect fails
    assert _prepare(me, cid, bid).total == 2
    got = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}", me))
    assert (got["status"], got["total"], got["percent"], got["counters"]["queued"]) == ("running", 2, 0.0, 2)
    video = dependencies.get_video_repo().get(me.account_id, cid, p1)
    render.fail_prospect(dependencies.render_ports(), me.account_id, cid, p1, video.render_id, "boom")
    got = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}", me))
    assert got["percent"] == 50.0 and got["counters"]["failed"] == 1 and got["counters"]["queued"] == 1
    assert got["eta_seconds"] is not None and got["eta_seconds"] >= 0

    # THEN the batch's prospects can be listed, and filtered by status
    everyone = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}/prospects", me))["items"]
    assert sorted(v["prospect_id"] for v in everyone) == sorted([p0, p1])
    failed = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}/prospects?status=failed", me))[
        "items"
    ]
    assert [(v["prospect_id"], v["status"], v["error"]) for v in failed] == [(p1, "failed", "boom")]
    queued = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}/prospects?status=queued", me))[
        "items"
    ]
    assert [v["prospect_id"] for v in queued] == [p0]
    bad = call(client, "GET", f"/campaigns/{cid}/batches/{bid}/prospects?status=exploded", me)
    assert bad.status_code == 422 and _fields(bad) == ["query.status"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prospect_ids": []}, "body.prospect_ids"),
        ({"prospect_ids": [f"pros_{i}" for i in range(1001)]}, "body.prospect_ids"),
        ({"tolerated_failure_percent": 150}, "body.tolerated_failure_percent"),
        ({"tolerated_failure_percent": -1}, "body.tolerated_failure_percent"),
        ({"force": "sometimes"}, "body.force"),
        ({"prospects": ["pros_1"]}, "body.prospects"),
    ],
)
def test_start_refuses_a_bad_body_naming_the_field(client, new_tenant, sfn, body, field) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, _ = _ready_campaign(client, me, prospects=1)
    response = call(client, "POST", f"/campaigns/{cid}/batches", me, body)
    assert response.status_code == 422, response.body
    assert _fields(response) == [field]
    assert _executions(sfn) == []


def test_start_with_unknown_prospects_names_them(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, (p0, _) = _ready_campaign(client, me)
    response = call(client, "POST", f"/campaigns/{cid}/batches", me, {"prospect_ids": [p0, "pros_nobody"]})
    assert response.status_code == 422 and _fields(response) == ["body.prospect_ids.1"]
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["active_batch_id"] is None


def test_start_is_409_until_the_campaign_can_render_and_while_a_batch_runs(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    draft = _json(call(client, "POST", "/campaigns", me, {"name": "draft"}))["campaign_id"]
    response = call(client, "POST", f"/campaigns/{draft}/batches", me, {})
    assert response.status_code == 409
    assert "upload a base video" in _json(response)["error"]["message"]

    cid, _ = _ready_campaign(client, me)
    first = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {}))
    second = call(client, "POST", f"/campaigns/{cid}/batches", me, {"force": True})
    assert second.status_code == 409
    message = _json(second)["error"]["message"]
    assert first["batch_id"] in message and "cancel it first" in message


def test_start_when_step_functions_refuses_frees_the_campaign(client, new_tenant, aws) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, _ = _ready_campaign(client, me)  # no state machine: StartExecution fails
    response = call(client, "POST", f"/campaigns/{cid}/batches", me, {})
    assert response.status_code == 503
    assert _json(response)["error"]["message"].startswith("the render could not start")
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["active_batch_id"] is None
    (batch,) = _json(call(client, "GET", f"/campaigns/{cid}/batches", me))["items"]
    assert batch["status"] == "failed" and batch["error"].startswith("the render could not start")


def test_render_one_prospect(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, (_, p1) = _ready_campaign(client, me)
    response = call(client, "POST", f"/campaigns/{cid}/prospects/{p1}/render", me, {})
    assert response.status_code == 202, response.body
    batch = _json(response)
    assert batch["status"] == "running"
    prepared = _prepare(me, cid, batch["batch_id"])
    assert [i["prospect_id"] for i in prepared.items] == [p1]
    assert _json(call(client, "GET", f"/campaigns/{cid}/batches/{batch['batch_id']}", me))["total"] == 1
    bad = call(client, "POST", f"/campaigns/{cid}/prospects/{p1}/render", me, {"force": True, "now": 1})
    assert bad.status_code == 422 and _fields(bad) == ["body.now"]


# --------------------------------------------------------------------------- cancel, resume, list


def test_cancel_and_list(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, (p0, p1) = _ready_campaign(client, me)
    first = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {}))
    bid = first["batch_id"]
    _prepare(me, cid, bid)
    resumed = call(client, "POST", f"/campaigns/{cid}/batches/{bid}/resume", me)
    assert resumed.status_code == 409 and "still running" in _json(resumed)["error"]["message"]

    cancelled = call(client, "POST", f"/campaigns/{cid}/batches/{bid}/cancel", me)
    assert cancelled.status_code == 200, cancelled.body
    body = _json(cancelled)
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    assert body["counters"]["cancelled"] == 2 and body["percent"] == 100.0
    (execution,) = _executions(sfn)
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"
    for pid in (p0, p1):
        video = _json(call(client, "GET", f"/campaigns/{cid}/prospects/{pid}/video", me))
        assert (video["status"], video["error"]) == ("pending", "not rendered: the batch was cancelled")
    again = call(client, "POST", f"/campaigns/{cid}/batches/{bid}/cancel", me)
    assert again.status_code == 409 and "already cancelled" in _json(again)["error"]["message"]
    assert call(client, "POST", f"/campaigns/{cid}/batches/{bid}/resume", me).status_code == 409
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["active_batch_id"] is None

    # the campaign is free again: a second batch, listed first
    second = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {"prospect_ids": [p0]}))
    page = _json(call(client, "GET", f"/campaigns/{cid}/batches?limit=1", me))
    assert [b["batch_id"] for b in page["items"]] == [second["batch_id"]] and page["cursor"]
    rest = _json(call(client, "GET", f"/campaigns/{cid}/batches?limit=1&cursor={page['cursor']}", me))
    assert [b["batch_id"] for b in rest["items"]] == [bid]
    assert call(client, "GET", f"/campaigns/{cid}/batches?cursor=garbage", me).status_code == 422
    assert (
        call(client, "GET", f"/campaigns/{cid}/batches/bat_01aaaaaaaaaaaaaaaaaaaaaaaa", me).status_code == 404
    )


def test_resume_an_interrupted_batch(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, _ = _ready_campaign(client, me)
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {}))["batch_id"]
    _prepare(me, cid, bid)
    # GIVEN the execution stopped without finishing the batch
    (execution,) = _executions(sfn)
    sfn.stop_execution(executionArn=execution["executionArn"], error="States.Runtime", cause="lost")
    got = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}", me))
    assert got["status"] == "interrupted" and "resume it" in got["error"]
    # WHEN the seller resumes it
    response = call(client, "POST", f"/campaigns/{cid}/batches/{bid}/resume", me)
    assert response.status_code == 202, response.body
    resumed = _json(response)
    assert (resumed["status"], resumed["executions"], resumed["error"]) == ("running", 2, None)
    assert [e["name"] for e in _executions(sfn)] == [f"{bid}-1", f"{bid}-2"]
    # THEN the new execution's prepare carries on with the same renders
    assert _prepare(me, cid, bid).total == 2
    assert _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}", me))["counters"]["queued"] == 2


# --------------------------------------------------------------------------- videos and the name card


def test_a_completed_video_has_urls_when_a_media_base_url_is_set(
    client, new_tenant, aws, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid, (p0, _) = _ready_campaign(client, me)
    prefix = f"{me.account_id}/{cid}/videos/{p0}/rnd_1"
    dependencies.get_video_repo().save(
        ProspectVideo(
            account_id=me.account_id,
            campaign_id=cid,
            prospect_id=p0,
            render_id="rnd_1",
            status=VideoStatus.COMPLETED,
            base_upload_id="upl_x",
            window=RenderWindow(start=1.0, end=1.8),
            first_segment=0,
            segment_count=1,
            prefix=prefix,
            master="index.m3u8",
            poster="poster.jpg",
            preview="preview.webp",
            gif="preview.gif",
            completed_at=utcnow(),
        )
    )
    plain = _json(call(client, "GET", f"/campaigns/{cid}/prospects/{p0}/video", me))
    assert plain["playlist_key"] == f"{prefix}/index.m3u8" and plain["playlist_url"] is None
    assert plain["gif_key"] == f"{prefix}/preview.gif" and plain["gif_url"] is None

    monkeypatch.setenv("TAILORCAST_MEDIA_BASE_URL", "https://media.example.com/")
    dependencies.reset()
    video = _json(call(client, "GET", f"/campaigns/{cid}/prospects/{p0}/video", me))
    assert video["status"] == "completed"
    assert video["playlist_url"] == f"https://media.example.com/{prefix}/index.m3u8"
    assert video["poster_url"] == f"https://media.example.com/{prefix}/poster.jpg"
    assert video["preview_url"] == f"https://media.example.com/{prefix}/preview.webp"
    assert video["gif_url"] == f"https://media.example.com/{prefix}/preview.gif"


def test_the_name_card_round_trips(client, new_tenant, aws) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _json(call(client, "POST", "/campaigns", me, {"name": "Q4"}))["campaign_id"]
    card = {"text": "{first_name} {last_name}", "subtitle": "{title}, {company}"}
    patched = call(client, "PATCH", f"/campaigns/{cid}", me, {"name_card": card})
    assert patched.status_code == 200, patched.body
    assert _json(patched)["name_card"] == card
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["name_card"] == card

    bad = call(client, "PATCH", f"/campaigns/{cid}", me, {"name_card": {"text": "x" * 81}})
    assert bad.status_code == 422 and _fields(bad) == ["body.name_card.text"]
    bad = call(
        client, "PATCH", f"/campaigns/{cid}", me, {"name_card": {"text": "{first_name}", "colour": "red"}}
    )
    assert bad.status_code == 422 and _fields(bad) == ["body.name_card.colour"]
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["name_card"] == card  # untouched

    removed = call(client, "PATCH", f"/campaigns/{cid}", me, {"name_card": None})
    assert removed.status_code == 200 and _json(removed)["name_card"] is None
