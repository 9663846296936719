"""The media engine's use cases on the in-memory fakes: submitting jobs, reacting to their events,
preparing a prospect's window render."""

from __future__ import annotations

import io
import itertools
import wave
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chalicelib.adapters.frames import PyAVMediaCodec
from chalicelib.domain import media as svc
from chalicelib.domain import render
from chalicelib.domain.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.domain.media import jobs
from chalicelib.domain.media.ladder import AUDIO_SAMPLE_RATE, audio_segment_start, ladder_for, parse_timecode
from chalicelib.domain.media.wav import FADE_SECONDS, wav_layout
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CampaignStatus,
    Ladder,
    OverlayText,
    Prospect,
    ProspectVideo,
    RenderWindow,
    UploadStatus,
    VideoProbe,
    VideoStatus,
    new_id,
)
from chalicelib.media.overlay import card_box
from tests import fakes

RATE = AUDIO_SAMPLE_RATE
FADE = round(FADE_SECONDS * RATE)
CONFIG = svc.MediaConfig(role_arn="arn:aws:iam::123456789012:role/tailorcast-test-mediaconvert")
PROBE = VideoProbe(
    container="mp4",
    video_codec="h264",
    width=1280,
    height=720,
    duration_seconds=10.0,
    frame_rate=29.97,
    audio_codec="aac",
    audio_sample_rate=48_000,
)


class World:
    """Every port the media use cases need, as fakes, and one campaign with one prospect."""

    def __init__(self) -> None:
        self.campaigns = fakes.FakeCampaignRepository()
        self.prospects = fakes.FakeProspectRepository()
        self.batches = fakes.FakeRenderBatchRepository()
        self.videos = fakes.FakeVideoRepository(self.batches, prospects=self.prospects)
        self.uploads = fakes.FakeObjectStore("tailorcast-test-uploads")
        self.media = fakes.FakeObjectStore("tailorcast-test-media")
        self.jobs = fakes.FakeMediaJobs()
        # A window job's events go to the render pipeline (no batch here: a direct render).
        self.account_id = new_id("acct")
        self.ports = render.RenderPorts(
            campaigns=self.campaigns,
            prospects=self.prospects,
            videos=self.videos,
            batches=self.batches,
            lexicon=fakes.FakeLexiconRepository(),
            media=self.media,
            uploads=self.uploads,
            jobs=self.jobs,
            codec=PyAVMediaCodec(),
            config=CONFIG,
            orchestrator=fakes.FakeOrchestrator(),
            callbacks=fakes.FakeCallbacks(),
            events=fakes.FakeEventPublisher(),
            media_url=lambda key: None,
            accounts=fakes.accounts_with(self.account_id),
            ledger=self.videos.ledger,
        )
        self.upload_id = new_id("upl")
        base = BaseVideo(
            upload_id=self.upload_id,
            key=f"{self.account_id}/camp/base_video/{self.upload_id}/pitch.mp4",
            filename="pitch.mp4",
            status=UploadStatus.PROCESSING,
            probe=PROBE,
        )
        campaign = Campaign(
            account_id=self.account_id, campaign_id=new_id("camp"), name="Q4", base_video=base
        )
        self.campaign_id = self.campaigns.add(campaign).campaign_id
        self.prefix = svc.base_prefix(self.account_id, self.campaign_id, self.upload_id)
        self.prospect_id = self.add_prospect("siobhan@example.com")

    def add_prospect(self, email: str) -> str:
        prospect = Prospect(
            account_id=self.account_id,
            campaign_id=self.campaign_id,
            prospect_id=new_id("pros"),
            first_name="Siobhan",
            email=email,
        )
        return self.prospects.add(prospect).prospect_id

    @property
    def campaign(self) -> Campaign:
        return self.campaigns.get(self.account_id, self.campaign_id)

    @property
    def base(self) -> BaseVideo:
        base = self.campaign.base_video
        assert base is not None
        return base

    def event(self, status: str, **detail: Any) -> svc.EventOutcome:
        metadata = detail.pop(
            "metadata",
            {
                "kind": "base",
                "account_id": self.account_id,
                "campaign_id": self.campaign_id,
                "upload_id": self.upload_id,
            },
        )
        full = {"jobId": "job-0001", "status": status, "userMetadata": metadata, **detail}
        return svc.on_job_event(
            svc.JobEvent.from_detail(full),
            campaigns=self.campaigns,
            media=self.media,
            on_window=lambda e: render.on_window_event(self.ports, e),
        )


@pytest.fixture
def world() -> World:
    return World()


# --------------------------------------------------------------------------- base ladder


