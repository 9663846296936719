"""Rendering: start a batch (whole campaign, chosen prospects, or one), follow its progress,
cancel or resume it, and see where each of its prospects stands."""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import PageQuery, Strict
from chalicelib.api.videos import VideoOut
from chalicelib.domain import render
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.models import BatchCounters, RenderBatch, RenderBatchStatus, VideoStatus

bp = Blueprint(__name__)


class BatchCreate(Strict):
    prospect_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="render only these prospects (omit for every prospect that needs it)",
    )
    force: bool = Field(default=False, description="re-render completed videos whose inputs did not change")
    tolerated_failure_percent: float | None = Field(
        default=None, ge=0, le=100, description="stop the batch when more of its prospects fail (default 25)"
    )


class RenderOne(Strict):
    force: bool = False


class BatchOut(BaseModel):
    batch_id: str
    campaign_id: str
    status: RenderBatchStatus
    total: int
    skipped: int
    refused: int = Field(
        description="needed a render but over the plan's videos for the period: left as they were"
    )
    refused_reason: str | None = Field(description="why they were refused, and what lifts the limit")
    counters: BatchCounters
    percent: float
    eta_seconds: float | None
    mode: str | None
    tolerated_failure_percent: float
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    executions: int

    @classmethod
    def of(cls, b: RenderBatch) -> BatchOut:
        p = render.progress(b)
        return cls(
            **b.model_dump(
                include={
                    "batch_id",
                    "campaign_id",
                    "status",
                    "total",
                    "skipped",
                    "refused",
                    "refused_reason",
                    "counters",
                    "mode",
                    "tolerated_failure_percent",
                    "error",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "executions",
                }
            ),
            percent=p.percent,
            eta_seconds=p.eta_seconds,
        )


class BatchPage(BaseModel):
    items: list[BatchOut]
    cursor: str | None = None


class BatchProspectsQuery(Strict):
    status: VideoStatus | None = None


class BatchProspects(BaseModel):
    items: list[VideoOut]


@route(
    bp,
    "/campaigns/{campaign_id}/batches",
    "POST",
    creates=True,
    summary="Render the campaign's prospects (all that need it, or the ids given) as one batch",
    status=202,
    body=BatchCreate,
    response=BatchOut,
)
def start(principal: Principal, campaign_id: str, body: BatchCreate) -> BatchOut:
    batch = render.start_batch(
        deps.render_ports(),
        principal.account_id,
        campaign_id,
        body.prospect_ids,
        force=body.force,
        tolerated_failure_percent=body.tolerated_failure_percent,
        account=principal.account,
    )
    return BatchOut.of(batch)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/render",
    "POST",
    creates=True,
    summary="Render one prospect (a batch of one)",
    status=202,
    body=RenderOne,
    response=BatchOut,
)
def render_one(principal: Principal, campaign_id: str, prospect_id: str, body: RenderOne) -> BatchOut:
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    deps.get_prospect_repo().get(principal.account_id, campaign_id, prospect_id)  # 404, not a body error
    batch = render.start_batch(
        deps.render_ports(),
        principal.account_id,
        campaign_id,
        [prospect_id],
        force=body.force,
        account=principal.account,
    )
    return BatchOut.of(batch)


@route(
    bp,
    "/campaigns/{campaign_id}/batches",
    "GET",
    summary="Render batches, newest first",
    query=PageQuery,
    response=BatchPage,
)
def list_(principal: Principal, campaign_id: str, query: PageQuery) -> BatchPage:
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    page = deps.get_batch_repo().list(principal.account_id, campaign_id, query.limit, query.cursor)
    return BatchPage(items=[BatchOut.of(b) for b in page.items], cursor=page.cursor)


def _batch(principal: Principal, campaign_id: str, batch_id: str) -> RenderBatch:
    ports = deps.render_ports()
    return render.refresh_batch(ports, ports.batches.get(principal.account_id, campaign_id, batch_id))


@route(
    bp,
    "/campaigns/{campaign_id}/batches/{batch_id}",
    "GET",
    summary="A batch: counters, percent, ETA",
    response=BatchOut,
)
def get(principal: Principal, campaign_id: str, batch_id: str) -> BatchOut:
    return BatchOut.of(_batch(principal, campaign_id, batch_id))


@route(
    bp,
    "/campaigns/{campaign_id}/batches/{batch_id}/cancel",
    "POST",
    summary="Cancel a batch: no new renders start; finished videos stay",
    response=BatchOut,
)
def cancel(principal: Principal, campaign_id: str, batch_id: str) -> BatchOut:
    return BatchOut.of(render.cancel_batch(deps.render_ports(), principal.account_id, campaign_id, batch_id))


@route(
    bp,
    "/campaigns/{campaign_id}/batches/{batch_id}/resume",
    "POST",
    creates=True,
    summary="Resume an interrupted batch where it stopped",
    status=202,
    response=BatchOut,
)
def resume(principal: Principal, campaign_id: str, batch_id: str) -> BatchOut:
    return BatchOut.of(render.resume_batch(deps.render_ports(), principal.account_id, campaign_id, batch_id))


@route(
    bp,
    "/campaigns/{campaign_id}/batches/{batch_id}/prospects",
    "GET",
    summary="Where each prospect of the batch stands (filter by status)",
    query=BatchProspectsQuery,
    response=BatchProspects,
)
def prospects(
    principal: Principal, campaign_id: str, batch_id: str, query: BatchProspectsQuery
) -> BatchProspects:
    _batch(principal, campaign_id, batch_id)  # 404 for another tenant's or an unknown batch
    ports = deps.render_ports()
    statuses = None if query.status is None else {query.status}
    videos = render.batch_videos(ports, principal.account_id, campaign_id, batch_id, statuses)
    items = [VideoOut.of(v, ports) for v in videos]
    return BatchProspects(items=items)
