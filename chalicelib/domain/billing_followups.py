"""What a Stripe webhook's outcome sets off beyond the account's billing fields (issue 18):

* the email it calls for, through :mod:`chalicelib.domain.notifications` (payment failed, trial
  ending), to the account's owners and admins who keep that notification on, once per invoice
  attempt or trial end (the notification's dedupe claim: a duplicated or retried event, even one
  whose own claim was released, sends nothing twice);
* the ``lapsed`` retention tag on the account's media when the event moved the account into or
  out of the lapsed statuses (:mod:`chalicelib.domain.media_retention`, an asynchronous task).

They run under the event's claim (:func:`chalicelib.domain.billing.handle_event`'s ``then``): if
one fails the claim is released and Stripe's retry runs them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import billing, media_retention, notifications
from chalicelib.domain.ports import TaskStarter

#: Symbols of the currencies the product bills in; any other is shown by its code.
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
#: Currencies without a minor unit (Stripe's zero-decimal currencies that we might meet).
_ZERO_DECIMAL = frozenset({"jpy", "krw"})


@dataclass(frozen=True)
class WebhookPorts:
    billing: billing.BillingPorts
    # Built only when an email is due: most events send none.
    notifications: Callable[[], notifications.NotificationPorts]
    tasks: TaskStarter


def format_amount(amount: int, currency: str) -> str:
    """``7900, "usd"`` → ``"$79.00"``; a currency without a symbol here: ``"79.00 CHF"``."""
    code = currency.lower()
    value = f"{amount:,}" if code in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code.upper()}"


def send_notification(ports: notifications.NotificationPorts, notice: billing.Notification) -> int:
    """Email a billing notification; returns how many emails went (0: sent before, turned off,
    or not enough facts to say anything)."""
    if notice.kind is billing.NotificationKind.PAYMENT_FAILED and notice.invoice_id:
        amount = (
            format_amount(notice.amount_due, notice.currency)
            if notice.amount_due is not None and notice.currency
            else None
        )
        return notifications.notify_payment_failed(
            ports,
            notice.account_id,
            notice.invoice_id,
            amount=amount,
            next_attempt_at=notice.next_attempt_at,
        )
    if notice.kind is billing.NotificationKind.TRIAL_ENDING and notice.trial_ends_at is not None:
        return notifications.notify_trial_ending(ports, notice.account_id, notice.trial_ends_at)
    return 0


def follow_up(ports: WebhookPorts, outcome: billing.EventOutcome) -> None:
    """The outcome's email and retention task (idempotent: safe to run again on a retry)."""
    if outcome.notification is not None:
        send_notification(ports.notifications(), outcome.notification)
    if outcome.account_id is not None and billing.lapse_changed(outcome):
        media_retention.start(ports.tasks, outcome.account_id)


def handle_webhook_event(
    ports: WebhookPorts, event: billing.BillingEvent, now: datetime | None = None
) -> billing.EventOutcome:
    """Apply a verified Stripe event and its follow-ups, at most once per event id.

    Raises
    ------
    StorageError
        Stripe, the table, the mailer or the task starter failed: nothing is remembered of the
        event, and Stripe's retry handles it again.
    """
    return billing.handle_event(ports.billing, event, now, then=lambda outcome: follow_up(ports, outcome))