def test_start_base_ladder_submits_one_job(world: World) -> None:
    job_id = svc.start_base_ladder(
        world.campaign, uploads=world.uploads, media=world.media, media_jobs=world.jobs, config=CONFIG
    )
    assert job_id == "job-0001"
    (request,) = world.jobs.submitted
    kwargs = request.kwargs()
    assert kwargs["ClientRequestToken"] == f"base-{world.upload_id}"
    assert kwargs["UserMetadata"] == {
        "kind": "base",
        "account_id": world.account_id,
        "campaign_id": world.campaign_id,
        "upload_id": world.upload_id,
    }
    assert kwargs["Role"] == CONFIG.role_arn and "Queue" not in kwargs
    the_input = request.settings["Inputs"][0]
    assert the_input["FileInput"] == f"s3://tailorcast-test-uploads/{world.base.key}"
    hls_group, pcm_group = request.settings["OutputGroups"]
    assert (
        hls_group["OutputGroupSettings"]["CmafGroupSettings"]["Destination"]
        == f"s3://tailorcast-test-media/{world.prefix}/main"
    )
    assert (
        pcm_group["OutputGroupSettings"]["FileGroupSettings"]["Destination"]
        == f"s3://tailorcast-test-media/{world.prefix}/audio"
    )
    videos = [o for o in hls_group["Outputs"] if "VideoDescription" in o]
    assert [(o["VideoDescription"]["Width"], o["VideoDescription"]["Height"]) for o in videos] == [
        (640, 360),
        (854, 480),
        (1280, 720),
    ]
    h264 = videos[0]["VideoDescription"]["CodecSettings"]["H264Settings"]
    assert h264["FramerateNumerator"] == 30  # 29.97 conformed


def test_start_base_ladder_uses_the_displayed_size_and_the_queue(world: World) -> None:
    rotated = PROBE.model_copy(update={"width": 1920, "height": 1080, "rotation": 90, "frame_rate": 50.0})
    campaign = world.campaign.model_copy(
        update={"base_video": world.base.model_copy(update={"probe": rotated})}
    )
    config = svc.MediaConfig(CONFIG.role_arn, "arn:aws:mediaconvert:us-east-1:123456789012:queues/tc")
    svc.start_base_ladder(
        campaign, uploads=world.uploads, media=world.media, media_jobs=world.jobs, config=config
    )
    (request,) = world.jobs.submitted
    assert request.kwargs()["Queue"] == config.queue_arn
    assert request.client_request_token == f"base-{world.upload_id}"
    outputs = [o for o in request.settings["OutputGroups"][0]["Outputs"] if "VideoDescription" in o]
    sizes = [(o["VideoDescription"]["Width"], o["VideoDescription"]["Height"]) for o in outputs]
    assert sizes == [(r.width, r.height) for r in ladder_for(1080, 1920)]  # portrait, 1080p included
    rates = {o["VideoDescription"]["CodecSettings"]["H264Settings"]["FramerateNumerator"] for o in outputs}
    assert rates == {25}


@pytest.mark.parametrize("update", [{"probe": None}, None])
def test_start_base_ladder_needs_a_validated_video(world: World, update: dict[str, Any] | None) -> None:
    base = None if update is None else world.base.model_copy(update=update)
    campaign = world.campaign.model_copy(update={"base_video": base})
    with pytest.raises(ConflictError):
        svc.start_base_ladder(
            campaign, uploads=world.uploads, media=world.media, media_jobs=world.jobs, config=CONFIG
        )
    assert world.jobs.submitted == []


# --------------------------------------------------------------------------- base events

VIDEO_RUNGS = (("main_720p.m3u8", 1280, 720), ("main_360p.m3u8", 640, 360), ("main_480p.m3u8", 854, 480))


def _media_playlist(stem: str, durations: list[float]) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:1"]
    lines += ["#EXT-X-PLAYLIST-TYPE:VOD", f'#EXT-X-MAP:URI="{stem}_init.mp4"']
    for n, seconds in enumerate(durations):
        lines += [f"#EXTINF:{seconds:.6f},", f"{stem}_{n + 1:05d}.mp4"]
    return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()


