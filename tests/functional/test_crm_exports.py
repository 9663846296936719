"""Real CRM and mail-tool exports, unchanged, through the product's entry points (moto).

Each file is written here in the exact header layout its exporter produces, with that exporter's
quirks (a BOM, semicolons, cp1252, quoted newlines, honorifics, UTF-16 with tabs, camelCase,
quote-prefixed phones, entity-prefixed headers, a preamble above the header, multi-value cells, a
report footer). Each goes through the preview API and the S3-triggered import with no
mapping override, and must come out the same way: every known column on its field, every other
column kept as a custom field, encoding and delimiter detected, every good row imported with its
normalized values, and bad rows reported at the row number a spreadsheet shows (header = row 1;
a quoted cell spanning lines is one row).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.functional.conftest import Tenant, all_prospects, call, get_json, upload_csv

FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company",
    "title",
    "phone",
    "website",
    "linkedin_url",
    "pronunciation",
    "custom_fields",
)
CP1252_WARNING = (
    "the file is not UTF-8, so it was read as Windows-1252 (Western European); if names look wrong, "
    'save it as "CSV UTF-8" and upload it again'
)
NOT_AN_EMAIL = 'column "Email": value is not a valid email address'


@dataclass(frozen=True)
class Export:
    """A file as an exporter writes it, and what importing it must give."""

    data: bytes
    encoding: str
    delimiter: str
    mapping: dict[str, str]  # every column, in file order
    prospects: list[dict[str, Any]]  # the good rows, in file order, normalized
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)  # row, field, message start
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return len(self.prospects) + self.failed + self.duplicates

    @property
    def failed(self) -> int:
        return len({row for row, _, _ in self.errors})


def _prospect(first_name: str, email: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update(first_name=first_name, email=email, custom_fields={})
    out.update(fields)
    return out


def _write(
    header: Sequence[str],
    rows: Sequence[Sequence[str] | dict[str, str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    quote_all: bool = False,
    newline: str = "\r\n",
    first_line: str = "",
) -> bytes:
    """The file as the exporter writes it (a dict row names only its non-blank cells)."""
    out = io.StringIO(newline="")
    out.write(first_line)
    writer = csv.writer(
        out,
        delimiter=delimiter,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        lineterminator=newline,
    )
    writer.writerow(header)
    for row in rows:
        if isinstance(row, dict):
            assert set(row) <= set(header), set(row) - set(header)
            writer.writerow([row.get(name, "") for name in header])
        else:
            assert len(row) == len(header), row
            writer.writerow(row)
    return out.getvalue().encode(encoding)


def _mapping(header: Sequence[str], known: dict[str, str]) -> dict[str, str]:
    """Every column: the known ones on their field, every other one a custom field."""
    assert set(known) <= set(header)
    return {name: known.get(name, "custom") for name in header}


def _custom(row: dict[str, str], mapping: dict[str, str]) -> dict[str, str]:
    """A wide export's unmapped, non-blank cells: exactly what the prospect keeps."""
    return {name: value for name, value in row.items() if mapping[name] == "custom" and value.strip()}


# --------------------------------------------------------------------------- the exporters

# HubSpot: UTF-8 with a BOM; a macOS-decomposed "Zoë" (NFD) and an email with stray spaces.
_HUBSPOT_HEADER = (
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Company Name",
    "Job Title",
    "Website URL",
    "Lifecycle Stage",
    "Contact owner",
    "Create Date",
)
HUBSPOT = Export(
    data=_write(
        _HUBSPOT_HEADER,
        [
            (
                "5101",
                "Priya",
                "Patel",
                "priya@acme.io",
                "+1 415 555 0100",
                "Acme Inc",
                "VP Sales",
                "https://acme.io",
                "Lead",
                "Sam Lee",
                "2024-03-01 09:12",
            ),
            (
                "5102",
                "Zoe\u0308",
                "Bronte\u0308",
                " ZOE@Bronte.co.uk ",
                "",
                "Bronte\u0308 & Co",
                "Head of Growth, EMEA",
                "",
                "Subscriber",
                "",
                "2024-03-02 10:00",
            ),
            ("5103", "Tom", "Ford", "tom.ford.acme.io", "", "Acme Inc", "CEO", "", "Lead", "Sam Lee", ""),
            (
                "5104",
                "Wei",
                "Li",
                "li.wei@example.cn",
                "+86 10 5555 0100",
                "示例科技",
                "CTO",
                "https://example.cn",
                "Customer",
                "Sam Lee",
                "2024-03-04 08:00",
            ),
        ],
        encoding="utf-8-sig",
    ),
    encoding="utf-8-sig",
    delimiter=",",
    mapping=_mapping(
        _HUBSPOT_HEADER,
        {
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Phone Number": "phone",
            "Company Name": "company",
            "Job Title": "title",
            "Website URL": "website",
        },
    ),
    prospects=[
        _prospect(
            "Priya",
            "priya@acme.io",
            last_name="Patel",
            phone="+1 415 555 0100",
            company="Acme Inc",
            title="VP Sales",
            website="https://acme.io",
            custom_fields={
                "Record ID": "5101",
                "Lifecycle Stage": "Lead",
                "Contact owner": "Sam Lee",
                "Create Date": "2024-03-01 09:12",
            },
        ),
        _prospect(
            "Zoë",
            "zoe@bronte.co.uk",
            last_name="Brontë",
            company="Brontë & Co",
            title="Head of Growth, EMEA",
            custom_fields={
                "Record ID": "5102",
                "Lifecycle Stage": "Subscriber",
                "Create Date": "2024-03-02 10:00",
            },
        ),
        _prospect(
            "Wei",
            "li.wei@example.cn",
            last_name="Li",
            phone="+86 10 5555 0100",
            company="示例科技",
            title="CTO",
            website="https://example.cn",
            custom_fields={
                "Record ID": "5104",
                "Lifecycle Stage": "Customer",
                "Contact owner": "Sam Lee",
                "Create Date": "2024-03-04 08:00",
            },
        ),
    ],
    errors=[(4, "email", NOT_AN_EMAIL)],
)

# Salesforce report export: every cell quoted, the lone "Title" is the job title, "Salutation"
# is the honorific, and a mailing street spans lines inside its quotes.
_SALESFORCE_HEADER = (
    "Salutation",
    "First Name",
    "Last Name",
    "Title",
    "Account Name",
    "Mailing Street",
    "Mailing City",
    "Email",
    "Phone",
    "Lead Source",
    "Contact ID",
)
SALESFORCE = Export(
    data=_write(
        _SALESFORCE_HEADER,
        [
            (
                "Ms.",
                "Sofía",
                "García",
                "Director of IT",
                "Globex, Corp.",
                "1 Market St\nSuite 300",
                "San Francisco",
                "sofia@globex.com",
                "(415) 555-0100",
                "Web",
                "0035e00000AbCdEAAZ",
            ),
            (
                "Mr.",
                "Jean-Luc",
                "Picard",
                "Captain",
                "Starfleet",
                "24-593 Federation Dr\nBuilding 7\nLa Barre",
                "Paris",
                "JL.Picard@Starfleet.org",
                "",
                "Partner Referral",
                "0035e00000AbCdFAAZ",
            ),
            (
                "Dr.",
                "",
                "Crusher",
                "Chief Medical Officer",
                "Starfleet",
                "",
                "",
                "beverly@starfleet.org",
                "",
                "",
                "0035e00000AbCdGAAZ",
            ),
            ("", "Worf", "", "Head of Security", "Starfleet", "", "", "worf@starfleet.org", "", "", ""),
        ],
        quote_all=True,
    ),
    encoding="utf-8",
    delimiter=",",
    mapping=_mapping(
        _SALESFORCE_HEADER,
        {
            "First Name": "first_name",
            "Last Name": "last_name",
            "Title": "title",
            "Account Name": "company",
            "Email": "email",
            "Phone": "phone",
        },
    ),
    prospects=[
        _prospect(
            "Sofía",
            "sofia@globex.com",
            last_name="García",
            title="Director of IT",
            company="Globex, Corp.",
            phone="(415) 555-0100",
            custom_fields={
                "Salutation": "Ms.",
                "Mailing Street": "1 Market St\nSuite 300",
                "Mailing City": "San Francisco",
                "Lead Source": "Web",
                "Contact ID": "0035e00000AbCdEAAZ",
            },
        ),
        _prospect(
            "Jean-Luc",
            "jl.picard@starfleet.org",
            last_name="Picard",
            title="Captain",
            company="Starfleet",
            custom_fields={
                "Salutation": "Mr.",
                "Mailing Street": "24-593 Federation Dr\nBuilding 7\nLa Barre",
                "Mailing City": "Paris",
                "Lead Source": "Partner Referral",
                "Contact ID": "0035e00000AbCdFAAZ",
            },
        ),
        _prospect("Worf", "worf@starfleet.org", title="Head of Security", company="Starfleet"),
    ],
    # Jean-Luc's street spans three lines of the file; Beverly is still spreadsheet row 4.
    errors=[(4, "first_name", 'first name is missing (column "First Name")')],
)

