"""The prospects CSV import: real exporters' layouts, encodings, delimiters, bad files, limits.

Every CSV here is written by the project in the header layout its exporter produces.
"""

from __future__ import annotations

import codecs
import io
import random
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import campaigns as svc
from chalicelib.domain import prospects_csv as pc
from chalicelib.domain.errors import InvalidInputError, UploadRejectedError
from chalicelib.domain.ingest import IngestLimits, ingest_upload
from chalicelib.domain.models import CsvImportStatus, Prospect, UploadKind, VideoProbe, new_id
from tests import fakes

ACCOUNT, CAMPAIGN = new_id("acct"), new_id("camp")


def _open(data: bytes, mapping: dict[str, str] | None = None) -> pc.ProspectsCsv:
    return pc.read_prospects_csv(io.BytesIO(data), mapping)


def _import(data: bytes, repo=None, **kw):  # type: ignore[no-untyped-def]
    repo = repo if repo is not None else fakes.FakeProspectRepository()
    source = _open(data, kw.pop("mapping", None))
    if isinstance(repo, NullProspects):
        return source, pc.import_prospects(source, ACCOUNT, CAMPAIGN, repo, **kw), repo
    with repo.bulk_writer(ACCOUNT, CAMPAIGN, "upl_test") as writer:
        tally = pc.import_prospects(source, ACCOUNT, CAMPAIGN, writer, **kw)
    return source, tally, repo


def _stored(repo: fakes.FakeProspectRepository) -> list[Prospect]:
    return sorted(repo.items.get((ACCOUNT, CAMPAIGN), {}).values(), key=lambda p: p.prospect_id)


def _csv(*lines: str, newline: str = "\r\n") -> str:
    return newline.join(lines) + newline


class NullProspects:
    """A writer that accepts every prospect and keeps only their first names (for big files)."""

    def __init__(self) -> None:
        self.first_names: list[str] = []
        self.existing: set[str] = set()
        self.written = 0

    @property
    def added(self) -> int:
        return len(self.first_names)

    def add(self, prospect: Prospect) -> None:
        self.first_names.append(prospect.first_name)
        self.written += 1

    def flush(self) -> None:
        return None


# --------------------------------------------------------------------------- exporters