def _write_ladder(world: World, video_segments: int = 5, audio_segments: int | None = None) -> None:
    """What the ladder job writes for a 10 s source (the variants deliberately not sorted)."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",AUTOSELECT=YES,DEFAULT=YES,URI="main_audio.m3u8"',
    ]
    for uri, w, h in VIDEO_RUNGS:
        lines += [
            f'#EXT-X-STREAM-INF:BANDWIDTH={w * 1000},CODECS="avc1.64001f,mp4a.40.2",RESOLUTION={w}x{h},AUDIO="audio"'
        ]
        lines.append(uri)
        world.media.put_bytes(f"{world.prefix}/{uri}", _media_playlist(uri[:-5], [2.0] * video_segments), "x")
    world.media.put_bytes(f"{world.prefix}/main.m3u8", ("\n".join(lines) + "\n").encode(), "x")
    count = video_segments if audio_segments is None else audio_segments
    edges = [audio_segment_start(i) for i in range(count)] + [video_segments * 2 * RATE + 1024]
    durations = [(b - a) / RATE for a, b in itertools.pairwise(edges)]
    world.media.put_bytes(f"{world.prefix}/main_audio.m3u8", _media_playlist("main_audio", durations), "x")


def test_progress_rises_monotonically(world: World) -> None:
    assert world.event("PROGRESSING").action == "ignored"  # no percentage yet
    assert world.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 20}).action == "progress"
    assert world.base.progress == 20 and world.base.job_id == "job-0001"
    version = world.campaign.version
    assert world.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 15}).action == "ignored"
    assert world.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 20}).action == "ignored"
    assert world.campaign.version == version and world.base.progress == 20
    assert world.event("PROGRESSING", jobProgress={"jobPercentComplete": 55}).action == "progress"
    assert world.base.progress == 55 and world.base.status is UploadStatus.PROCESSING
    assert world.campaign.status is CampaignStatus.DRAFT


def test_complete_reads_the_ladder_from_its_playlists(world: World) -> None:
    _write_ladder(world, audio_segments=6)  # the encoder's flush may add one audio frame at the end
    outcome = world.event("COMPLETE", outputGroupDetails=[])
    assert outcome == svc.EventOutcome("base", "ready")
    campaign = world.campaign
    assert campaign.status is CampaignStatus.READY
    base = world.base
    assert (base.status, base.progress, base.reason, base.job_id) == (
        UploadStatus.READY,
        100,
        None,
        "job-0001",
    )
    assert base.ladder == Ladder(
        prefix=world.prefix,
        master="main.m3u8",
        audio_playlist="main_audio.m3u8",
        pcm="audio.wav",
        renditions=["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"],  # lowest rung first
        width=1280,
        height=720,
        fps=30,
        duration_seconds=10.0,
        segment_count=5,
    )
    # at-least-once delivery: the same COMPLETE again, or a late ERROR, changes nothing
    version = campaign.version
    assert world.event("COMPLETE").action == "ignored"
    assert world.event("ERROR", errorCode=1999, errorMessage="late").action == "ignored"
    assert world.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 99}).action == "ignored"
    assert world.campaign.version == version and world.base.status is UploadStatus.READY


def test_complete_of_a_rotated_source_records_the_displayed_size(world: World) -> None:
    rotated = PROBE.model_copy(update={"width": 720, "height": 1280, "rotation": 270})
    world.campaigns.update(
        world.account_id,
        world.campaign_id,
        lambda c: c.model_copy(update={"base_video": world.base.model_copy(update={"probe": rotated})}),
    )
    _write_ladder(world)
    assert world.event("COMPLETE").action == "ready"
    ladder = world.base.ladder
    assert ladder is not None and (ladder.width, ladder.height) == (1280, 720)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda w: w.media.objects.clear(), "not found"),
        (lambda w: w.media.objects.pop(f"{w.prefix}/main_audio.m3u8"), "main_audio.m3u8"),
        (lambda w: w.media.objects.update({f"{w.prefix}/main.m3u8": b"\xff\xfe\x00garbage"}), "decode"),
        (lambda w: _write_ladder(w, audio_segments=4), "fewer segments than the video"),
    ],
)
def test_complete_with_unreadable_playlists_fails_the_base(world: World, damage: Any, says: str) -> None:
    _write_ladder(world)
    damage(world)
    assert world.event("COMPLETE").action == "failed"
    base = world.base
    assert base.status is UploadStatus.FAILED and base.ladder is None
    assert base.reason is not None and base.reason.startswith(
        "encoding failed: the encoded ladder is incomplete"
    )
    assert says in base.reason
    assert world.campaign.status is CampaignStatus.DRAFT


def test_error_fails_the_base_with_mediaconvert_s_reason(world: World) -> None:
    outcome = world.event("ERROR", errorCode=1010, errorMessage="Failed probe/open: bad input")
    assert outcome.action == "failed"
    base = world.base
    assert base.status is UploadStatus.FAILED
    assert base.reason == "encoding failed: Failed probe/open: bad input (MediaConvert error 1010)"
    assert world.campaign.status is CampaignStatus.DRAFT
    # the failure is final: a late progress event does not revive it
    assert world.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 80}).action == "ignored"
    assert world.base.status is UploadStatus.FAILED


def test_canceled_fails_the_base(world: World) -> None:
    assert world.event("CANCELED").action == "failed"
    assert world.base.reason == "encoding failed: the video encode was cancelled"


@pytest.mark.parametrize("status", ["SUBMITTED", "INPUT_INFORMATION", "NEW_WARNING"])
def test_other_statuses_write_nothing(world: World, status: str) -> None:
    version = world.campaign.version
    assert world.event(status).action == "ignored"
    assert world.campaign.version == version


def test_events_of_a_superseded_upload_are_ignored(world: World) -> None:
    _write_ladder(world)
    stale = {
        "kind": "base",
        "account_id": world.account_id,
        "campaign_id": world.campaign_id,
        "upload_id": new_id("upl"),
    }
    before = world.campaign
    for status, extra in (
        ("STATUS_UPDATE", {"jobProgress": {"jobPercentComplete": 50}}),
        ("COMPLETE", {}),
        ("ERROR", {"errorCode": 1010, "errorMessage": "x"}),
    ):
        assert world.event(status, metadata=stale, **extra).action == "ignored"
    assert world.campaign == before


def test_events_of_a_deleted_campaign_or_unknown_kind_are_ignored(world: World) -> None:
    assert world.event("COMPLETE", metadata={"kind": "thumbnail"}) == svc.EventOutcome("thumbnail", "ignored")
    assert world.event("COMPLETE", metadata={}) == svc.EventOutcome("unknown", "ignored")
    world.campaigns.delete(world.account_id, world.campaign_id)
    assert world.event("COMPLETE").action == "ignored"
    assert world.event("ERROR", errorCode=1, errorMessage="x").action == "ignored"


# --------------------------------------------------------------------------- a replacement base


WORKING_LADDER = Ladder(
    prefix="acct/camp/base/upl_working",
    master="main.m3u8",
    audio_playlist="main_audio.m3u8",
    pcm="audio.wav",
    renditions=["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"],
    width=1280,
    height=720,
    fps=30,
    duration_seconds=10.0,
    segment_count=5,
)


@pytest.fixture
def replacing(world: World) -> World:
    """The world's upload (processing) as the pending replacement of a ready, working base."""
    working = BaseVideo(
        upload_id=new_id("upl"),
        key="uploads/working.mp4",
        filename="working.mp4",
        status=UploadStatus.READY,
        probe=PROBE,
        progress=100,
        ladder=WORKING_LADDER,
    )
    world.campaigns.update(
        world.account_id,
        world.campaign_id,
        lambda c: c.model_copy(
            update={"base_video": working, "pending_base_video": c.base_video, "status": CampaignStatus.READY}
        ),
    )
    return world


