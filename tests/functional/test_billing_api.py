"""Billing routes and Stripe's webhook: the Chalice app, moto, and stripe-python against the
Stripe stand-in (devstack/stripe), as in the local stack."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from chalice.test import Client

from chalicelib.domain.models import Plan
from devstack.stripe import StripeStandIn, plan_prices
from tests.functional.conftest import Tenant, call

SECRET = "whsec_functional_secret"
OLD_SECRET = "whsec_previous_secret"


@pytest.fixture
def stripe_standin(tmp_path: Path) -> Iterator[StripeStandIn]:
    s = StripeStandIn(tmp_path / "stripe", "sk_test_functional", [SECRET], plan_prices(), retry_base=0.05)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def billing_env(aws: None, stripe_standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch) -> StripeStandIn:
    import boto3

    from chalicelib import dependencies
    from chalicelib.settings import get_settings

    monkeypatch.setenv("TAILORCAST_STRIPE_API_BASE", stripe_standin.url)
    monkeypatch.setenv("TAILORCAST_APP_BASE_URL", "http://console.test")
    dependencies.reset()
    boto3.client("secretsmanager").create_secret(
        Name=get_settings().stripe_secret_name,
        SecretString=json.dumps({"api_key": stripe_standin.api_key, "webhook_secrets": [OLD_SECRET, SECRET]}),
    )
    return stripe_standin


def signed(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp))


def post_webhook(client: Client, body: bytes | str, header: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    payload = body.encode() if isinstance(body, str) else body
    return client.http.post("/webhooks/stripe", headers=headers, body=payload)


def pay(url: str, card: str) -> tuple[int, str]:
    data = urllib.parse.urlencode(
        {"cardnumber": card, "exp-date": "12 / 34", "cvc": "123", "billingName": "A"}
    )
    request = urllib.request.Request(url, data=data.encode(), method="POST")  # noqa: S310 - the stand-in
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def events_for(standin: StripeStandIn) -> list[dict[str, Any]]:
    with standin.engine.lock:
        return sorted(standin.engine.state["events"].values(), key=lambda e: (e["created"], e["id"]))


def deliver_all(client: Client, standin: StripeStandIn) -> list[int]:
    """What the stand-in would send, through the test client (signed with the current secret)."""
    statuses = []
    for event in events_for(standin):
        payload = json.dumps(event)
        statuses.append(post_webhook(client, payload, signed(payload)).status_code)
    return statuses


def account(account_id: str) -> Any:
    from chalicelib import dependencies

    return dependencies.get_account_repo().get(account_id)


def subscribe(
    client: Client,
    tenant: Tenant,
    standin: StripeStandIn,
    plan: str = "basic",
    card: str = "4242424242424242",
) -> str:
    response = call(client, "POST", "/billing/checkout", tenant, {"plan": plan})
    assert response.status_code == 200, response.body
    url = json.loads(response.body)["url"]
    status, _ = pay(url, card)
    assert status == 303
    assert set(deliver_all(client, standin)) == {200}
    return str(url)


# --------------------------------------------------------------------------- routes


def test_checkout_then_webhooks_put_the_account_on_basic(
    client: Client, new_tenant: Any, billing_env: StripeStandIn
) -> None:
    tenant = new_tenant()
    subscribe(client, tenant, billing_env)
    stored = account(tenant.account_id)
    assert (stored.plan.value, stored.status.value) == ("basic", "active")
    assert stored.period_start is not None and stored.period_end is not None
    customer = stripe.StripeClient(
        billing_env.api_key, base_addresses={"api": billing_env.url}
    ).v1.customers.retrieve(str(stored.stripe_customer_id))
    assert customer.metadata is not None and customer.metadata["account_id"] == tenant.account_id
    shown = json.loads(call(client, "GET", "/billing", tenant).body)
    assert (shown["plan"], shown["card_brand"], shown["card_last4"]) == ("basic", "visa", "4242")
    assert shown["invoices"][0]["status"] == "paid"


def test_a_double_click_gets_one_checkout_and_a_subscribed_account_is_sent_to_the_portal(
    client: Client, new_tenant: Any, billing_env: StripeStandIn
) -> None:
    tenant = new_tenant()
    first = call(client, "POST", "/billing/checkout", tenant, {"plan": "basic"})
    second = call(client, "POST", "/billing/checkout", tenant, {"plan": "basic"})
    assert json.loads(first.body)["url"] == json.loads(second.body)["url"]
    assert len(billing_env.engine.state["checkout_sessions"]) == 1
    assert len(billing_env.engine.state["customers"]) == 1
    pay(json.loads(first.body)["url"], "4242424242424242")
    deliver_all(client, billing_env)
    again = call(client, "POST", "/billing/checkout", tenant, {"plan": "pro"})
    assert again.status_code == 409
    assert json.loads(again.body)["error"]["code"] == "already_subscribed"
    portal = call(client, "POST", "/billing/portal", tenant)
    assert portal.status_code == 200 and "/portal/" in json.loads(portal.body)["url"]


def test_a_declined_card_names_the_reason_and_changes_nothing(
    client: Client, new_tenant: Any, billing_env: StripeStandIn
) -> None:
    tenant = new_tenant(plan=Plan.TRIAL)
    url = json.loads(call(client, "POST", "/billing/checkout", tenant, {"plan": "basic"}).body)["url"]
    status, page = pay(url, "4000000000000002")
    assert status == 402
    assert "Your card was declined." in page and "generic_decline" in page
    deliver_all(client, billing_env)
    assert account(tenant.account_id).plan.value == "trial"


def test_billing_routes_are_the_callers_own(
    client: Client, new_tenant: Any, billing_env: StripeStandIn
) -> None:
    alice, bob = new_tenant("alice@example.com"), new_tenant("bob@example.com", Plan.TRIAL)
    subscribe(client, alice, billing_env)
    bobs = json.loads(call(client, "GET", "/billing", bob).body)
    assert (bobs["plan"], bobs["card_last4"], bobs["invoices"]) == ("trial", None, [])
    assert call(client, "POST", "/billing/portal", bob).status_code == 404
    bob_checkout = call(client, "POST", "/billing/checkout", bob, {"plan": "pro"})
    assert bob_checkout.status_code == 200
    assert account(alice.account_id).plan.value == "basic"
    for method, path in (("GET", "/billing"), ("POST", "/billing/portal"), ("POST", "/billing/checkout")):
        assert call(client, method, path, None, {"plan": "basic"}).status_code == 401


def test_checkout_validates_the_plan(client: Client, new_tenant: Any, billing_env: StripeStandIn) -> None:
    tenant = new_tenant()
    response = call(client, "POST", "/billing/checkout", tenant, {"plan": "trial"})
    assert response.status_code == 422
    assert json.loads(response.body)["error"]["fields"][0]["field"] == "body.plan"


# --------------------------------------------------------------------------- the webhook's signature


@pytest.fixture
def paid_event(client: Client, new_tenant: Any, billing_env: StripeStandIn) -> tuple[Tenant, str]:
    """A tenant with an open checkout paid at Stripe, whose events have not been delivered."""
    tenant = new_tenant(plan=Plan.TRIAL)
    url = json.loads(call(client, "POST", "/billing/checkout", tenant, {"plan": "basic"}).body)["url"]
    pay(url, "4242424242424242")
    completed = next(e for e in events_for(billing_env) if e["type"] == "checkout.session.completed")
    return tenant, json.dumps(completed)


def _header_cases(payload: str) -> dict[str, str | None]:
    now = int(time.time())
    good = signed(payload, timestamp=now).split(",")[1]
    return {
        "missing": None,
        "malformed": "i'm not even a real signature header",
        "v0 only": f"t={now},v0={good.split('=')[1]}",
        "wrong signature": f"t={now},v1=bad_signature",
        "stale": signed(payload, timestamp=now - 301),
        "unknown secret": signed(payload, secret="whsec_someone_else", timestamp=now),
        "other body": signed(payload + " ", timestamp=now),
    }


@pytest.mark.parametrize(
    "case", ["missing", "malformed", "v0 only", "wrong signature", "stale", "unknown secret", "other body"]
)
def test_a_webhook_that_does_not_verify_is_400_with_no_side_effect(
    client: Client, paid_event: tuple[Tenant, str], case: str
) -> None:
    tenant, payload = paid_event
    response = post_webhook(client, payload, _header_cases(payload)[case])
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["code"] == "invalid_signature"
    assert account(tenant.account_id).plan.value == "trial"
    # nothing was claimed: the same event, properly signed, still applies
    good = post_webhook(client, payload, signed(payload))
    assert good.status_code == 200 and json.loads(good.body)["handled"] is True
    assert account(tenant.account_id).plan.value == "basic"


def test_a_good_and_a_bad_v1_together_verify(client: Client, paid_event: tuple[Tenant, str]) -> None:
    tenant, payload = paid_event
    header = signed(payload) + ",v1=bad_signature"
    assert post_webhook(client, payload, header).status_code == 200
    assert account(tenant.account_id).plan.value == "basic"


def test_during_a_rotation_either_secret_verifies(client: Client, paid_event: tuple[Tenant, str]) -> None:
    tenant, payload = paid_event
    assert (
        post_webhook(client, payload.encode(), signed(payload, secret=OLD_SECRET)).status_code == 200
    )  # bytes body
    assert account(tenant.account_id).plan.value == "basic"


def test_a_replayed_event_is_acknowledged_once(client: Client, paid_event: tuple[Tenant, str]) -> None:
    _, payload = paid_event
    first = json.loads(post_webhook(client, payload, signed(payload)).body)
    again = post_webhook(client, payload, signed(payload))
    assert first["handled"] is True
    assert again.status_code == 200 and json.loads(again.body)["handled"] is False


def test_a_signed_body_that_is_not_json_is_400(client: Client, billing_env: StripeStandIn) -> None:
    payload = "this is not json"
    response = post_webhook(client, payload, signed(payload))
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["code"] == "malformed_body"


def test_unknown_event_types_are_acknowledged(client: Client, billing_env: StripeStandIn) -> None:
    payload = json.dumps(
        {
            "id": "evt_x",
            "object": "event",
            "type": "radar.early_fraud_warning.created",
            "created": int(time.time()),
            "data": {"object": {"object": "radar.early_fraud_warning", "id": "issfr_1"}},
        }
    )
    response = post_webhook(client, payload, signed(payload))
    assert response.status_code == 200 and json.loads(response.body)["handled"] is False
