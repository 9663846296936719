"""Issue 18: profile, notifications, branding on watch pages, account export and deletion,
through the Chalice test client on moto (DynamoDB, S3, SES, Cognito, Secrets Manager)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from PIL import Image

from chalicelib.domain.models import Plan
from tests.conftest import TEST_ENV
from tests.fakes import FakeAnalytics, FakeSubscriptionCanceller, FakeTaskStarter
from tests.functional.conftest import Tenant, call, get_json
from tests.functional.test_watch_api import (
    BASE,
    CHROME,
    FRONT_DOOR,
    ORIGIN_SECRET,
    StreamReader,
    _prospect_with_video,
    _ready_campaign,
)

pytestmark = pytest.mark.functional

FROM = "no-reply@tailorcast.test"


def png(width: int = 300, height: int = 100, color: tuple[int, int, int, int] = (20, 40, 200, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def put_image(client: Client, tenant: Tenant, path: str, data: bytes, content_type: str = "image/png") -> Any:
    headers = {**tenant.headers, "Content-Type": content_type}
    return client.http.request("PUT", path, headers=headers, body=data)


def set_plan(account_id: str, plan: Plan, **fields: Any) -> None:
    """What the billing webhooks do to the account item (plan, subscription)."""
    from chalicelib.adapters.dynamodb.models import AccountItem

    item = AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    actions: list[Any] = [AccountItem.plan.set(plan.value)]
    actions += [getattr(AccountItem, k).set(v) for k, v in fields.items()]
    item.update(actions=actions)


def error(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body)["error"])


@pytest.fixture
def stage(aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeTaskStarter]:
    """Watch pages servable (cookie key, front door, event stream), SES with a verified sender,
    and the async task starter recorded (tests run the tasks themselves)."""
    from chalicelib import dependencies
    from chalicelib.settings import get_settings
    from devstack.cdnkeys import CdnKeys

    for name, value in {
        "TAILORCAST_WATCH_BASE_URL": BASE,
        "TAILORCAST_MEDIA_BASE_URL": BASE,
        "TAILORCAST_EVENTS_STREAM_NAME": StreamReader.STREAM,
        "TAILORCAST_ORIGIN_VERIFY_SECRET": ORIGIN_SECRET,
        "TAILORCAST_NOTIFICATIONS_FROM_ADDRESS": f"Tailorcast <{FROM}>",
    }.items():
        monkeypatch.setenv(name, value)
    dependencies.reset()
    CdnKeys(tmp_path / "cdn").ensure_secret(boto3.client("secretsmanager"), get_settings().watch_secret_name)
    StreamReader.create()
    boto3.client("ses").verify_email_identity(EmailAddress=FROM)
    starter = FakeTaskStarter()
    monkeypatch.setattr(dependencies, "get_task_starter", lambda: starter)
    monkeypatch.setattr(dependencies, "get_analytics", lambda: FakeAnalytics())
    yield starter
    dependencies.reset()


# --------------------------------------------------------------------------- profile


def test_profile_reads_defaults_changes_and_names_bad_fields(
    client: Client, new_tenant: Any, stage: Any
) -> None:
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    assert get_json(client, alice, "/me/profile")["full_name"] is None
    changed = call(
        client, "PATCH", "/me/profile", alice, {"full_name": "Alice A", "phone": "+1 (415) 555-0123"}
    )
    assert changed.status_code == 200, changed.body
    assert json.loads(changed.body)["phone"] == "+14155550123"

    bad = call(client, "PATCH", "/me/profile", alice, {"phone": "555 0123", "nickname": "al"})
    assert bad.status_code == 422
    assert {f["field"] for f in error(bad)["fields"]} == {"body.nickname"}
    bad = call(client, "PATCH", "/me/profile", alice, {"phone": "555 0123"})
    assert [f["field"] for f in error(bad)["fields"]] == ["body.phone"]
    assert "country code" in error(bad)["fields"][0]["message"]

    # Tenant isolation: the ids come from the token; Bob sees only his own (empty) profile.
    assert get_json(client, bob, "/me/profile")["full_name"] is None
    assert get_json(client, alice, "/me/profile")["phone"] == "+14155550123"
    assert call(client, "GET", "/me/profile").status_code == 401


def test_avatar_is_decoded_scaled_and_stored_under_the_account(
    client: Client, new_tenant: Any, stage: Any
) -> None:
    alice = new_tenant("alice@a.io")
    response = put_image(client, alice, "/me/profile/avatar", png(2000, 1000))
    assert response.status_code == 200, response.body
    url = json.loads(response.body)["avatar_url"]
    key = url.removeprefix(BASE + "/")
    assert key.startswith(f"{alice.account_id}/profiles/") and key.endswith(".webp")
    stored = boto3.client("s3").get_object(Bucket=TEST_ENV["TAILORCAST_MEDIA_BUCKET"], Key=key)
    image = Image.open(io.BytesIO(stored["Body"].read()))
    assert (image.format, image.size) == ("WEBP", (512, 256))

    fake = put_image(client, alice, "/me/profile/avatar", b"<svg onload=alert(1)>")
    assert fake.status_code == 422 and error(fake)["fields"][0]["field"] == "avatar"
    truncated = put_image(client, alice, "/me/profile/avatar", png(400, 400)[:200])
    assert truncated.status_code == 422 and "damaged" in error(truncated)["fields"][0]["message"]
    tiny = put_image(client, alice, "/me/profile/avatar", png(8, 8))
    assert tiny.status_code == 422 and "at least 16 px" in error(tiny)["fields"][0]["message"]
    huge = put_image(client, alice, "/me/profile/avatar", b"\x89PNG" + b"0" * (5 * 1024 * 1024))
    assert huge.status_code == 413
    assert get_json(client, alice, "/me/profile")["avatar_url"] == url  # the good one stays

    assert call(client, "DELETE", "/me/profile/avatar", alice).status_code == 204
    assert get_json(client, alice, "/me/profile")["avatar_url"] is None


def test_notification_preferences_default_on_and_change_per_user(
    client: Client, new_tenant: Any, stage: Any
) -> None:
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    assert get_json(client, alice, "/me/notifications") == {
        "batch_rendered": True,
        "trial_ending": True,
        "payment_failed": True,
        "weekly_digest": True,
    }
    changed = call(client, "PATCH", "/me/notifications", alice, {"weekly_digest": False})
    assert changed.status_code == 200 and json.loads(changed.body)["weekly_digest"] is False
    bad = call(client, "PATCH", "/me/notifications", alice, {"weekly_digest": "sometimes"})
    assert bad.status_code == 422 and error(bad)["fields"][0]["field"] == "body.weekly_digest"
    assert get_json(client, bob, "/me/notifications")["weekly_digest"] is True


def test_batch_rendered_email_lands_in_ses(client: Client, new_tenant: Any, stage: Any) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib import dependencies
    from chalicelib.domain import notifications
    from chalicelib.domain.models import RenderBatch, RenderBatchStatus

    alice = new_tenant("alice@a.io")
    batch = RenderBatch(
        account_id=alice.account_id,
        campaign_id="camp_1",
        batch_id="bat_1",
        status=RenderBatchStatus.COMPLETED,
    )
    assert notifications.notify_batch_rendered(dependencies.notification_ports(), batch, "Q4 <b>") == 1
    assert notifications.notify_batch_rendered(dependencies.notification_ports(), batch, "Q4 <b>") == 0
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert [(m.destinations["ToAddresses"], m.subject) for m in sent] == [
        (["alice@a.io"], "Your videos for Q4 <b> are ready")
    ]
    assert "Q4 &lt;b&gt;" in sent[0].body


# --------------------------------------------------------------------------- branding


@pytest.mark.parametrize("plan", [Plan.TRIAL, Plan.BASIC])
def test_branding_below_pro_is_refused_naming_pro(
    client: Client, new_tenant: Any, stage: Any, plan: Plan
) -> None:
    alice = new_tenant("alice@a.io")
    set_plan(alice.account_id, plan)
    for response in (
        call(client, "PUT", "/account/branding", alice, {"accent_color": "#1a73e8"}),
        put_image(client, alice, "/account/branding/logo", png()),
    ):
        assert response.status_code == 403, response.body
        assert error(response)["code"] == "plan_upgrade_required"
        assert "upgrade to Pro" in error(response)["message"]
    shown = get_json(client, alice, "/account/branding")
    assert shown["entitled"] is False and shown["unlocked_by"] == "pro" and shown["show_badge"] is True


def test_branding_on_pro_validates_and_stays_in_its_account(
    client: Client, new_tenant: Any, stage: Any
) -> None:
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    set_plan(alice.account_id, Plan.PRO)
    light = call(client, "PUT", "/account/branding", alice, {"accent_color": "#ffee00"})
    assert light.status_code == 422 and error(light)["fields"][0]["field"] == "body.accent_color"
    assert "contrast" in error(light)["fields"][0]["message"]
    ok = call(client, "PUT", "/account/branding", alice, {"accent_color": "#1A73E8", "show_badge": False})
    assert ok.status_code == 200, ok.body
    logo = put_image(client, alice, "/account/branding/logo", png(3000, 600))
    assert logo.status_code == 200, logo.body
    shown = json.loads(logo.body)
    assert shown["accent_color"] == "#1a73e8" and shown["show_badge"] is False and shown["entitled"] is True
    assert shown["logo_url"].startswith(f"{BASE}/{alice.account_id}/branding/logo-")
    assert get_json(client, bob, "/account/branding")["logo_url"] is None  # tenant isolation

    assert call(client, "DELETE", "/account/branding", alice).status_code == 204
    cleared = get_json(client, alice, "/account/branding")
    assert (cleared["logo_url"], cleared["accent_color"], cleared["show_badge"]) == (None, None, True)
    keys = boto3.client("s3").list_objects_v2(
        Bucket=TEST_ENV["TAILORCAST_MEDIA_BUCKET"], Prefix=f"{alice.account_id}/branding/"
    )
    assert keys.get("KeyCount") == 0


def _watch_page(client: Client, tenant: Tenant) -> tuple[str, Any]:
    """A campaign with one rendered prospect; its watch page as a browser gets it."""
    campaign = json.loads(call(client, "POST", "/campaigns", tenant, {"name": "Q4"}).body)
    _ready_campaign(tenant.account_id, campaign["campaign_id"])
    prospect = _prospect_with_video(tenant.account_id, campaign["campaign_id"], "Ada", "ada@example.com")
    path = f"/w/{prospect.watch_token}"
    return path, client.http.request("GET", path, headers={"User-Agent": CHROME, **FRONT_DOOR})


def test_branding_visible_only_on_pro_and_agency_pages(client: Client, new_tenant: Any, stage: Any) -> None:
    """GIVEN the same stored branding on an account of each plan (set while on Pro, kept after a
    downgrade) WHEN a prospect opens a watch page THEN only Pro and Agency pages show the logo and
    the accent colour without the badge; Trial and Basic show the default look with the badge."""
    from chalicelib import dependencies
    from chalicelib.domain.models import Branding
    from chalicelib.web import style_hash

    stored = Branding(logo_key="LOGO", accent_color="#1a73e8", show_badge=False)
    pages: dict[Plan, tuple[str, str]] = {}
    for plan in Plan:
        tenant = new_tenant(f"{plan.value}@x.io")
        set_plan(tenant.account_id, plan)
        logo_key = f"{tenant.account_id}/branding/logo-abc.png"
        dependencies.get_branding_store().set_branding(
            tenant.account_id, stored.model_copy(update={"logo_key": logo_key})
        )
        path, response = _watch_page(client, tenant)
        assert response.status_code == 200, response.body
        pages[plan] = (response.body.decode(), response.headers["Content-Security-Policy"])
        html, csp = pages[plan]
        if plan in (Plan.PRO, Plan.AGENCY):
            assert f'<img class="tc-logo" id="tc-logo" src="{BASE}/{logo_key}"' in html
            css = ":root{--brand:#1a73e8;--brand-dark:#155cba}"
            assert f'<style id="tc-brand">{css}</style>' in html
            assert f"style-src 'self' {style_hash(css)};" in csp  # the inline style is allowed, nothing else
            assert 'id="tc-badge"' not in html
        else:
            assert "tc-logo" not in html and "<style" not in html
            assert "style-src 'self';" in csp
            assert '<p class="tc-badge" id="tc-badge">Made with Tailorcast</p>' in html

    # A Pro account downgraded to Basic: the same page falls back to the default look at once.
    pro_tenant = new_tenant("downgrade@x.io")
    set_plan(pro_tenant.account_id, Plan.PRO)
    dependencies.get_branding_store().set_branding(pro_tenant.account_id, stored)
    path, before = _watch_page(client, pro_tenant)
    assert 'id="tc-badge"' not in before.body.decode()
    set_plan(pro_tenant.account_id, Plan.BASIC)
    after = client.http.request("GET", path, headers={"User-Agent": CHROME, **FRONT_DOOR}).body.decode()
    assert 'id="tc-badge"' in after and "<style" not in after


# --------------------------------------------------------------------------- export


def test_export_zips_the_account_and_links_it_with_an_expiry(
    client: Client, new_tenant: Any, stage: FakeTaskStarter, sealing_key: str
) -> None:
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    _watch_page(client, alice)
    _watch_page(client, bob)
    hook = call(
        client,
        "POST",
        "/webhooks",
        alice,
        {"url": "https://hooks.example.com/tc", "events": ["video.completed"]},
    )
    assert hook.status_code == 201, hook.body
    secret = json.loads(hook.body)["secret"]
    call(client, "PATCH", "/me/profile", alice, {"full_name": "Alice A"})

    started = call(client, "POST", "/account/export", alice)
    assert started.status_code == 202, started.body
    export_id = json.loads(started.body)["export_id"]
    assert stage.started == [("export_account", {"account_id": alice.account_id, "export_id": export_id})]
    assert get_json(client, alice, f"/account/exports/{export_id}")["download_url"] is None
    # Tenant isolation: Bob cannot see Alice's export.
    assert call(client, "GET", f"/account/exports/{export_id}", bob).status_code == 404

    outcome = client.lambda_.invoke("export_account", stage.started[0][1]).payload
    assert outcome == {"status": "completed"}
    shown = get_json(client, alice, f"/account/exports/{export_id}")
    assert shown["status"] == "completed" and shown["download_expires_in"] == 3600
    assert f"account-exports/{alice.account_id}/{export_id}/tailorcast-export.zip" in shown["download_url"]

    key = f"account-exports/{alice.account_id}/{export_id}/tailorcast-export.zip"
    body = boto3.client("s3").get_object(Bucket=TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], Key=key)["Body"].read()
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert set(archive.namelist()) == {
        "README.txt",
        "account.json",
        "users.json",
        "campaigns.json",
        "prospects.json",
        "prospects.csv",
        "videos.json",
        "imports.json",
        "webhook_endpoints.json",
        "analytics.json",
    }
    assert json.loads(archive.read("account.json"))["account_id"] == alice.account_id
    assert json.loads(archive.read("users.json"))[0]["profile"]["full_name"] == "Alice A"
    assert [c["name"] for c in json.loads(archive.read("campaigns.json"))] == ["Q4"]
    csv_text = archive.read("prospects.csv").decode("utf-8-sig")
    assert "ada@example.com" in csv_text and len(csv_text.strip().splitlines()) == 2
    endpoints = json.loads(archive.read("webhook_endpoints.json"))
    assert endpoints[0]["url"] == "https://hooks.example.com/tc" and "secret" not in endpoints[0]
    assert secret not in body.decode("latin-1")
    assert bob.account_id not in b"".join(archive.read(n) for n in archive.namelist()).decode()
    assert json.loads(archive.read("analytics.json"))["account_id"] == alice.account_id


# --------------------------------------------------------------------------- deletion


def _snapshot(account_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item and object that names the account."""
    ddb = boto3.client("dynamodb")
    items = [
        i
        for page in ddb.get_paginator("scan").paginate(TableName=TEST_ENV["TAILORCAST_TABLE_NAME"])
        for i in page["Items"]
        if account_id in json.dumps(i)
    ]
    s3 = boto3.client("s3")
    keys = [
        f"{bucket}/{o['Key']}"
        for bucket in (TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], TEST_ENV["TAILORCAST_MEDIA_BUCKET"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if account_id in o["Key"]
    ]
    return sorted(items, key=json.dumps), sorted(keys)


def _without_rate_counters(
    snapshot: tuple[list[dict[str, Any]], list[str]],
) -> tuple[list[dict[str, Any]], list[str]]:
    items, keys = snapshot
    return [i for i in items if not i["pk"]["S"].startswith("RATE#")], keys


def _seed(client: Client, tenant: Tenant) -> str:
    """A campaign with a rendered prospect, an upload, media, a logo, a profile; its watch path."""
    set_plan(tenant.account_id, Plan.PRO)
    path, page = _watch_page(client, tenant)
    assert page.status_code == 200
    cid = json.loads(call(client, "GET", "/campaigns", tenant).body)["items"][0]["campaign_id"]
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=TEST_ENV["TAILORCAST_UPLOADS_BUCKET"],
        Key=f"uploads/{tenant.account_id}/{cid}/base_video/u/a.mp4",
        Body=b"v",
    )
    s3.put_object(
        Bucket=TEST_ENV["TAILORCAST_MEDIA_BUCKET"],
        Key=f"{tenant.account_id}/{cid}/base/upl_1/main.m3u8",
        Body=b"m",
    )
    assert put_image(client, tenant, "/account/branding/logo", png()).status_code == 200
    assert call(client, "PATCH", "/me/profile", tenant, {"company": "Acme"}).status_code == 200
    return path