def _pending(world: World) -> BaseVideo:
    pending = world.campaign.pending_base_video
    assert pending is not None
    return pending


def test_the_ladder_is_encoded_for_the_pending_replacement(replacing: World) -> None:
    svc.start_base_ladder(
        replacing.campaign,
        uploads=replacing.uploads,
        media=replacing.media,
        media_jobs=replacing.jobs,
        config=CONFIG,
    )

    (request,) = replacing.jobs.submitted
    assert request.client_request_token == f"base-{replacing.upload_id}"
    assert request.kwargs()["UserMetadata"]["upload_id"] == replacing.upload_id


def test_a_replacement_is_promoted_only_when_its_ladder_is_ready(replacing: World) -> None:
    working = replacing.base
    # WHEN the replacement's encode makes progress THEN only the replacement shows it
    assert replacing.event("STATUS_UPDATE", jobProgress={"jobPercentComplete": 40}).action == "progress"
    assert _pending(replacing).progress == 40 and _pending(replacing).job_id == "job-0001"
    assert replacing.base == working and replacing.campaign.status is CampaignStatus.READY

    # WHEN its ladder completes THEN it becomes the working base, and nothing is pending
    _write_ladder(replacing)
    assert replacing.event("COMPLETE").action == "ready"
    campaign = replacing.campaign
    assert campaign.pending_base_video is None and campaign.status is CampaignStatus.READY
    assert campaign.base_video is not None and campaign.base_video.upload_id == replacing.upload_id
    assert campaign.base_video.status is UploadStatus.READY
    assert campaign.base_video.ladder is not None and campaign.base_video.ladder.prefix == replacing.prefix
    # a replayed COMPLETE changes nothing
    assert replacing.event("COMPLETE").action == "ignored" and replacing.campaign == campaign


@pytest.mark.parametrize(
    ("status", "extra", "reason"),
    [
        ("ERROR", {"errorCode": 1010, "errorMessage": "bad input"}, "bad input (MediaConvert error 1010)"),
        ("CANCELED", {}, "the video encode was cancelled"),
        ("COMPLETE", {}, "the encoded ladder is incomplete"),  # no playlists were written
    ],
)
def test_a_replacement_that_fails_to_encode_leaves_the_working_base(
    replacing: World, status: str, extra: dict[str, Any], reason: str
) -> None:
    before = replacing.campaign

    assert replacing.event(status, **extra).action == "failed"

    pending = _pending(replacing)
    assert pending.status is UploadStatus.FAILED and reason in (pending.reason or "")
    assert replacing.campaign.base_video == before.base_video
    assert replacing.campaign.status is CampaignStatus.READY


def test_fail_base_of_a_replacement_leaves_the_working_base(replacing: World) -> None:
    before = replacing.campaign

    svc.fail_base(replacing.campaigns, replacing.account_id, replacing.campaign_id, replacing.upload_id, "no")

    assert (_pending(replacing).status, _pending(replacing).reason) == (UploadStatus.FAILED, "no")
    assert replacing.campaign.base_video == before.base_video
    assert replacing.campaign.status is CampaignStatus.READY


def test_a_replacement_whose_job_is_lost_fails_on_reconciliation(replacing: World) -> None:
    from datetime import timedelta

    from chalicelib.domain.models import utcnow

    stale = _pending(replacing).model_copy(
        update={
            "job_id": "job-0001",
            "updated_at": utcnow() - timedelta(seconds=svc.RECONCILE_AFTER_SECONDS + 1),
        }
    )
    replacing.campaigns.save(replacing.campaign.model_copy(update={"pending_base_video": stale}))
    working = replacing.base

    after = svc.reconcile_base(
        replacing.campaign, campaigns=replacing.campaigns, media=replacing.media, media_jobs=replacing.jobs
    )

    assert after.pending_base_video is not None and after.pending_base_video.status is UploadStatus.FAILED
    assert "interrupted" in (after.pending_base_video.reason or "")
    assert after.base_video == working and after.status is CampaignStatus.READY


