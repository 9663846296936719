"""The plans enforced over HTTP (Chalice test client + moto): the video ledger, campaigns per plan,
rate limits per plan, API keys (Agency only), the usage API, lapsed accounts and tenant isolation."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import dependencies
from chalicelib.adapters.dynamodb.models import AccountItem
from chalicelib.domain import render, usage
from chalicelib.domain.errors import QuotaExceededError
from chalicelib.domain.models import AccountStatus, Plan, ProspectVideo, VideoStatus, new_id, utcnow
from chalicelib.domain.plans import PLANS
from chalicelib.domain.ports import LedgerMove
from chalicelib.domain.render.common import ACTIVE_VIDEO, _transition
from devstack import dynamotx
from tests.functional.conftest import Tenant, call
from tests.functional.test_render_api import _prepare, _ready_campaign
from tests.functional.test_render_api import sfn as sfn_fixture  # noqa: F401  (a fixture)
from tests.functional.test_watch_api import World
from tests.functional.test_watch_api import world as world_fixture  # noqa: F401  (a fixture)


def _json(response: Any) -> Any:
    return json.loads(response.body)


def _set_account(account_id: str, **changes: object) -> None:
    item = AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    for name, value in changes.items():
        setattr(item, name, value.value if isinstance(value, AccountStatus | Plan) else value)
    item.save(add_version_condition=False)


def _usage(client: Any, tenant: Tenant) -> Any:
    answer = call(client, "GET", "/me/usage", tenant)
    assert answer.status_code == 200, answer.body
    return _json(answer)


def _finish(tenant: Tenant, cid: str, pid: str, to: VideoStatus) -> None:
    """What the pipeline's last step does to a queued render: completed, or failed."""
    ports = dependencies.render_ports()
    video = ports.videos.get(tenant.account_id, cid, pid)
    assert _transition(ports, video, ACTIVE_VIDEO, to, error="boom" if to is VideoStatus.FAILED else None)


def _race(n: int, attempt: Callable[[int], object]) -> list[object]:
    """``attempt(0..n-1)`` on ``n`` threads at once; each one's result, or the QuotaExceededError
    it raised (any other error fails the test)."""
    outcomes: list[object] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            outcome = attempt(i)
        except QuotaExceededError as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


# --------------------------------------------------------------------------- the video ledger