def test_deletion_removes_everything_of_the_account_and_nothing_of_another(
    client: Client, new_tenant: Any, stage: FakeTaskStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import dependencies

    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="tc", UsernameAttributes=["email"])["UserPool"]["Id"]
    for email in ("alice@a.io", "bob@b.io"):
        cognito.admin_create_user(
            UserPoolId=pool, Username=email, UserAttributes=[{"Name": "email", "Value": email}]
        )
    monkeypatch.setenv("TAILORCAST_COGNITO_USER_POOL_ID", pool)
    dependencies.reset()
    monkeypatch.setattr(dependencies, "get_task_starter", lambda: stage)
    canceller = FakeSubscriptionCanceller()
    monkeypatch.setattr(dependencies, "get_subscription_canceller", lambda: canceller)

    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    alice_path, bob_path = _seed(client, alice), _seed(client, bob)
    set_plan(alice.account_id, Plan.PRO, stripe_subscription_id="sub_alice")
    bob_before = _snapshot(bob.account_id)
    assert _snapshot(alice.account_id)[1], "the test must start with Alice's objects in place"

    wrong = call(client, "POST", "/account/deletion", alice, {"confirm": "acme"})
    assert wrong.status_code == 422 and error(wrong)["fields"][0]["field"] == "body.confirm"
    missing = call(client, "POST", "/account/deletion", alice, {})
    assert missing.status_code == 422 and error(missing)["fields"][0]["field"] == "body.confirm"
    assert call(client, "GET", "/account/deletion", alice).status_code == 404
    assert stage.started == []

    accepted = call(client, "POST", "/account/deletion", alice, {"confirm": "Acme"})
    assert accepted.status_code == 202, accepted.body
    assert get_json(client, alice, "/account/deletion")["status"] == "pending"
    assert call(client, "GET", "/account/deletion", bob).status_code == 404  # tenant isolation
    assert stage.started == [("delete_account", {"account_id": alice.account_id})]

    assert client.lambda_.invoke("delete_account", {"account_id": alice.account_id}).payload == {
        "status": "deleted"
    }
    assert client.lambda_.invoke("delete_account", {"account_id": alice.account_id}).payload == {
        "status": "nothing"
    }

    assert _snapshot(alice.account_id) == ([], [])
    # Bob's own requests meanwhile moved his hourly rate counter; nothing else of his changed.
    assert _without_rate_counters(_snapshot(bob.account_id)) == _without_rate_counters(bob_before)
    assert canceller.cancelled == ["sub_alice"]
    users = {u["Username"] for u in cognito.list_users(UserPoolId=pool)["Users"]}
    emails = {
        a["Value"]
        for u in cognito.list_users(UserPoolId=pool)["Users"]
        for a in u["Attributes"]
        if a["Name"] == "email"
    }
    assert emails == {"bob@b.io"} and len(users) == 1
    # Alice's sent links stop and her token no longer signs in; Bob's go on.
    front = {"User-Agent": CHROME, **FRONT_DOOR}
    assert client.http.request("GET", alice_path, headers=front).status_code == 404
    assert client.http.request("GET", bob_path, headers=front).status_code == 200
    assert call(client, "GET", "/me/profile", alice).status_code == 401
    assert call(client, "GET", "/me/profile", bob).status_code == 200


