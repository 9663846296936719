"""Billing rules (domain/billing.py) against the fakes, and Stripe event streams in any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chalicelib.domain import billing
from chalicelib.domain.errors import ConflictError, InvalidInputError, StorageError
from chalicelib.domain.models import Account, AccountStatus, Plan
from chalicelib.domain.plans import spec
from tests.fakes import FakeAccountRepository, FakeBillingRepository, FakeStripe

T0 = 1_800_000_000
NOW = datetime.fromtimestamp(T0, UTC)


def sub_json(
    sub_id: str,
    customer: str,
    status: str,
    plan: Plan,
    start: int,
    end: int,
    account_id: str | None = "acct_1",
) -> dict[str, Any]:
    """A subscription as Stripe's API version 2026-10-28 answers it (the period on its items)."""
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": False,
        "metadata": {"account_id": account_id} if account_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "price": {
                        "id": f"price_{plan.value}",
                        "object": "price",
                        "lookup_key": spec(plan).lookup_key,
                    },
                    "current_period_start": start,
                    "current_period_end": end,
                }
            ],
        },
    }


def event_json(event_id: str, type_: str, created: int, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "type": type_,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
    }


def invoice_json(invoice_id: str, sub_id: str, customer: str) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id}},
    }


def setup(customer: str | None = "cus_1") -> billing.BillingPorts:
    accounts = FakeAccountRepository()
    accounts.accounts["acct_1"] = Account(
        account_id="acct_1", name="Acme", stripe_customer_id=customer, version=1
    )
    stripe = FakeStripe()
    if customer:
        stripe.customers[customer] = {"id": customer, "metadata": {"account_id": "acct_1"}}
    return billing.BillingPorts(accounts=accounts, billing=FakeBillingRepository(accounts), stripe=stripe)


def accounts(ports: billing.BillingPorts) -> dict[str, Account]:
    assert isinstance(ports.accounts, FakeAccountRepository)
    return ports.accounts.accounts


def fake(ports: billing.BillingPorts) -> FakeStripe:
    assert isinstance(ports.stripe, FakeStripe)
    return ports.stripe


# --------------------------------------------------------------------------- parsing


def test_subscription_period_is_read_from_its_items() -> None:
    state = billing.subscription_state(sub_json("sub_1", "cus_1", "active", Plan.PRO, T0, T0 + 100))
    assert state.plan is Plan.PRO
    assert state.period_start == NOW
    assert state.period_end == NOW + timedelta(seconds=100)
    assert state.account_id == "acct_1"


def test_an_invoice_event_names_its_subscription_through_its_parent() -> None:
    event = billing.parse_event(
        event_json("evt_1", "invoice.paid", T0, invoice_json("in_1", "sub_9", "cus_1"))
    )
    assert (event.subscription_id, event.customer_id, event.created) == ("sub_9", "cus_1", NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "customer", "id": "cus_1"},
        {"object": "event", "id": "evt_1", "type": "x"},
        {"object": "event"},
    ],
)
def test_a_body_that_is_not_a_complete_event_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(billing.StripeObjectError):
        billing.parse_event(payload)


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("active", AccountStatus.ACTIVE),
        ("trialing", AccountStatus.ACTIVE),
        ("past_due", AccountStatus.PAST_DUE),
        ("unpaid", AccountStatus.UNPAID),
        ("canceled", AccountStatus.CANCELLED),
    ],
)
def test_stripe_status_maps_to_the_account_status(stripe_status: str, expected: AccountStatus) -> None:
    account = Account(account_id="acct_1", name="Acme")
    sub = billing.subscription_state(sub_json("sub_1", "cus_1", stripe_status, Plan.BASIC, T0, T0 + 10))
    update = billing.billing_update(account, sub, NOW)
    assert update is not None
    assert (update.plan, update.status) == (Plan.BASIC, expected)
    assert (update.past_due_since is not None) == (expected in (AccountStatus.PAST_DUE, AccountStatus.UNPAID))


def test_an_incomplete_subscription_or_a_foreign_price_changes_nothing() -> None:
    account = Account(account_id="acct_1", name="Acme")
    incomplete = billing.subscription_state(sub_json("sub_1", "cus_1", "incomplete", Plan.BASIC, T0, T0 + 1))
    assert billing.billing_update(account, incomplete, NOW) is None
    foreign = sub_json("sub_1", "cus_1", "active", Plan.BASIC, T0, T0 + 1)
    foreign["items"]["data"][0]["price"]["lookup_key"] = "someone_elses_price"
    assert billing.billing_update(account, billing.subscription_state(foreign), NOW) is None


