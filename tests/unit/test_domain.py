"""Pure domain rules and use cases, on the in-memory fakes."""

from __future__ import annotations

import pytest

from chalicelib.domain import campaigns as svc
from chalicelib.domain.errors import (
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    StorageError,
    UploadRejectedError,
)
from chalicelib.domain.ingest import IngestLimits, ingest_upload
from chalicelib.domain.models import UploadKind, UploadStatus, VideoProbe, new_id
from chalicelib.domain.uploads import (
    UploadKey,
    check_declared_upload,
    check_stored_size,
    check_text,
    safe_filename,
)
from tests import fakes

MB = 1024 * 1024
A, B = new_id("acct"), new_id("acct")
LIMITS = IngestLimits(max_video_bytes=10 * MB, max_video_seconds=300, max_csv_bytes=1 * MB)
PROBE = VideoProbe(
    container="mp4",
    video_codec="h264",
    width=1280,
    height=720,
    duration_seconds=42.0,
    frame_rate=30.0,
    audio_codec="aac",
    audio_sample_rate=48000,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("My Pitch (final).mov", "My-Pitch-final-.mov"),
        ("C:\\Users\\me\\Desktop\\vidéo été.mp4", "video-ete.mp4"),
        ("../../etc/passwd", "passwd"),
        ("leads 2024/Q4.csv", "Q4.csv"),
    ],
)
def test_safe_filename(raw: str, clean: str) -> None:
    assert safe_filename(raw) == clean


def test_safe_filename_refuses_nothing_left() -> None:
    with pytest.raises(InvalidInputError) as err:
        safe_filename("....")
    assert err.value.issues[0].loc == "body.filename"


def test_upload_key_roundtrip_and_rejects_foreign_keys() -> None:
    key = UploadKey(
        "acct_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "camp_01aaaaaaaaaaaaaaaaaaaaaaaa",
        UploadKind.BASE_VIDEO,
        "upl_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "a.mp4",
    )
    assert UploadKey.parse(key.key) == key
    for bad in (
        "uploads/x.mp4",
        key.key.replace("base_video", "avatar"),
        key.key + "/extra",
        "media/" + key.key,
    ):
        with pytest.raises(InvalidInputError):
            UploadKey.parse(bad)


def test_declared_upload_rules() -> None:
    check_declared_upload(UploadKind.BASE_VIDEO, "video/MP4", 10 * MB, 10 * MB, MB)
    with pytest.raises(InvalidInputError) as err:
        check_declared_upload(UploadKind.BASE_VIDEO, "image/gif", 10 * MB + 1, 10 * MB, MB)
    assert [i.loc for i in err.value.issues] == ["body.content_type", "body.size_bytes"]


def test_stored_size_and_text_checks() -> None:
    with pytest.raises(UploadRejectedError, match="empty"):
        check_stored_size(0, 10)
    with pytest.raises(UploadRejectedError, match="over the"):
        check_stored_size(11, 10)
    check_text("first_name;email\n".encode("utf-16"))
    with pytest.raises(UploadRejectedError, match="Excel"):
        check_text(b"PK\x03\x04rest")
    with pytest.raises(UploadRejectedError, match="not a text"):
        check_text(b"\x89PNG\r\n\x1a\n\x00\x00")


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    return {
        "accounts": fakes.accounts_with(A),
        "campaigns": fakes.FakeCampaignRepository(),
        "prospects": fakes.FakeProspectRepository(),
        "imports": fakes.FakeCsvImportRepository(),
        "store": fakes.FakeObjectStore(),
        "probe": fakes.FakeMediaProbe(PROBE),
    }


def _ticket(w, account: str, cid: str, kind=UploadKind.BASE_VIDEO):  # type: ignore[no-untyped-def]
    return svc.request_upload(
        w["campaigns"],
        w["imports"],
        w["store"],
        account,
        cid,
        kind,
        "pitch.mp4",
        "video/mp4" if kind is UploadKind.BASE_VIDEO else "text/csv",
        100,
        max_video_bytes=LIMITS.max_video_bytes,
        max_csv_bytes=LIMITS.max_csv_bytes,
        ttl_seconds=600,
    )


