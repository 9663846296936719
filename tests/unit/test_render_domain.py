"""The render pipeline's use cases (``chalicelib/domain/render/``) on the in-memory fakes.

Each step is driven the way the state machine drives it, retries and resumes included. The media
work itself (``media.prepare_window``, ``media.publish_render``) is replaced by stand-ins that
return the fields the real ones return: the media tests cover those; one test here runs the real
window preparation to prove the wiring.
"""

from __future__ import annotations

import contextlib
import io
import json
import wave
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import media, render
from chalicelib.domain.errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from chalicelib.domain.media import jobs as media_jobs
from chalicelib.domain.media.ladder import AUDIO_SAMPLE_RATE
from chalicelib.domain.models import (
    BaseVideo,
    BatchCounters,
    Campaign,
    CampaignStatus,
    CampaignVoice,
    Ladder,
    NameCard,
    OverlayText,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RenderBatchStatus,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    VoiceSlot,
    VoiceStatus,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import JobStatus
from tests import fakes

CONFIG = media.MediaConfig(role_arn="arn:aws:iam::123456789012:role/tailorcast-test-mediaconvert")
WINDOW = RenderWindow(start=4.6, end=5.9)
AUDIO_KEY = "voice/siobhan.wav"
MEDIA_URL = "https://media.example.com"
PUBLISHED = {
    "master": media.PROSPECT_MASTER,
    "new_bytes": 4321,
    "progress": 100,
    "poster": media.POSTER_NAME,
    "preview": media.PREVIEW_NAME,
}
NAMES = ("Siobhan", "Priya", "Zoë", "Oisín", "Kwame", "Mette")


class World:
    """Every port the render pipeline touches, as fakes, and a campaign ready to render."""

    def __init__(self, prospects: int = 3) -> None:
        self.campaigns = fakes.FakeCampaignRepository()
        self.prospects = fakes.FakeProspectRepository()
        self.batches = fakes.FakeRenderBatchRepository()
        self.videos = fakes.FakeVideoRepository(batches=self.batches, prospects=self.prospects)
        self.lexicon = fakes.FakeLexiconRepository()
        self.media = fakes.FakeObjectStore("tailorcast-test-media")
        self.uploads = fakes.FakeObjectStore("tailorcast-test-uploads")
        self.jobs = fakes.FakeMediaJobs()
        self.orchestrator = fakes.FakeOrchestrator()
        self.callbacks = fakes.FakeCallbacks()
        self.events = fakes.FakeEventPublisher()
        self.account_id = new_id("acct")
        self.ports = render.RenderPorts(
            campaigns=self.campaigns,
            prospects=self.prospects,
            videos=self.videos,
            batches=self.batches,
            lexicon=self.lexicon,
            media=self.media,
            uploads=self.uploads,
            jobs=self.jobs,
            codec=fakes.FakeMediaCodec(),
            config=CONFIG,
            orchestrator=self.orchestrator,
            callbacks=self.callbacks,
            events=self.events,
            media_url=lambda key: f"{MEDIA_URL}/{key}",
            accounts=fakes.accounts_with(self.account_id),
            ledger=self.videos.ledger,
        )
        self.campaign_id = new_id("camp")
        self.upload_id = new_id("upl")
        self.prefix = media.base_prefix(self.account_id, self.campaign_id, self.upload_id)
        ladder = Ladder(
            prefix=self.prefix,
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
        self.campaigns.add(
            Campaign(
                account_id=self.account_id,
                campaign_id=self.campaign_id,
                name="Q4",
                status=CampaignStatus.READY,
                base_video=BaseVideo(
                    upload_id=self.upload_id,
                    key=f"{self.account_id}/{self.campaign_id}/base_video/{self.upload_id}/pitch.mp4",
                    filename="pitch.mp4",
                    status=UploadStatus.READY,
                    ladder=ladder,
                ),
                voice=CampaignVoice(
                    status=VoiceStatus.READY,
                    slots=[VoiceSlot(variable="first_name", start=WINDOW.start, end=WINDOW.end)],
                    prepared_upload_id=self.upload_id,
                    prepared_at=utcnow(),
                ),
            )
        )
        self.prospect_ids = [
            self.add_prospect(NAMES[i % len(NAMES)], f"p{i}@example.com") for i in range(prospects)
        ]
        self.prepared_windows: list[str] = []  # render ids the stand-in prepared
        self.publish_error: Exception | None = None
        self._tokens = 0

    # ------------------------------------------------------------------ set-up

    def add_prospect(self, first_name: str, email: str, **fields: Any) -> str:
        prospect = Prospect(
            account_id=self.account_id,
            campaign_id=self.campaign_id,
            prospect_id=new_id("pros"),
            first_name=first_name,
            email=email,
            **fields,
        )
        return self.prospects.add(prospect).prospect_id

    def edit_prospect(self, prospect_id: str, **update: Any) -> None:
        part = self.prospects.items[(self.account_id, self.campaign_id)]
        key = f"PROSPECT#{prospect_id}"
        part[key] = part[key].model_copy(update=update)

    def edit_campaign(self, **update: Any) -> None:
        self.campaigns.update(self.account_id, self.campaign_id, lambda c: c.model_copy(update=update))

    # stand-ins for the media engine (see the module docstring)

    def prepare_window(
        self,
        request: media.RenderRequest,
        render_id: str,
        campaign: Campaign,
        media_store: Any,
        uploads: Any,
        config: media.MediaConfig,
    ) -> media.PreparedWindow:
        if campaign.base_video is None or campaign.base_video.status is not UploadStatus.READY:
            raise ConflictError("the campaign's base video is not ready yet")
        self.prepared_windows.append(render_id)
        prefix = media.render_prefix(request.account_id, request.campaign_id, request.prospect_id, render_id)
        fields = {
            "base_upload_id": campaign.base_video.upload_id,
            "window": request.window,
            "overlay": request.overlay,
            "first_segment": 2,
            "segment_count": 1,
            "prefix": prefix,
        }
        job = media_jobs.JobRequest(
            settings={"Inputs": []},
            user_metadata=media.window_metadata(
                request.account_id, request.campaign_id, request.prospect_id, render_id
            ),
            role=config.role_arn,
            client_request_token=render_id,
        )
        return media.PreparedWindow(fields, job)

    def publish_render(self, video: ProspectVideo, media_store: Any) -> dict[str, Any]:
        media.Submitted.of(video)  # like the real one: only a submitted render can be published
        if self.publish_error is not None:
            raise self.publish_error
        return dict(PUBLISHED)

    def install(self, patch: pytest.MonkeyPatch) -> World:
        # late-bound, so a test can swap a stand-in on the world
        # the real one takes its stores by keyword (two ObjectStores must never be swapped)
        patch.setattr(
            media,
            "prepare_window",
            lambda request, render_id, campaign, **ports: self.prepare_window(
                request, render_id, campaign, ports["media"], ports["uploads"], ports["config"]
            ),
        )
        patch.setattr(media, "publish_render", lambda *a, **ports: self.publish_render(*a))
        return self

    # ------------------------------------------------------------------ reads

    @property
    def campaign(self) -> Campaign:
        return self.campaigns.get(self.account_id, self.campaign_id)

    def batch(self, batch_id: str) -> RenderBatch:
        return self.batches.get(self.account_id, self.campaign_id, batch_id)

    def video(self, prospect_id: str) -> ProspectVideo:
        return self.videos.get(self.account_id, self.campaign_id, prospect_id)

    def tally(self, batch_id: str) -> BatchCounters:
        """The counters as the videos' statuses say they should be."""
        counts = dict.fromkeys(BatchCounters.model_fields, 0)
        for v in self.videos.list_campaign(self.account_id, self.campaign_id):
            if v.batch_id == batch_id:
                counts[render.COUNTER_OF[v.status]] += 1
        return BatchCounters(**counts)

    def event_ids(self, event_type: str) -> list[str]:
        return [e.event_id for e in self.events.of_type(event_type)]

    # ------------------------------------------------------------------ steps, as the state machine calls them

    def start(self, **kw: Any) -> RenderBatch:
        return render.start_batch(self.ports, self.account_id, self.campaign_id, **kw)

    def prepare(self, batch_id: str, inline_max: int = 100) -> render.PreparedBatch:
        return render.prepare_batch(self.ports, self.account_id, self.campaign_id, batch_id, inline_max, 4)

    def started(self, **kw: Any) -> RenderBatch:
        """A batch started and prepared."""
        batch = self.start(**kw)
        self.prepare(batch.batch_id)
        return self.batch(batch.batch_id)

    def begin(self, prospect_id: str, batch_id: str) -> bool:
        video = self.video(prospect_id)
        return render.begin_prospect(
            self.ports, self.account_id, self.campaign_id, prospect_id, batch_id, video.render_id
        )

    def new_token(self) -> str:
        self._tokens += 1
        return f"token-{self._tokens}"

    def step(
        self, prospect_id: str, token: str | None = None, render_id: str | None = None
    ) -> render.RenderStep:
        return render.RenderStep(
            account_id=self.account_id,
            campaign_id=self.campaign_id,
            prospect_id=prospect_id,
            render_id=render_id or self.video(prospect_id).render_id,
            window=WINDOW,
            audio_key=AUDIO_KEY,
            task_token=token or self.new_token(),
        )

    def render(self, prospect_id: str, token: str | None = None) -> str:
        return render.render_prospect(self.ports, self.step(prospect_id, token))

    def job_event(self, prospect_id: str, status: str, **kw: Any) -> str:
        video = self.video(prospect_id)
        metadata = media.window_metadata(
            self.account_id, self.campaign_id, prospect_id, kw.pop("render_id", video.render_id)
        )
        event = media.JobEvent(job_id=video.job_id or "", status=status, metadata=metadata, **kw)
        return render.on_window_event(self.ports, event)

    def publish(self, prospect_id: str) -> ProspectVideo:
        video = self.video(prospect_id)
        return render.publish_prospect(
            self.ports, self.account_id, self.campaign_id, prospect_id, video.render_id
        )

    def fail(self, prospect_id: str, reason: str = "boom") -> ProspectVideo | None:
        video = self.video(prospect_id)
        return render.fail_prospect(
            self.ports, self.account_id, self.campaign_id, prospect_id, video.render_id, reason
        )

    def finalize(self, batch_id: str, error: str | None = None) -> RenderBatch:
        return render.finalize_batch(self.ports, self.account_id, self.campaign_id, batch_id, error)

    def rendering(self, prospect_id: str, batch_id: str) -> str:
        """begin → render: the prospect's job is submitted and its task waits; returns the token."""
        assert self.begin(prospect_id, batch_id)
        token = self.new_token()
        assert self.render(prospect_id, token) == "submitted"
        return token

    def complete(self, prospect_id: str, batch_id: str) -> ProspectVideo:
        """The whole happy path of one prospect."""
        self.rendering(prospect_id, batch_id)
        assert self.job_event(prospect_id, "COMPLETE") == "resumed"
        return self.publish(prospect_id)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    return World().install(monkeypatch)


def _only_batch(world: World) -> RenderBatch:
    (batch,) = world.batches.items.values()
    return world.batch(batch.batch_id)


# --------------------------------------------------------------------------- start_batch


def test_start_batch_claims_the_campaign_and_starts_one_execution(world: World) -> None:
    batch = world.start(tolerated_failure_percent=10)
    assert batch.status is RenderBatchStatus.RUNNING
    assert batch.executions == 1 and batch.started_at is not None
    assert batch.execution_arn is not None and batch.execution_arn.endswith(f"{batch.batch_id}-1")
    assert batch.tolerated_failure_percent == 10 and batch.prospect_ids is None and not batch.force
    assert world.orchestrator.started == [(batch.batch_id, 1)]
    assert world.campaign.active_batch_id == batch.batch_id
    assert world.batch(batch.batch_id) == batch


@pytest.mark.parametrize(
    ("base", "says"),
    [
        (None, "no base video yet"),
        ({"status": UploadStatus.PROCESSING, "ladder": None}, "the base video is processing"),
        ({"status": UploadStatus.FAILED, "reason": "x"}, "the base video is failed"),
    ],
)
def test_start_batch_refuses_until_the_base_video_is_ready(
    world: World, base: dict[str, Any] | None, says: str
) -> None:
    current = world.campaign.base_video
    assert current is not None
    world.edit_campaign(base_video=None if base is None else current.model_copy(update=base))
    with pytest.raises(ConflictError, match="upload a base video and wait until it is ready") as err:
        world.start()
    assert says in err.value.message
    assert world.batches.items == {} and world.orchestrator.started == []
    assert world.campaign.active_batch_id is None


@pytest.mark.parametrize(
    ("voice", "says"),
    [
        ({"status": VoiceStatus.PREPARING}, "the voice is preparing"),
        ({"status": VoiceStatus.NOT_READY}, "the voice is not_ready"),
        (
            {"status": VoiceStatus.NEEDS_ATTENTION, "error": "set the first_name slot by hand"},
            "set the first_name slot by hand",
        ),
    ],
)
def test_start_batch_refuses_until_the_voice_is_ready(world: World, voice: dict[str, Any], says: str) -> None:
    world.edit_campaign(voice=world.campaign.voice.model_copy(update=voice))
    with pytest.raises(ConflictError, match="cannot render yet") as err:
        world.start()
    assert says in err.value.message
    assert world.batches.items == {} and world.campaign.active_batch_id is None


def test_start_batch_refuses_while_the_voice_belongs_to_a_replaced_base(world: World) -> None:
    # GIVEN a new base video promoted, its voice not yet prepared (the slots are the old audio's)
    base = world.campaign.base_video
    assert base is not None
    world.edit_campaign(base_video=base.model_copy(update={"upload_id": "upl_new"}))
    with pytest.raises(ConflictError, match="not prepared for the new base video"):
        world.start()
    assert world.batches.items == {}


def test_a_second_batch_is_refused_while_one_is_active(world: World) -> None:
    first = world.start()
    with pytest.raises(ConflictError, match="still running") as err:
        world.start(prospect_ids=world.prospect_ids[:1])
    assert first.batch_id in err.value.message and "cancel it first" in err.value.message
    assert list(world.batches.items) == [(world.account_id, world.campaign_id, first.batch_id)]
    assert world.orchestrator.started == [(first.batch_id, 1)]
    assert world.campaign.active_batch_id == first.batch_id


def test_unknown_prospect_ids_are_named_by_position(world: World) -> None:
    p0, p1, _ = world.prospect_ids
    with pytest.raises(InvalidInputError) as err:
        world.start(prospect_ids=[p0, "pros_nobody", p1, "pros_other_tenant"])
    assert [i.loc for i in err.value.issues] == ["body.prospect_ids.1", "body.prospect_ids.3"]
    assert "pros_nobody" in err.value.issues[0].message
    assert world.batches.items == {} and world.campaign.active_batch_id is None


def test_another_tenant_cannot_start_a_batch(world: World) -> None:
    with pytest.raises(NotFoundError):
        render.start_batch(world.ports, new_id("acct"), world.campaign_id)
    assert world.batches.items == {}


def test_chosen_prospects_are_deduplicated(world: World) -> None:
    p0, p1, _ = world.prospect_ids
    batch = world.start(prospect_ids=[p1, p0, p1])
    assert batch.prospect_ids == [p1, p0]
    prepared = world.prepare(batch.batch_id)
    assert sorted(i["prospect_id"] for i in prepared.items) == sorted([p0, p1])
    assert world.batch(batch.batch_id).total == 2


def test_an_orchestrator_refusal_fails_the_batch_and_frees_the_campaign(world: World) -> None:
    world.orchestrator.refuse = "the render could not start: ExecutionLimitExceeded"
    with pytest.raises(StorageError):
        world.start()
    batch = _only_batch(world)
    assert batch.status is RenderBatchStatus.FAILED and batch.finished_at is not None
    assert batch.error is not None and "ExecutionLimitExceeded" in batch.error
    assert world.campaign.active_batch_id is None
    # the campaign can render again once Step Functions answers
    world.orchestrator.refuse = None
    assert world.start().status is RenderBatchStatus.RUNNING


def test_an_execution_that_finishes_before_start_batch_returns_keeps_its_verdict(world: World) -> None:
    """Step Functions runs the execution while ``start_batch`` is still writing: an empty batch
    can be prepared and finalized before the API marks it running."""
    fast = world.orchestrator
    original_start = fast.start

    def start_and_run(batch: RenderBatch, attempt: int) -> str:
        arn = original_start(batch, attempt)
        world.prepare(batch.batch_id)
        world.finalize(batch.batch_id)
        return arn

    fast.start = start_and_run  # type: ignore[method-assign, assignment]
    world.prospects.items.clear()  # an empty campaign: nothing to render, finalized at once
    batch = world.start()
    assert batch.status is RenderBatchStatus.COMPLETED, "a finished batch must not go back to running"
    assert world.batch(batch.batch_id).status is RenderBatchStatus.COMPLETED
    assert world.campaign.active_batch_id is None


# --------------------------------------------------------------------------- prepare_batch


def test_prepare_queues_every_prospect_the_first_time(world: World) -> None:
    batch = world.start()
    prepared = world.prepare(batch.batch_id)
    assert (prepared.mode, prepared.total, prepared.manifest_key) == ("inline", 3, None)
    assert sorted(i["prospect_id"] for i in prepared.items) == sorted(world.prospect_ids)
    for item in prepared.items:
        video = world.video(item["prospect_id"])
        assert video.render_id == item["render_id"] and video.render_id.startswith("rnd_")
        assert (video.status, video.render_version, video.batch_id) == (VideoStatus.QUEUED, 1, batch.batch_id)
        assert video.inputs_hash and video.queued_at is not None
    after = world.batch(batch.batch_id)
    assert after.counters == BatchCounters(queued=3)
    assert (after.total, after.skipped, after.mode) == (3, 0, "inline") and after.prepared_at is not None
    assert prepared.as_dict("tailorcast-test-media") == {
        "total": 3,
        "mode": "inline",
        "concurrency": 4,
        "items": prepared.items,
    }


def test_a_completed_prospect_with_the_same_inputs_is_skipped(world: World) -> None:
    first = world.started()
    for pid in world.prospect_ids:
        world.complete(pid, first.batch_id)
    world.finalize(first.batch_id)
    p0, p1, p2 = world.prospect_ids
    world.edit_prospect(p1, first_name="Siobhán")  # inputs changed: re-rendered
    second = world.start()
    prepared = world.prepare(second.batch_id)
    assert [i["prospect_id"] for i in prepared.items] == [p1]
    after = world.batch(second.batch_id)
    assert (after.total, after.skipped) == (1, 2)
    assert after.counters == BatchCounters(queued=1)
    renewed = world.video(p1)
    assert renewed.render_version == 2 and renewed.batch_id == second.batch_id
    assert renewed.render_id == prepared.items[0]["render_id"] != world.batch(first.batch_id).batch_id
    for pid in (p0, p2):
        kept = world.video(pid)
        assert (kept.status, kept.render_version, kept.batch_id) == (
            VideoStatus.COMPLETED,
            1,
            first.batch_id,
        )


def test_a_changed_name_force_or_pronunciation_re_renders_with_a_new_version(world: World) -> None:
    first = world.started()
    p0, p1, p2 = world.prospect_ids
    old = {pid: world.complete(pid, first.batch_id) for pid in world.prospect_ids}
    world.finalize(first.batch_id)

    world.edit_prospect(p0, first_name="Síle")
    world.lexicon.put(
        PronunciationEntry(account_id=world.account_id, key="priya", name="Priya", pronunciation="PREE-yah")
    )  # p1 is Priya: how her name is said changed
    second = world.started()
    assert sorted(i for i in world.tally(second.batch_id).model_dump().values() if i) == [2]
    for pid in (p0, p1):
        video = world.video(pid)
        assert video.render_version == 2 and video.render_id != old[pid].render_id
        assert video.status is VideoStatus.QUEUED and video.inputs_hash != old[pid].inputs_hash
    assert world.video(p2).render_id == old[p2].render_id
    for pid in (p0, p1):
        world.complete(pid, second.batch_id)
    world.finalize(second.batch_id)

    forced = world.started(force=True)
    assert forced.total == 3 and forced.skipped == 0
    assert {world.video(pid).render_version for pid in world.prospect_ids} == {3, 2}
    assert world.video(p2).render_id != old[p2].render_id


def test_a_failed_or_cancelled_prospect_is_queued_again(world: World) -> None:
    first = world.started()
    p0, p1, p2 = world.prospect_ids
    world.complete(p0, first.batch_id)
    assert world.begin(p1, first.batch_id)
    world.fail(p1, "rendering failed: boom")
    render.cancel_batch(world.ports, world.account_id, world.campaign_id, first.batch_id)
    assert world.video(p2).status is VideoStatus.PENDING
    second = world.started()
    assert (second.total, second.skipped) == (2, 1)
    assert {world.video(pid).status for pid in (p1, p2)} == {VideoStatus.QUEUED}
    assert world.video(p1).render_version == 2 and world.video(p1).error is None


def test_a_prospect_still_rendering_in_another_batch_is_skipped(world: World) -> None:
    first = world.started()
    p0, p1, p2 = world.prospect_ids
    world.rendering(p0, first.batch_id)
    render.cancel_batch(world.ports, world.account_id, world.campaign_id, first.batch_id)
    assert world.video(p0).status is VideoStatus.RENDERING  # submitted renders finish
    second = world.start()
    prepared = world.prepare(second.batch_id)
    assert sorted(i["prospect_id"] for i in prepared.items) == sorted([p1, p2])
    assert world.batch(second.batch_id).skipped == 1
    assert world.video(p0).batch_id == first.batch_id


def test_a_retried_prepare_returns_the_same_items_without_counting_again(world: World) -> None:
    batch = world.start()
    first = world.prepare(batch.batch_id)
    p0 = first.items[0]["prospect_id"]
    assert world.begin(p0, batch.batch_id)  # p0 was synthesizing when the execution stopped
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, in_progress=1)
    again = world.prepare(batch.batch_id)
    assert sorted(again.items, key=str) == sorted(first.items, key=str)
    assert world.video(p0).status is VideoStatus.QUEUED  # its voice starts again
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=3)
    assert world.batch(batch.batch_id).total == 3


