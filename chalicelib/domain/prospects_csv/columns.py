"""Which column of a prospects CSV feeds which prospect field: header names and the column mapping.

Columns are mapped by name (see :data:`ALIASES`, derived from the prospect's contact fields in
:mod:`chalicelib.domain.contact_fields`): CRM and mail-tool exports (HubSpot, Salesforce, Apollo,
Outlook, Google Contacts, Mailchimp, lemlist, Pipedrive, Zoho, Dynamics 365, Close, Outreach,
Salesloft, Seamless) and free-form sheets work with no setup. A header that is no alias is tried
again without its entity prefix and its kind and ordinal words ("Person - Email - Work",
"Email (Primary)", "Contact Phone 1"); an exact alias always beats such a loose match. Unmapped
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

#: Words a CRM puts before a person's field ("Person - Email", "Contact: Title", "Lead - Company").
_PERSON_PREFIXES: Final = frozenset({"person", "people", "contact", "contacts", "lead", "leads", "prospect"})
#: Words a CRM puts before its company's fields: "Organization - Name" is the company's name and
#: "Account Website" its website, so the rest is read as "company …" ("company name").
_COMPANY_PREFIXES: Final = frozenset({"organization", "organisation", "account"})
#: Kinds and ordinals around a field's name ("Email - Work", "Email (Primary)", "E-mail 2 - Value",
#: "Work Email"). Not "type" or "label": Google's "E-mail 1 - Type" is the kind, not the address.
_KIND_WORDS: Final = frozenset(
    {"work", "home", "other", "primary", "secondary", "personal", "business", "main", "direct", "office"}
    | {"mobile", "value", "1", "2", "3", "4", "5"}
)
_PLURALS: Final = {"emails": "email", "phones": "phone", "urls": "url", "websites": "website"}


def _loose_match(header: str) -> tuple[str, int, int] | None:
    """``header`` matched once its entity prefix and its kind and ordinal words are stripped:
    ``(field, alias rank, words stripped)``, or None. ``"Person - Email - Work"`` → email."""
    words = normalize_header(header).split()
    stripped = 0
    company = False
    if len(words) > 1 and words[0] in _PERSON_PREFIXES | _COMPANY_PREFIXES:
        company = words[0] in _COMPANY_PREFIXES
        words, stripped = words[1:], 1
    while len(words) > 1 and words[-1] in _KIND_WORDS:
        words, stripped = words[:-1], stripped + 1
    while len(words) > 1 and words[0] in _KIND_WORDS:
        words, stripped = words[1:], stripped + 1
    if words and words[-1] in _PLURALS:
        # A plural column ("Emails", "Work Phones") lists several: a singular one is the better name.
        words, stripped = [*words[:-1], _PLURALS[words[-1]]], stripped + 2
    if company:
        words = ["company", *words]
    hit = _ALIAS_RANK.get("".join(words)) if stripped else None
    return None if hit is None else (hit[0], hit[1], stripped)


def _match(header: str) -> tuple[str, tuple[int, int, int]] | None:
    """The field ``header`` names and how well: an exact alias beats any loose match, then the
    alias's rank ("Contact Phone 1" is a better phone than "Company Phone 1"), then fewer words
    stripped."""
    hit = _ALIAS_RANK.get(header_key(header))
    if hit is not None:
        return hit[0], (0, hit[1], 0)
    loose = _loose_match(header)
    if loose is None:
        return None
    return loose[0], (1, loose[1], loose[2])


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
    best: dict[str, tuple[tuple[int, int, int], int]] = {}  # field → (how well, column index)
    for index, raw in enumerate(header[: len(targets)]):
        if targets[index] is not None:
            continue
        hit = _match(raw)
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
