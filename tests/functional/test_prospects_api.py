"""Prospect management over HTTP: the Chalice test client on moto's DynamoDB, S3 and Step Functions.

Prospects are seeded through the repository (the CSV import has its own tests); a render batch's
execution is started in moto but not run (a single Pass state), as in ``test_render_api.py``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import dependencies
from chalicelib.domain.models import (
    BaseVideo,
    CampaignVoice,
    Prospect,
    ProspectVideo,
    UploadStatus,
    VideoStatus,
    VoiceStatus,
    new_id,
)
from chalicelib.settings import get_settings
from tests.conftest import TEST_ENV
from tests.functional.conftest import Tenant, call

MEDIA = TEST_ENV["TAILORCAST_MEDIA_BUCKET"]


def _json(response: Any) -> Any:
    return json.loads(response.body)


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in _json(response)["error"]["fields"]]


def _campaign(client: Any, tenant: Tenant, ready: bool = False) -> str:
    cid: str = _json(call(client, "POST", "/campaigns", tenant, {"name": "Q4", "script": "Hi {first_name}"}))[
        "campaign_id"
    ]
    if ready:  # a base video and a voice ready, so batches can start
        dependencies.get_campaign_repo().update(
            tenant.account_id,
            cid,
            lambda c: c.model_copy(
                update={
                    "base_video": BaseVideo(
                        upload_id="upl_x", key="k", filename="f.mp4", status=UploadStatus.READY
                    ),
                    "voice": CampaignVoice(status=VoiceStatus.READY),
                }
            ),
        )
    return cid


def _seed(tenant: Tenant, cid: str, first_name: str, email: str, **fields: Any) -> str:
    """A prospect, counted on the campaign as an import would count it."""
    prospect = dependencies.get_prospect_repo().add(
        Prospect(
            account_id=tenant.account_id,
            campaign_id=cid,
            prospect_id=new_id("pros"),
            first_name=first_name,
            email=email,
            **fields,
        )
    )
    dependencies.get_campaign_repo().update(
        tenant.account_id,
        cid,
        lambda c: c.model_copy(
            update={"counters": c.counters.model_copy(update={"prospects": c.counters.prospects + 1})}
        ),
    )
    return prospect.prospect_id


def _video(tenant: Tenant, cid: str, pid: str, status: VideoStatus) -> str:
    """A render of the prospect in ``status`` (its status is copied onto the prospect), and its
    objects in the media bucket; returns the render's prefix."""
    render_id = new_id("rnd")
    prefix = f"{tenant.account_id}/{cid}/videos/{pid}/{render_id}"
    dependencies.get_video_repo().save(
        ProspectVideo(
            account_id=tenant.account_id,
            campaign_id=cid,
            prospect_id=pid,
            render_id=render_id,
            status=status,
            batch_id="bat_01aaaaaaaaaaaaaaaaaaaaaaaa" if status is VideoStatus.RENDERING else None,
            prefix=prefix,
        )
    )
    s3 = boto3.client("s3")
    s3.put_object(Bucket=MEDIA, Key=f"{prefix}/index.m3u8", Body=b"#EXTM3U")
    s3.put_object(Bucket=MEDIA, Key=f"{tenant.account_id}/{cid}/voice/{pid}/a.wav", Body=b"RIFF")
    return prefix


def _media_keys(tenant: Tenant, cid: str) -> list[str]:
    found = boto3.client("s3").list_objects_v2(Bucket=MEDIA, Prefix=f"{tenant.account_id}/{cid}/")
    return sorted(o["Key"] for o in found.get("Contents", []))


def _list(client: Any, tenant: Tenant, cid: str, **params: Any) -> Any:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return call(client, "GET", f"/campaigns/{cid}/prospects" + (f"?{query}" if query else ""), tenant)


