"""Account sign-up: a tenant and its first (owner) user, created together."""

from __future__ import annotations

from chalicelib.domain.models import Account, Role, User, new_id
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