# --------------------------------------------------------------------------- window events


def _rendering(world: World, prospect_id: str, render_id: str) -> ProspectVideo:
    video = ProspectVideo(
        account_id=world.account_id,
        campaign_id=world.campaign_id,
        prospect_id=prospect_id,
        render_id=render_id,
        base_upload_id=world.upload_id,
        window=RenderWindow(start=4.6, end=5.9),
        first_segment=2,
        segment_count=1,
        prefix=svc.render_prefix(world.account_id, world.campaign_id, prospect_id, render_id),
    )
    return world.videos.save(video)


def _window_meta(world: World, prospect_id: str, render_id: str) -> dict[str, str]:
    return {
        "kind": "window",
        "account_id": world.account_id,
        "campaign_id": world.campaign_id,
        "prospect_id": prospect_id,
        "render_id": render_id,
    }


@pytest.fixture
def two_renders(world: World) -> tuple[ProspectVideo, ProspectVideo]:
    other = world.add_prospect("other@example.com")
    return _rendering(world, world.prospect_id, "rnd_1"), _rendering(world, other, "rnd_2")


def test_window_progress(world: World, two_renders: tuple[ProspectVideo, ProspectVideo]) -> None:
    mine, _ = two_renders
    meta = _window_meta(world, mine.prospect_id, "rnd_1")
    assert (
        world.event("STATUS_UPDATE", metadata=meta, jobProgress={"jobPercentComplete": 40}).action
        == "progress"
    )
    got = world.videos.get(world.account_id, world.campaign_id, mine.prospect_id)
    assert got.progress == 40 and got.job_id == "job-0001" and got.status is VideoStatus.RENDERING
    assert (
        world.event("STATUS_UPDATE", metadata=meta, jobProgress={"jobPercentComplete": 30}).action
        == "ignored"
    )
    assert world.videos.get(world.account_id, world.campaign_id, mine.prospect_id).progress == 40


def test_window_error_fails_only_that_prospect(
    world: World, two_renders: tuple[ProspectVideo, ProspectVideo]
) -> None:
    mine, theirs = two_renders
    campaign_before = world.campaign
    meta = _window_meta(world, mine.prospect_id, "rnd_1")
    outcome = world.event("ERROR", metadata=meta, errorCode=1040, errorMessage="clip outside the input")
    assert outcome == svc.EventOutcome("window", "failed")
    got = world.videos.get(world.account_id, world.campaign_id, mine.prospect_id)
    assert got.status is VideoStatus.FAILED
    assert got.error == "rendering failed: clip outside the input (MediaConvert error 1040)"
    assert world.videos.get(world.account_id, world.campaign_id, theirs.prospect_id) == theirs
    assert world.campaign == campaign_before
    # a duplicate delivery of the same ERROR changes nothing
    assert world.event("ERROR", metadata=meta, errorCode=1040, errorMessage="again").action == "ignored"
    assert world.videos.get(world.account_id, world.campaign_id, mine.prospect_id).error == got.error


def test_window_cancel(world: World, two_renders: tuple[ProspectVideo, ProspectVideo]) -> None:
    mine, _ = two_renders
    assert world.event("CANCELED", metadata=_window_meta(world, mine.prospect_id, "rnd_1")).action == "failed"
    got = world.videos.get(world.account_id, world.campaign_id, mine.prospect_id)
    assert got.error == "rendering failed: the render was cancelled"


def test_events_of_a_superseded_render_are_ignored(
    world: World, two_renders: tuple[ProspectVideo, ProspectVideo]
) -> None:
    mine, _ = two_renders
    old = _window_meta(world, mine.prospect_id, "rnd_0")
    for status, extra in (
        ("STATUS_UPDATE", {"jobProgress": {"jobPercentComplete": 90}}),
        ("ERROR", {"errorCode": 1010, "errorMessage": "old job"}),
        ("COMPLETE", {}),
    ):
        assert world.event(status, metadata=old, **extra).action == "ignored"
    assert world.videos.get(world.account_id, world.campaign_id, mine.prospect_id) == mine


def test_window_complete_without_outputs_fails_publishing(
    world: World, two_renders: tuple[ProspectVideo, ProspectVideo]
) -> None:
    mine, theirs = two_renders
    assert world.event("COMPLETE", metadata=_window_meta(world, mine.prospect_id, "rnd_1")).action == "failed"
    got = world.videos.get(world.account_id, world.campaign_id, mine.prospect_id)
    assert got.status is VideoStatus.FAILED and got.error is not None
    assert got.error.startswith("publishing failed: ")
    assert world.videos.get(world.account_id, world.campaign_id, theirs.prospect_id) == theirs


def test_window_event_for_a_prospect_without_a_video_is_ignored(world: World) -> None:
    meta = _window_meta(world, world.prospect_id, "rnd_9")
    assert world.event("ERROR", metadata=meta, errorCode=1, errorMessage="x") == svc.EventOutcome(
        "window", "ignored"
    )


