"""Findings of the security and fuzzing probe (issue 15), each replayed as the attack or input it
was, through the Chalice test client with moto: a cross-tenant voice sample, a placeholder that
broke a campaign for good, deeply nested JSON, lone surrogates, dates read as 1970, an over-long
mapping, and a lapsed account creating new work."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import numpy as np
import pytest

from chalicelib.adapters.dynamodb.models import AccountItem, CampaignItem
from chalicelib.domain.media.wav import wav_bytes
from chalicelib.domain.models import AccountStatus, Plan, utcnow
from chalicelib.settings import get_settings
from tests.functional.conftest import call


def _campaign(client, tenant, script: str = "") -> str:  # type: ignore[no-untyped-def]
    created = call(client, "POST", "/campaigns", tenant, {"name": "Q4", "script": script})
    assert created.status_code == 201, created.body
    return str(json.loads(created.body)["campaign_id"])


def _uploaded(client, tenant, cid: str, data: bytes = b"x" * 1000, kind: str = "base_video") -> str:  # type: ignore[no-untyped-def]
    """Request an upload and put ``data`` under its key (as the browser's POST would)."""
    content_type = "video/mp4" if kind == "base_video" else "audio/wav"
    ticket = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        tenant,
        {"kind": kind, "filename": "me.wav", "content_type": content_type, "size_bytes": len(data)},
    )
    assert ticket.status_code == 201, ticket.body
    key = str(json.loads(ticket.body)["key"])
    boto3.client("s3").put_object(Bucket=get_settings().uploads_bucket, Key=key, Body=data)
    return key


def _speech_like(seconds: float) -> bytes:
    """A WAV of a voiced tone with a wobble, ``seconds`` long (what the check measures is sound)."""
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (140 + 20 * np.sin(2 * np.pi * 3 * t)) * t)
    return wav_bytes((tone * 32767).astype("<i2").tobytes(), rate, 1)


# ------------------------------------------------------------------ 1. the cross-tenant voice sample


def test_another_tenants_recording_cannot_be_named_as_a_voice_sample(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a victim with an uploaded recording, and an attacker who knows its key
    victim, attacker = new_tenant("victim@example.com"), new_tenant("attacker@example.com")
    victims_key = _uploaded(client, victim, _campaign(client, victim), _speech_like(6), "voice_sample")
    mine = _campaign(client, attacker)

    # WHEN the attacker names it (and a key of the victim's that does not exist) as their sample
    taken = call(client, "PATCH", f"/campaigns/{mine}/voice", attacker, {"voice_sample_key": victims_key})
    made_up = victims_key.rsplit("/", 2)[0] + "/upl_00000000000000000000000000/x.mp4"
    absent = call(client, "PATCH", f"/campaigns/{mine}/voice", attacker, {"voice_sample_key": made_up})

    # THEN both are refused alike (nothing tells whether the victim's key exists), and nothing stored
    assert taken.status_code == absent.status_code == 422
    assert json.loads(taken.body)["error"]["fields"] == json.loads(absent.body)["error"]["fields"]
    assert json.loads(taken.body)["error"]["fields"][0]["field"] == "body.voice_sample_key"
    voice = json.loads(call(client, "GET", f"/campaigns/{mine}/voice", attacker).body)
    assert voice["voice_sample_key"] is None


def test_a_voice_sample_must_be_an_upload_of_the_same_campaign_and_there(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    first, second = _campaign(client, seller), _campaign(client, seller)
    other_campaigns = _uploaded(client, seller, first, _speech_like(6), "voice_sample")
    refused = call(
        client, "PATCH", f"/campaigns/{second}/voice", seller, {"voice_sample_key": other_campaigns}
    )
    assert refused.status_code == 422, refused.body

    # A key of this campaign that was requested but never uploaded: a clear refusal, not "preparing"
    ticket = call(
        client,
        "POST",
        f"/campaigns/{second}/uploads",
        seller,
        {"kind": "base_video", "filename": "v.mp4", "content_type": "video/mp4", "size_bytes": 10},
    )
    never_sent = json.loads(ticket.body)["key"]
    missing = call(client, "PATCH", f"/campaigns/{second}/voice", seller, {"voice_sample_key": never_sent})
    assert missing.status_code == 422
    assert "never uploaded" in json.loads(missing.body)["error"]["message"]

    own = _uploaded(client, seller, second, _speech_like(6), "voice_sample")
    taken = call(client, "PATCH", f"/campaigns/{second}/voice", seller, {"voice_sample_key": own})
    assert taken.status_code == 200, taken.body
    assert json.loads(taken.body)["voice_sample_key"] == own


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not a recording at all" * 50, "could not be decoded"),
        (_speech_like(2), "2.0 s of sound"),
        (b"ffconcat version 1.0\nfile '/etc/hostname'\n", "could not be decoded"),
    ],
    ids=["garbage", "too-short", "concat-script"],
)
def test_a_voice_sample_replaces_the_one_in_use_only_once_it_is_usable(  # type: ignore[no-untyped-def]
    client, new_tenant, data: bytes, says: str
) -> None:
    seller = new_tenant()
    cid = _campaign(client, seller)
    good = _uploaded(client, seller, cid, _speech_like(6), "voice_sample")
    assert (
        call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"voice_sample_key": good}).status_code
        == 200
    )

    bad = _uploaded(client, seller, cid, data, "voice_sample")
    refused = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"voice_sample_key": bad})
    assert refused.status_code == 422, refused.body
    [issue] = json.loads(refused.body)["error"]["fields"]
    assert issue["field"] == "body.voice_sample_key" and says in issue["message"]
    # The working sample stays, and the campaign's base video is untouched (no pending upload)
    campaign = json.loads(call(client, "GET", f"/campaigns/{cid}", seller).body)
    assert campaign["voice"]["voice_sample_key"] == good
    assert campaign["base_video"] is None and campaign["pending_base_video"] is None


