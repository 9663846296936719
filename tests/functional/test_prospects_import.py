"""A prospects CSV end to end in-process: presigned upload → S3 event → import → the API (moto)."""

from __future__ import annotations

import json

import pytest

from tests.functional.conftest import all_prospects, call, get_json, upload_csv

# Outlook's layout (honorific "Title" beside "Job Title"), cp1252 like Excel saves it on Windows.
LEADS = (
    "Title,First Name,Last Name,Job Title,Company,E-mail Address,Business Phone,Notes\r\n"
    'Dr.,José,Müller,CTO,Müller GmbH,jose@muller.de,+49 30 555 0100,"met at DMEXCO, Köln"\r\n'
    "Ms.,Ada,Lovelace,Analyst,Engines Ltd,ada@engines.io,,\r\n"
    ",Bob,,CEO,Acme,not-an-email,,\r\n"
    ",Grace,Hopper,Admiral,Navy,  ADA@Engines.io ,,\r\n"
    "\r\n"
    ",,Nameless,,,nameless@example.com,,\r\n"
    ",Alan,Turing,,,alan@bletchley.uk,,\r\n"
).encode("cp1252")


@pytest.fixture
def campaign(client, new_tenant):  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = json.loads(call(client, "POST", "/campaigns", me, {"name": "Q4 outreach"}).body)["campaign_id"]
    return me, cid


def test_csv_import_counts_errors_and_lists_prospects(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    # WHEN an Outlook export is uploaded and the S3 event is delivered
    outcome, record = upload_csv(client, me, cid, LEADS)
    # THEN the import completed with counts and per-row errors (spreadsheet row numbers)
    assert outcome["status"] == "completed"
    assert record["status"] == "completed" and record["completed_at"] is not None
    assert (record["total_rows"], record["imported"], record["duplicates"], record["failed"]) == (6, 3, 1, 2)
    assert [(e["row"], e["field"]) for e in record["errors"]] == [(4, "email"), (7, "first_name")]
    # AND the prospects are listed page by page, with their fields mapped
    prospects = all_prospects(client, me, cid, limit=2)
    assert sorted(p["first_name"] for p in prospects) == ["Ada", "Alan", "José"]
    jose = next(p for p in prospects if p["first_name"] == "José")
    assert (jose["last_name"], jose["email"], jose["title"], jose["company"]) == (
        "Müller",
        "jose@muller.de",
        "CTO",
        "Müller GmbH",
    )
    assert jose["custom_fields"] == {"Title": "Dr.", "Notes": "met at DMEXCO, Köln"}
    assert "account_id" not in jose and jose["video_status"] == "pending"
    one = get_json(client, me, f"/campaigns/{cid}/prospects/{jose['prospect_id']}")
    assert one == jose
    # AND the campaign counts them
    assert get_json(client, me, f"/campaigns/{cid}")["counters"]["prospects"] == 3


def test_import_details_are_stored(client, campaign) -> None:  # type: ignore[no-untyped-def]
    from chalicelib import dependencies

    me, cid = campaign
    _, record = upload_csv(client, me, cid, LEADS)
    stored = dependencies.get_import_repo().get(me.account_id, cid, record["import_id"])
    assert (stored.encoding, stored.delimiter) == ("cp1252", ",")
    assert list(stored.mapping.items()) == [
        ("Title", "custom"),
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Job Title", "title"),
        ("Company", "company"),
        ("E-mail Address", "email"),
        ("Business Phone", "phone"),
        ("Notes", "custom"),
    ]
    assert any("Windows-1252" in w for w in stored.warnings)


def test_importing_the_same_file_again_only_adds_duplicates(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    upload_csv(client, me, cid, LEADS)
    before = all_prospects(client, me, cid, limit=100)
    outcome, again = upload_csv(client, me, cid, LEADS)
    assert outcome["status"] == "completed"
    assert (again["total_rows"], again["imported"], again["duplicates"], again["failed"]) == (6, 0, 4, 2)
    assert all_prospects(client, me, cid, limit=100) == before
    assert get_json(client, me, f"/campaigns/{cid}")["counters"]["prospects"] == 3


def test_unusable_csv_is_rejected_with_a_reason(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    outcome, record = upload_csv(client, me, cid, b"First Name,Company\r\nAda,Engines\r\n")
    assert outcome["status"] == "rejected" and record["status"] == "rejected"
    assert record["reason"].startswith('no email column: the columns are "First Name", "Company"')
    _, empty = upload_csv(client, me, cid, b"First Name,Email\r\n")
    assert empty["status"] == "rejected" and "no prospects" in empty["reason"]
    assert get_json(client, me, f"/campaigns/{cid}/prospects")["items"] == []


def test_another_account_cannot_see_the_prospects(client, campaign, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    upload_csv(client, me, cid, LEADS)
    prospect_id = all_prospects(client, me, cid, limit=2)[0]["prospect_id"]
    mallory = new_tenant("mallory@m.io")
    for path in (f"/campaigns/{cid}/prospects", f"/campaigns/{cid}/prospects/{prospect_id}"):
        response = call(client, "GET", path, mallory)
        assert response.status_code == 404, path
        assert json.loads(response.body)["error"]["code"] == "not_found"
    # Her own campaign does not reach into another's partition either.
    own = json.loads(call(client, "POST", "/campaigns", mallory, {"name": "mine"}).body)["campaign_id"]
    assert call(client, "GET", f"/campaigns/{own}/prospects/{prospect_id}", mallory).status_code == 404
    assert get_json(client, mallory, f"/campaigns/{own}/prospects")["items"] == []


def test_bad_cursor_and_limit_are_422(client, campaign) -> None:  # type: ignore[no-untyped-def]
    me, cid = campaign
    assert call(client, "GET", f"/campaigns/{cid}/prospects?limit=0", me).status_code == 422
    assert call(client, "GET", f"/campaigns/{cid}/prospects?cursor=nope", me).status_code == 422
