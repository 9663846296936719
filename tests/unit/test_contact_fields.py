"""The prospect's contact fields are defined once, on the model, and every list follows from it.

Two halves: every consumer's list equals the one derived from :class:`Prospect` today, and a
field added to the model (in a fresh interpreter, so every module derives its lists again)
reaches each of them with no other edit. A list spelled out by hand fails the second half.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api import openapi, schemas
from chalicelib.domain import contact_fields, export, prospects, prospects_csv
from chalicelib.domain.contact_fields import (
    CONTACT_FIELDS,
    CSV_FIELDS,
    EDITABLE_FIELDS,
    EXPORT_COLUMNS,
    MAPPING_TARGETS,
    derive,
)
from chalicelib.domain.models import Contact, Prospect

ROOT = Path(__file__).resolve().parents[2]


def _mapping_enum(document: dict[str, Any]) -> list[str]:
    """The enum the OpenAPI document gives a column mapping's values (an upload's ``mapping``)."""
    mapping = document["components"]["schemas"]["UploadRequest"]["properties"]["mapping"]
    schema = next(s for s in mapping["anyOf"] if s.get("type") == "object")
    enum: list[str] = schema["additionalProperties"]["enum"]
    return enum


def _cli_help() -> str | None:
    """The CLI's ``--map`` help, or None where the CLI is not installed beside the API."""
    try:
        main = importlib.import_module("tailorcast_cli.main")
    except ModuleNotFoundError:
        return None
    help_text: str = typing.get_args(main.MapOpt)[1].help
    return help_text


# --------------------------------------------------------------------------- today's lists


def test_the_contact_fields_are_the_models_marked_fields() -> None:
    marked = tuple(
        n for n, f in Prospect.model_fields.items() if any(isinstance(m, Contact) for m in f.metadata)
    )
    assert marked == CONTACT_FIELDS
    # what the seed schema holds today (a field added to the model shows up here first)
    assert CONTACT_FIELDS == (
        "first_name",
        "last_name",
        "email",
        "company",
        "title",
        "phone",
        "website",
        "linkedin_url",
        "pronunciation",
    )


def test_csv_mapping_targets_come_from_the_model() -> None:
    assert prospects_csv.FIELDS == CSV_FIELDS == (*CONTACT_FIELDS[:2], "full_name", *CONTACT_FIELDS[2:])
    assert frozenset(MAPPING_TARGETS) == prospects_csv.TARGETS
    assert (*CSV_FIELDS, "custom", "ignore") == MAPPING_TARGETS
    assert set(prospects_csv.ALIASES) == set(CSV_FIELDS)
    for name in CONTACT_FIELDS:
        marker = next(m for m in Prospect.model_fields[name].metadata if isinstance(m, Contact))
        assert prospects_csv.ALIASES[name] == marker.aliases


def test_the_api_mapping_target_and_the_openapi_enum_come_from_the_model() -> None:
    assert typing.get_args(schemas.MappingTarget) == MAPPING_TARGETS
    import app  # noqa: F401  (registers every route)
    from chalicelib.api._http import ROUTES

    assert _mapping_enum(openapi.build(ROUTES)) == list(MAPPING_TARGETS)


def test_editable_fields_come_from_the_model() -> None:
    assert frozenset((*EDITABLE_FIELDS, "custom_fields", "variant")) == prospects.EDITABLE_FIELDS
    assert EDITABLE_FIELDS == CONTACT_FIELDS  # every contact field is editable today
    # optional ones a blank removes: not the required names, not the pronunciation override
    assert (
        frozenset(CONTACT_FIELDS)
        - {
            "first_name",
            "email",
            "pronunciation",
        }
        == prospects.OPTIONAL_TEXT_FIELDS
    )


def test_export_columns_come_from_the_model() -> None:
    assert export.PROSPECT_COLUMNS == EXPORT_COLUMNS
    assert tuple(n for n in CONTACT_FIELDS if n != "pronunciation") == EXPORT_COLUMNS
    assert export.FIXED_COLUMNS[: len(EXPORT_COLUMNS)] == EXPORT_COLUMNS


def test_the_import_preview_shows_every_contact_field() -> None:
    assert tuple(schemas.PreviewProspect.model_fields) == (*CONTACT_FIELDS, "custom_fields")


def test_the_cli_help_lists_every_mapping_target() -> None:
    help_text = _cli_help()
    if help_text is None:
        pytest.skip("tailorcast_cli is not importable here")
    assert contact_fields.mapping_help() in help_text


# --------------------------------------------------------------------------- a field added


