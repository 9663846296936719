"""Engagement analytics for the seller: per campaign, per prospect, per account.

Humans only: bot and scanner hits are left out of every figure and shown as their own count.
Each answer says how fresh it is; ``max_age`` bounds it (0 forces a fresh query).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import IsoDay, Strict
from chalicelib.domain import reporting
from chalicelib.domain.analytics import AccountEngagement, CampaignEngagement, ProspectEngagement
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import utcnow
from chalicelib.domain.reporting import Freshness, ReportingPorts, Window
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class AnalyticsQuery(Strict):
    since: IsoDay | None = Field(
        default=None, description=f"first day (UTC), default {reporting.DEFAULT_DAYS} days ago"
    )
    until: IsoDay | None = Field(default=None, description="last day (UTC), default today")
    max_age: int | None = Field(
        default=None,
        ge=0,
        le=24 * 3600,
        description="serve a cached answer at most this many seconds old (0: compute now); "
        "default from the deployment (TAILORCAST_ANALYTICS_MAX_AGE_SECONDS)",
    )


class CampaignAnalyticsOut(BaseModel):
    since: date
    until: date
    data: CampaignEngagement
    freshness: Freshness


class ProspectAnalyticsOut(BaseModel):
    since: date
    until: date
    data: ProspectEngagement
    freshness: Freshness


class AccountAnalyticsOut(BaseModel):
    since: date
    until: date
    data: AccountEngagement
    freshness: Freshness


def _ports() -> ReportingPorts:
    return ReportingPorts(
        queries=deps.get_analytics(),
        cache=deps.get_analytics_cache(),
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
    )


def _window(query: AnalyticsQuery) -> tuple[Window, int]:
    max_age = query.max_age if query.max_age is not None else get_settings().analytics_max_age_seconds
    return Window.of(query.since, query.until, utcnow().date()), max_age


def _out(model: type[BaseModel], window: Window, answer: tuple[Any, Freshness]) -> Any:
    data, freshness = answer
    return model.model_validate(
        {"since": window.since, "until": window.until, "data": data, "freshness": freshness}
    )


@route(
    bp,
    "/campaigns/{campaign_id}/analytics",
    "GET",
    summary="A campaign's funnel (sent, opened, played, 50%, completed, CTA), rates, variants, days, bots",
    query=AnalyticsQuery,
    response=CampaignAnalyticsOut,
)
def campaign(principal: Principal, campaign_id: str, query: AnalyticsQuery) -> CampaignAnalyticsOut:
    window, max_age = _window(query)
    answer = reporting.campaign_report(_ports(), principal.account_id, campaign_id, window, max_age)
    return _out(CampaignAnalyticsOut, window, answer)  # type: ignore[no-any-return]


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/analytics",
    "GET",
    summary="One prospect's views, watch time, reach, CTA clicks and per-second heatmap",
    query=AnalyticsQuery,
    response=ProspectAnalyticsOut,
)
def prospect(
    principal: Principal, campaign_id: str, prospect_id: str, query: AnalyticsQuery
) -> ProspectAnalyticsOut:
    window, max_age = _window(query)
    answer = reporting.prospect_report(
        _ports(), principal.account_id, campaign_id, prospect_id, window, max_age
    )
    return _out(ProspectAnalyticsOut, window, answer)  # type: ignore[no-any-return]


@route(
    bp,
    "/analytics",
    "GET",
    summary="The account's monthly usage and totals across campaigns",
    query=AnalyticsQuery,
    response=AccountAnalyticsOut,
)
def account(principal: Principal, query: AnalyticsQuery) -> AccountAnalyticsOut:
    window, max_age = _window(query)
    answer = reporting.account_report(_ports(), principal.account_id, window, max_age)
    return _out(AccountAnalyticsOut, window, answer)  # type: ignore[no-any-return]