def test_50_concurrent_reservations_on_a_fresh_trial_make_exactly_5_videos(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a fresh trial (5 videos) and 50 prospect renders queued at once, each in its own thread
    # (moto made to apply each request atomically, as DynamoDB does: devstack/dynamotx.py)
    dynamotx.install()
    me = new_tenant(plan=Plan.TRIAL)
    account = dependencies.get_account_repo().get(me.account_id)
    period, limit = usage.period_key(account), usage.video_limit(account)
    assert limit == 5
    cid = new_id("camp")

    def queue(i: int) -> object:
        video = ProspectVideo(
            account_id=me.account_id,
            campaign_id=cid,
            prospect_id=f"pros_{i:02d}",
            render_id=new_id("rnd"),
            status=VideoStatus.QUEUED,
            quota_period=period,
        )
        return dependencies.get_video_repo().move(
            video, None, LedgerMove(me.account_id, period, "reserve", limit)
        )

    outcomes = _race(50, queue)

    # THEN exactly 5 were queued, 45 refused with the limit, and the ledger says 5 reserved
    assert sum(isinstance(o, ProspectVideo) for o in outcomes) == 5, outcomes
    refused = [o for o in outcomes if isinstance(o, QuotaExceededError)]
    assert len(refused) == 45 and {(e.quota, e.limit) for e in refused} == {("videos", 5)}
    assert len(list(dependencies.get_video_repo().list_campaign(me.account_id, cid))) == 5
    assert _usage(client, me)["videos"] == {"used": 0, "reserved": 5, "limit": 5, "left": 0}


@pytest.mark.usefixtures("sfn_fixture")
def test_a_trial_renders_5_then_the_6th_is_a_402_and_a_partial_batch_reports_the_rest(  # type: ignore[no-untyped-def]
    client, new_tenant
) -> None:
    me = new_tenant(plan=Plan.TRIAL)
    cid, (p0, p1, p2, p3) = _ready_campaign(client, me, prospects=4)
    # 4 of 5 used by a first batch
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {}))["batch_id"]
    assert _prepare(me, cid, bid).total == 4
    for pid in (p0, p1, p2, p3):
        _finish(me, cid, pid, VideoStatus.COMPLETED)
    render.finalize_batch(dependencies.render_ports(), me.account_id, cid, bid)
    assert _usage(client, me)["videos"] == {"used": 4, "reserved": 0, "limit": 5, "left": 1}
    assert _json(call(client, "GET", "/me", me))["account"]["videos_rendered"] == 4

    # WHEN two changed prospects need a render but only one video is left
    for pid in (p0, p1):
        dependencies.get_prospect_repo().update(
            me.account_id, cid, pid, lambda p: p.model_copy(update={"first_name": p.first_name + "a"})
        )
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {}))["batch_id"]
    prepared = _prepare(me, cid, bid)
    # THEN the one that fits is queued and the other is refused with the reason, left as it was
    assert prepared.total == 1
    batch = _json(call(client, "GET", f"/campaigns/{cid}/batches/{bid}", me))
    assert (
        batch["refused"] == 1 and "5 videos" in batch["refused_reason"] and "Basic" in batch["refused_reason"]
    )
    _finish(me, cid, prepared.items[0]["prospect_id"], VideoStatus.COMPLETED)
    render.finalize_batch(dependencies.render_ports(), me.account_id, cid, bid)

    # AND a 6th render is a 402 at the API, saying why and what lifts it
    refused = call(client, "POST", f"/campaigns/{cid}/batches", me, {})
    assert refused.status_code == 402, refused.body
    error = _json(refused)["error"]
    assert (error["code"], error["quota"], error["limit"], error["used"], error["unlock"]) == (
        "quota_exceeded",
        "videos",
        5,
        5,
        "basic",
    )
    one = call(client, "POST", f"/campaigns/{cid}/prospects/{p2}/render", me, {})
    assert one.status_code == 402
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["active_batch_id"] is None

    # A re-render of an unchanged prospect costs nothing, even with the ledger full
    forced = call(client, "POST", f"/campaigns/{cid}/prospects/{p2}/render", me, {"force": True})
    assert forced.status_code == 202, forced.body
    assert _prepare(me, cid, _json(forced)["batch_id"]).total == 1
    _finish(me, cid, p2, VideoStatus.COMPLETED)
    assert _usage(client, me)["videos"] == {"used": 5, "reserved": 0, "limit": 5, "left": 0}


@pytest.mark.usefixtures("sfn_fixture")
def test_a_failed_or_cancelled_render_releases_its_reservation(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.TRIAL)
    cid, (p0, p1, p2, _p3) = _ready_campaign(client, me, prospects=4)
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {"prospect_ids": [p0, p1, p2]}))[
        "batch_id"
    ]
    _prepare(me, cid, bid)
    assert _usage(client, me)["videos"]["reserved"] == 3
    _finish(me, cid, p0, VideoStatus.FAILED)
    assert _usage(client, me)["videos"] == {"used": 0, "reserved": 2, "limit": 5, "left": 3}
    assert call(client, "POST", f"/campaigns/{cid}/batches/{bid}/cancel", me).status_code == 200
    assert _usage(client, me)["videos"] == {"used": 0, "reserved": 0, "limit": 5, "left": 5}
    # the failed one renders again, and costs one again
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {"prospect_ids": [p0]}))["batch_id"]
    _prepare(me, cid, bid)
    _finish(me, cid, p0, VideoStatus.COMPLETED)
    assert _usage(client, me)["videos"] == {"used": 1, "reserved": 0, "limit": 5, "left": 4}


