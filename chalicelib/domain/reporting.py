"""Analytics answers for the dashboard, cached with a freshness bound.

The queries themselves (Athena SQL, written once) are in ``domain/analytics.py`` behind the
``AnalyticsQueries`` port. An Athena query takes seconds and costs money per byte scanned, so an
answer is kept (``AnalyticsCache``) and served again while it is younger than the caller's
``max_age``; every answer says when it was computed and how old it is, so the dashboard can show
"as of 2 minutes ago" and a caller that needs it fresh asks with ``max_age=0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, Field

from chalicelib.domain.analytics import AccountEngagement, CampaignEngagement, ProspectEngagement
from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.models import utcnow
from chalicelib.domain.ports import AnalyticsCache, AnalyticsQueries, CampaignRepository, ProspectRepository

#: The default window when the caller gives none, and the longest one allowed.
DEFAULT_DAYS = 90
MAX_DAYS = 366

M = TypeVar("M", bound=BaseModel)


class Freshness(BaseModel):
    computed_at: datetime = Field(description="when the numbers were computed from the event logs")
    age_seconds: float = Field(description="how old they are now")
    max_age_seconds: int = Field(description="the freshness bound this answer was served under")
    cached: bool = Field(description="served from the cache (true) or computed for this request")


@dataclass(frozen=True)
class Window:
    since: date
    until: date

    @classmethod
    def of(cls, since: date | None, until: date | None, today: date) -> Window:
        """The days asked for (both ends included), defaulting to the last :data:`DEFAULT_DAYS`.

        Raises
        ------
        InvalidInputError
            ``since`` after ``until``, or a window over :data:`MAX_DAYS`.
        """
        until = until or today
        since = since or (until - timedelta(days=DEFAULT_DAYS - 1))
        if since > until:
            raise InvalidInputError(
                "the window is empty", [FieldIssue("query.since", "must be on or before until")]
            )
        if (until - since).days + 1 > MAX_DAYS:
            raise InvalidInputError(
                "the window is too long", [FieldIssue("query.since", f"at most {MAX_DAYS} days before until")]
            )
        return cls(since, until)

    @property
    def key(self) -> str:
        return f"{self.since.isoformat()}..{self.until.isoformat()}"


@dataclass(frozen=True)
class ReportingPorts:
    queries: AnalyticsQueries
    cache: AnalyticsCache
    campaigns: CampaignRepository
    prospects: ProspectRepository


def _cached(
    cache: AnalyticsCache,
    account_id: str,
    key: str,
    model: type[M],
    max_age_seconds: int,
    compute: Callable[[], M],
    now: datetime,
) -> tuple[M, Freshness]:
    hit = cache.get(account_id, key)
    if hit is not None:
        computed_at, value = hit
        age = (now - computed_at).total_seconds()
        if 0 <= age <= max_age_seconds:
            return model.model_validate(value), Freshness(
                computed_at=computed_at, age_seconds=age, max_age_seconds=max_age_seconds, cached=True
            )
    answer = compute()
    computed_at = utcnow()
    cache.put(
        account_id, key, computed_at, answer.model_dump(mode="json"), ttl_seconds=max(max_age_seconds, 60) * 4
    )
    return answer, Freshness(
        computed_at=computed_at,
        age_seconds=max((utcnow() - computed_at).total_seconds(), 0.0),
        max_age_seconds=max_age_seconds,
        cached=False,
    )


def campaign_report(
    ports: ReportingPorts,
    account_id: str,
    campaign_id: str,
    window: Window,
    max_age_seconds: int,
    now: datetime | None = None,
) -> tuple[CampaignEngagement, Freshness]:
    """The campaign's funnel, rates, variants, days and bot hits.

    Raises
    ------
    NotFoundError
        No such campaign for this account (checked before any query runs).
    StorageError
        The query failed.
    """
    ports.campaigns.get(account_id, campaign_id)
    return _cached(
        ports.cache,
        account_id,
        f"campaign#{campaign_id}#{window.key}",
        CampaignEngagement,
        max_age_seconds,
        lambda: ports.queries.campaign(account_id, campaign_id, window.since, window.until),
        now or utcnow(),
    )


def prospect_report(
    ports: ReportingPorts,
    account_id: str,
    campaign_id: str,
    prospect_id: str,
    window: Window,
    max_age_seconds: int,
    now: datetime | None = None,
) -> tuple[ProspectEngagement, Freshness]:
    """One prospect's views, watch time, reach, CTA clicks and per-second heatmap.

    Raises
    ------
    NotFoundError
        No such prospect for this account.
    """
    ports.prospects.get(account_id, campaign_id, prospect_id)
    return _cached(
        ports.cache,
        account_id,
        f"prospect#{campaign_id}#{prospect_id}#{window.key}",
        ProspectEngagement,
        max_age_seconds,
        lambda: ports.queries.prospect(account_id, campaign_id, prospect_id, window.since, window.until),
        now or utcnow(),
    )


def account_report(
    ports: ReportingPorts, account_id: str, window: Window, max_age_seconds: int, now: datetime | None = None
) -> tuple[AccountEngagement, Freshness]:
    """Monthly usage and totals per campaign across the account."""
    return _cached(
        ports.cache,
        account_id,
        f"account#{window.key}",
        AccountEngagement,
        max_age_seconds,
        lambda: ports.queries.account(account_id, window.since, window.until),
        now or utcnow(),
    )