EXPORTERS: dict[str, tuple[bytes, dict[str, str], dict[str, Any]]] = {
    "hubspot": (
        _csv(
            "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Website URL,"
            "Lifecycle Stage,Contact owner",
            "5101,Priya,Patel,priya@acme.io,+1 415 555 0100,Acme Inc,VP Sales,https://acme.io,Lead,Sam Lee",
        ).encode(),
        {
            "first_name": "First Name",
            "last_name": "Last Name",
            "email": "Email",
            "phone": "Phone Number",
            "company": "Company Name",
            "title": "Job Title",
            "website": "Website URL",
        },
        {
            "first_name": "Priya",
            "last_name": "Patel",
            "company": "Acme Inc",
            "title": "VP Sales",
            "website": "https://acme.io",
            "custom_fields": {"Record ID": "5101", "Lifecycle Stage": "Lead", "Contact owner": "Sam Lee"},
        },
    ),
    "salesforce": (
        _csv(
            '"Salutation","First Name","Last Name","Title","Account Name","Email","Phone","Mailing City"',
            '"Ms.","Sofía","García","Director of IT","Globex, Corp.","sofia@globex.com","(555) 010-2000","Austin"',
        ).encode(),
        {
            "first_name": "First Name",
            "last_name": "Last Name",
            "title": "Title",
            "company": "Account Name",
            "email": "Email",
            "phone": "Phone",
        },
        {
            "first_name": "Sofía",
            "last_name": "García",
            "company": "Globex, Corp.",
            "title": "Director of IT",
            "custom_fields": {"Salutation": "Ms.", "Mailing City": "Austin"},
        },
    ),
    "apollo": (
        _csv(
            "First Name,Last Name,Title,Company,Company Name for Emails,Email,Email Status,Seniority,"
            "First Phone,Work Direct Phone,Mobile Phone,Corporate Phone,# Employees,Industry,"
            "Person Linkedin Url,Website,Company Linkedin Url,City,Country,Apollo Contact Id",
            "Marcus,Chen,Head of RevOps,Umbrella,Umbrella,marcus@umbrella.com,Verified,Head,"
            "'+1 212 555 0142,,,'+1 212 555 0100,250,Software,"
            "http://www.linkedin.com/in/marcuschen,http://www.umbrella.com,"
            "http://www.linkedin.com/company/umbrella,New York,United States,64f0c0ffee",
        ).encode(),
        {
            "first_name": "First Name",
            "last_name": "Last Name",
            "title": "Title",
            "company": "Company",
            "email": "Email",
            "phone": "First Phone",
            "linkedin_url": "Person Linkedin Url",
            "website": "Website",
        },
        {
            "title": "Head of RevOps",
            "linkedin_url": "http://www.linkedin.com/in/marcuschen",
            "phone": "'+1 212 555 0142",
        },
    ),
    "outlook": (
        _csv(
            "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,"
            "Business City,Business Phone,Mobile Phone,E-mail Address,E-mail Display Name,Web Page,Notes",
            "Dr.,Amara,,Okafor,,Initech,R&D,CTO,1 Marina Rd,Lagos,+234 1 555 0101,,amara@initech.ng,"
            '"Amara Okafor (amara@initech.ng)",https://initech.ng,',
        ).encode(),
        {
            "first_name": "First Name",
            "last_name": "Last Name",
            "company": "Company",
            "title": "Job Title",
            "phone": "Business Phone",
            "email": "E-mail Address",
            "website": "Web Page",
        },
        {
            "title": "CTO",  # not the honorific
            "custom_fields": {
                "Title": "Dr.",
                "Department": "R&D",
                "Business Street": "1 Marina Rd",
                "Business City": "Lagos",
                "E-mail Display Name": "Amara Okafor (amara@initech.ng)",
            },
        },
    ),
    "google": (
        _csv(
            "Name,Given Name,Additional Name,Family Name,Nickname,Birthday,Notes,Group Membership,"
            "E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Organization 1 - Type,"
            "Organization 1 - Name,Organization 1 - Title,Website 1 - Type,Website 1 - Value",
            "Siobhán Murphy,Siobhán,,Murphy,,,,* myContacts,* Work,siobhan@hooli.ie,Work,+353 1 555 0199,,"
            "Hooli,Head of Growth,Work,https://hooli.ie",
        ).encode(),
        {
            "full_name": "Name",
            "first_name": "Given Name",
            "last_name": "Family Name",
            "email": "E-mail 1 - Value",
            "phone": "Phone 1 - Value",
            "company": "Organization 1 - Name",
            "title": "Organization 1 - Title",
            "website": "Website 1 - Value",
        },
        {"first_name": "Siobhán", "last_name": "Murphy", "company": "Hooli", "title": "Head of Growth"},
    ),
    "mailchimp": (
        _csv(
            "Email Address,First Name,Last Name,Address,Phone Number,Birthday,Company,MEMBER_RATING,"
            "OPTIN_TIME,LAST_CHANGED,LEID,TAGS",
            'lena@stark.io,Lena,Fischer,"Hauptstr. 1, Berlin",,05/17,Stark,2,2024-01-05 10:00:00,'
            '2024-02-01 09:00:00,123456,"""Q3"""',
        ).encode(),
        {
            "email": "Email Address",
            "first_name": "First Name",
            "last_name": "Last Name",
            "phone": "Phone Number",
            "company": "Company",
        },
        {
            "first_name": "Lena",
            "company": "Stark",
            "custom_fields": {
                "Address": "Hauptstr. 1, Berlin",
                "Birthday": "05/17",
                "MEMBER_RATING": "2",
                "OPTIN_TIME": "2024-01-05 10:00:00",
                "LAST_CHANGED": "2024-02-01 09:00:00",
                "LEID": "123456",
                "TAGS": '"Q3"',
            },
        },
    ),
    "lemlist": (
        _csv(
            "email,firstName,lastName,companyName,jobTitle,linkedinUrl,phone,icebreaker,companyDomain",
            "kenji@wayne.jp,Kenji,Watanabe,Wayne KK,CFO,https://linkedin.com/in/kenji,,Loved your talk,wayne.jp",
            newline="\n",
        ).encode(),
        {
            "email": "email",
            "first_name": "firstName",
            "last_name": "lastName",
            "company": "companyName",
            "title": "jobTitle",
            "linkedin_url": "linkedinUrl",
            "phone": "phone",
            "website": "companyDomain",
        },
        {"first_name": "Kenji", "website": "wayne.jp", "custom_fields": {"icebreaker": "Loved your talk"}},
    ),
    "excel-semicolon-cp1252": (
        _csv(
            "Name;E-mail;Company / Account", "José Müller;jose.muller@example.de;Müller & Söhne GmbH"
        ).encode("cp1252"),
        {"full_name": "Name", "email": "E-mail", "company": "Company / Account"},
        {"first_name": "José", "last_name": "Müller", "company": "Müller & Söhne GmbH", "custom_fields": {}},
    ),
}


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_exporter_layouts_map_with_no_override(exporter: str) -> None:
    # GIVEN a file exactly as the exporter writes it
    data, fields, expected = EXPORTERS[exporter]
    # WHEN it is imported with no mapping
    source, tally, repo = _import(data)
    # THEN every known column lands on its field, the rest are custom fields, and the row imports
    mapped = {target: label for label, target in source.mapping.as_dict().items() if target in pc.FIELDS}
    assert mapped == fields
    assert (tally.total_rows, tally.imported, tally.failed, tally.errors) == (1, 1, 0, [])
    (prospect,) = _stored(repo)
    for name, value in expected.items():
        assert getattr(prospect, name) == value, name


