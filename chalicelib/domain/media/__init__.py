"""The media engine's use cases: encode the base once, render a prospect's window, react to jobs.

Flow (every step idempotent, because S3 and EventBridge deliver at least once):

1. ingest validates the upload → :func:`start_base_ladder` submits the ladder job; base
   ``processing``.
2. MediaConvert's state changes arrive as events → :func:`on_job_event`: progress, then ``ready``
   (the ladder read back from its own playlists) or ``failed`` with the service's reason.
3. :func:`start_render` (a Step Functions task) takes a prospect's window and replacement audio,
   splices the audio into the base's WAV for the span of segments it touches, draws the name card,
   and submits a window job clipped to that span. A grown window (a name longer than its slot,
   issue 17) is a stitched job instead: the span up to the held frame, that frame's still, the
   rest, every rung re-encoded.
4. Its COMPLETE event → the prospect's playlists (the base's, with the span's segments swapped;
   after a grown window's, a discontinuity),
   a poster and an animated preview. A failed window job marks only that prospect's video failed.

The package also holds the pure rules those steps share with the encoders: :mod:`.ladder` (rungs,
segments, windows), :mod:`.jobs` (MediaConvert job settings), :mod:`.hls` (playlists) and
:mod:`.wav` (the base audio's bytes). May import: the rest of the domain, the standard library and
``m3u8``; decoding, drawing and muxing (PyAV, Pillow) are behind
:class:`~chalicelib.domain.ports.MediaCodec`, never imported here.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    TailorcastError,
)
from chalicelib.domain.media import hls, jobs, ladder, wav
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    Ladder,
    OverlayText,
    ProspectVideo,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import (
    CampaignRepository,
    MediaCodec,
    MediaJobs,
    ObjectStore,
    ProspectRepository,
    VideoRepository,
)

logger = logging.getLogger(__name__)

BASE_NAME = "main"  # the ladder's manifest base name → main.m3u8, main_720p.m3u8, …
PCM_NAME = "audio"  # → audio.wav
WINDOW_DIR = "window"
PROSPECT_MASTER = "index.m3u8"
#: Extra base audio read past the span, for the encoder's look-ahead at the last AAC frame.
SPAN_TAIL_SECONDS = 0.1
POSTER_NAME = "poster.jpg"
PREVIEW_NAME = "preview.webp"
PREVIEW_SECONDS = 3.0
#: The same preview as a GIF, for email clients that show no WebP (Outlook, many others): the
#: WebP's frames, narrower, under a bigger budget (GIF compresses video far worse than WebP).
PREVIEW_GIF_NAME = "preview.gif"
PREVIEW_GIF_WIDTH = 400
PREVIEW_GIF_MAX_BYTES = 1_500_000


@dataclass(frozen=True)
class MediaConfig:
    role_arn: str
    queue_arn: str | None = None


def base_prefix(account_id: str, campaign_id: str, upload_id: str) -> str:
    return f"{account_id}/{campaign_id}/base/{upload_id}"


def render_prefix(account_id: str, campaign_id: str, prospect_id: str, render_id: str) -> str:
    return f"{account_id}/{campaign_id}/videos/{prospect_id}/{render_id}"


# --------------------------------------------------------------------------- base ladder


def start_base_ladder(
    campaign: Campaign,
    *,
    uploads: ObjectStore,
    media: ObjectStore,
    media_jobs: MediaJobs,
    config: MediaConfig,
) -> str:
    """Submit the ladder job for the campaign's newest validated base video (the pending
    replacement of a ready base, if there is one); returns the job id.

    Raises
    ------
    ConflictError
        That upload has not been probed (a newer upload was requested meanwhile).
    """
    video = campaign.newest_base_video
    if video is None or video.probe is None:
        raise ConflictError("the base video has not been validated")
    width, height = _display_size(video)
    prefix = base_prefix(campaign.account_id, campaign.campaign_id, video.upload_id)
    request = jobs.base_ladder_job(
        source=uploads.uri(video.key),
        destination=media.uri(f"{prefix}/{BASE_NAME}"),
        pcm_destination=media.uri(f"{prefix}/{PCM_NAME}"),
        rungs=ladder.ladder_for(width, height),
        fps=ladder.frame_rate_for(video.probe.frame_rate),
        role=config.role_arn,
        metadata=_base_metadata(campaign.account_id, campaign.campaign_id, video.upload_id),
        token=f"base-{video.upload_id}",
    )
    return media_jobs.submit(_queued(request, config))


def _queued(request: jobs.JobRequest, config: MediaConfig) -> jobs.JobRequest:
    return request if config.queue_arn is None else replace(request, queue=config.queue_arn)


def _base_metadata(account_id: str, campaign_id: str, upload_id: str) -> dict[str, str]:
    """A ladder job's ``UserMetadata``: what its events are routed and matched by."""
    return {"kind": "base", "account_id": account_id, "campaign_id": campaign_id, "upload_id": upload_id}


