"""One prospect's render, step by step: begin, render, publish or fail, and MediaConvert's events.

Each step takes the render id it was started for, so a superseded render is never touched:
:func:`begin_prospect` (``queued → synthesizing``, or stop), :func:`render_prospect` (submit the
window job, wait on the task token), :func:`publish_prospect` (``→ completed``), :func:`fail_prospect`
(``→ failed``); :func:`on_window_event` hands a job's completion to the waiting task (or finishes the
render itself) and :func:`reconcile_video` recovers a lost event. Imports :mod:`.common` and
:mod:`.inputs`, never :mod:`.batches`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import media
from chalicelib.domain.errors import ConflictError, NotFoundError, TailorcastError
from chalicelib.domain.models import (
    ACTIVE_BATCH,
    Campaign,
    OverlayText,
    ProspectVideo,
    RenderBatchStatus,
    RenderWindow,
    VideoStatus,
    utcnow,
)
from chalicelib.domain.render.common import (
    ACTIVE_VIDEO,
    EVENT_VIDEO_COMPLETED,
    EVENT_VIDEO_FAILED,
    FAILURE_PREFIX,
    RenderPorts,
    _publish,
    _transition,
    tolerance_exceeded,
)
from chalicelib.domain.render.inputs import overlay_for

logger = logging.getLogger(__name__)


def _video(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str
) -> ProspectVideo:
    video = ports.videos.get(account_id, campaign_id, prospect_id)
    if video.render_id != render_id:
        raise ConflictError(
            f"render {render_id} of prospect {prospect_id} was superseded by {video.render_id}"
        )
    return video


def begin_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, batch_id: str, render_id: str
) -> bool:
    """``queued → synthesizing``; ``False`` if the prospect must not be rendered now (the batch was
    cancelled or exceeded its failure tolerance, or the render is done or superseded)."""
    try:
        video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    except (ConflictError, NotFoundError):
        return False
    if video.status not in ACTIVE_VIDEO:
        return False
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    stop = None
    if batch.status is RenderBatchStatus.CANCELLED:
        stop = "not rendered: the batch was cancelled"
    elif tolerance_exceeded(batch):
        stop = "not rendered: the batch stopped after too many failures"
    if stop is not None:
        _transition(ports, video, {VideoStatus.QUEUED}, VideoStatus.PENDING, error=stop)
        return False
    if video.status is VideoStatus.QUEUED:
        _transition(ports, video, {VideoStatus.QUEUED}, VideoStatus.SYNTHESIZING, synthesizing_at=utcnow())
    return True


@dataclass(frozen=True)
class RenderStep:
    account_id: str
    campaign_id: str
    prospect_id: str
    render_id: str
    window: RenderWindow
    audio_key: str
    task_token: str


def render_prospect(ports: RenderPorts, step: RenderStep) -> str:
    """Submit the prospect's window job (once per render) and leave the task waiting on its
    token; MediaConvert's completion event resumes it. Returns what was done.

    A resumed batch reaches here for renders already submitted: the new token replaces the old
    and, if the job finished meanwhile (its event lost), the task is resumed at once.

    Raises
    ------
    ConflictError
        The render was superseded or is not at this step.
    InvalidInputError, ConflictError
        From :func:`media.prepare_window` (bad window or audio, base not ready).
    ThrottledError, StorageError
        MediaConvert refused or could not be reached (Step Functions retries).
    """
    video = _video(ports, step.account_id, step.campaign_id, step.prospect_id, step.render_id)
    if video.status is VideoStatus.COMPLETED:
        ports.callbacks.succeed(step.task_token, {"job_id": video.job_id, "already": "completed"})
        return "already completed"
    if video.status is VideoStatus.SYNTHESIZING:
        campaign = ports.campaigns.get(step.account_id, step.campaign_id)
        prospect = ports.prospects.get(step.account_id, step.campaign_id, step.prospect_id)
        prepared = _window_job(ports, step, campaign, overlay_for(campaign.name_card, prospect))
        # The token is stored before the job exists, so its completion always finds it.
        moved = _transition(
            ports,
            video,
            {VideoStatus.SYNTHESIZING},
            VideoStatus.RENDERING,
            task_token=step.task_token,
            rendering_at=utcnow(),
            progress=0,
            job_id=None,
            **prepared.fields,
        )
        if moved is None:
            raise ConflictError(f"the render of prospect {step.prospect_id} is no longer waiting to render")
        job_id = ports.jobs.submit(prepared.job)
        _set_job(ports, moved, job_id)
        return "submitted"
    if video.status is not VideoStatus.RENDERING:
        raise ConflictError(
            f"the render of prospect {step.prospect_id} is {video.status.value}, not rendering"
        )
    video = ports.videos.update(
        step.account_id,
        step.campaign_id,
        step.prospect_id,
        lambda v: (
            v.model_copy(update={"task_token": step.task_token}) if v.render_id == step.render_id else None
        ),
    )
    found = ports.jobs.status(video.job_id) if video.job_id else None
    if found is None:  # never submitted, or the service lost it: submit again, same token
        campaign = ports.campaigns.get(step.account_id, step.campaign_id)
        prepared = _window_job(ports, step, campaign, video.overlay)  # the card chosen at first
        _set_job(ports, video, ports.jobs.submit(prepared.job))
        return "resubmitted"
    if found.status == "COMPLETE":
        ports.callbacks.succeed(step.task_token, {"job_id": video.job_id})
        return "job already complete"
    if found.status in ("ERROR", "CANCELED"):
        reason = (
            media.service_error(found.error_message, found.error_code)
            if found.status == "ERROR"
            else "cancelled"
        )
        ports.callbacks.fail(step.task_token, "MediaConvertError", reason)
        return "job already failed"
    return "waiting"


def _window_job(
    ports: RenderPorts, step: RenderStep, campaign: Campaign, overlay: OverlayText | None
) -> media.PreparedWindow:
    request = media.RenderRequest(
        account_id=step.account_id,
        campaign_id=step.campaign_id,
        prospect_id=step.prospect_id,
        window=step.window,
        audio_key=step.audio_key,
        overlay=overlay,
    )
    return media.prepare_window(
        request,
        step.render_id,
        campaign,
        media=ports.media,
        uploads=ports.uploads,
        config=ports.config,
        codec=ports.codec,
    )


def _set_job(ports: RenderPorts, video: ProspectVideo, job_id: str) -> None:
    ports.videos.update(
        video.account_id,
        video.campaign_id,
        video.prospect_id,
        lambda v: v.model_copy(update={"job_id": job_id}) if v.render_id == video.render_id else None,
    )


def publish_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str
) -> ProspectVideo:
    """``rendering → completed``: the prospect's playlists, poster and preview, then ``video.completed``.

    Raises
    ------
    ConflictError
        The render was superseded, or is neither rendering nor completed.
    """
    video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    if video.status is VideoStatus.RENDERING:
        video = complete_render(ports, video)  # may come back failed: a step failed it meanwhile
    if video.status is not VideoStatus.COMPLETED:
        raise ConflictError(
            f"the render of prospect {prospect_id} is {video.status.value}; nothing to publish"
        )
    _publish(ports, account_id, EVENT_VIDEO_COMPLETED, f"{render_id}.completed", video_event(ports, video))
    return video


def complete_render(ports: RenderPorts, video: ProspectVideo) -> ProspectVideo:
    update = media.publish_render(video, ports.media, codec=ports.codec)
    done = _transition(
        ports,
        video,
        {VideoStatus.RENDERING},
        VideoStatus.COMPLETED,
        **update,
        completed_at=utcnow(),
        task_token=None,
        error=None,
    )
    return done or ports.videos.get(video.account_id, video.campaign_id, video.prospect_id)


def failure_reason(error: str, cause: str | None) -> str:
    """A seller-readable reason from a Step Functions error name and cause (a Lambda's cause is
    its JSON error payload)."""
    message = cause or ""
    try:
        payload = json.loads(message)
        if isinstance(payload, dict) and payload.get("errorMessage"):
            message = str(payload["errorMessage"])
    except ValueError:
        pass
    prefix = FAILURE_PREFIX.get(error)
    if prefix and message:
        return f"{prefix}: {message}"
    return prefix or message or error


def fail_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str, reason: str
) -> ProspectVideo | None:
    """Any step → ``failed`` with the reason, then ``video.failed``. Nothing if already final."""
    try:
        video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    except (ConflictError, NotFoundError):
        return None
    if video.status in ACTIVE_VIDEO:
        # The job's own error, recorded when its event arrived, says more than the task's cause.
        why = video.error if video.status is VideoStatus.RENDERING and video.error else reason
        video = _transition(
            ports, video, ACTIVE_VIDEO, VideoStatus.FAILED, error=why, failed_at=utcnow(), task_token=None
        ) or ports.videos.get(account_id, campaign_id, prospect_id)
    if video.status is VideoStatus.FAILED:
        _publish(ports, account_id, EVENT_VIDEO_FAILED, f"{render_id}.failed", video_event(ports, video))
    return video


def on_window_event(ports: RenderPorts, event: media.JobEvent) -> str:
    """A window job's state change: progress; or completion/failure, handed to the waiting task
    (or, with no live task — a direct render, a cancelled batch — finished here)."""
    m = event.metadata
    current = ports.videos.get(m["account_id"], m["campaign_id"], m["prospect_id"])
    if current.render_id != m["render_id"] or current.status is not VideoStatus.RENDERING:
        return "ignored"  # superseded by a newer render, or a duplicate event
    if event.status in ("PROGRESSING", "STATUS_UPDATE"):
        if event.percent is None or event.percent <= current.progress:
            return "ignored"
        percent = int(event.percent)

        def change(v: ProspectVideo) -> ProspectVideo | None:
            if (
                v.render_id != current.render_id
                or v.status is not VideoStatus.RENDERING
                or percent <= v.progress
            ):
                return None
            return v.model_copy(update={"progress": percent, "job_id": v.job_id or event.job_id})

        ports.videos.update(current.account_id, current.campaign_id, current.prospect_id, change)
        return "progress"
    waiting = _waiting_task(ports, current)
    if event.status == "COMPLETE":
        if waiting and ports.callbacks.succeed(waiting, {"job_id": event.job_id}):
            return "resumed"
        try:
            done = complete_render(ports, current)
        except (TailorcastError, UnicodeDecodeError, ValueError) as exc:
            logger.exception("publishing the render failed")
            fail_prospect(
                ports,
                current.account_id,
                current.campaign_id,
                current.prospect_id,
                current.render_id,
                f"publishing failed: {exc}",
            )
            return "failed"
        if done.status is not VideoStatus.COMPLETED:
            return "ignored"  # failed meanwhile (a step, or finalize): not ours to announce
        event_id = f"{current.render_id}.completed"
        _publish(ports, current.account_id, EVENT_VIDEO_COMPLETED, event_id, video_event(ports, done))
        return "completed"
    if event.status in ("ERROR", "CANCELED"):
        reason = event.error or "the render was cancelled"
        if waiting:
            ports.videos.update(
                current.account_id,
                current.campaign_id,
                current.prospect_id,
                lambda v: (
                    v.model_copy(update={"error": f"rendering failed: {reason}"})
                    if v.render_id == current.render_id and v.status is VideoStatus.RENDERING
                    else None
                ),
            )
        if waiting and ports.callbacks.fail(waiting, "MediaConvertError", reason):
            return "resumed"
        fail_prospect(
            ports,
            current.account_id,
            current.campaign_id,
            current.prospect_id,
            current.render_id,
            f"rendering failed: {reason}",
        )
        return "failed"
    return "ignored"


def _waiting_task(ports: RenderPorts, video: ProspectVideo) -> str | None:
    """The token of the task waiting for this render, if its batch is still running it. A
    cancelled batch's execution is stopped: its renders in flight are finished here instead."""
    if not video.task_token or video.batch_id is None:
        return None
    try:
        batch = ports.batches.get(video.account_id, video.campaign_id, video.batch_id)
    except NotFoundError:
        return None
    return video.task_token if batch.status in ACTIVE_BATCH else None


