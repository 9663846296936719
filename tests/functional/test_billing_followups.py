"""What a Stripe webhook sets off besides the account's billing fields (issue 18): the payment
failed email through SES, the ``lapsed`` retention tag on the account's media, and the Stripe
subscription cancelled by account deletion. Chalice test client, moto, and stripe-python against
the Stripe stand-in (devstack/stripe), as in tests/functional/test_billing_api.py."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import stripe
from chalice.test import Client

from devstack.stripe import StripeStandIn
from tests.conftest import TEST_ENV
from tests.fakes import FakeTaskStarter
from tests.functional.conftest import Tenant, call
from tests.functional.test_billing_api import (  # noqa: F401 - fixtures
    billing_env,
    deliver_all,
    stripe_standin,
    subscribe,
)

pytestmark = pytest.mark.functional

FROM = "no-reply@tailorcast.test"
DAY = 24 * 3600
MEDIA = TEST_ENV["TAILORCAST_MEDIA_BUCKET"]


@pytest.fixture
def env(
    billing_env: StripeStandIn,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[StripeStandIn, FakeTaskStarter]:
    """Billing on the stand-in, SES with a verified sender, the async tasks recorded."""
    from chalicelib import dependencies

    monkeypatch.setenv("TAILORCAST_NOTIFICATIONS_FROM_ADDRESS", f"Tailorcast <{FROM}>")
    dependencies.reset()
    boto3.client("ses").verify_email_identity(EmailAddress=FROM)
    starter = FakeTaskStarter()
    monkeypatch.setattr(dependencies, "get_task_starter", lambda: starter)
    return billing_env, starter


def sent_to(address: str) -> list[str]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    messages = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [m.subject for m in messages if m.destinations["ToAddresses"] == [address]]


def stripe_client(standin: StripeStandIn) -> stripe.StripeClient:
    return stripe.StripeClient(standin.api_key, base_addresses={"api": standin.url})


def account(account_id: str) -> Any:
    from chalicelib import dependencies

    return dependencies.get_account_repo().get(account_id)


# --------------------------------------------------------------------------- payment failed email


def _renewal_fails(client: Client, tenant: Tenant, standin: StripeStandIn) -> None:
    subscribe(client, tenant, standin, "basic", card="4000000000000341")  # pays once, then declines
    standin.advance(31 * DAY)
    assert set(deliver_all(client, standin)) == {200}
    assert account(tenant.account_id).status.value == "past_due"


def test_a_failed_payment_emails_the_owner_once(
    client: Client, new_tenant: Any, env: tuple[StripeStandIn, FakeTaskStarter]
) -> None:
    standin, _ = env
    alice = new_tenant("alice@a.io")
    _renewal_fails(client, alice, standin)
    assert sent_to("alice@a.io") == ["Your Tailorcast payment failed"]
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    (message,) = [
        m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if m.subject.endswith("failed")
    ]
    assert "$29.00" in message.body and "http://console.test/billing" in message.body

    # Stripe delivers every event again (at least once): no second email.
    assert set(deliver_all(client, standin)) == {200}
    assert sent_to("alice@a.io") == ["Your Tailorcast payment failed"]


def test_a_failed_payment_sends_nothing_to_an_owner_who_turned_it_off(
    client: Client, new_tenant: Any, env: tuple[StripeStandIn, FakeTaskStarter]
) -> None:
    standin, _ = env
    bob = new_tenant("bob@b.io")
    off = call(client, "PATCH", "/me/notifications", bob, {"payment_failed": False})
    assert off.status_code == 200, off.body
    _renewal_fails(client, bob, standin)
    assert sent_to("bob@b.io") == []


# --------------------------------------------------------------------------- the lapsed tag


def _put_media(account_id: str, count: int) -> list[str]:
    s3 = boto3.client("s3")
    keys = [f"{account_id}/camp_1/renders/p{i}/seg{i}.m4s" for i in range(count)]
    for key in keys:
        s3.put_object(
            Bucket=MEDIA, Key=key, Body=b"x", ContentType="video/iso.segment", Metadata={"render": "r1"}
        )
    return keys


def _tags(key: str) -> dict[str, str]:
    tags = boto3.client("s3").get_object_tagging(Bucket=MEDIA, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tags}


def _run_tasks(client: Client, starter: FakeTaskStarter) -> list[dict[str, Any]]:
    """Run the retention tasks the webhooks started, and those they start, as Lambda would."""
    results = []
    while starter.started:
        task, payload = starter.started.pop(0)
        assert task == "tag_lapsed_media"
        results.append(client.lambda_.invoke(task, payload).payload)
    return results


def test_a_cancelled_subscription_tags_the_accounts_media_and_resubscribing_untags_it(
    client: Client,
    new_tenant: Any,
    env: tuple[StripeStandIn, FakeTaskStarter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib import dependencies
    from chalicelib.domain import media_retention

    standin, starter = env
    real_ports = dependencies.retention_ports
    # Two keys a run, so five objects take three runs, each starting the next (resumable).
    monkeypatch.setattr(
        dependencies,
        "retention_ports",
        lambda: media_retention.RetentionPorts(**{**vars(real_ports()), "page_size": 2}),
    )
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    alice_keys, bob_keys = _put_media(alice.account_id, 5), _put_media(bob.account_id, 2)
    subscribe(client, alice, standin, "pro")
    subscribe(client, bob, standin, "pro")
    assert starter.started == []  # subscribing from a trial is no return from a lapse

    # GIVEN Alice cancels (the portal ends the subscription at once)
    stripe_client(standin).v1.subscriptions.cancel(str(account(alice.account_id).stripe_subscription_id))
    assert set(deliver_all(client, standin)) == {200}
    assert account(alice.account_id).status.value == "cancelled"
    assert starter.started == [("tag_lapsed_media", {"account_id": alice.account_id})]

    # WHEN the task runs
    runs = _run_tasks(client, starter)

    # THEN every object of hers is tagged, with its bytes, type and metadata; none of Bob's
    assert [r["objects"] for r in runs] == [2, 2, 1] and sum(r["changed"] for r in runs) == 5
    assert all(_tags(k) == {"lapsed": "true"} for k in alice_keys)
    assert all(_tags(k) == {} for k in bob_keys)
    head = boto3.client("s3").head_object(Bucket=MEDIA, Key=alice_keys[0])
    assert (head["ContentType"], head["Metadata"]) == ("video/iso.segment", {"render": "r1"})
    assert boto3.client("s3").get_object(Bucket=MEDIA, Key=alice_keys[0])["Body"].read() == b"x"

    # A retried run changes nothing (idempotent).
    assert client.lambda_.invoke("tag_lapsed_media", {"account_id": alice.account_id}).payload["changed"] == 0
    starter.started.clear()

    # WHEN she subscribes again, THEN the tag is removed
    subscribe(client, alice, standin, "basic")
    assert account(alice.account_id).status.value == "active"
    assert ("tag_lapsed_media", {"account_id": alice.account_id}) in starter.started
    runs = _run_tasks(client, starter)
    assert all(_tags(k) == {} for k in alice_keys)
    assert all(r["lapsed"] is False for r in runs)


# --------------------------------------------------------------------------- deletion cancels at Stripe


def test_deletion_cancels_the_subscription_in_stripe(
    client: Client, new_tenant: Any, env: tuple[StripeStandIn, FakeTaskStarter]
) -> None:
    standin, _ = env
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    subscribe(client, alice, standin, "agency")
    subscribe(client, bob, standin, "agency")
    alice_sub = str(account(alice.account_id).stripe_subscription_id)
    bob_sub = str(account(bob.account_id).stripe_subscription_id)

    accepted = call(client, "POST", "/account/deletion", alice, {"confirm": "Acme"})
    assert accepted.status_code == 202, accepted.body
    assert client.lambda_.invoke("delete_account", {"account_id": alice.account_id}).payload == {
        "status": "deleted"
    }

    subs = stripe_client(standin).v1.subscriptions
    assert subs.retrieve(alice_sub).status == "canceled"
    assert subs.retrieve(bob_sub).status == "active"
    # Cancelling one already cancelled is done (a retried deletion does not fail on it).
    from chalicelib import dependencies

    dependencies.get_subscription_canceller().cancel(alice_sub)
    dependencies.get_subscription_canceller().cancel("sub_never_existed")
    assert json.loads(call(client, "GET", "/billing", bob).body)["status"] == "active"


# --------------------------------------------------------------------------- deletion leaves nothing


def _table() -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb")
    pages = ddb.get_paginator("scan").paginate(TableName=TEST_ENV["TAILORCAST_TABLE_NAME"])
    return [i for page in pages for i in page["Items"]]


def _naming(account_id: str) -> list[dict[str, Any]]:
    return sorted((i for i in _table() if account_id in json.dumps(i)), key=json.dumps)


def _everything_of(client: Client, tenant: Tenant, standin: StripeStandIn, invitee: str) -> str:
    """A subscription, an API key, a pending invite, a video ledger, an open checkout hold and
    this hour's rate counter; returns the API key."""
    from datetime import timedelta

    from chalicelib import dependencies
    from chalicelib.domain.billing import CheckoutHold
    from chalicelib.domain.models import Plan, utcnow

    subscribe(client, tenant, standin, "agency")
    made = call(client, "POST", "/api-keys", tenant, {"name": "ci"})
    assert made.status_code == 201, made.body
    invited = call(client, "POST", "/team/invites", tenant, {"email": invitee})
    assert invited.status_code == 201, invited.body
    assert call(client, "GET", "/me/usage", tenant).status_code == 200
    ledger = boto3.client("dynamodb")
    ledger.put_item(
        TableName=TEST_ENV["TAILORCAST_TABLE_NAME"],
        Item={
            "pk": {"S": f"ACCOUNT#{tenant.account_id}"},
            "sk": {"S": "LEDGER#videos#2026-01-01"},
            "taken": {"N": "3"},
        },
    )
    now = utcnow()
    dependencies.get_billing_repo().hold_checkout(
        tenant.account_id,
        CheckoutHold(token="t1", plan=Plan.PRO, expires_at=now + timedelta(hours=1)),
        now,
        now + timedelta(hours=1),
    )
    return str(json.loads(made.body)["key"])


