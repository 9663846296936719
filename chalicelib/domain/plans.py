"""The plans: one table, read by everything that enforces or shows them.

From the product's description (``shared/seeds/000_…``: "Plan Features Matrix", "API Rate Limits")
and its pricing (seats, ``003_…``). ``None`` means no limit. Prices are what the console shows;
what a subscription costs is Stripe's price object, looked up by the plan's ``lookup_key``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.models import TRIAL_DAYS, TRIAL_VIDEO_LIMIT, Plan


@dataclass(frozen=True)
class PlanSpec:
    plan: Plan
    title: str
    monthly_price_usd: int  # 0 for the trial
    videos_per_period: int
    campaigns: int | None
    prospects_per_campaign: int | None
    api_requests_per_hour: int
    branding: bool  # custom logo, accent colour and no "made with Tailorcast" badge on watch pages
    api_keys: bool  # programmatic access with named, revocable keys
    client_workspaces: bool  # the learning loop's per-client workspaces
    seats: int
    trial_days: int | None = None  # the trial's length; paid plans run by the billing period

    @property
    def lookup_key(self) -> str:
        """The Stripe price's lookup key for this plan (the trial has no price)."""
        return f"tailorcast_{self.plan.value}_monthly"

    @property
    def paid(self) -> bool:
        return self.monthly_price_usd > 0


PLANS: dict[Plan, PlanSpec] = {
    spec.plan: spec
    for spec in (
        PlanSpec(
            plan=Plan.TRIAL,
            title="Trial",
            monthly_price_usd=0,
            videos_per_period=TRIAL_VIDEO_LIMIT,
            campaigns=1,
            prospects_per_campaign=100,
            api_requests_per_hour=100,
            branding=False,
            api_keys=False,
            client_workspaces=False,
            seats=1,
            trial_days=TRIAL_DAYS,
        ),
        PlanSpec(
            plan=Plan.BASIC,
            title="Basic",
            monthly_price_usd=29,
            videos_per_period=50,
            campaigns=5,
            prospects_per_campaign=500,
            api_requests_per_hour=1_000,
            branding=False,
            api_keys=False,
            client_workspaces=False,
            seats=1,
        ),
        PlanSpec(
            plan=Plan.PRO,
            title="Pro",
            monthly_price_usd=79,
            videos_per_period=200,
            campaigns=20,
            prospects_per_campaign=2_000,
            api_requests_per_hour=10_000,
            branding=True,
            api_keys=False,
            client_workspaces=False,
            seats=3,
        ),
        PlanSpec(
            plan=Plan.AGENCY,
            title="Agency",
            monthly_price_usd=199,
            videos_per_period=1_000,
            campaigns=None,
            prospects_per_campaign=None,
            api_requests_per_hour=100_000,
            branding=True,
            api_keys=True,
            client_workspaces=True,
            seats=10,
        ),
    )
}

#: The plans a seller can subscribe to, cheapest first.
PAID_PLANS: tuple[PlanSpec, ...] = tuple(s for s in PLANS.values() if s.paid)


def spec(plan: Plan) -> PlanSpec:
    return PLANS[plan]


def plan_for_lookup_key(lookup_key: str) -> Plan | None:
    """The plan a Stripe price's lookup key stands for (None: not one of ours)."""
    for s in PAID_PLANS:
        if s.lookup_key == lookup_key:
            return s.plan
    return None


def cheapest_with(predicate: str) -> PlanSpec | None:
    """The cheapest paid plan whose feature flag ``predicate`` is on (what unlocks a feature)."""
    for s in PAID_PLANS:
        if getattr(s, predicate):
            return s
    return None