def test_a_voice_sample_upload_takes_recordings_only(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)
    body = {"kind": "voice_sample", "filename": "me.csv", "content_type": "text/csv", "size_bytes": 10}
    refused = call(client, "POST", f"/campaigns/{cid}/uploads", seller, body)
    assert refused.status_code == 422
    too_big = {**body, "content_type": "audio/mpeg", "size_bytes": 26 * 1024 * 1024}
    assert call(client, "POST", f"/campaigns/{cid}/uploads", seller, too_big).status_code == 422


# ------------------------------------------------------------ 2. a placeholder that broke a campaign


def test_an_empty_placeholder_name_is_refused_and_the_campaign_keeps_working(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller, script="")  # the probe's campaign had an empty script
    answer = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"placeholders": {"": "x"}})
    assert answer.status_code == 422
    assert json.loads(answer.body)["error"]["fields"][0]["field"] == "body.placeholders"
    for path in (f"/campaigns/{cid}", "/campaigns", f"/campaigns/{cid}/voice"):
        assert call(client, "GET", path, seller).status_code == 200, path
    assert call(client, "DELETE", f"/campaigns/{cid}", seller).status_code == 204


@pytest.mark.parametrize(
    "placeholders",
    [{"first name": "John"}, {"nickname": "Jo"}, {"first_name": "J" * 101}],
    ids=["spaced", "unknown", "too-long"],
)
def test_placeholders_are_known_slots_with_short_values(client, new_tenant, placeholders) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)
    answer = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"placeholders": placeholders})
    assert answer.status_code == 422, answer.body


def _store_raw(account_id: str, cid: str, **attributes: object) -> None:
    """Write attributes straight to the item, as an older version could have."""
    item = CampaignItem.get(f"ACCOUNT#{account_id}", f"CAMPAIGN#{cid}")
    for name, value in attributes.items():
        setattr(item, name, value)
    item.save(add_version_condition=False)


