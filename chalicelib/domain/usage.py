"""What a plan allows and how much of it an account has used: the quotas the API enforces.

Every limit comes from the plans table (:mod:`chalicelib.domain.plans`); this module turns it into
the counters that enforce it and the 402 a seller reads when one is reached.

**Videos** are counted in a ledger per usage period (the trial, or the Stripe billing period:
:meth:`Account.usage_period`), one counter item per period keyed by the period's start, so a new
period starts at zero with no reset job. The ledger holds two numbers: ``taken`` (videos reserved
or rendered) and ``committed`` (rendered); ``reserved = taken - committed``. DynamoDB's condition
expressions cannot add two attributes, which is why ``taken`` is kept as one: the reservation's
condition is ``taken < limit``, i.e. ``used + reserved < limit``. A render

- **reserves** when it is queued (``taken + 1``, conditional), in the same transaction as the
  prospect video's move to ``queued``;
- **commits** when it completes (``committed + 1``) with the move to ``completed``;
- **releases** when it fails or is cancelled (``taken - 1``) with that move.

A re-render of a prospect whose inputs did not change costs nothing (no reservation is taken, see
:func:`~chalicelib.domain.render.batches.prepare_batch`).

**Campaigns** are counted by the ``campaigns`` counter moved in the transaction that stores or
deletes a campaign (:func:`~chalicelib.adapters.dynamodb.quotas.counted_write`). A downgrade below
what an account has (8 campaigns onto Basic's 5) keeps every campaign: only new ones are refused
until it is under the limit again.

**Prospects per campaign** are checked by the CSV import under the campaign's roster lease (one
import writes a campaign at a time, so the room it computes cannot be taken by another writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.domain.accounts import ensure_can_create
from chalicelib.domain.errors import AccountInactiveError, QuotaExceededError
from chalicelib.domain.models import Account, AccountStatus, Plan, utcnow
from chalicelib.domain.plans import PAID_PLANS, PlanSpec, spec
from chalicelib.domain.ports import Quota, UsageLedger, VideoUsage

VIDEOS = "videos"
CAMPAIGNS = "campaigns"
#: A plan with no limit on a count still counts it (usage is shown, and a later downgrade is
#: enforced from the true number); the counter's ceiling is then this.
UNLIMITED = 10**12

#: The API's rate-limit window.
RATE_WINDOW_SECONDS = 3600

#: The two hourly request budgets. ``api``: the plan table's "API requests per hour", spent by
#: every change (POST, PUT, PATCH, DELETE) and by every request made with an API key (programmatic
#: access). ``reads``: what a signed-in person's console or CLI reads (GET), ten times that: a
#: seller watching a batch's progress refreshes it every few seconds, and a trial's 100 requests
#: an hour would otherwise stop the console within minutes while creating nothing.
API_BUCKET = "api"
READS_BUCKET = "reads"
SESSION_READS_MULTIPLIER = 10
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def rate_bucket(method: str, api_key: bool) -> str:
    """Which hourly budget a request spends (see :data:`API_BUCKET`)."""
    return READS_BUCKET if method.upper() in _READ_METHODS and not api_key else API_BUCKET


def unlock_for(account: Account, field: str) -> str | None:
    """What lifts the account's limit on ``field`` (a :class:`PlanSpec` attribute): the cheapest
    paid plan with more of it, ``subscribe`` for a lapsed account, ``None`` when no plan has more."""
    if account.status is not AccountStatus.ACTIVE and account.status is not AccountStatus.PAST_DUE:
        return "subscribe"
    current = getattr(spec(account.plan), field)
    for candidate in PAID_PLANS:
        value = getattr(candidate, field)
        if current is not None and (value is None or value > current):
            return candidate.plan.value
    return None


def _limit_or_unlimited(value: int | None) -> int:
    return UNLIMITED if value is None else value


def period_key(account: Account) -> str:
    """The ledger's name for the account's current usage period: its start, to the second (UTC)."""
    start, _ = account.usage_period()
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def video_limit(account: Account) -> int:
    """Videos the account may render in its current period."""
    return spec(account.plan).videos_per_period


def videos_exceeded(account: Account, used: int | None = None) -> QuotaExceededError:
    """The 402 for a render refused because the period's videos are used (or reserved)."""
    limit = video_limit(account)
    unlock = unlock_for(account, "videos_per_period")
    what = "the trial's" if account.plan is Plan.TRIAL else f"the {spec(account.plan).title} plan's"
    hint = f"upgrade to {spec(Plan(unlock)).title} for more" if unlock and unlock != "subscribe" else ""
    _, end = account.usage_period()
    when = (
        f"; the count starts again on {end:%Y-%m-%d}"
        if end is not None and account.plan is not Plan.TRIAL
        else ""
    )
    message = f"{what} {limit} videos for this period are used or being rendered{when}"
    return QuotaExceededError(
        f"{message}; {hint}" if hint else message, quota=VIDEOS, limit=limit, used=used, unlock=unlock
    )


