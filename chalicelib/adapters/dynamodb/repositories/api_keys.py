"""API keys: a lookup item keyed by the key's hash, and a listed item in the account's partition."""

from __future__ import annotations

import logging
from datetime import datetime

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import ApiKeyItem, ApiKeyRefItem
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _storage_error,
    _tx_connection,
    account_pk,
    translated,
)
from chalicelib.domain.errors import ConflictError, NotFoundError
from chalicelib.domain.models import ApiKey

logger = logging.getLogger(__name__)


def key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


def _key_from_item(item: ApiKeyItem) -> ApiKey:
    return ApiKey(
        account_id=item.account_id,
        key_id=item.key_id,
        user_id=item.user_id,
        name=item.name,
        prefix=item.prefix,
        created_at=item.created_at,
        last_used_at=item.last_used_at,
    )


@translated
class DynamoApiKeyRepository:
    """The :class:`~chalicelib.domain.ports.ApiKeyRepository` port."""

    def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        lookup = ApiKeyItem(
            key_pk(key_hash),
            "APIKEY",
            account_id=key.account_id,
            user_id=key.user_id,
            key_id=key.key_id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
        )
        listed = ApiKeyRefItem(
            account_pk(key.account_id),
            f"APIKEY#{key.key_id}",
            key_hash=key_hash,
            user_id=key.user_id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(lookup, condition=ApiKeyItem.pk.does_not_exist())
                tx.save(listed, condition=ApiKeyRefItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError("that API key already exists") from exc
            raise _storage_error(exc, "DynamoApiKeyRepository.add") from exc
        return key

    def by_hash(self, key_hash: str) -> ApiKey:
        return _key_from_item(_get(ApiKeyItem, key_pk(key_hash), "APIKEY", "API key", "(hidden)"))

    def list(self, account_id: str) -> list[ApiKey]:
        refs = list(
            ApiKeyRefItem.query(
                account_pk(account_id),
                ApiKeyRefItem.sk.startswith("APIKEY#"),
                consistent_read=True,
                scan_index_forward=False,
            )
        )
        if not refs:
            return []
        found = {
            item.pk: item
            for item in ApiKeyItem.batch_get(
                [(key_pk(r.key_hash), "APIKEY") for r in refs], consistent_read=True
            )
        }
        keys = []
        for ref in refs:
            item = found.get(key_pk(ref.key_hash))
            if item is not None and item.account_id == account_id:
                keys.append(_key_from_item(item))
        return keys

    def delete(self, account_id: str, key_id: str) -> None:
        ref = _get(ApiKeyRefItem, account_pk(account_id), f"APIKEY#{key_id}", "API key", key_id)
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.delete(ApiKeyRefItem(ref.pk, ref.sk), condition=ApiKeyRefItem.pk.exists())
                tx.delete(ApiKeyItem(key_pk(ref.key_hash), "APIKEY"))
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("API key", key_id) from exc
            raise _storage_error(exc, "DynamoApiKeyRepository.delete") from exc

    def touch(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        item = ApiKeyItem(key_pk(key_hash), "APIKEY")
        try:
            item.update(
                actions=[ApiKeyItem.last_used_at.set(now)],
                condition=ApiKeyItem.pk.exists()
                & (ApiKeyItem.last_used_at.does_not_exist() | (ApiKeyItem.last_used_at < unless_since)),
            )
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return  # another request wrote it in the last minute, or the key was just revoked
            logger.warning("could not record an API key's last use", exc_info=True)
        except PynamoDBException:
            logger.warning("could not record an API key's last use", exc_info=True)
