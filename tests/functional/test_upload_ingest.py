"""The S3-triggered ingest Lambda, invoked the way Lambda invokes it (test client, moto S3)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.conftest import TEST_ENV
from tests.functional.conftest import call

BUCKET = TEST_ENV["TAILORCAST_UPLOADS_BUCKET"]


def _ticket(client, tenant, cid, kind, filename, content_type, size):  # type: ignore[no-untyped-def]
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        tenant,
        {"kind": kind, "filename": filename, "content_type": content_type, "size_bytes": size},
    )
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def _deliver(client, key: str, data: bytes):  # type: ignore[no-untyped-def]
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
    event = client.events.generate_s3_event(bucket=BUCKET, key=key)
    result = client.lambda_.invoke("ingest_upload", event)
    return json.loads(json.dumps(result.payload, default=str))


@pytest.fixture
def campaign(client, new_tenant):  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = json.loads(call(client, "POST", "/campaigns", me, {"name": "x"}).body)["campaign_id"]
    return me, cid


def _campaign(client, me, cid):  # type: ignore[no-untyped-def]
    return json.loads(call(client, "GET", f"/campaigns/{cid}", me).body)


def _job_events(client, standin, job_id: str):  # type: ignore[no-untyped-def]
    """Wait for the local MediaConvert job, then hand its events to the app's EventBridge handler."""
    standin.wait(job_id, timeout=120)
    results = []
    for event in [e for e in standin.events if e["detail"]["jobId"] == job_id]:
        results.append(client.lambda_.invoke("media_job_events", event).payload)
    return results


def test_valid_video_is_probed_encoded_and_campaign_ready(
    client, campaign, sample_video: Path, mediaconvert
) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    data = sample_video.read_bytes()
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", len(data))
    outcome = _deliver(client, ticket["key"], data)
    assert outcome["status"] == "processing"
    body = _campaign(client, me, cid)
    assert body["status"] == "draft"
    video = body["base_video"]
    assert video["status"] == "processing" and video["size_bytes"] == len(data) and video["job_id"]
    assert video["probe"]["video_codec"] == "h264" and (
        video["probe"]["width"],
        video["probe"]["height"],
    ) == (320, 180)
    assert abs(video["probe"]["duration_seconds"] - 2.0) < 0.1

    actions = [r["action"] for r in _job_events(client, mediaconvert, video["job_id"])]
    assert actions[-1] == "ready"
    body = _campaign(client, me, cid)
    assert body["status"] == "ready"
    video = body["base_video"]
    assert video["status"] == "ready" and video["progress"] == 100
    ladder = video["ladder"]
    assert ladder["renditions"] == ["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"]
    assert (ladder["width"], ladder["height"], ladder["fps"], ladder["segment_count"]) == (320, 180, 30, 1)
    assert abs(ladder["duration_seconds"] - 2.0) < 1 / 30
    # A replayed COMPLETE event (EventBridge is at-least-once) changes nothing.
    assert [r["action"] for r in _job_events(client, mediaconvert, video["job_id"])][-1] == "ignored"