def test_past_due_keeps_the_time_of_the_first_failure() -> None:
    first = NOW - timedelta(days=2)
    account = Account(account_id="acct_1", name="Acme", status=AccountStatus.PAST_DUE, past_due_since=first)
    sub = billing.subscription_state(sub_json("sub_1", "cus_1", "past_due", Plan.BASIC, T0, T0 + 1))
    update = billing.billing_update(account, sub, NOW)
    assert update is not None and update.past_due_since == first


# --------------------------------------------------------------------------- checkout


def test_a_double_click_opens_one_checkout_and_one_customer() -> None:
    ports = setup(customer=None)
    account = ports.accounts.get("acct_1")
    first = billing.start_checkout(
        ports, account, "a@example.com", Plan.BASIC, "https://x/s", "https://x/c", NOW
    )
    account = ports.accounts.get("acct_1")
    second = billing.start_checkout(
        ports, account, "a@example.com", Plan.BASIC, "https://x/s", "https://x/c", NOW
    )
    assert first == second
    assert len(fake(ports).sessions) == 1 and len(fake(ports).customers) == 1
    assert ports.accounts.get("acct_1").stripe_customer_id == "cus_1"


def test_another_plan_expires_the_open_checkout_first() -> None:
    ports = setup()
    account = ports.accounts.get("acct_1")
    basic = billing.start_checkout(
        ports, account, "a@example.com", Plan.BASIC, "https://x/s", "https://x/c", NOW
    )
    pro = billing.start_checkout(ports, account, "a@example.com", Plan.PRO, "https://x/s", "https://x/c", NOW)
    assert basic != pro
    assert fake(ports).expired == ["cs_1"]


def test_an_open_checkout_paid_meanwhile_refuses_another_plan() -> None:
    ports = setup()
    account = ports.accounts.get("acct_1")
    billing.start_checkout(ports, account, "a@example.com", Plan.BASIC, "https://x/s", "https://x/c", NOW)
    stripe = fake(ports)
    stripe.sessions["cs_1"] = stripe.sessions["cs_1"].__class__(
        **{**vars(stripe.sessions["cs_1"]), "status": "complete"}
    )
    with pytest.raises(billing.AlreadySubscribedError):
        billing.start_checkout(ports, account, "a@example.com", Plan.PRO, "https://x/s", "https://x/c", NOW)


def test_a_subscribed_account_changes_plan_in_the_portal_not_a_new_checkout() -> None:
    ports = setup()
    accounts(ports)["acct_1"] = ports.accounts.get("acct_1").model_copy(
        update={"plan": Plan.BASIC, "stripe_subscription_id": "sub_1"}
    )
    with pytest.raises(billing.AlreadySubscribedError) as err:
        billing.start_checkout(
            ports, ports.accounts.get("acct_1"), "a@example.com", Plan.PRO, "https://x/s", "https://x/c", NOW
        )
    assert isinstance(err.value, ConflictError) and "/billing/portal" in err.value.message
    assert fake(ports).sessions == {}


def test_the_trial_is_not_a_plan_to_buy() -> None:
    ports = setup()
    with pytest.raises(InvalidInputError) as err:
        billing.start_checkout(
            ports, ports.accounts.get("acct_1"), "a@b.co", Plan.TRIAL, "https://x", "https://x", NOW
        )
    assert err.value.issues[0].loc == "body.plan"


# --------------------------------------------------------------------------- events


def test_a_subscription_of_another_customer_never_moves_the_account() -> None:
    ports = setup()
    stripe = fake(ports)
    stripe.subscriptions["sub_x"] = sub_json("sub_x", "cus_other", "active", Plan.AGENCY, T0, T0 + 1)
    event = billing.parse_event(
        event_json("evt_1", "customer.subscription.created", T0, stripe.subscriptions["sub_x"])
    )
    outcome = billing.handle_event(ports, event, NOW)
    assert not outcome.applied
    assert ports.accounts.get("acct_1").plan is Plan.TRIAL


