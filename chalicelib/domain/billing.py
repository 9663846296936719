"""Billing rules: Stripe's subscription as the account's plan, status and period.

Pure: Stripe's objects arrive here as the JSON dicts Stripe sends (webhook events) and answers
(a re-fetched subscription), for the API version the adapter pins; the adapter does the I/O.

Ordering. Stripe delivers events at least once and in any order. Every event that concerns a
subscription re-fetches it from Stripe (its state *now*, never the event's snapshot) and writes the
account only if the event is not older than the last one written (``Account.subscription_changed_at``,
a conditional write): a late, older event finds a newer state already written and changes nothing;
a duplicate is dropped by its event id's claim before anything is read.

Retries. A payment that fails on renewal makes the subscription ``past_due`` (the account keeps
working for :data:`~chalicelib.domain.models.PAST_DUE_GRACE_DAYS`, enforced where work is created);
when Stripe's retries run out the subscription becomes ``unpaid`` or ``canceled``, per the Stripe
account's "Manage failed payments" setting (the local stand-in: ``unpaid``, see
``devstack/stripe``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import ConflictError, FieldIssue, InvalidInputError, NotFoundError
from chalicelib.domain.models import Account, AccountStatus, Plan, utcnow
from chalicelib.domain.plans import PLANS, plan_for_lookup_key, spec
from chalicelib.domain.ports import AccountRepository, BillingGateway, BillingRepository

#: How long an event id is remembered: longer than Stripe's 3 days of retries.
EVENT_CLAIM_TTL = timedelta(days=30)
#: How long a checkout page stays open (Stripe allows 30 minutes to 24 hours).
CHECKOUT_TTL = timedelta(hours=1)

#: The events the product acts on; every other type is acknowledged and ignored.
HANDLED_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "invoice.payment_failed",
    }
)

#: Stripe's subscription status to the account's. ``incomplete`` (the first payment has not gone
#: through) changes nothing: Checkout only completes once it has.
STATUS_BY_STRIPE: dict[str, AccountStatus] = {
    "active": AccountStatus.ACTIVE,
    "trialing": AccountStatus.ACTIVE,
    "past_due": AccountStatus.PAST_DUE,
    "unpaid": AccountStatus.UNPAID,
    "canceled": AccountStatus.CANCELLED,
    "incomplete_expired": AccountStatus.CANCELLED,
    "paused": AccountStatus.UNPAID,
}
#: Statuses in which a subscription still exists: a new checkout would make a second one.
LIVE_STATUSES = frozenset({AccountStatus.ACTIVE, AccountStatus.PAST_DUE, AccountStatus.UNPAID})


class AlreadySubscribedError(ConflictError):
    """The account has a subscription: its plan changes in the billing portal, not a new checkout."""

    code = "already_subscribed"


class StripeObjectError(InvalidInputError):
    """A Stripe object lacks what the product needs (a malformed event or answer)."""


class NotificationKind(StrEnum):
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"


@dataclass(frozen=True)
class Notification:
    """An email the account's owner should get because of a billing event (sent by notifications).

    A payment failure carries its invoice (the email's dedupe key with the next attempt), the
    amount and when Stripe retries; a trial ending carries the trial's end.
    """

    kind: NotificationKind
    account_id: str
    occurred_at: datetime
    invoice_id: str | None = None
    amount_due: int | None = None  # in the currency's smallest unit
    currency: str | None = None
    next_attempt_at: datetime | None = None  # None: Stripe will not retry
    trial_ends_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionState:
    """What the product reads from a Stripe subscription."""

    subscription_id: str
    customer_id: str
    status: str
    lookup_key: str | None
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    account_id: str | None  # the subscription's metadata, set by our checkout
    trial_end: datetime | None = None

    @property
    def plan(self) -> Plan | None:
        return plan_for_lookup_key(self.lookup_key) if self.lookup_key else None


@dataclass(frozen=True)
class BillingEvent:
    """A Stripe event, reduced to what routing it needs."""

    event_id: str
    type: str
    created: datetime
    object_id: str
    customer_id: str | None
    subscription_id: str | None  # the subscription the object is, or belongs to
    client_reference_id: str | None  # a checkout session's: our account id
    # An invoice's amount, currency and next payment attempt, as the event tells them (the
    # payment-failed email's facts: that attempt's, whatever the invoice has become since).
    amount_due: int | None = None
    currency: str | None = None
    next_payment_attempt: datetime | None = None


@dataclass(frozen=True)
class BillingUpdate:
    """The billing fields of an account, as one subscription state makes them."""

    plan: Plan
    status: AccountStatus
    stripe_subscription_id: str
    period_start: datetime | None
    period_end: datetime | None
    past_due_since: datetime | None


@dataclass(frozen=True)
class CheckoutHold:
    """The account's one open checkout (a conditional item): its plan, and its session once made."""

    token: str
    plan: Plan
    session_id: str | None = None
    url: str | None = None
    expires_at: datetime | None = None  # when the hold (and its page) lapses


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str
    status: str  # open | complete | expired
    subscription_id: str | None = None
    customer_id: str | None = None
    client_reference_id: str | None = None


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    status: str
    amount_due: int  # cents
    amount_paid: int
    currency: str
    created: datetime
    hosted_invoice_url: str | None


@dataclass(frozen=True)
class BillingSummary:
    """What GET /billing shows."""

    plan: Plan
    status: AccountStatus
    period_start: datetime | None
    period_end: datetime | None
    trial_ends_at: datetime | None
    past_due_since: datetime | None
    cancel_at_period_end: bool
    card_brand: str | None
    card_last4: str | None
    invoices: list[Invoice]


# --------------------------------------------------------------------------- parsing Stripe's JSON


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | float) else None