def window_metadata(account_id: str, campaign_id: str, prospect_id: str, render_id: str) -> dict[str, str]:
    """A window job's ``UserMetadata``: what its events are routed and matched by."""
    return {
        "kind": "window",
        "account_id": account_id,
        "campaign_id": campaign_id,
        "prospect_id": prospect_id,
        "render_id": render_id,
    }


def service_error(message: str | None, code: object) -> str:
    return f"{message or 'unknown error'} (MediaConvert error {code})"


def _display_size(video: BaseVideo) -> tuple[int, int]:
    assert video.probe is not None
    w, h = video.probe.width, video.probe.height
    return (h, w) if video.probe.rotation % 180 == 90 else (w, h)


def read_ladder(video: BaseVideo, media: ObjectStore, prefix: str) -> Ladder:
    """Read the ladder back from the playlists the job wrote, and check they are what we asked for."""
    master = hls.parse_master(media.get_bytes(f"{prefix}/{BASE_NAME}.m3u8").decode())
    variants = sorted(master.variants, key=lambda v: v.resolution[1])
    first = hls.parse_media(media.get_bytes(posixpath.join(prefix, variants[0].uri)).decode())
    audio_list = hls.parse_media(media.get_bytes(posixpath.join(prefix, master.audio_uri)).decode())
    if len(audio_list.segments) < len(first.segments):
        raise hls.PlaylistError("the audio rendition has fewer segments than the video")
    width, height = _display_size(video)
    assert video.probe is not None
    return Ladder(
        prefix=prefix,
        master=f"{BASE_NAME}.m3u8",
        audio_playlist=master.audio_uri,
        pcm=f"{PCM_NAME}.wav",
        renditions=[v.uri for v in variants],
        width=width,
        height=height,
        fps=ladder.frame_rate_for(video.probe.frame_rate),
        duration_seconds=round(first.duration, 6),
        segment_count=len(first.segments),
    )


# --------------------------------------------------------------------------- job events


@dataclass(frozen=True)
class JobEvent:
    """A MediaConvert "Job State Change" event, as EventBridge delivers it."""

    job_id: str
    status: str  # SUBMITTED PROGRESSING STATUS_UPDATE COMPLETE ERROR CANCELED INPUT_INFORMATION
    metadata: dict[str, str]
    percent: int | None = None
    error: str | None = None

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> JobEvent:
        progress = detail.get("jobProgress") or {}
        error = None
        if detail.get("status") == "ERROR":
            error = service_error(detail.get("errorMessage"), detail.get("errorCode"))
        return cls(
            job_id=str(detail.get("jobId", "")),
            status=str(detail.get("status", "")),
            metadata={str(k): str(v) for k, v in (detail.get("userMetadata") or {}).items()},
            percent=progress.get("jobPercentComplete"),
            error=error,
        )


@dataclass(frozen=True)
class EventOutcome:
    kind: str
    action: str  # what was done: progress, ready, completed, failed, ignored


def on_job_event(
    event: JobEvent,
    *,
    campaigns: CampaignRepository,
    media: ObjectStore,
    on_window: Callable[[JobEvent], str],
) -> EventOutcome:
    """Route a job's event: the base ladder's here, a prospect window's to ``on_window`` (the
    render pipeline, which resumes the task waiting for it)."""
    kind = event.metadata.get("kind", "")
    try:
        if kind == "base":
            return EventOutcome(kind, _base_event(event, campaigns, media))
        if kind == "window":
            return EventOutcome(kind, on_window(event))
    except NotFoundError:
        return EventOutcome(kind, "ignored")  # the campaign or prospect was deleted meanwhile
    return EventOutcome(kind or "unknown", "ignored")


