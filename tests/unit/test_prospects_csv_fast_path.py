"""The import's fast path for plain email addresses decides exactly as the full check does.

A row whose email :func:`~chalicelib.domain.prospects_csv.rows.plain_email` accepts is validated
without running email_validator on it; every other row goes through ``Prospect`` as before. So
``plain_email`` may only accept what ``EmailStr`` accepts unchanged, and a row must come out the
same (the same prospect, or the same errors with row numbers and fields) either way.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import prospects_csv as pc
from chalicelib.domain.models import Prospect, RowError
from chalicelib.domain.prospects_csv import rows

SPECIAL = [
    "localhost",
    "x.test",
    "a.local",
    "b.invalid",
    "c.onion",
    "d.arpa",
    "xn--80ak6aa92e.com",
    "1.2.3.4",
]
LOCAL = st.from_regex(r"[a-zA-Z0-9_+.\-!#]{0,70}", fullmatch=True)
LABEL = st.from_regex(r"[a-zA-Z0-9\-]{0,66}", fullmatch=True)
DOMAIN = st.builds(".".join, st.lists(LABEL, min_size=1, max_size=5)) | st.sampled_from(SPECIAL)
EMAILS = (
    st.builds("{}@{}".format, LOCAL, DOMAIN)
    | st.builds("{}@{}.example".format, LOCAL, LABEL)
    | st.text(max_size=40)
    | st.sampled_from(["jos.1@acme.example", "a..b@x.io", "a@-x.com", "a@x.c0m", "a@x.123", " A@B.IO "])
)


@given(EMAILS)
@settings(max_examples=2_000)
def test_the_fast_path_accepts_only_what_emailstr_accepts_unchanged(email: str) -> None:
    if rows.plain_email(email):
        assert rows._EMAIL.validate_python(email) == email


def test_plain_addresses_take_the_fast_path() -> None:
    assert rows.plain_email("jos.1@acme.example")
    assert rows.plain_email("first_last+tag@mail.example.co.uk")
    assert not rows.plain_email("a@localhost")  # a special-use name: the full check refuses it
    assert not rows.plain_email("Zoë@example.com")  # not ASCII: the full check normalizes it
    # Over 254 characters, each part within its own limit: refused by the full check, so not taken
    too_long = "a" * 64 + "@" + ".".join(["b" * 50] * 4) + ".com"
    assert not rows.plain_email(too_long)
    with pytest.raises(ValueError, match="too long"):
        rows._EMAIL.validate_python(too_long)


HEADER = b"First Name,Last Name,Email,Company,Phone\r\n"
CELL = st.text(max_size=12) | st.sampled_from(["", " ", "Zoë", "O'Brien", "x" * 101])


def _as_compared(found: Prospect | list[RowError]) -> Any:
    if isinstance(found, list):
        return [e.model_dump() for e in found]
    # The ids and timestamps are made afresh for each row.
    return found.model_dump(exclude={"prospect_id", "watch_token", "created_at", "updated_at"})


@given(first=CELL, last=CELL, email=EMAILS, company=CELL, phone=st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_a_row_comes_out_the_same_with_or_without_the_fast_path(
    first: str, last: str, email: str, company: str, phone: str
) -> None:
    source = pc.read_prospects_csv(io.BytesIO(HEADER))
    cells = [first, last, email, company, phone]
    fast = source.prospect(7, cells, "acct_a", "camp_1")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rows, "plain_email", lambda _: False)
        full = source.prospect(7, cells, "acct_a", "camp_1")
    assert type(fast) is type(full)
    assert _as_compared(fast) == _as_compared(full)
    if isinstance(fast, Prospect):
        assert type(fast) is Prospect
        assert fast.model_fields_set == full.model_fields_set  # type: ignore[union-attr]