def test_a_prepare_retried_before_it_recorded_itself_reuses_its_renders(world: World) -> None:
    batch = world.start()
    first = world.prepare(batch.batch_id)
    # as if the first try died after queuing the videos, before marking the batch prepared
    world.batches.update(
        world.account_id,
        world.campaign_id,
        batch.batch_id,
        lambda b: b.model_copy(update={"prepared_at": None}),
    )
    again = world.prepare(batch.batch_id)
    assert sorted(again.items, key=str) == sorted(first.items, key=str)
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=3)
    assert {world.video(pid).render_version for pid in world.prospect_ids} == {1}


def test_a_large_batch_goes_to_a_manifest(world: World) -> None:
    batch = world.start()
    prepared = world.prepare(batch.batch_id, inline_max=2)
    key = render.manifest_key(world.batch(batch.batch_id))
    assert (prepared.mode, prepared.total, prepared.items, prepared.manifest_key) == (
        "distributed",
        3,
        [],
        key,
    )
    manifest = json.loads(world.media.get_bytes(key))
    assert sorted(i["prospect_id"] for i in manifest) == sorted(world.prospect_ids)
    assert {i["render_id"] for i in manifest} == {world.video(p).render_id for p in world.prospect_ids}
    assert world.media.content_types[key] == "application/json"
    assert world.batch(batch.batch_id).mode == "distributed"
    assert prepared.as_dict("tailorcast-test-media") == {
        "total": 3,
        "mode": "distributed",
        "concurrency": 4,
        "manifest": {"Bucket": "tailorcast-test-media", "Key": key},
    }


