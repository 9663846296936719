"""The prospect's contact fields, written once and derived everywhere else.

The one definition is :class:`~chalicelib.domain.models.Prospect`: each contact field carries a
:class:`~chalicelib.domain.models.Contact` marker (its CSV column names, its label, whether a
seller may edit it, whether exports carry it). This module reads those markers and gives every
list the product uses: the CSV mapping targets and their aliases, the editable fields, the export
columns. The API's ``MappingTarget`` enum (and so the OpenAPI document), the CLI's help and the
import preview are built from these. Adding a field means the model and its stored item, nothing
else (``tests/unit/test_contact_fields.py`` shows it).

Pure: pydantic models in, tuples out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from chalicelib.domain.models import Contact, Prospect

#: A CSV column that maps to this import-only target holds the whole name: it is split into
#: ``first_name`` and ``last_name`` (the prospect stores no full name).
FULL_NAME: Final = "full_name"
FULL_NAME_ALIASES: Final = (
    "full name",
    "name",
    "contact name",
    "contact full name",
    "person name",
    "display name",
    "nom complet",
    "nombre completo",
)
#: What a CSV column maps to besides a field: kept under its name in ``custom_fields``, or dropped.
CUSTOM: Final = "custom"
IGNORE: Final = "ignore"


@dataclass(frozen=True)
class ContactSchema:
    """Every list derived from one model's contact fields (see :func:`derive`)."""

    #: The contact fields, in the model's order.
    fields: tuple[str, ...]
    #: What a CSV column can map to as a field: the contact fields with ``full_name`` after the
    #: last name (the order the API documents them in).
    csv_fields: tuple[str, ...]
    #: ``csv_fields`` plus ``custom`` and ``ignore``: every value a column mapping may hold.
    mapping_targets: tuple[str, ...]
    #: CSV column names each of ``csv_fields`` is recognized by, best first.
    aliases: dict[str, tuple[str, ...]]
    #: How a seller's messages name a field (only those whose name, spaced, would not do).
    labels: dict[str, str]
    #: Contact fields a seller may change.
    editable: tuple[str, ...]
    #: Of those, the optional ones a blank value removes.
    blank_clears: tuple[str, ...]
    #: Contact fields the mail-merge export carries, in its column order.
    export_columns: tuple[str, ...]

    def label(self, name: str) -> str:
        """How a message names the field ``name``: ``"first name"``, ``"LinkedIn URL"``."""
        return self.labels.get(name, name.replace("_", " "))


def markers(model: type[BaseModel] = Prospect) -> dict[str, Contact]:
    """Each contact field of ``model`` and its marker, in the model's field order."""
    found: dict[str, Contact] = {}
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Contact)), None)
        if marker is not None:
            found[name] = marker
    return found


def derive(model: type[BaseModel] = Prospect) -> ContactSchema:
    """The lists :class:`ContactSchema` holds, read from ``model``'s :class:`Contact` markers."""
    marked = markers(model)
    fields = tuple(marked)
    # full_name goes right after the name fields: the order the mapping enum always had.
    at = fields.index("last_name") + 1 if "last_name" in fields else len(fields)
    csv_fields = (*fields[:at], FULL_NAME, *fields[at:])
    aliases = {name: marked[name].aliases if name in marked else FULL_NAME_ALIASES for name in csv_fields}
    labels = {name: marker.label for name, marker in marked.items() if marker.label}
    labels[FULL_NAME] = "name"
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    return ContactSchema(
        fields=fields,
        csv_fields=csv_fields,
        mapping_targets=(*csv_fields, CUSTOM, IGNORE),
        aliases=aliases,
        labels=labels,
        editable=tuple(name for name, marker in marked.items() if marker.editable),
        blank_clears=tuple(
            name
            for name, marker in marked.items()
            if marker.editable and marker.blank_clears and name not in required
        ),
        export_columns=tuple(name for name, marker in marked.items() if marker.exported),
    )


#: The prospect's contact fields, derived from :class:`Prospect`.
SCHEMA: Final = derive()
CONTACT_FIELDS: Final = SCHEMA.fields
CSV_FIELDS: Final = SCHEMA.csv_fields
MAPPING_TARGETS: Final = SCHEMA.mapping_targets
ALIASES: Final = SCHEMA.aliases
EDITABLE_FIELDS: Final = SCHEMA.editable
BLANK_CLEARS: Final = SCHEMA.blank_clears
EXPORT_COLUMNS: Final = SCHEMA.export_columns


def mapping_help() -> str:
    """The column-mapping targets as a CLI help text lists them: ``"first_name, …, custom or ignore"``."""
    return ", ".join(MAPPING_TARGETS[:-1]) + f" or {MAPPING_TARGETS[-1]}"
