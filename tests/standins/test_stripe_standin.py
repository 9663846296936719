"""The Stripe stand-in, through stripe-python itself: shapes, errors, idempotency, webhooks, time."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import stripe

from chalicelib.adapters.billing import STRIPE_API_VERSION
from chalicelib.domain import billing
from devstack.stripe import StripeStandIn, decode_form, plan_prices

SECRETS = ["whsec_one", "whsec_two"]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StripeStandIn]:
    s = StripeStandIn(tmp_path, "sk_test_standin", SECRETS, plan_prices(), retry_base=0.05, max_attempts=4)
    s.start()
    yield s
    s.stop()


def client(s: StripeStandIn, key: str | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or s.api_key,
        base_addresses={"api": s.url},
        stripe_version=STRIPE_API_VERSION,
        max_network_retries=0,
    )


def checkout(s: StripeStandIn, card: str) -> tuple[Any, int, str]:
    c = client(s)
    customer = c.v1.customers.create(params={"email": "a@example.com", "metadata": {"account_id": "acct_1"}})
    price = c.v1.prices.list(params={"lookup_keys": ["tailorcast_basic_monthly"]}).data[0]
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": "acct_1",
            "line_items": [{"price": price.id, "quantity": 1}],
            "subscription_data": {"metadata": {"account_id": "acct_1"}},
            "success_url": "http://console.test/ok",
            "cancel_url": "http://console.test/no",
        }
    )
    form = urllib.parse.urlencode({"cardnumber": card, "exp-date": "04 / 40", "cvc": "314"}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect()).open(
            urllib.request.Request(str(session.url), data=form)  # noqa: S310 - the stand-in
        ) as r:
            return c.v1.checkout.sessions.retrieve(session.id), r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return c.v1.checkout.sessions.retrieve(session.id), exc.code, exc.read().decode()


def test_bracket_notation_decodes_as_stripe_does() -> None:
    form = [
        ("metadata[a]", "1"),
        ("line_items[0][price]", "p"),
        ("line_items[0][quantity]", "2"),
        ("k[]", "x"),
        ("k[]", "y"),
    ]
    assert decode_form(form) == {
        "metadata": {"a": "1"},
        "line_items": [{"price": "p", "quantity": "2"}],
        "k": ["x", "y"],
    }


def test_the_plans_prices_exist_with_their_lookup_keys(standin: StripeStandIn) -> None:
    prices = client(standin).v1.prices.list(
        params={"lookup_keys": [k for k, _, _ in plan_prices()], "active": True}
    )
    assert sorted((p.lookup_key, p.unit_amount) for p in prices.data) == sorted(
        (k, a) for k, _, a in plan_prices()
    )


def test_errors_are_stripes_so_stripe_python_raises_its_classes(standin: StripeStandIn) -> None:
    with pytest.raises(stripe.AuthenticationError):
        client(standin, "sk_test_wrong").v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client(standin).v1.subscriptions.retrieve("sub_nope")
    assert missing.value.code == "resource_missing"


def test_an_idempotency_key_replays_and_refuses_other_parameters(standin: StripeStandIn) -> None:
    c = client(standin)
    first = c.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k"})
    assert c.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k"}).id == first.id
    with pytest.raises(stripe.IdempotencyError):
        c.v1.customers.create(params={"name": "B"}, options={"idempotency_key": "k"})


def test_4242_subscribes_with_the_period_on_the_items(standin: StripeStandIn) -> None:
    session, status, _ = checkout(standin, "4242 4242 4242 4242")
    assert status == 303 and session.status == "complete"
    sub = client(standin).v1.subscriptions.retrieve(session.subscription)
    state = billing.subscription_state(sub.to_dict())
    assert (state.status, state.plan.value if state.plan else None, state.account_id) == (
        "active",
        "basic",
        "acct_1",
    )
    assert state.period_end is not None and state.period_start is not None
    assert (state.period_end - state.period_start).days == 30


def test_0002_is_declined_with_its_reason_on_the_page(standin: StripeStandIn) -> None:
    session, status, page = checkout(standin, "4000000000000002")
    assert status == 402 and session.status == "open"
    assert "Your card was declined." in page and "generic_decline" in page
    assert not any(tag in page for tag in ("<script", "<link", "@import", "url("))  # nothing external


def test_0341_renews_into_past_due_then_unpaid_after_the_retries(standin: StripeStandIn) -> None:
    session, _, _ = checkout(standin, "4000000000000341")
    c = client(standin)
    standin.advance(31 * 86_400)
    assert c.v1.subscriptions.retrieve(session.subscription).status == "past_due"
    types = [e.type for e in c.v1.events.list(params={"limit": 100}).data]
    assert "invoice.payment_failed" in types
    standin.advance(8 * 86_400)
    assert c.v1.subscriptions.retrieve(session.subscription).status == "unpaid"


def test_4242_renews_into_a_new_paid_period(standin: StripeStandIn) -> None:
    session, _, _ = checkout(standin, "4242424242424242")
    c = client(standin)
    before = billing.subscription_state(c.v1.subscriptions.retrieve(session.subscription).to_dict())
    standin.advance(31 * 86_400)
    after = billing.subscription_state(c.v1.subscriptions.retrieve(session.subscription).to_dict())
    assert after.status == "active" and after.period_start == before.period_end
    invoices = c.v1.invoices.list(params={"customer": session.customer}).data
    assert [i.status for i in invoices] == ["paid", "paid"]


class _Receiver(BaseHTTPRequestHandler):
    failures = 2
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((body, self.headers["Stripe-Signature"]))
        fail = type(self).failures > 0
        type(self).failures -= 1
        self.send_response(500 if fail else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_are_signed_with_every_secret_and_retried_until_2xx(standin: StripeStandIn) -> None:
    _Receiver.received, _Receiver.failures = [], 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        standin.set_webhook_url(f"http://127.0.0.1:{server.server_port}/webhooks/stripe")
        client(standin).v1.customers.create(params={"name": "A"})  # no event: customer.created is not emitted
        checkout(standin, "4242424242424242")
        assert standin.wait_delivered(timeout=30)
    finally:
        server.shutdown()
    statuses = [status for _, status in standin.attempts]
    assert statuses[:2] == [500, 500] and statuses[-1] == 200
    for body, header in _Receiver.received:
        for secret in SECRETS:  # every secret verifies (a rotation)
            event = stripe.Webhook.construct_event(body, header, secret)
            assert event.object == "event"
    assert header.count("v1=") == 2


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = StripeStandIn(tmp_path, "sk_test_r", SECRETS, plan_prices())
    first.start()
    session, _, _ = checkout(first, "4242424242424242")
    first.stop()
    second = StripeStandIn(tmp_path, "sk_test_r", SECRETS, plan_prices())
    second.start()
    try:
        assert client(second).v1.subscriptions.retrieve(session.subscription).status == "active"
        assert len(client(second).v1.prices.list(params={"limit": 100}).data) == len(plan_prices())
    finally:
        second.stop()
