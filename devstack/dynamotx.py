"""Two fixes to moto's DynamoDB whose cost grows with the data: item-level transaction rollback
and incremental item-size accounting.

moto's ``TransactWriteItems`` deep-copies **every table a transaction touches**, whole, before
each transaction, so that it can restore it if the transaction is cancelled. With the app's
single table that is a copy of the entire database per transaction: time and memory grow with
everything stored (≈ 50 ms per transaction at 10,000 prospects, and gigabytes of garbage over a
CSV import's worth of transactions), while DynamoDB itself costs the same at any size.

:func:`install` keeps moto's transaction logic (conditions, cancellation reasons, validation)
and replaces only the backup: before the transaction runs, each item it names is copied; the
tables themselves are not (a table's deep copy returns the table while a transaction is being
prepared). If moto cancels the transaction, the copied items are put back, so a cancelled
transaction changes nothing, as before.

moto also checks the 400 KB item limit by re-measuring **every attribute of an item each time
one attribute is set** (quadratic in the attributes: 80 % of a prospect's write time). The patch
keeps a running size while an item's attributes are set one after another and measures from
scratch whenever the dict is changed any other way, so the limit is enforced exactly as before.

And moto answers concurrent requests (the local stack's threaded server, tests' threads) in
parallel, evaluating a condition and then writing as two steps: two conditional writes could both
pass (two registrations both under a limit), and a reader could see half a transaction. DynamoDB
applies each request atomically; :func:`install` makes moto do so too, one DynamoDB request at a
time (moto holds the GIL while it works anyway, so nothing that could run in parallel is lost).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_state = threading.local()
_install_lock = threading.Lock()
#: Held while moto answers one DynamoDB request (re-entrant: batch writes call single writes).
_request_lock = threading.RLock()


def _table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    if getattr(_state, "in_transaction", False):
        return self  # moto's whole-table backup: items are backed up one by one instead
    cls = self.__class__
    clone = cls.__new__(cls)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item the transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Key") or op.get("Item") or {}
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError):
            continue  # moto's own validation reports it
        current = table.get_item(hash_key, range_key)
        found.append((table, hash_key, range_key, copy.deepcopy(current)))
    return found


def _restore(touched: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_key, range_key, before in reversed(touched):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        elif before is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before


def _measure(value: Any) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    return int(value.size()) if type(value) is DynamoType else int(bytesize(str(value)))


def _install_item_size() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(LimitedSizeDict, "_incremental_size", False):
        return

    def current_size(self: Any) -> int:
        known = self.__dict__.get("_size")
        if known is None or known[1] != len(self):
            total = sum(_measure(k) + _measure(v) for k, v in self.items())
            known = (total, len(self))
        return int(known[0])

    def setitem(self: Any, key: str, value: Any) -> None:
        replacing = key in self
        if replacing:
            self.__dict__.pop("_size", None)
        total = current_size(self)  # as moto counts it: every key and value there now
        added = bytesize(key) + _measure(value)
        if total + added > 405_000:  # moto's limit (DynamoDB's 400 KB, as moto measures it)
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)
        if replacing:
            self.__dict__.pop("_size", None)
        else:
            self.__dict__["_size"] = (total + added, len(self))

    def invalidating(name: str) -> Any:
        method = getattr(dict, name)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.__dict__.pop("_size", None)
            return method(self, *args, **kwargs)

        return call

    for name in ("__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
        setattr(LimitedSizeDict, name, invalidating(name))
    LimitedSizeDict.__setitem__ = setitem  # type: ignore[method-assign]
    LimitedSizeDict._incremental_size = True  # type: ignore[attr-defined]


def _install_atomic_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "_atomic", False):
        return
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _request_lock:
            return original(self)

    call_action._atomic = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def install() -> None:
    """Patch moto's DynamoDB backend (idempotent, process-wide)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    _install_item_size()
    with _install_lock:
        _install_atomic_requests()
    with _install_lock:
        if getattr(DynamoDBBackend.transact_write_items, "_item_level_rollback", False):
            return
        original = DynamoDBBackend.transact_write_items

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            touched = _touched(self, transact_items)
            tables = dict(self.tables)
            _state.in_transaction = True
            try:
                original(self, transact_items)
            except Exception:
                self.tables.update(tables)  # moto "restores" the (uncopied) tables: the same objects
                _restore(touched)
                raise
            finally:
                _state.in_transaction = False

        transact_write_items._item_level_rollback = True  # type: ignore[attr-defined]
        Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
