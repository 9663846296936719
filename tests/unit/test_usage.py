"""The plans' pure rules: who may create, what unlocks a limit, the ledger's period, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.api._http import STATUS_BY_ERROR, _status_for
from chalicelib.domain import api_keys, usage
from chalicelib.domain.accounts import ensure_can_create
from chalicelib.domain.auth import authenticate
from chalicelib.domain.errors import (
    AccountInactiveError,
    AuthenticationError,
    PlanFeatureError,
    QuotaExceededError,
)
from chalicelib.domain.models import PAST_DUE_GRACE_DAYS, Account, AccountStatus, Plan, Role, User
from tests import fakes

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _account(**changes: object) -> Account:
    return Account.start_trial("Acme", now=NOW - timedelta(days=1)).model_copy(update=changes)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"status": AccountStatus.CANCELLED}, "cancelled"),
        ({"status": AccountStatus.UNPAID, "plan": Plan.BASIC}, "unpaid"),
        (
            {"status": AccountStatus.PAST_DUE, "plan": Plan.BASIC, "past_due_since": NOW - timedelta(days=8)},
            "grace period ended",
        ),
        ({"trial_ends_at": NOW - timedelta(seconds=1)}, "trial ended"),
    ],
)
def test_lapsed_accounts_are_refused_with_a_402_that_says_why(changes: dict[str, object], says: str) -> None:
    with pytest.raises(AccountInactiveError) as refused:
        ensure_can_create(_account(**changes), NOW)
    assert says in refused.value.message and refused.value.unlock == "subscribe"
    assert _status_for(refused.value) == 402
    assert usage.can_create(_account(**changes), NOW) is False


def test_past_due_within_the_grace_and_a_running_trial_create() -> None:
    since = NOW - timedelta(days=PAST_DUE_GRACE_DAYS) + timedelta(minutes=1)
    ensure_can_create(_account(status=AccountStatus.PAST_DUE, plan=Plan.PRO, past_due_since=since), NOW)
    ensure_can_create(_account(), NOW)


def test_the_402_errors_map_to_402() -> None:
    assert _status_for(QuotaExceededError("x")) == 402 and _status_for(PlanFeatureError("x")) == 402
    assert STATUS_BY_ERROR[AccountInactiveError] == 402


def test_what_unlocks_a_limit_is_the_cheapest_plan_with_more_of_it() -> None:
    assert usage.unlock_for(_account(), "videos_per_period") == "basic"
    assert usage.unlock_for(_account(plan=Plan.BASIC), "campaigns") == "pro"
    assert usage.unlock_for(_account(plan=Plan.PRO), "campaigns") == "agency"  # unlimited
    assert usage.unlock_for(_account(plan=Plan.AGENCY), "videos_per_period") is None
    assert usage.unlock_for(_account(status=AccountStatus.CANCELLED), "campaigns") == "subscribe"


def test_the_ledger_is_keyed_by_the_period_start() -> None:
    trial = _account()
    assert usage.period_key(trial) == "2026-12-06T12:00:00Z"
    start = NOW + timedelta(days=3)
    paid = trial.model_copy(
        update={"plan": Plan.BASIC, "period_start": start, "period_end": start + timedelta(30)}
    )
    assert usage.period_key(paid) == "2026-12-10T12:00:00Z"
    assert usage.video_limit(paid) == 50 and usage.video_limit(trial) == 5


def test_trial_days_left_round_up_and_stop_at_zero() -> None:
    assert usage.trial_days_left(_account(), NOW) == 6
    assert usage.trial_days_left(_account(), NOW + timedelta(days=10)) == 0
    assert usage.trial_days_left(_account(plan=Plan.PRO), NOW) is None


def test_the_videos_refusal_names_the_limit_and_the_plan_that_lifts_it() -> None:
    error = usage.videos_exceeded(_account(), 5)
    assert (error.quota, error.limit, error.used, error.unlock) == ("videos", 5, 5, "basic")
    assert "Basic" in error.message


def test_campaign_quota_is_unlimited_on_agency_but_still_counted() -> None:
    quota = usage.campaign_quota(_account(plan=Plan.AGENCY))
    assert quota.limit == usage.UNLIMITED and quota.exceeded(3).limit is None
    trial = usage.campaign_quota(_account())
    assert trial.limit == 1 and trial.exceeded(1).unlock == "basic"


def test_rate_standing_and_window() -> None:
    start, end = usage.rate_window(NOW + timedelta(minutes=5, seconds=7))
    assert (start, end) == (int(NOW.timestamp()), int(NOW.timestamp()) + 3600)
    standing = usage.rate_standing(_account(), 101, end)
    assert (standing.limit, standing.remaining, standing.exceeded) == (100, 0, True)
    assert usage.rate_standing(_account(), 100, end).exceeded is False


# --------------------------------------------------------------------------- API keys


def _world(plan: Plan) -> tuple[fakes.FakeAccountRepository, fakes.FakeApiKeyRepository, Account, User]:
    accounts, keys = fakes.FakeAccountRepository(), fakes.FakeApiKeyRepository()
    account = _account(plan=plan)
    owner = User(
        account_id=account.account_id, user_id="user_1", subject="sub-1", email="a@b.co", role=Role.OWNER
    )
    accounts.create(account, owner)
    return accounts, keys, accounts.get(account.account_id), owner


def test_an_api_key_is_shown_once_stored_hashed_and_acts_as_its_creator() -> None:
    accounts, keys, account, owner = _world(Plan.AGENCY)
    made = api_keys.create_api_key(keys, account, owner.user_id, "CRM")
    assert made.secret.startswith("tc_live_") and len(made.secret) > 40
    assert made.secret not in keys.by_digest and api_keys.key_hash(made.secret) in keys.by_digest
    seen: list[str] = []
    principal = authenticate(
        f"Bearer {made.secret}",
        verifier=None,  # type: ignore[arg-type]  # an API key never reaches the token verifier
        accounts=accounts,
        keys=keys,
        on_account=seen.append,
    )
    assert (principal.account_id, principal.user_id, principal.api_key_id) == (
        account.account_id,
        owner.user_id,
        made.key.key_id,
    )
    assert seen == [account.account_id]
    # the last use is written, then not again within the minute
    first = keys.list(account.account_id)[0].last_used_at
    assert first is not None
    authenticate(f"Bearer {made.secret}", verifier=None, accounts=accounts, keys=keys)  # type: ignore[arg-type]
    assert keys.list(account.account_id)[0].last_used_at == first


def test_an_api_key_below_agency_is_refused_and_an_unknown_one_unauthenticated() -> None:
    accounts, keys, account, owner = _world(Plan.PRO)
    with pytest.raises(PlanFeatureError) as refused:
        api_keys.create_api_key(keys, account, owner.user_id, "CRM")
    assert refused.value.unlock == "agency"
    with pytest.raises(AuthenticationError):
        authenticate("Bearer tc_live_nope", verifier=None, accounts=accounts, keys=keys)  # type: ignore[arg-type]
