"""An opened prospects CSV, read row by row into validated prospects.

Reading is streamed: rows are decoded, parsed and validated one at a time, so a 50,000-row file
never sits in memory as a list of dicts. **Row numbers** in errors are the rows a spreadsheet
shows: the header is row 1, so the first prospect is row 2; a quoted cell spanning lines is still
one row; blank rows are skipped but keep their number.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from typing import IO

from pydantic import ValidationError

from chalicelib.domain import contact_fields
from chalicelib.domain.errors import UploadRejectedError
from chalicelib.domain.models import Prospect, RowError, new_id
from chalicelib.domain.prospects_csv.columns import CUSTOM, FIELDS, map_columns, require_identity
from chalicelib.domain.prospects_csv.decoding import (
    DELIMITERS,
    FALLBACK,
    SEP_LINE,
    Replay,
    check_text,
    detect_delimiter,
    detect_encoding,
    errors_for,
)
from chalicelib.domain.prospects_csv.limits import MAX_CUSTOM_VALUE_CHARS, SNIFF_BYTES, SNIFF_CHARS

_HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "mme", "mlle", "herr", "frau"}
)


def _clean_name(value: str) -> str:
    return " ".join(value.split())


def split_full_name(full: str) -> tuple[str, str]:
    """``"Dr. José Müller"`` → ``("José", "Müller")``; ``"Müller, José"`` → ``("José", "Müller")``.

    A leading honorific is dropped; the first remaining word is the first name and the rest the
    last name (so ``"Jan van der Berg"`` keeps ``"van der Berg"``).
    """
    if full.count(",") == 1:
        last, first = (_clean_name(p) for p in full.split(","))
        if first and last:
            return first, last
    words = full.split()
    while len(words) > 1 and words[0].rstrip(".").casefold() in _HONORIFICS:
        words = words[1:]
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def _clean_email(value: str) -> str:
    if value.endswith(">") and "<" in value:  # "Jane Doe <jane@example.com>"
        value = value[value.rindex("<") + 1 : -1].strip()
    if value[:7].casefold() == "mailto:":
        value = value[7:].strip()
    return value


class ProspectsCsv:
    """An opened prospects CSV: encoding, delimiter, header and mapping decided; rows read lazily.

    Build it with :func:`read_prospects_csv`. Iterate :meth:`records` once (the file is a stream).
    """

    def __init__(
        self,
        text: IO[str],
        encoding: str,
        delimiter: str,
        skip_first_line: bool,
        warnings: list[str],
        mapping_override: dict[str, str] | None,
    ) -> None:
        self.encoding = encoding
        self.delimiter = delimiter
        self.warnings = warnings
        self.row = 0  # the last row number read (a spreadsheet's numbering: header = 1)
        self._text = text
        self._misread = [0]
        self._reader = csv.reader(self._lines(), delimiter=delimiter)
        if skip_first_line:
            next(self._reader, None)
        header = self._header()
        self.mapping, found = map_columns(header, mapping_override)
        self.warnings.extend(found)
        labels = [c.label for c in self.mapping.columns]
        require_identity(self.mapping, labels)
        columns = self.mapping.columns
        self._width = len(header)
        self._fields = [(c.index, c.target) for c in columns if c.target in FIELDS]
        self._custom = [(c.index, c.label) for c in columns if c.target == CUSTOM]
        self._column_label = {c.target: c.label for c in columns if c.target in FIELDS}
        self._cut_columns: set[str] = set()
        self._ragged_row: int | None = None

    def _lines(self) -> Iterator[str]:
        lines = iter(self._text)
        while True:
            token = FALLBACK.set(self._misread)
            try:
                line = next(lines, None)
            finally:
                FALLBACK.reset(token)
            if line is None:
                return
            yield line

    def _header(self) -> list[str]:
        for _row, cells in self.records():
            if not cells:
                raise UploadRejectedError("the first row could not be read as column names")
            return [c.strip() for c in cells]
        raise UploadRejectedError("the file is empty")

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Each non-blank row as ``(row number, cells)``.

        A row the csv module cannot read (a NUL byte, a runaway quote) comes as ``(row, [])``:
        the caller reports it and reading goes on with the next line.
        """
        reader = self._reader
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                self.row += 1
                yield self.row, []
                continue
            self.row += 1
            if any(map(str.strip, cells)):
                yield self.row, cells

    def prospect(
        self, row: int, cells: list[str], account_id: str, campaign_id: str
    ) -> Prospect | list[RowError]:
        """The row as a validated :class:`Prospect`, or every problem it has."""
        if not cells:
            return [
                RowError(
                    row=row, field=None, message="this row could not be read (a stray quote or a NUL byte?)"
                )
            ]
        n = len(cells)
        if n > self._width and self._ragged_row is None:
            self._ragged_row = row
        values: dict[str, object] = {}
        for index, name in self._fields:
            if index < n:
                value = cells[index].strip()
                if value:
                    # NFC: a macOS export may spell "é" as "e" + a combining accent.
                    values[name] = value if value.isascii() else unicodedata.normalize("NFC", value)
        custom: dict[str, str] = {}
        for index, label in self._custom:
            if index < n:
                value = cells[index].strip()
                if value:
                    if not value.isascii():
                        value = unicodedata.normalize("NFC", value)
                    if len(value) > MAX_CUSTOM_VALUE_CHARS:
                        value = value[:MAX_CUSTOM_VALUE_CHARS]
                        self._cut_columns.add(label)
                    custom[label] = value
        errors = self._names(row, values)
        email = values.get("email")
        if isinstance(email, str):
            values["email"] = _clean_email(email)
        values.update(
            account_id=account_id, campaign_id=campaign_id, prospect_id=new_id("pros"), custom_fields=custom
        )
        try:
            prospect = Prospect.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = str(err["loc"][0]) if err["loc"] else None
                if loc == "first_name" and errors:
                    continue  # already said why
                errors.append(self._row_error(row, loc, err["type"], err["msg"]))
            return errors
        return errors or prospect

    def _names(self, row: int, values: dict[str, object]) -> list[RowError]:
        first = _clean_name(str(values.pop("first_name", "")))
        last = _clean_name(str(values.pop("last_name", "")))
        full = _clean_name(str(values.pop("full_name", "")))
        if full and not (first and last):
            split_first, split_last = split_full_name(full)
            if not first:
                first = split_first
            if not last and split_last and split_first.casefold() == first.casefold():
                last = split_last
        if first:
            values["first_name"] = first
        if last:
            values["last_name"] = last
        if first:
            return []
        where = self._column_label.get("first_name") or self._column_label.get("full_name")
        return [RowError(row=row, field="first_name", message=f'first name is missing (column "{where}")')]

    def _row_error(self, row: int, name: str | None, kind: str, message: str) -> RowError:
        column = self._column_label.get(name or "")
        if kind == "missing" and name is not None:
            message = f"{contact_fields.SCHEMA.label(name)} is missing"
            if column:
                message += f' (column "{column}")'
        elif column:
            message = f'column "{column}": {message}'
        return RowError(row=row, field=name, message=message)

    def finish(self) -> None:
        """Add the warnings only the whole file could tell (call once all rows are read)."""
        if self._misread[0]:
            self.warnings.append(
                f"{self._misread[0]} byte(s) were not valid UTF-8 and were read as Windows-1252; "
                "check accented names"
            )
        if self._ragged_row is not None:
            self.warnings.append(
                f"some rows have more cells than the header (first: row {self._ragged_row}); "
                "the extra cells were ignored"
            )
        for label in sorted(self._cut_columns):
            self.warnings.append(
                f'values of column "{label}" were cut to {MAX_CUSTOM_VALUE_CHARS} characters'
            )