def test_a_failure_while_applying_releases_the_event_for_stripes_retry() -> None:
    ports = setup()

    class Down(FakeStripe):
        def subscription_json(self, subscription_id: str) -> dict[str, Any]:
            raise StorageError("billing is unavailable right now; try again shortly", retry_after=5)

    ports = billing.BillingPorts(ports.accounts, ports.billing, Down())
    event = billing.parse_event(
        event_json(
            "evt_1",
            "customer.subscription.updated",
            T0,
            sub_json("sub_1", "cus_1", "active", Plan.PRO, T0, T0),
        )
    )
    with pytest.raises(StorageError):
        billing.handle_event(ports, event, NOW)
    up = FakeStripe()
    up.customers["cus_1"] = {"id": "cus_1", "metadata": {"account_id": "acct_1"}}
    up.subscriptions["sub_1"] = sub_json("sub_1", "cus_1", "active", Plan.PRO, T0, T0 + 10)
    retried = billing.handle_event(billing.BillingPorts(ports.accounts, ports.billing, up), event, NOW)
    assert retried.applied and not retried.duplicate
    assert ports.accounts.get("acct_1").plan is Plan.PRO


def test_payment_failed_and_trial_ending_return_the_email_to_send() -> None:
    ports = setup()
    stripe = fake(ports)
    stripe.subscriptions["sub_1"] = sub_json("sub_1", "cus_1", "past_due", Plan.BASIC, T0, T0 + 10)
    failed = billing.handle_event(
        ports,
        billing.parse_event(
            event_json("evt_1", "invoice.payment_failed", T0, invoice_json("in_1", "sub_1", "cus_1"))
        ),
        NOW,
    )
    invoice = invoice_json("in_1", "sub_1", "cus_1")
    assert failed.notification == billing.Notification(
        billing.NotificationKind.PAYMENT_FAILED,
        "acct_1",
        NOW,
        invoice_id="in_1",
        amount_due=invoice.get("amount_due"),
        currency=invoice.get("currency"),
        next_attempt_at=billing._ts(invoice.get("next_payment_attempt")),
    )
    assert ports.accounts.get("acct_1").status is AccountStatus.PAST_DUE
    stripe.subscriptions["sub_1"]["trial_end"] = T0 + 3 * 86400  # the email says when
    ending = billing.handle_event(
        ports,
        billing.parse_event(
            event_json("evt_2", "customer.subscription.trial_will_end", T0 + 1, stripe.subscriptions["sub_1"])
        ),
        NOW,
    )
    assert (
        ending.notification is not None and ending.notification.kind is billing.NotificationKind.TRIAL_ENDING
    )
    assert ending.notification.trial_ends_at == datetime.fromtimestamp(T0 + 3 * 86400, UTC)


def test_unknown_event_types_are_ignored() -> None:
    ports = setup()
    outcome = billing.handle_event(
        ports,
        billing.parse_event(
            event_json("evt_1", "customer.tax_id.created", T0, {"object": "tax_id", "id": "t"})
        ),
        NOW,
    )
    assert outcome == billing.EventOutcome()
    assert ports.billing.claim_event("evt_1", billing.EVENT_CLAIM_TTL)  # not even claimed


# --------------------------------------------------------------------------- any order


EXPECTED_STATUS = {
    "active": AccountStatus.ACTIVE,
    "past_due": AccountStatus.PAST_DUE,
    "unpaid": AccountStatus.UNPAID,
    "canceled": AccountStatus.CANCELLED,
}