def _all(client: Any, tenant: Tenant, cid: str, **params: Any) -> list[str]:
    """Every page of a listing, following the cursor; the prospects' ids in order."""
    ids: list[str] = []
    cursor = None
    for _ in range(50):
        response = _list(client, tenant, cid, cursor=cursor, **params)
        assert response.status_code == 200, response.body
        page = _json(response)
        ids += [p["prospect_id"] for p in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the cursor never ended")


@pytest.fixture
def sfn(aws: None) -> Any:
    """The render state machine the settings name, in moto (a Pass state: nothing runs)."""
    arn = get_settings().render_state_machine_arn
    client = boto3.client("stepfunctions")
    client.create_state_machine(
        name=arn.rsplit(":", 1)[-1],
        definition=json.dumps({"StartAt": "Noop", "States": {"Noop": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/tailorcast-test",
    )
    return client


# --------------------------------------------------------------------------- listing


@pytest.fixture
def people(client, new_tenant):  # type: ignore[no-untyped-def]
    """Four prospects whose every sort order is different, plus the tenant and campaign."""
    me = new_tenant()
    cid = _campaign(client, me)
    ids = {
        "emile": _seed(
            me,
            cid,
            "Émile",
            "zola@b.io",
            last_name="Zola",
            company="Beta",
            video_status=VideoStatus.COMPLETED,
        ),
        "ada": _seed(me, cid, "ada", "c@a.io", last_name="King"),
        "bob": _seed(me, cid, "Bob", "a@c.io", company="alpha", video_status=VideoStatus.FAILED),
        "chloe": _seed(me, cid, "Chloé", "b@d.io", company="Gamma", video_status=VideoStatus.QUEUED),
    }
    return me, cid, ids


def test_the_list_is_newest_first_by_default_as_before(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    newest_first = sorted(ids.values(), reverse=True)  # ids are ULIDs: they sort by creation
    page = _json(_list(client, me, cid, limit=3))
    assert [p["prospect_id"] for p in page["items"]] == newest_first[:3] and page["cursor"]
    assert _all(client, me, cid, limit=3) == newest_first
    one = page["items"][0]
    assert "watch_token" not in one and one["display_name"] in ("Chloé", "Bob", "ada King", "Émile Zola")


@pytest.mark.parametrize(
    ("sort", "ascending"),
    [
        ("name", ["ada", "bob", "chloe", "emile"]),  # ada King, Bob, Chloé, Émile Zola (accents folded)
        ("email", ["bob", "chloe", "ada", "emile"]),  # a@c, b@d, c@a, zola@b
        ("company", ["bob", "emile", "chloe", "ada"]),  # alpha, Beta, Gamma, then none
        ("status", ["ada", "chloe", "emile", "bob"]),  # pending, queued, completed, failed
        ("created", ["emile", "ada", "bob", "chloe"]),
    ],
)
def test_every_sort_in_both_orders_across_pages(client, people, sort, ascending) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    expected = sorted(ids.values()) if sort == "created" else [ids[n] for n in ascending]
    assert _all(client, me, cid, sort=sort, order="asc", limit=3) == expected
    assert _all(client, me, cid, sort=sort, order="desc", limit=3) == expected[::-1]
    # A→Z unless asked otherwise; newest first for `created`
    assert _all(client, me, cid, sort=sort, limit=2) == (expected[::-1] if sort == "created" else expected)


SEARCHES = [
    ("zola", ["emile"]),
    ("EMILE", ["emile"]),  # case and accents ignored, in the text…
    ("chloe", ["chloe"]),
    ("émile", ["emile"]),  # …and in the search
    ("ada kin", ["ada"]),  # first and last name together
    ("@a.io", ["ada"]),  # email
    ("ALPHA", ["bob"]),  # company
    (".IO", ["emile", "ada", "bob", "chloe"]),  # every email: all four, across two pages
    ("nobody", []),
]


def test_search_by_partial_name_email_or_company(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    for q, found in SEARCHES:
        assert set(_all(client, me, cid, q=q, limit=2)) == {ids[n] for n in found}, q


def test_status_filter_alone_and_with_a_search_and_a_sort(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    _seed(me, cid, "Dora", "dora@x.io", company="Beta", video_status=VideoStatus.FAILED)
    failed = _all(client, me, cid, status="failed")
    assert len(failed) == 2 and ids["bob"] in failed
    assert _all(client, me, cid, status="failed", q="alpha") == [ids["bob"]]
    assert _all(client, me, cid, status="pending", sort="name") == [ids["ada"]]
    assert _all(client, me, cid, status="rendering") == []


def test_cursor_pages_through_a_filtered_list(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    acme = [_seed(me, cid, f"Person{i}", f"p{i}@acme.io", company="Acme Inc") for i in range(7)]
    for i in range(5):
        _seed(me, cid, f"Other{i}", f"o{i}@globex.io", company="Globex")
    # WHEN the seller pages through a search two at a time
    first = _json(_list(client, me, cid, q="acme", limit=2, sort="name"))
    assert len(first["items"]) <= 2 and first["cursor"]
    paged = _all(client, me, cid, q="acme", limit=2, sort="name")
    # THEN every match comes exactly once, in name order, and nothing else
    assert paged == acme  # Person0…Person6 are also their creation order
    # A cursor only goes with its own query.
    other = _list(client, me, cid, q="globex", limit=2, sort="name", cursor=first["cursor"])
    assert other.status_code == 422 and _fields(other) == ["query.cursor"]
    garbage = _list(client, me, cid, cursor="not-a-cursor")
    assert garbage.status_code == 422 and _fields(garbage) == ["query.cursor"]


BAD_QUERIES = [
    ({"sort": "age"}, "query.sort"),
    ({"order": "up"}, "query.order"),
    ({"status": "done"}, "query.status"),
    ({"limit": "0"}, "query.limit"),
    ({"limit": "101"}, "query.limit"),
    ({"q": "x" * 201}, "query.q"),
    ({"search": "ada"}, "query.search"),
]


def test_bad_query_parameters_are_422_naming_them(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me)
    for params, field in BAD_QUERIES:
        response = _list(client, me, cid, **params)
        assert response.status_code == 422 and _fields(response) == [field], params


def test_listing_another_tenants_campaign_is_404(client, people, new_tenant) -> None:  # type: ignore[no-untyped-def]
    _, cid, _ = people
    mallory = new_tenant("mallory@m.io")
    for params in ({}, {"q": "a"}, {"status": "failed"}, {"sort": "name"}):
        assert _list(client, mallory, cid, **params).status_code == 404


# --------------------------------------------------------------------------- one prospect


def test_get_one_has_an_etag_and_no_watch_token(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    response = call(client, "GET", f"/campaigns/{cid}/prospects/{ids['emile']}", me)
    assert response.status_code == 200 and response.headers["ETag"] == '"1"'
    body = _json(response)
    assert body["display_name"] == "Émile Zola" and body["video_status"] == "completed"
    assert "watch_token" not in body and "account_id" not in body


def test_update_with_if_match_including_the_pronunciation(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    path = f"/campaigns/{cid}/prospects/{ids['ada']}"
    # WHEN the seller fixes the name and says how to pronounce it, against the version read
    response = call(
        client,
        "PATCH",
        path,
        me,
        {
            "first_name": "Siobhan",
            "pronunciation": "shi-VAWN",
            "company": "Acme",
            "custom_fields": {"Tier": "A"},
        },
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.body
    assert response.headers["ETag"] == '"2"'
    body = _json(response)
    assert (body["first_name"], body["pronunciation"], body["company"], body["display_name"]) == (
        "Siobhan",
        "shi-VAWN",
        "Acme",
        "Siobhan King",
    )
    assert body["custom_fields"] == {"Tier": "A"} and body["version"] == 2
    # THEN it is stored, and found by its new name
    assert _json(call(client, "GET", path, me))["pronunciation"] == "shi-VAWN"
    assert _all(client, me, cid, q="siobhan") == [ids["ada"]]
    # A stale If-Match is refused and changes nothing
    stale = call(client, "PATCH", path, me, {"last_name": "Queen"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and _json(stale)["error"]["code"] == "precondition_failed"
    assert _json(call(client, "GET", path, me))["last_name"] == "King"
    # null removes the override (no If-Match: applied to the current version)
    cleared = call(client, "PATCH", path, me, {"pronunciation": None, "last_name": None})
    assert cleared.status_code == 200
    assert (_json(cleared)["pronunciation"], _json(cleared)["last_name"], _json(cleared)["version"]) == (
        None,
        None,
        3,
    )


def test_update_to_a_taken_email_is_409(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    path = f"/campaigns/{cid}/prospects/{ids['ada']}"
    taken = call(client, "PATCH", path, me, {"email": "  ZOLA@b.io"})
    assert taken.status_code == 409, taken.body
    assert "zola@b.io" in _json(taken)["error"]["message"]
    moved = call(client, "PATCH", path, me, {"email": "ada@new.io"})
    assert moved.status_code == 200 and _json(moved)["email"] == "ada@new.io"
    # the old email is free again, the new one is taken
    assert (
        call(client, "PATCH", f"/campaigns/{cid}/prospects/{ids['bob']}", me, {"email": "c@a.io"}).status_code
        == 200
    )
    assert (
        call(
            client, "PATCH", f"/campaigns/{cid}/prospects/{ids['bob']}", me, {"email": "ADA@new.io"}
        ).status_code
        == 409
    )


BAD_UPDATES = [
    ({"pronunciation": "sh1-VAWN"}, ["body.pronunciation"]),
    ({"pronunciation": "/ʃɪˈvɔːn"}, ["body.pronunciation"]),
    ({"pronunciation": ""}, ["body.pronunciation"]),
    ({"first_name": ""}, ["body.first_name"]),
    ({"first_name": None}, ["body.first_name"]),
    ({"email": "nope"}, ["body.email"]),
    ({"phone": "1" * 51}, ["body.phone"]),
    ({"website": "x" * 2049}, ["body.website"]),
    ({"custom_fields": {"": "x"}}, ["body.custom_fields..[key]"]),  # pydantic: the key, then [key]
    ({"custom_fields": {"Notes": "x" * 1001}}, ["body.custom_fields.Notes"]),
    ({"video_status": "completed"}, ["body.video_status"]),
    ({"watch_token": "a" * 22}, ["body.watch_token"]),
]


def test_bad_updates_are_422_naming_the_field(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    path = f"/campaigns/{cid}/prospects/{ids['ada']}"
    for body, fields in BAD_UPDATES:
        response = call(client, "PATCH", path, me, body)
        assert response.status_code == 422, (body, response.body)
        assert _fields(response) == fields, body
    assert _json(call(client, "GET", path, me))["version"] == 1


def test_malformed_update_and_if_match(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    path = f"/campaigns/{cid}/prospects/{ids['ada']}"
    assert call(client, "PATCH", path, me, b'{"first_name": ').status_code == 400
    assert call(client, "PATCH", path, me, b"[]").status_code == 400
    bad = call(client, "PATCH", path, me, {"title": "CTO"}, headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and _fields(bad) == ["header.If-Match"]
    assert (
        call(client, "PATCH", f"/campaigns/{cid}/prospects/pros_nope", me, {"title": "x"}).status_code == 404
    )


# --------------------------------------------------------------------------- delete


def _campaign_counters(client: Any, tenant: Tenant, cid: str) -> dict[str, int]:
    counters: dict[str, int] = _json(call(client, "GET", f"/campaigns/{cid}", tenant))["counters"]
    return counters


def test_delete_removes_the_prospect_and_its_media(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    gone = _video(me, cid, ids["emile"], VideoStatus.COMPLETED)
    kept = _video(me, cid, ids["bob"], VideoStatus.FAILED)
    assert _campaign_counters(client, me, cid)["prospects"] == 4
    # WHEN a prospect is deleted
    response = call(client, "DELETE", f"/campaigns/{cid}/prospects/{ids['emile']}", me)
    assert response.status_code == 204, response.body
    # THEN it is gone with its media, the others and their media stay, and the counts follow
    assert call(client, "GET", f"/campaigns/{cid}/prospects/{ids['emile']}", me).status_code == 404
    keys = _media_keys(me, cid)
    assert not [k for k in keys if ids["emile"] in k]
    assert f"{kept}/index.m3u8" in keys and f"{me.account_id}/{cid}/voice/{ids['bob']}/a.wav" in keys
    assert not gone.startswith(kept)
    assert _campaign_counters(client, me, cid)["prospects"] == 3
    assert sorted(_all(client, me, cid)) == sorted(ids[n] for n in ("ada", "bob", "chloe"))
    # its email can be used again
    _seed(me, cid, "Émile", "zola@b.io")
    # and deleting it again is 404
    assert call(client, "DELETE", f"/campaigns/{cid}/prospects/{ids['emile']}", me).status_code == 404


def test_a_prospect_being_rendered_cannot_be_deleted(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    _video(me, cid, ids["ada"], VideoStatus.RENDERING)
    response = call(client, "DELETE", f"/campaigns/{cid}/prospects/{ids['ada']}", me)
    assert response.status_code == 409
    message = _json(response)["error"]["message"]
    assert "being rendered (rendering) by batch bat_01" in message and "cancel the batch" in message
    assert call(client, "GET", f"/campaigns/{cid}/prospects/{ids['ada']}", me).status_code == 200
    assert [k for k in _media_keys(me, cid) if ids["ada"] in k]


# --------------------------------------------------------------------------- bulk delete


def test_bulk_delete_by_ids(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    _video(me, cid, ids["ada"], VideoStatus.RENDERING)
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/prospects/bulk-delete",
        me,
        {
            "prospect_ids": [
                ids["bob"],
                ids["ada"],
                "pros_01aaaaaaaaaaaaaaaaaaaaaaaa",
                ids["emile"],
                ids["bob"],
            ]
        },
    )
    assert response.status_code == 200, response.body
    body = _json(response)
    assert (body["deleted"], body["deleted_ids"], body["more"]) == (2, [ids["bob"], ids["emile"]], False)
    assert [(s["prospect_id"], s["reason"]) for s in body["skipped"]] == [
        (ids["ada"], "rendering"),
        ("pros_01aaaaaaaaaaaaaaaaaaaaaaaa", "not_found"),
    ]
    assert all(s["message"] for s in body["skipped"])
    assert sorted(_all(client, me, cid)) == sorted([ids["ada"], ids["chloe"]])
    assert _campaign_counters(client, me, cid)["prospects"] == 2


def test_bulk_delete_by_filter(client, people) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    extra = _seed(me, cid, "Dora", "dora@x.io", company="Beta", video_status=VideoStatus.FAILED)
    response = call(
        client, "POST", f"/campaigns/{cid}/prospects/bulk-delete", me, {"filter": {"status": "failed"}}
    )
    assert response.status_code == 200, response.body
    body = _json(response)
    assert (body["deleted_ids"], body["skipped"], body["more"]) == ([ids["bob"], extra], [], False)
    by_search = _json(
        call(client, "POST", f"/campaigns/{cid}/prospects/bulk-delete", me, {"filter": {"q": "ZOLA"}})
    )
    assert by_search["deleted_ids"] == [ids["emile"]]
    assert sorted(_all(client, me, cid)) == sorted([ids["ada"], ids["chloe"]])
    # {} matches everyone left, and Chloé's video is queued: she stays
    everyone = _json(call(client, "POST", f"/campaigns/{cid}/prospects/bulk-delete", me, {"filter": {}}))
    assert everyone["deleted_ids"] == [ids["ada"]]
    assert [(s["prospect_id"], s["reason"]) for s in everyone["skipped"]] == [(ids["chloe"], "rendering")]
    assert _all(client, me, cid) == [ids["chloe"]]
    assert _campaign_counters(client, me, cid)["prospects"] == 1


BAD_SELECTIONS = [
    ({}, ["body"]),
    ({"prospect_ids": ["pros_1"], "filter": {}}, ["body"]),
    ({"prospect_ids": []}, ["body.prospect_ids"]),
    ({"prospect_ids": [f"pros_{i}" for i in range(1001)]}, ["body.prospect_ids"]),
    ({"prospect_ids": [""]}, ["body.prospect_ids.0"]),
    ({"filter": {"status": "gone"}}, ["body.filter.status"]),
    ({"filter": {"name": "ada"}}, ["body.filter.name"]),
    ({"prospect_ids": "pros_1"}, ["body.prospect_ids"]),
    ({"ids": ["pros_1"]}, ["body.ids"]),
]


@pytest.mark.parametrize("route", ["bulk-delete", "bulk-render"])
def test_bad_selections_are_422(client, people, route) -> None:  # type: ignore[no-untyped-def]
    me, cid, _ = people
    for body, fields in BAD_SELECTIONS:
        response = call(client, "POST", f"/campaigns/{cid}/prospects/{route}", me, body)
        assert response.status_code == 422, (body, response.body)
        assert _fields(response) == fields, body
    assert call(client, "POST", f"/campaigns/{cid}/prospects/{route}", me, b"{oops").status_code == 400
    assert len(_all(client, me, cid)) == 4


# --------------------------------------------------------------------------- bulk render


def test_bulk_render_starts_a_batch_of_exactly_the_selection(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me, ready=True)
    failed = [_seed(me, cid, f"F{i}", f"f{i}@x.io", video_status=VideoStatus.FAILED) for i in range(3)]
    done = [_seed(me, cid, f"D{i}", f"d{i}@x.io", video_status=VideoStatus.COMPLETED) for i in range(2)]
    path = f"/campaigns/{cid}/prospects/bulk-render"

    def stored(batch: dict[str, Any]) -> list[str] | None:
        return dependencies.get_batch_repo().get(me.account_id, cid, batch["batch_id"]).prospect_ids

    def finish(batch: dict[str, Any]) -> None:  # free the campaign for the next batch
        assert (
            call(client, "POST", f"/campaigns/{cid}/batches/{batch['batch_id']}/cancel", me).status_code
            == 200
        )

    # by filter: the failed ones
    response = call(
        client, "POST", path, me, {"filter": {"status": "failed"}, "tolerated_failure_percent": 10}
    )
    assert response.status_code == 202, response.body
    batch = _json(response)
    assert (batch["status"], batch["tolerated_failure_percent"]) == ("running", 10)
    assert stored(batch) == failed
    # one batch at a time
    busy = call(client, "POST", path, me, {"prospect_ids": done})
    assert busy.status_code == 409 and batch["batch_id"] in _json(busy)["error"]["message"]
    finish(batch)
    # by ids, forced
    forced = _json(
        call(client, "POST", path, me, {"prospect_ids": [done[1], failed[0], done[1]], "force": True})
    )
    assert stored(forced) == [done[1], failed[0]]
    assert dependencies.get_batch_repo().get(me.account_id, cid, forced["batch_id"]).force is True
    finish(forced)
    # {} is the whole campaign
    everyone = _json(call(client, "POST", path, me, {"filter": {}}))
    assert stored(everyone) is None
    finish(everyone)
    executions = sfn.list_executions(stateMachineArn=get_settings().render_state_machine_arn)["executions"]
    assert len(executions) == 3


def test_bulk_render_refuses_what_it_cannot_render(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _campaign(client, me, ready=True)
    pid = _seed(me, cid, "Ada", "ada@x.io")
    path = f"/campaigns/{cid}/prospects/bulk-render"
    nothing = call(client, "POST", path, me, {"filter": {"q": "globex"}})
    assert nothing.status_code == 422 and _fields(nothing) == ["body.filter"]
    unknown = call(client, "POST", path, me, {"prospect_ids": [pid, "pros_01aaaaaaaaaaaaaaaaaaaaaaaa"]})
    assert unknown.status_code == 422 and _fields(unknown) == ["body.prospect_ids.1"]
    not_ready = _campaign(client, me)
    _seed(me, not_ready, "Ada", "ada@x.io")
    refused = call(client, "POST", f"/campaigns/{not_ready}/prospects/bulk-render", me, {"filter": {}})
    assert refused.status_code == 409 and "base video" in _json(refused)["error"]["message"]
    assert sfn.list_executions(stateMachineArn=get_settings().render_state_machine_arn)["executions"] == []


# --------------------------------------------------------------------------- stats


def test_stats_count_the_campaign_per_video_status(client, people, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me, cid, ids = people
    _seed(me, cid, "Dora", "dora@x.io", video_status=VideoStatus.COMPLETED)
    _video(me, cid, ids["ada"], VideoStatus.RENDERING)  # a render moves the prospect's status too
    response = call(client, "GET", f"/campaigns/{cid}/prospects/stats", me)
    assert response.status_code == 200, response.body
    assert _json(response) == {
        "total": 5,
        "by_status": {
            "pending": 0,
            "queued": 1,
            "synthesizing": 0,
            "rendering": 1,
            "completed": 2,
            "failed": 1,
        },
        "in_progress": 2,
        "completed_percent": 40.0,
    }
    empty = _json(call(client, "GET", f"/campaigns/{_campaign(client, me)}/prospects/stats", me))
    assert (empty["total"], empty["completed_percent"]) == (0, 0.0)
    assert call(client, "GET", f"/campaigns/{cid}/prospects/stats", new_tenant("m@m.io")).status_code == 404


# --------------------------------------------------------------------------- the Python client


def test_the_devstack_client_drives_every_route(client, new_tenant, sfn) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from tailorcast_cli.client import ApiError, TailorcastClient

    me = new_tenant()
    cid = _campaign(client, me, ready=True)
    ada = _seed(me, cid, "Ada", "ada@acme.io", company="Acme")
    bob = _seed(me, cid, "Bob", "bob@globex.io", video_status=VideoStatus.FAILED)
    cy = _seed(me, cid, "Cy", "cy@globex.io", video_status=VideoStatus.FAILED)

    def forward(request: httpx.Request) -> httpx.Response:
        got = client.http.request(
            request.method, request.url.raw_path.decode(), headers=dict(request.headers), body=request.content
        )
        return httpx.Response(got.status_code, headers=got.headers, content=got.body)

    api = TailorcastClient("http://api.test", me.token)
    api._http = httpx.Client(
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {me.token}"},
        transport=httpx.MockTransport(forward),
    )
    assert [p.prospect_id for p in api.prospects(cid, sort="name")] == [ada, bob, cy]
    assert [p.prospect_id for p in api.prospects(cid, q="GLOBEX", order="desc", sort="email")] == [cy, bob]
    assert api.prospect(cid, ada).display_name == "Ada"
    changed = api.update_prospect(cid, ada, if_match=1, pronunciation="AY-duh")
    assert (changed.pronunciation, changed.version) == ("AY-duh", 2)
    with pytest.raises(ApiError) as stale:
        api.update_prospect(cid, ada, if_match=1, pronunciation=None)
    assert stale.value.status == 412
    assert api.prospect_stats(cid).by_status[VideoStatus.FAILED] == 2
    batch = api.bulk_render_prospects(cid, status="failed", force=True)
    assert dependencies.get_batch_repo().get(me.account_id, cid, batch.batch_id).prospect_ids == [bob, cy]
    with pytest.raises(ValueError, match="everyone=True"):
        api.bulk_delete_prospects(cid)
    outcome = api.bulk_delete_prospects(cid, prospect_ids=[bob])
    assert outcome.deleted_ids == [bob]
    api.delete_prospect(cid, cy)
    assert api.bulk_delete_prospects(cid, everyone=True).deleted_ids == [ada]
    assert api.prospects(cid) == [] and api.prospect_stats(cid).total == 0
