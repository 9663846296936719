"""Replacing a ready base video: the new upload waits beside the working one until it is encoded.

Over HTTP with the Chalice test client and moto; uploads reach the ingest Lambda as S3 events, and
ladder jobs run on the local MediaConvert (real ffmpeg) where a test needs one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import dependencies
from chalicelib.domain.models import (
    BaseVideo,
    CampaignStatus,
    CampaignVoice,
    Ladder,
    Prospect,
    UploadStatus,
    VoiceSlot,
    VoiceStatus,
    new_id,
    utcnow,
)
from chalicelib.settings import get_settings
from tests.conftest import TEST_ENV
from tests.functional.conftest import Tenant, call, get_json

BUCKET = TEST_ENV["TAILORCAST_UPLOADS_BUCKET"]
WORKING = "upl_working"


@pytest.fixture
def sfn(aws: None) -> Any:
    """The render state machine the settings name, in moto (a Pass state: executions stay RUNNING)."""
    arn = get_settings().render_state_machine_arn
    client = boto3.client("stepfunctions")
    client.create_state_machine(
        name=arn.rsplit(":", 1)[-1],
        definition=json.dumps({"StartAt": "Noop", "States": {"Noop": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/tailorcast-test",
    )
    return client


def _ready_campaign(client: Any, me: Tenant) -> str:
    """A campaign that can render: a working base video (its ladder encoded), a prepared voice and
    one prospect."""
    created = call(client, "POST", "/campaigns", me, {"name": "Q4", "script": "Hi {first_name}"})
    cid: str = json.loads(created.body)["campaign_id"]
    ladder = Ladder(
        prefix=f"{me.account_id}/{cid}/base/{WORKING}",
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
    working = BaseVideo(
        upload_id=WORKING,
        key=f"uploads/{me.account_id}/{cid}/base_video/{WORKING}/pitch.mp4",
        filename="pitch.mp4",
        status=UploadStatus.READY,
        progress=100,
        ladder=ladder,
    )
    voice = CampaignVoice(
        status=VoiceStatus.READY,
        slots=[VoiceSlot(variable="first_name", start=1.0, end=1.8)],
        prepared_upload_id=WORKING,
        prepared_at=utcnow(),
    )
    dependencies.get_campaign_repo().update(
        me.account_id,
        cid,
        lambda c: c.model_copy(
            update={"base_video": working, "voice": voice, "status": CampaignStatus.READY}
        ),
    )
    dependencies.get_prospect_repo().add(
        Prospect(
            account_id=me.account_id,
            campaign_id=cid,
            prospect_id=new_id("pros"),
            first_name="Siobhan",
            email="siobhan@example.com",
        )
    )
    return cid


def _request_base(client: Any, me: Tenant, cid: str, size: int) -> dict[str, Any]:
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {"kind": "base_video", "filename": "new-pitch.mp4", "content_type": "video/mp4", "size_bytes": size},
    )
    assert response.status_code == 201, response.body
    return dict(json.loads(response.body))


def _deliver(client: Any, key: str, data: bytes) -> dict[str, Any]:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
    event = client.events.generate_s3_event(bucket=BUCKET, key=key)
    return dict(json.loads(json.dumps(client.lambda_.invoke("ingest_upload", event).payload, default=str)))


def _job_events(client: Any, standin: Any, job_id: str) -> list[str]:
    """Wait for the local MediaConvert job; hand its events to the app's EventBridge handler."""
    standin.wait(job_id, timeout=120)
    events = [e for e in standin.events if e["detail"]["jobId"] == job_id]
    return [client.lambda_.invoke("media_job_events", e).payload["action"] for e in events]