# --------------------------------------------------------------------------- start_render

BASE_SECONDS = 10.0


def _base_pcm(seconds: float = BASE_SECONDS) -> np.ndarray:
    """Base audio whose every frame is recognisable: left counts up, right counts down."""
    n = np.arange(round(seconds * RATE))
    left = (n % 30_000) - 15_000
    return np.stack([left, -left], axis=1).astype("<i2")


def _wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def _frames(wav: bytes) -> np.ndarray:
    layout = wav_layout(wav)
    assert (layout.channels, layout.sample_rate, layout.bits) == (2, RATE, 16)
    data = wav[layout.data_offset : layout.data_offset + layout.data_bytes]
    return np.frombuffer(data, dtype="<i2").reshape(-1, 2).astype(np.int32)


VOICE = np.full((round(0.8 * RATE), 2), 7_777, dtype="<i2")


@pytest.fixture
def ready(world: World) -> World:
    """The campaign's base is encoded: a 10 s 1280×720 30 fps ladder, its WAV, and a voice clip."""
    ladder = Ladder(
        prefix=world.prefix,
        master="main.m3u8",
        audio_playlist="main_audio.m3u8",
        pcm="audio.wav",
        renditions=["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"],
        width=1280,
        height=720,
        fps=30,
        duration_seconds=BASE_SECONDS,
        segment_count=5,
    )
    world.campaigns.update(
        world.account_id,
        world.campaign_id,
        lambda c: c.model_copy(
            update={
                "status": CampaignStatus.READY,
                "base_video": world.base.model_copy(update={"status": UploadStatus.READY, "ladder": ladder}),
            }
        ),
    )
    world.media.put_bytes(f"{world.prefix}/audio.wav", _wav(_base_pcm()), "audio/wav")
    world.media.put_bytes("voice/siobhan.wav", _wav(VOICE), "audio/wav")
    return world


def _render(
    world: World, start: float, end: float, overlay: OverlayText | None = None, **kw: Any
) -> ProspectVideo:
    request = svc.RenderRequest(
        account_id=world.account_id,
        campaign_id=world.campaign_id,
        prospect_id=kw.pop("prospect_id", world.prospect_id),
        window=RenderWindow(start=start, end=end),
        audio_key=kw.pop("audio_key", "voice/siobhan.wav"),
        overlay=overlay,
    )
    return svc.start_render(
        request,
        campaigns=world.campaigns,
        prospects=world.prospects,
        videos=world.videos,
        media=world.media,
        uploads=world.uploads,
        media_jobs=world.jobs,
        config=CONFIG,
        codec=PyAVMediaCodec(),
    )


def test_start_render_prepares_the_span_audio_and_submits_one_job(ready: World) -> None:
    # 4.003 s lies before audio segment 2's first sample (4.0107 s): the span is segments 1..2
    video = _render(ready, 4.003, 4.9)
    assert (video.first_segment, video.segment_count) == (1, 2)
    assert video.status is VideoStatus.RENDERING and video.job_id == "job-0001" and video.version == 1
    assert video.prefix == svc.render_prefix(
        ready.account_id, ready.campaign_id, ready.prospect_id, video.render_id
    )
    assert video.window == RenderWindow(start=4.003, end=4.9) and video.base_upload_id == ready.upload_id
    assert ready.videos.get(ready.account_id, ready.campaign_id, ready.prospect_id) == video

    # the WAV starts at the span's first second and runs past its end by the encoder's look-ahead
    wav = ready.media.get_bytes(f"{video.prefix}/input/audio.wav")
    assert ready.media.content_types[f"{video.prefix}/input/audio.wav"] == "audio/wav"
    got, base = _frames(wav), _base_pcm().astype(np.int32)
    span_start = 2 * RATE
    assert len(got) == round((6.0 + svc.SPAN_TAIL_SECONDS) * RATE) - span_start
    expected = base[span_start : span_start + len(got)]
    w0, w1 = round(4.003 * RATE) - span_start, round(4.9 * RATE) - span_start
    assert np.array_equal(got[:w0], expected[:w0])
    assert np.array_equal(got[w1:], expected[w1:])
    assert np.all(got[w0 + FADE : w0 + len(VOICE)] == 7_777)  # the voice…
    assert np.all(got[w0 + len(VOICE) : w1 - FADE] == 0)  # …then silence to the window's end

    (request,) = ready.jobs.submitted
    assert request.client_request_token == video.render_id
    assert request.user_metadata == {
        "kind": "window",
        "account_id": ready.account_id,
        "campaign_id": ready.campaign_id,
        "prospect_id": ready.prospect_id,
        "render_id": video.render_id,
    }
    (the_input,) = request.settings["Inputs"]
    assert the_input["FileInput"] == f"s3://tailorcast-test-uploads/{ready.base.key}"
    (clip,) = the_input["InputClippings"]
    assert parse_timecode(clip["StartTimecode"], 30) == 2 * 30  # the span's first frame
    assert parse_timecode(clip["EndTimecode"], 30) == 6 * 30 - 1  # …and its last, inclusive
    selector = the_input["AudioSelectors"][jobs.AUDIO_SELECTOR]
    assert selector["ExternalAudioFileInput"] == f"s3://tailorcast-test-media/{video.prefix}/input/audio.wav"
    assert selector["Offset"] == 2000
    assert "ImageInserter" not in the_input
    (group,) = request.settings["OutputGroups"]
    assert group["OutputGroupSettings"]["CmafGroupSettings"]["Destination"] == (
        f"s3://tailorcast-test-media/{video.prefix}/window/main"
    )
    assert [o["NameModifier"] for o in group["Outputs"]] == ["_audio"]


