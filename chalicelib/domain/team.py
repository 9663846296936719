"""Team seats: the owner (or an admin) invites people by email, within the plan's seats.

Seats are members plus pending invites, counted atomically (the ``seats`` quota counter moves in
the same transaction as the invite or the removal), so two invites racing for the last seat cannot
both be stored. An invited person signs up with the invited email and lands in the inviting
account (:func:`chalicelib.domain.identity.onboard`); removing a member frees the seat.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import EmailStr, Field

from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    ForbiddenError,
    InvalidInputError,
    StorageError,
)
from chalicelib.domain.models import Account, Entity, Role, User, new_id, utcnow
from chalicelib.domain.plans import PAID_PLANS, spec

if TYPE_CHECKING:
    from chalicelib.domain.ports import AccountRepository, Mailer, Quota, TeamRepository

from chalicelib.domain.ports import Email

SEATS = "seats"
#: Roles that manage the team.
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


class Invite(Entity):
    account_id: str
    invite_id: str
    email: EmailStr
    role: Role = Role.MEMBER
    invited_by: str  # the inviting user's id
    created_at: datetime = Field(default_factory=utcnow)


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively (Cognito's usernames do too)."""
    return email.strip().lower()


def seat_quota(account: Account) -> Quota:
    """The account's seats (members and pending invites), with what unlocks more."""
    from chalicelib.domain.ports import Quota

    seats = spec(account.plan).seats
    more = next((s for s in PAID_PLANS if s.seats > seats), None)
    unlock = f"; the {more.title} plan has {more.seats}" if more else ""
    return Quota(
        SEATS,
        seats,
        f"the {spec(account.plan).title} plan includes {seats} seat{'s' if seats != 1 else ''} "
        f"(members and pending invites), all taken{unlock}",
    )


def _require_manager(principal: Principal) -> None:
    if principal.role not in MANAGERS:
        raise ForbiddenError("only the account's owner or an admin can manage the team")


def invite(
    principal: Principal,
    email: str,
    role: Role,
    accounts: AccountRepository,
    team: TeamRepository,
    mailer: Mailer,
    sign_up_hint: str,
) -> Invite:
    """Invite ``email`` to the caller's account as ``role`` and email them.

    Raises
    ------
    ForbiddenError
        The caller is a member (only the owner and admins invite).
    InvalidInputError
        ``role`` is owner (an account has one owner).
    ConflictError
        ``email`` is already a member, or already invited.
    LimitExceededError
        Every seat of the plan is taken (members and pending invites).
    """
    _require_manager(principal)
    if role is Role.OWNER:
        raise InvalidInputError(
            "an account has one owner", [FieldIssue("body.role", "invite as 'admin' or 'member'")]
        )
    address = normalize_email(email)
    if any(normalize_email(str(m.email)) == address for m in team.members(principal.account_id)):
        raise ConflictError(f"{address} is already a member of this account")
    account = accounts.get(principal.account_id)
    stored = team.add_invite(
        Invite(
            account_id=principal.account_id,
            invite_id=new_id("inv"),
            email=address,
            role=role,
            invited_by=principal.user_id,
        ),
        seat_quota(account),
    )
    try:
        mailer.send(invitation_email(principal.email, address, account.name, role, sign_up_hint))
    except StorageError:
        # Unsent, the invite would hold a seat nobody knows about: withdrawn, the caller retries.
        team.delete_invite(principal.account_id, stored.invite_id, seat_quota(account))
        raise
    return stored


def invitation_email(inviter: str, address: str, account_name: str, role: Role, sign_up_hint: str) -> Email:
    """The invitation: who invites, to which account, and how to accept (text and escaped HTML)."""
    lines = (
        f"{inviter} invited you to join {account_name} on Tailorcast as {role.value}.",
        f"Sign up with this email address ({address}) to accept: {sign_up_hint}",
    )
    return Email(
        to=address,
        subject=f"You're invited to {account_name} on Tailorcast",
        text="\n\n".join(lines) + "\n",
        html="".join(f"<p>{html.escape(line)}</p>" for line in lines),
    )


def withdraw_invite(
    principal: Principal, invite_id: str, accounts: AccountRepository, team: TeamRepository
) -> None:
    """Withdraw a pending invite of the caller's account, freeing its seat.

    Raises
    ------
    ForbiddenError
        The caller is a member.
    NotFoundError
        No such invite in the caller's account.
    """
    _require_manager(principal)
    team.delete_invite(principal.account_id, invite_id, seat_quota(accounts.get(principal.account_id)))


def remove_member(
    principal: Principal, user_id: str, accounts: AccountRepository, team: TeamRepository
) -> None:
    """Remove a member of the caller's account (never the owner), freeing the seat; the removed
    user's tokens no longer open the account.

    Raises
    ------
    ForbiddenError
        The caller is a member, or the target is the owner.
    NotFoundError
        No such member in the caller's account.
    """
    _require_manager(principal)
    team.remove_member(principal.account_id, user_id, seat_quota(accounts.get(principal.account_id)))


def join(invite: Invite, subject: str) -> User:
    """The user an accepted invite becomes."""
    return User(
        account_id=invite.account_id,
        user_id=new_id("user"),
        subject=subject,
        email=invite.email,
        role=invite.role,
    )
