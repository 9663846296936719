"""Prospect CSV import: read an uploaded CSV, map its columns, validate each row and add it.

Pure: the file arrives as a binary stream and prospects leave through the
:class:`~chalicelib.domain.ports.ProspectRepository` port.

Reading is streamed: rows are decoded, parsed and written one at a time, so a 50,000-row file
never sits in memory as a list of dicts. What a seller sees:

* **Encoding**: UTF-8 (with or without BOM), UTF-16/UTF-32 with a BOM, else Windows-1252 (which
  covers Latin-1 text), with a warning. Stray non-UTF-8 bytes in a UTF-8 file are read as
  Windows-1252 too, also with a warning.
* **Delimiter**: comma, semicolon or tab (``csv.Sniffer``, checked against the header line), or
  Excel's ``sep=;`` first line.
* **Row numbers** in errors are the rows a spreadsheet shows: the header is row 1, so the first
  prospect is row 2; a quoted cell spanning lines is still one row; blank rows are skipped but
  keep their number.
* **Columns** are mapped by name (see :data:`ALIASES`): CRM and mail-tool exports (HubSpot,
  Salesforce, Apollo, Outlook, Google Contacts, Mailchimp, lemlist) and free-form sheets work with
  no setup. Unmapped columns become ``custom_fields``; an explicit mapping overrides the guess.
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Final

from pydantic import ValidationError

from chalicelib.domain import uploads as rules
from chalicelib.domain.errors import FieldIssue, InvalidInputError, UploadRejectedError
from chalicelib.domain.models import Prospect, RowError, fold, new_id

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from chalicelib.domain.ports import ProspectWriter

#: Data rows one file may hold; rows after it are counted as failed and not imported.
MAX_ROWS: Final = 50_000
#: Row errors kept on the import (every failed row is still counted).
MAX_STORED_ERRORS: Final = 1_000
#: Columns read from a file (the rest are ignored), and how many of them may be custom fields.
MAX_COLUMNS: Final = 1_000
MAX_CUSTOM_COLUMNS: Final = 100
#: A custom field's name and value are cut to these lengths (DynamoDB items are at most 400 KB).
MAX_LABEL_CHARS: Final = 64
MAX_CUSTOM_VALUE_CHARS: Final = 1_000

SNIFF_BYTES: Final = 64 * 1024
_SNIFF_CHARS = 16 * 1024

#: The prospect fields a column can map to. ``full_name`` is split into first and last names.
FIELDS: Final = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "company",
    "title",
    "phone",
    "website",
    "linkedin_url",
    "pronunciation",
)
CUSTOM: Final = "custom"
IGNORE: Final = "ignore"
TARGETS: Final = frozenset((*FIELDS, CUSTOM, IGNORE))
DELIMITERS: Final = (",", ";", "\t")

#: Column names each field is recognized by, best first: when two columns match one field the
#: better name wins and the other becomes a custom field. That is how Outlook's honorific
#: ``Title`` ("Dr.") loses to its ``Job Title``, while a lone ``Title`` (Salesforce, Apollo) is
#: the job title. Names are compared by :func:`header_key`, so case, spacing, punctuation and
#: camelCase do not matter ("E-mail Address" = "emailAddress" = "email_address").
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "first_name": (
        "first name",
        "given name",
        "first",
        "fname",
        "forename",
        "contact first name",
        "lead first name",
        "prénom",
        "vorname",
        "nombre",
    ),
    "last_name": (
        "last name",
        "family name",
        "surname",
        "last",
        "lname",
        "contact last name",
        "lead last name",
        "nom de famille",
        "nom",
        "nachname",
        "apellido",
        "apellidos",
    ),
    "full_name": (
        "full name",
        "name",
        "contact name",
        "contact full name",
        "person name",
        "display name",
        "nom complet",
        "nombre completo",
    ),
    "email": (
        "email",
        "email address",
        "e-mail 1 - value",
        "email 1",
        "work email",
        "business email",
        "primary email",
        "contact email",
        "person email",
        "mail",
        "courriel",
        "e-mail-adresse",
        "correo electrónico",
        "correo",
    ),
    "company": (
        "company",
        "company name",
        "account name",
        "organization 1 - name",
        "organization name",
        "organization",
        "organisation",
        "company / account",
        "business name",
        "employer",
        "account",
        "firma",
        "unternehmen",
        "entreprise",
        "société",
        "empresa",
    ),
    "title": (
        "job title",
        "organization 1 - title",
        "organization title",
        "job position",
        "title",
        "position",
        "job role",
        "role",
        "designation",
        "occupation",
        "poste",
        "cargo",
    ),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "phone 1 - value",
        "business phone",
        "work phone",
        "first phone",
        "direct phone",
        "work direct phone",
        "corporate phone",
        "company phone",
        "mobile phone",
        "mobile",
        "mobile number",
        "cell phone",
        "cell",
        "tel",
        "téléphone",
        "telefon",
        "teléfono",
        "home phone",
        "other phone",
    ),
    "website": (
        "website",
        "website url",
        "web site",
        "website 1 - value",
        "web page",
        "homepage",
        "company website",
        "url",
        "web",
        "company domain",
        "company domain name",
        "domain",
        "site web",
        "webseite",
    ),
    "linkedin_url": (
        "linkedin url",
        "person linkedin url",
        "linkedin profile url",
        "linkedin profile",
        "linkedin",
        "linkedin link",
    ),
    "pronunciation": (
        "pronunciation",
        "name pronunciation",
        "first name pronunciation",
        "pronunciation hint",
        "phonetic name",
        "phonetic first name",
        "phonetic",
        "say as",
        "how to pronounce",
    ),
}

_LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "name",
    "linkedin_url": "LinkedIn URL",
}
_HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "mme", "mlle", "herr", "frau"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\W_]+")
_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$', re.IGNORECASE)

# --------------------------------------------------------------------------- header names


def normalize_header(header: str) -> str:
    """A column name as lowercase ASCII-folded words: ``"E-mail Address"`` → ``"e mail address"``.

    camelCase and snake_case split into words, accents are dropped (``Prénom`` → ``prenom``);
    the result is a fixed point (normalizing it again changes nothing).
    """
    return " ".join(word for word in _SEPARATORS.split(fold(_CAMEL.sub(" ", header))) if word)


def header_key(header: str) -> str:
    """What column names are compared by: :func:`normalize_header` without the spaces, so
    ``"firstName"``, ``"First Name"`` and ``"FIRSTNAME"`` all give ``"firstname"``."""
    return normalize_header(header).replace(" ", "")


_ALIAS_RANK: Final[dict[str, tuple[str, int]]] = {}
for _field_name, _names in ALIASES.items():
    for _rank, _name in enumerate(_names):
        _ALIAS_RANK.setdefault(header_key(_name), (_field_name, _rank))


# --------------------------------------------------------------------------- column mapping


@dataclass(frozen=True)
class Column:
    """One column of the file and what it feeds."""

    index: int
    label: str  # the header trimmed, unique in the file ("Email (2)"; "column 7" when blank)
    target: str  # a name in FIELDS, "custom" (kept under ``label`` in custom_fields) or "ignore"


@dataclass(frozen=True)
class Mapping:
    """Which column feeds which prospect field."""

    columns: tuple[Column, ...]

    def as_dict(self) -> dict[str, str]:
        """Source column (its label) → field, ``"custom"`` or ``"ignore"``, in file order."""
        return {c.label: c.target for c in self.columns}

    def column(self, target: str) -> Column | None:
        """The column mapped to the field ``target``, if any."""
        return next((c for c in self.columns if c.target == target), None)


def map_columns(header: list[str], override: dict[str, str] | None = None) -> tuple[Mapping, list[str]]:
    """Decide what each column of ``header`` feeds, and say what the seller should know.

    ``override`` maps a source column (its header, compared as :func:`header_key` does when no
    header matches exactly) to a field, ``"custom"`` or ``"ignore"``; columns it does not name are
    mapped by :data:`ALIASES`. Returns the mapping and warnings.

    Raises
    ------
    InvalidInputError
        If ``override`` names an unknown target or maps two columns to one field.
    """
    warnings: list[str] = []
    labels = _labels(header)
    targets: list[str | None] = [None] * len(labels)
    taken: set[str] = set()
    for source, target in (override or {}).items():
        index = _find_column(source, header, labels)
        if target not in TARGETS:
            raise InvalidInputError(
                "the column mapping is invalid",
                [FieldIssue(f"mapping.{source}", f"must be one of {', '.join(sorted(TARGETS))}")],
            )
        if index is None:
            warnings.append(f'the mapping names a column the file does not have: "{source}"')
            continue
        if target in FIELDS:
            if target in taken:
                raise InvalidInputError(
                    "the column mapping is invalid",
                    [FieldIssue(f"mapping.{source}", f"another column is already mapped to {target}")],
                )
            taken.add(target)
        targets[index] = target

    best: dict[str, tuple[int, int]] = {}  # field → (alias rank, column index)
    for index, raw in enumerate(header[: len(labels)]):
        if targets[index] is not None:
            continue
        hit = _ALIAS_RANK.get(header_key(raw))
        if hit is None or hit[0] in taken:
            continue
        name, rank = hit
        if name not in best or (rank, index) < best[name]:
            best[name] = (rank, index)
    for name, (_, index) in best.items():
        targets[index] = name

    custom = 0
    columns = []
    for index, label in enumerate(labels):
        chosen = targets[index]
        if chosen is None:
            if custom < MAX_CUSTOM_COLUMNS:
                chosen, custom = CUSTOM, custom + 1
            else:
                chosen = IGNORE
                if custom == MAX_CUSTOM_COLUMNS:
                    custom += 1
                    warnings.append(
                        f"only {MAX_CUSTOM_COLUMNS} extra columns are kept as custom fields; "
                        f'"{label}" and the unmapped columns after it were ignored'
                    )
        columns.append(Column(index, label, chosen))
    if len(header) > MAX_COLUMNS:
        warnings.append(f"only the first {MAX_COLUMNS} columns were read")
    return Mapping(tuple(columns)), warnings


def _labels(header: list[str]) -> list[str]:
    labels: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(header[:MAX_COLUMNS]):
        base = " ".join(raw.split())[:MAX_LABEL_CHARS] or f"column {index + 1}"
        label, n = base, 1
        while label in seen:
            n += 1
            label = f"{base} ({n})"
        seen.add(label)
        labels.append(label)
    return labels


def _find_column(source: str, header: list[str], labels: list[str]) -> int | None:
    wanted = source.strip()
    for candidates in (labels, [h.strip() for h in header[: len(labels)]]):
        if wanted in candidates:
            return candidates.index(wanted)
    key = header_key(wanted)
    return next((i for i, h in enumerate(header[: len(labels)]) if header_key(h) == key), None)


def _require(mapping: Mapping, labels: list[str]) -> None:
    shown = ", ".join(f'"{label}"' for label in labels[:10]) + (", …" if len(labels) > 10 else "")
    if mapping.column("email") is None:
        raise UploadRejectedError(f'no email column: the columns are {shown}; name the email column "Email"')
    if mapping.column("first_name") is None and mapping.column("full_name") is None:
        raise UploadRejectedError(
            f'no first name column: the columns are {shown}; name it "First Name" (or "Name" for full names)'
        )


# --------------------------------------------------------------------------- encoding & dialect


def detect_encoding(head: bytes) -> tuple[str, str | None]:
    """The Python codec to read the file with, from its first bytes, and a warning if guessed.

    Byte-order marks decide first (UTF-8, UTF-32, UTF-16); else bytes that are valid UTF-8 are
    UTF-8; else Windows-1252 (a superset of Latin-1's letters: what Excel saves on Windows).
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Valid multi-byte UTF-8 ("é" as C3 A9) beside stray bytes: a UTF-8 file with a few
        # Windows-1252 rows pasted in. Read it as UTF-8; the stray bytes fall back (and are counted).
        decoded = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
        if any(ord(ch) > 127 and ch != "\ufffd" for ch in decoded):
            return "utf-8", None
        return "cp1252", (
            "the file is not UTF-8, so it was read as Windows-1252 (Western European); if names "
            'look wrong, save it as "CSV UTF-8" and upload it again'
        )
    return "utf-8", None


def detect_delimiter(sample: str) -> str:
    """Comma, semicolon or tab: ``csv.Sniffer`` on ``sample`` (whole lines of the file's start),
    kept only when it also splits the header line; else the one the header line has most of."""
    header = sample.split("\n", 1)[0]
    counts = {d: _count_unquoted(header, d) for d in DELIMITERS}
    cut = sample.rfind("\n")
    try:
        sniffed: str | None = (
            csv.Sniffer().sniff(sample[:cut] if cut > 0 else sample, "".join(DELIMITERS)).delimiter
        )
    except csv.Error:
        sniffed = None
    if sniffed in counts and counts[sniffed] > 0:
        return sniffed
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_unquoted(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


_BINARY_MAGIC = (
    (b"\xd0\xcf\x11\xe0", "this is an old Excel (.xls) file; export the sheet as CSV and upload that"),
    (b"%PDF", "this is a PDF, not a CSV file"),
    (b"\x89PNG", "this is an image, not a CSV file"),
    (b"\xff\xd8\xff", "this is an image, not a CSV file"),
    (b"GIF8", "this is an image, not a CSV file"),
    (b"\x1f\x8b", "this is a compressed (gzip) file; upload the CSV itself"),
)


#: How much of a file's start the text checks look at.
_TEXT_SAMPLE_BYTES = 4096
#: Bytes that are not UTF-8 are read as Windows-1252; below this share of text characters in
#: that reading, they are not text at all (see :func:`_text_share`).
_MIN_TEXT_SHARE = 0.85
_NOT_TEXT = "this is not a text CSV file"


def check_text(head: bytes) -> None:
    """Reject a file whose first bytes are not text (spreadsheets, images, archives, random bytes).

    Raises
    ------
    UploadRejectedError
        With a hint of what the file is instead.
    """
    for magic, message in _BINARY_MAGIC:
        if head.startswith(magic):
            raise UploadRejectedError(message)
    rules.check_text(head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    sample = head[:_TEXT_SAMPLE_BYTES]
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if controls * 20 > len(sample):
        raise UploadRejectedError(_NOT_TEXT)
    share = _text_share(sample)
    if share is not None and share < _MIN_TEXT_SHARE:
        raise UploadRejectedError(_NOT_TEXT)


def _text_share(sample: bytes) -> float | None:
    """The share of characters text is made of, in ``sample`` read as a file that is not UTF-8 is
    read here (Windows-1252, alone or for the stray bytes in UTF-8); None when it is UTF-8.

    Text is ASCII letters, digits, punctuation and whitespace, plus letters of any script: a
    Western European export is nearly all that, with the odd "€" or curly quote, and so is a
    Greek or Cyrillic file in its own legacy code page. Bytes that were never text are not:
    read as Windows-1252, a random byte is a letter barely half the time, else a symbol, a C1
    control or one of the five bytes Windows-1252 leaves undefined.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return None  # valid UTF-8 (a sequence cut off at the end of the sample included)
    except UnicodeDecodeError:
        pass
    encoding, _ = detect_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors=_errors_for(encoding)).decode(sample, final=False)
    if not text:
        return None
    texty = sum(1 for ch in text if ch.isalpha() or (ch.isascii() and (ch.isprintable() or ch in "\t\r\n")))
    return texty / len(text)


# Bytes that are not UTF-8 in a file that began as UTF-8 are read as Windows-1252 (and counted
# for a warning); Windows-1252's five unassigned bytes are read as Latin-1 code points.
_FALLBACK: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("csv_fallback", default=None)


def _as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    counter = _FALLBACK.get()
    if counter is not None:
        counter[0] += len(bad)
    return bytes(bad).decode("cp1252", errors=_LATIN1_HANDLER), exc.end


def _as_latin1(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return bytes(exc.object[exc.start : exc.end]).decode("latin-1"), exc.end


# Handler names are process-global: each copy of this module (CDK synth imports a staged copy of
# the app) registers its own, so a later copy never redirects this one's counting.
_CP1252_HANDLER = f"tailorcast-cp1252-{id(_FALLBACK):x}"
_LATIN1_HANDLER = f"tailorcast-latin1-{id(_FALLBACK):x}"
codecs.register_error(_LATIN1_HANDLER, _as_latin1)
codecs.register_error(_CP1252_HANDLER, _as_cp1252)


def _errors_for(codec: str) -> str:
    if codec in ("utf-8", "utf-8-sig"):
        return _CP1252_HANDLER
    if codec == "cp1252":
        return _LATIN1_HANDLER
    return "replace"


class _Replay(io.RawIOBase):
    """The bytes already read to sniff the file, then the rest of the source stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        out = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(out), len(self._head))
            out[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(out))
        out[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------- the file


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
        _require(self.mapping, labels)
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
            token = _FALLBACK.set(self._misread)
            try:
                line = next(lines, None)
            finally:
                _FALLBACK.reset(token)
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
            message = f"{_LABELS.get(name, name.replace('_', ' '))} is missing"
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
    decoder = codecs.getincrementaldecoder(encoding)(errors=_errors_for(encoding))
    sample = decoder.decode(head, final=False)[:_SNIFF_CHARS].lstrip("\ufeff")
    if not sample.strip():
        raise UploadRejectedError("the file is empty")
    first_line = sample.lstrip("\r\n").split("\n", 1)[0].strip()
    sep = _SEP_LINE.match(first_line)
    if sep and sep[1] in DELIMITERS:
        delimiter = sep[1]
    else:
        delimiter = detect_delimiter(sample.lstrip("\r\n").replace("\r\n", "\n"))
    text = io.TextIOWrapper(
        io.BufferedReader(_Replay(head, stream)), encoding=encoding, errors=_errors_for(encoding), newline=""
    )
    return ProspectsCsv(text, encoding, delimiter, bool(sep), [warning] if warning else [], mapping)


# --------------------------------------------------------------------------- the import


@dataclass
class ImportTally:
    """What an import did so far (kept up to date while it runs, so a failure can record it)."""

    total_rows: int = 0
    imported: int = 0  # prospects stored (a writer's ``written``)
    duplicates: int = 0
    failed: int = 0
    over_limit: int = 0  # good rows not imported because the plan's limit was reached
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0  # all row errors, stored or not
    last_row: int = 1


def import_prospects(
    source: ProspectsCsv,
    account_id: str,
    campaign_id: str,
    writer: ProspectWriter,
    *,
    tally: ImportTally | None = None,
    max_rows: int = MAX_ROWS,
    max_prospects: int | None = None,
    max_errors: int = MAX_STORED_ERRORS,
    on_progress: Callable[[ImportTally], None] | None = None,
    progress_every: int = 2_000,
) -> ImportTally:
    """Validate every row of ``source`` and hand each good, new one to ``writer``.

    Good rows are imported even when others fail. A row whose email (compared case-insensitively)
    is already in the file or in the campaign (``writer.existing``) is a duplicate: counted, not
    written, nothing changed, so importing the same file twice only adds duplicates. Rows after
    ``max_rows`` are counted as failed with one error saying so; so are good rows past
    ``max_prospects`` (the plan's limit on the campaign, prospects already there included).
    Pass ``tally`` to keep the counts reached if a write fails midway; ``on_progress`` is called
    every ``progress_every`` rows.

    Raises
    ------
    UploadRejectedError
        If the file has a header but no prospect rows.
    StorageError
        If the writer could not store a batch (``tally.imported`` counts what was stored).
    """
    tally = tally if tally is not None else ImportTally()
    seen = writer.existing
    room = None if max_prospects is None else max(0, max_prospects - len(seen))
    queued = 0
    records = source.records()
    for row, cells in records:
        tally.last_row = row
        tally.total_rows += 1
        if tally.total_rows > max_rows:
            rest = sum(1 for _ in records)
            tally.total_rows += rest
            tally.failed += rest + 1
            tally.error_count += 1
            skipped = f"rows {row:,} to {source.row:,} were" if rest else f"row {row:,} was"
            tally.errors.append(
                RowError(
                    row=row,
                    field=None,
                    message=f"a file may hold at most {max_rows:,} prospects: {skipped} not imported",
                )
            )
            source.warnings.append(
                f"the file has {tally.total_rows:,} rows, over the {max_rows:,}-row limit: "
                f"only the first {max_rows:,} were imported; split the file and upload the rest"
            )
            break
        found = source.prospect(row, cells, account_id, campaign_id)
        if isinstance(found, list):
            tally.failed += 1
            tally.error_count += len(found)
            room_left = max_errors - len(tally.errors)
            if room_left > 0:
                tally.errors.extend(found[:room_left])
        else:
            key = found.email_key
            if key in seen:
                tally.duplicates += 1
            elif room is not None and queued >= room:
                tally.failed += 1
                tally.over_limit += 1
                if tally.over_limit == 1:
                    tally.error_count += 1
                    tally.errors.append(
                        RowError(
                            row=row,
                            field=None,
                            message=f"the plan allows {max_prospects:,} prospects per campaign: this row "
                            "and the valid rows after it were not imported",
                        )
                    )
            else:
                seen.add(key)
                writer.add(found)
                queued += 1
        if on_progress is not None and tally.total_rows % progress_every == 0:
            tally.imported = writer.written
            on_progress(tally)
    writer.flush()
    tally.imported = writer.written
    source.finish()
    if tally.over_limit:
        source.warnings.append(
            f"{tally.over_limit:,} valid prospects were not imported: the plan allows {max_prospects:,} "
            "per campaign; upgrade the plan or split them over campaigns"
        )
    if tally.error_count > len(tally.errors):
        source.warnings.append(
            f"{tally.error_count:,} problems were found; only the first {len(tally.errors):,} are listed"
        )
    if tally.total_rows == 0:
        raise UploadRejectedError("the file has column names but no prospects")
    return tally


@dataclass
class Preview:
    """What importing a file would do, with nothing written (see :func:`preview_prospects`)."""

    encoding: str
    delimiter: str
    mapping: dict[str, str]
    total_rows: int
    valid: int  # good rows that would be imported (new, within the limits)
    duplicates: int
    failed: int
    errors: list[RowError]
    warnings: list[str]
    prospects: list[Prospect]  # the first ``sample`` (None: all) of the ``valid`` rows, normalized


class _Sampler:
    """A writer that writes nothing: it counts and keeps the first ``sample`` prospects (or all)."""

    def __init__(self, existing: set[str], sample: int | None) -> None:
        self.existing = existing
        self.written = 0
        self.sample = sample
        self.kept: list[Prospect] = []

    def add(self, prospect: Prospect) -> None:
        self.written += 1
        if self.sample is None or len(self.kept) < self.sample:
            self.kept.append(prospect)

    def flush(self) -> None:
        return None


def preview_prospects(
    stream: IO[bytes],
    *,
    account_id: str = "preview",
    campaign_id: str = "preview",
    mapping: dict[str, str] | None = None,
    existing: set[str] | frozenset[str] = frozenset(),
    sample: int | None = 20,
    max_rows: int = MAX_ROWS,
    max_prospects: int | None = None,
    max_errors: int = MAX_STORED_ERRORS,
) -> Preview:
    """Read a whole file exactly as an import would (same mapping, checks and duplicates against
    ``existing`` emails) and say what it would do, writing nothing.

    Raises
    ------
    UploadRejectedError, InvalidInputError
        As :func:`read_prospects_csv` and :func:`import_prospects` do.
    """
    source = read_prospects_csv(stream, mapping)
    sampler = _Sampler(set(existing), sample)
    tally = import_prospects(
        source,
        account_id,
        campaign_id,
        sampler,
        max_rows=max_rows,
        max_prospects=max_prospects,
        max_errors=max_errors,
    )
    return Preview(
        encoding=source.encoding,
        delimiter=source.delimiter,
        mapping=source.mapping.as_dict(),
        total_rows=tally.total_rows,
        valid=tally.imported,
        duplicates=tally.duplicates,
        failed=tally.failed,
        errors=tally.errors,
        warnings=source.warnings,
        prospects=sampler.kept,
    )