def test_start_render_with_a_name_card(ready: World) -> None:
    video = _render(ready, 4.6, 5.9, OverlayText(text="Zoë O'Brien", subtitle="Acme Corp"))
    assert video.overlay == OverlayText(text="Zoë O'Brien", subtitle="Acme Corp")
    assert (video.first_segment, video.segment_count) == (2, 1)
    png = Image.open(io.BytesIO(ready.media.get_bytes(f"{video.prefix}/input/overlay.png")))
    left, top, right, bottom = card_box(1280, 720)
    assert png.format == "PNG" and png.mode == "RGBA" and png.size == (right - left, bottom - top)
    assert max(png.getchannel("A").getdata()) > 0  # not fully transparent: the card is drawn
    (request,) = ready.jobs.submitted
    (image,) = request.settings["Inputs"][0]["ImageInserter"]["InsertableImages"]
    assert image["ImageInserterInput"] == f"s3://tailorcast-test-media/{video.prefix}/input/overlay.png"
    assert (image["ImageX"], image["ImageY"]) == (left, top)
    assert parse_timecode(image["StartTime"], 30) == round(4.6 * 30) and image["Duration"] == 1300
    videos = [o for o in request.settings["OutputGroups"][0]["Outputs"] if "VideoDescription" in o]
    assert [o["NameModifier"] for o in videos] == ["_360p", "_480p", "_720p"]


def test_a_window_in_the_final_segment_reads_to_the_end_of_the_base_audio(ready: World) -> None:
    video = _render(ready, 9.0, 9.95)
    assert (video.first_segment, video.segment_count) == (4, 1)
    got = _frames(ready.media.get_bytes(f"{video.prefix}/input/audio.wav"))
    assert len(got) == 2 * RATE  # 8 s to the end of the 10 s WAV: the tail is clamped to the data
    assert np.array_equal(got[: RATE - FADE], _base_pcm()[8 * RATE : 9 * RATE - FADE])
    (request,) = ready.jobs.submitted
    clip = request.settings["Inputs"][0]["InputClippings"][0]
    assert parse_timecode(clip["EndTimecode"], 30) == 10 * 30 - 1


def test_a_new_render_replaces_the_prospect_s_current_one(ready: World) -> None:
    first = _render(ready, 4.6, 5.5)
    second = _render(ready, 0.3, 1.2)
    assert second.render_id != first.render_id and second.version == 2
    stored = ready.videos.get(ready.account_id, ready.campaign_id, ready.prospect_id)
    assert stored.render_id == second.render_id and stored.first_segment == 0
    assert [r.client_request_token for r in ready.jobs.submitted] == [first.render_id, second.render_id]
    # the old render's events no longer touch the prospect's video
    old = _window_meta(ready, ready.prospect_id, first.render_id)
    assert ready.event("ERROR", metadata=old, errorCode=1, errorMessage="x").action == "ignored"


def test_start_render_refuses_while_the_base_is_not_ready(world: World) -> None:
    world.media.put_bytes("voice/siobhan.wav", _wav(VOICE), "audio/wav")
    before = dict(world.media.objects)
    with pytest.raises(ConflictError, match="not ready"):
        _render(world, 4.6, 5.9)
    assert world.jobs.submitted == [] and world.media.objects == before and world.videos.items == {}


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (9.5, 10.8, "window.end"),  # past the end
        (-0.5, 1.0, "window.start"),
        (1.0, 1.05, "window.end"),  # too short
    ],
)
def test_start_render_refuses_a_bad_window_before_anything(
    ready: World, start: float, end: float, field: str
) -> None:
    before = dict(ready.media.objects)
    with pytest.raises(InvalidInputError) as err:
        _render(ready, start, end)
    assert field in [i.loc for i in err.value.issues]
    assert ready.jobs.submitted == [] and ready.media.objects == before and ready.videos.items == {}


def test_start_render_refuses_a_window_over_30_seconds(ready: World) -> None:
    ladder = ready.base.ladder
    assert ladder is not None
    longer = ladder.model_copy(update={"duration_seconds": 120.0, "segment_count": 60})
    ready.campaigns.update(
        ready.account_id,
        ready.campaign_id,
        lambda c: c.model_copy(update={"base_video": ready.base.model_copy(update={"ladder": longer})}),
    )
    before = dict(ready.media.objects)
    with pytest.raises(InvalidInputError) as err:
        _render(ready, 10.0, 40.5)
    assert [i.loc for i in err.value.issues] == ["window"]
    assert ready.jobs.submitted == [] and ready.media.objects == before


