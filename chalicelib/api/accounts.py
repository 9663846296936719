"""The caller's own account, its usage against the plan, and its API keys."""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies
from chalicelib.api._http import route
from chalicelib.api.schemas import MeOut, Strict
from chalicelib.domain import api_keys, usage
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import AccountStatus, ApiKey, Plan
from chalicelib.domain.plans import PlanSpec

bp = Blueprint(__name__)


def _account(principal: Principal):  # type: ignore[no-untyped-def]
    """The account authentication read with the user (no read of its own)."""
    return principal.account or dependencies.get_account_repo().get(principal.account_id)


@route(bp, "/me", "GET", summary="The signed-in user and their account", response=MeOut)
def me(principal: Principal) -> MeOut:
    account = _account(principal)
    videos = dependencies.get_usage_ledger().videos(account.account_id, usage.period_key(account))
    return MeOut.of(account, principal, videos_rendered=videos.used, video_limit=usage.video_limit(account))


# ------------------------------------------------------------------------------------ usage


class PlanLimits(BaseModel):
    """One row of the plans table (``null``: no limit)."""

    plan: Plan
    title: str
    monthly_price_usd: int
    videos_per_period: int
    campaigns: int | None
    prospects_per_campaign: int | None
    api_requests_per_hour: int
    seats: int
    branding: bool
    api_keys: bool
    client_workspaces: bool

    @classmethod
    def of(cls, s: PlanSpec) -> PlanLimits:
        return cls.model_validate(s, from_attributes=True)


class VideosUsage(BaseModel):
    used: int = Field(description="rendered this period")
    reserved: int = Field(description="queued or rendering: counted until they finish or fail")
    limit: int
    left: int


class CountUsage(BaseModel):
    used: int
    limit: int | None = Field(description="null: no limit on this plan")


class RequestsUsage(BaseModel):
    bucket: str = Field(
        description="the hourly budget this request counted in: `reads` (a signed-in session's GETs, "
        "ten times the plan's figure) or `api` (changes and API-key calls: the plan's figure)"
    )
    limit: int = Field(description="requests per hour in this budget on this plan")
    used: int | None = Field(description="this hour, this request included (null: not counted)")
    left: int | None
    resets_at: datetime = Field(description="when the hour's count starts again")


class UsageOut(BaseModel):
    plan: PlanLimits
    status: AccountStatus
    period_start: datetime
    period_end: datetime | None
    trial_days_left: int | None = Field(description="whole days left in the trial (null: not on the trial)")
    can_create: bool = Field(
        description="false: lapsed (trial ended, unpaid, cancelled, or past due too long)"
    )
    videos: VideosUsage
    campaigns: CountUsage
    seats: CountUsage
    requests: RequestsUsage


@route(
    bp, "/me/usage", "GET", summary="The account's plan, period and usage of each limit", response=UsageOut
)
def usage_(principal: Principal) -> UsageOut:
    report = usage.usage_report(dependencies.get_usage_ledger(), _account(principal), principal.rate)
    _, window_end = usage.rate_window()
    rate = report.rate
    return UsageOut(
        plan=PlanLimits.of(report.plan),
        status=report.account.status,
        period_start=report.period_start,
        period_end=report.period_end,
        trial_days_left=report.trial_days_left,
        can_create=usage.can_create(report.account),
        videos=VideosUsage(
            used=report.videos.used,
            reserved=report.videos.reserved,
            limit=report.video_limit,
            left=max(0, report.video_limit - report.videos.taken),
        ),
        campaigns=CountUsage(used=report.campaigns, limit=report.plan.campaigns),
        seats=CountUsage(used=report.seats, limit=report.plan.seats),
        requests=RequestsUsage(
            bucket=rate.bucket if rate else usage.READS_BUCKET,
            limit=rate.limit if rate else report.plan.api_requests_per_hour,
            used=rate.used if rate else None,
            left=rate.remaining if rate else None,
            resets_at=datetime.fromtimestamp(rate.reset if rate else window_end).astimezone(),
        ),
    )


# --------------------------------------------------------------------------------- API keys


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. 'CRM sync'")


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    user_id: str = Field(description="the user the key acts as")

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls.model_validate(k, from_attributes=True)


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, never again (only its hash is kept)")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


@route(
    bp,
    "/api-keys",
    "POST",
    creates=True,
    summary="Create an API key (Agency): shown once; send it as 'Authorization: Bearer tc_live_…'",
    status=201,
    body=ApiKeyCreate,
    response=ApiKeyCreated,
)
def create_key(principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    made = api_keys.create_api_key(
        dependencies.get_api_key_repo(), _account(principal), principal.user_id, body.name
    )
    return ApiKeyCreated(**ApiKeyOut.of(made.key).model_dump(), key=made.secret)


@route(
    bp, "/api-keys", "GET", summary="The account's API keys (never the keys themselves)", response=ApiKeyList
)
def list_keys(principal: Principal) -> ApiKeyList:
    keys = dependencies.get_api_key_repo().list(principal.account_id)
    return ApiKeyList(items=[ApiKeyOut.of(k) for k in keys])


@route(bp, "/api-keys/{key_id}", "DELETE", summary="Revoke an API key (at once)", status=204)
def revoke_key(principal: Principal, key_id: str) -> None:
    dependencies.get_api_key_repo().delete(principal.account_id, key_id)
