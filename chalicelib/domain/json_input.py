"""JSON from outside, read safely: size and depth bounded before parsing, text checked after.

Every JSON body and JSON-valued parameter goes through :func:`load_json`, once, before any model
sees it. Python's ``json`` module recurses per nesting level, so 100,000 ``[`` would end in a
``RecursionError`` inside the parser: the depth is measured on the raw text first, without
recursion. A lone UTF-16 surrogate (``"\\ud800"``) is valid JSON but not text: it cannot be
encoded as UTF-8, so nothing downstream (DynamoDB, logs, a voice engine) could store or use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.domain.errors import FieldIssue, InvalidInputError, PayloadTooLargeError

#: Deeper than any body the API takes (the deepest, a campaign's watch page settings, is 3).
MAX_DEPTH = 32
#: Far above any JSON body the API takes (1,000 prospect ids are about 35 KB).
MAX_BYTES = 1024 * 1024

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class MalformedJsonError(InvalidInputError):
    """The text is not JSON at all (or not what the caller must send): a 400, not a 422."""


def nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting in ``raw``, ignoring brackets inside strings (no recursion)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(
    raw: str | bytes,
    where: str,
    *,
    label: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse untrusted JSON text.

    Parameters
    ----------
    raw
        The text as received.
    where
        Where it came from: the path of the error's field issues (``body``, ``query.mapping``).
    label
        How the error's message names it (default ``where``), e.g. "request body".

    Raises
    ------
    PayloadTooLargeError
        Over ``max_bytes``.
    MalformedJsonError
        Not JSON, or nested deeper than ``max_depth``.
    InvalidInputError
        A string (or object key) holds a lone surrogate; the issue names its path.
    """
    label = label or where
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"the {label} is {len(data):,} bytes; at most {max_bytes:,}")
    if nesting_depth(data) > max_depth:
        raise MalformedJsonError(f"the {label} is nested more than {max_depth} levels deep")
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        at = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise MalformedJsonError(f"the {label} is not valid JSON{at}") from exc
    issues = text_issues(value, where)
    if issues:
        raise InvalidInputError(f"the {label} is invalid", issues)
    return value


def text_issues(value: Any, where: str) -> list[FieldIssue]:
    """Every string in ``value`` (keys included) that is not valid Unicode text, by path."""
    issues: list[FieldIssue] = []
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                issues.append(FieldIssue(path, "contains an unpaired UTF-16 surrogate; send valid text"))
        elif isinstance(node, dict):
            for key, child in node.items():
                if _SURROGATE.search(key):
                    issues.append(FieldIssue(path, "a key contains an unpaired UTF-16 surrogate"))
                stack.append((f"{path}.{key}", child))
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}", child) for i, child in enumerate(node))
    return sorted(issues, key=lambda i: i.loc)
