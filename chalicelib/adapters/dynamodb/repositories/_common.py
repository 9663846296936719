"""What every repository shares: keys, cursors, versions, paging and the stored-data guard."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib.adapters.aws_errors import translate, translated_methods
from chalicelib.adapters.dynamodb.models import (
    TableItem,
)
from chalicelib.domain.errors import (
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    StoredDataError,
    TailorcastError,
)
from chalicelib.domain.models import (
    Page,
    UnreadableItem,
)

logger = logging.getLogger(__name__)


M = TypeVar("M", bound=Model)


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def campaign_pk(account_id: str, campaign_id: str) -> str:
    return f"ACCOUNT#{account_id}#CAMPAIGN#{campaign_id}"


def subject_pk(subject: str) -> str:
    return f"SUBJECT#{subject}"


def encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, sk_prefix: str) -> str | None:
    """Decode an opaque cursor to the sort key it resumes after.

    Only the sort key travels; the partition key is always rebuilt from the caller's account,
    so a cursor can never page through another tenant's partition.

    Raises
    ------
    InvalidInputError
        If the cursor was not issued by us for this kind of listing.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sk = json.loads(base64.urlsafe_b64decode(padded))["sk"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(
            "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page")]
        ) from exc
    if not isinstance(sk, str) or not sk.startswith(sk_prefix):
        raise InvalidInputError(
            "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page")]
        )
    return sk


def _version(version: int) -> dict[str, Any]:
    """Version kwarg for a PynamoDB item: absent for a new item (→ attribute_not_exists)."""
    return {"version": version} if version else {}


def _get(model: type[M], pk: str, sk: str, kind: str, ident: str) -> M:
    try:
        return model.get(pk, sk, consistent_read=True)
    except model.DoesNotExist as exc:
        raise NotFoundError(kind, ident) from exc


def _is_condition_failure(exc: PynamoDBException) -> bool:
    return exc.cause_response_code in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def _page(
    model: type[M],
    pk: str,
    sk_prefix: str,
    limit: int,
    cursor: str | None,
    convert: Callable[[M], Any],
) -> Page[Any]:
    start = decode_cursor(cursor, sk_prefix)
    result = model.query(
        pk,
        model.sk.startswith(sk_prefix),  # type: ignore[attr-defined]
        limit=limit,
        last_evaluated_key={"pk": {"S": pk}, "sk": {"S": start}} if start else None,
        consistent_read=True,
        scan_index_forward=False,  # ULIDs sort by time: newest first
    )
    items: list[Any] = []
    unreadable: list[UnreadableItem] = []
    for item in result:
        try:
            items.append(convert(item))
        except StoredDataError as exc:  # an error on that item, never on the list around it
            sort_key = str(getattr(item, "sk", ""))
            unreadable.append(UnreadableItem(id=sort_key.split("#", 1)[-1], error=exc.message))
    last = result.last_evaluated_key
    return Page(items=items, cursor=encode_cursor(last["sk"]["S"]) if last else None, unreadable=unreadable)


def _split_campaign_pk(pk: str) -> tuple[str, str]:
    account_part, campaign_part = pk.split("#CAMPAIGN#", 1)
    return account_part.removeprefix("ACCOUNT#"), campaign_part


def _tx_connection() -> Connection:
    """The table's (cached) low-level connection, for transactions: a new ``Connection`` per
    transaction would build a new botocore client each time (~0.1 s)."""
    return TableItem._get_connection().connection


class _ProspectGone(Exception):
    """A video's prospect was deleted while the video moved (the video is stored alone)."""


E = TypeVar("E", bound=BaseModel)


def _stored(model: type[E], data: dict[str, Any], what: str) -> tuple[E, list[str]]:
    """Read a sub-document an older version may have stored against today's rules: its invalid
    fields fall back to their defaults (logged, and returned so the caller can say so).

    Raises
    ------
    StoredDataError
        Even with the invalid fields reset it does not validate (a required field is bad).
    """
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        bad = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
    logger.warning("stored %s is invalid; fields reset to defaults", what, extra={"fields": bad})
    try:
        return model.model_validate({k: v for k, v in data.items() if k not in bad}), bad
    except ValidationError as exc:
        raise StoredDataError(f"the stored {what} is invalid ({', '.join(bad)})") from exc


#: What a caller hears when DynamoDB fails (the cause is logged by the translation).
_REFUSED = "the database could not complete the request"
_UNAVAILABLE = "the database is unavailable; try again shortly"
_BUSY = "the database is busy; try again shortly"


def _storage_error(exc: BaseException, operation: str, message: str = _REFUSED) -> TailorcastError:
    """A PynamoDB failure that the call site does not handle itself, as a domain error: throttling
    and transient faults are retryable (``ThrottledError``/``StorageError`` with ``retry_after``)."""
    return translate(exc, f"dynamodb {operation}", message, throttled=_BUSY, unreachable=_UNAVAILABLE)


#: Every public method of a repository translates what DynamoDB raises (reads included).
translated = translated_methods("dynamodb", _REFUSED, throttled=_BUSY, unreachable=_UNAVAILABLE)