def test_voice_settings_stored_invalid_by_an_older_version_degrade_and_can_be_repaired(
    client, new_tenant
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a campaign whose stored voice settings break today's rules
    seller = new_tenant()
    cid = _campaign(client, seller, script="Hi {first_name}, quick idea.")
    voice = json.loads(call(client, "GET", f"/campaigns/{cid}/voice", seller).body)
    _store_raw(seller.account_id, cid, voice={**voice, "placeholders": {"first name": "John"}})

    # WHEN it is read, THEN the campaign and the list answer, the voice says what to fix
    one = call(client, "GET", f"/campaigns/{cid}", seller)
    assert one.status_code == 200, one.body
    stored = json.loads(one.body)["voice"]
    assert stored["status"] == "needs_attention" and "placeholders" in stored["error"]
    assert stored["placeholders"] == {}
    assert [
        c["campaign_id"] for c in json.loads(call(client, "GET", "/campaigns", seller).body)["items"]
    ] == [cid]

    # AND setting the placeholders again repairs it
    fixed = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"placeholders": {"first_name": "John"}})
    assert fixed.status_code == 200, fixed.body
    assert json.loads(fixed.body)["error"] is None


def test_a_campaign_that_no_longer_reads_is_an_error_on_itself_only(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    good, bad = _campaign(client, seller), _campaign(client, seller)
    _store_raw(seller.account_id, bad, name="n" * 500)  # over today's 200 characters

    listed = json.loads(call(client, "GET", "/campaigns", seller).body)
    assert [c["campaign_id"] for c in listed["items"]] == [good]
    assert [u["id"] for u in listed["unreadable"]] == [bad]
    one = call(client, "GET", f"/campaigns/{bad}", seller)
    assert one.status_code == 409 and json.loads(one.body)["error"]["code"] == "stored_data_invalid"

    assert call(client, "DELETE", f"/campaigns/{bad}", seller).status_code == 204
    assert json.loads(call(client, "GET", "/campaigns", seller).body)["unreadable"] == []


# ------------------------------------------------------------------ 3. nesting and lone surrogates


@pytest.mark.parametrize("depth", [33, 2_000, 100_000])
def test_deeply_nested_json_is_a_400_on_every_json_route(client, new_tenant, depth: int) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)
    for method, path in (
        ("POST", "/campaigns"),
        ("PATCH", f"/campaigns/{cid}"),
        ("PATCH", f"/campaigns/{cid}/voice"),
        ("POST", "/webhooks"),
        ("POST", f"/campaigns/{cid}/batches"),
    ):
        answer = call(client, method, path, seller, "[" * depth + "]" * depth)
        assert answer.status_code == 400, (method, path, answer.status_code)
        assert "nested more than 32 levels" in json.loads(answer.body)["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    answer = call(client, "POST", "/campaigns", seller, {"name": "[" * 100, "description": '{"[' * 50})
    assert answer.status_code == 201, answer.body


def test_a_json_body_over_a_megabyte_is_a_413(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    answer = call(client, "POST", "/campaigns", seller, {"name": "x", "description": "d" * (1024 * 1024)})
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"placeholders": {"first_name": "Jo\\ud800"}}', "body.placeholders.first_name"),
        ('{"placeholders": {"first_name": "Jo\\udc00hn"}}', "body.placeholders.first_name"),
        ('{"voice_id": "\\ud83d"}', "body.voice_id"),
    ],
)
def test_a_lone_surrogate_is_a_422_naming_the_field(client, new_tenant, body: str, field: str) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller, script="Hi {first_name}!")
    answer = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, body)
    assert answer.status_code == 422, answer.body
    assert [f["field"] for f in json.loads(answer.body)["error"]["fields"]] == [field]
    # A paired surrogate (an emoji, escaped) is text like any other
    emoji = call(client, "PATCH", f"/campaigns/{cid}", seller, '{"description": "\\ud83d\\ude00"}')
    assert emoji.status_code == 200, emoji.body


# --------------------------------------------------------------------------------- 9. contract gaps


