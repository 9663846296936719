"""The one reader of outside JSON: depth measured without recursion, size bounded, text checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInputError, PayloadTooLargeError
from chalicelib.domain.json_input import MalformedJsonError, load_json, nesting_depth

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(codec="utf-8"))
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_VALUES)
def test_depth_is_the_real_nesting_whatever_the_strings_hold(value: Any) -> None:
    # Strings full of brackets, quotes and backslashes must not count
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert nesting_depth(text.encode()) == _depth(value)
        assert load_json(text, "body") == value


def test_a_hundred_thousand_brackets_are_refused_before_parsing() -> None:
    with pytest.raises(MalformedJsonError, match="nested more than 32 levels"):
        load_json("[" * 100_000 + "]" * 100_000, "body")
    with pytest.raises(MalformedJsonError, match="nested more than 2 levels"):
        load_json('{"a": {"b": []}}', "query.mapping", max_depth=2)


def test_size_is_bounded_before_parsing() -> None:
    with pytest.raises(PayloadTooLargeError):
        load_json('"' + "x" * 20 + '"', "body", max_bytes=10)


def test_not_json_is_malformed_with_the_place() -> None:
    with pytest.raises(MalformedJsonError, match="line 1 column 2"):
        load_json("{,}", "body", label="request body")
    with pytest.raises(MalformedJsonError):
        load_json(b"\xff\xfe", "body")


def test_lone_surrogates_are_named_by_path_keys_included() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_json('{"a": ["ok", "\\ud800"], "\\udfff": 1, "b": {"c": "x\\udc00y"}}', "body")
    assert [i.loc for i in caught.value.issues] == ["body", "body.a.1", "body.b.c"]
    assert load_json('"\\ud83d\\ude00"', "body") == "😀"  # a pair is a character
