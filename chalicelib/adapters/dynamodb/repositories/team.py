"""An account's members (its users) and pending invites, counted together as seats."""

from __future__ import annotations

import logging

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import InviteeItem, InviteItem, SubjectClaimItem, UserItem
from chalicelib.adapters.dynamodb.quotas import counted_write
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _storage_error,
    _tx_connection,
    account_pk,
    subject_pk,
    translated,
)
from chalicelib.adapters.dynamodb.repositories.accounts import USERS
from chalicelib.domain.errors import ConflictError, ForbiddenError, NotFoundError
from chalicelib.domain.models import Role, User
from chalicelib.domain.ports import Quota
from chalicelib.domain.team import Invite

logger = logging.getLogger(__name__)


def invitee_pk(email: str) -> str:
    return f"INVITEE#{email}"


def _invite_from_item(item: InviteItem) -> Invite:
    return Invite(
        account_id=item.pk.removeprefix("ACCOUNT#"),
        invite_id=item.sk.removeprefix("INVITE#"),
        email=item.email,
        role=Role(item.role),
        invited_by=item.invited_by,
        created_at=item.created_at,
    )


def _cancelled_by(exc: TransactWriteError) -> list[bool]:
    """Which of a transaction's writes failed their condition, in order."""
    return [bool(r and r.code == "ConditionalCheckFailed") for r in exc.cancellation_reasons or []]


@translated
class DynamoTeamRepository:
    def members(self, account_id: str) -> list[User]:
        query = UserItem.query(account_pk(account_id), UserItem.sk.startswith("USER#"), consistent_read=True)
        return [USERS.from_item(item) for item in query]

    def invites(self, account_id: str) -> list[Invite]:
        query = InviteItem.query(
            account_pk(account_id), InviteItem.sk.startswith("INVITE#"), consistent_read=True
        )
        return [_invite_from_item(item) for item in query]

    def invites_for(self, email: str) -> list[Invite]:
        found = []
        for entry in InviteeItem.query(invitee_pk(email), consistent_read=True):
            account_id = entry.sk.removeprefix("ACCOUNT#")
            try:
                found.append(
                    _invite_from_item(
                        InviteItem.get(
                            account_pk(account_id), f"INVITE#{entry.invite_id}", consistent_read=True
                        )
                    )
                )
            except InviteItem.DoesNotExist:
                continue  # withdrawn between the two reads
        return sorted(found, key=lambda i: i.created_at)

    def _seats_used(self, account_id: str) -> int:
        return len(self.members(account_id)) + len(self.invites(account_id))

    def add_invite(self, invite: Invite, quota: Quota) -> Invite:
        pk = account_pk(invite.account_id)
        item = InviteItem(
            pk,
            f"INVITE#{invite.invite_id}",
            email=str(invite.email),
            role=invite.role.value,
            invited_by=invite.invited_by,
            created_at=invite.created_at,
        )
        entry = InviteeItem(invitee_pk(str(invite.email)), pk, invite_id=invite.invite_id)

        def write(tx: TransactWrite) -> None:
            tx.save(item, condition=InviteItem.sk.does_not_exist())
            tx.save(entry, condition=InviteeItem.sk.does_not_exist())

        try:
            counted_write(invite.account_id, quota, +1, write, lambda: self._seats_used(invite.account_id))
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "add invite") from exc
            raise ConflictError(f"{invite.email} already has a pending invite to this account") from exc
        return invite

    def delete_invite(self, account_id: str, invite_id: str, quota: Quota) -> Invite:
        pk = account_pk(account_id)
        invite = _invite_from_item(_get(InviteItem, pk, f"INVITE#{invite_id}", "invite", invite_id))

        def write(tx: TransactWrite) -> None:
            tx.delete(InviteItem(pk, f"INVITE#{invite_id}"), condition=InviteItem.sk.exists())
            tx.delete(InviteeItem(invitee_pk(str(invite.email)), pk))

        try:
            counted_write(account_id, quota, -1, write, lambda: self._seats_used(account_id))
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "delete invite") from exc
            raise NotFoundError("invite", invite_id) from exc
        return invite

    def accept_invite(self, invite: Invite, user: User) -> None:
        pk = account_pk(invite.account_id)
        claim = SubjectClaimItem(
            subject_pk(user.subject), "SUBJECT", account_id=user.account_id, user_id=user.user_id
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(claim, condition=SubjectClaimItem.pk.does_not_exist())
                tx.save(USERS.to_item(user), condition=UserItem.pk.does_not_exist())
                tx.delete(InviteItem(pk, f"INVITE#{invite.invite_id}"), condition=InviteItem.sk.exists())
                tx.delete(InviteeItem(invitee_pk(str(invite.email)), pk))
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "accept invite") from exc
            failed = _cancelled_by(exc)
            if failed[:1] == [True]:
                raise ConflictError("that login already belongs to an account") from exc
            raise NotFoundError("invite", invite.invite_id) from exc

    def remove_member(self, account_id: str, user_id: str, quota: Quota) -> User:
        pk = account_pk(account_id)
        user = USERS.from_item(_get(UserItem, pk, f"USER#{user_id}", "member", user_id))
        if user.role is Role.OWNER:
            raise ForbiddenError("the account's owner cannot be removed")

        def write(tx: TransactWrite) -> None:
            tx.delete(
                UserItem(pk, f"USER#{user_id}"),
                condition=UserItem.sk.exists()
                & (UserItem.subject == user.subject)
                & (UserItem.role != Role.OWNER.value),
            )
            tx.delete(SubjectClaimItem(subject_pk(user.subject), "SUBJECT"))

        try:
            counted_write(account_id, quota, -1, write, lambda: self._seats_used(account_id))
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "remove member") from exc
            raise NotFoundError("member", user_id) from exc
        except PynamoDBException as exc:
            raise _storage_error(exc, "remove member") from exc
        return user