def test_update_with_expected_version(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    updated = svc.update_campaign(world["campaigns"], A, c.campaign_id, {"name": "Q1"}, expected_version=1)
    assert updated.name == "Q1" and updated.version == 2
    with pytest.raises(PreconditionFailedError):
        svc.update_campaign(world["campaigns"], A, c.campaign_id, {"name": "Q2"}, expected_version=1)
    with pytest.raises(InvalidInputError) as err:
        svc.update_campaign(world["campaigns"], A, c.campaign_id, {"status": "ready"})
    assert err.value.issues[0].loc == "body.status"
    with pytest.raises(InvalidInputError):
        svc.update_campaign(world["campaigns"], A, c.campaign_id, {"name": ""})


def test_ingest_valid_rejected_and_ignored(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    t = _ticket(world, A, c.campaign_id)
    world["store"].objects[t.key] = b"VIDEO bytes"
    submitted: list[str] = []

    def start_ladder(campaign):  # type: ignore[no-untyped-def]
        submitted.append(campaign.base_video.upload_id)
        return f"job-{len(submitted)}"

    run = lambda key: ingest_upload(
        key,
        world["accounts"],
        world["campaigns"],
        world["imports"],
        world["prospects"],
        world["store"],
        world["probe"],
        LIMITS,
        start_ladder,
    )
    assert run(t.key).status == "processing"
    got = world["campaigns"].get(A, c.campaign_id)
    assert got.base_video is not None and got.base_video.status is UploadStatus.PROCESSING
    assert got.base_video.probe == PROBE and got.base_video.job_id == "job-1"
    assert got.status.value == "draft"  # ready only once the ladder is encoded
    assert run(t.key).status == "ignored" and len(submitted) == 1  # duplicate delivery

    t2 = _ticket(world, A, c.campaign_id)
    world["store"].objects[t2.key] = b"GIF89a"
    outcome = run(t2.key)
    assert (outcome.status, outcome.reason) == ("rejected", "this file is not a video")
    assert world["campaigns"].get(A, c.campaign_id).status.value == "draft"
    assert run(t.key).status == "ignored"  # superseded by t2


def test_ingest_never_leaves_the_base_processing_when_the_encoder_refuses(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    t = _ticket(world, A, c.campaign_id)
    world["store"].objects[t.key] = b"VIDEO bytes"

    def refuse(campaign):  # type: ignore[no-untyped-def]
        raise StorageError("MediaConvert refused the job: quota exceeded")

    outcome = ingest_upload(
        t.key,
        world["accounts"],
        world["campaigns"],
        world["imports"],
        world["prospects"],
        world["store"],
        world["probe"],
        LIMITS,
        refuse,
    )
    assert outcome.status == "failed"
    video = world["campaigns"].get(A, c.campaign_id).base_video
    assert video.status is UploadStatus.FAILED and "quota exceeded" in video.reason


def test_ingest_unexpected_probe_crash_fails_the_base_with_a_reason(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    t = _ticket(world, A, c.campaign_id)
    world["store"].objects[t.key] = b"VIDEO bytes"

    class Exploding:
        def probe(self, path):  # type: ignore[no-untyped-def]
            raise RuntimeError("segfault-ish")

    outcome = ingest_upload(
        t.key,
        world["accounts"],
        world["campaigns"],
        world["imports"],
        world["prospects"],
        world["store"],
        Exploding(),
        LIMITS,
        lambda c: "never",
    )
    assert outcome.status == "failed"
    video = world["campaigns"].get(A, c.campaign_id).base_video
    assert video.status is UploadStatus.FAILED and "upload it again" in video.reason


def test_delete_removes_uploads_and_partition(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    other = svc.create_campaign(world["campaigns"], A, "keep")
    t = _ticket(world, A, c.campaign_id)
    keep = _ticket(world, A, other.campaign_id)
    world["store"].objects[t.key] = world["store"].objects[keep.key] = b"VIDEO"
    with pytest.raises(NotFoundError):
        svc.delete_campaign(world["campaigns"], world["prospects"], world["store"], B, c.campaign_id)
    assert t.key in world["store"].objects
    svc.delete_campaign(world["campaigns"], world["prospects"], world["store"], A, c.campaign_id)
    assert list(world["store"].objects) == [keep.key]