@pytest.mark.parametrize("value", ["0", "1700000000", "2026-1-5", "yesterday", "1999-12-31"])
def test_analytics_days_are_iso_dates_only(client, new_tenant, value: str) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)
    answer = call(client, "GET", f"/campaigns/{cid}/analytics?until={value}", seller)
    assert answer.status_code == 422, (value, answer.body)
    assert json.loads(answer.body)["error"]["fields"][0]["field"] == "query.until"


def test_an_over_long_or_deep_mapping_parameter_is_a_422(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)
    csv = b"first_name,email\nAda,ada@example.com\n"
    headers = {"Content-Type": "text/csv"}
    long_mapping = json.dumps({f"column {i}": "custom" for i in range(400)})
    for mapping in (long_mapping, "[" * 3000):
        answer = call(
            client,
            "POST",
            f"/campaigns/{cid}/imports/preview?mapping={mapping}",
            seller,
            csv,
            headers=headers,
        )
        assert answer.status_code == 422, answer.body
        assert json.loads(answer.body)["error"]["fields"][0]["field"] == "query.mapping"


# ------------------------------------------------------------------- 7. a lapsed account's writes


def _set_account(account_id: str, **changes: object) -> None:
    item = AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT")
    for name, value in changes.items():
        setattr(item, name, value.value if isinstance(value, AccountStatus) else value)
    item.save(add_version_condition=False)


@pytest.mark.parametrize(
    "lapse",
    [{"status": AccountStatus.CANCELLED}, {"trial_ends_at": utcnow() - timedelta(days=1)}],
    ids=["cancelled", "trial-ended"],
)
def test_a_lapsed_account_reads_but_creates_nothing_new(client, new_tenant, lapse) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant(plan=Plan.TRIAL)  # about the trial's end
    cid = _campaign(client, seller)
    _set_account(seller.account_id, **lapse)

    created = call(client, "POST", "/campaigns", seller, {"name": "another"})
    assert created.status_code == 402, created.body
    error = json.loads(created.body)["error"]
    assert error["code"] == "account_inactive" and error["unlock"] == "subscribe"
    for method, path, body in (
        (
            "POST",
            f"/campaigns/{cid}/uploads",
            {"kind": "base_video", "filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 9},
        ),
        ("POST", f"/campaigns/{cid}/batches", {}),
        ("POST", "/webhooks", {"url": "https://hooks.example.com/x"}),
    ):
        assert call(client, method, path, seller, body).status_code == 402, path
    # It still reads, edits and deletes what it has
    assert call(client, "GET", "/campaigns", seller).status_code == 200
    assert call(client, "PATCH", f"/campaigns/{cid}", seller, {"name": "renamed"}).status_code == 200
    assert call(client, "DELETE", f"/campaigns/{cid}", seller).status_code == 204


def test_a_voice_preview_with_no_name_names_the_field(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller, script="Hi {first_name}!")
    answer = call(client, "POST", f"/campaigns/{cid}/voice/preview", seller, {})
    assert answer.status_code == 422, answer.body
    assert [f["field"] for f in json.loads(answer.body)["error"]["fields"]] == ["body.first_name"]


def test_a_day_out_of_range_says_the_range(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    answer = call(client, "GET", "/analytics?since=1999-10-05", seller)
    assert answer.status_code == 422
    assert json.loads(answer.body)["error"]["fields"] == [
        {"field": "query.since", "message": "Value error, must be between 2000-01-01 and 2100-12-31"}
    ]


def test_a_voice_sample_arriving_touches_neither_the_base_video_nor_the_imports(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import TEST_ENV

    seller = new_tenant()
    cid = _campaign(client, seller)
    key = _uploaded(client, seller, cid, _speech_like(6), "voice_sample")
    event = client.events.generate_s3_event(bucket=TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], key=key)
    outcome = client.lambda_.invoke("ingest_upload", event).payload
    assert outcome["status"] == "received", outcome
    campaign = json.loads(call(client, "GET", f"/campaigns/{cid}", seller).body)
    assert campaign["base_video"] is None and campaign["pending_base_video"] is None
    assert json.loads(call(client, "GET", f"/campaigns/{cid}/imports", seller).body)["items"] == []