def test_nothing_to_render_or_a_finished_batch_prepares_empty(world: World) -> None:
    first = world.started()
    for pid in world.prospect_ids:
        world.complete(pid, first.batch_id)
    world.finalize(first.batch_id)
    assert world.prepare(first.batch_id).mode == "empty"  # finished: a late retry does nothing
    second = world.start()
    prepared = world.prepare(second.batch_id)
    assert (prepared.mode, prepared.total, prepared.items) == ("empty", 0, [])
    assert world.batch(second.batch_id).skipped == 3
    assert world.finalize(second.batch_id).status is RenderBatchStatus.COMPLETED


def test_a_prospect_deleted_after_the_batch_started_is_left_out(world: World) -> None:
    p0, p1, _ = world.prospect_ids
    batch = world.start(prospect_ids=[p0, p1])
    world.prospects.delete(world.account_id, world.campaign_id, p1)
    assert [i["prospect_id"] for i in world.prepare(batch.batch_id).items] == [p0]


# --------------------------------------------------------------------------- one prospect


def test_a_prospect_from_queued_to_completed(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    # GIVEN the voice step starts
    assert world.begin(p0, batch.batch_id)
    video = world.video(p0)
    assert video.status is VideoStatus.SYNTHESIZING and video.synthesizing_at is not None
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, in_progress=1)
    assert world.begin(p0, batch.batch_id)  # a retried begin moves nothing
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, in_progress=1)

    # WHEN the render step submits the window job
    assert world.render(p0, "token-a") == "submitted"
    (request,) = world.jobs.submitted
    assert request.client_request_token == video.render_id
    video = world.video(p0)
    assert (video.status, video.task_token, video.job_id) == (VideoStatus.RENDERING, "token-a", "job-0001")
    assert video.window == WINDOW and video.prefix and video.rendering_at is not None
    assert video.overlay is None  # the campaign has no name card
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, in_progress=1)

    # AND the step is retried (its Lambda timed out): nothing new is submitted, the new token waits
    assert world.render(p0, "token-b") == "waiting"
    assert len(world.jobs.submitted) == 1 and world.video(p0).task_token == "token-b"

    # WHEN MediaConvert reports progress, then completion
    assert world.job_event(p0, "PROGRESSING", percent=40) == "progress"
    assert world.job_event(p0, "STATUS_UPDATE", percent=30) == "ignored"
    assert world.video(p0).progress == 40
    assert world.job_event(p0, "COMPLETE") == "resumed"
    # THEN the waiting task is resumed and nothing is published yet (the publish step does that)
    assert world.callbacks.succeeded == [("token-b", {"job_id": "job-0001"})]
    assert world.video(p0).status is VideoStatus.RENDERING and world.events.events == []

    # WHEN the publish step runs, twice (a retry)
    done = world.publish(p0)
    again = world.publish(p0)
    assert done.status is VideoStatus.COMPLETED and again == done
    assert (done.master, done.poster, done.preview, done.progress) == (
        "index.m3u8",
        "poster.jpg",
        "preview.webp",
        100,
    )
    assert done.task_token is None and done.completed_at is not None and done.new_bytes == 4321
    # THEN it is counted once and announced once, under a stable id
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, completed=1)
    (event,) = world.events.of_type(render.EVENT_VIDEO_COMPLETED)
    assert event.event_id == f"{done.render_id}.completed" and event.account_id == world.account_id
    assert event.data["playlist_url"] == f"{MEDIA_URL}/{done.prefix}/index.m3u8"
    assert event.data["poster_url"] == f"{MEDIA_URL}/{done.prefix}/poster.jpg"
    assert (event.data["status"], event.data["batch_id"], event.data["render_version"]) == (
        "completed",
        batch.batch_id,
        1,
    )
    # AND a late duplicate event changes nothing
    assert world.job_event(p0, "COMPLETE") == "ignored"
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, completed=1)


