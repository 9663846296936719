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
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CampaignStatus,
    UploadKind,
    UploadStatus,
    VideoProbe,
    new_id,
)
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
        campaigns=w["campaigns"],
        imports=w["imports"],
        uploads=w["store"],
        account_id=account,
        campaign_id=cid,
        kind=kind,
        filename="pitch.mp4",
        content_type="video/mp4" if kind is UploadKind.BASE_VIDEO else "text/csv",
        size_bytes=100,
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
        accounts=world["accounts"],
        campaigns=world["campaigns"],
        imports=world["imports"],
        prospects=world["prospects"],
        store=world["store"],
        probe=world["probe"],
        limits=LIMITS,
        start_ladder=start_ladder,
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


def _ingest(world, key: str, submitted: list[str]):  # type: ignore[no-untyped-def]
    def start_ladder(campaign):  # type: ignore[no-untyped-def]
        submitted.append(campaign.newest_base_video.upload_id)
        return f"job-{len(submitted)}"

    return ingest_upload(
        key,
        accounts=world["accounts"],
        campaigns=world["campaigns"],
        imports=world["imports"],
        prospects=world["prospects"],
        store=world["store"],
        probe=world["probe"],
        limits=LIMITS,
        start_ladder=start_ladder,
    )


def _ready_base(world, cid: str) -> BaseVideo:  # type: ignore[no-untyped-def]
    """Give the campaign a working base video, as a completed ladder leaves it."""
    working = BaseVideo(upload_id=new_id("upl"), key="k", filename="old.mp4", status=UploadStatus.READY)
    world["campaigns"].update(
        A, cid, lambda c: c.model_copy(update={"base_video": working, "status": CampaignStatus.READY})
    )
    return working


def test_a_base_video_requested_beside_a_ready_one_waits_as_pending(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    working = _ready_base(world, c.campaign_id)

    # WHEN a new base video is requested, and turns out not to be a video
    t = _ticket(world, A, c.campaign_id)
    got = world["campaigns"].get(A, c.campaign_id)
    assert got.base_video == working and got.pending_base_video is not None
    assert got.pending_base_video.upload_id == t.upload_id
    world["store"].objects[t.key] = b"GIF89a"
    outcome = _ingest(world, t.key, [])

    # THEN the rejection shows on the pending upload, and the campaign renders from the working base
    assert (outcome.status, outcome.reason) == ("rejected", "this file is not a video")
    got = world["campaigns"].get(A, c.campaign_id)
    assert got.base_video == working and got.status is CampaignStatus.READY
    assert got.pending_base_video is not None
    assert (got.pending_base_video.status, got.pending_base_video.reason) == (
        UploadStatus.REJECTED,
        "this file is not a video",
    )

    # WHEN the seller tries again THEN the newest request replaces the pending one...
    t2 = _ticket(world, A, c.campaign_id)
    assert _ingest(world, t.key, []).status == "ignored"
    world["store"].objects[t2.key] = b"VIDEO bytes"
    submitted: list[str] = []
    assert _ingest(world, t2.key, submitted).status == "processing"
    # ...and it is validated and encoded as the pending upload, beside the working base
    got = world["campaigns"].get(A, c.campaign_id)
    assert submitted == [t2.upload_id] and got.base_video == working
    pending = got.pending_base_video
    assert pending is not None and (pending.upload_id, pending.status, pending.job_id) == (
        t2.upload_id,
        UploadStatus.PROCESSING,
        "job-1",
    )
    assert pending.probe == PROBE and got.status is CampaignStatus.READY
    assert _ingest(world, t2.key, submitted).status == "ignored" and len(submitted) == 1  # duplicate


def test_a_base_video_that_is_not_ready_is_replaced_at_once(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    first = _ticket(world, A, c.campaign_id)
    world["store"].objects[first.key] = b"GIF89a"
    assert _ingest(world, first.key, []).status == "rejected"

    second = _ticket(world, A, c.campaign_id)

    got = world["campaigns"].get(A, c.campaign_id)
    assert got.base_video is not None and got.base_video.upload_id == second.upload_id
    assert got.base_video.status is UploadStatus.AWAITING_UPLOAD and got.pending_base_video is None


def test_a_base_upload_is_recorded_only_over_its_own_slot() -> None:
    c = Campaign(account_id=A, campaign_id=new_id("camp"), name="Q4")
    stranger = BaseVideo(upload_id=new_id("upl"), key="k", filename="a.mp4")
    assert c.base_upload(stranger.upload_id) is None
    with pytest.raises(ValueError, match="not one of the campaign's base-video uploads"):
        c.with_base_upload(stranger)


def test_delete_removes_a_pending_upload_too(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    _ready_base(world, c.campaign_id)
    t = _ticket(world, A, c.campaign_id)
    world["store"].objects[t.key] = b"VIDEO bytes"
    assert world["campaigns"].get(A, c.campaign_id).pending_base_video is not None

    svc.delete_campaign(
        campaigns=world["campaigns"],
        prospects=world["prospects"],
        uploads=world["store"],
        account_id=A,
        campaign_id=c.campaign_id,
    )

    assert t.key not in world["store"].objects


def test_ingest_never_leaves_the_base_processing_when_the_encoder_refuses(world) -> None:  # type: ignore[no-untyped-def]
    c = svc.create_campaign(world["campaigns"], A, "Q4")
    t = _ticket(world, A, c.campaign_id)
    world["store"].objects[t.key] = b"VIDEO bytes"

    def refuse(campaign):  # type: ignore[no-untyped-def]
        raise StorageError("MediaConvert refused the job: quota exceeded")

    outcome = ingest_upload(
        t.key,
        accounts=world["accounts"],
        campaigns=world["campaigns"],
        imports=world["imports"],
        prospects=world["prospects"],
        store=world["store"],
        probe=world["probe"],
        limits=LIMITS,
        start_ladder=refuse,
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
        accounts=world["accounts"],
        campaigns=world["campaigns"],
        imports=world["imports"],
        prospects=world["prospects"],
        store=world["store"],
        probe=Exploding(),
        limits=LIMITS,
        start_ladder=lambda c: "never",
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
        svc.delete_campaign(
            campaigns=world["campaigns"],
            prospects=world["prospects"],
            uploads=world["store"],
            account_id=B,
            campaign_id=c.campaign_id,
        )
    assert t.key in world["store"].objects
    svc.delete_campaign(
        campaigns=world["campaigns"],
        prospects=world["prospects"],
        uploads=world["store"],
        account_id=A,
        campaign_id=c.campaign_id,
    )
    assert list(world["store"].objects) == [keep.key]