# Apollo: "Person Linkedin Url", six phone columns (the first phone wins), phones prefixed with
# "'" so Excel keeps the "+", and an unverified contact exported without an email.
_APOLLO_HEADER = (
    "First Name",
    "Last Name",
    "Title",
    "Company",
    "Company Name for Emails",
    "Email",
    "Email Status",
    "Seniority",
    "Departments",
    "First Phone",
    "Work Direct Phone",
    "Home Phone",
    "Mobile Phone",
    "Corporate Phone",
    "Other Phone",
    "# Employees",
    "Industry",
    "Person Linkedin Url",
    "Website",
    "Company Linkedin Url",
    "City",
    "State",
    "Country",
    "Apollo Contact Id",
    "Apollo Account Id",
)
_APOLLO_MAPPING = _mapping(
    _APOLLO_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company": "company",
        "Email": "email",
        "First Phone": "phone",
        "Person Linkedin Url": "linkedin_url",
        "Website": "website",
    },
)
_APOLLO_ROWS = [
    {
        "First Name": "Marcus",
        "Last Name": "Chen",
        "Title": "Head of RevOps",
        "Company": "Umbrella, Inc.",
        "Company Name for Emails": "Umbrella",
        "Email": "marcus@umbrella.com",
        "Email Status": "Verified",
        "Seniority": "Head",
        "Departments": "Sales",
        "First Phone": "'+1 212-555-0142",
        "Work Direct Phone": "'+1 212-555-0142",
        "Corporate Phone": "'+1 212-555-0100",
        "# Employees": "250",
        "Industry": "Computer Software",
        "Person Linkedin Url": "http://www.linkedin.com/in/marcuschen",
        "Website": "http://www.umbrella.com",
        "Company Linkedin Url": "http://www.linkedin.com/company/umbrella",
        "City": "New York",
        "State": "New York",
        "Country": "United States",
        "Apollo Contact Id": "64f0c0ffee01",
        "Apollo Account Id": "54a1b2c3d4",
    },
    {
        "First Name": "Aisha",
        "Last Name": "Khan",
        "Title": "VP Engineering",
        "Company": "Initech",
        "Company Name for Emails": "Initech",
        "Email": "aisha@initech.com",
        "Email Status": "Verified",
        "Seniority": "VP",
        "Departments": "Engineering & Technical",
        "Mobile Phone": "'+44 7700 900123",
        "Corporate Phone": "'+44 20 7946 0000",
        "# Employees": "1200",
        "Industry": "Information Technology & Services",
        "Person Linkedin Url": "http://www.linkedin.com/in/aishakhan",
        "Website": "http://www.initech.com",
        "City": "London",
        "Country": "United Kingdom",
        "Apollo Contact Id": "64f0c0ffee02",
    },
    {
        "First Name": "Sven",
        "Last Name": "Andersson",
        "Title": "CFO",
        "Company": "Hooli",
        "Email Status": "Unavailable",
        "Corporate Phone": "'+46 8 555 0100",
        "Person Linkedin Url": "http://www.linkedin.com/in/svenandersson",
        "Apollo Contact Id": "64f0c0ffee03",
    },
]
APOLLO = Export(
    data=_write(_APOLLO_HEADER, _APOLLO_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_APOLLO_MAPPING,
    prospects=[
        _prospect(
            "Marcus",
            "marcus@umbrella.com",
            last_name="Chen",
            title="Head of RevOps",
            company="Umbrella, Inc.",
            phone="'+1 212-555-0142",
            linkedin_url="http://www.linkedin.com/in/marcuschen",
            website="http://www.umbrella.com",
            custom_fields={
                "Company Name for Emails": "Umbrella",
                "Email Status": "Verified",
                "Seniority": "Head",
                "Departments": "Sales",
                "Work Direct Phone": "'+1 212-555-0142",
                "Corporate Phone": "'+1 212-555-0100",
                "# Employees": "250",
                "Industry": "Computer Software",
                "Company Linkedin Url": "http://www.linkedin.com/company/umbrella",
                "City": "New York",
                "State": "New York",
                "Country": "United States",
                "Apollo Contact Id": "64f0c0ffee01",
                "Apollo Account Id": "54a1b2c3d4",
            },
        ),
        # No "First Phone": the phone stays empty, the mobile is kept as a custom field.
        _prospect(
            "Aisha",
            "aisha@initech.com",
            last_name="Khan",
            title="VP Engineering",
            company="Initech",
            linkedin_url="http://www.linkedin.com/in/aishakhan",
            website="http://www.initech.com",
            custom_fields={
                "Company Name for Emails": "Initech",
                "Email Status": "Verified",
                "Seniority": "VP",
                "Departments": "Engineering & Technical",
                "Mobile Phone": "'+44 7700 900123",
                "Corporate Phone": "'+44 20 7946 0000",
                "# Employees": "1200",
                "Industry": "Information Technology & Services",
                "City": "London",
                "Country": "United Kingdom",
                "Apollo Contact Id": "64f0c0ffee02",
            },
        ),
    ],
    errors=[(4, "email", 'email is missing (column "Email")')],
)

# Outlook (classic, Windows): its full 92-column layout, every cell quoted, cp1252 (with "’" and
# "€", which Latin-1 lacks), the honorific "Title" beside "Job Title", "E-mail Address", a
# multi-line note, and the placeholders it writes into empty fields ("0/0/00", "Normal").
_OUTLOOK_HEADER = (
    "Title",
    "First Name",
    "Middle Name",
    "Last Name",
    "Suffix",
    "Company",
    "Department",
    "Job Title",
    "Business Street",
    "Business Street 2",
    "Business Street 3",
    "Business City",
    "Business State",
    "Business Postal Code",
    "Business Country/Region",
    "Home Street",
    "Home Street 2",
    "Home Street 3",
    "Home City",
    "Home State",
    "Home Postal Code",
    "Home Country/Region",
    "Other Street",
    "Other Street 2",
    "Other Street 3",
    "Other City",
    "Other State",
    "Other Postal Code",
    "Other Country/Region",
    "Assistant's Phone",
    "Business Fax",
    "Business Phone",
    "Business Phone 2",
    "Callback",
    "Car Phone",
    "Company Main Phone",
    "Home Fax",
    "Home Phone",
    "Home Phone 2",
    "ISDN",
    "Mobile Phone",
    "Other Fax",
    "Other Phone",
    "Pager",
    "Primary Phone",
    "Radio Phone",
    "TTY/TDD Phone",
    "Telex",
    "Account",
    "Anniversary",
    "Assistant's Name",
    "Billing Information",
    "Birthday",
    "Business Address PO Box",
    "Categories",
    "Children",
    "Directory Server",
    "E-mail Address",
    "E-mail Type",
    "E-mail Display Name",
    "E-mail 2 Address",
    "E-mail 2 Type",
    "E-mail 2 Display Name",
    "E-mail 3 Address",
    "E-mail 3 Type",
    "E-mail 3 Display Name",
    "Gender",
    "Government ID Number",
    "Hobby",
    "Home Address PO Box",
    "Initials",
    "Internet Free Busy",
    "Keywords",
    "Language",
    "Location",
    "Manager's Name",
    "Mileage",
    "Notes",
    "Office Location",
    "Organizational ID Number",
    "Other Address PO Box",
    "Priority",
    "Private",
    "Profession",
    "Referred By",
    "Sensitivity",
    "Spouse",
    "User 1",
    "User 2",
    "User 3",
    "User 4",
    "Web Page",
)
_OUTLOOK_MAPPING = _mapping(
    _OUTLOOK_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company": "company",
        "Job Title": "title",
        "Business Phone": "phone",
        "E-mail Address": "email",
        "Web Page": "website",
    },
)
_OUTLOOK_BLANKS = {
    "Anniversary": "0/0/00",
    "Birthday": "0/0/00",
    "Gender": "Unspecified",
    "Priority": "Normal",
    "Private": "False",
    "Sensitivity": "Normal",
}
_OUTLOOK_ROWS = [
    {
        **_OUTLOOK_BLANKS,
        "Title": "Dr.",
        "First Name": "José",
        "Last Name": "Müller",
        "Company": "Müller GmbH",
        "Job Title": "CTO",
        "Business Street": "Friedrichstraße 1",
        "Business City": "Berlin",
        "Business Phone": "+49 30 5550100",
        "E-mail Address": "Jose@Mueller.de",
        "E-mail Type": "SMTP",
        "E-mail Display Name": "José Müller (Jose@Mueller.de)",
        "Notes": "Met at DMEXCO, Köln\r\nBudget: 50.000 €",
        "Web Page": "www.mueller.de",
    },
    {
        **_OUTLOOK_BLANKS,
        "Title": "Ms.",
        "First Name": "Siobhán",
        "Last Name": "O’Brien",
        "Company": "O’Brien & Partners",
        "Job Title": "Head of Sales",
        "Mobile Phone": "+353 87 555 0101",
        "E-mail Address": "siobhan@obrien.ie",
        "E-mail Type": "SMTP",
        "E-mail 2 Address": "s.obrien@gmail.com",
        "E-mail 2 Type": "SMTP",
    },
    {**_OUTLOOK_BLANKS, "Title": "Mr.", "Last Name": "Nameless", "E-mail Address": "nobody@example.com"},
    {
        **_OUTLOOK_BLANKS,
        "First Name": "François",
        "Last Name": "Lefèvre",
        "Company": "Société Générale",
        "Job Title": "Directeur commercial",
        "E-mail Address": " FRANCOIS.LEFEVRE@socgen.fr ",
    },
]
OUTLOOK = Export(
    data=_write(_OUTLOOK_HEADER, _OUTLOOK_ROWS, encoding="cp1252", quote_all=True),
    encoding="cp1252",
    delimiter=",",
    mapping=_OUTLOOK_MAPPING,
    prospects=[
        _prospect(
            "José",
            "jose@mueller.de",
            last_name="Müller",
            company="Müller GmbH",
            title="CTO",
            phone="+49 30 5550100",
            website="www.mueller.de",
            custom_fields=_custom(_OUTLOOK_ROWS[0], _OUTLOOK_MAPPING),
        ),
        _prospect(
            "Siobhán",
            "siobhan@obrien.ie",
            last_name="O’Brien",
            company="O’Brien & Partners",
            title="Head of Sales",
            custom_fields=_custom(_OUTLOOK_ROWS[1], _OUTLOOK_MAPPING),
        ),
        _prospect(
            "François",
            "francois.lefevre@socgen.fr",
            last_name="Lefèvre",
            company="Société Générale",
            title="Directeur commercial",
            custom_fields=_custom(_OUTLOOK_ROWS[3], _OUTLOOK_MAPPING),
        ),
    ],
    # José's note spans two lines of the file; the nameless contact is still row 4.
    errors=[(4, "first_name", 'first name is missing (column "First Name")')],
    warnings=[CP1252_WARNING],
)