def test_publishing_that_cannot_queue_its_webhook_is_retried_without_counting_twice(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.rendering(p0, batch.batch_id)
    world.events.refuse = "throttled"
    with pytest.raises(StorageError):
        world.publish(p0)
    assert world.video(p0).status is VideoStatus.COMPLETED  # its own work is saved
    world.events.refuse = None
    world.publish(p0)
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, completed=1)
    assert world.event_ids(render.EVENT_VIDEO_COMPLETED) == [f"{world.video(p0).render_id}.completed"]


def test_a_name_card_is_filled_in_for_the_prospect(world: World) -> None:
    world.edit_campaign(name_card=NameCard(text="{first_name} {last_name}", subtitle="{company}"))
    p = world.add_prospect("Zoë", "zoe@example.com", last_name="O'Brien", company="Acme Corp")
    batch = world.started(prospect_ids=[p])
    world.rendering(p, batch.batch_id)
    assert world.video(p).overlay == OverlayText(text="Zoë O'Brien", subtitle="Acme Corp")


def test_render_when_the_job_already_finished(world: World) -> None:
    batch = world.started()
    p0, p1, _ = world.prospect_ids
    world.rendering(p0, batch.batch_id)
    world.rendering(p1, batch.batch_id)
    # GIVEN the jobs ended while their events were lost (the stack restarted)
    world.jobs.statuses[world.video(p0).job_id or ""] = JobStatus("COMPLETE", 100)
    world.jobs.statuses[world.video(p1).job_id or ""] = JobStatus(
        "ERROR", error_code=1010, error_message="bad input"
    )
    # WHEN a resumed batch reaches the render step again
    assert world.render(p0, "token-p0") == "job already complete"
    assert world.render(p1, "token-p1") == "job already failed"
    # THEN the new tasks are resumed at once; nothing is submitted again
    assert world.callbacks.succeeded[-1] == ("token-p0", {"job_id": world.video(p0).job_id})
    assert world.callbacks.failed == [
        ("token-p1", "MediaConvertError", "bad input (MediaConvert error 1010)")
    ]
    assert len(world.jobs.submitted) == 2


def test_render_resubmits_a_job_the_service_never_got(world: World) -> None:
    batch = world.started()
    p0, p1, _ = world.prospect_ids
    world.rendering(p0, batch.batch_id)
    # GIVEN the step died after recording the token, before the job id was stored
    world.videos.update(
        world.account_id, world.campaign_id, p0, lambda v: v.model_copy(update={"job_id": None})
    )
    assert world.render(p0, "token-x") == "resubmitted"
    # THEN the client token makes it the same job
    assert len(world.jobs.submitted) == 1 and world.video(p0).job_id == "job-0001"
    # GIVEN the service lost the job altogether
    world.rendering(p1, batch.batch_id)
    world.jobs.statuses.clear()
    world.jobs.by_token.clear()
    assert world.render(p1, "token-y") == "resubmitted"
    assert len(world.jobs.submitted) == 3 and world.video(p1).job_id == "job-0003"
    assert world.video(p1).task_token == "token-y"