@dataclass(frozen=True)
class PlanQuota(Quota):
    """A :class:`Quota` whose refusal is the 402 that names the plan that lifts it."""

    unlock: str | None = None
    what: str = ""

    def exceeded(self, used: int | None = None) -> QuotaExceededError:
        hint = (
            f"; upgrade to {spec(Plan(self.unlock)).title} for more"
            if self.unlock not in (None, "subscribe")
            else ""
        )
        limit = None if self.limit >= UNLIMITED else self.limit
        return QuotaExceededError(
            f"{self.message or f'the plan allows {self.limit} {self.name}'}{hint}",
            quota=self.name,
            limit=limit,
            used=used,
            unlock=self.unlock,
        )


def campaign_quota(account: Account) -> PlanQuota:
    """The ``campaigns`` counter's ceiling on the account's plan."""
    plan = spec(account.plan)
    limit = _limit_or_unlimited(plan.campaigns)
    return PlanQuota(
        name=CAMPAIGNS,
        limit=limit,
        message=f"the {plan.title} plan allows {limit} campaign{'s' if limit != 1 else ''}: "
        "delete one or upgrade to create another",
        unlock=unlock_for(account, "campaigns"),
    )


def rate_window(now: datetime | None = None) -> tuple[int, int]:
    """The current rate-limit window: (its start, its end) in epoch seconds."""
    epoch = int((now or utcnow()).timestamp())
    start = epoch - epoch % RATE_WINDOW_SECONDS
    return start, start + RATE_WINDOW_SECONDS


def rate_key(account_id: str, window_start: int, bucket: str = API_BUCKET) -> str:
    """The counter of the account's requests in ``bucket`` in the window starting at ``window_start``."""
    return f"{bucket}#{account_id}#{window_start}"


@dataclass(frozen=True)
class RateStanding:
    """Where the account stands in the current rate-limit window (the X-RateLimit headers)."""

    limit: int
    used: int
    reset: int  # epoch seconds when the window ends
    bucket: str = API_BUCKET

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


#: How long a window's counter outlives the window (then DynamoDB's TTL deletes it).
RATE_COUNTER_TTL_SECONDS = RATE_WINDOW_SECONDS + 60


def rate_standing(account: Account, used: int, reset: int, bucket: str = API_BUCKET) -> RateStanding:
    """Where the account stands after ``used`` requests of ``bucket`` in the window ending at
    ``reset``: the limit is its plan's (read with the account, so always the current plan)."""
    limit = spec(account.plan).api_requests_per_hour
    if bucket == READS_BUCKET:
        limit *= SESSION_READS_MULTIPLIER
    return RateStanding(limit=limit, used=used, reset=reset, bucket=bucket)


def trial_days_left(account: Account, now: datetime | None = None) -> int | None:
    """Whole days left in the trial (rounded up), 0 once ended; ``None`` off the trial."""
    if account.plan is not Plan.TRIAL or account.trial_ends_at is None:
        return None
    left = account.trial_ends_at - (now or utcnow())
    if left <= timedelta(0):
        return 0
    return left.days + (1 if left % timedelta(days=1) else 0)


def plan_spec(account: Account) -> PlanSpec:
    return spec(account.plan)


#: The seats counter (moved by team invitations: ``counted_write`` named ``seats``).
SEATS = "seats"


@dataclass(frozen=True)
class UsageReport:
    """What a usage banner shows: the plan, its standing and period, and each limit's use."""

    account: Account
    plan: PlanSpec
    period_start: datetime
    period_end: datetime | None
    trial_days_left: int | None
    videos: VideoUsage
    video_limit: int
    campaigns: int
    seats: int
    rate: RateStanding | None


def usage_report(
    ledger: UsageLedger, account: Account, rate: RateStanding | None, now: datetime | None = None
) -> UsageReport:
    """The account's usage now (one read: the ledger and counters together).

    ``seats`` is at least one (the owner), even before the seats counter first moves."""
    start, end = account.usage_period()
    videos, counts = ledger.snapshot(account.account_id, period_key(account), (CAMPAIGNS, SEATS))
    return UsageReport(
        account=account,
        plan=spec(account.plan),
        period_start=start,
        period_end=end,
        trial_days_left=trial_days_left(account, now),
        videos=videos,
        video_limit=video_limit(account),
        campaigns=counts[CAMPAIGNS],
        seats=max(1, counts[SEATS]),
        rate=rate,
    )


def can_create(account: Account, now: datetime | None = None) -> bool:
    """Whether the account may start new work (see :func:`ensure_can_create`)."""
    try:
        ensure_can_create(account, now)
    except AccountInactiveError:
        return False
    return True