def test_derive_follows_a_field_added_to_a_model() -> None:
    # GIVEN the prospect model with one more contact field, not exported and never blanked
    class Extended(Prospect):
        department: typing.Annotated[str | None, Contact(("department", "dept"), exported=False)] = None

    # WHEN its lists are derived
    derived = derive(Extended)
    # THEN the field is in each list it belongs to, and only those
    assert derived.fields == (*CONTACT_FIELDS, "department")
    assert derived.csv_fields == (*CSV_FIELDS, "department")
    assert derived.mapping_targets == (*CSV_FIELDS, "department", "custom", "ignore")
    assert derived.aliases["department"] == ("department", "dept")
    assert derived.editable == (*EDITABLE_FIELDS, "department")
    assert "department" in derived.blank_clears
    assert derived.export_columns == EXPORT_COLUMNS
    assert derived.label("department") == "department"


# Runs in a fresh interpreter: the model gets a field before anything derives its lists.
_EXTENDED = textwrap.dedent(
    """
    import io, json, sys, typing
    from chalicelib.domain import models

    class Prospect(models.Prospect):
        department: typing.Annotated[str | None, models.Contact(("department", "dept"))] = None

    models.Prospect = Prospect  # before any consumer imports it

    import app  # noqa: F401  (registers every route for the OpenAPI document)
    from chalicelib.api import openapi, schemas
    from chalicelib.api.prospects import ProspectOut, ProspectUpdate
    from chalicelib.domain import export, prospects, prospects_csv

    preview = prospects_csv.preview_prospects(io.BytesIO(b"First Name,Email,Dept\\nAda,ada@example.com,Sales\\n"))
    [row] = preview.prospects
    built = export.build_export([row], {}, watch_base_url=None)
    out = io.StringIO()
    export.write_csv(built, out)
    upload = openapi.document()["components"]["schemas"]["UploadRequest"]["properties"]["mapping"]
    try:
        from tailorcast_cli import main
        cli = typing.get_args(main.MapOpt)[1].help
    except ModuleNotFoundError:
        cli = None
    json.dump(
        {
            "csv_fields": list(prospects_csv.FIELDS),
            "mapped": preview.mapping,
            "imported": row.department,
            "mapping_target": list(typing.get_args(schemas.MappingTarget)),
            "openapi_enum": next(s for s in upload["anyOf"] if s.get("type") == "object")[
                "additionalProperties"
            ]["enum"],
            "editable": sorted(prospects.EDITABLE_FIELDS),
            "blank_clears": sorted(prospects.OPTIONAL_TEXT_FIELDS),
            "export_columns": list(built.columns),
            "export_header": out.getvalue().splitlines()[0],
            "export_row": out.getvalue().splitlines()[1],
            "preview_fields": list(schemas.PreviewProspect.model_fields),
            "out_fields": list(ProspectOut.model_fields),
            "update_fields": list(ProspectUpdate.model_fields),
            "cli_help": cli,
        },
        sys.stdout,
    )
    """
)


@pytest.fixture(scope="module")
def extended() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _EXTENDED], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_an_added_field_is_a_csv_mapping_target(extended: dict[str, Any]) -> None:
    assert extended["csv_fields"][-1] == "department"
    assert extended["mapped"] == {"First Name": "first_name", "Email": "email", "Dept": "department"}
    assert extended["imported"] == "Sales"


def test_an_added_field_is_in_the_api_and_openapi_enum(extended: dict[str, Any]) -> None:
    assert extended["mapping_target"][-3:] == ["department", "custom", "ignore"]
    assert extended["openapi_enum"] == extended["mapping_target"]
    assert extended["preview_fields"] == [*CONTACT_FIELDS, "department", "custom_fields"]


def test_an_added_field_is_editable(extended: dict[str, Any]) -> None:
    assert "department" in extended["editable"]
    assert "department" in extended["blank_clears"]


def test_an_added_field_is_exported(extended: dict[str, Any]) -> None:
    assert extended["export_columns"][: len(EXPORT_COLUMNS) + 1] == [*EXPORT_COLUMNS, "department"]
    assert extended["export_header"].split(",")[len(EXPORT_COLUMNS)] == '"department"'
    assert extended["export_row"].split(",")[len(EXPORT_COLUMNS)] == '"Sales"'


def test_an_added_field_is_read_and_changed_through_the_api(extended: dict[str, Any]) -> None:
    assert "department" in extended["out_fields"]
    assert "department" in extended["update_fields"]


def test_an_added_field_is_in_the_cli_help(extended: dict[str, Any]) -> None:
    if extended["cli_help"] is None:
        pytest.skip("tailorcast_cli is not importable here")
    assert "department" in extended["cli_help"]