def test_excel_cp1252_semicolons_are_detected_with_a_warning() -> None:
    source, _, repo = _import(EXPORTERS["excel-semicolon-cp1252"][0])
    assert (source.encoding, source.delimiter) == ("cp1252", ";")
    assert any("Windows-1252" in w for w in source.warnings)
    assert _stored(repo)[0].first_name == "José"


def test_utf8_bom_is_dropped_from_the_first_header() -> None:
    data = "\ufeffFirst Name,Email\r\nZoë,zoe@example.com\r\n".encode()
    source, tally, repo = _import(data)
    assert source.encoding == "utf-8-sig" and source.warnings == []
    assert list(source.mapping.as_dict()) == ["First Name", "Email"]
    assert tally.imported == 1 and _stored(repo)[0].first_name == "Zoë"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_with_a_bom_tab_separated(codec: str) -> None:
    # Excel's "Unicode Text" is UTF-16 with a BOM, tab-separated.
    text = "First Name\tLast Name\tEmail\r\nŁukasz\tNowak\tlukasz@example.pl\r\n李\t王\twang@example.cn\r\n"
    bom = {"utf-16-be": b"\xfe\xff"}.get(codec, b"")
    source, tally, repo = _import(bom + text.encode(codec))
    assert source.delimiter == "\t" and source.encoding in ("utf-16", "utf-32")
    assert tally.imported == 2
    assert [(p.first_name, p.last_name) for p in _stored(repo)] == [("Łukasz", "Nowak"), ("李", "王")]


def test_quoted_newlines_quotes_and_delimiters_in_cells() -> None:
    data = (
        b"First Name,Email,Notes\r\n"
        b'Ada,ada@example.com,"met at ""DevCon"", Berlin\r\nfollow up, in Q3"\r\n'
        b'Grace,grace@example.com,"multi\nline"\r\n'
        b"Alan,not-an-email,\r\n"
    )
    _, tally, repo = _import(data)
    assert [p.custom_fields["Notes"] for p in _stored(repo)] == [
        'met at "DevCon", Berlin\r\nfollow up, in Q3',
        "multi\nline",
    ]
    # A quoted cell spanning lines is one spreadsheet row: Alan is row 4.
    assert [(e.row, e.field) for e in tally.errors] == [(4, "email")]


def test_row_numbers_count_the_header_and_blank_rows() -> None:
    data = _csv("First Name,Email", "Ada,ada@example.com", "", ",", "Bob,bob@", "", "").encode()
    _, tally, _ = _import(data)
    assert (tally.total_rows, tally.imported, tally.failed) == (2, 1, 1)
    assert [e.row for e in tally.errors] == [5]


def test_sep_line_sets_the_delimiter_and_is_not_a_row() -> None:
    data = _csv("sep=;", "First Name;Email;Notes", "Ada;ada@example.com;a, b", "Bob;;x").encode()
    source, tally, _ = _import(data)
    assert source.delimiter == ";" and tally.imported == 1
    assert [(e.row, e.field) for e in tally.errors] == [(3, "email")]


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("first_name,email,company", ","),
        ("first_name;email;company", ";"),
        ("first_name\temail\tcompany", "\t"),
        ('"Name, full";email;company', ";"),
        ("email", ","),
    ],
)
def test_delimiter_detection(header: str, delimiter: str) -> None:
    sample = f"{header}\nJane Doe{delimiter}jane@example.com{delimiter}Acme, Inc\n"
    assert pc.detect_delimiter(sample) == delimiter


def test_stray_cp1252_bytes_after_a_utf8_start_are_read_as_cp1252() -> None:
    ascii_rows = "".join(f"Person{i},person{i}@example.com\r\n" for i in range(3_000))  # > 64 KB
    data = b"First Name,Email\r\n" + ascii_rows.encode() + "José,jose@example.com\r\n".encode("cp1252")
    source, tally, repo = _import(data, repo=NullProspects())
    assert source.encoding == "utf-8" and tally.imported == 3_001
    assert repo.first_names[-1] == "José"
    assert any("not valid UTF-8" in w for w in source.warnings)


def test_cp1252_undefined_bytes_do_not_crash() -> None:
    _, tally, repo = _import(b"First Name,Email\r\nA\x81\xe9,a@example.com\r\n")
    assert tally.imported == 1 and _stored(repo)[0].first_name == "A\x81é"


# --------------------------------------------------------------------------- names and validation


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("José Müller", "José", "Müller"),
        ("Dr. Jane Smith", "Jane", "Smith"),
        ("Müller, José", "José", "Müller"),
        ("Jan van der Berg", "Jan", "van der Berg"),
        ("Cher", "Cher", ""),
        ("Mr.", "Mr.", ""),
    ],
)
def test_split_full_name(full: str, first: str, last: str) -> None:
    assert pc.split_full_name(full) == (first, last)