@pytest.mark.usefixtures("sfn_fixture")
def test_a_new_period_starts_at_zero(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.BASIC)
    cid, (p0, _p1) = _ready_campaign(client, me)
    bid = _json(call(client, "POST", f"/campaigns/{cid}/batches", me, {"prospect_ids": [p0]}))["batch_id"]
    _prepare(me, cid, bid)
    _finish(me, cid, p0, VideoStatus.COMPLETED)
    assert _usage(client, me)["videos"]["used"] == 1
    # WHEN Stripe renews the subscription (a new billing period)
    start = utcnow() + timedelta(days=30)
    _set_account(me.account_id, period_start=start, period_end=start + timedelta(days=30))
    # THEN the ledger of the new period is empty, with no reset job
    after = _usage(client, me)
    assert after["videos"] == {"used": 0, "reserved": 0, "limit": 50, "left": 50}
    assert after["period_start"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))


# --------------------------------------------------------------------------- campaigns per plan


def test_20_concurrent_campaign_creations_on_a_trial_make_exactly_1(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.domain.campaigns import create_campaign

    dynamotx.install()
    me = new_tenant(plan=Plan.TRIAL)
    account = dependencies.get_account_repo().get(me.account_id)
    outcomes = _race(
        20,
        lambda i: create_campaign(
            dependencies.get_campaign_repo(), me.account_id, f"c{i}", quota=usage.campaign_quota(account)
        ),
    )
    assert sum(isinstance(o, QuotaExceededError) for o in outcomes) == 19, outcomes
    assert len(_json(call(client, "GET", "/campaigns", me))["items"]) == 1
    refused = call(client, "POST", "/campaigns", me, {"name": "second"})
    assert refused.status_code == 402
    error = _json(refused)["error"]
    assert (error["quota"], error["limit"], error["used"], error["unlock"]) == ("campaigns", 1, 1, "basic")


def test_a_downgrade_below_usage_keeps_the_data_and_blocks_only_new_creation(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.PRO)
    made = [_json(call(client, "POST", "/campaigns", me, {"name": f"c{i}"}))["campaign_id"] for i in range(7)]
    _set_account(me.account_id, plan=Plan.BASIC)  # 7 campaigns onto Basic's 5
    listed = _json(call(client, "GET", "/campaigns", me))["items"]
    assert {c["campaign_id"] for c in listed} == set(made)
    assert call(client, "PATCH", f"/campaigns/{made[0]}", me, {"name": "renamed"}).status_code == 200
    refused = call(client, "POST", "/campaigns", me, {"name": "eighth"})
    assert refused.status_code == 402 and _json(refused)["error"]["unlock"] == "pro"
    assert _usage(client, me)["campaigns"] == {"used": 7, "limit": 5}
    for cid in made[:3]:
        assert call(client, "DELETE", f"/campaigns/{cid}", me).status_code == 204
    assert call(client, "POST", "/campaigns", me, {"name": "under the limit again"}).status_code == 201


# --------------------------------------------------------------------------- rate limits per plan


def _fill(account_id: str, bucket: str, used: int) -> None:
    """The hour's counter of ``bucket`` set to ``used`` (the same item the API moves)."""
    from chalicelib.adapters.dynamodb.models import RateCounterItem

    start, _ = usage.rate_window()
    dependencies.get_rate_limiter().hit(usage.rate_key(account_id, start, bucket), 3660)
    item = RateCounterItem.get(f"RATE#{usage.rate_key(account_id, start, bucket)}", "COUNT")
    item.update(actions=[RateCounterItem.hits.set(used)])


@pytest.mark.parametrize("plan", [Plan.TRIAL, Plan.BASIC])
def test_the_change_past_the_plans_hourly_limit_is_429_with_the_headers(
    client, new_tenant, plan, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=plan)
    limit = PLANS[plan].api_requests_per_hour
    _, end = usage.rate_window()
    # GIVEN the hour's changes all but used
    _fill(me.account_id, usage.API_BUCKET, limit - 1)
    # WHEN the N-th change comes: answered, with the headers
    body = {"full_name": "Ada"}
    last = call(client, "PATCH", "/me/profile", me, body)
    assert last.status_code == 200, last.body
    assert last.headers["X-RateLimit-Limit"] == str(limit)
    assert last.headers["X-RateLimit-Remaining"] == "0"
    assert last.headers["X-RateLimit-Reset"] == str(end)
    # THEN the N+1-th is 429 with Retry-After and the same headers, on any authenticated route
    over = call(client, "POST", "/campaigns", me, {"name": "one more"})
    assert over.status_code == 429, over.body
    assert _json(over)["error"]["code"] == "rate_limited"
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    assert over.headers["X-RateLimit-Limit"] == str(limit) and over.headers["X-RateLimit-Remaining"] == "0"
    # a signed-in session's reads have their own budget (ten times the plan's): still answered
    read = call(client, "GET", "/me", me)
    assert read.status_code == 200 and read.headers["X-RateLimit-Limit"] == str(limit * 10)
    # another account's budget is its own
    other = new_tenant("other@example.com", plan=plan)
    assert call(client, "PATCH", "/me/profile", other, body).status_code == 200


def test_a_sessions_reads_past_ten_times_the_plans_limit_are_429(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.TRIAL)
    reads = PLANS[Plan.TRIAL].api_requests_per_hour * usage.SESSION_READS_MULTIPLIER
    _fill(me.account_id, usage.READS_BUCKET, reads)
    over = call(client, "GET", "/campaigns", me)
    assert over.status_code == 429 and "reads" in _json(over)["error"]["message"]
    assert over.headers["X-RateLimit-Limit"] == str(reads)
    # changes are still within their own budget
    assert call(client, "PATCH", "/me/profile", me, {"full_name": "Ada"}).status_code == 200


def test_every_authenticated_answer_carries_the_rate_headers_and_the_watch_side_none(
    client, new_tenant
) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.PRO)
    first = call(client, "GET", "/campaigns", me)
    missing = call(client, "GET", "/campaigns/camp_nope", me)
    assert missing.status_code == 404
    # a session's reads: ten times Pro's 10,000 changes an hour
    assert (
        first.headers["X-RateLimit-Limit"] == "100000" and first.headers["X-RateLimit-Remaining"] == "99999"
    )
    assert missing.headers["X-RateLimit-Remaining"] == "99998"
    change = call(client, "PATCH", "/me/profile", me, {"full_name": "Ada"})
    assert (
        change.headers["X-RateLimit-Limit"] == "10000" and change.headers["X-RateLimit-Remaining"] == "9999"
    )
    public = call(client, "GET", "/health")
    assert "X-RateLimit-Limit" not in public.headers
    assert _usage(client, me)["requests"]["used"] == 3


