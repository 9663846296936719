"""Translate between MediaConvert's wire JSON and API-shaped dicts, driven by botocore shapes.

On the wire, structure members go by their location names (``outputGroups``); boto3 and the API
reference use member names (``OutputGroups``). Timestamps travel as epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape


def from_wire(shape: Shape, value: Any, unknown: list[str] | None = None, path: str = "") -> Any:
    """Wire JSON → API dict. Unknown fields are dropped and their paths appended to ``unknown``.

    Values of the wrong JSON type are passed through untouched for the validator to report.
    """
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_wire = {
            m.serialization.get("name", name): (name, m)
            for name, m in shape.members.items()
            if "location" not in m.serialization
        }
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in by_wire:
                if unknown is not None:
                    unknown.append(f"{path}.{key}" if path else key)
                continue
            name, member = by_wire[key]
            out[name] = from_wire(member, item, unknown, f"{path}.{name}" if path else name)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [from_wire(shape.member, v, unknown, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: from_wire(shape.value, v, unknown, f"{path}.{k}") for k, v in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


def to_wire(shape: Shape, value: Any) -> Any:
    """API dict → wire JSON. Keys that are not members of the shape are left out."""
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            m.serialization.get("name", name): to_wire(m, value[name])
            for name, m in shape.members.items()
            if name in value and value[name] is not None
        }
    if isinstance(shape, ListShape):
        return [to_wire(shape.member, v) for v in value]
    if isinstance(shape, MapShape):
        return {k: to_wire(shape.value, v) for k, v in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, datetime):
        return int(value.timestamp())
    return value


def parse_request(
    op: OperationModel, uri: Mapping[str, str], query: Mapping[str, list[str]], body: Any
) -> tuple[dict[str, Any], list[str]]:
    """Build an operation's API-shaped input from URI labels, query string and JSON body.

    Returns the params and the paths of unknown body fields.
    """
    shape = op.input_shape
    if shape is None:
        return {}, []
    unknown: list[str] = []
    params: dict[str, Any] = from_wire(shape, body if body is not None else {}, unknown)
    for name, member in shape.members.items():
        location, key = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri" and key in uri:
            params[name] = uri[key]
        elif location == "querystring" and key in query:
            values = [
                _scalar(member.member if isinstance(member, ListShape) else member, v) for v in query[key]
            ]
            params[name] = values if isinstance(member, ListShape) else values[-1]
    return params, unknown


def check_constraints(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Enum and maximum checks, which botocore's ParamValidator leaves to the service."""
    errors: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                errors += check_constraints(shape.members[name], item, f"{path}.{name}" if path else name)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            errors += check_constraints(shape.member, item, f"{path}[{i}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            errors += check_constraints(shape.value, item, f"{path}.{key}")
    elif isinstance(value, str) and (enum := shape.metadata.get("enum")) and value not in enum:
        errors.append(f"Invalid value for parameter {path}: {value!r}, must be one of: {', '.join(enum)}")
    elif isinstance(value, int | float) and "max" in shape.metadata and value > shape.metadata["max"]:
        errors.append(
            f"Invalid value for parameter {path}: {value}, valid max value: {shape.metadata['max']}"
        )
    return errors


def _scalar(shape: Shape, raw: str) -> Any:
    """A query-string value as its shape's type; left as text when it does not parse."""
    try:
        if shape.type_name in ("integer", "long"):
            return int(raw)
        if shape.type_name in ("double", "float"):
            return float(raw)
    except ValueError:
        return raw
    if shape.type_name == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw
