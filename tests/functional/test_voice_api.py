"""Voice routes through the Chalice test client with moto: settings, hand-set slots, the lexicon,
and every refusal naming the field at fault."""

from __future__ import annotations

import json

from chalicelib import dependencies
from chalicelib.domain.models import BaseVideo, Ladder, UploadStatus
from tests.functional.conftest import call


def _campaign(client, tenant, script="Hi {first_name}, I saw {company} is hiring."):  # type: ignore[no-untyped-def]
    return json.loads(call(client, "POST", "/campaigns", tenant, {"name": "Q4", "script": script}).body)


def _make_base_ready(account_id: str, campaign_id: str, seconds: float = 10.0) -> None:
    ladder = Ladder(
        prefix="p",
        master="main.m3u8",
        audio_playlist="main_audio.m3u8",
        pcm="audio.wav",
        renditions=["main_360p.m3u8"],
        width=640,
        height=360,
        fps=30,
        duration_seconds=seconds,
        segment_count=5,
    )
    dependencies.get_campaign_repo().update(
        account_id,
        campaign_id,
        lambda c: c.model_copy(
            update={
                "base_video": BaseVideo(
                    upload_id="upl_x", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
                )
            }
        ),
    )


def test_voice_settings_and_placeholder_validation(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)["campaign_id"]
    voice = json.loads(call(client, "GET", f"/campaigns/{cid}/voice", seller).body)
    assert voice["engine"] == "piper" and voice["status"] == "not_ready" and voice["slots"] == []

    done = call(
        client,
        "PATCH",
        f"/campaigns/{cid}/voice",
        seller,
        {"engine": "flite", "placeholders": {"first_name": "John"}},
    )
    assert done.status_code == 200, done.body
    assert json.loads(done.body)["engine"] == "flite"
    assert json.loads(call(client, "GET", f"/campaigns/{cid}", seller).body)["voice"]["placeholders"] == {
        "first_name": "John"
    }

    bad = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"placeholders": {"last_name": "Smith"}})
    assert bad.status_code == 422
    assert json.loads(bad.body)["error"]["fields"][0]["field"] == "placeholders.last_name"
    bad = call(client, "PATCH", f"/campaigns/{cid}/voice", seller, {"engine": "festival"})
    assert bad.status_code == 422 and "engine" in bad.body.decode()


def test_script_without_placeholder_is_refused_at_align(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller, script="")["campaign_id"]
    # No base video yet: aligning is a clear 409, not a crash.
    response = call(client, "POST", f"/campaigns/{cid}/voice/align", seller)
    assert response.status_code == 409 and "base video" in json.loads(response.body)["error"]["message"]


def test_hand_set_slots(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)["campaign_id"]
    slots = {"slots": [{"variable": "first_name", "start": 0.6, "end": 1.0}]}
    assert (
        call(client, "PUT", f"/campaigns/{cid}/voice/slots", seller, slots).status_code == 409
    )  # no audio yet

    _make_base_ready(seller.account_id, cid)
    done = call(client, "PUT", f"/campaigns/{cid}/voice/slots", seller, slots)
    assert done.status_code == 200, done.body
    (slot,) = json.loads(done.body)["slots"]
    assert slot["source"] == "manual" and slot["start"] == 0.6 and slot["confidence"] is None

    cases = [
        ([{"variable": "title", "start": 0.6, "end": 1.0}], "body.slots.0.variable"),
        ([{"variable": "first_name", "start": 9.8, "end": 10.6}], "body.slots.0.end"),  # past the audio
        ([{"variable": "first_name", "start": 1.0, "end": 0.5}], "body.slots.0.end"),
        (
            [{"variable": "first_name", "start": 1.0, "end": 7.0}],
            "body.slots.0.end",
        ),  # a sentence, not a name
        (
            [
                {"variable": "first_name", "start": 1.0, "end": 2.0},
                {"variable": "company", "start": 1.5, "end": 2.5},
            ],
            "body.slots",
        ),
    ]
    for given, field in cases:
        response = call(client, "PUT", f"/campaigns/{cid}/voice/slots", seller, {"slots": given})
        assert response.status_code == 422, (given, response.body)
        assert field in [f["field"] for f in json.loads(response.body)["error"]["fields"]], response.body


def test_lexicon_crud_and_validation(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    assert (
        call(client, "PUT", "/pronunciations/Siobhan", seller, {"pronunciation": "shi-VAWN"}).status_code
        == 200
    )
    assert (
        call(client, "PUT", "/pronunciations/Niamh", seller, {"pronunciation": "/niːv/"}).status_code == 200
    )
    items = json.loads(call(client, "GET", "/pronunciations", seller).body)["items"]
    assert {i["name"]: i["pronunciation"] for i in items} == {"Siobhan": "shi-VAWN", "Niamh": "/niːv/"}
    assert call(client, "DELETE", "/pronunciations/niamh", seller).status_code == 204  # case-insensitive key
    assert call(client, "DELETE", "/pronunciations/niamh", seller).status_code == 404
    bad = call(client, "PUT", "/pronunciations/Siobhan", seller, {"pronunciation": "shi-VAWN-2"})
    assert bad.status_code == 422 and "pronunciation" in bad.body.decode()


def test_preview_refuses_unspeakable_names_before_any_synthesis(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    seller = new_tenant()
    cid = _campaign(client, seller)["campaign_id"]
    for body, field in (
        ({"first_name": ""}, "body.first_name"),
        ({"first_name": "😀😀"}, "body.first_name"),
        ({"first_name": "x" * 200}, "body.first_name"),
        (
            {"first_name": "Siobhan", "pronunciations": {"first_name": "/not ipa 123/"}},
            "body.pronunciations.first_name",
        ),
    ):
        response = call(client, "POST", f"/campaigns/{cid}/voice/preview", seller, body)
        assert response.status_code == 422, (body, response.body)
        assert field in [f["field"] for f in json.loads(response.body)["error"]["fields"]], response.body
