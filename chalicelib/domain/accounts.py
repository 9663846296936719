"""Account sign-up: a tenant and its first (owner) user, created together."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.errors import AccountInactiveError
from chalicelib.domain.models import Account, AccountStatus, Plan, Role, User, new_id, utcnow
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
    """Refuse new work (campaigns, uploads, renders, endpoints…) on an account that has lapsed.

    A cancelled account, or a trial past its end, still reads its data and its sent watch links
    keep playing; it only creates nothing new. ``past_due`` is Stripe's retry window after a failed
    payment: the seller keeps working while the card is retried.

    Raises
    ------
    AccountInactiveError
        The account is cancelled, or on a trial that has ended.
    """
    now = now or utcnow()
    if account.status is AccountStatus.CANCELLED:
        raise AccountInactiveError("this account is cancelled: its data can be read, but nothing new created")
    if account.plan is Plan.TRIAL and account.trial_ends_at is not None and account.trial_ends_at <= now:
        raise AccountInactiveError(
            f"the free trial ended on {account.trial_ends_at:%Y-%m-%d}: choose a plan to create new work"
        )