def test_a_rejected_re_upload_keeps_the_working_base(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _ready_campaign(client, me)

    # WHEN the seller uploads a new base video that is not a video at all
    ticket = _request_base(client, me, cid, 20)
    body = get_json(client, me, f"/campaigns/{cid}")
    assert body["base_video"]["upload_id"] == WORKING and body["status"] == "ready"
    assert body["pending_base_video"]["upload_id"] == ticket["upload_id"]
    assert body["pending_base_video"]["status"] == "awaiting_upload"
    outcome = _deliver(client, ticket["key"], b"this is not a video\n")

    # THEN the campaign shows the rejection on the pending upload...
    assert outcome["status"] == "rejected"
    body = get_json(client, me, f"/campaigns/{cid}")
    pending = body["pending_base_video"]
    assert (pending["upload_id"], pending["status"], pending["reason"]) == (
        ticket["upload_id"],
        "rejected",
        "this file is not a video",
    )
    # ...and keeps rendering from its working base
    assert body["status"] == "ready"
    assert (body["base_video"]["upload_id"], body["base_video"]["status"]) == (WORKING, "ready")
    response = call(client, "POST", f"/campaigns/{cid}/batches", me, {})
    assert response.status_code == 202, response.body


def test_an_accepted_re_upload_replaces_the_base_once_its_ladder_is_ready(  # type: ignore[no-untyped-def]
    client, new_tenant, sample_video: Path, mediaconvert
) -> None:
    me = new_tenant()
    cid = _ready_campaign(client, me)
    data = sample_video.read_bytes()

    # WHEN a valid new base video is uploaded
    ticket = _request_base(client, me, cid, len(data))
    assert _deliver(client, ticket["key"], data)["status"] == "processing"

    # THEN it is encoded as the pending upload, while the working base stays
    body = get_json(client, me, f"/campaigns/{cid}")
    pending = body["pending_base_video"]
    assert (pending["upload_id"], pending["status"]) == (ticket["upload_id"], "processing")
    assert pending["probe"]["video_codec"] == "h264" and pending["job_id"]
    assert body["base_video"]["upload_id"] == WORKING and body["status"] == "ready"

    # WHEN its ladder is encoded THEN it becomes the working base
    assert _job_events(client, mediaconvert, pending["job_id"])[-1] == "ready"
    body = get_json(client, me, f"/campaigns/{cid}")
    assert body["pending_base_video"] is None and body["status"] == "ready"
    base = body["base_video"]
    assert (base["upload_id"], base["status"], base["progress"]) == (ticket["upload_id"], "ready", 100)
    assert base["ladder"]["prefix"] == f"{me.account_id}/{cid}/base/{ticket['upload_id']}"
    assert base["ladder"]["renditions"] == ["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"]


def test_the_first_base_video_is_the_base_at_once(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = json.loads(call(client, "POST", "/campaigns", me, {"name": "x"}).body)["campaign_id"]

    # WHEN the first base video is requested THEN it is the base straight away (nothing to keep)
    first = _request_base(client, me, cid, 20)
    body = get_json(client, me, f"/campaigns/{cid}")
    assert body["base_video"]["upload_id"] == first["upload_id"] and body["pending_base_video"] is None

    # WHEN it is rejected THEN the campaign stays a draft and says why
    assert _deliver(client, first["key"], b"this is not a video\n")["status"] == "rejected"
    body = get_json(client, me, f"/campaigns/{cid}")
    assert (body["status"], body["base_video"]["status"]) == ("draft", "rejected")
    assert body["pending_base_video"] is None

    # WHEN another is requested THEN it replaces the rejected one
    second = _request_base(client, me, cid, 20)
    body = get_json(client, me, f"/campaigns/{cid}")
    assert body["base_video"]["upload_id"] == second["upload_id"] and body["pending_base_video"] is None


def test_deleting_the_campaign_deletes_the_pending_upload(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _ready_campaign(client, me)
    ticket = _request_base(client, me, cid, 20)
    _deliver(client, ticket["key"], b"this is not a video\n")

    assert call(client, "DELETE", f"/campaigns/{cid}", me).status_code == 204

    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"uploads/{me.account_id}/{cid}/")
    assert listed.get("KeyCount", 0) == 0
