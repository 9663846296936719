"""Which column of a prospects CSV feeds which prospect field: header names and the column mapping.

Columns are mapped by name (see :data:`ALIASES`, derived from the prospect's contact fields in
:mod:`chalicelib.domain.contact_fields`): CRM and mail-tool exports (HubSpot, Salesforce, Apollo,
Outlook, Google Contacts, Mailchimp, lemlist) and free-form sheets work with no setup. Unmapped
columns become ``custom_fields``; an explicit mapping overrides the guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from chalicelib.domain import contact_fields
from chalicelib.domain.errors import FieldIssue, InvalidInputError, UploadRejectedError
from chalicelib.domain.models import fold
from chalicelib.domain.prospects_csv.limits import MAX_COLUMNS, MAX_CUSTOM_COLUMNS, MAX_LABEL_CHARS

#: The prospect fields a column can map to. ``full_name`` is split into first and last names.
FIELDS: Final = contact_fields.CSV_FIELDS
CUSTOM: Final = contact_fields.CUSTOM
IGNORE: Final = contact_fields.IGNORE
TARGETS: Final = frozenset(contact_fields.MAPPING_TARGETS)

#: Column names each field is recognized by, best first: when two columns match one field the
#: better name wins and the other becomes a custom field. Names are compared by
#: :func:`header_key`, so case, spacing, punctuation and camelCase do not matter
#: ("E-mail Address" = "emailAddress" = "email_address").
ALIASES: Final = contact_fields.ALIASES

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\W_]+")


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
    taken = _apply_override(override or {}, header, labels, targets, warnings)
    _guess_by_alias(header, targets, taken)
    columns = _columns(labels, targets, warnings)
    if len(header) > MAX_COLUMNS:
        warnings.append(f"only the first {MAX_COLUMNS} columns were read")
    return Mapping(tuple(columns)), warnings


def _apply_override(
    override: dict[str, str],
    header: list[str],
    labels: list[str],
    targets: list[str | None],
    warnings: list[str],
) -> set[str]:
    """Set the targets the seller chose into ``targets``; returns the fields they took."""
    taken: set[str] = set()
    for source, target in override.items():
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
    return taken


def _guess_by_alias(header: list[str], targets: list[str | None], taken: set[str]) -> None:
    """Map each field no override took to its best-named column still free, in ``targets``."""
    best: dict[str, tuple[int, int]] = {}  # field → (alias rank, column index)
    for index, raw in enumerate(header[: len(targets)]):
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


def _columns(labels: list[str], targets: list[str | None], warnings: list[str]) -> list[Column]:
    """The columns, those left unmapped kept as custom fields up to :data:`MAX_CUSTOM_COLUMNS`."""
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
    return columns


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


def require_identity(mapping: Mapping, labels: list[str]) -> None:
    """Check the file has what makes a prospect: an email column and a first (or full) name column.

    Raises
    ------
    UploadRejectedError
        Naming the file's columns (the first ten) and what to call the missing one.
    """
    shown = ", ".join(f'"{label}"' for label in labels[:10]) + (", …" if len(labels) > 10 else "")
    if mapping.column("email") is None:
        raise UploadRejectedError(f'no email column: the columns are {shown}; name the email column "Email"')
    if mapping.column("first_name") is None and mapping.column("full_name") is None:
        raise UploadRejectedError(
            f'no first name column: the columns are {shown}; name it "First Name" (or "Name" for full names)'
        )
