"""A campaign's prospects: list (search, status filter, sort, cursor pages), read, change and
delete one, delete or re-render many, and the campaign's figures."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from chalice.app import Blueprint, Response
from pydantic import BaseModel, Field, StringConstraints

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.campaigns import _if_match
from chalicelib.api.renders import BatchOut
from chalicelib.api.schemas import PageQuery, Strict, contact_model
from chalicelib.domain import prospects
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.models import ContactDetails, Prospect, VideoStatus
from chalicelib.domain.ports import ProspectSort
from chalicelib.domain.prospects import MAX_SELECTION, ProspectPorts, Selection, SkipReason
from chalicelib.domain.prospects_csv import MAX_CUSTOM_COLUMNS, MAX_CUSTOM_VALUE_CHARS, MAX_LABEL_CHARS

bp = Blueprint(__name__)


# The contact fields come from the domain's one definition (``ContactDetails``, read through the
# ``Prospect`` model at import); type checkers see ``ContactDetails`` itself.
if TYPE_CHECKING:
    _ContactOut = ContactDetails
    _ContactUpdate = Strict
else:
    _ContactOut = contact_model("ContactOut", for_update=False)
    _ContactUpdate = contact_model("ContactUpdate", for_update=True, base=Strict)


class ProspectOut(_ContactOut):
    prospect_id: str
    display_name: str = Field(description="first and last name, as shown to the seller")
    custom_fields: dict[str, str] = Field(description="the CSV's unmapped columns, by column name")
    video_status: VideoStatus
    video_error: str | None
    video_generated_at: datetime | None
    variant: str = Field(description="the script variant this prospect is in (analytics group by it)")
    watch_expires_at: datetime | None = Field(description="the watch link stops working then")
    watch_revoked_at: datetime | None = Field(description="the watch link was turned off then")
    email_sent_at: datetime | None
    video_viewed_at: datetime | None = Field(description="the first time a person played the video")
    video_view_count: int = Field(description="plays by people (bots and scanners never count)")
    cta_clicked_at: datetime | None = Field(description="the first click on the call to action")
    cta_click_count: int
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, p: Prospect) -> ProspectOut:
        # The watch token is the public link's secret: it is not part of this model.
        return cls.model_validate(
            {
                **p.model_dump(exclude={"account_id", "campaign_id", "watch_token"}),
                "display_name": p.display_name,
            }
        )


class ProspectPage(BaseModel):
    items: list[ProspectOut]
    cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class ProspectListQuery(PageQuery):
    q: str | None = Field(
        default=None,
        max_length=200,
        description="matches anywhere in the first or last name, email or company, ignoring case and accents",
    )
    status: VideoStatus | None = Field(
        default=None, description="only prospects whose video is in this status"
    )
    sort: ProspectSort = ProspectSort.CREATED
    order: SortOrder | None = Field(default=None, description="default: desc for created, asc otherwise")


CustomLabel = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_CHARS)]
CustomValue = Annotated[str, StringConstraints(max_length=MAX_CUSTOM_VALUE_CHARS)]
ProspectId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ProspectUpdate(_ContactUpdate):
    custom_fields: dict[CustomLabel, CustomValue] | None = Field(
        default=None,
        max_length=MAX_CUSTOM_COLUMNS,
        description="replaces every custom field; null removes them all",
    )
    variant: str | None = Field(
        default=None, min_length=1, max_length=40, description="the script variant this prospect is in"
    )


class ProspectFilter(Strict):
    q: str | None = Field(default=None, max_length=200, description="as the list's ?q=")
    status: VideoStatus | None = Field(default=None, description="as the list's ?status=")


class BulkDelete(Strict):
    prospect_ids: list[ProspectId] | None = Field(
        default=None, min_length=1, max_length=MAX_SELECTION, description="these prospects"
    )
    filter: ProspectFilter | None = Field(
        default=None,
        description=f"or those matching (the first {MAX_SELECTION}, oldest first; {{}} matches every one)",
    )


class BulkRender(Strict):
    prospect_ids: list[ProspectId] | None = Field(
        default=None, min_length=1, max_length=MAX_SELECTION, description="these prospects"
    )
    filter: ProspectFilter | None = Field(
        default=None,
        description=f"or those matching (at most {MAX_SELECTION}; {{}} renders the whole campaign)",
    )
    force: bool = Field(default=False, description="re-render completed videos whose inputs did not change")
    tolerated_failure_percent: float | None = Field(
        default=None, ge=0, le=100, description="stop the batch when more of its prospects fail (default 25)"
    )


class SkippedOut(BaseModel):
    prospect_id: str
    reason: SkipReason = Field(
        description="not_found, rendering (wait or cancel its batch), or error (retry)"
    )
    message: str


class BulkDeleteOut(BaseModel):
    deleted: int
    deleted_ids: list[str]
    skipped: list[SkippedOut] = Field(description="prospects not deleted, and why")
    more: bool = Field(description="the filter matched more prospects: send the request again to go on")


class ProspectStatsOut(BaseModel):
    total: int
    by_status: dict[VideoStatus, int] = Field(description="prospects per video status (every status listed)")
    in_progress: int = Field(description="queued, synthesizing or rendering")
    completed_percent: float


def _ports() -> ProspectPorts:
    return ProspectPorts(
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
        videos=deps.get_video_repo(),
        media=deps.get_media_store(),
    )


def _with_etag(out: ProspectOut) -> Response:
    return Response(
        body=out.model_dump_json(),
        status_code=200,
        headers={"Content-Type": "application/json", "ETag": f'"{out.version}"'},
    )


def _selection(body: BulkDelete | BulkRender) -> Selection:
    f = body.filter
    return Selection.of(body.prospect_ids, f is not None, f.q if f else None, f.status if f else None)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects",
    "GET",
    summary="A campaign's prospects: search, filter by video status, sort; newest first by default",
    query=ProspectListQuery,
    response=ProspectPage,
)
def list_(principal: Principal, campaign_id: str, query: ProspectListQuery) -> ProspectPage:
    wanted = prospects.prospect_query(
        query.q, query.status, query.sort, None if query.order is None else query.order is SortOrder.DESC
    )
    page = prospects.list_prospects(
        _ports(), principal.account_id, campaign_id, wanted, query.limit, query.cursor
    )
    return ProspectPage(items=[ProspectOut.of(p) for p in page.items], cursor=page.cursor)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/stats",
    "GET",
    summary="How many prospects a campaign has, per video status",
    response=ProspectStatsOut,
)
def stats(principal: Principal, campaign_id: str) -> ProspectStatsOut:
    found = prospects.prospect_stats(_ports(), principal.account_id, campaign_id)
    return ProspectStatsOut(
        total=found.total,
        by_status=found.by_status,
        in_progress=found.in_progress,
        completed_percent=found.completed_percent,
    )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/bulk-delete",
    "POST",
    summary="Delete prospects by id or by filter; each is reported deleted or skipped, with why",
    body=BulkDelete,
    response=BulkDeleteOut,
)
def bulk_delete(principal: Principal, campaign_id: str, body: BulkDelete) -> BulkDeleteOut:
    outcome = prospects.delete_selection(_ports(), principal.account_id, campaign_id, _selection(body))
    return BulkDeleteOut(
        deleted=len(outcome.deleted),
        deleted_ids=outcome.deleted,
        skipped=[
            SkippedOut(prospect_id=s.prospect_id, reason=s.reason, message=s.message) for s in outcome.skipped
        ],
        more=outcome.more,
    )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/bulk-render",
    "POST",
    creates=True,
    summary="Re-render prospects chosen by id or by filter, as one batch",
    status=202,
    body=BulkRender,
    response=BatchOut,
)
def bulk_render(principal: Principal, campaign_id: str, body: BulkRender) -> BatchOut:
    batch = prospects.render_selection(
        deps.render_ports(),
        principal.account_id,
        campaign_id,
        _selection(body),
        force=body.force,
        tolerated_failure_percent=body.tolerated_failure_percent,
    )
    return BatchOut.of(batch)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}",
    "GET",
    summary="One prospect of a campaign",
    response=ProspectOut,
)
def get(principal: Principal, campaign_id: str, prospect_id: str) -> Response:
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    return _with_etag(
        ProspectOut.of(deps.get_prospect_repo().get(principal.account_id, campaign_id, prospect_id))
    )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}",
    "PATCH",
    summary="Change a prospect (pronunciation included); send If-Match with its ETag to refuse lost updates",
    body=ProspectUpdate,
    response=ProspectOut,
)
def update(principal: Principal, campaign_id: str, prospect_id: str, body: ProspectUpdate) -> Response:
    updated = prospects.update_prospect(
        _ports(),
        principal.account_id,
        campaign_id,
        prospect_id,
        body.model_dump(exclude_unset=True),
        expected_version=_if_match(bp.current_request.headers.get("if-match")),
    )
    return _with_etag(ProspectOut.of(updated))


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}",
    "DELETE",
    summary="Delete a prospect and its video (refused while its video is being rendered)",
    status=204,
)
def delete(principal: Principal, campaign_id: str, prospect_id: str) -> None:
    prospects.delete_prospect(_ports(), principal.account_id, campaign_id, prospect_id)