def test_names_are_trimmed_and_whitespace_normalized() -> None:
    data = _csv(
        "First Name,Last Name,Email", '"  Mary \u00a0 Ann ","  de   la Cruz ", Mary@Example.COM '
    ).encode()
    _, _, repo = _import(data)
    (p,) = _stored(repo)
    assert (p.first_name, p.last_name, p.email_key) == ("Mary Ann", "de la Cruz", "mary@example.com")


def test_every_problem_of_a_row_is_reported_and_good_rows_still_import() -> None:
    data = _csv(
        "First Name,Last Name,Email,Phone",
        f"{'A' * 101},Doe,jane@example.com,",
        ",Doe,nobody-at-example.com,",
        "Ok,,ok@example.com," + "9" * 51,
        "Good,Row,good@example.com,+1 555",
        "Ann,,,",
    ).encode()
    _, tally, repo = _import(data)
    assert [p.first_name for p in _stored(repo)] == ["Good"]
    assert (tally.total_rows, tally.imported, tally.failed) == (5, 1, 4)
    found = [(e.row, e.field) for e in tally.errors]
    assert found == [(2, "first_name"), (3, "first_name"), (3, "email"), (4, "phone"), (6, "email")]
    messages = {(e.row, e.field): e.message for e in tally.errors}
    assert "at most 100 characters" in messages[(2, "first_name")]
    assert messages[(3, "first_name")] == 'first name is missing (column "First Name")'
    assert messages[(3, "email")].startswith('column "Email": value is not a valid email address')
    assert messages[(6, "email")] == 'email is missing (column "Email")'


def test_email_forms_seen_in_exports() -> None:
    data = _csv(
        "Name,Email", "Jane Doe,Jane Doe <jane@example.com>", "Bob Roe,mailto:bob@example.com"
    ).encode()
    _, tally, repo = _import(data)
    assert tally.imported == 2
    assert sorted(p.email_key for p in _stored(repo)) == ["bob@example.com", "jane@example.com"]


def test_full_name_fills_in_when_first_name_is_blank() -> None:
    data = _csv("Name,Given Name,Family Name,Email", "Jane Smith,,,jane@example.com").encode()
    _, _, repo = _import(data)
    (p,) = _stored(repo)
    assert (p.first_name, p.last_name) == ("Jane", "Smith")


# --------------------------------------------------------------------------- duplicates


def test_duplicates_differing_in_case_and_whitespace() -> None:
    data = _csv(
        "First Name,Email", "Ada,ada@example.com", "Ada,  ADA@Example.com ", "Ada,Ada@EXAMPLE.COM"
    ).encode()
    _, tally, repo = _import(data)
    assert (tally.imported, tally.duplicates, tally.failed) == (1, 2, 0)
    assert len(_stored(repo)) == 1


def test_reimporting_the_same_file_only_adds_duplicates() -> None:
    data = EXPORTERS["hubspot"][0] + b"5102,Tom,Ford,tom@acme.io,,Acme Inc,CEO,,Lead,Sam Lee\r\n"
    _, first, repo = _import(data)
    before = [p.model_dump() for p in _stored(repo)]
    _, again, repo = _import(data, repo=repo)
    assert (first.imported, first.duplicates) == (2, 0)
    assert (again.total_rows, again.imported, again.duplicates, again.failed) == (2, 0, 2, 0)
    assert [p.model_dump() for p in _stored(repo)] == before


# --------------------------------------------------------------------------- unusable files


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\r\n \r\n\r\n", "empty"),
        (b"PK\x03\x04" + b"\x00" * 64, "Excel"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x1f\x8b\x08\x00" + bytes(range(1, 32)) * 4, "gzip"),
        (b"name,email\x00\x00\x01\x02", "not a text CSV"),
        (bytes(range(1, 9)) * 100, "not a text CSV"),
        (b"Company,Phone\r\nAcme,555\r\n", "no email column"),
        (b"Email,Company\r\nada@example.com,Acme\r\n", "no first name column"),
    ],
)
def test_unusable_files_are_rejected_with_a_reason(data: bytes, says: str) -> None:
    with pytest.raises(UploadRejectedError) as err:
        _import(data)
    assert says in err.value.message


_RANDOM = random.Random(1811)
RANDOM_HIGH = bytes(b | 0x80 for b in _RANDOM.randbytes(8192))  # no NUL, no control byte


