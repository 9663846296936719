"""Identity: who a signed-up person is in Tailorcast, created once per Cognito user.

Cognito owns sign-up, codes, passwords and tokens (:class:`~chalicelib.domain.ports.IdentityProvider`);
when a user confirms their email, the pool's post-confirmation trigger calls :func:`onboard`, which
makes their Account, owner User and trial, or adds them to the account that invited them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import create_account
from chalicelib.domain.errors import ConflictError, NotFoundError
from chalicelib.domain.models import User
from chalicelib.domain.ports import AccountRepository, TeamRepository
from chalicelib.domain.team import join, normalize_email

#: Cognito's password policy for the pool (CDK and the local stack set the same).
PASSWORD_POLICY = "at least 10 characters, with an upper-case letter, a lower-case letter and a digit"  # noqa: S105


@dataclass(frozen=True)
class NewIdentity:
    """What a confirmed Cognito user brings (the trigger's ``request.userAttributes``)."""

    subject: str  # Cognito's `sub`
    email: str
    name: str | None = None
    company: str | None = None

    def account_name(self) -> str:
        return (self.company or self.name or normalize_email(self.email).split("@", 1)[0]).strip()[:200]


def onboard(identity: NewIdentity, accounts: AccountRepository, team: TeamRepository) -> tuple[User, bool]:
    """The user for ``identity.subject``, created exactly once: (user, created now).

    A pending invite for the email puts the user in the inviting account (the oldest invite, if
    several); otherwise a new account on the trial is created with the user as its owner. Every
    write is conditional on the subject being unclaimed, so a retried trigger, or two racing,
    create nothing twice: the loser finds the winner's user.

    Raises
    ------
    StorageError
        The table could not be written (the trigger fails and Cognito reports it).
    """
    try:
        return accounts.user_by_subject(identity.subject), False
    except NotFoundError:
        pass
    try:
        for invite in team.invites_for(normalize_email(identity.email)):
            user = join(invite, identity.subject)
            try:
                team.accept_invite(invite, user)
            except NotFoundError:
                continue  # withdrawn meanwhile: the next one, or an account of their own
            return user, True
        _, owner = create_account(
            accounts, normalize_email(identity.email), identity.account_name(), identity.subject
        )
    except ConflictError:
        return accounts.user_by_subject(identity.subject), False  # a concurrent attempt won
    return owner, True