def test_only_an_owner_can_delete_the_account(
    client: Client, new_tenant: Any, stage: FakeTaskStarter, issuer: Any
) -> None:
    from chalicelib.adapters.dynamodb.models import SubjectClaimItem, UserItem
    from chalicelib.domain.models import utcnow

    alice = new_tenant("alice@a.io")
    subject = str(uuid.uuid4())
    UserItem(
        f"ACCOUNT#{alice.account_id}",
        "USER#user_member",
        subject=subject,
        email="m@a.io",
        role="member",
        created_at=utcnow(),
    ).save()
    SubjectClaimItem(
        f"SUBJECT#{subject}", "SUBJECT", account_id=alice.account_id, user_id="user_member"
    ).save()
    member = Tenant(alice.account_id, issuer.issue(subject))
    refused = call(client, "POST", "/account/deletion", member, {"confirm": "Acme"})
    assert refused.status_code == 403 and "owner" in error(refused)["message"]
    assert stage.started == []


def test_weekly_digest_emails_opted_in_owners_from_the_analytics_path(
    client: Client, new_tenant: Any, stage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib import dependencies
    from chalicelib.domain.analytics import AccountEngagement, Usage

    class Busy:
        def account(self, account_id: str, since: Any, until: Any) -> AccountEngagement:
            return AccountEngagement(
                account_id=account_id,
                since=since,
                until=until,
                by_month=[],
                by_campaign=[],
                totals=Usage(sent=5, opened=3, plays=4, cta_clicks=1),
            )

    monkeypatch.setattr(dependencies, "get_analytics", lambda: Busy())
    new_tenant("alice@a.io")
    bob = new_tenant("bob@b.io")
    assert call(client, "PATCH", "/me/notifications", bob, {"weekly_digest": False}).status_code == 200
    tick = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region="us-east-1"
    )
    outcome = client.lambda_.invoke("weekly_digest", tick).payload
    assert outcome == {"accounts": 2, "emails": 1, "failed": 0}
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert [(m.destinations["ToAddresses"], m.subject) for m in sent] == [
        (["alice@a.io"], "Your week on Tailorcast: 3 views, 4 plays, 1 CTA clicks")
    ]
    assert client.lambda_.invoke("weekly_digest", tick).payload["emails"] == 0  # a rerun sends nothing twice