def _id(value: Any) -> str | None:
    """An id field that may be expanded (``{"id": …}``) or not."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _require(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _id(obj.get(key))
    if value is None:
        raise StripeObjectError(f"the Stripe {where} has no {key}")
    return value


def subscription_state(obj: Mapping[str, Any]) -> SubscriptionState:
    """Read a Stripe subscription (JSON).

    The period is the first item's ``current_period_start``/``current_period_end``: since API
    version 2025-03-31 Stripe reports it on the subscription items, not the subscription.

    Raises
    ------
    StripeObjectError
        It is not a subscription, or has no id or customer.
    """
    if obj.get("object") != "subscription":
        raise StripeObjectError("the Stripe object is not a subscription")
    items = (obj.get("items") or {}).get("data") or []
    first: Mapping[str, Any] = items[0] if items else {}
    price = first.get("price") or {}
    metadata = obj.get("metadata") or {}
    return SubscriptionState(
        subscription_id=_require(obj, "id", "subscription"),
        customer_id=_require(obj, "customer", "subscription"),
        status=str(obj.get("status") or ""),
        lookup_key=price.get("lookup_key") if isinstance(price, Mapping) else None,
        period_start=_ts(first.get("current_period_start")),
        period_end=_ts(first.get("current_period_end")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        account_id=metadata.get("account_id") if isinstance(metadata, Mapping) else None,
        trial_end=_ts(obj.get("trial_end")),
    )


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """An invoice's subscription: ``parent.subscription_details.subscription`` since 2025-03-31."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {} if isinstance(parent, Mapping) else {}
    return _id(details.get("subscription")) if isinstance(details, Mapping) else None


