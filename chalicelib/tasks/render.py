"""The render state machine's task Lambdas, one per state (``state_machines/render_campaign.asl.json``).

Each parses its input with pydantic, calls one function of :mod:`chalicelib.domain.render` and
returns a small dict. Domain errors raise through, so Step Functions sees their class name
(``InvalidInputError``, ``ThrottledError`` …) and the state's ``Retry``/``Catch`` routes it.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import dependencies as deps
from chalicelib.domain import notifications, render
from chalicelib.domain.errors import TailorcastError
from chalicelib.domain.models import RenderBatch, RenderBatchStatus, RenderWindow
from chalicelib.observability import log_keys, logger
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class BatchInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    batch_id: str = Field(min_length=1)


class ProspectInput(BatchInput):
    prospect_id: str = Field(min_length=1)
    render_id: str = Field(min_length=1)


class RenderStepInput(ProspectInput):
    window: RenderWindow
    audio_key: str = Field(min_length=1, max_length=1024)
    task_token: str = Field(min_length=1)


class StepError(BaseModel):
    """What a ``Catch`` puts in ``ResultPath``: the error's name and its cause."""

    model_config = ConfigDict(extra="ignore")

    Error: str = "States.TaskFailed"
    Cause: str | None = None


class FailInput(ProspectInput):
    error: StepError = Field(default_factory=StepError)


class FinalizeInput(BatchInput):
    error: StepError | None = None


def _keys(request: BatchInput) -> None:
    log_keys(**{k: v for k, v in request.model_dump().items() if k.endswith("_id")})


@bp.lambda_function(name="prepare_batch")
def prepare_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = BatchInput.model_validate(event)
    _keys(request)
    settings = get_settings()
    prepared = render.prepare_batch(
        deps.render_ports(),
        request.account_id,
        request.campaign_id,
        request.batch_id,
        inline_max=settings.render_inline_max,
        concurrency=settings.render_concurrency,
    )
    logger.info("batch prepared", extra={"total": prepared.total, "mode": prepared.mode})
    return prepared.as_dict(settings.media_bucket)


@bp.lambda_function(name="begin_prospect")
def begin_prospect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ProspectInput.model_validate(event)
    _keys(request)
    go = render.begin_prospect(deps.render_ports(), **request.model_dump())
    return {"go": go}


@bp.lambda_function(name="render_prospect")
def render_prospect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Submit the prospect's window job; the task then waits on its token for the job's end."""
    request = RenderStepInput.model_validate(event)
    _keys(request)
    step = render.RenderStep(**request.model_dump(exclude={"batch_id", "window"}), window=request.window)
    return {"done": render.render_prospect(deps.render_ports(), step)}


@bp.lambda_function(name="publish_prospect")
def publish_prospect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ProspectInput.model_validate(event)
    _keys(request)
    video = render.publish_prospect(deps.render_ports(), **request.model_dump(exclude={"batch_id"}))
    return {"status": video.status.value}


@bp.lambda_function(name="fail_prospect")
def fail_prospect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FailInput.model_validate(event)
    _keys(request)
    reason = render.failure_reason(request.error.Error, request.error.Cause)
    video = render.fail_prospect(
        deps.render_ports(), **request.model_dump(exclude={"batch_id", "error"}), reason=reason
    )
    logger.info("prospect failed", extra={"error": request.error.Error})
    return {"status": video.status.value if video else "ignored"}


@bp.lambda_function(name="finalize_batch")
def finalize_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FinalizeInput.model_validate(event)
    _keys(request)
    error = render.failure_reason(request.error.Error, request.error.Cause) if request.error else None
    batch = render.finalize_batch(
        deps.render_ports(), request.account_id, request.campaign_id, request.batch_id, error
    )
    _notify_batch_rendered(batch)
    return render.batch_event(batch)


def _notify_batch_rendered(batch: RenderBatch) -> None:
    """The "batch rendered" email (issue 18). Best effort: a mail failure never fails the batch."""
    if batch.status not in (RenderBatchStatus.COMPLETED, RenderBatchStatus.FAILED):
        return
    try:
        campaign = deps.get_campaign_repo().get(batch.account_id, batch.campaign_id)
        sent = notifications.notify_batch_rendered(deps.notification_ports(), batch, campaign.name)
        logger.info("batch rendered notification", extra={"emails": sent})
    except TailorcastError:
        logger.exception("the batch rendered email could not be sent")
