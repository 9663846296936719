"""Accounts, their users, and the login (subject) each user signs in with."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.mapping import ItemMapping
from chalicelib.adapters.dynamodb.models import (
    AccountItem,
    SubjectClaimItem,
    UserItem,
)
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _storage_error,
    _tx_connection,
    account_pk,
    subject_pk,
    translated,
)
from chalicelib.domain.errors import (
    ConflictError,
    NotFoundError,
)
from chalicelib.domain.models import (
    Account,
    User,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- accounts


ACCOUNTS: ItemMapping[Account, AccountItem] = ItemMapping(
    Account,
    AccountItem,
    key=lambda a: (account_pk(a.account_id), "ACCOUNT"),
    ids=lambda item: {"account_id": item.pk.removeprefix("ACCOUNT#")},
)
USERS: ItemMapping[User, UserItem] = ItemMapping(
    User,
    UserItem,
    key=lambda u: (account_pk(u.account_id), f"USER#{u.user_id}"),
    ids=lambda item: {
        "account_id": item.pk.removeprefix("ACCOUNT#"),
        "user_id": item.sk.removeprefix("USER#"),
    },
)


@translated
class DynamoAccountRepository:
    def create(self, account: Account, owner: User) -> None:
        account_item = ACCOUNTS.to_item(account.model_copy(update={"version": 0}))
        user_item = USERS.to_item(owner)
        claim = SubjectClaimItem(
            subject_pk(owner.subject),
            "SUBJECT",
            account_id=account.account_id,
            user_id=owner.user_id,
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(account_item, condition=AccountItem.pk.does_not_exist())
                tx.save(user_item, condition=UserItem.pk.does_not_exist())
                tx.save(claim, condition=SubjectClaimItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError("that login already belongs to an account") from exc
            raise _storage_error(exc, "DynamoAccountRepository.create") from exc

    def get(self, account_id: str) -> Account:
        return ACCOUNTS.from_item(_get(AccountItem, account_pk(account_id), "ACCOUNT", "account", account_id))

    def user_by_subject(self, subject: str) -> User:
        claim = _get(SubjectClaimItem, subject_pk(subject), "SUBJECT", "user", subject)
        item = _get(UserItem, account_pk(claim.account_id), f"USER#{claim.user_id}", "user", subject)
        return USERS.from_item(item)

    # ----------------------------------------------------------------- a request's principal

    def user_and_account(self, account_id: str, user_id: str) -> tuple[User, Account]:
        """The user and its account in ONE ``BatchGetItem`` (consistent), so that every request
        knows its plan and standing (rate limit, entitlements, lapsed) with no round trip of its own.

        Raises
        ------
        NotFoundError
            The user or the account is gone.
        """
        keys = {
            (account_pk(account_id), f"USER#{user_id}"): UserItem,
            (account_pk(account_id), "ACCOUNT"): AccountItem,
        }
        table = AccountItem.Meta.table_name
        request: dict[str, object] = {
            "RequestItems": {
                table: {
                    "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                    "ConsistentRead": True,
                }
            }
        }
        found: dict[tuple[str, str], dict[str, object]] = {}
        connection = _tx_connection()
        try:
            for _ in range(5):  # unprocessed keys (throttling) are asked again; rarely more than once
                answer = connection.dispatch("BatchGetItem", request)
                for raw in answer.get("Responses", {}).get(table, []):
                    found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
                unprocessed = answer.get("UnprocessedKeys") or {}
                if not unprocessed:
                    break
                request = {"RequestItems": unprocessed}
        except (PynamoDBException, BotoCoreError, ClientError) as exc:
            raise _storage_error(exc, "DynamoAccountRepository.user_and_account") from exc
        (user_key, account_key) = keys
        if user_key not in found or account_key not in found:
            raise NotFoundError("user", user_id)
        user = USERS.from_item(UserItem.from_raw_data(found[user_key]))
        account = ACCOUNTS.from_item(AccountItem.from_raw_data(found[account_key]))
        return user, account

    def login_of(self, subject: str) -> tuple[str, str]:
        claim = _get(SubjectClaimItem, subject_pk(subject), "SUBJECT", "user", subject)
        return str(claim.account_id), str(claim.user_id)

    def principal_by_subject(self, subject: str) -> tuple[User, Account]:
        return self.user_and_account(*self.login_of(subject))