class StripeEventStreams(RuleBasedStateMachine):
    """Stripe changes a customer's subscriptions and emits its events; the product receives them
    shuffled, late and duplicated. Once everything is delivered the account shows the plan,
    status and period of the subscription as Stripe has it."""

    def __init__(self) -> None:
        super().__init__()
        self.ports = setup()
        self.stripe = fake(self.ports)
        self.t = T0
        self.n = 0
        self.sub_id: str | None = None
        self.pending: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []

    def _emit(self, type_: str, obj: dict[str, Any]) -> None:
        self.n += 1
        self.pending.append(event_json(f"evt_{self.n}", type_, self.t, dict(obj)))

    def _change(self, **fields: Any) -> dict[str, Any]:
        assert self.sub_id is not None
        self.t += 1
        sub = dict(self.stripe.subscriptions[self.sub_id])
        sub.update(fields)
        self.stripe.subscriptions[self.sub_id] = sub
        return sub

    def _live(self) -> bool:
        return self.sub_id is not None and self.stripe.subscriptions[self.sub_id]["status"] != "canceled"

    @precondition(lambda self: not self._live())
    @rule(plan=st.sampled_from([Plan.BASIC, Plan.PRO, Plan.AGENCY]))
    def subscribe(self, plan: Plan) -> None:
        self.t += 1
        self.sub_id = f"sub_{self.n + 1}"
        sub = sub_json(self.sub_id, "cus_1", "active", plan, self.t, self.t + 30 * 86_400)
        self.stripe.subscriptions[self.sub_id] = sub
        session = {"id": f"cs_{self.n}", "object": "checkout.session", "customer": "cus_1",
                   "client_reference_id": "acct_1", "subscription": self.sub_id, "status": "complete"}  # fmt: skip
        self.stripe.sessions[session["id"]] = billing.CheckoutSession(
            session["id"], "https://stripe.test", "complete", self.sub_id, "cus_1", "acct_1"
        )
        self._emit("customer.subscription.created", sub)
        self._emit("invoice.paid", invoice_json(f"in_{self.n}", self.sub_id, "cus_1"))
        self._emit("checkout.session.completed", session)

    @precondition(lambda self: self._live())
    @rule(plan=st.sampled_from([Plan.BASIC, Plan.PRO, Plan.AGENCY]))
    def change_plan(self, plan: Plan) -> None:
        assert self.sub_id is not None
        items = sub_json(self.sub_id, "cus_1", "active", plan, 0, 0)["items"]
        period = self.stripe.subscriptions[self.sub_id]["items"]["data"][0]
        items["data"][0].update(current_period_start=period["current_period_start"],
                                current_period_end=period["current_period_end"])  # fmt: skip
        self._emit("customer.subscription.updated", self._change(items=items))

    @precondition(lambda self: self._live())
    @rule(paid=st.booleans())
    def renew(self, paid: bool) -> None:
        assert self.sub_id is not None
        items = dict(self.stripe.subscriptions[self.sub_id]["items"])
        item = dict(items["data"][0])
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] += 30 * 86_400
        items["data"] = [item]
        status = "active" if paid else "past_due"
        sub = self._change(items=items, status=status)
        self._emit(
            "invoice.paid" if paid else "invoice.payment_failed",
            invoice_json(f"in_{self.n}", self.sub_id, "cus_1"),
        )
        self._emit("customer.subscription.updated", sub)

    @precondition(
        lambda self: self._live() and self.stripe.subscriptions[self.sub_id or ""]["status"] == "past_due"
    )
    @rule()
    def retries_run_out(self) -> None:
        self._emit("customer.subscription.updated", self._change(status="unpaid"))

    @precondition(lambda self: self._live())
    @rule()
    def cancel(self) -> None:
        self._emit("customer.subscription.deleted", self._change(status="canceled"))

    @rule()
    def unknown_event(self) -> None:
        self._emit(
            "payment_intent.created", {"object": "payment_intent", "id": f"pi_{self.n}", "customer": "cus_1"}
        )

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), keep=st.booleans())
    def deliver(self, data: st.DataObject, keep: bool) -> None:
        """One pending event, any of them; ``keep``: Stripe will send it again later."""
        index = data.draw(st.integers(0, len(self.pending) - 1))
        event = self.pending[index] if keep else self.pending.pop(index)
        self._receive(event)

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        self._receive(data.draw(st.sampled_from(self.delivered)))

    def _receive(self, event: dict[str, Any]) -> None:
        billing.handle_event(self.ports, billing.parse_event(event), NOW)
        self.delivered.append(event)

    @invariant()
    def settles_on_stripes_state(self) -> None:
        """Deliver everything still pending in a random order (some twice) on a copy, and compare."""
        if self.sub_id is None:
            return
        snapshot = self.ports.accounts.get("acct_1")
        claims = set(self.ports.billing.claims)  # type: ignore[attr-defined]
        rest = self.pending + random.Random(self.n).sample(self.delivered, k=min(3, len(self.delivered)))
        random.Random(self.t).shuffle(rest)
        for event in rest:
            billing.handle_event(self.ports, billing.parse_event(event), NOW)
        account = self.ports.accounts.get("acct_1")
        sub = self.stripe.subscriptions[self.sub_id]
        item = sub["items"]["data"][0]
        assert account.stripe_subscription_id == self.sub_id
        assert account.plan.value == item["price"]["lookup_key"].split("_")[1]
        assert account.status is EXPECTED_STATUS[sub["status"]]
        assert account.period_start == datetime.fromtimestamp(item["current_period_start"], UTC)
        assert account.period_end == datetime.fromtimestamp(item["current_period_end"], UTC)
        assert (account.past_due_since is not None) == (sub["status"] in ("past_due", "unpaid"))
        accounts(self.ports)["acct_1"] = snapshot  # undo: the run goes on as it was
        self.ports.billing.claims = claims  # type: ignore[attr-defined]


StripeEventStreams.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_stripe_event_streams_in_any_order = StripeEventStreams.TestCase