@pytest.mark.parametrize(
    "data",
    [
        RANDOM_HIGH,
        bytes(b for b in _RANDOM.randbytes(12_000) if b > 31 or b in b"\t\r\n")[:8192],
        codecs.BOM_UTF8 + RANDOM_HIGH,
        b"first_name,email\r\n" + RANDOM_HIGH,  # a text header does not make the rest text
    ],
    ids=["high-bytes", "no-controls", "utf8-bom", "after-a-header"],
)
def test_random_bytes_are_not_a_text_csv(data: bytes) -> None:
    # Read as Windows-1252 every one of these bytes is a character, but barely half are letters:
    # the garbage must not come back as "the columns are …".
    with pytest.raises(UploadRejectedError) as err:
        _open(data)
    assert err.value.message == "this is not a text CSV file"


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Name;Firma;E-Mail\r\nJürgen Groß;Müller & Söhne;jg@example.de\r\n", "cp1252"),
        ("Name,Notes\r\nSeán O’Brien,“VIP” – paid €1.200 (½ now)…\r\n" * 3, "cp1252"),
        ("Όνομα,Επώνυμο,Email\r\nΓιώργος,Παπαδόπουλος,gp@example.gr\r\n", "cp1253"),
        ("Име,Презиме,Email\r\nЃорѓи,Ќосевски,gk@example.mk\r\nЏемаил,Ђурић,dz@example.mk\r\n", "cp1251"),
    ],
    ids=["german", "typography", "greek-cp1253", "macedonian-cp1251"],
)
def test_text_in_a_single_byte_code_page_is_text(text: str, codec: str) -> None:
    pc.check_text(text.encode(codec))  # read as Windows-1252, but text all the same


def test_missing_column_reason_lists_the_columns() -> None:
    with pytest.raises(UploadRejectedError) as err:
        _open(b"Full Name,Mail Adress,Company\r\nAda,ada@example.com,X\r\n")
    assert err.value.message.startswith(
        'no email column: the columns are "Full Name", "Mail Adress", "Company"'
    )


def test_header_only_file_is_rejected() -> None:
    with pytest.raises(UploadRejectedError, match="no prospects"):
        _import(b"First Name,Email\r\n\r\n,\r\n")


# --------------------------------------------------------------------------- ragged and wide


def test_ragged_rows_missing_cells_are_empty_and_extra_cells_ignored() -> None:
    data = _csv(
        "First Name,Email,Company", "Ada,ada@example.com", "Bob,bob@example.com,Acme,extra,more", "Cy"
    ).encode()
    source, tally, repo = _import(data)
    assert [(p.first_name, p.company) for p in _stored(repo)] == [("Ada", None), ("Bob", "Acme")]
    assert [(e.row, e.field) for e in tally.errors] == [(4, "email")]
    assert any("more cells than the header (first: row 3)" in w for w in source.warnings)


def test_a_row_with_500_cells_under_a_short_header() -> None:
    data = b"First Name,Email\r\nAda,ada@example.com," + b",".join(b"x%d" % i for i in range(498)) + b"\r\n"
    _, tally, repo = _import(data)
    assert tally.imported == 1 and _stored(repo)[0].custom_fields == {}


def test_a_500_column_header_keeps_100_custom_fields() -> None:
    header = ["First Name", "Email"] + [f"Col {i}" for i in range(498)]
    row = ["Ada", "ada@example.com"] + [f"v{i}" for i in range(498)]
    data = (",".join(header) + "\r\n" + ",".join(row) + "\r\n").encode()
    source, _, repo = _import(data)
    targets = list(source.mapping.as_dict().values())
    assert targets.count(pc.CUSTOM) == pc.MAX_CUSTOM_COLUMNS and targets.count(pc.IGNORE) == 398
    custom = _stored(repo)[0].custom_fields
    assert len(custom) == 100 and custom["Col 0"] == "v0" and "Col 100" not in custom
    assert any("only 100 extra columns" in w for w in source.warnings)


def test_long_custom_values_are_cut_with_a_warning_and_blank_headers_get_a_name() -> None:
    data = b"First Name,Email,,Notes\r\nAda,ada@example.com,x," + b"n" * 5000 + b"\r\n"
    source, _, repo = _import(data)
    assert list(source.mapping.as_dict()) == ["First Name", "Email", "column 3", "Notes"]
    custom = _stored(repo)[0].custom_fields
    assert custom["column 3"] == "x" and len(custom["Notes"]) == pc.MAX_CUSTOM_VALUE_CHARS
    assert any('"Notes" were cut' in w for w in source.warnings)


def test_duplicate_headers_get_distinct_labels() -> None:
    source = _open(b"Email,First Name,Email\r\na@example.com,A,b@example.com\r\n")
    assert source.mapping.as_dict() == {"Email": "email", "First Name": "first_name", "Email (2)": "custom"}


# --------------------------------------------------------------------------- limits


