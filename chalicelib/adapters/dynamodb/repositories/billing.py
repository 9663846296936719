"""The billing side of the table: the account's Stripe fields, its checkout hold, event claims.

Every write is conditional: the customer is set once, a subscription state is written only if it
is not older than the one stored, one checkout is open per account, and an event id is claimed once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamodb.models import AccountItem, CheckoutHoldItem, ClaimItem
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _storage_error,
    account_pk,
    translated,
)
from chalicelib.domain.billing import BillingUpdate, CheckoutHold
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.models import Plan, utcnow

logger = logging.getLogger(__name__)

ACCOUNT_SK = "ACCOUNT"
CHECKOUT_SK = "CHECKOUT"


def _event_pk(event_id: str) -> str:
    return f"CLAIM#stripe-event#{event_id}"


def _hold(item: CheckoutHoldItem) -> CheckoutHold:
    return CheckoutHold(
        token=item.token,
        plan=Plan(item.plan),
        session_id=item.session_id,
        url=item.url,
        expires_at=item.expires_at,
    )


@translated
class DynamoBillingRepository:
    """:class:`~chalicelib.domain.ports.BillingRepository` on the single table."""

    def _update_account(self, account_id: str, actions: Sequence[Action], condition: Condition) -> bool:
        # Through the table connection: Model.update would reset an unset version to 1. The
        # account's version still moves, so optimistic writers elsewhere see the change.
        conn = AccountItem._get_connection()
        try:
            conn.update_item(
                account_pk(account_id),
                ACCOUNT_SK,
                actions=[*actions, AccountItem.version.add(1)],
                condition=AccountItem.pk.exists() & condition,
            )
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise _storage_error(exc, "account billing update") from exc
        return True

    def set_customer(self, account_id: str, customer_id: str) -> str:
        condition = AccountItem.stripe_customer_id.does_not_exist() | (
            AccountItem.stripe_customer_id == customer_id
        )
        if self._update_account(account_id, [AccountItem.stripe_customer_id.set(customer_id)], condition):
            return customer_id
        stored = _get(AccountItem, account_pk(account_id), ACCOUNT_SK, "account", account_id)
        if stored.stripe_customer_id is None:
            raise ConflictError("the account's billing customer could not be saved; try again")
        return stored.stripe_customer_id

    def apply_subscription(self, account_id: str, update: BillingUpdate, changed_at: datetime) -> bool:
        actions = [
            AccountItem.plan.set(update.plan.value),
            AccountItem.status.set(update.status.value),
            AccountItem.stripe_subscription_id.set(update.stripe_subscription_id),
            AccountItem.subscription_changed_at.set(changed_at),
        ]
        for attr, value in (
            (AccountItem.period_start, update.period_start),
            (AccountItem.period_end, update.period_end),
            (AccountItem.past_due_since, update.past_due_since),
        ):
            actions.append(attr.set(value) if value is not None else attr.remove())
        # Not older than what is stored: equal times are written too, since every write is a
        # fresh read of the subscription, made after the event that carries that time.
        condition = AccountItem.subscription_changed_at.does_not_exist() | (
            AccountItem.subscription_changed_at <= changed_at
        )
        return self._update_account(account_id, actions, condition)

    def hold_checkout(
        self, account_id: str, hold: CheckoutHold, now: datetime, expires_at: datetime
    ) -> CheckoutHold:
        for _ in range(3):
            item = CheckoutHoldItem(
                account_pk(account_id),
                CHECKOUT_SK,
                token=hold.token,
                plan=hold.plan.value,
                expires_at=expires_at,
            )
            try:
                item.save(
                    condition=CheckoutHoldItem.pk.does_not_exist() | (CheckoutHoldItem.expires_at < now)
                )
                return hold
            except PutError as exc:
                if not _is_condition_failure(exc):
                    raise _storage_error(exc, "checkout hold") from exc
            try:
                return _hold(CheckoutHoldItem.get(account_pk(account_id), CHECKOUT_SK, consistent_read=True))
            except CheckoutHoldItem.DoesNotExist:
                continue  # released between the two calls: take it again
        raise ConflictError("a checkout is being opened for this account right now; try again")

    def replace_checkout(
        self, account_id: str, old_token: str, hold: CheckoutHold, expires_at: datetime
    ) -> bool:
        item = CheckoutHoldItem(
            account_pk(account_id), CHECKOUT_SK, token=hold.token, plan=hold.plan.value, expires_at=expires_at
        )
        try:
            item.save(condition=CheckoutHoldItem.token == old_token)
        except PutError as exc:
            if _is_condition_failure(exc):
                return False
            raise _storage_error(exc, "checkout hold") from exc
        return True

    def record_checkout(self, account_id: str, token: str, session_id: str, url: str) -> None:
        try:
            CheckoutHoldItem(account_pk(account_id), CHECKOUT_SK).update(
                actions=[CheckoutHoldItem.session_id.set(session_id), CheckoutHoldItem.url.set(url)],
                condition=CheckoutHoldItem.token == token,
            )
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "checkout hold") from exc

    def release_checkout(self, account_id: str, session_id: str) -> None:
        try:
            CheckoutHoldItem(account_pk(account_id), CHECKOUT_SK).delete(
                condition=CheckoutHoldItem.session_id == session_id
            )
        except DeleteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "checkout hold") from exc

    def claim_event(self, event_id: str, ttl: timedelta) -> bool:
        try:
            ClaimItem(_event_pk(event_id), "CLAIM", expires_at=utcnow() + ttl).save(
                condition=ClaimItem.pk.does_not_exist()
            )
        except PutError as exc:
            if _is_condition_failure(exc):
                return False
            raise _storage_error(exc, "stripe event claim") from exc
        return True

    def release_event(self, event_id: str) -> None:
        try:
            ClaimItem(_event_pk(event_id), "CLAIM").delete()
        except DeleteError:
            logger.exception("could not release a Stripe event's claim", extra={"event_id": event_id})