def parse_event(payload: Mapping[str, Any]) -> BillingEvent:
    """Read a Stripe event (the verified webhook body).

    Raises
    ------
    StripeObjectError
        It is not an event, or lacks its id, type, creation time or object.
    """
    if payload.get("object") != "event":
        raise StripeObjectError("the body is not a Stripe event")
    event_id = _require(payload, "id", "event")
    event_type = payload.get("type")
    created = _ts(payload.get("created"))
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(event_type, str) or created is None or not isinstance(obj, Mapping):
        raise StripeObjectError("the Stripe event lacks its type, creation time or object")
    kind = obj.get("object")
    subscription_id: str | None = None
    amount_due: int | None = None
    if kind == "subscription":
        subscription_id = _id(obj.get("id"))
    elif kind == "invoice":
        subscription_id = _invoice_subscription(obj)
        due = obj.get("amount_due")
        amount_due = int(due) if isinstance(due, int | float) else None
    elif kind == "checkout.session":
        subscription_id = _id(obj.get("subscription"))
    return BillingEvent(
        event_id=event_id,
        type=event_type,
        created=created,
        object_id=_id(obj.get("id")) or "",
        customer_id=_id(obj.get("customer")),
        subscription_id=subscription_id,
        client_reference_id=obj.get("client_reference_id") if kind == "checkout.session" else None,
        amount_due=amount_due,
        currency=str(obj["currency"]) if kind == "invoice" and isinstance(obj.get("currency"), str) else None,
        next_payment_attempt=_ts(obj.get("next_payment_attempt")) if kind == "invoice" else None,
    )


def invoice_of(obj: Mapping[str, Any]) -> Invoice:
    return Invoice(
        invoice_id=_require(obj, "id", "invoice"),
        status=str(obj.get("status") or ""),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        currency=str(obj.get("currency") or "usd"),
        created=_ts(obj.get("created")) or utcnow(),
        hosted_invoice_url=obj.get("hosted_invoice_url"),
    )


# --------------------------------------------------------------------------- rules


def billing_update(account: Account, sub: SubscriptionState, now: datetime) -> BillingUpdate | None:
    """The account's billing fields for this subscription state (None: nothing to change).

    Nothing changes while the subscription is ``incomplete`` or its price is not one of our plans.
    A cancelled subscription keeps the plan it had (the account reads its data; creation is
    refused by its status). ``past_due_since`` is kept from the first failure until the
    subscription is paid again.
    """
    status = STATUS_BY_STRIPE.get(sub.status)
    plan = sub.plan
    if status is None or plan is None:
        return None
    if status is AccountStatus.PAST_DUE:
        past_due_since = account.past_due_since if account.status is AccountStatus.PAST_DUE else None
        past_due_since = past_due_since or now
    elif status is AccountStatus.UNPAID:
        past_due_since = account.past_due_since or now
    else:
        past_due_since = None
    return BillingUpdate(
        plan=plan,
        status=status,
        stripe_subscription_id=sub.subscription_id,
        period_start=sub.period_start,
        period_end=sub.period_end,
        past_due_since=past_due_since,
    )


def has_live_subscription(account: Account) -> bool:
    return account.stripe_subscription_id is not None and account.status in LIVE_STATUSES


@dataclass(frozen=True)
class BillingPorts:
    accounts: AccountRepository
    billing: BillingRepository
    stripe: BillingGateway


def ensure_customer(ports: BillingPorts, account: Account, email: str) -> str:
    """The account's Stripe customer, created first (tagged with the account id) if it has none.

    The create carries an idempotency key made from the account id, so two requests at once make
    one customer; the id is then saved on the account only if it has none (a conditional write).
    """
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer_id = ports.stripe.create_customer(
        account.account_id, email=email, name=account.name, idempotency_key=f"customer-{account.account_id}"
    )
    return ports.billing.set_customer(account.account_id, customer_id)