def test_50001_rows_imports_50000_and_says_so() -> None:
    # Rows without an email fail before any write: this exercises the row limit and the error cap
    # over a full-size file and stays fast.
    data = b"First Name,Email\n" + b"Ada,\n" * 50_001
    source, tally, _ = _import(data, repo=NullProspects())
    assert (tally.total_rows, tally.imported, tally.failed) == (50_001, 0, 50_001)
    assert len(tally.errors) == pc.MAX_STORED_ERRORS + 1 and tally.error_count == 50_001
    limit = tally.errors[-1]
    assert (limit.row, limit.field) == (50_002, None)
    assert limit.message == "a file may hold at most 50,000 prospects: row 50,002 was not imported"
    assert any("over the 50,000-row limit" in w for w in source.warnings)
    assert any("only the first 1,001 are listed" in w for w in source.warnings)


def test_rows_over_the_limit_are_not_imported() -> None:
    data = ("First Name,Email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(8))).encode()
    _, tally, repo = _import(data, repo=NullProspects(), max_rows=5)
    assert (tally.total_rows, tally.imported, tally.failed, repo.added) == (8, 5, 3, 5)
    assert tally.errors[-1].message == "a file may hold at most 5 prospects: rows 7 to 9 were not imported"


def test_progress_is_reported() -> None:
    data = ("First Name,Email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(7))).encode()
    seen: list[int] = []
    _import(data, repo=NullProspects(), on_progress=lambda t: seen.append(t.imported), progress_every=3)
    assert seen == [3, 6]


# --------------------------------------------------------------------------- mapping


def test_explicit_mapping_overrides_the_guess() -> None:
    data = _csv(
        "Contact,Mail,Work Email,Title,Internal", "Jane Smith,jane@home.io,jane@acme.io,Dr.,x"
    ).encode()
    source, _, repo = _import(
        data, mapping={"Contact": "full_name", "work email": "email", "Title": "custom", "Internal": "ignore"}
    )
    assert source.mapping.as_dict() == {
        "Contact": "full_name",
        "Mail": "custom",
        "Work Email": "email",
        "Title": "custom",
        "Internal": "ignore",
    }
    (p,) = _stored(repo)
    assert (p.first_name, p.last_name, p.email_key, p.title) == ("Jane", "Smith", "jane@acme.io", None)
    assert p.custom_fields == {"Mail": "jane@home.io", "Title": "Dr."}


def test_mapping_errors_and_unknown_columns() -> None:
    header = ["First Name", "Email", "Other"]
    with pytest.raises(InvalidInputError) as err:
        pc.map_columns(header, {"Other": "favourite_color"})
    assert err.value.issues[0].loc == "mapping.Other"
    with pytest.raises(InvalidInputError):
        pc.map_columns(header, {"Email": "email", "Other": "email"})
    mapping, warnings = pc.map_columns(header, {"Nope": "company"})
    assert mapping.as_dict() == {"First Name": "first_name", "Email": "email", "Other": "custom"}
    assert warnings == ['the mapping names a column the file does not have: "Nope"']


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail Address", "email"),
        ("email_address", "email"),
        ("EMAIL", "email"),
        ("first_name", "first_name"),
        ("FirstName", "first_name"),
        ("Prénom", "first_name"),
        ("LinkedIn URL", "linkedin_url"),
        ("Company / Account", "company"),
        ("Mobile Phone", "phone"),
        ("Name Pronunciation", "pronunciation"),
        ("Email Status", None),
        ("Company Linkedin Url", None),
    ],
)
def test_header_variants(header: str, field: str | None) -> None:
    mapping, _ = pc.map_columns([header])
    assert mapping.columns[0].target == (field or pc.CUSTOM)


@given(st.text(max_size=40))
def test_normalize_header_is_a_fixed_point(header: str) -> None:
    once = pc.normalize_header(header)
    assert pc.normalize_header(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(alphabet=string.ascii_letters + string.digits + " _-./()", max_size=40))
def test_header_key_ignores_case_and_separators(header: str) -> None:
    key = pc.header_key(header)
    assert key == pc.header_key(header.swapcase()) == pc.header_key(header.replace(" ", "_"))
    assert key == "".join(ch for ch in header.lower() if ch.isalnum())


# --------------------------------------------------------------------------- the ingest entry point


PROBE = fakes.FakeMediaProbe(
    VideoProbe(container="mp4", video_codec="h264", width=1, height=1, duration_seconds=1, frame_rate=30)
)
LIMITS = IngestLimits(max_video_bytes=10 * 2**20, max_video_seconds=300, max_csv_bytes=2**20)


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    campaigns = fakes.FakeCampaignRepository()
    campaign = svc.create_campaign(campaigns, ACCOUNT, "Q4")
    return {
        "accounts": fakes.accounts_with(ACCOUNT),
        "campaigns": campaigns,
        "campaign_id": campaign.campaign_id,
        "prospects": fakes.FakeProspectRepository(),
        "imports": fakes.FakeCsvImportRepository(),
        "store": fakes.FakeObjectStore(),
    }


