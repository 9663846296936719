"""A campaign's prospects: the cursor-paginated list (newest first) and one prospect."""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import PageQuery
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import Prospect, VideoStatus

bp = Blueprint(__name__)


class ProspectOut(BaseModel):
    prospect_id: str
    first_name: str
    last_name: str | None
    email: str
    company: str | None
    title: str | None = Field(description="job title")
    phone: str | None
    website: str | None
    linkedin_url: str | None
    pronunciation: str | None
    custom_fields: dict[str, str] = Field(description="the CSV's unmapped columns, by column name")
    video_status: VideoStatus
    video_error: str | None
    video_generated_at: datetime | None
    email_sent_at: datetime | None
    video_viewed_at: datetime | None
    video_view_count: int
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, p: Prospect) -> ProspectOut:
        return cls.model_validate(p.model_dump(exclude={"account_id", "campaign_id"}))


class ProspectPage(BaseModel):
    items: list[ProspectOut]
    cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


@route(
    bp,
    "/campaigns/{campaign_id}/prospects",
    "GET",
    summary="A campaign's prospects, newest first",
    query=PageQuery,
    response=ProspectPage,
)
def list_(principal: Principal, campaign_id: str, query: PageQuery) -> ProspectPage:
    # The campaign lookup is under the caller's account: another tenant's ids are simply not found.
    deps.get_campaign_repo().get(principal.account_id, campaign_id)
    page = deps.get_prospect_repo().list(principal.account_id, campaign_id, query.limit, query.cursor)
    return ProspectPage(items=[ProspectOut.of(p) for p in page.items], cursor=page.cursor)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}",
    "GET",
    summary="One prospect of a campaign",
    response=ProspectOut,
)
def get(principal: Principal, campaign_id: str, prospect_id: str) -> ProspectOut:
    deps.get_campaign_repo().get(principal.account_id, campaign_id)
    return ProspectOut.of(deps.get_prospect_repo().get(principal.account_id, campaign_id, prospect_id))