def reconcile_video(ports: RenderPorts, video: ProspectVideo) -> ProspectVideo:
    """A render quiet for too long is checked with MediaConvert (its event may have been lost)."""
    if video.status is not VideoStatus.RENDERING or (video.rendering_at is None and video.job_id is None):
        return video
    event = media.lost_event(
        video.job_id,
        video.rendering_at or video.created_at,
        media.window_metadata(video.account_id, video.campaign_id, video.prospect_id, video.render_id),
        ports.jobs,
    )
    if event is None:
        return video
    on_window_event(ports, event)
    return ports.videos.get(video.account_id, video.campaign_id, video.prospect_id)


def video_urls(ports: RenderPorts, video: ProspectVideo) -> dict[str, str | None]:
    def url(name: str | None) -> str | None:
        return ports.media_url(f"{video.prefix}/{name}") if name and video.prefix else None

    return {
        "playlist_url": url(video.master),
        "poster_url": url(video.poster),
        "preview_url": url(video.preview),
        "gif_url": url(video.gif),
    }


def video_event(ports: RenderPorts, video: ProspectVideo) -> dict[str, Any]:
    return {
        "campaign_id": video.campaign_id,
        "prospect_id": video.prospect_id,
        "batch_id": video.batch_id,
        "render_id": video.render_id,
        "render_version": video.render_version,
        "status": video.status.value,
        "error": video.error,
        **video_urls(ports, video),
        "completed_at": video.completed_at.isoformat() if video.completed_at else None,
        "failed_at": video.failed_at.isoformat() if video.failed_at else None,
    }