def start_checkout(
    ports: BillingPorts,
    account: Account,
    email: str,
    plan: Plan,
    success_url: str,
    cancel_url: str,
    now: datetime | None = None,
) -> str:
    """Open (or reopen) the account's checkout page for ``plan`` and return its URL.

    One account has at most one open checkout, held by a conditional item: a double click or a
    second tab for the same plan gets the same page; a different plan expires the open page first.

    Raises
    ------
    InvalidInputError
        ``plan`` is not a paid plan.
    AlreadySubscribedError
        The account has a subscription (change it in the portal), or the open page was just paid.
    ConflictError
        Another request is opening a checkout for this account at this moment.
    """
    now = now or utcnow()
    if not spec(plan).paid:
        raise InvalidInputError(
            "choose a paid plan", [_plan_issue(f"must be one of {', '.join(_paid_names())}")]
        )
    if has_live_subscription(account):
        raise AlreadySubscribedError(
            f"this account already subscribes to {spec(account.plan).title}: change the plan in the "
            "billing portal (POST /billing/portal)"
        )
    customer_id = ensure_customer(ports, account, email)
    expires_at = now + CHECKOUT_TTL
    hold = CheckoutHold(token=secrets.token_hex(12), plan=plan, expires_at=expires_at)
    held = ports.billing.hold_checkout(account.account_id, hold, now, expires_at)
    if held.token != hold.token:
        if held.plan is plan:
            # The same checkout again (double click, second tab): its page if it is made, else
            # replaying its idempotency key with the first request's parameters makes it once.
            if held.url is not None:
                return held.url
            hold = held
            expires_at = held.expires_at or expires_at
        elif held.session_id is None:
            raise ConflictError("a checkout is being opened for this account right now; try again")
        else:
            if not ports.stripe.expire_checkout(held.session_id):
                raise AlreadySubscribedError(
                    "the open checkout for this account has just been paid; change the plan in the "
                    "billing portal (POST /billing/portal)"
                )
            if not ports.billing.replace_checkout(account.account_id, held.token, hold, expires_at):
                raise ConflictError(
                    "another checkout was opened for this account at the same moment; try again"
                )
    price_id = ports.stripe.price_for(plan)
    session = ports.stripe.create_checkout(
        customer_id=customer_id,
        account_id=account.account_id,
        price_id=price_id,
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
        idempotency_key=f"checkout-{account.account_id}-{hold.token}",
    )
    ports.billing.record_checkout(account.account_id, hold.token, session.session_id, session.url)
    return session.url


def _paid_names() -> list[str]:
    return [s.plan.value for s in PLANS.values() if s.paid]


def _plan_issue(message: str) -> FieldIssue:
    return FieldIssue("body.plan", message)


def open_portal(ports: BillingPorts, account: Account, return_url: str) -> str:
    """The billing portal's URL for the account (change card or plan, cancel).

    Raises
    ------
    NotFoundError
        The account has never checked out (it has no Stripe customer).
    """
    if not account.stripe_customer_id:
        raise NotFoundError("billing customer", account.account_id)
    return ports.stripe.create_portal(account.stripe_customer_id, return_url)


def summary(ports: BillingPorts, account: Account) -> BillingSummary:
    """The account's plan, status, period, card and recent invoices."""
    card: tuple[str, str] | None = None
    invoices: list[Invoice] = []
    cancel_at_period_end = False
    if account.stripe_customer_id:
        card = ports.stripe.default_card(account.stripe_customer_id, account.stripe_subscription_id)
        invoices = ports.stripe.recent_invoices(account.stripe_customer_id, limit=10)
    if account.stripe_subscription_id and account.status in LIVE_STATUSES:
        cancel_at_period_end = subscription_state(
            ports.stripe.subscription_json(account.stripe_subscription_id)
        ).cancel_at_period_end
    return BillingSummary(
        plan=account.plan,
        status=account.status,
        period_start=account.period_start,
        period_end=account.period_end,
        trial_ends_at=account.trial_ends_at if account.plan is Plan.TRIAL else None,
        past_due_since=account.past_due_since,
        cancel_at_period_end=cancel_at_period_end,
        card_brand=card[0] if card else None,
        card_last4=card[1] if card else None,
        invoices=invoices,
    )


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class EventOutcome:
    """What handling one event did: whether it wrote the account, and the email it calls for."""

    duplicate: bool = False
    applied: bool = False
    account_id: str | None = None
    notification: Notification | None = None
    previous_status: AccountStatus | None = None  # the account's, before this event
    status: AccountStatus | None = None  # the account's after it, when applied