# --------------------------------------------------------------------------- API keys


def _key(client: Any, tenant: Tenant, name: str = "CRM sync") -> Any:
    return call(client, "POST", "/api-keys", tenant, {"name": name})


def _as_key(tenant: Tenant, key: str) -> Tenant:
    return Tenant(tenant.account_id, key)


def test_api_keys_work_only_on_agency_and_only_for_their_account(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    other = new_tenant("other@example.com")
    made = _key(client, me)
    assert made.status_code == 201, made.body
    created = _json(made)
    key = created["key"]
    assert key.startswith("tc_live_") and created["prefix"] == key[: len(created["prefix"])]
    assert created["last_used_at"] is None
    cid = _json(call(client, "POST", "/campaigns", me, {"name": "mine"}))["campaign_id"]
    theirs = _json(call(client, "POST", "/campaigns", other, {"name": "theirs"}))["campaign_id"]

    # the key acts as its creator, in its account only
    with_key = _as_key(me, key)
    assert [c["campaign_id"] for c in _json(call(client, "GET", "/campaigns", with_key))["items"]] == [cid]
    assert call(client, "GET", f"/campaigns/{theirs}", with_key).status_code == 404
    assert call(client, "POST", "/campaigns", with_key, {"name": "by key"}).status_code == 201
    assert _json(call(client, "GET", "/me", with_key))["account"]["account_id"] == me.account_id
    # listed without the key itself, with its last use
    (listed,) = _json(call(client, "GET", "/api-keys", me))["items"]
    assert "key" not in listed and listed["last_used_at"] is not None
    assert _json(call(client, "GET", "/api-keys", other))["items"] == []
    # stored hashed: the table never holds the key
    import boto3

    from tests.conftest import TEST_ENV

    dump = json.dumps(boto3.client("dynamodb").scan(TableName=TEST_ENV["TAILORCAST_TABLE_NAME"])["Items"])
    assert key not in dump

    # a wrong key, another tenant revoking it: refused
    assert call(client, "GET", "/campaigns", _as_key(me, key[:-1] + "x")).status_code == 401
    assert call(client, "DELETE", f"/api-keys/{created['key_id']}", other).status_code == 404

    # a downgrade: the key stops working with a 402 that names Agency; creating one is a 402 too
    _set_account(me.account_id, plan=Plan.PRO)
    stopped = call(client, "GET", "/campaigns", with_key)
    assert stopped.status_code == 402
    assert (_json(stopped)["error"]["code"], _json(stopped)["error"]["unlock"]) == (
        "plan_feature_missing",
        "agency",
    )
    refused = _key(client, me, "another")
    assert refused.status_code == 402 and _json(refused)["error"]["unlock"] == "agency"
    # back on Agency it works again; revoked, it never does
    _set_account(me.account_id, plan=Plan.AGENCY)
    assert call(client, "GET", "/campaigns", with_key).status_code == 200
    assert call(client, "DELETE", f"/api-keys/{created['key_id']}", me).status_code == 204
    assert call(client, "GET", "/campaigns", with_key).status_code == 401
    assert _json(call(client, "GET", "/api-keys", me))["items"] == []


@pytest.mark.parametrize("plan", [Plan.TRIAL, Plan.BASIC, Plan.PRO])
def test_api_keys_cannot_be_created_below_agency(client, new_tenant, plan) -> None:  # type: ignore[no-untyped-def]
    answer = _key(client, new_tenant(plan=plan))
    assert answer.status_code == 402
    assert _json(answer)["error"]["quota"] == "api_keys"


def test_an_api_key_body_is_validated(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    answer = call(client, "POST", "/api-keys", new_tenant(), {"name": ""})
    assert answer.status_code == 422 and _json(answer)["error"]["fields"][0]["field"] == "body.name"


# --------------------------------------------------------------------------- usage and standing


def test_the_usage_api_shows_plan_period_and_limits(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant(plan=Plan.TRIAL)
    call(client, "POST", "/campaigns", me, {"name": "one"})
    body = _usage(client, me)
    assert body["plan"]["plan"] == "trial" and body["plan"]["videos_per_period"] == 5
    assert body["status"] == "active" and body["can_create"] is True
    assert body["trial_days_left"] == 7
    assert body["campaigns"] == {"used": 1, "limit": 1}
    assert body["seats"] == {"used": 1, "limit": 1}
    # this GET counted among the session's reads (ten times the trial's 100 changes an hour)
    assert body["requests"] == {**body["requests"], "bucket": "reads", "limit": 1000, "used": 1, "left": 999}
    assert call(client, "GET", "/me/usage").status_code == 401


@pytest.mark.parametrize(
    "lapse",
    [
        {"status": AccountStatus.UNPAID},
        {"status": AccountStatus.CANCELLED},
        {"trial_ends_at": utcnow() - timedelta(days=1), "plan": Plan.TRIAL},
        {"status": AccountStatus.PAST_DUE, "past_due_since": utcnow() - timedelta(days=8)},
    ],
    ids=["unpaid", "cancelled", "trial-ended", "past-due-beyond-grace"],
)
def test_a_lapsed_account_gets_402_but_its_watch_links_keep_playing(
    request: pytest.FixtureRequest, lapse
) -> None:
    world: World = request.getfixturevalue("world_fixture")  # type: ignore[no-untyped-def]
    me = world.alice
    _set_account(me.account_id, **lapse)
    refused = call(world.client, "POST", "/campaigns", me, {"name": "new"})
    assert refused.status_code == 402 and _json(refused)["error"]["unlock"] == "subscribe"
    assert "subscribe" in _json(refused)["error"]["message"] or "card" in _json(refused)["error"]["message"]
    assert _usage(world.client, me)["can_create"] is False
    # the prospect's sent link still plays: the public watch side never looks at the standing
    page = world.open_page()
    assert page.status_code == 200 and "X-RateLimit-Limit" not in page.headers


def test_past_due_within_the_grace_still_creates(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    _set_account(me.account_id, status=AccountStatus.PAST_DUE, past_due_since=utcnow() - timedelta(days=2))
    assert call(client, "POST", "/campaigns", me, {"name": "still"}).status_code == 201
