"""Per-account quota counters in DynamoDB (one ``QUOTA#{name}`` item per account and quota).

A count is only ever moved by a conditional ``ADD`` — ``used <= limit - n`` going up, ``used >= n``
going down — so DynamoDB itself refuses the move that would pass a limit, however many Lambdas race.
:func:`counted_write` puts that move in the same transaction as the items a repository writes
(an endpoint and its count are stored together or not at all); :class:`DynamoQuotaCounter` is the
:class:`~chalicelib.domain.ports.QuotaCounter` port for counts with no item of their own.

A counter that does not exist yet is created once, before the first move, at the number of items
already stored (``count_existing``; accounts whose endpoints predate their counter) or at zero.
That count is exact: until the counter exists, no move can commit (each requires it to exist).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.aws_errors import translate, translated_methods
from chalicelib.adapters.dynamodb.models import QuotaCounterItem, TableItem, VideoLedgerItem
from chalicelib.domain.errors import ConflictError, QuotaExceededError
from chalicelib.domain.ports import LedgerMove, Quota, VideoUsage

logger = logging.getLogger(__name__)

#: Overlapping transactions on one counter cancel each other in DynamoDB (``TransactionConflict``);
#: the losers try again after a short random pause (full jitter), this many times in all.
ATTEMPTS = 12
_BACKOFF_BASE_SECONDS = 0.01
_BACKOFF_CAP_SECONDS = 0.4
RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})

#: Adds the caller's own writes to the transaction (the counter's move is added after them).
Write = Callable[[TransactWrite], None]
#: How many of the counted items are stored now (read consistently).
Count = Callable[[], int]


def counter_key(account_id: str, name: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", f"QUOTA#{name}"


def _tx_connection() -> Connection:
    return TableItem._get_connection().connection


@dataclass(frozen=True)
class _Move:
    account_id: str
    name: str
    delta: int  # > 0: reserve, < 0: release
    limit: int | None  # going up only

    @property
    def key(self) -> tuple[str, str]:
        return counter_key(self.account_id, self.name)

    def condition(self) -> Condition:
        if self.delta > 0:
            assert self.limit is not None
            return QuotaCounterItem.used <= self.limit - self.delta
        return QuotaCounterItem.used >= -self.delta


def pause(attempt: int) -> None:
    time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311


def _current(pk: str, sk: str) -> int | None:
    try:
        return int(QuotaCounterItem.get(pk, sk, consistent_read=True).used)
    except QuotaCounterItem.DoesNotExist:
        return None


_UNCOUNTED = "the account's usage could not be counted; try again shortly"


def _set(pk: str, sk: str, value: int, observed: int | None) -> bool:
    """Put the counter at ``value`` if it still is ``observed`` (``None``: does not exist yet);
    whether it was put."""
    condition = (
        QuotaCounterItem.sk.does_not_exist() if observed is None else QuotaCounterItem.used == observed
    )
    try:
        QuotaCounterItem(pk, sk, used=value).save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False  # someone else started or moved it first: the caller reads it again
    return True


def _codes(exc: TransactWriteError) -> list[str | None]:
    return [r.code if r and r.code != "None" else None for r in exc.cancellation_reasons or []]


def _attempt(move: _Move, write: Write | None) -> int | None:
    """One try; the counter's new value when it is moved alone.

    Raises ``UpdateError`` or ``TransactWriteError`` (failed conditions, conflicts) unchanged.
    """
    pk, sk = move.key
    counter = QuotaCounterItem(pk, sk)
    actions: list[Action] = [QuotaCounterItem.used.add(move.delta)]
    if write is None:
        counter.update(actions=actions, condition=move.condition())
        return int(counter.used)
    with TransactWrite(connection=_tx_connection()) as tx:
        write(tx)
        tx.update(counter, actions=actions, condition=move.condition())  # last: its reason is last
    return None


def _failure(exc: PynamoDBException) -> str:
    """``caller`` (one of the caller's conditions failed), ``counter`` (the counter's did),
    ``retry``, or ``other``."""
    if isinstance(exc, TransactWriteError):
        codes = _codes(exc)
        if "ConditionalCheckFailed" in codes[:-1]:
            return "caller"
        if not codes and exc.cause_response_code == "ConditionalCheckFailedException":
            return "caller"  # no reasons to tell whose condition failed: the caller's item says
        if codes and codes[-1] == "ConditionalCheckFailed":
            return "counter"
        if any(code in RETRYABLE for code in codes):
            return "retry"
    elif exc.cause_response_code == "ConditionalCheckFailedException":
        return "counter"
    if exc.cause_response_code in ("ThrottlingException", "ProvisionedThroughputExceededException"):
        return "retry"
    return "other"


def _move(move: _Move, quota: Quota | None, write: Write | None, count_existing: Count | None) -> int | None:
    pk, sk = move.key
    for attempt in range(ATTEMPTS):
        try:
            return _attempt(move, write)
        except (UpdateError, TransactWriteError) as exc:
            kind = _failure(exc)
            if kind == "caller":
                raise
            if kind == "other":
                raise translate(exc, f"dynamodb move the {move.name} counter", _UNCOUNTED) from exc
        if kind == "retry":
            pause(attempt)
            continue
        # The counter's own condition failed: missing, at the limit, or moved meanwhile.
        try:
            used = _current(pk, sk)
            if used is None:
                _set(pk, sk, count_existing() if count_existing else 0, observed=None)
            elif move.delta > 0 and used + move.delta > (move.limit or 0):
                assert quota is not None
                raise quota.exceeded(used)
            elif move.delta < 0 and used < -move.delta:
                # Fewer counted than stored (written by a version that did not count): count
                # again; a count with no items of its own stops at zero instead.
                put = _set(pk, sk, count_existing() if count_existing else 0, observed=used)
                if put and count_existing is None:
                    return 0
            else:
                pause(attempt)  # moved between the write and the read: try again
        except PynamoDBException as exc:
            raise translate(exc, f"dynamodb read or start the {move.name} counter", _UNCOUNTED) from exc
    raise ConflictError("the account's usage is being changed concurrently; try again")


def counted_write(
    account_id: str,
    quota: Quota,
    delta: int,
    write: Write,
    count_existing: Count | None = None,
) -> None:
    """Run ``write`` and move the account's ``quota.name`` counter by ``delta`` in one transaction.

    Parameters
    ----------
    account_id, quota
        Whose counter, and its limit (checked going up only).
    delta
        ``+n`` when ``write`` stores n counted items, ``-n`` when it deletes them.
    write
        Adds the caller's writes to the transaction (with their own conditions).
    count_existing
        How many counted items are stored: the counter starts there if it does not exist yet.

    Raises
    ------
    LimitExceededError
        Going up would pass ``quota.limit`` (:meth:`Quota.exceeded`); nothing is written.
    TransactWriteError
        One of ``write``'s own conditions failed (the caller says what that means); nothing is
        written.
    ConflictError
        The counter stayed contended through every attempt.
    StorageError
        DynamoDB failed otherwise.
    """
    if delta == 0:
        raise ValueError("a counted write moves its counter")
    _move(_Move(account_id, quota.name, delta, quota.limit), quota, write, count_existing)


@translated_methods("dynamodb", _UNCOUNTED)
class DynamoQuotaCounter:
    """The :class:`~chalicelib.domain.ports.QuotaCounter` port on the quota counter items."""

    def usage(self, account_id: str, name: str) -> int:
        """The count so far (0 for a counter never moved)."""
        return _current(*counter_key(account_id, name)) or 0

    def reserve(self, account_id: str, quota: Quota, amount: int = 1) -> int:
        """Count ``amount`` more; see :meth:`~chalicelib.domain.ports.QuotaCounter.reserve`.

        Raises
        ------
        LimitExceededError
            The count would pass ``quota.limit``; nothing is counted.
        StorageError
            The counter could not be moved.
        """
        if amount < 1:
            raise ValueError("reserve at least one")
        used = _move(_Move(account_id, quota.name, amount, quota.limit), quota, None, None)
        assert used is not None
        return used

    def release(self, account_id: str, name: str, amount: int = 1) -> int:
        """Count ``amount`` less, never below zero; returns the new count.

        Raises
        ------
        StorageError
            The counter could not be moved.
        """
        if amount < 1:
            raise ValueError("release at least one")
        used = _move(_Move(account_id, name, -amount, None), None, None, None)
        assert used is not None
        return used


# --------------------------------------------------------------------------- the video ledger


def ledger_key(account_id: str, period: str) -> tuple[str, str]:
    return f"ACCOUNT#{account_id}", f"LEDGER#videos#{period}"


def add_ledger_move(tx: TransactWrite, move: LedgerMove) -> None:
    """Add ``move`` to the transaction (see :class:`~chalicelib.domain.ports.LedgerMove`).

    A reservation is conditional (``taken < limit``; a period's first creates its item); a commit
    or a release is not: each follows a reservation this render holds, and a render must never be
    stuck in a status because its ledger could not move.
    """
    item = VideoLedgerItem(*ledger_key(move.account_id, move.period))
    if move.kind == "reserve":
        if move.limit < 1:
            raise ValueError("a reservation needs a limit of at least one")
        condition = VideoLedgerItem.taken.does_not_exist() | (VideoLedgerItem.taken < move.limit)
        tx.update(item, actions=[VideoLedgerItem.taken.add(1)], condition=condition)
    elif move.kind == "commit":
        tx.update(item, actions=[VideoLedgerItem.committed.add(1)])
    elif move.kind == "release":
        tx.update(item, actions=[VideoLedgerItem.taken.add(-1)])
    else:
        raise ValueError(f"unknown ledger move {move.kind!r}")


def ledger_full(move: LedgerMove) -> QuotaExceededError:
    """The refusal of a reservation whose condition failed (the domain words it for the seller)."""
    usage = DynamoUsageLedger().videos(move.account_id, move.period)
    return QuotaExceededError(
        f"the {move.limit} videos of this period are used or reserved",
        quota="videos",
        limit=move.limit,
        used=usage.taken,
    )


@translated_methods("dynamodb", _UNCOUNTED)
class DynamoUsageLedger:
    """The :class:`~chalicelib.domain.ports.UsageLedger` port: one consistent ``GetItem`` a reading."""

    def videos(self, account_id: str, period: str) -> VideoUsage:
        try:
            item = VideoLedgerItem.get(*ledger_key(account_id, period), consistent_read=True)
        except VideoLedgerItem.DoesNotExist:
            return VideoUsage()
        taken, committed = int(item.taken or 0), int(item.committed or 0)
        return VideoUsage(used=committed, reserved=max(0, taken - committed))

    def count(self, account_id: str, name: str) -> int:
        return _current(*counter_key(account_id, name)) or 0

    def snapshot(
        self, account_id: str, period: str, names: Sequence[str]
    ) -> tuple[VideoUsage, dict[str, int]]:
        """One consistent ``BatchGetItem`` over the period's ledger and the named counters."""
        ledger = ledger_key(account_id, period)
        counters = {counter_key(account_id, name): name for name in names}
        keys = [ledger, *counters]
        table = VideoLedgerItem.Meta.table_name
        request: dict[str, Any] = {
            "RequestItems": {
                table: {
                    "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                    "ConsistentRead": True,
                }
            }
        }
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for _ in range(5):
            answer = _tx_connection().dispatch("BatchGetItem", request)
            for raw in answer.get("Responses", {}).get(table, []):
                found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
            if not answer.get("UnprocessedKeys"):
                break
            request = {"RequestItems": answer["UnprocessedKeys"]}

        def number(raw: dict[str, Any] | None, attribute: str) -> int:
            return int((raw or {}).get(attribute, {}).get("N", 0))

        taken, committed = number(found.get(ledger), "taken"), number(found.get(ledger), "committed")
        counts = {name: number(found.get(key), "used") for key, name in counters.items()}
        return VideoUsage(used=committed, reserved=max(0, taken - committed)), counts
