"""Account sign-up: a tenant and its first (owner) user, created together."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.errors import AccountInactiveError
from chalicelib.domain.models import (
    PAST_DUE_GRACE_DAYS,
    Account,
    AccountStatus,
    Plan,
    Role,
    User,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import AccountRepository


def create_account(accounts: AccountRepository, email: str, name: str, subject: str) -> tuple[Account, User]:
    """Create an account on a trial plan, owned by the identity ``subject``.

    Raises
    ------
    ConflictError
        If ``subject`` already belongs to an account.
    """
    account = Account.start_trial(name=name)
    owner = User(
        account_id=account.account_id,
        user_id=new_id("user"),
        subject=subject,
        email=email,
        role=Role.OWNER,
    )
    accounts.create(account, owner)
    return account, owner


def ensure_can_create(account: Account, now: datetime | None = None) -> None:
    """Refuse new work (campaigns, uploads, renders, endpoints, API keys…) on a lapsed account.

    A lapsed account still reads, changes and deletes its data, and its sent watch links keep
    playing (the public watch routes never look at the account's standing); it only creates
    nothing new until it subscribes. ``past_due`` is Stripe's retry window after a failed payment:
    the seller keeps working for :data:`PAST_DUE_GRACE_DAYS` from ``past_due_since``.

    Raises
    ------
    AccountInactiveError
        (402, ``unlock: subscribe``) The trial has ended, the account is ``unpaid`` or
        ``cancelled``, or it has been ``past_due`` for longer than the grace period.
    """
    now = now or utcnow()
    status = account.status
    if status is AccountStatus.CANCELLED:
        raise AccountInactiveError(
            "this account's subscription is cancelled: its data can be read and its watch links keep "
            "playing, but nothing new can be created; subscribe to a plan to continue"
        )
    if status is AccountStatus.UNPAID:
        raise AccountInactiveError(
            "this account's last invoice is unpaid after every retry: nothing new can be created until "
            "it is paid; update the card in the billing portal"
        )
    if status is AccountStatus.PAST_DUE:
        since = account.past_due_since or now
        ends = since + timedelta(days=PAST_DUE_GRACE_DAYS)
        if now >= ends:
            raise AccountInactiveError(
                f"the payment has been past due since {since:%Y-%m-%d} and the {PAST_DUE_GRACE_DAYS}-day "
                f"grace period ended on {ends:%Y-%m-%d}: update the card in the billing portal to "
                "create new work"
            )
    if account.plan is Plan.TRIAL and account.trial_ends_at is not None and account.trial_ends_at <= now:
        raise AccountInactiveError(
            f"the free trial ended on {account.trial_ends_at:%Y-%m-%d}: "
            "subscribe to a plan to create new work"
        )