def test_render_of_a_completed_prospect_resumes_its_task(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.complete(p0, batch.batch_id)
    assert world.render(p0, "token-late") == "already completed"
    assert world.callbacks.succeeded[-1][0] == "token-late"


def test_render_refuses_a_superseded_or_unbegun_render(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    with pytest.raises(ConflictError, match="queued, not rendering"):
        world.render(p0)
    with pytest.raises(ConflictError, match="superseded"):
        render.render_prospect(world.ports, world.step(p0, render_id="rnd_old"))
    assert world.jobs.submitted == []
    assert not render.begin_prospect(
        world.ports, world.account_id, world.campaign_id, p0, batch.batch_id, "rnd_old"
    )
    assert world.video(p0).status is VideoStatus.QUEUED


def test_a_refused_submission_leaves_the_render_to_be_retried(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    assert world.begin(p0, batch.batch_id)
    world.jobs.refuse = "throttled"
    with pytest.raises(StorageError):
        world.render(p0, "token-1")
    world.jobs.refuse = None
    assert world.render(p0, "token-2") == "resubmitted"
    assert len(world.jobs.submitted) == 1 and world.video(p0).task_token == "token-2"


def test_a_render_failed_while_it_was_being_published_is_not_announced_as_completed(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.rendering(p0, batch.batch_id)
    real = world.publish_render

    def failed_meanwhile(video: ProspectVideo, store: Any) -> dict[str, Any]:
        # GIVEN the state machine's timeout fails the prospect while the playlists are written
        world.fail(p0, "the render did not finish in time")
        return real(video, store)

    world.publish_render = failed_meanwhile  # type: ignore[method-assign, assignment]
    with pytest.raises(ConflictError, match="nothing to publish"):
        world.publish(p0)
    assert world.video(p0).status is VideoStatus.FAILED
    assert world.events.of_type(render.EVENT_VIDEO_COMPLETED) == []
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, failed=1)


def test_a_dead_token_completion_racing_a_failure_is_not_announced_as_completed(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.callbacks.dead.add(world.rendering(p0, batch.batch_id))
    real = world.publish_render

    def failed_meanwhile(video: ProspectVideo, store: Any) -> dict[str, Any]:
        world.fail(p0, "the batch did not finish")  # finalize fails what is left, concurrently
        return real(video, store)

    world.publish_render = failed_meanwhile  # type: ignore[method-assign, assignment]
    assert world.job_event(p0, "COMPLETE") != "completed"
    assert world.video(p0).status is VideoStatus.FAILED
    assert world.events.of_type(render.EVENT_VIDEO_COMPLETED) == []


# --------------------------------------------------------------------------- job events


def test_completion_with_a_dead_token_publishes_directly(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    token = world.rendering(p0, batch.batch_id)
    # GIVEN the batch was cancelled: the execution stopped, the task's token is dead
    render.cancel_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    world.callbacks.dead.add(token)
    # WHEN the job completes (twice: EventBridge delivers at least once)
    assert world.job_event(p0, "COMPLETE") == "completed"
    assert world.job_event(p0, "COMPLETE") == "ignored"
    # THEN the render is published here, counted and announced once
    video = world.video(p0)
    assert video.status is VideoStatus.COMPLETED and video.master == "index.m3u8"
    assert world.batch(batch.batch_id).counters == BatchCounters(completed=1, cancelled=2)
    assert world.event_ids(render.EVENT_VIDEO_COMPLETED) == [f"{video.render_id}.completed"]
    assert world.callbacks.succeeded == []


def test_completion_that_cannot_be_published_fails_the_prospect(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.callbacks.dead.add(world.rendering(p0, batch.batch_id))
    world.publish_error = ValueError("main_audio.m3u8: not a playlist")
    assert world.job_event(p0, "COMPLETE") == "failed"
    video = world.video(p0)
    assert video.status is VideoStatus.FAILED
    assert video.error == "publishing failed: main_audio.m3u8: not a playlist"
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, failed=1)


def test_an_error_with_a_live_token_fails_the_waiting_task(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    token = world.rendering(p0, batch.batch_id)
    event = media.JobEvent.from_detail(
        {
            "jobId": world.video(p0).job_id,
            "status": "ERROR",
            "errorCode": 1010,
            "errorMessage": "bad input",
            "userMetadata": media.window_metadata(
                world.account_id, world.campaign_id, p0, world.video(p0).render_id
            ),
        }
    )
    assert render.on_window_event(world.ports, event) == "resumed"
    assert world.callbacks.failed == [(token, "MediaConvertError", "bad input (MediaConvert error 1010)")]
    assert world.video(p0).status is VideoStatus.RENDERING  # the state machine's Catch fails it
    cause = world.callbacks.failed[0][2]
    failed = world.fail(p0, render.failure_reason("MediaConvertError", cause))
    assert failed is not None and failed.error == "rendering failed: bad input (MediaConvert error 1010)"


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (
            "ERROR",
            "bad input (MediaConvert error 1010)",
            "rendering failed: bad input (MediaConvert error 1010)",
        ),
        ("CANCELED", None, "rendering failed: the render was cancelled"),
    ],
)
def test_an_error_with_a_dead_token_fails_the_prospect(
    world: World, status: str, error: str | None, says: str
) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.callbacks.dead.add(world.rendering(p0, batch.batch_id))
    assert world.job_event(p0, status, error=error) == "failed"
    video = world.video(p0)
    assert (video.status, video.error, video.task_token) == (VideoStatus.FAILED, says, None)
    assert video.failed_at is not None
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, failed=1)
    assert world.event_ids(render.EVENT_VIDEO_FAILED) == [f"{video.render_id}.failed"]
    assert world.events.of_type(render.EVENT_VIDEO_FAILED)[0].data["error"] == says


def test_events_of_a_superseded_render_are_ignored(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    world.rendering(p0, batch.batch_id)
    before = world.video(p0)
    for status in ("COMPLETE", "ERROR", "PROGRESSING"):
        assert world.job_event(p0, status, render_id="rnd_older", percent=50) == "ignored"
    assert world.video(p0) == before
    assert world.callbacks.succeeded == [] and world.callbacks.failed == []


# --------------------------------------------------------------------------- fail_prospect


@pytest.mark.parametrize("status", [VideoStatus.QUEUED, VideoStatus.SYNTHESIZING, VideoStatus.RENDERING])
def test_fail_from_each_active_status_counts_once(world: World, status: VideoStatus) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    if status is not VideoStatus.QUEUED:
        assert world.begin(p0, batch.batch_id)
    if status is VideoStatus.RENDERING:
        world.render(p0, "token-1")
    assert world.video(p0).status is status
    before = world.batch(batch.batch_id).counters.model_dump()
    first = world.fail(p0, "the voice could not be made: piper crashed")
    second = world.fail(p0, "another reason")
    assert first is not None and second is not None
    assert (first.status, first.error) == (VideoStatus.FAILED, "the voice could not be made: piper crashed")
    assert second.error == first.error and second.version == first.version  # the second wrote nothing
    assert first.task_token is None and first.failed_at is not None
    counter = render.COUNTER_OF[status]
    expected = {**before, counter: before[counter] - 1, "failed": 1}
    assert world.batch(batch.batch_id).counters == BatchCounters(**expected)
    assert world.event_ids(render.EVENT_VIDEO_FAILED) == [f"{first.render_id}.failed"]


def test_fail_leaves_a_finished_or_superseded_render_alone(world: World) -> None:
    batch = world.started()
    p0 = world.prospect_ids[0]
    done = world.complete(p0, batch.batch_id)
    assert world.fail(p0) == done
    assert render.fail_prospect(world.ports, world.account_id, world.campaign_id, p0, "rnd_old", "x") is None
    assert (
        render.fail_prospect(world.ports, world.account_id, world.campaign_id, "pros_gone", "rnd", "x")
        is None
    )
    assert world.events.of_type(render.EVENT_VIDEO_FAILED) == []
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=2, completed=1)


@pytest.mark.parametrize(
    ("error", "cause", "reads"),
    [
        (
            "MediaConvertError",
            "bad input (MediaConvert error 1010)",
            "rendering failed: bad input (MediaConvert error 1010)",
        ),
        (
            "InvalidInputError",
            json.dumps({"errorMessage": "the window ends past the video", "errorType": "InvalidInputError"}),
            "the window ends past the video",
        ),
        (
            "States.TaskFailed",
            json.dumps({"errorMessage": "piper crashed", "errorType": "SynthesisError", "stackTrace": []}),
            "a step failed: piper crashed",
        ),
        ("ThrottledError", None, "MediaConvert kept throttling the render, even after retries"),
        (
            "ThrottledError",
            json.dumps({"errorMessage": "slow down", "errorType": "ThrottledError"}),
            "MediaConvert kept throttling the render, even after retries: slow down",
        ),
        ("States.Timeout", None, "the render did not finish in time"),
        ("States.Timeout", "", "the render did not finish in time"),
        ("Lambda.Unknown", "plain words", "plain words"),
        ("Lambda.Unknown", "[1, 2]", "[1, 2]"),
        ("SomethingNew", None, "SomethingNew"),
    ],
)
def test_failure_reason_reads_well(error: str, cause: str | None, reads: str) -> None:
    assert render.failure_reason(error, cause) == reads


# --------------------------------------------------------------------------- tolerance and finalize


@pytest.mark.parametrize(
    ("total", "completed", "failed", "exceeded"),
    [
        (100, 14, 5, False),  # 19 finished: too few to judge
        (100, 14, 6, True),  # 20 finished, 30 % failed
        (100, 15, 5, False),  # exactly 25 % is tolerated
        (100, 0, 19, False),  # many failures, but still too few finished
        (100, 0, 20, True),
        (4, 2, 1, False),  # a small batch is judged only when all of it finished
        (4, 2, 2, True),
        (4, 3, 1, False),
        (0, 0, 1, True),
    ],
)
def test_tolerance_is_judged_after_enough_prospects_finished(
    total: int, completed: int, failed: int, exceeded: bool
) -> None:
    batch = RenderBatch(
        account_id="a",
        campaign_id="c",
        batch_id="b",
        total=total,
        counters=BatchCounters(completed=completed, failed=failed),
    )
    assert render.tolerance_exceeded(batch) is exceeded
    assert render.MIN_FINISHED_FOR_TOLERANCE == 20


def test_begin_stops_new_work_once_the_tolerance_is_exceeded(world: World) -> None:
    batch = world.started(tolerated_failure_percent=25)
    p0 = world.prospect_ids[0]
    # GIVEN a large batch already has 20 finished, 6 of them failed (the real videos are queued)
    world.batches.update(
        world.account_id, world.campaign_id, batch.batch_id, lambda b: b.model_copy(update={"total": 23})
    )
    world.batches.set_counters(
        world.account_id, world.campaign_id, batch.batch_id, BatchCounters(queued=3, completed=14, failed=6)
    )
    # WHEN the next prospect begins, it does not start
    assert not world.begin(p0, batch.batch_id)
    video = world.video(p0)
    assert (video.status, video.error) == (
        VideoStatus.PENDING,
        "not rendered: the batch stopped after too many failures",
    )
    assert world.batch(batch.batch_id).counters == BatchCounters(
        queued=2, completed=14, failed=6, cancelled=1
    )
    # AND the batch fails with the reason when it finalizes
    done = world.finalize(batch.batch_id)
    assert done.status is RenderBatchStatus.FAILED
    assert done.error == "stopped: 6 of 20 finished prospects failed, more than the 25% this batch tolerates"


def test_finalize_fails_a_batch_with_too_many_failures(world: World) -> None:
    batch = world.started(tolerated_failure_percent=30)
    p0, p1, p2 = world.prospect_ids
    world.complete(p0, batch.batch_id)
    world.fail(p1)
    world.fail(p2)
    done = world.finalize(batch.batch_id)
    assert done.status is RenderBatchStatus.FAILED
    assert done.error == "stopped: 2 of 3 finished prospects failed, more than the 30% this batch tolerates"
    assert world.campaign.active_batch_id is None
    assert world.campaign.counters.videos_rendered == 1 and world.campaign.counters.videos_failed == 2
    assert world.event_ids(render.EVENT_BATCH_COMPLETED) == [f"{batch.batch_id}.failed"]


def test_finalize_completes_frees_the_campaign_and_announces_once(world: World) -> None:
    batch = world.started()
    for pid in world.prospect_ids:
        world.complete(pid, batch.batch_id)
    done = world.finalize(batch.batch_id)
    again = world.finalize(batch.batch_id)  # a retried step
    assert done.status is RenderBatchStatus.COMPLETED and done.error is None and done.finished_at is not None
    assert again == done
    assert done.counters == BatchCounters(completed=3)
    campaign = world.campaign
    assert campaign.active_batch_id is None
    assert (campaign.counters.videos_rendered, campaign.counters.videos_failed) == (3, 0)
    (event,) = world.events.of_type(render.EVENT_BATCH_COMPLETED)
    assert event.event_id == f"{batch.batch_id}.completed"
    assert (event.data["status"], event.data["total"], event.data["completed"]) == ("completed", 3, 3)


def test_finalize_after_the_map_failed_fails_what_was_left(world: World) -> None:
    batch = world.started()
    p0, p1, p2 = world.prospect_ids
    world.complete(p0, batch.batch_id)
    world.rendering(p1, batch.batch_id)
    done = world.finalize(batch.batch_id, error="a step failed: the Map state failed")
    assert done.status is RenderBatchStatus.FAILED and done.error == "a step failed: the Map state failed"
    for pid in (p1, p2):
        video = world.video(pid)
        assert video.status is VideoStatus.FAILED
        assert video.error == "the render did not finish: a step failed: the Map state failed"
    assert done.counters == BatchCounters(completed=1, failed=2) == world.tally(batch.batch_id)
    assert sorted(world.event_ids(render.EVENT_VIDEO_FAILED)) == sorted(
        f"{world.video(p).render_id}.failed" for p in (p1, p2)
    )


# --------------------------------------------------------------------------- cancel


def test_cancel_stops_new_work_and_keeps_what_is_done_or_rendering(world: World) -> None:
    p0, p1, p2 = world.prospect_ids
    p3 = world.add_prospect("Mette", "mette@example.com")
    batch = world.started()
    world.complete(p0, batch.batch_id)
    world.rendering(p1, batch.batch_id)
    assert world.begin(p2, batch.batch_id)  # synthesizing; p3 still queued
    cancelled = render.cancel_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert cancelled.status is RenderBatchStatus.CANCELLED and cancelled.finished_at is not None
    assert world.orchestrator.stopped == [batch.execution_arn]
    assert world.video(p0).status is VideoStatus.COMPLETED
    assert world.video(p1).status is VideoStatus.RENDERING
    for pid in (p2, p3):
        video = world.video(pid)
        assert (video.status, video.error) == (VideoStatus.PENDING, "not rendered: the batch was cancelled")
    assert cancelled.counters == BatchCounters(completed=1, in_progress=1, cancelled=2)
    assert world.campaign.active_batch_id is None
    assert world.event_ids(render.EVENT_BATCH_COMPLETED) == [f"{batch.batch_id}.cancelled"]
    # a queued item the Map still hands out does not start
    assert not world.begin(p3, batch.batch_id)
    # cancelling again, or a late finalize, changes nothing
    with pytest.raises(ConflictError, match="already cancelled"):
        render.cancel_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert world.finalize(batch.batch_id).status is RenderBatchStatus.CANCELLED
    assert world.event_ids(render.EVENT_BATCH_COMPLETED) == [f"{batch.batch_id}.cancelled"]
    assert world.batch(batch.batch_id).counters == world.tally(batch.batch_id)


def test_a_finished_batch_cannot_be_cancelled(world: World) -> None:
    batch = world.started()
    for pid in world.prospect_ids:
        world.complete(pid, batch.batch_id)
    world.finalize(batch.batch_id)
    with pytest.raises(ConflictError, match="already completed"):
        render.cancel_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert world.orchestrator.stopped == []


# --------------------------------------------------------------------------- refresh and resume


@pytest.mark.parametrize(
    ("state", "says"),
    [(None, "its execution is gone (the stack was restarted)"), ("FAILED", "its execution failed")],
)
def test_a_batch_whose_execution_stopped_is_interrupted(world: World, state: str | None, says: str) -> None:
    batch = world.started()
    assert batch.execution_arn is not None
    assert render.refresh_batch(world.ports, batch) == batch  # running: untouched
    world.orchestrator.states[batch.execution_arn] = state
    refreshed = render.refresh_batch(world.ports, batch)
    assert refreshed.status is RenderBatchStatus.INTERRUPTED
    assert refreshed.error == f"the batch stopped before finishing: {says}; resume it"
    assert world.batch(batch.batch_id).status is RenderBatchStatus.INTERRUPTED
    assert world.campaign.active_batch_id == batch.batch_id  # still holds the campaign


def test_resume_starts_a_second_attempt_that_carries_on(world: World) -> None:
    batch = world.started()
    p0, p1, p2 = world.prospect_ids
    world.complete(p0, batch.batch_id)
    world.rendering(p1, batch.batch_id)
    assert world.begin(p2, batch.batch_id)
    assert batch.execution_arn is not None
    world.orchestrator.states[batch.execution_arn] = None  # the local stack restarted
    resumed = render.resume_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert resumed.status is RenderBatchStatus.RUNNING and resumed.executions == 2 and resumed.error is None
    assert resumed.execution_arn is not None and resumed.execution_arn.endswith(f"{batch.batch_id}-2")
    assert world.orchestrator.started == [(batch.batch_id, 1), (batch.batch_id, 2)]
    # the new execution's prepare picks up exactly the unfinished prospects
    prepared = world.prepare(batch.batch_id)
    assert sorted(i["prospect_id"] for i in prepared.items) == sorted([p1, p2])
    assert world.video(p2).status is VideoStatus.QUEUED
    assert world.batch(batch.batch_id).counters == BatchCounters(queued=1, in_progress=1, completed=1)


def test_only_an_interrupted_batch_can_be_resumed(world: World) -> None:
    batch = world.started()
    with pytest.raises(ConflictError, match="still running"):
        render.resume_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    render.cancel_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    with pytest.raises(ConflictError, match="already cancelled"):
        render.resume_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert world.orchestrator.started == [(batch.batch_id, 1)]


def test_a_resumed_execution_that_finishes_at_once_keeps_its_verdict(world: World) -> None:
    batch = world.started()
    for pid in world.prospect_ids:
        world.complete(pid, batch.batch_id)
    assert batch.execution_arn is not None
    world.orchestrator.states[batch.execution_arn] = None  # stopped just before finalizing
    original_start = world.orchestrator.start

    def start_and_run(b: RenderBatch, attempt: int) -> str:
        arn = original_start(b, attempt)
        world.prepare(b.batch_id)  # nothing left to render …
        world.finalize(b.batch_id)  # … so the new execution finalizes at once
        return arn

    world.orchestrator.start = start_and_run  # type: ignore[method-assign, assignment]
    resumed = render.resume_batch(world.ports, world.account_id, world.campaign_id, batch.batch_id)
    assert resumed.status is RenderBatchStatus.COMPLETED and resumed.executions == 2
    assert world.campaign.active_batch_id is None


# --------------------------------------------------------------------------- progress


def _progress_of(status: RenderBatchStatus, total: int, **counters: int) -> RenderBatch:
    start = utcnow() - timedelta(hours=1)
    return RenderBatch(
        account_id="a",
        campaign_id="c",
        batch_id="b",
        status=status,
        total=total,
        counters=BatchCounters(**counters),
        started_at=start,
        prepared_at=start,
    )


def test_progress_percent_and_eta() -> None:
    batch = _progress_of(RenderBatchStatus.RUNNING, 10, completed=3, failed=1, in_progress=2, queued=4)
    assert batch.started_at is not None
    now = batch.started_at + timedelta(seconds=100)
    p = render.progress(batch, now)
    # 4 finished in 100 s: 25 s each, 6 to go
    assert (p.percent, p.finished, p.remaining, p.eta_seconds) == (40.0, 4, 6, 150.0)
    assert (
        render.progress(_progress_of(RenderBatchStatus.RUNNING, 3, completed=1, queued=2), now).percent
        == 33.3
    )


def test_progress_without_a_rate_yet_or_when_done() -> None:
    running = _progress_of(RenderBatchStatus.RUNNING, 10, queued=8, in_progress=2)
    assert render.progress(running).eta_seconds is None and render.progress(running).percent == 0.0
    done = _progress_of(RenderBatchStatus.COMPLETED, 5, completed=4, failed=1)
    assert render.progress(done) == render.Progress(100.0, 5, 0, 0.0)
    cancelled = _progress_of(RenderBatchStatus.CANCELLED, 10, completed=2, cancelled=3, in_progress=5)
    p = render.progress(cancelled)
    assert (p.percent, p.remaining, p.eta_seconds) == (50.0, 5, None)
    nothing = _progress_of(RenderBatchStatus.COMPLETED, 0)
    assert render.progress(nothing) == render.Progress(100.0, 0, 0, 0.0)


def test_a_batch_not_yet_prepared_is_not_100_percent_done() -> None:
    fresh = RenderBatch(
        account_id="a", campaign_id="c", batch_id="b", status=RenderBatchStatus.RUNNING, started_at=utcnow()
    )
    p = render.progress(fresh)
    assert p.percent == 0.0 and p.eta_seconds is None


# --------------------------------------------------------------------------- name card templates


def _prospect(**fields: Any) -> Prospect:
    defaults: dict[str, Any] = {
        "account_id": "a",
        "campaign_id": "c",
        "prospect_id": "p",
        "first_name": "Zoë",
        "email": "zoe@example.com",
    }
    return Prospect(**(defaults | fields))


@pytest.mark.parametrize(
    ("template", "values", "text"),
    [
        ("{first_name}", {"first_name": "Zoë"}, "Zoë"),
        ("Hi {first_name} at {company}!", {"first_name": "Zoë"}, "Hi Zoë at !"),
        ("{first_name}  {last_name}", {"first_name": "Zoë", "last_name": ""}, "Zoë"),
        ("{nickname}", {"first_name": "Zoë"}, ""),
        ("{deal_size} for {company}", {"deal_size": "40k", "company": "Acme"}, "40k for Acme"),
        ("{deal size}", {"deal size": "40k"}, "40k"),
        ("{ first_name }", {"first_name": "Zoë"}, "{ first_name }"),  # not a variable
        ("{first_name }", {"first_name": "Zoë"}, "Zoë"),
        ("no variables", {}, "no variables"),
    ],
)
def test_fill(template: str, values: dict[str, str], text: str) -> None:
    assert render.fill(template, values) == text


def test_overlay_for_a_prospect() -> None:
    full = _prospect(last_name="O'Brien", company="Acme Corp", custom_fields={"team": "Platform"})
    assert render.overlay_for(None, full) is None
    assert render.overlay_for(NameCard(), full) == OverlayText(text="Zoë", subtitle="Acme Corp")
    assert render.overlay_for(NameCard(), _prospect()) == OverlayText(text="Zoë", subtitle=None)
    card = NameCard(text="{first_name} {last_name}", subtitle="{team} team, {company}")
    assert render.overlay_for(card, full) == OverlayText(
        text="Zoë O'Brien", subtitle="Platform team, Acme Corp"
    )
    assert render.overlay_for(NameCard(text="{company}", subtitle=None), _prospect()) is None  # renders empty
    # the standard fields win over a custom field of the same name
    clash = _prospect(custom_fields={"first_name": "Impostor"})
    assert render.overlay_for(NameCard(text="{first_name}"), clash) == OverlayText(text="Zoë")
    long = _prospect(first_name="A" * 60, last_name="B" * 60)
    overlay = render.overlay_for(NameCard(text="{first_name} {last_name}"), long)
    assert overlay is not None and len(overlay.text) == 80


def test_inputs_hash_follows_what_the_video_is_made_of(world: World) -> None:
    campaign = world.campaign
    p = world.prospects.get(world.account_id, world.campaign_id, world.prospect_ids[0])
    digest = render.inputs_hash(campaign, p, {})
    assert render.inputs_hash(campaign, p, {}) == digest
    assert render.inputs_hash(campaign, p, {"unrelated": "x"}) == digest
    assert render.inputs_hash(campaign, p.model_copy(update={"email": "new@example.com"}), {}) == digest
    for changed in (
        (campaign, p.model_copy(update={"first_name": "Síle"}), {}),
        (campaign, p.model_copy(update={"pronunciation": "shi-VAWN"}), {}),
        (campaign, p, {"siobhan": "shi-VAWN"}),
        (campaign.model_copy(update={"name_card": NameCard()}), p, {}),
        (campaign.model_copy(update={"voice": campaign.voice.model_copy(update={"voice_id": "amy"})}), p, {}),
    ):
        assert render.inputs_hash(*changed) != digest


# --------------------------------------------------------------------------- the real window preparation


def _wav(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(AUDIO_SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def test_render_prospect_with_the_real_window_preparation() -> None:
    world = World(prospects=0)  # no stand-ins
    world.edit_campaign(name_card=NameCard())
    pid = world.add_prospect("Zoë", "zoe@example.com", company="Acme Corp")
    frames = round(10.0 * AUDIO_SAMPLE_RATE)
    world.media.put_bytes(f"{world.prefix}/audio.wav", _wav(np.zeros((frames, 2))), "audio/wav")
    world.media.put_bytes(AUDIO_KEY, _wav(np.full((round(0.8 * AUDIO_SAMPLE_RATE), 2), 7777)), "audio/wav")
    batch = world.started()
    assert world.begin(pid, batch.batch_id)
    assert world.render(pid, "token-1") == "submitted"
    video = world.video(pid)
    assert video.overlay == OverlayText(text="Zoë", subtitle="Acme Corp")
    assert (video.first_segment, video.segment_count) == (2, 1)
    assert f"{video.prefix}/input/audio.wav" in world.media.objects
    assert f"{video.prefix}/input/overlay.png" in world.media.objects
    (request,) = world.jobs.submitted
    assert request.client_request_token == video.render_id
    assert request.user_metadata == media.window_metadata(
        world.account_id, world.campaign_id, pid, video.render_id
    )


# --------------------------------------------------------------------------- any interleaving

OPS = (
    "begin",
    "render",
    "progress",
    "complete",
    "error",
    "kill_token",
    "job_done",
    "publish",
    "fail",
    "prepare",
    "cancel",
    "interrupt_and_resume",
    "finalize",
)
FINAL = (VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.PENDING)


def _kill_token(world: World, batch_id: str, pid: str) -> None:
    if token := world.video(pid).task_token:
        world.callbacks.dead.add(token)


def _job_done(world: World, batch_id: str, pid: str) -> None:
    if job_id := world.video(pid).job_id:
        world.jobs.statuses[job_id] = JobStatus("COMPLETE", 100)


def _interrupt_and_resume(world: World, batch_id: str, pid: str) -> None:
    arn = world.batch(batch_id).execution_arn
    if arn is not None:
        world.orchestrator.states[arn] = None
    render.resume_batch(world.ports, world.account_id, world.campaign_id, batch_id)


# What each op of the property test does to the world (batch id, prospect id).
_OPS: dict[str, Callable[[World, str, str], object]] = {
    "begin": lambda world, batch_id, pid: world.begin(pid, batch_id),
    "render": lambda world, batch_id, pid: world.render(pid),
    "progress": lambda world, batch_id, pid: world.job_event(
        pid, "STATUS_UPDATE", percent=world.video(pid).progress + 10
    ),
    "complete": lambda world, batch_id, pid: world.job_event(pid, "COMPLETE"),
    "error": lambda world, batch_id, pid: world.job_event(
        pid, "ERROR", error="bad input (MediaConvert error 1010)"
    ),
    "kill_token": _kill_token,
    "job_done": _job_done,
    "publish": lambda world, batch_id, pid: world.publish(pid),
    "fail": lambda world, batch_id, pid: world.fail(pid, "a step failed"),
    "prepare": lambda world, batch_id, pid: world.prepare(batch_id),
    "cancel": lambda world, batch_id, pid: render.cancel_batch(
        world.ports, world.account_id, world.campaign_id, batch_id
    ),
    "interrupt_and_resume": _interrupt_and_resume,
    "finalize": lambda world, batch_id, pid: world.finalize(batch_id),
}


def _apply(world: World, batch_id: str, op: str, pid: str) -> None:
    # A step called out of turn is refused; the invariants must still hold.
    with contextlib.suppress(ConflictError):
        _OPS[op](world, batch_id, pid)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2)), max_size=40))
def test_counters_always_match_the_prospects_whatever_the_order(steps: list[tuple[str, int]]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        world = World().install(patch)
        batch = world.started()
        finals: dict[str, VideoStatus] = {}
        for op, index in steps:
            pid = world.prospect_ids[index]
            _apply(world, batch.batch_id, op, pid)
            now = world.batch(batch.batch_id)
            # counters move with the statuses, exactly once per change
            assert now.counters == world.tally(batch.batch_id), (op, pid)
            assert sum(now.counters.model_dump().values()) == now.total == 3
            # a finished prospect stays finished
            for p in world.prospect_ids:
                status = world.video(p).status
                if p in finals:
                    assert status is finals[p], (op, p)
                elif status in FINAL:
                    finals[p] = status
            # the campaign is held exactly while the batch is active
            held = world.campaign.active_batch_id == batch.batch_id
            assert held is (now.status in (RenderBatchStatus.RUNNING, RenderBatchStatus.INTERRUPTED)), op
            # every finished video was announced once, under its render's id, and nothing else
            videos = [world.video(p) for p in world.prospect_ids]
            assert sorted(world.event_ids(render.EVENT_VIDEO_COMPLETED)) == sorted(
                f"{v.render_id}.completed" for v in videos if v.status is VideoStatus.COMPLETED
            )
            assert sorted(world.event_ids(render.EVENT_VIDEO_FAILED)) == sorted(
                f"{v.render_id}.failed" for v in videos if v.status is VideoStatus.FAILED
            )
            # one job per render, however often the render step ran
            tokens = [r.client_request_token for r in world.jobs.submitted]
            assert len(tokens) == len(set(tokens))


class _CountingVideos(fakes.FakeVideoRepository):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> ProspectVideo:
        self.reads += 1
        return super().get(account_id, campaign_id, prospect_id)


def _ports_with(videos: fakes.FakeVideoRepository) -> Any:
    class Ports:
        pass

    ports = Ports()
    ports.videos = videos  # type: ignore[attr-defined]  # all a transition uses
    return ports


def test_a_transition_writes_from_what_the_step_just_read_without_reading_again() -> None:
    from chalicelib.domain.render.common import _transition

    videos = _CountingVideos()
    seen = videos.save(
        ProspectVideo(
            account_id="a",
            campaign_id="c",
            prospect_id="p",
            render_id="r",
            status=VideoStatus.QUEUED,
            version=0,
        )
    )
    videos.reads = 0

    moved = _transition(_ports_with(videos), seen, {VideoStatus.QUEUED}, VideoStatus.SYNTHESIZING)

    assert moved is not None and moved.status is VideoStatus.SYNTHESIZING
    assert videos.reads == 0


def test_a_transition_from_a_stale_read_reads_again_and_judges_the_current_state() -> None:
    from chalicelib.domain.render.common import _transition

    videos = _CountingVideos()
    stale = videos.save(
        ProspectVideo(
            account_id="a",
            campaign_id="c",
            prospect_id="p",
            render_id="r",
            status=VideoStatus.QUEUED,
            version=0,
        )
    )
    # meanwhile another step moved it on
    videos.save(stale.model_copy(update={"status": VideoStatus.SYNTHESIZING}))
    videos.reads = 0

    assert _transition(_ports_with(videos), stale, {VideoStatus.QUEUED}, VideoStatus.SYNTHESIZING) is None
    assert videos.reads == 1
    # and a stale read of an allowed state still wins once it has read the current version
    current = videos.get("a", "c", "p")
    videos.save(current.model_copy(update={"progress": 10}))
    moved = _transition(_ports_with(videos), current, {VideoStatus.SYNTHESIZING}, VideoStatus.RENDERING)
    assert moved is not None and moved.status is VideoStatus.RENDERING and moved.progress == 10