def _base_event(event: JobEvent, campaigns: CampaignRepository, media: ObjectStore) -> str:
    m = event.metadata
    account_id, campaign_id, upload_id = m["account_id"], m["campaign_id"], m["upload_id"]
    action = "ignored"
    ladder_read: Ladder | None = None
    failure: str | None = event.error
    if event.status == "COMPLETE":
        video = campaigns.get(account_id, campaign_id).base_upload(upload_id)
        if video is not None and video.status is UploadStatus.PROCESSING:
            try:
                ladder_read = read_ladder(video, media, base_prefix(account_id, campaign_id, upload_id))
            except (TailorcastError, UnicodeDecodeError) as exc:
                logger.exception("ladder output unreadable")
                failure = f"the encoded ladder is incomplete: {exc}"

    def change(c: Campaign) -> Campaign | None:
        nonlocal action
        video = c.base_upload(upload_id)  # the working base, or the pending replacement
        if video is None or video.status is not UploadStatus.PROCESSING:
            return None  # superseded, or already final (duplicate event)
        update: dict[str, Any] = {"job_id": event.job_id, "updated_at": utcnow()}
        if event.status in ("PROGRESSING", "STATUS_UPDATE"):
            if event.percent is None or event.percent <= video.progress:
                return None
            update["progress"] = int(event.percent)
            action = "progress"
        elif event.status == "COMPLETE" and ladder_read is not None:
            update |= {"status": UploadStatus.READY, "progress": 100, "ladder": ladder_read, "reason": None}
            action = "ready"  # a pending replacement is promoted to the working base here
        elif event.status in ("COMPLETE", "ERROR", "CANCELED"):
            reason = failure or "the video encode was cancelled"
            update |= {"status": UploadStatus.FAILED, "reason": f"encoding failed: {reason}"}
            action = "failed"
        else:
            return None
        return c.with_base_upload(video.model_copy(update=update))

    campaigns.update(account_id, campaign_id, change)
    return action


def fail_base(
    campaigns: CampaignRepository, account_id: str, campaign_id: str, upload_id: str, reason: str
) -> None:
    """Mark the base video upload ``upload_id`` failed (submission refused, or an unexpected
    error): never stuck in processing. A failed pending replacement leaves the working base and
    the campaign's status as they are."""

    def change(c: Campaign) -> Campaign | None:
        video = c.base_upload(upload_id)
        if video is None or video.status is not UploadStatus.PROCESSING:
            return None
        failed = video.model_copy(
            update={"status": UploadStatus.FAILED, "reason": reason, "updated_at": utcnow()}
        )
        return c.with_base_upload(failed)

    campaigns.update(account_id, campaign_id, change)


#: A base or render still processing after this long without news is checked with the service:
#: an event can be lost (its handler failed past its retries, or the local stack restarted).
RECONCILE_AFTER_SECONDS = 120


def lost_event(
    job_id: str | None, since: datetime, metadata: dict[str, str], jobs: MediaJobs
) -> JobEvent | None:
    """The event to apply for a job that has gone quiet for too long, or ``None`` to wait more:
    the job's final state if it has one, an ERROR if the service no longer knows the job."""
    if job_id is None or (utcnow() - since).total_seconds() < RECONCILE_AFTER_SECONDS:
        return None
    found = jobs.status(job_id)
    if found is None:
        return JobEvent(
            job_id, "ERROR", metadata, error="the encode was interrupted and is gone; upload again"
        )
    if found.status in ("SUBMITTED", "PROGRESSING"):
        return None
    error = service_error(found.error_message, found.error_code) if found.status == "ERROR" else None
    return JobEvent(job_id, found.status, metadata, percent=found.percent, error=error)


def reconcile_base(
    campaign: Campaign, *, campaigns: CampaignRepository, media: ObjectStore, media_jobs: MediaJobs
) -> Campaign:
    """If the base, or its pending replacement, has been processing for long, ask MediaConvert
    and apply what it says."""
    applied = False
    for video in (campaign.base_video, campaign.pending_base_video):
        if video is None or video.status is not UploadStatus.PROCESSING:
            continue
        metadata = _base_metadata(campaign.account_id, campaign.campaign_id, video.upload_id)
        event = lost_event(video.job_id, video.updated_at, metadata, media_jobs)
        if event is not None:
            _base_event(event, campaigns, media)
            applied = True
    return campaigns.get(campaign.account_id, campaign.campaign_id) if applied else campaign


# --------------------------------------------------------------------------- prospect render


@dataclass(frozen=True)
class RenderRequest:
    account_id: str
    campaign_id: str
    prospect_id: str
    window: RenderWindow
    audio_key: str  # replacement audio in the media bucket (any format PyAV reads)
    overlay: OverlayText | None = None