def _upload(w, data: bytes):  # type: ignore[no-untyped-def]
    ticket = svc.request_upload(
        campaigns=w["campaigns"],
        imports=w["imports"],
        uploads=w["store"],
        account_id=ACCOUNT,
        campaign_id=w["campaign_id"],
        kind=UploadKind.PROSPECTS_CSV,
        filename="leads.csv",
        content_type="text/csv",
        size_bytes=max(len(data), 1),
        max_video_bytes=LIMITS.max_video_bytes,
        max_csv_bytes=LIMITS.max_csv_bytes,
        ttl_seconds=600,
    )
    w["store"].objects[ticket.key] = data
    outcome = ingest_upload(
        ticket.key,
        accounts=w["accounts"],
        campaigns=w["campaigns"],
        imports=w["imports"],
        prospects=w["prospects"],
        store=w["store"],
        probe=PROBE,
        limits=LIMITS,
        start_ladder=lambda c: "never",
    )
    return outcome, w["imports"].get(ACCOUNT, w["campaign_id"], ticket.upload_id)


def test_ingest_imports_and_counts(world) -> None:  # type: ignore[no-untyped-def]
    data = _csv(
        "First Name,Email,Plan", "Ada,ada@example.com,pro", "Bob,bob@", "Cy,ADA@example.com,"
    ).encode()
    outcome, record = _upload(world, data)
    assert outcome.status == "completed"
    assert record.status is CsvImportStatus.COMPLETED and record.completed_at is not None
    assert (record.total_rows, record.imported, record.duplicates, record.failed) == (3, 1, 1, 1)
    assert [(e.row, e.field) for e in record.errors] == [(3, "email")]
    assert (record.encoding, record.delimiter) == ("utf-8", ",")
    assert record.mapping == {"First Name": "first_name", "Email": "email", "Plan": "custom"}
    assert world["campaigns"].get(ACCOUNT, world["campaign_id"]).counters.prospects == 1
    # The same file again: nothing new, and the campaign counter does not move.
    outcome, again = _upload(world, data)
    assert (again.imported, again.duplicates, again.failed) == (0, 2, 1)
    assert world["campaigns"].get(ACCOUNT, world["campaign_id"]).counters.prospects == 1


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"First Name,Email\r\n", "no prospects"),
        (b"Company\r\nAcme\r\n", "no email column"),
        (b"PK\x03\x04" + b"\x00" * 10, "Excel"),
        (b"\x89PNG\r\n\x1a\n", "image"),
    ],
)
def test_ingest_rejects_unusable_files(world, data: bytes, says: str) -> None:  # type: ignore[no-untyped-def]
    outcome, record = _upload(world, data)
    assert outcome.status == "rejected" and record.status is CsvImportStatus.REJECTED
    assert says in (record.reason or "") and record.imported == 0


def test_ingest_duplicate_delivery_is_ignored(world) -> None:  # type: ignore[no-untyped-def]
    _, record = _upload(world, b"First Name,Email\nAda,ada@example.com\n")
    again = ingest_upload(
        record.key,
        accounts=world["accounts"],
        campaigns=world["campaigns"],
        imports=world["imports"],
        prospects=world["prospects"],
        store=world["store"],
        probe=PROBE,
        limits=LIMITS,
        start_ladder=lambda c: "never",
    )
    assert (again.status, again.reason) == ("ignored", "already received")


def test_ingest_stopped_by_a_storage_failure_keeps_what_was_imported(world) -> None:  # type: ignore[no-untyped-def]
    world["prospects"].fail_after = 2  # the third prospect's write fails
    data = _csv(
        "First Name,Email", "Ada,ada@example.com", "Bob,bob@example.com", "Cy,cy@example.com"
    ).encode()
    outcome, record = _upload(world, data)
    assert outcome.status == "failed" and record.status is CsvImportStatus.FAILED and record.imported == 2
    assert record.reason is not None and record.reason.startswith("the import stopped at row 4")
    assert world["campaigns"].get(ACCOUNT, world["campaign_id"]).counters.prospects == 2


# --------------------------------------------------------------------------- any CRM export


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Person - Email - Work", "email"),
        ("Contact: First Name", "first_name"),
        ("Lead - Company", "company"),
        ("Email (Primary)", "email"),
        ("Email 1", "email"),
        ("E-mail 2 - Value", "email"),
        ("Primary Email", "email"),
        ("Home Email", "email"),
        ("contact_primary_phone", "phone"),
        ("Emails", "email"),
        ("Person - Name", "full_name"),
        ("Organization - Name", "company"),
        ("Account Website", "website"),
        ("Person Company Name", "company"),
        ("E-mail 1 - Type", None),  # the kind of address, not the address
        ("Person - Owner", None),
        ("Previous Company Name", None),
        ("Phone - Fax", None),
    ],
)
def test_entity_prefixes_and_kind_suffixes_are_understood(header: str, field: str | None) -> None:
    mapping, _ = pc.map_columns([header])
    assert mapping.columns[0].target == (field or pc.CUSTOM)