def read_prospects_csv(stream: IO[bytes], mapping: dict[str, str] | None = None) -> ProspectsCsv:
    """Open a prospects CSV: detect its encoding and delimiter, read the header, map the columns.

    Only the first 64 KB are read here; :meth:`ProspectsCsv.records` streams the rest.

    Raises
    ------
    UploadRejectedError
        The file as a whole is unusable: binary, empty, or without an email or name column.
    InvalidInputError
        ``mapping`` names an unknown field or maps two columns to one field.
    """
    head = stream.read(SNIFF_BYTES)
    if not head.strip():
        raise UploadRejectedError("the file is empty")
    check_text(head)
    encoding, warning = detect_encoding(head)
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors_for(encoding))
    sample = decoder.decode(head, final=False)[:SNIFF_CHARS].lstrip("\ufeff")
    if not sample.strip():
        raise UploadRejectedError("the file is empty")
    first_line = sample.lstrip("\r\n").split("\n", 1)[0].strip()
    sep = SEP_LINE.match(first_line)
    if sep and sep[1] in DELIMITERS:
        delimiter = sep[1]
    else:
        delimiter = detect_delimiter(sample.lstrip("\r\n").replace("\r\n", "\n"))
    text = io.TextIOWrapper(
        io.BufferedReader(Replay(head, stream)), encoding=encoding, errors=errors_for(encoding), newline=""
    )
    return ProspectsCsv(text, encoding, delimiter, bool(sep), [warning] if warning else [], mapping)