# Google Contacts ("Google CSV", the classic layout): "Name" beside "Given Name"/"Family Name",
# "E-mail 1 - Value", "Organization 1 - Name"/"- Title" (which beats "Occupation"), the honorific
# in "Name Prefix", " ::: " joining group labels, and a contact with only a full name.
_GOOGLE_HEADER = (
    "Name",
    "Given Name",
    "Additional Name",
    "Family Name",
    "Yomi Name",
    "Given Name Yomi",
    "Additional Name Yomi",
    "Family Name Yomi",
    "Name Prefix",
    "Name Suffix",
    "Initials",
    "Nickname",
    "Short Name",
    "Maiden Name",
    "Birthday",
    "Gender",
    "Location",
    "Billing Information",
    "Directory Server",
    "Mileage",
    "Occupation",
    "Hobby",
    "Sensitivity",
    "Priority",
    "Subject",
    "Notes",
    "Language",
    "Photo",
    "Group Membership",
    "E-mail 1 - Type",
    "E-mail 1 - Value",
    "E-mail 2 - Type",
    "E-mail 2 - Value",
    "Phone 1 - Type",
    "Phone 1 - Value",
    "Organization 1 - Type",
    "Organization 1 - Name",
    "Organization 1 - Yomi Name",
    "Organization 1 - Title",
    "Organization 1 - Department",
    "Organization 1 - Symbol",
    "Organization 1 - Location",
    "Organization 1 - Job Description",
    "Website 1 - Type",
    "Website 1 - Value",
)
_GOOGLE_MAPPING = _mapping(
    _GOOGLE_HEADER,
    {
        "Name": "full_name",
        "Given Name": "first_name",
        "Family Name": "last_name",
        "E-mail 1 - Value": "email",
        "Phone 1 - Value": "phone",
        "Organization 1 - Name": "company",
        "Organization 1 - Title": "title",
        "Website 1 - Value": "website",
    },
)
_GOOGLE_ROWS = [
    {
        "Name": "Dr. Ana Lucía Pérez",
        "Given Name": "Ana Lucía",
        "Family Name": "Pérez",
        "Name Prefix": "Dr.",
        "Occupation": "Consultant",
        "Group Membership": "* myContacts ::: Clients",
        "E-mail 1 - Type": "* Work",
        "E-mail 1 - Value": "ana@perez.mx",
        "Phone 1 - Type": "Mobile",
        "Phone 1 - Value": "+52 55 1234 5678",
        "Organization 1 - Name": "Pérez Consultores",
        "Organization 1 - Title": "Socia directora",
        "Website 1 - Type": "Profile",
        "Website 1 - Value": "https://perez.mx",
    },
    {
        "Name": "Kenji Watanabe",
        "Group Membership": "* myContacts",
        "E-mail 1 - Type": "* Other",
        "E-mail 1 - Value": "Kenji@Example.jp",
    },
    {
        "Name": "Ola Nordmann",
        "Given Name": "Ola",
        "Family Name": "Nordmann",
        "Group Membership": "* myContacts",
        "E-mail 2 - Type": "Home",
        "E-mail 2 - Value": "ola@example.no",
    },
]
GOOGLE = Export(
    data=_write(_GOOGLE_HEADER, _GOOGLE_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_GOOGLE_MAPPING,
    prospects=[
        _prospect(
            "Ana Lucía",
            "ana@perez.mx",
            last_name="Pérez",
            phone="+52 55 1234 5678",
            company="Pérez Consultores",
            title="Socia directora",
            website="https://perez.mx",
            custom_fields=_custom(_GOOGLE_ROWS[0], _GOOGLE_MAPPING),
        ),
        # Only "Name" is filled: it is split into first and last name.
        _prospect(
            "Kenji",
            "kenji@example.jp",
            last_name="Watanabe",
            custom_fields=_custom(_GOOGLE_ROWS[1], _GOOGLE_MAPPING),
        ),
    ],
    errors=[(4, "email", 'email is missing (column "E-mail 1 - Value")')],
)

# Google Contacts, the 2024 layout: "Organization Name"/"Organization Title", "Labels", and a
# "Phonetic First Name" that feeds the pronunciation.
_GOOGLE_2024_HEADER = (
    "First Name",
    "Middle Name",
    "Last Name",
    "Phonetic First Name",
    "Phonetic Middle Name",
    "Phonetic Last Name",
    "Name Prefix",
    "Name Suffix",
    "Nickname",
    "File As",
    "Organization Name",
    "Organization Title",
    "Organization Department",
    "Birthday",
    "Notes",
    "Photo",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
)
_GOOGLE_2024_MAPPING = _mapping(
    _GOOGLE_2024_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Phonetic First Name": "pronunciation",
        "Organization Name": "company",
        "Organization Title": "title",
        "E-mail 1 - Value": "email",
        "Phone 1 - Value": "phone",
    },
)
_GOOGLE_2024_ROWS = [
    {
        "First Name": "Siobhán",
        "Last Name": "Ní Bhriain",
        "Phonetic First Name": "shiv-AWN",
        "Phonetic Last Name": "nee VREE-an",
        "Organization Name": "Ceol Teoranta",
        "Organization Title": "COO",
        "Labels": "* myContacts ::: Prospects",
        "E-mail 1 - Label": "* Work",
        "E-mail 1 - Value": "siobhan@ceol.ie",
        "Phone 1 - Label": "Mobile",
        "Phone 1 - Value": "+353 86 555 0199",
    },
    {
        "First Name": "Thandiwe",
        "Last Name": "Mthembu",
        "Name Prefix": "Ms.",
        "Organization Name": "Ubuntu Labs",
        "Labels": "* myContacts",
        "E-mail 1 - Label": "* Work",
        "E-mail 1 - Value": "thandiwe@ubuntulabs.co.za",
        "Notes": "Prefers WhatsApp\nAvailable after 3pm SAST",
    },
]
GOOGLE_2024 = Export(
    data=_write(_GOOGLE_2024_HEADER, _GOOGLE_2024_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_GOOGLE_2024_MAPPING,
    prospects=[
        _prospect(
            "Siobhán",
            "siobhan@ceol.ie",
            last_name="Ní Bhriain",
            pronunciation="shiv-AWN",
            company="Ceol Teoranta",
            title="COO",
            phone="+353 86 555 0199",
            custom_fields=_custom(_GOOGLE_2024_ROWS[0], _GOOGLE_2024_MAPPING),
        ),
        _prospect(
            "Thandiwe",
            "thandiwe@ubuntulabs.co.za",
            last_name="Mthembu",
            company="Ubuntu Labs",
            custom_fields=_custom(_GOOGLE_2024_ROWS[1], _GOOGLE_2024_MAPPING),
        ),
    ],
)

# Mailchimp audience export: "Email Address" first, the ALL-CAPS system columns, a multi-line
# postal address in quotes, tags as quoted strings inside a quoted cell, and the same subscriber
# twice with the email in another case.
_MAILCHIMP_HEADER = (
    "Email Address",
    "First Name",
    "Last Name",
    "Address",
    "Phone Number",
    "Birthday",
    "Company",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
)
_MAILCHIMP_MAPPING = _mapping(
    _MAILCHIMP_HEADER,
    {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Phone Number": "phone",
        "Company": "company",
    },
)
_MAILCHIMP_ROWS = [
    {
        "Email Address": "ana@silva.pt",
        "First Name": "Ana",
        "Last Name": "Silva",
        "Address": "Rua Augusta 100\nApt 3\nLisboa 1100-053\nPT",
        "Phone Number": "+351 21 555 0100",
        "Birthday": "03/14",
        "Company": "Silva & Filhos, Lda",
        "MEMBER_RATING": "2",
        "OPTIN_TIME": "2024-01-10 09:00:00",
        "CONFIRM_TIME": "2024-01-10 09:01:00",
        "CONFIRM_IP": "203.0.113.5",
        "LATITUDE": "38.7223",
        "LONGITUDE": "-9.1393",
        "GMTOFF": "0",
        "DSTOFF": "1",
        "TIMEZONE": "Europe/Lisbon",
        "CC": "PT",
        "REGION": "LI",
        "LAST_CHANGED": "2024-02-01 10:00:00",
        "LEID": "123456789",
        "EUID": "a1b2c3d4e5",
        "TAGS": '"Customer","VIP"',
    },
    {
        "Email Address": "bob(at)example.com",
        "First Name": "Bob",
        "MEMBER_RATING": "2",
        "LEID": "123456790",
        "EUID": "a1b2c3d4e6",
    },
    {
        "Email Address": "ANA@Silva.pt",
        "First Name": "Ana",
        "Last Name": "Silva-Costa",
        "MEMBER_RATING": "1",
        "LEID": "123456791",
        "EUID": "a1b2c3d4e7",
    },
    {
        "Email Address": "juergen@weiss.de",
        "First Name": "Jürgen",
        "Last Name": "Weiß",
        "MEMBER_RATING": "4",
        "TIMEZONE": "Europe/Berlin",
        "CC": "DE",
        "LEID": "123456792",
        "EUID": "a1b2c3d4e8",
        "NOTES": 'Asked for "the enterprise plan"',
        "TAGS": '"Webinar"',
    },
]
MAILCHIMP = Export(
    data=_write(_MAILCHIMP_HEADER, _MAILCHIMP_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_MAILCHIMP_MAPPING,
    prospects=[
        _prospect(
            "Ana",
            "ana@silva.pt",
            last_name="Silva",
            phone="+351 21 555 0100",
            company="Silva & Filhos, Lda",
            custom_fields=_custom(_MAILCHIMP_ROWS[0], _MAILCHIMP_MAPPING),
        ),
        _prospect(
            "Jürgen",
            "juergen@weiss.de",
            last_name="Weiß",
            custom_fields=_custom(_MAILCHIMP_ROWS[3], _MAILCHIMP_MAPPING),
        ),
    ],
    # Ana's address spans four lines of the file; Bob is still row 3.
    errors=[(3, "email", 'column "Email Address": value is not a valid email address')],
    duplicates=1,
)

# lemlist: camelCase headers, LF line ends, an icebreaker with quotes, commas and a newline.
_LEMLIST_HEADER = (
    "email",
    "firstName",
    "lastName",
    "companyName",
    "jobTitle",
    "phone",
    "linkedinUrl",
    "companyDomain",
    "icebreaker",
    "picture",
    "timezone",
    "lastState",
)
LEMLIST = Export(
    data=_write(
        _LEMLIST_HEADER,
        [
            (
                "lukasz@przyklad.pl",
                "Łukasz",
                "Nowak",
                "Przykład Sp. z o.o.",
                "CEO",
                "+48 22 555 0100",
                "https://www.linkedin.com/in/lukasznowak",
                "przyklad.pl",
                'Loved your talk at Infoshare, especially the part on "RevOps"',
                "https://img.lemlist.com/l.png",
                "Europe/Warsaw",
                "emailsSent",
            ),
            (
                "mia@sjoberg.se",
                "Mia",
                "Sjöberg",
                "Sjöberg AB",
                "Head of Marketing",
                "",
                "https://www.linkedin.com/in/miasjoberg",
                "sjoberg.se",
                "Congrats on the Series A!\nSaw the news on Breakit.",
                "",
                "Europe/Stockholm",
                "emailsOpened",
            ),
            ("", "Noah", "Berg", "Berg AS", "", "", "", "", "", "", "", "emailsBounced"),
        ],
        newline="\n",
    ),
    encoding="utf-8",
    delimiter=",",
    mapping=_mapping(
        _LEMLIST_HEADER,
        {
            "email": "email",
            "firstName": "first_name",
            "lastName": "last_name",
            "companyName": "company",
            "jobTitle": "title",
            "phone": "phone",
            "linkedinUrl": "linkedin_url",
            "companyDomain": "website",
        },
    ),
    prospects=[
        _prospect(
            "Łukasz",
            "lukasz@przyklad.pl",
            last_name="Nowak",
            company="Przykład Sp. z o.o.",
            title="CEO",
            phone="+48 22 555 0100",
            linkedin_url="https://www.linkedin.com/in/lukasznowak",
            website="przyklad.pl",
            custom_fields={
                "icebreaker": 'Loved your talk at Infoshare, especially the part on "RevOps"',
                "picture": "https://img.lemlist.com/l.png",
                "timezone": "Europe/Warsaw",
                "lastState": "emailsSent",
            },
        ),
        _prospect(
            "Mia",
            "mia@sjoberg.se",
            last_name="Sjöberg",
            company="Sjöberg AB",
            title="Head of Marketing",
            linkedin_url="https://www.linkedin.com/in/miasjoberg",
            website="sjoberg.se",
            custom_fields={
                "icebreaker": "Congrats on the Series A!\nSaw the news on Breakit.",
                "timezone": "Europe/Stockholm",
                "lastState": "emailsOpened",
            },
        ),
    ],
    errors=[(4, "email", 'email is missing (column "email")')],
)

# Excel on a German Windows: "CSV (Trennzeichen-getrennt)" is cp1252 with semicolons; one "Name"
# column of full names with honorifics and a "Last, First" entry; a ";" inside a quoted note.
_EXCEL_DE_HEADER = ("Name", "E-Mail", "Firma", "Position", "Telefon", "Notiz")
EXCEL_DE = Export(
    data=_write(
        _EXCEL_DE_HEADER,
        [
            (
                "Dr. José Müller",
                "jose@mueller.de",
                "Müller & Söhne GmbH",
                "Geschäftsführer",
                "+49 89 1234567",
                "Termin; März",
            ),
            ("Müller, Anna", "anna.mueller@mueller.de", "Müller & Söhne GmbH", "Einkauf", "", ""),
            (
                "Prof. Dr. Jürgen Groß",
                "juergen.gross@gross.de",
                "Groß AG",
                "Vorstand",
                "089 555 0100",
                "Preis: 1.200 €",
            ),
            ("Eva Weiß", "eva.weiss(at)weiss.de", "Weiß KG", "", "", ""),
        ],
        encoding="cp1252",
        delimiter=";",
    ),
    encoding="cp1252",
    delimiter=";",
    mapping={
        "Name": "full_name",
        "E-Mail": "email",
        "Firma": "company",
        "Position": "title",
        "Telefon": "phone",
        "Notiz": "custom",
    },
    prospects=[
        _prospect(
            "José",
            "jose@mueller.de",
            last_name="Müller",
            company="Müller & Söhne GmbH",
            title="Geschäftsführer",
            phone="+49 89 1234567",
            custom_fields={"Notiz": "Termin; März"},
        ),
        _prospect(
            "Anna",
            "anna.mueller@mueller.de",
            last_name="Müller",
            company="Müller & Söhne GmbH",
            title="Einkauf",
        ),
        _prospect(
            "Jürgen",
            "juergen.gross@gross.de",
            last_name="Groß",
            company="Groß AG",
            title="Vorstand",
            phone="089 555 0100",
            custom_fields={"Notiz": "Preis: 1.200 €"},
        ),
    ],
    errors=[(5, "email", 'column "E-Mail": value is not a valid email address')],
    warnings=[CP1252_WARNING],
)

# Excel with a "sep=;" first line (so Excel opens it split): not a row, the header is still row 1.
_EXCEL_SEP_HEADER = ("Name", "Email", "Company", "Job Title", "Phone")
EXCEL_SEP = Export(
    data=_write(
        _EXCEL_SEP_HEADER,
        [
            ("Mr. Seán Ó Ceallaigh", "sean@oceallaigh.ie", "Ó Ceallaigh Ltd", "Director", "+353 1 555 0100"),
            ("Ms. Chloë Dupré", "Chloe.Dupre@dupre.fr", "Dupré SARL", "Head of Sales; EMEA", ""),
            ("", "nobody@example.com", "Acme", "", ""),
        ],
        encoding="cp1252",
        delimiter=";",
        first_line="sep=;\r\n",
    ),
    encoding="cp1252",
    delimiter=";",
    mapping={
        "Name": "full_name",
        "Email": "email",
        "Company": "company",
        "Job Title": "title",
        "Phone": "phone",
    },
    prospects=[
        _prospect(
            "Seán",
            "sean@oceallaigh.ie",
            last_name="Ó Ceallaigh",
            company="Ó Ceallaigh Ltd",
            title="Director",
            phone="+353 1 555 0100",
        ),
        _prospect(
            "Chloë",
            "chloe.dupre@dupre.fr",
            last_name="Dupré",
            company="Dupré SARL",
            title="Head of Sales; EMEA",
        ),
    ],
    errors=[(4, "first_name", 'first name is missing (column "Name")')],
    warnings=[CP1252_WARNING],
)

# Meta (Facebook) Lead Ads download: UTF-16 with a BOM, tab-separated, snake_case, ids and phones
# with their "l:", "ag:", "p:" prefixes, one full-name column.
_META_HEADER = (
    "id",
    "created_time",
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "form_id",
    "form_name",
    "is_organic",
    "platform",
    "full_name",
    "email",
    "phone_number",
    "company_name",
    "job_title",
)
_META_MAPPING = _mapping(
    _META_HEADER,
    {
        "full_name": "full_name",
        "email": "email",
        "phone_number": "phone",
        "company_name": "company",
        "job_title": "title",
    },
)
_META_ROWS = [
    {
        "id": "l:1234567890123456",
        "created_time": "2024-05-01T10:00:00+0000",
        "ad_id": "ag:120200000000000001",
        "ad_name": "Spring promo – video",
        "adset_id": "as:120200000000000002",
        "adset_name": "EU B2B",
        "campaign_id": "c:120200000000000003",
        "campaign_name": "Q2 leads",
        "form_id": "f:987654321",
        "form_name": "Demo request",
        "is_organic": "false",
        "platform": "fb",
        "full_name": "María José Carreño",
        "email": "mj.carreno@ejemplo.es",
        "phone_number": "p:+34600123456",
        "company_name": "Carreño y Asociados",
        "job_title": "Gerente",
    },
    {
        "id": "l:1234567890123457",
        "created_time": "2024-05-01T11:30:00+0000",
        "is_organic": "false",
        "platform": "ig",
        "full_name": "山田 太郎",
        "email": "taro.yamada@example.jp",
        "phone_number": "p:+81312345678",
        "company_name": "山田商事",
    },
]
META_LEAD_ADS = Export(
    data=b"\xff\xfe" + _write(_META_HEADER, _META_ROWS, encoding="utf-16-le", delimiter="\t"),
    encoding="utf-16",
    delimiter="\t",
    mapping=_META_MAPPING,
    prospects=[
        _prospect(
            "María",
            "mj.carreno@ejemplo.es",
            last_name="José Carreño",
            phone="p:+34600123456",
            company="Carreño y Asociados",
            title="Gerente",
            custom_fields=_custom(_META_ROWS[0], _META_MAPPING),
        ),
        _prospect(
            "山田",
            "taro.yamada@example.jp",
            last_name="太郎",
            phone="p:+81312345678",
            company="山田商事",
            custom_fields=_custom(_META_ROWS[1], _META_MAPPING),
        ),
    ],
)

# Pipedrive person export: every column named "Person - <field>", emails and phones by kind
# ("- Work", "- Home"), the organization as "Person - Organization".
_PIPEDRIVE_HEADER = (
    "Person - ID",
    "Person - Name",
    "Person - First name",
    "Person - Last name",
    "Person - Label",
    "Person - Organization",
    "Person - Email - Work",
    "Person - Email - Home",
    "Person - Email - Other",
    "Person - Phone - Work",
    "Person - Phone - Mobile",
    "Person - Job title",
    "Person - Owner",
    "Person - Person created",
)
_PIPEDRIVE_MAPPING = _mapping(
    _PIPEDRIVE_HEADER,
    {
        "Person - Name": "full_name",
        "Person - First name": "first_name",
        "Person - Last name": "last_name",
        "Person - Organization": "company",
        "Person - Email - Work": "email",
        "Person - Phone - Work": "phone",
        "Person - Job title": "title",
    },
)
_PIPEDRIVE_ROWS = [
    {
        "Person - ID": "101",
        "Person - Name": "Ingrid Johansson",
        "Person - First name": "Ingrid",
        "Person - Last name": "Johansson",
        "Person - Label": "Hot lead",
        "Person - Organization": "Nordvik AB",
        "Person - Email - Work": "ingrid@nordvik.se",
        "Person - Email - Home": "ingrid.j@example.se",
        "Person - Phone - Work": "+46 8 555 0100",
        "Person - Phone - Mobile": "+46 70 555 0101",
        "Person - Job title": "Head of Sales",
        "Person - Owner": "Sam Lee",
        "Person - Person created": "2026-11-02 09:15:00",
    },
    {
        "Person - ID": "102",
        "Person - Name": "Mateo Rossi",
        "Person - Organization": "Rossi Srl",
        "Person - Email - Work": "mateo@rossi.it",
        "Person - Owner": "Sam Lee",
        "Person - Person created": "2026-11-03 10:00:00",
    },
    {
        "Person - ID": "103",
        "Person - Name": "Lena Vogel",
        "Person - First name": "Lena",
        "Person - Last name": "Vogel",
        "Person - Email - Home": "lena@vogel.de",
        "Person - Owner": "Sam Lee",
    },
]
PIPEDRIVE = Export(
    data=_write(_PIPEDRIVE_HEADER, _PIPEDRIVE_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_PIPEDRIVE_MAPPING,
    prospects=[
        _prospect(
            "Ingrid",
            "ingrid@nordvik.se",
            last_name="Johansson",
            company="Nordvik AB",
            title="Head of Sales",
            phone="+46 8 555 0100",
            custom_fields=_custom(_PIPEDRIVE_ROWS[0], _PIPEDRIVE_MAPPING),
        ),
        # Only "Person - Name" is filled: it is split.
        _prospect(
            "Mateo",
            "mateo@rossi.it",
            last_name="Rossi",
            company="Rossi Srl",
            custom_fields=_custom(_PIPEDRIVE_ROWS[1], _PIPEDRIVE_MAPPING),
        ),
    ],
    # Only a home email: the work email column is the email, and it is blank.
    errors=[(4, "email", 'email is missing (column "Person - Email - Work")')],
)

# LinkedIn Connections: a "Notes:" line and a quoted note above the column names, then a blank
# line; "URL" is the member's profile; most connections share no email.
_LINKEDIN_HEADER = ("First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On")
_LINKEDIN_MAPPING = _mapping(
    _LINKEDIN_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "URL": "website",
        "Email Address": "email",
        "Company": "company",
        "Position": "title",
    },
)
LINKEDIN = Export(
    data=_write(
        _LINKEDIN_HEADER,
        [
            (
                "Aisha",
                "Bello",
                "https://www.linkedin.com/in/aishabello",
                "aisha@bellotech.ng",
                "Bello Tech",
                "Founder & CEO",
                "05 Dec 2026",
            ),
            ("Tomás", "Ruiz", "https://www.linkedin.com/in/tomasruiz", "", "Ruiz SL", "CTO", "01 Dec 2026"),
            (
                "Hannah",
                "Kim",
                "https://www.linkedin.com/in/hannahkim",
                "hannah.kim@example.com",
                "",
                "",
                "28 Nov 2026",
            ),
        ],
        first_line='Notes:\r\n"Email addresses are shown only for connections who allow it (see privacy settings)."\r\n\r\n',
    ),
    encoding="utf-8",
    delimiter=",",
    mapping=_LINKEDIN_MAPPING,
    prospects=[
        _prospect(
            "Aisha",
            "aisha@bellotech.ng",
            last_name="Bello",
            linkedin_url="https://www.linkedin.com/in/aishabello",
            company="Bello Tech",
            title="Founder & CEO",
            custom_fields={"Connected On": "05 Dec 2026"},
        ),
        _prospect(
            "Hannah",
            "hannah.kim@example.com",
            last_name="Kim",
            linkedin_url="https://www.linkedin.com/in/hannahkim",
            custom_fields={"Connected On": "28 Nov 2026"},
        ),
    ],
    # The column names are row 4 (under "Notes:", the note and a blank line): Tomás is row 6.
    errors=[(6, "email", 'email is missing (column "Email Address")')],
    warnings=[
        "the first 3 lines of the file are not column names and were skipped; the column names are on row 4"
    ],
)

# Google Contacts with several emails and phones in one cell, joined by " ::: " (as Google does):
# the first valid email is the email, the others are kept.
_GOOGLE_MULTI_HEADER = (
    "First Name",
    "Last Name",
    "Organization Name",
    "Organization Title",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "E-mail 2 - Label",
    "E-mail 2 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
)
_GOOGLE_MULTI_MAPPING = _mapping(
    _GOOGLE_MULTI_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Organization Name": "company",
        "Organization Title": "title",
        "E-mail 1 - Value": "email",
        "Phone 1 - Value": "phone",
    },
)
_GOOGLE_MULTI_ROWS = [
    {
        "First Name": "Olu",
        "Last Name": "Adeyemi",
        "Organization Name": "Adeyemi & Co",
        "Labels": "* myContacts",
        "E-mail 1 - Label": "* Work ::: Home",
        "E-mail 1 - Value": "olu@adeyemi.co ::: olu.home@example.com",
        "Phone 1 - Label": "Work ::: Mobile",
        "Phone 1 - Value": "+234 1 555 0100 ::: +234 80 555 0101",
    },
    {
        "First Name": "Marta",
        "Last Name": "Nowak",
        "Organization Title": "CFO",
        "Labels": "* myContacts ::: Prospects",
        "E-mail 1 - Label": "Other ::: * Work",
        "E-mail 1 - Value": "marta(at)nowak.pl ::: marta@nowak.pl",
        "E-mail 2 - Label": "Home",
        "E-mail 2 - Value": "marta.home@example.pl",
    },
]
GOOGLE_MULTI = Export(
    data=_write(_GOOGLE_MULTI_HEADER, _GOOGLE_MULTI_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_GOOGLE_MULTI_MAPPING,
    prospects=[
        _prospect(
            "Olu",
            "olu@adeyemi.co",
            last_name="Adeyemi",
            company="Adeyemi & Co",
            phone="+234 1 555 0100",
            custom_fields={
                **_custom(_GOOGLE_MULTI_ROWS[0], _GOOGLE_MULTI_MAPPING),
                "E-mail 1 - Value (others)": "olu.home@example.com",
                "Phone 1 - Value (others)": "+234 80 555 0101",
            },
        ),
        # The first value is no email: the first valid one wins.
        _prospect(
            "Marta",
            "marta@nowak.pl",
            last_name="Nowak",
            title="CFO",
            custom_fields={
                **_custom(_GOOGLE_MULTI_ROWS[1], _GOOGLE_MULTI_MAPPING),
                "E-mail 1 - Value (others)": "marta(at)nowak.pl",
            },
        ),
    ],
)

# Salesforce Classic report ("Export Details", CSV): every cell quoted, and after the rows blank
# lines and the report's footer (totals, copyright, confidentiality, who ran it, the org's name).
_SF_REPORT_HEADER = (
    "Contact Owner",
    "First Name",
    "Last Name",
    "Title",
    "Account Name",
    "Email",
    "Phone",
    "Mobile",
    "Lead Source",
)
_SF_REPORT_MAPPING = _mapping(
    _SF_REPORT_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Account Name": "company",
        "Email": "email",
        "Phone": "phone",
    },
)
SALESFORCE_REPORT = Export(
    data=_write(
        _SF_REPORT_HEADER,
        [
            (
                "Jane Doe",
                "Kofi",
                "Mensah",
                "COO",
                "Volta Ltd",
                "kofi@volta.gh",
                "+233 30 555 0100",
                "",
                "Web",
            ),
            ("Jane Doe", "Emma", "Dubois", "VP Marketing", "Lumière SA", "emma@lumiere", "", "", "Event"),
            (
                "Jane Doe",
                "Raj",
                "Iyer",
                "CEO",
                "Iyer Labs",
                "raj@iyerlabs.in",
                "",
                "+91 98 555 01000",
                "Partner",
            ),
        ],
        quote_all=True,
    )
    + (
        b'""\r\n""\r\n"Grand Totals (3 records)"\r\n'
        b'"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\r\n'
        b'"Confidential Information - Do Not Distribute"\r\n'
        b'"Generated By:  Jane Doe  12/7/2026 9:41 AM"\r\n"Acme Corp"\r\n'
    ),
    encoding="utf-8",
    delimiter=",",
    mapping=_SF_REPORT_MAPPING,
    prospects=[
        _prospect(
            "Kofi",
            "kofi@volta.gh",
            last_name="Mensah",
            title="COO",
            company="Volta Ltd",
            phone="+233 30 555 0100",
            custom_fields={"Contact Owner": "Jane Doe", "Lead Source": "Web"},
        ),
        _prospect(
            "Raj",
            "raj@iyerlabs.in",
            last_name="Iyer",
            title="CEO",
            company="Iyer Labs",
            custom_fields={
                "Contact Owner": "Jane Doe",
                "Mobile": "+91 98 555 01000",
                "Lead Source": "Partner",
            },
        ),
    ],
    errors=[(3, "email", NOT_AN_EMAIL)],
    warnings=["the last 5 lines of the file (a report's totals and notes, not prospects) were ignored"],
)

# Zoho CRM leads export: "Record Id" first, the title is "Designation", a "Full Name" beside the
# first and last names, a "Secondary Email".
_ZOHO_HEADER = (
    "Record Id",
    "Lead Owner",
    "Company",
    "First Name",
    "Last Name",
    "Full Name",
    "Designation",
    "Email",
    "Phone",
    "Mobile",
    "Website",
    "Lead Source",
    "Lead Status",
    "Secondary Email",
    "Salutation",
    "Created Time",
)
_ZOHO_MAPPING = _mapping(
    _ZOHO_HEADER,
    {
        "Company": "company",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Full Name": "full_name",
        "Designation": "title",
        "Email": "email",
        "Phone": "phone",
        "Website": "website",
    },
)
_ZOHO_ROWS = [
    {
        "Record Id": "zcrm_4876000000123001",
        "Lead Owner": "Priya Shah",
        "Company": "Kaveri Foods",
        "First Name": "Arjun",
        "Last Name": "Menon",
        "Full Name": "Arjun Menon",
        "Designation": "Procurement Head",
        "Email": "arjun@kaveri.in",
        "Mobile": "+91 98450 55501",
        "Website": "kaveri.in",
        "Lead Source": "Trade Show",
        "Lead Status": "Contacted",
        "Secondary Email": "arjun.menon@example.in",
        "Salutation": "Mr.",
        "Created Time": "2026-12-01 11:20:00",
    },
    {
        "Record Id": "zcrm_4876000000123002",
        "Lead Owner": "Priya Shah",
        "Company": "Sol y Mar",
        "First Name": "Lucía",
        "Last Name": "Ortega",
        "Full Name": "Lucía Ortega",
        "Email": "ortega@solymar.es",
        "Lead Status": "Not Contacted",
        "Created Time": "2026-12-02 08:00:00",
    },
]
ZOHO = Export(
    data=_write(_ZOHO_HEADER, _ZOHO_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_ZOHO_MAPPING,
    prospects=[
        _prospect(
            "Arjun",
            "arjun@kaveri.in",
            last_name="Menon",
            company="Kaveri Foods",
            title="Procurement Head",
            website="kaveri.in",
            custom_fields=_custom(_ZOHO_ROWS[0], _ZOHO_MAPPING),
        ),
        _prospect(
            "Lucía",
            "ortega@solymar.es",
            last_name="Ortega",
            company="Sol y Mar",
            custom_fields=_custom(_ZOHO_ROWS[1], _ZOHO_MAPPING),
        ),
    ],
)

# Microsoft Dynamics 365 contacts ("Export to Excel", saved as CSV UTF-8 by Excel, so with a BOM):
# the hidden "(Do Not Modify)" columns first, "Full Name" only, "Email Address 2".
_DYNAMICS_HEADER = (
    "(Do Not Modify) Contact",
    "(Do Not Modify) Row Checksum",
    "(Do Not Modify) Modified On",
    "Full Name",
    "Email",
    "Company Name",
    "Business Phone",
    "Mobile Phone",
    "Job Title",
    "Address 1: City",
    "Email Address 2",
)
_DYNAMICS_MAPPING = _mapping(
    _DYNAMICS_HEADER,
    {
        "Full Name": "full_name",
        "Email": "email",
        "Company Name": "company",
        "Business Phone": "phone",
        "Job Title": "title",
    },
)
_DYNAMICS_ROWS = [
    {
        "(Do Not Modify) Contact": "3f2a9c1e-1b7d-ef11-a671-000d3a8f1c2b",
        "(Do Not Modify) Row Checksum": "kq1Hn0W3yR8=",
        "(Do Not Modify) Modified On": "12/1/2026 3:04:11 PM",
        "Full Name": "Nora Lindqvist",
        "Email": "nora@fjordline.no",
        "Company Name": "Fjordline AS",
        "Business Phone": "+47 22 55 01 00",
        "Job Title": "Commercial Director",
        "Address 1: City": "Oslo",
        "Email Address 2": "nora.l@example.no",
    },
    {
        "(Do Not Modify) Contact": "7b1c2d3e-1b7d-ef11-a671-000d3a8f1c2b",
        "(Do Not Modify) Row Checksum": "Zx0Pq4L2aB9=",
        "(Do Not Modify) Modified On": "12/2/2026 9:30:00 AM",
        "Full Name": "Dr. Samuel Okoro",
        "Email": "samuel.okoro@medix.ng",
        "Company Name": "Medix",
        "Mobile Phone": "+234 80 555 0199",
    },
]
DYNAMICS = Export(
    data=_write(_DYNAMICS_HEADER, _DYNAMICS_ROWS, encoding="utf-8-sig"),
    encoding="utf-8-sig",
    delimiter=",",
    mapping=_DYNAMICS_MAPPING,
    prospects=[
        _prospect(
            "Nora",
            "nora@fjordline.no",
            last_name="Lindqvist",
            company="Fjordline AS",
            phone="+47 22 55 01 00",
            title="Commercial Director",
            custom_fields=_custom(_DYNAMICS_ROWS[0], _DYNAMICS_MAPPING),
        ),
        _prospect(
            "Samuel",
            "samuel.okoro@medix.ng",
            last_name="Okoro",
            company="Medix",
            custom_fields=_custom(_DYNAMICS_ROWS[1], _DYNAMICS_MAPPING),
        ),
    ],
)

# Close contacts export: snake_case, the lead (the company) and the contact side by side, the
# primary email and phone beside the lists of all of them.
_CLOSE_HEADER = (
    "lead_id",
    "lead_display_name",
    "lead_url",
    "lead_status_label",
    "contact_id",
    "contact_name",
    "contact_title",
    "contact_primary_email",
    "contact_primary_phone",
    "contact_emails",
    "contact_phones",
)
_CLOSE_MAPPING = _mapping(
    _CLOSE_HEADER,
    {
        "lead_url": "website",
        "contact_name": "full_name",
        "contact_title": "title",
        "contact_primary_email": "email",
        "contact_primary_phone": "phone",
    },
)
_CLOSE_ROWS = [
    {
        "lead_id": "lead_8kVq2aXbC1",
        "lead_display_name": "Harbor Analytics",
        "lead_url": "https://harboranalytics.com",
        "lead_status_label": "Qualified",
        "contact_id": "cont_3nP0sQwE7r",
        "contact_name": "Grace Liu",
        "contact_title": "VP Data",
        "contact_primary_email": "grace@harboranalytics.com",
        "contact_primary_phone": "+14155550123",
        "contact_emails": "grace@harboranalytics.com, grace.liu@example.com",
        "contact_phones": "+14155550123",
    },
    {
        "lead_id": "lead_8kVq2aXbC1",
        "lead_display_name": "Harbor Analytics",
        "lead_url": "https://harboranalytics.com",
        "lead_status_label": "Qualified",
        "contact_id": "cont_9mT1uVyZ4k",
        "contact_name": "Omar Haddad",
        "contact_primary_email": "omar@harboranalytics.com",
    },
]
CLOSE = Export(
    data=_write(_CLOSE_HEADER, _CLOSE_ROWS, newline="\n"),
    encoding="utf-8",
    delimiter=",",
    mapping=_CLOSE_MAPPING,
    prospects=[
        _prospect(
            "Grace",
            "grace@harboranalytics.com",
            last_name="Liu",
            website="https://harboranalytics.com",
            title="VP Data",
            phone="+14155550123",
            custom_fields=_custom(_CLOSE_ROWS[0], _CLOSE_MAPPING),
        ),
        _prospect(
            "Omar",
            "omar@harboranalytics.com",
            last_name="Haddad",
            website="https://harboranalytics.com",
            custom_fields=_custom(_CLOSE_ROWS[1], _CLOSE_MAPPING),
        ),
    ],
)

# Outreach prospects export: plural columns for what a prospect may have several of ("Emails",
# "Work Phones", "Mobile Phones").
_OUTREACH_HEADER = (
    "Id",
    "First Name",
    "Last Name",
    "Title",
    "Company",
    "Emails",
    "Work Phones",
    "Mobile Phones",
    "Linkedin Url",
    "Stage",
    "Owner",
    "Tags",
    "Created At",
)
_OUTREACH_MAPPING = _mapping(
    _OUTREACH_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company": "company",
        "Emails": "email",
        "Work Phones": "phone",
        "Linkedin Url": "linkedin_url",
    },
)
_OUTREACH_ROWS = [
    {
        "Id": "48213",
        "First Name": "Chloé",
        "Last Name": "Martin",
        "Title": "Head of Partnerships",
        "Company": "Atelier Nord",
        "Emails": "chloe@ateliernord.fr",
        "Work Phones": "+33 1 55 50 01 00",
        "Mobile Phones": "+33 6 55 50 01 01",
        "Linkedin Url": "https://www.linkedin.com/in/chloemartin",
        "Stage": "Approaching",
        "Owner": "Sam Lee",
        "Tags": "Q1, France",
        "Created At": "2026-12-03T10:11:12Z",
    },
    {
        "Id": "48214",
        "First Name": "Yusuf",
        "Last Name": "Demir",
        "Company": "Demir Lojistik",
        "Emails": "yusuf@demir",
        "Stage": "Cold",
    },
]
OUTREACH = Export(
    data=_write(_OUTREACH_HEADER, _OUTREACH_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_OUTREACH_MAPPING,
    prospects=[
        _prospect(
            "Chloé",
            "chloe@ateliernord.fr",
            last_name="Martin",
            title="Head of Partnerships",
            company="Atelier Nord",
            phone="+33 1 55 50 01 00",
            linkedin_url="https://www.linkedin.com/in/chloemartin",
            custom_fields=_custom(_OUTREACH_ROWS[0], _OUTREACH_MAPPING),
        ),
    ],
    errors=[(3, "email", 'column "Emails": value is not a valid email address')],
)

# Salesloft people export: "Email Address" beside secondary and personal ones, the person's
# company as "Person Company Name"/"Person Company Website".
_SALESLOFT_HEADER = (
    "First Name",
    "Last Name",
    "Email Address",
    "Secondary Email Address",
    "Personal Email Address",
    "Phone",
    "Mobile Phone",
    "Home Phone",
    "Linkedin URL",
    "Title",
    "City",
    "State",
    "Country",
    "Person Company Name",
    "Person Company Website",
    "Tags",
)
_SALESLOFT_MAPPING = _mapping(
    _SALESLOFT_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email Address": "email",
        "Phone": "phone",
        "Linkedin URL": "linkedin_url",
        "Title": "title",
        "Person Company Name": "company",
        "Person Company Website": "website",
    },
)
_SALESLOFT_ROWS = [
    {
        "First Name": "Daniel",
        "Last Name": "Cohen",
        "Email Address": "daniel@brightpath.io",
        "Secondary Email Address": "dan@brightpath.io",
        "Phone": "(212) 555-0147",
        "Mobile Phone": "(917) 555-0148",
        "Linkedin URL": "https://www.linkedin.com/in/danielcohen",
        "Title": "Director of Sales",
        "City": "New York",
        "State": "NY",
        "Country": "United States",
        "Person Company Name": "BrightPath",
        "Person Company Website": "https://brightpath.io",
        "Tags": "enterprise",
    },
    {
        "First Name": "Mei",
        "Last Name": "Tanaka",
        "Email Address": "mei@sakura-tech.jp",
        "Person Company Name": "Sakura Tech",
    },
]
SALESLOFT = Export(
    data=_write(_SALESLOFT_HEADER, _SALESLOFT_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_SALESLOFT_MAPPING,
    prospects=[
        _prospect(
            "Daniel",
            "daniel@brightpath.io",
            last_name="Cohen",
            phone="(212) 555-0147",
            linkedin_url="https://www.linkedin.com/in/danielcohen",
            title="Director of Sales",
            company="BrightPath",
            website="https://brightpath.io",
            custom_fields=_custom(_SALESLOFT_ROWS[0], _SALESLOFT_MAPPING),
        ),
        _prospect(
            "Mei",
            "mei@sakura-tech.jp",
            last_name="Tanaka",
            company="Sakura Tech",
            custom_fields=_custom(_SALESLOFT_ROWS[1], _SALESLOFT_MAPPING),
        ),
    ],
)

# Seamless.AI export: numbered emails and phones with their validation scores, the contact's
# phone beside the company's, the LinkedIn profile as "Contact LI Profile URL".
_SEAMLESS_HEADER = (
    "First Name",
    "Last Name",
    "Title",
    "Company",
    "Email 1",
    "Email 1 Total AI",
    "Email 2",
    "Contact Phone 1",
    "Contact Phone 1 Total AI",
    "Company Phone 1",
    "Contact LI Profile URL",
    "Company LI Profile URL",
    "Website",
    "Company Domain",
    "Industry",
    "Contact Location",
)
_SEAMLESS_MAPPING = _mapping(
    _SEAMLESS_HEADER,
    {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "title",
        "Company": "company",
        "Email 1": "email",
        "Contact Phone 1": "phone",
        "Contact LI Profile URL": "linkedin_url",
        "Website": "website",
    },
)
_SEAMLESS_ROWS = [
    {
        "First Name": "Rachel",
        "Last Name": "Green",
        "Title": "VP of Revenue",
        "Company": "Northwind Health",
        "Email 1": "rgreen@northwindhealth.com",
        "Email 1 Total AI": "98",
        "Email 2": "rachel.green@northwindhealth.com",
        "Contact Phone 1": "+1 617-555-0190",
        "Contact Phone 1 Total AI": "91",
        "Company Phone 1": "+1 617-555-0100",
        "Contact LI Profile URL": "linkedin.com/in/rachelgreen",
        "Company LI Profile URL": "linkedin.com/company/northwind-health",
        "Website": "northwindhealth.com",
        "Company Domain": "northwindhealth.com",
        "Industry": "Hospital & Health Care",
        "Contact Location": "Boston, Massachusetts, United States",
    },
]
SEAMLESS = Export(
    data=_write(_SEAMLESS_HEADER, _SEAMLESS_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_SEAMLESS_MAPPING,
    prospects=[
        _prospect(
            "Rachel",
            "rgreen@northwindhealth.com",
            last_name="Green",
            title="VP of Revenue",
            company="Northwind Health",
            phone="+1 617-555-0190",
            linkedin_url="linkedin.com/in/rachelgreen",
            website="northwindhealth.com",
            custom_fields=_custom(_SEAMLESS_ROWS[0], _SEAMLESS_MAPPING),
        ),
    ],
)

# ZoomInfo contacts export: the contact's direct line, "Mobile phone", the LinkedIn profile as
# "LinkedIn Contact Profile URL", and a previous employer that must stay a custom field.
_ZOOMINFO_HEADER = (
    "ZoomInfo Contact ID",
    "Last Name",
    "First Name",
    "Job Title",
    "Direct Phone Number",
    "Email Address",
    "Mobile phone",
    "LinkedIn Contact Profile URL",
    "Person City",
    "Company Name",
    "Website",
    "Company HQ Phone",
    "Previous Company Name",
)
_ZOOMINFO_MAPPING = _mapping(
    _ZOOMINFO_HEADER,
    {
        "Last Name": "last_name",
        "First Name": "first_name",
        "Job Title": "title",
        "Email Address": "email",
        "Mobile phone": "phone",
        "LinkedIn Contact Profile URL": "linkedin_url",
        "Company Name": "company",
        "Website": "website",
    },
)
_ZOOMINFO_ROWS = [
    {
        "ZoomInfo Contact ID": "1234567890",
        "Last Name": "Okafor",
        "First Name": "Chidi",
        "Job Title": "Chief Revenue Officer",
        "Direct Phone Number": "(312) 555-0161",
        "Email Address": "chidi.okafor@lakeshore.com",
        "Mobile phone": "(312) 555-0162",
        "LinkedIn Contact Profile URL": "http://www.linkedin.com/in/chidiokafor",
        "Person City": "Chicago",
        "Company Name": "Lakeshore Logistics",
        "Website": "www.lakeshore.com",
        "Company HQ Phone": "(312) 555-0100",
        "Previous Company Name": "Midway Freight",
    },
]
ZOOMINFO = Export(
    data=_write(_ZOOMINFO_HEADER, _ZOOMINFO_ROWS),
    encoding="utf-8",
    delimiter=",",
    mapping=_ZOOMINFO_MAPPING,
    prospects=[
        _prospect(
            "Chidi",
            "chidi.okafor@lakeshore.com",
            last_name="Okafor",
            title="Chief Revenue Officer",
            phone="(312) 555-0162",
            linkedin_url="http://www.linkedin.com/in/chidiokafor",
            company="Lakeshore Logistics",
            website="www.lakeshore.com",
            custom_fields=_custom(_ZOOMINFO_ROWS[0], _ZOOMINFO_MAPPING),
        ),
    ],
)

EXPORTS = {
    "hubspot": HUBSPOT,
    "salesforce": SALESFORCE,
    "apollo": APOLLO,
    "outlook": OUTLOOK,
    "google-contacts": GOOGLE,
    "google-contacts-2024": GOOGLE_2024,
    "mailchimp": MAILCHIMP,
    "lemlist": LEMLIST,
    "excel-de-semicolon-cp1252": EXCEL_DE,
    "excel-sep-line": EXCEL_SEP,
    "meta-lead-ads-utf16-tabs": META_LEAD_ADS,
    "pipedrive": PIPEDRIVE,
    "linkedin-connections-preamble": LINKEDIN,
    "google-contacts-multi-value": GOOGLE_MULTI,
    "salesforce-classic-report-footer": SALESFORCE_REPORT,
    "zoho-crm-leads": ZOHO,
    "dynamics-365-contacts": DYNAMICS,
    "close-contacts": CLOSE,
    "outreach-prospects": OUTREACH,
    "salesloft-people": SALESLOFT,
    "seamless-ai": SEAMLESS,
    "zoominfo": ZOOMINFO,
}


# --------------------------------------------------------------------------- helpers


def _fields(prospect: dict[str, Any]) -> dict[str, Any]:
    return {name: prospect[name] for name in FIELDS}


def _check_errors(found: list[dict[str, Any]], export: Export) -> None:
    assert [(e["row"], e["field"]) for e in found] == [(row, name) for row, name, _ in export.errors]
    for error, (_, _, says) in zip(found, export.errors, strict=True):
        assert error["message"].startswith(says), error


@pytest.fixture
def campaign(client: Any, new_tenant: Any) -> tuple[Tenant, str]:
    me = new_tenant()
    response = call(client, "POST", "/campaigns", me, {"name": "CRM exports"})
    assert response.status_code == 201, response.body
    return me, json.loads(response.body)["campaign_id"]


# --------------------------------------------------------------------------- tests


def test_the_fixtures_are_what_the_exporters_write() -> None:
    # The quirks each test relies on are really in the bytes.
    assert HUBSPOT.data.startswith(b"\xef\xbb\xbfRecord ID,First Name,")
    assert (
        unicodedata.is_normalized("NFD", HUBSPOT.data.decode("utf-8-sig")) and b"Zoe\xcc\x88" in HUBSPOT.data
    )
    assert (
        SALESFORCE.data.startswith(b'"Salutation","First Name"')
        and b'"1 Market St\nSuite 300"' in SALESFORCE.data
    )
    assert b"'+1 212-555-0142" in APOLLO.data
    assert OUTLOOK.data.startswith(b'"Title","First Name","Middle Name"') and len(_OUTLOOK_HEADER) == 92
    assert b"Jos\xe9" in OUTLOOK.data and b"O\x92Brien" in OUTLOOK.data and b"\x80" in OUTLOOK.data
    assert b'"Rua Augusta 100\nApt 3\n' in MAILCHIMP.data and b'"""Customer"",""VIP"""' in MAILCHIMP.data
    assert b"\r" not in LEMLIST.data and LEMLIST.data.startswith(b"email,firstName,lastName,")
    assert EXCEL_DE.data.startswith(b"Name;E-Mail;Firma;") and b"Dr. Jos\xe9 M\xfcller;" in EXCEL_DE.data
    assert b'"Termin; M\xe4rz"' in EXCEL_DE.data
    assert EXCEL_SEP.data.startswith(b"sep=;\r\nName;Email;")
    assert META_LEAD_ADS.data.startswith(b"\xff\xfei\x00d\x00\t\x00")
    assert (
        PIPEDRIVE.data.startswith(b"Person - ID,Person - Name,")
        and b"Person - Email - Work" in PIPEDRIVE.data
    )
    assert LINKEDIN.data.startswith(b"Notes:\r\n") and b"\r\n\r\nFirst Name,Last Name,URL," in LINKEDIN.data
    assert b"olu@adeyemi.co ::: olu.home@example.com" in GOOGLE_MULTI.data
    assert SALESFORCE_REPORT.data.endswith(b'"Generated By:  Jane Doe  12/7/2026 9:41 AM"\r\n"Acme Corp"\r\n')
    assert DYNAMICS.data.startswith(b"\xef\xbb\xbf(Do Not Modify) Contact,")
    assert b"\r" not in CLOSE.data and CLOSE.data.startswith(b"lead_id,lead_display_name,")


@pytest.mark.parametrize("exporter", EXPORTS)
def test_preview_maps_the_export_with_no_override(
    client: Any, campaign: tuple[Tenant, str], exporter: str
) -> None:
    me, cid = campaign
    export = EXPORTS[exporter]
    # WHEN the file is sent to the preview, unchanged and with no mapping
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/imports/preview?sample=50",
        me,
        export.data,
        headers={"Content-Type": "text/csv"},
    )
    # THEN every known column is on its field and the others are custom fields
    assert response.status_code == 200, response.body
    preview = json.loads(response.body)
    assert list(preview["mapping"].items()) == list(export.mapping.items())
    assert (preview["encoding"], preview["delimiter"]) == (export.encoding, export.delimiter)
    # AND it counts and normalizes every row as the import will
    assert (preview["total_rows"], preview["valid"], preview["duplicates"], preview["failed"]) == (
        export.total_rows,
        len(export.prospects),
        export.duplicates,
        export.failed,
    )
    _check_errors(preview["errors"], export)
    assert preview["warnings"] == export.warnings
    assert [_fields(p) for p in preview["prospects"]] == export.prospects
    # AND nothing was written
    assert get_json(client, me, f"/campaigns/{cid}/prospects")["items"] == []
    assert get_json(client, me, f"/campaigns/{cid}")["counters"]["prospects"] == 0


@pytest.mark.parametrize("exporter", EXPORTS)
def test_upload_imports_every_row_of_the_export(
    client: Any, campaign: tuple[Tenant, str], exporter: str
) -> None:
    me, cid = campaign
    export = EXPORTS[exporter]
    # WHEN the file is uploaded unchanged and its S3 event delivered
    outcome, record = upload_csv(client, me, cid, export.data, f"{exporter}.csv")
    # THEN the import completed with the file's encoding, delimiter and automatic mapping
    assert outcome["status"] == "completed", outcome
    assert record["status"] == "completed" and record["reason"] is None
    assert record["requested_mapping"] is None
    assert (record["encoding"], record["delimiter"]) == (export.encoding, export.delimiter)
    assert list(record["mapping"].items()) == list(export.mapping.items())
    assert (record["total_rows"], record["imported"], record["duplicates"], record["failed"]) == (
        export.total_rows,
        len(export.prospects),
        export.duplicates,
        export.failed,
    )
    _check_errors(record["errors"], export)
    assert record["warnings"] == export.warnings
    # AND every good row is a prospect with exactly its normalized values
    stored = sorted((_fields(p) for p in all_prospects(client, me, cid)), key=lambda p: p["email"])
    assert stored == sorted(export.prospects, key=lambda p: p["email"])
    for prospect in stored:
        for name in ("first_name", "last_name", "company", "title"):
            assert prospect[name] is None or unicodedata.is_normalized("NFC", prospect[name]), prospect
    assert get_json(client, me, f"/campaigns/{cid}")["counters"]["prospects"] == len(export.prospects)