def test_an_exact_name_beats_a_loose_one_and_the_better_loose_one_wins() -> None:
    # GIVEN an exact alias after loose ones, and two loose ones of one field
    header = ["Person - Email - Work", "Email", "Company Phone 1", "Contact Phone 1", "Email - Home"]
    mapping, _ = pc.map_columns(header)
    # THEN the exact "Email" wins, the contact's phone beats the company's, the rest are custom
    assert mapping.as_dict() == {
        "Person - Email - Work": "custom",
        "Email": "email",
        "Company Phone 1": "custom",
        "Contact Phone 1": "phone",
        "Email - Home": "custom",
    }


def test_lines_above_the_column_names_are_skipped_and_rows_keep_their_numbers() -> None:
    data = _csv(
        "Notes:",
        '"Only some connections share their email, see the settings."',
        "",
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On",
        "Ada,Lovelace,https://www.linkedin.com/in/ada,ada@engine.uk,Engine,CTO,07 Dec 2026",
        "Bob,Byte,https://www.linkedin.com/in/bob,,Acme,CEO,06 Dec 2026",
    ).encode()
    source, tally, repo = _import(data)
    assert source.delimiter == ","
    assert source.warnings[0] == (
        "the first 3 lines of the file are not column names and were skipped; the column names are on row 4"
    )
    assert [(e.row, e.field) for e in tally.errors] == [(6, "email")]
    (p,) = _stored(repo)
    # LinkedIn's "URL" is the member's profile, not a company website
    assert (p.first_name, p.linkedin_url, p.website) == ("Ada", "https://www.linkedin.com/in/ada", None)


def test_a_file_with_no_email_header_in_its_first_rows_is_rejected_as_before() -> None:
    data = _csv("Notes:", "Name,Company", "Ada,Engine").encode()
    with pytest.raises(UploadRejectedError, match='no email column: the columns are "Notes:"'):
        _open(data)


def test_multi_value_cells_keep_the_first_valid_email_and_the_others() -> None:
    data = _csv(
        "First Name,E-mail 1 - Value,Phone 1 - Value",
        "Ana,not-an-email ::: ana@perez.mx ::: ana@home.mx,+52 1 ::: +52 2",
        "Kim,kim@x.kr ::: ,",
    ).encode()
    _, tally, repo = _import(data)
    assert (tally.imported, tally.failed) == (2, 0)
    ana, kim = sorted(_stored(repo), key=lambda p: p.first_name)
    assert (ana.email_key, ana.phone) == ("ana@perez.mx", "+52 1")
    assert ana.custom_fields == {
        "E-mail 1 - Value (others)": "not-an-email ::: ana@home.mx",
        "Phone 1 - Value (others)": "+52 2",
    }
    assert (kim.email_key, kim.custom_fields) == ("kim@x.kr", {})


def test_a_multi_value_cell_with_no_valid_email_fails_on_its_first_value() -> None:
    _, tally, _ = _import(_csv("First Name,Email", "Ana,nope ::: nada").encode())
    assert (tally.failed, tally.errors[0].row, tally.errors[0].field) == (1, 2, "email")


def test_a_report_footer_is_ignored_with_one_warning() -> None:
    data = _csv(
        '"First Name","Email","Company"',
        '"Ada","ada@engine.uk","Engine"',
        '""',
        '"Grand Totals (1 records)"',
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."',
        '"Confidential Information - Do Not Distribute"',
        '"Generated By:  Jane Doe  12/7/2026 9:41 AM"',
        '"Acme Corp"',
    ).encode()
    source, tally, _ = _import(data)
    assert (tally.total_rows, tally.imported, tally.failed) == (1, 1, 0)
    assert source.warnings == [
        "the last 5 lines of the file (a report's totals and notes, not prospects) were ignored"
    ]


def test_rows_that_only_look_like_a_footer_are_rows_when_data_follows() -> None:
    # GIVEN a blank row, then a row with one cell, then a real row
    data = _csv("First Name,Email", "Ada,ada@engine.uk", "", "Bob,", "Cy,cy@x.io").encode()
    source, tally, _ = _import(data)
    # THEN the one-cell row is a failed row at its own number, and nothing is called a footer
    assert (tally.total_rows, tally.imported, [(e.row, e.field) for e in tally.errors]) == (
        3,
        2,
        [(4, "email")],
    )
    assert source.warnings == []


def test_a_last_row_with_one_cell_and_no_blank_row_before_it_is_a_row() -> None:
    _, tally, _ = _import(_csv("First Name,Email", "Ada,ada@engine.uk", "Bob,").encode())
    assert (tally.total_rows, tally.failed) == (2, 1)
