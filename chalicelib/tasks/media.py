"""Media Lambdas: MediaConvert job events (EventBridge), and one window rendered directly.

The render pipeline's own steps are in :mod:`chalicelib.tasks.render`; ``render_window`` here
renders a given window with given audio for a prospect, outside any batch: the media engine's
entry point for operators, its end-to-end tests and its benchmark."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import dependencies as deps
from chalicelib.domain import media, render
from chalicelib.domain.errors import StorageError
from chalicelib.domain.models import OverlayText, ProspectVideo, RenderWindow
from chalicelib.observability import log_keys, logger

bp = Blueprint(__name__)

#: The rule in both worlds: EventBridge in AWS, the local MediaConvert's delivery in devstack.
JOB_STATE_CHANGES = {"source": ["aws.mediaconvert"], "detail-type": ["MediaConvert Job State Change"]}


@bp.on_cw_event(JOB_STATE_CHANGES, name="media_job_events")
def on_media_job(event: CloudWatchEvent) -> dict[str, Any]:
    job = media.JobEvent.from_detail(event.detail)
    log_keys(job_id=job.job_id, **{k: v for k, v in job.metadata.items() if k.endswith("_id")})
    outcome = media.on_job_event(
        job,
        campaigns=deps.get_campaign_repo(),
        media=deps.get_media_store(),
        on_window=lambda e: render.on_window_event(deps.render_ports(), e),
    )
    logger.info("media job event", extra={"status": job.status, **dataclasses.asdict(outcome)})
    if outcome.kind == "base" and outcome.action == "ready":
        # The seller's voice is learnt and the slots located as soon as there is audio to read.
        ids = {k: job.metadata[k] for k in ("account_id", "campaign_id")}
        try:
            deps.get_voice_runner().start("prepare", ids)
        except StorageError:  # the base is ready regardless; the seller can prepare the voice later
            logger.warning("could not start preparing the voice", extra=ids)
    return dataclasses.asdict(outcome)


class RenderInput(BaseModel):
    """One prospect's window and its replacement audio."""

    model_config = ConfigDict(extra="forbid")

    account_id: str
    campaign_id: str
    prospect_id: str
    window: RenderWindow
    audio_key: str = Field(min_length=1, max_length=1024)
    overlay: OverlayText | None = None


@bp.lambda_function(name="render_window")
def render_window(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Prepare and submit one prospect's window job; returns the render's id and job id.

    Bad input raises ``InvalidInputError`` (by name, for a caller's ``Catch``).
    """
    request = RenderInput.model_validate(event)
    log_keys(account_id=request.account_id, campaign_id=request.campaign_id, prospect_id=request.prospect_id)
    video = submit_render(
        media.RenderRequest(
            **request.model_dump(exclude={"window", "overlay"}),
            window=request.window,
            overlay=request.overlay,
        )
    )
    return {"render_id": video.render_id, "job_id": video.job_id, "status": video.status.value}


def submit_render(request: media.RenderRequest) -> ProspectVideo:
    """:func:`media.start_render` on this container's adapters (the task above, and the benchmark)."""
    return media.start_render(
        request,
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
        videos=deps.get_video_repo(),
        media=deps.get_media_store(),
        uploads=deps.get_upload_store(),
        media_jobs=deps.get_media_jobs(),
        config=deps.media_config(),
        codec=deps.get_media_codec(),
    )
