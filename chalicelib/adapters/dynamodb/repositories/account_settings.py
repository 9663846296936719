"""The account's own settings and jobs (issue 18): branding on the account item, users' profiles,
export and deletion records, and the eraser that deletes an account's items.

Layout (see ``schema.py``): ``PROFILE#{user_id}``, ``EXPORT#{export_id}`` and ``DELETION`` items
in the account's partition; the branding is the ``branding`` map of the account item itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.dynamodb.mapping import from_attribute
from chalicelib.adapters.dynamodb.models import (
    AccountItem,
    AccountJobItem,
    ApiKeyItem,
    ApiKeyRefItem,
    InviteItem,
    SubjectClaimItem,
    TableItem,
    UserItem,
    UserProfileItem,
)
from chalicelib.adapters.dynamodb.repositories._common import (
    _is_condition_failure,
    _storage_error,
    account_pk,
    campaign_pk,
    subject_pk,
    translated,
)
from chalicelib.adapters.dynamodb.repositories.accounts import USERS
from chalicelib.adapters.dynamodb.repositories.api_keys import key_pk
from chalicelib.adapters.dynamodb.repositories.team import invitee_pk
from chalicelib.domain.account_records import AccountJob, JobKind, UserProfile
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.models import Branding, User
from chalicelib.domain.usage import API_BUCKET, RATE_WINDOW_SECONDS, READS_BUCKET, rate_key, rate_window

#: How far back the eraser deletes rate-limit counters by key (DynamoDB's TTL may lag by days).
RATE_COUNTER_SWEEP = 7 * 24 * 3600

logger = logging.getLogger(__name__)


@translated
class DynamoBrandingStore:
    def set_branding(self, account_id: str, branding: Branding | None) -> None:
        """One ``UpdateItem`` of the ``branding`` attribute that also bumps the account's version,
        so a billing write based on an older read fails its version check instead of undoing it."""
        value = branding.model_dump(mode="json") if branding is not None else None
        action = AccountItem.branding.set(value) if value is not None else AccountItem.branding.remove()
        try:
            # The table connection itself: Model.update would manage the version its own way.
            AccountItem._get_connection().update_item(
                account_pk(account_id),
                "ACCOUNT",
                actions=[action, AccountItem.version.add(1)],
                condition=AccountItem.pk.exists(),
            )
        except UpdateError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("account", account_id) from exc
            raise _storage_error(exc, "DynamoBrandingStore.set_branding") from exc


@translated
class DynamoProfileRepository:
    def get(self, account_id: str, user_id: str) -> UserProfile:
        try:
            item = UserProfileItem.get(account_pk(account_id), f"PROFILE#{user_id}", consistent_read=True)
        except UserProfileItem.DoesNotExist:
            return UserProfile(account_id=account_id, user_id=user_id)
        data = from_attribute(item.data)
        return UserProfile.model_validate({**data, "account_id": account_id, "user_id": user_id})

    def save(self, profile: UserProfile) -> UserProfile:
        data = profile.model_dump(mode="json", exclude={"account_id", "user_id"})
        UserProfileItem(account_pk(profile.account_id), f"PROFILE#{profile.user_id}", data=data).save()
        return profile

    def users(self, account_id: str) -> list[User]:
        items = UserItem.query(account_pk(account_id), UserItem.sk.startswith("USER#"), consistent_read=True)
        return sorted((USERS.from_item(i) for i in items), key=lambda u: (u.created_at, u.user_id))


def _job_sk(kind: JobKind, job_id: str) -> str:
    return "DELETION" if kind is JobKind.DELETION else f"EXPORT#{job_id}"


@translated
class DynamoAccountJobRepository:
    def add(self, job: AccountJob) -> tuple[AccountJob, bool]:
        item = self._item(job)
        try:
            item.save(condition=AccountJobItem.pk.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                return self.get(job.account_id, job.kind, job.job_id), False
            raise _storage_error(exc, "DynamoAccountJobRepository.add") from exc
        return job, True

    def get(self, account_id: str, kind: JobKind, job_id: str) -> AccountJob:
        try:
            item = AccountJobItem.get(account_pk(account_id), _job_sk(kind, job_id), consistent_read=True)
        except AccountJobItem.DoesNotExist as exc:
            raise NotFoundError(kind.value, job_id) from exc
        return AccountJob.model_validate({**from_attribute(item.data), "account_id": account_id})

    def save(self, job: AccountJob) -> AccountJob:
        self._item(job).save()
        return job

    @staticmethod
    def _item(job: AccountJob) -> AccountJobItem:
        return AccountJobItem(
            account_pk(job.account_id),
            _job_sk(job.kind, job.job_id),
            status=job.status.value,
            data=job.model_dump(mode="json", exclude={"account_id"}),
        )


def _keys(pk: str, sk_prefix: str | None = None) -> Iterator[TableItem]:
    condition = TableItem.sk.startswith(sk_prefix) if sk_prefix else None
    yield from TableItem.query(pk, condition, consistent_read=True, attributes_to_get=["pk", "sk"])


@translated
class DynamoAccountEraser:
    """Deletes an account's items. Every partition key of an account starts with
    ``ACCOUNT#{id}``: the account's own partition and one per campaign (found through the campaign
    items). The items outside them that point at the account (see ``schema.py``) are:

    * the users' login claims ``SUBJECT#{sub}`` (:meth:`erase_user`);
    * the API keys' lookup items ``APIKEY#{sha256}``, found through the account's
      ``APIKEY#{key_id}`` items (:meth:`erase_pointers`);
    * the invites' lookup items ``INVITEE#{email}`` / ``ACCOUNT#{id}``, found through its
      ``INVITE#…`` items (:meth:`erase_pointers`);
    * the API rate-limit counters ``RATE#{api|reads}#{id}#{window}``, one per budget and hour,
      each deleted by TTL an hour after its window; DynamoDB's TTL may lag by days, so the last
      week's windows are deleted by key (:meth:`erase_pointers`).

    Watch tokens are index keys of the prospect items and go with them. Stripe event claims,
    notification claims and beacon claims (``CLAIM#…``) name no account (an event id, a hash, a
    session id)."""

    def campaign_ids(self, account_id: str) -> list[str]:
        return [i.sk.removeprefix("CAMPAIGN#") for i in _keys(account_pk(account_id), "CAMPAIGN#")]

    def erase_campaign(self, account_id: str, campaign_id: str) -> int:
        deleted = self._delete_all(_keys(campaign_pk(account_id, campaign_id)))
        TableItem(account_pk(account_id), f"CAMPAIGN#{campaign_id}").delete()  # after its partition
        return deleted + 1

    def erase_user(self, user: User) -> None:
        claim = SubjectClaimItem(subject_pk(user.subject), "SUBJECT")
        try:
            # Only the claim that points at this account's user: never another account's login.
            claim.delete(condition=SubjectClaimItem.account_id == user.account_id)
        except DeleteError as exc:
            if not _is_condition_failure(exc):  # failed condition: gone already, or not ours
                raise _storage_error(exc, "DynamoAccountEraser.erase_user") from exc
        TableItem(account_pk(user.account_id), f"USER#{user.user_id}").delete()

    def erase_pointers(self, account_id: str, now: datetime | None = None) -> int:
        deleted = 0
        pk = account_pk(account_id)
        for ref in ApiKeyRefItem.query(pk, ApiKeyRefItem.sk.startswith("APIKEY#"), consistent_read=True):
            lookup = ApiKeyItem(key_pk(ref.key_hash), "APIKEY")
            deleted += self._delete_if_ours(lookup, ApiKeyItem.account_id == account_id)
        invites = InviteItem.query(pk, InviteItem.sk.startswith("INVITE#"), consistent_read=True)
        invitees = [TableItem(invitee_pk(i.email), pk) for i in invites]
        start, _ = rate_window(now)
        windows = range(start, start - RATE_COUNTER_SWEEP, -RATE_WINDOW_SECONDS)
        counters = [
            TableItem(f"RATE#{rate_key(account_id, w, bucket)}", "COUNT")
            for w in windows
            for bucket in (API_BUCKET, READS_BUCKET)
        ]
        # Deleting an absent item is no error: the counters' keys are spelled, not read first.
        self._delete_all([*invitees, *counters])
        return deleted + len(invitees)

    @staticmethod
    def _delete_if_ours(item: TableItem, condition: Any) -> int:
        try:
            item.delete(condition=condition)
        except DeleteError as exc:
            if _is_condition_failure(exc):
                return 0  # gone already, or not this account's
            raise _storage_error(exc, "DynamoAccountEraser.erase_pointers") from exc
        return 1

    def erase_account_items(self, account_id: str, keep: Sequence[str]) -> int:
        return self._delete_all(i for i in _keys(account_pk(account_id)) if i.sk not in keep)

    def erase_last(self, account_id: str, sort_keys: Sequence[str]) -> None:
        for sk in sort_keys:
            TableItem(account_pk(account_id), sk).delete()

    @staticmethod
    def _delete_all(items: Iterator[TableItem] | Any) -> int:
        deleted = 0
        with TableItem.batch_write() as batch:
            for item in items:
                batch.delete(item)
                deleted += 1
        return deleted


@translated
class DynamoAccountDirectory:
    def account_ids(self) -> Iterator[str]:
        """Every account's id: a scan for the account items (the weekly digest's walk; projection
        of the keys only)."""
        for item in TableItem.scan(TableItem.sk == "ACCOUNT", attributes_to_get=["pk", "sk"]):
            if item.pk.startswith("ACCOUNT#") and "#" not in item.pk.removeprefix("ACCOUNT#"):
                yield item.pk.removeprefix("ACCOUNT#")