def test_start_render_refuses_audio_longer_than_the_window(ready: World) -> None:
    before = dict(ready.media.objects)
    with pytest.raises(InvalidInputError, match=r"longer than the 0\.300 s window"):
        _render(ready, 2.0, 2.3)  # the voice lasts 0.8 s
    assert ready.jobs.submitted == [] and ready.media.objects == before and ready.videos.items == {}


def test_start_render_refuses_undecodable_or_missing_audio(ready: World) -> None:
    ready.media.put_bytes("voice/garbage.wav", b"RIFF but not really" * 50, "audio/wav")
    with pytest.raises(InvalidInputError, match="replacement audio"):
        _render(ready, 2.0, 3.0, audio_key="voice/garbage.wav")
    with pytest.raises(NotFoundError):
        _render(ready, 2.0, 3.0, audio_key="voice/missing.wav")
    assert ready.jobs.submitted == []


def test_start_render_for_an_unknown_prospect(ready: World) -> None:
    with pytest.raises(NotFoundError):
        _render(ready, 2.0, 3.0, prospect_id=new_id("pros"))
    assert ready.jobs.submitted == []


def test_start_render_refuses_a_ladder_encoded_with_other_rungs(ready: World) -> None:
    ladder = ready.base.ladder
    assert ladder is not None
    odd = ladder.model_copy(update={"renditions": ["main_360p.m3u8", "main_720p.m3u8"]})
    ready.campaigns.update(
        ready.account_id,
        ready.campaign_id,
        lambda c: c.model_copy(update={"base_video": ready.base.model_copy(update={"ladder": odd})}),
    )
    with pytest.raises(ConflictError, match="other renditions"):
        _render(ready, 2.0, 3.0)
    assert ready.jobs.submitted == [] and ready.videos.items == {}


# --------------------------------------------------------------------------- reconciliation


def _stale(world: World, seconds: float) -> None:
    """Pretend the base went processing ``seconds`` ago with job-0001 submitted."""
    from datetime import timedelta

    from chalicelib.domain.models import utcnow

    base = world.base.model_copy(
        update={"job_id": "job-0001", "updated_at": utcnow() - timedelta(seconds=seconds)}
    )
    world.campaigns.save(world.campaign.model_copy(update={"base_video": base}))


def test_a_recent_processing_base_is_not_checked(world: World) -> None:
    _stale(world, 5)
    # No job is known to the fake service: were it asked, the base would fail.
    after = svc.reconcile_base(
        world.campaign, campaigns=world.campaigns, media=world.media, media_jobs=world.jobs
    )
    assert after.base_video is not None and after.base_video.status is UploadStatus.PROCESSING


def test_a_base_whose_job_is_lost_fails_instead_of_hanging(world: World) -> None:
    _stale(world, svc.RECONCILE_AFTER_SECONDS + 1)
    after = svc.reconcile_base(
        world.campaign, campaigns=world.campaigns, media=world.media, media_jobs=world.jobs
    )
    assert after.base_video is not None and after.base_video.status is UploadStatus.FAILED
    assert "interrupted" in (after.base_video.reason or "")


def test_a_base_whose_error_event_was_lost_gets_the_services_reason(world: World) -> None:
    from chalicelib.domain.ports import JobStatus

    _stale(world, svc.RECONCILE_AFTER_SECONDS + 1)
    world.jobs.statuses["job-0001"] = JobStatus("ERROR", error_code=1010, error_message="input unreadable")
    after = svc.reconcile_base(
        world.campaign, campaigns=world.campaigns, media=world.media, media_jobs=world.jobs
    )
    assert after.base_video is not None and after.base_video.status is UploadStatus.FAILED
    assert "input unreadable (MediaConvert error 1010)" in (after.base_video.reason or "")


def test_a_base_still_encoding_is_left_alone(world: World) -> None:
    from chalicelib.domain.ports import JobStatus

    _stale(world, svc.RECONCILE_AFTER_SECONDS + 1)
    world.jobs.statuses["job-0001"] = JobStatus("PROGRESSING", 40)
    after = svc.reconcile_base(
        world.campaign, campaigns=world.campaigns, media=world.media, media_jobs=world.jobs
    )
    assert after.base_video is not None and after.base_video.status is UploadStatus.PROCESSING


def test_a_render_whose_job_is_lost_fails_only_that_prospect(world: World) -> None:
    from datetime import timedelta

    from chalicelib.domain.models import utcnow

    video = world.videos.save(
        ProspectVideo(
            account_id=world.account_id,
            campaign_id=world.campaign_id,
            prospect_id=world.prospect_id,
            render_id=new_id("rnd"),
            base_upload_id=world.upload_id,
            window=RenderWindow(start=1.0, end=2.0),
            first_segment=0,
            segment_count=1,
            job_id="job-0042",
            prefix="x",
            created_at=utcnow() - timedelta(seconds=svc.RECONCILE_AFTER_SECONDS + 1),
        )
    )
    after = render.reconcile_video(world.ports, video)
    assert after.status is VideoStatus.FAILED and "interrupted" in (after.error or "")
    assert world.base.status is UploadStatus.PROCESSING  # the campaign is not touched
