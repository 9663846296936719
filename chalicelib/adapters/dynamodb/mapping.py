"""One item↔model mapper: fields are copied between a pydantic domain model and a PynamoDB item
by name, so adding a field means adding it to the model and to the item, nothing else.

What does not copy by name is said once per aggregate, in :class:`ItemMapping`'s hooks: the keys
(the ids live in ``pk``/``sk``), fields stored in another shape (counters flattened, pairs kept in
order as a list), and derived attributes (index keys, a TTL). Values convert generically: an enum
is stored as its value, a nested model as a map of JSON values, a map attribute is read back as a
dict, and an attribute that is absent (an item written before the field existed) leaves the
model's default.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pynamodb.attributes import MapAttribute
from pynamodb.models import Model

D = TypeVar("D", bound=BaseModel)
I = TypeVar("I", bound=Model)  # noqa: E741 (the item, next to D the domain object)

#: Handled by PynamoDB itself (``VersionAttribute``): set only when the object has been stored.
VERSION = "version"


def to_attribute(value: Any) -> Any:
    """A domain value as PynamoDB stores it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_attribute(v) for v in value]
    if isinstance(value, set | frozenset):
        return {to_attribute(v) for v in value}
    if isinstance(value, dict):
        return {k: to_attribute(v) for k, v in value.items()}
    return value


def from_attribute(value: Any) -> Any:
    """A stored value as plain Python, for pydantic to validate into the field's type."""
    if isinstance(value, MapAttribute):
        return {k: from_attribute(v) for k, v in value.as_dict().items()}
    if isinstance(value, list):
        return [from_attribute(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # DynamoDB numbers come back as floats when they were written as such
    return value


def _nothing(_: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ItemMapping(Generic[D, I]):
    """How one aggregate's domain model and its item map onto each other.

    Parameters
    ----------
    model, item
        The pydantic model and the PynamoDB item class.
    key
        The item's ``(pk, sk)`` for a domain object.
    ids
        The domain fields that live in the keys, read back from an item.
    exclude
        Domain fields with the same name as an attribute that the hooks handle instead.
    to_item_extra
        Attributes the item stores besides the common fields (derived keys, flattened values, a TTL).
    from_item_extra
        Domain fields read from the item otherwise than by name (they win over the copied ones).
    """

    model: type[D]
    item: type[I]
    key: Callable[[D], tuple[str, str]]
    ids: Callable[[I], dict[str, Any]]
    exclude: Collection[str] = ()
    to_item_extra: Callable[[D], Mapping[str, Any]] = _nothing
    from_item_extra: Callable[[I], Mapping[str, Any]] = _nothing
    _common: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        attributes = self.item.get_attributes()
        common = tuple(
            name
            for name in self.model.model_fields
            if name in attributes and name != VERSION and name not in self.exclude
        )
        object.__setattr__(self, "_common", common)

    @property
    def common_fields(self) -> tuple[str, ...]:
        """The fields copied by name (the rest is the hooks' business)."""
        return self._common

    def item_values(self, obj: D) -> dict[str, Any]:
        """The item's attributes for ``obj``, keys and version aside."""
        values = {name: to_attribute(getattr(obj, name)) for name in self._common}
        values.update(self.to_item_extra(obj))
        return values

    def to_item(self, obj: D) -> I:
        """The item that stores ``obj`` (its version condition included, once it has one)."""
        pk, sk = self.key(obj)
        version = getattr(obj, VERSION, 0) if VERSION in self.item.get_attributes() else 0
        values: dict[str, Any] = self.item_values(obj)
        if version:  # absent for a new item, so that PynamoDB conditions on attribute_not_exists
            values[VERSION] = version
        return self.item(pk, sk, **values)

    def model_values(self, item: I) -> dict[str, Any]:
        """The domain fields stored in ``item``; absent attributes are left to the model's defaults."""
        data: dict[str, Any] = {}
        for name in self._common:
            value = getattr(item, name)
            if value is not None or not self._has_default(name):
                data[name] = from_attribute(value)
        data.update(self.ids(item))
        if VERSION in self.model.model_fields:
            data[VERSION] = int(getattr(item, VERSION, None) or 0)
        data.update(self.from_item_extra(item))
        return data

    def from_item(self, item: I) -> D:
        """The domain object ``item`` stores (``ValidationError`` if it no longer validates)."""
        return self.model.model_validate(self.model_values(item))

    def _has_default(self, name: str) -> bool:
        return not self.model.model_fields[name].is_required()