def test_deletion_leaves_no_item_anywhere_that_names_the_account(
    client: Client, new_tenant: Any, env: tuple[StripeStandIn, FakeTaskStarter]
) -> None:
    standin, _ = env
    alice, bob = new_tenant("alice@a.io"), new_tenant("bob@b.io")
    alice_key = _everything_of(client, alice, standin, "carol@c.io")
    bob_key = _everything_of(client, bob, standin, "carol@c.io")  # the same invitee: two lookups
    names_alice = {i["pk"]["S"].split("#")[0] for i in _naming(alice.account_id)}
    # The test means something only if each kind of item outside her partition is there.
    assert {"ACCOUNT", "SUBJECT", "APIKEY", "INVITEE", "RATE"} <= names_alice, names_alice
    assert any(i["sk"]["S"] == "CHECKOUT" for i in _naming(alice.account_id))
    bob_before = _naming(bob.account_id)

    assert call(client, "POST", "/account/deletion", alice, {"confirm": "Acme"}).status_code == 202
    assert client.lambda_.invoke("delete_account", {"account_id": alice.account_id}).payload == {
        "status": "deleted"
    }

    assert _naming(alice.account_id) == []
    assert _naming(bob.account_id) == bob_before  # byte for byte
    refused = call(client, "GET", "/me/usage", headers={"Authorization": f"Bearer {alice_key}"})
    assert refused.status_code == 401, refused.body
    assert call(client, "GET", "/me/usage", headers={"Authorization": f"Bearer {bob_key}"}).status_code == 200
    assert _naming(alice.account_id) == []  # the refused key counted nothing