@dataclass(frozen=True)
class PreparedWindow:
    """A window job ready to submit, and the render's fields that describe it."""

    fields: dict[str, Any]  # base_upload_id, window, overlay, first_segment, segment_count, prefix
    job: jobs.JobRequest


def prepare_window(
    request: RenderRequest,
    render_id: str,
    campaign: Campaign,
    *,
    media: ObjectStore,
    uploads: ObjectStore,
    config: MediaConfig,
    codec: MediaCodec,
) -> PreparedWindow:
    """Validate the window, write the job's inputs (the span's audio with the window replaced,
    the name card) under the render's prefix, and build the job, clipped to the span. Writing the
    same render's inputs again writes the same objects; the job's client token is the render id,
    so submitting it twice gives one job.

    Raises
    ------
    InvalidInputError
        Window outside the video or over 30 s; audio undecodable or longer than the window.
    ConflictError
        The base video is not ready.
    """
    base = campaign.base_video
    if base is None or base.status is not UploadStatus.READY or base.ladder is None:
        raise ConflictError("the campaign's base video is not ready yet")
    lad = base.ladder
    window = ladder.check_window(request.window.start, request.window.end, lad.duration_seconds)
    span = ladder.span_for(window, lad.duration_seconds)
    rungs = _rungs(lad)  # before anything is written: a mismatched ladder leaves no litter
    prefix = render_prefix(request.account_id, request.campaign_id, request.prospect_id, render_id)
    if request.window.grown:
        return _prepare_grown(
            request,
            render_id,
            base,
            window,
            span,
            rungs,
            prefix,
            media=media,
            uploads=uploads,
            config=config,
            codec=codec,
        )

    replacement = codec.decode_audio(media.get_bytes(request.audio_key), what="replacement audio")
    span_audio = _span_audio(media, lad, span, window, replacement)
    media.put_bytes(f"{prefix}/input/audio.wav", span_audio, "audio/wav")
    overlay: jobs.Overlay | None = None
    if request.overlay is not None:
        png, (x, y) = codec.name_card(
            request.overlay.text, lad.width, lad.height, subtitle=request.overlay.subtitle
        )
        media.put_bytes(f"{prefix}/input/overlay.png", png, "image/png")
        overlay = jobs.Overlay(media.uri(f"{prefix}/input/overlay.png"), window, x, y)
    fields: dict[str, Any] = {
        "base_upload_id": base.upload_id,
        "window": RenderWindow(start=window.start, end=window.end),
        "overlay": request.overlay,
        "first_segment": span.first,
        "segment_count": span.count,
        "prefix": prefix,
    }
    metadata = window_metadata(request.account_id, request.campaign_id, request.prospect_id, render_id)
    job = jobs.window_job(
        source=uploads.uri(base.key),
        destination=media.uri(f"{prefix}/{WINDOW_DIR}/{BASE_NAME}"),
        span=span,
        duration=lad.duration_seconds,
        fps=lad.fps,
        audio=media.uri(f"{prefix}/input/audio.wav"),
        rungs=rungs,
        overlay=overlay,
        role=config.role_arn,
        metadata=metadata,
        token=render_id,
    )
    return PreparedWindow(fields, _queued(job, config))