def is_lapsed(status: AccountStatus) -> bool:
    """An account whose subscription ended (cancelled) or went unpaid: its media is kept for the
    retention period, then expired (``docs/retention.md``)."""
    return status in (AccountStatus.CANCELLED, AccountStatus.UNPAID)


def lapse_changed(outcome: EventOutcome) -> bool:
    """Whether the event moved the account into or out of the lapsed statuses."""
    if not outcome.applied or outcome.previous_status is None or outcome.status is None:
        return False
    return is_lapsed(outcome.previous_status) != is_lapsed(outcome.status)


def handle_event(
    ports: BillingPorts,
    event: BillingEvent,
    now: datetime | None = None,
    then: Callable[[EventOutcome], object] | None = None,
) -> EventOutcome:
    """Apply one verified Stripe event, at most once per event id, in any delivery order.

    The event's id is claimed first (kept :data:`EVENT_CLAIM_TTL`); if applying it fails the claim
    is released, so Stripe's retry applies it then. The returned outcome's ``notification`` is the
    email the event calls for (payment failed, trial ending). ``then`` runs the outcome's follow-ups
    (:mod:`chalicelib.domain.billing_followups`) under the same claim: if it fails, the claim is
    released too and Stripe's retry runs them again (each follow-up is idempotent).

    Raises
    ------
    StorageError
        Stripe or the table could not be reached (the claim is released; Stripe retries).
    """
    now = now or utcnow()
    if event.type not in HANDLED_EVENTS:
        return EventOutcome()
    if not ports.billing.claim_event(event.event_id, EVENT_CLAIM_TTL):
        return EventOutcome(duplicate=True)
    try:
        outcome = _apply(ports, event, now)
        if then is not None:
            then(outcome)
        return outcome
    except Exception:
        ports.billing.release_event(event.event_id)
        raise


def _apply(ports: BillingPorts, event: BillingEvent, now: datetime) -> EventOutcome:
    subscription_id = event.subscription_id
    if event.type == "checkout.session.completed":
        session = ports.stripe.checkout_session(event.object_id)
        subscription_id = session.subscription_id
        if session.client_reference_id:
            ports.billing.release_checkout(session.client_reference_id, session.session_id)
    if subscription_id is None:
        return EventOutcome()
    try:
        sub = subscription_state(ports.stripe.subscription_json(subscription_id))
    except NotFoundError:
        return EventOutcome()  # not in this Stripe account (another mode's, or never ours)
    account_id = sub.account_id or ports.stripe.customer_account_id(sub.customer_id)
    if account_id is None:
        return EventOutcome()  # not a subscription this product made
    try:
        account = ports.accounts.get(account_id)
    except NotFoundError:
        return EventOutcome()
    if account.stripe_customer_id != sub.customer_id:
        return EventOutcome()  # never let one customer's subscription move another's account
    update = billing_update(account, sub, now)
    applied = update is not None and ports.billing.apply_subscription(account_id, update, event.created)
    notification = None
    if event.type == "invoice.payment_failed":
        notification = Notification(
            NotificationKind.PAYMENT_FAILED,
            account_id,
            event.created,
            invoice_id=event.object_id,
            amount_due=event.amount_due,
            currency=event.currency,
            next_attempt_at=event.next_payment_attempt,
        )
    elif event.type == "customer.subscription.trial_will_end" and sub.trial_end is not None:
        notification = Notification(
            NotificationKind.TRIAL_ENDING, account_id, event.created, trial_ends_at=sub.trial_end
        )
    return EventOutcome(
        applied=applied,
        account_id=account_id,
        notification=notification,
        previous_status=account.status,
        status=update.status if applied and update is not None else None,
    )