def test_encoder_error_fails_the_base_with_the_reason(
    client, campaign, sample_video: Path, mediaconvert, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from chalicelib import dependencies
    from chalicelib.adapters.probe import PyAVMediaProbe

    me, cid = campaign
    data = sample_video.read_bytes()
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", len(data))

    class VanishingUpload(PyAVMediaProbe):
        """Probes fine, then the upload disappears before the encoder reads it."""

        def probe(self, path):  # type: ignore[no-untyped-def]
            found = super().probe(path)
            boto3.client("s3").delete_object(Bucket=BUCKET, Key=ticket["key"])
            return found

    monkeypatch.setattr(dependencies, "get_media_probe", lambda: VanishingUpload())
    assert _deliver(client, ticket["key"], data)["status"] == "processing"
    job_id = _campaign(client, me, cid)["base_video"]["job_id"]
    actions = [r["action"] for r in _job_events(client, mediaconvert, job_id)]
    assert actions[-1] == "failed"
    body = _campaign(client, me, cid)
    video = body["base_video"]
    assert video["status"] == "failed" and body["status"] == "draft"
    assert (
        video["reason"].startswith("encoding failed: FileInput s3://")
        and "MediaConvert error 1404" in video["reason"]
    )


def test_non_video_is_rejected_with_reason(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", 20)
    _deliver(client, ticket["key"], b"this is not a video\n")
    video = _campaign(client, me, cid)["base_video"]
    assert video["status"] == "rejected" and video["reason"] == "this file is not a video"
    assert _campaign(client, me, cid)["status"] == "draft"


def test_truncated_video_is_rejected(client, campaign, sample_video: Path) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    data = sample_video.read_bytes()[: len(sample_video.read_bytes()) // 3]
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", len(data))
    _deliver(client, ticket["key"], data)
    video = _campaign(client, me, cid)["base_video"]
    assert video["status"] == "rejected" and "truncated" in video["reason"]


def test_limits_checked_on_arrival(client, campaign, sample_video: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chalicelib import dependencies

    me, cid = campaign
    data = sample_video.read_bytes()
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", 100)  # client under-declared
    monkeypatch.setenv("TAILORCAST_MAX_VIDEO_BYTES", str(len(data) - 1))
    dependencies.reset()
    _deliver(client, ticket["key"], data)
    assert "over the" in _campaign(client, me, cid)["base_video"]["reason"]

    monkeypatch.setenv("TAILORCAST_MAX_VIDEO_BYTES", str(len(data)))
    monkeypatch.setenv("TAILORCAST_MAX_VIDEO_SECONDS", "1")
    dependencies.reset()
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", len(data))
    _deliver(client, ticket["key"], data)
    video = _campaign(client, me, cid)["base_video"]
    assert video["status"] == "rejected" and "over the 1 s limit" in video["reason"]


def test_superseded_upload_is_ignored(client, campaign, sample_video: Path, mediaconvert) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    data = sample_video.read_bytes()
    old = _ticket(client, me, cid, "base_video", "old.mp4", "video/mp4", len(data))
    new = _ticket(client, me, cid, "base_video", "new.mp4", "video/mp4", len(data))
    assert _deliver(client, old["key"], data)["status"] == "ignored"
    assert _campaign(client, me, cid)["base_video"]["upload_id"] == new["upload_id"]
    assert _deliver(client, new["key"], data)["status"] == "processing"
    # S3 delivers at least once: a duplicate event changes nothing.
    before = _campaign(client, me, cid)
    assert _deliver(client, new["key"], data)["status"] == "ignored"
    assert _campaign(client, me, cid)["base_video"] == before["base_video"]


def test_csv_received_or_rejected(client, campaign, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    good = _ticket(client, me, cid, "prospects_csv", "leads.csv", "text/csv", 30)
    assert _deliver(client, good["key"], b"first_name,email\nAda,ada@x.io\n")["status"] == "completed"
    xlsx = _ticket(client, me, cid, "prospects_csv", "leads.csv", "text/csv", 30)
    assert _deliver(client, xlsx["key"], b"PK\x03\x04" + b"\x00" * 40)["status"] == "rejected"
    utf16 = _ticket(client, me, cid, "prospects_csv", "leads.csv", "text/csv", 30)
    utf16_csv = "first_name,email\nZoë,zoe@x.io\n".encode("utf-16")
    assert _deliver(client, utf16["key"], utf16_csv)["status"] == "completed"
    imports = {
        i["import_id"]: i
        for i in json.loads(call(client, "GET", f"/campaigns/{cid}/imports", me).body)["items"]
    }
    assert (
        imports[good["upload_id"]]["status"] == "completed" and imports[good["upload_id"]]["size_bytes"] == 30
    )
    assert "Excel" in imports[xlsx["upload_id"]]["reason"]
    one = json.loads(call(client, "GET", f"/campaigns/{cid}/imports/{xlsx['upload_id']}", me).body)
    assert one["status"] == "rejected"


def test_foreign_or_orphan_keys_are_ignored(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    assert _deliver(client, "uploads/whatever.mp4", b"x")["status"] == "ignored"
    ticket = _ticket(client, me, cid, "base_video", "pitch.mp4", "video/mp4", 10)
    assert call(client, "DELETE", f"/campaigns/{cid}", me).status_code == 204
    assert _deliver(client, ticket["key"], b"VIDEO")["status"] == "ignored"