def _prepare_grown(
    request: RenderRequest,
    render_id: str,
    base: BaseVideo,
    window: ladder.Window,
    span: ladder.Span,
    rungs: list[ladder.Rung],
    prefix: str,
    *,
    media: ObjectStore,
    uploads: ObjectStore,
    config: MediaConfig,
    codec: MediaCodec,
) -> PreparedWindow:
    """:func:`prepare_window` for a grown window (issue 17): the span's audio grown at the hold,
    cut where the job's inputs meet, and the held frame's still from the base's best rung."""
    assert base.ladder is not None
    assert request.window.hold_at is not None
    lad, fps = base.ladder, base.ladder.fps
    growth = ladder.Growth(hold_at=request.window.hold_at, extension=request.window.extension)
    try:
        growth.check(span, fps)
    except ValueError as exc:
        raise InvalidInputError(
            "the personalization window does not fit the video", [FieldIssue("window", str(exc))]
        ) from exc
    if not window.start < growth.hold_at < window.end:
        raise InvalidInputError(
            "the personalization window does not fit the video",
            [FieldIssue("window.hold_at", f"must lie inside the window ({window.start}..{window.end} s)")],
        )
    if request.overlay is not None:
        raise InvalidInputError(
            "the name is too long for its slot in a video with a name card",
            [
                FieldIssue(
                    "name_card",
                    "this name takes longer to say than its slot; a video with a name card cannot "
                    "grow around it yet: use a shorter form of it, or turn the name card off",
                )
            ],
        )
    replacement = codec.decode_audio(media.get_bytes(request.audio_key), what="replacement audio")
    grown = _grown_span_audio(media, lad, span, window, growth, replacement)
    rate, frame_bytes = ladder.AUDIO_SAMPLE_RATE, wav.FRAME_BYTES
    held = ladder.held_frame(growth, fps)
    frames = round(growth.extension * fps)
    # Where the picture's hold starts and how long it lasts, in samples from the span's start.
    cut = (held + 1) * rate // fps - span.start_seconds * rate
    extra = frames * rate // fps
    slices = {
        "before": grown[: cut * frame_bytes],
        "held": grown[cut * frame_bytes : (cut + extra) * frame_bytes],
        # Starts at the span's start like "before" (same Offset): base second t of the last
        # input plays the prospect's audio of t + extension.
        "after": grown[extra * frame_bytes :],
    }
    for name, pcm in slices.items():
        media.put_bytes(f"{prefix}/input/{name}.wav", wav.wav_bytes(pcm), "audio/wav")
    top = lad.renditions[-1]  # read_ladder sorts them by height
    init, segments = _rendition(media, f"{lad.prefix}/{top}", held // (fps * ladder.SEGMENT_SECONDS), 1)
    still = codec.still_png(init, segments, at_seconds=held / fps, width=lad.width, height=lad.height)
    media.put_bytes(f"{prefix}/input/held.png", still, "image/png")
    fields: dict[str, Any] = {
        "base_upload_id": base.upload_id,
        "window": RenderWindow(
            start=window.start, end=window.end, hold_at=growth.hold_at, extension=growth.extension
        ),
        "overlay": None,
        "first_segment": span.first,
        "segment_count": span.count,
        "prefix": prefix,
    }
    metadata = window_metadata(request.account_id, request.campaign_id, request.prospect_id, render_id)
    job = jobs.grown_window_job(
        source=uploads.uri(base.key),
        destination=media.uri(f"{prefix}/{WINDOW_DIR}/{BASE_NAME}"),
        span=span,
        duration=lad.duration_seconds,
        fps=fps,
        audio=(
            media.uri(f"{prefix}/input/before.wav"),
            media.uri(f"{prefix}/input/held.wav"),
            media.uri(f"{prefix}/input/after.wav"),
        ),
        hold=jobs.HeldFrame(held, frames, media.uri(f"{prefix}/input/held.png"), lad.width, lad.height),
        rungs=rungs,
        role=config.role_arn,
        metadata=metadata,
        token=render_id,
    )
    return PreparedWindow(fields, _queued(job, config))


def _grown_span_audio(
    media: ObjectStore,
    lad: Ladder,
    span: ladder.Span,
    window: ladder.Window,
    growth: ladder.Growth,
    replacement: bytes,
) -> bytes:
    """The span's audio for a grown window, as interleaved PCM from the span's start: the base's,
    ``extension`` of silence inserted at the hold (as the voice laid the name in), then the
    window (now ``extension`` longer) replaced by the prospect's audio."""
    rate, frame_bytes = ladder.AUDIO_SAMPLE_RATE, wav.FRAME_BYTES
    pcm_key = f"{lad.prefix}/{lad.pcm}"
    layout = wav.wav_layout(media.get_bytes(pcm_key, 0, wav.HEADER_PROBE_BYTES - 1))
    if (layout.channels, layout.sample_rate, layout.bits) != (ladder.AUDIO_CHANNELS, rate, 16):
        raise ConflictError("the base audio is not 48 kHz 16-bit stereo")
    first = span.start_seconds * rate
    lo, hi = layout.byte_range(first, round((span.end_seconds + SPAN_TAIL_SECONDS) * rate))
    base = media.get_bytes(pcm_key, lo, hi)
    hold = (round(growth.hold_at * rate) - first) * frame_bytes
    extra = round(growth.extension * rate)
    stretched = base[:hold] + bytes(extra * frame_bytes) + base[hold:]
    at = round(window.start * rate) - first
    return wav.splice(stretched, at, replacement, round(window.duration * rate) + extra)


def start_render(
    request: RenderRequest,
    *,
    campaigns: CampaignRepository,
    prospects: ProspectRepository,
    videos: VideoRepository,
    media: ObjectStore,
    uploads: ObjectStore,
    media_jobs: MediaJobs,
    config: MediaConfig,
    codec: MediaCodec,
) -> ProspectVideo:
    """Render one prospect's window directly, outside a batch (the media benchmark and tests);
    the render pipeline uses :func:`prepare_window` step by step instead.

    Raises
    ------
    InvalidInputError, ConflictError
        As :func:`prepare_window`.
    """
    campaign = campaigns.get(request.account_id, request.campaign_id)
    prospects.get(request.account_id, request.campaign_id, request.prospect_id)  # NotFoundError
    render_id = new_id("rnd")
    prepared = prepare_window(
        request, render_id, campaign, media=media, uploads=uploads, config=config, codec=codec
    )
    video = ProspectVideo(
        account_id=request.account_id,
        campaign_id=request.campaign_id,
        prospect_id=request.prospect_id,
        render_id=render_id,
        rendering_at=utcnow(),
        **prepared.fields,
    )
    job_id = media_jobs.submit(prepared.job)
    return _put_video(videos, video.model_copy(update={"job_id": job_id}))


def _put_video(videos: VideoRepository, video: ProspectVideo) -> ProspectVideo:
    """Make ``video`` the prospect's current render (a newer render replaces an older one)."""
    try:
        current = videos.get(video.account_id, video.campaign_id, video.prospect_id)
    except NotFoundError:
        return videos.save(video)
    return videos.save(video.model_copy(update={"version": current.version}))


def _rungs(lad: Ladder) -> list[ladder.Rung]:
    rungs = ladder.ladder_for(lad.width, lad.height)
    names = {r.modifier for r in rungs}
    if {f"_{p.removeprefix(BASE_NAME + '_').removesuffix('.m3u8')}" for p in lad.renditions} != names:
        raise ConflictError("the base ladder was encoded with other renditions; re-upload the base video")
    return rungs


def _span_audio(
    media: ObjectStore, lad: Ladder, span: ladder.Span, window: ladder.Window, replacement: bytes
) -> bytes:
    """The span's audio: the base's PCM with the window replaced, as a WAV starting at the span."""
    pcm_key = f"{lad.prefix}/{lad.pcm}"
    layout = wav.wav_layout(media.get_bytes(pcm_key, 0, wav.HEADER_PROBE_BYTES - 1))
    if (layout.channels, layout.sample_rate, layout.bits) != (
        ladder.AUDIO_CHANNELS,
        ladder.AUDIO_SAMPLE_RATE,
        16,
    ):
        raise ConflictError("the base audio is not 48 kHz 16-bit stereo")
    rate = ladder.AUDIO_SAMPLE_RATE
    first = span.start_seconds * rate
    end = round((span.end_seconds + SPAN_TAIL_SECONDS) * rate)
    lo, hi = layout.byte_range(first, end)
    base = media.get_bytes(pcm_key, lo, hi)
    at = round(window.start * rate) - first
    spliced = wav.splice(base, at, replacement, round(window.duration * rate))
    return wav.wav_bytes(spliced)


@dataclass(frozen=True)
class Submitted:
    """A render's span, known once its job was submitted (what publishing reads)."""

    base_upload_id: str
    prefix: str
    first_segment: int
    segment_count: int
    window: RenderWindow

    @classmethod
    def of(cls, video: ProspectVideo) -> Submitted:
        if (
            video.base_upload_id is None
            or video.prefix is None
            or video.first_segment is None
            or video.segment_count is None
            or video.window is None
        ):
            raise ConflictError(f"the render of prospect {video.prospect_id} has not been submitted")
        return cls(video.base_upload_id, video.prefix, video.first_segment, video.segment_count, video.window)


def publish_render(video: ProspectVideo, media: ObjectStore, *, codec: MediaCodec) -> dict[str, Any]:
    """Write the prospect's playlists, poster and preview; return the fields to set on the video.

    Only the render's own prefix is written: the base and every other prospect stay untouched
    whatever happens here.
    """
    return publish_playlists(video, media) | publish_previews(video, media, codec=codec)


def publish_playlists(video: ProspectVideo, media: ObjectStore) -> dict[str, Any]:
    """The prospect's media playlists (the base's, with the span's segments swapped) and master."""
    done = Submitted.of(video)
    base_dir = base_prefix(video.account_id, video.campaign_id, done.base_upload_id)
    window_dir = f"{done.prefix}/{WINDOW_DIR}"
    base_master = hls.parse_master(media.get_bytes(f"{base_dir}/{BASE_NAME}.m3u8").decode())
    replaced: dict[str, str] = {}
    new_bytes = 0
    playlists = [base_master.audio_uri]
    grown = done.window.grown  # the picture holds a frame: every rung was re-encoded too
    if video.overlay is not None or grown:
        playlists += [v.uri for v in base_master.variants]
    for uri in playlists:
        base_list = hls.parse_media(media.get_bytes(posixpath.join(base_dir, uri)).decode())
        window_list = hls.parse_media(media.get_bytes(posixpath.join(window_dir, uri)).decode())
        if grown:
            text = _grown_spliced(uri, base_master, (base_dir, base_list), (window_dir, window_list), done)
        else:
            if len(window_list.segments) != done.segment_count:
                raise hls.PlaylistError(
                    f"{uri}: the window job wrote {len(window_list.segments)} segments, "
                    f"expected {done.segment_count}"
                )
            text = hls.spliced_media(
                base_list, base_dir, window_list, window_dir, done.first_segment, done.prefix
            )
        media.put_bytes(f"{done.prefix}/{uri}", text.encode(), "application/vnd.apple.mpegurl")
        replaced[uri] = f"{done.prefix}/{uri}"
        new_bytes += len(text.encode()) + _segment_bytes(media, window_dir, window_list)
    master = hls.prospect_master(base_master, base_dir, done.prefix, replaced)
    media.put_bytes(f"{done.prefix}/{PROSPECT_MASTER}", master.encode(), "application/vnd.apple.mpegurl")
    new_bytes += len(master.encode())
    media.delete_prefix(f"{done.prefix}/input/")  # the span WAV and card PNG were only job inputs
    return {"master": PROSPECT_MASTER, "new_bytes": new_bytes, "progress": 100}


def _grown_spliced(
    uri: str,
    master: hls.Master,
    base: tuple[str, hls.MediaPlaylist],
    window: tuple[str, hls.MediaPlaylist],
    done: Submitted,
) -> str:
    """A grown window's playlist ``uri``: the job's segments checked against the grown segment
    plan, then :func:`hls.grown_media` (every rendition of the prospect marks its discontinuity
    before the same base segment, so audio and video return to the base together)."""
    assert done.window.hold_at is not None
    (base_dir, base_list), (window_dir, window_list) = base, window
    growth = ladder.Growth(hold_at=done.window.hold_at, extension=done.window.extension)
    span = ladder.Span(done.first_segment, done.first_segment + done.segment_count - 1)
    variant = next((v for v in master.variants if v.uri == uri), master.variants[0])
    fps = round(variant.frame_rate or ladder.FRAME_RATES[-1])
    planner = ladder.grown_audio_segments if uri == master.audio_uri else ladder.grown_video_segments
    expected = len(planner(span, base_list.duration, growth, fps))
    if len(window_list.segments) != expected:
        raise hls.PlaylistError(
            f"{uri}: the window job wrote {len(window_list.segments)} segments, expected {expected}"
        )
    return hls.grown_media(
        base_list,
        base_dir,
        window_list,
        window_dir,
        done.first_segment,
        done.segment_count,
        growth.extension,
        done.prefix,
    )


def publish_previews(video: ProspectVideo, media: ObjectStore, *, codec: MediaCodec) -> dict[str, Any]:
    """Poster JPEG, animated WebP and animated GIF for email, from the best rung up to 720p of the
    span, read through the prospect's own playlist so that the name card shows when there is one.
    The WebP and the GIF are encoded from one decode of the same frames.

    Without a name card or a grown window (whose picture holds a frame) the picture is the base's
    own (only the sound changes), the same for every prospect whose span is the same: it is
    encoded once, kept beside the base
    (:func:`shared_previews_prefix`), and each prospect gets server-side copies of it.
    """
    done = Submitted.of(video)
    base_dir = base_prefix(video.account_id, video.campaign_id, done.base_upload_id)
    base_master = hls.parse_master(media.get_bytes(f"{base_dir}/{BASE_NAME}.m3u8").decode())
    rung = [v for v in base_master.variants if v.resolution[1] <= 720][-1:] or base_master.variants[:1]
    seg_start = done.first_segment * ladder.SEGMENT_SECONDS
    span_end = seg_start + done.segment_count * ladder.SEGMENT_SECONDS
    at = min(max(done.window.start + 0.5, seg_start), span_end - 0.1)
    start = max(seg_start, min(done.window.start - 0.5, span_end - PREVIEW_SECONDS))
    names = {"poster": POSTER_NAME, "preview": PREVIEW_NAME, "gif": PREVIEW_GIF_NAME}
    if video.overlay is None and not done.window.grown:
        shared = shared_previews_prefix(base_dir, done.first_segment, done.segment_count, start, at)
        try:
            media.head(f"{shared}/{PREVIEW_GIF_NAME}")  # written last: the set is complete
        except NotFoundError:
            _encode_previews(media, posixpath.join(base_dir, rung[0].uri), done, shared, start, at, codec)
        for name in names.values():
            media.copy(f"{shared}/{name}", f"{done.prefix}/{name}")
        return names
    _encode_previews(media, f"{done.prefix}/{rung[0].uri}", done, done.prefix, start, at, codec)
    return names


def shared_previews_prefix(
    base_dir: str, first_segment: int, segment_count: int, start: float, at: float
) -> str:
    """Where the base's previews for one span live (every input of the pictures is in the name)."""
    return f"{base_dir}/previews/s{first_segment}-{segment_count}-p{round(start * 1000)}-a{round(at * 1000)}"


def _encode_previews(
    media: ObjectStore,
    playlist_key: str,
    done: Submitted,
    dest: str,
    start: float,
    at: float,
    codec: MediaCodec,
) -> None:
    init, segments = _rendition(media, playlist_key, done.first_segment, done.segment_count)
    poster = codec.poster(init, segments, at_seconds=at)
    preview, gif = codec.previews(
        init,
        segments,
        start_seconds=start,
        seconds=PREVIEW_SECONDS,
        gif_width=PREVIEW_GIF_WIDTH,
        gif_max_bytes=PREVIEW_GIF_MAX_BYTES,
    )
    media.put_bytes(f"{dest}/{POSTER_NAME}", poster, "image/jpeg")
    media.put_bytes(f"{dest}/{PREVIEW_NAME}", preview, "image/webp")
    media.put_bytes(f"{dest}/{PREVIEW_GIF_NAME}", gif, "image/gif")


def _rendition(
    media: ObjectStore, playlist_key: str, first: int = 0, count: int | None = None
) -> tuple[bytes, list[bytes]]:
    """A rendition's init segment and its segments ``first``… (``count`` of them, or all), read
    through the media playlist at ``playlist_key`` (URIs relative to it, as players resolve them)."""
    folder = posixpath.dirname(playlist_key)
    playlist = hls.parse_media(media.get_bytes(playlist_key).decode())
    init = media.get_bytes(posixpath.normpath(posixpath.join(folder, playlist.map_uri)))
    chosen = playlist.segments[first:] if count is None else playlist.segments[first : first + count]
    return init, [media.get_bytes(posixpath.normpath(posixpath.join(folder, uri))) for uri, _ in chosen]


def _segment_bytes(media: ObjectStore, folder: str, playlist: hls.MediaPlaylist) -> int:
    return sum(media.head(posixpath.join(folder, uri)).size for uri, _ in playlist.segments)


def download_key(video: ProspectVideo) -> str:
    return f"{Submitted.of(video).prefix}/download.mp4"


def build_download(video: ProspectVideo, media: ObjectStore, workdir: Any, *, codec: MediaCodec) -> str:
    """Build (once) the MP4 download of a completed render from its playlists; returns its key."""
    if video.status is not VideoStatus.COMPLETED or video.master is None:
        raise ConflictError("the video is not rendered yet")
    key = download_key(video)
    try:
        media.head(key)
        return key
    except NotFoundError:
        pass
    prefix = Submitted.of(video).prefix
    master = hls.parse_master(media.get_bytes(f"{prefix}/{video.master}").decode())
    best = [v for v in master.variants if v.resolution[1] <= 1080][-1]

    v_init, v_segments = _rendition(media, posixpath.normpath(posixpath.join(prefix, best.uri)))
    a_init, a_segments = _rendition(media, posixpath.normpath(posixpath.join(prefix, master.audio_uri)))
    dest = Path(workdir) / "download.mp4"
    codec.mp4(v_init, v_segments, a_init, a_segments, dest)
    media.put_bytes(key, dest.read_bytes(), "video/mp4")
    return key
