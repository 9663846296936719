"""Campaigns API through the Chalice test client, over moto."""

from __future__ import annotations

import json

from chalicelib.domain.models import Plan
from tests.functional.conftest import call


def _json(response):  # type: ignore[no-untyped-def]
    return json.loads(response.body)


def test_create_get_update_delete(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    created = call(client, "POST", "/campaigns", me, {"name": "Q4", "script": "Hi {first_name}"})
    assert created.status_code == 201
    campaign = _json(created)
    assert campaign["status"] == "draft" and campaign["version"] == 1
    assert "account_id" not in campaign
    cid = campaign["campaign_id"]

    got = call(client, "GET", f"/campaigns/{cid}", me)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'

    patched = call(
        client, "PATCH", f"/campaigns/{cid}", me, {"description": "new"}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.body
    assert _json(patched)["description"] == "new" and _json(patched)["name"] == "Q4"

    stale = call(
        client, "PATCH", f"/campaigns/{cid}", me, {"name": "lost update"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert _json(call(client, "GET", f"/campaigns/{cid}", me))["name"] == "Q4"

    assert call(client, "DELETE", f"/campaigns/{cid}", me).status_code == 204
    assert call(client, "GET", f"/campaigns/{cid}", me).status_code == 404


def test_list_paginates(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    ids = [_json(call(client, "POST", "/campaigns", me, {"name": f"c{i}"}))["campaign_id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        path = "/campaigns?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = _json(call(client, "GET", path, me))
        seen += [c["campaign_id"] for c in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_bad_input_names_the_field(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cases = [
        ("{not json", 400, None),
        ("[1, 2]", 400, None),
        (json.dumps({"name": "x", "colour": "red"}), 422, "body.colour"),
        (json.dumps({"name": 42}), 422, "body.name"),
        (json.dumps({"description": "no name"}), 422, "body.name"),
        (json.dumps({"name": ""}), 422, "body.name"),
        (json.dumps({"name": "x" * 201}), 422, "body.name"),
    ]
    for body, status, field in cases:
        response = call(client, "POST", "/campaigns", me, body)
        assert response.status_code == status, (body, response.body)
        error = _json(response)["error"]
        assert error["message"]
        if field:
            assert field in [f["field"] for f in error["fields"]], (body, error)
    bad_query = call(client, "GET", "/campaigns?limit=500", me)
    assert bad_query.status_code == 422
    assert _json(bad_query)["error"]["fields"][0]["field"] == "query.limit"
    bad_cursor = call(client, "GET", "/campaigns?cursor=garbage", me)
    assert bad_cursor.status_code == 422
    assert _json(bad_cursor)["error"]["fields"][0]["field"] == "query.cursor"


def test_patch_rejects_bad_if_match(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _json(call(client, "POST", "/campaigns", me, {"name": "x"}))["campaign_id"]
    response = call(client, "PATCH", f"/campaigns/{cid}", me, {"name": "y"}, headers={"If-Match": "banana"})
    assert response.status_code == 422
    assert _json(response)["error"]["fields"][0]["field"] == "header.If-Match"


def test_me(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant("owner@acme.io", plan=Plan.TRIAL)
    body = _json(call(client, "GET", "/me", me))
    assert body["account"]["account_id"] == me.account_id
    assert body["email"] == "owner@acme.io" and body["account"]["plan"] == "trial"
    assert (body["account"]["videos_rendered"], body["account"]["trial_video_limit"]) == (0, 5)


def test_presigned_upload_limits(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    cid = _json(call(client, "POST", "/campaigns", me, {"name": "x"}))["campaign_id"]
    ok = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {
            "kind": "base_video",
            "filename": "My Pitch (final).mov",
            "content_type": "video/quicktime",
            "size_bytes": 1000,
        },
    )
    assert ok.status_code == 201, ok.body
    ticket = _json(ok)
    assert ticket["key"].startswith(f"uploads/{me.account_id}/{cid}/base_video/")
    assert ticket["key"].endswith("/My-Pitch-final-.mov") or ticket["key"].endswith("/My-Pitch-final.mov")
    assert ticket["fields"]["key"] == ticket["key"] and ticket["max_bytes"] == 100 * 1024 * 1024
    campaign = _json(call(client, "GET", f"/campaigns/{cid}", me))
    assert campaign["base_video"]["status"] == "awaiting_upload"

    too_big = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {
            "kind": "base_video",
            "filename": "a.mp4",
            "content_type": "video/mp4",
            "size_bytes": 101 * 1024 * 1024,
        },
    )
    assert too_big.status_code == 422
    assert [f["field"] for f in _json(too_big)["error"]["fields"]] == ["body.size_bytes"]
    wrong_type = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {"kind": "prospects_csv", "filename": "a.csv", "content_type": "image/png", "size_bytes": 10},
    )
    assert [f["field"] for f in _json(wrong_type)["error"]["fields"]] == ["body.content_type"]
    csv = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        me,
        {"kind": "prospects_csv", "filename": "leads.csv", "content_type": "text/csv", "size_bytes": 10},
    )
    imports = _json(call(client, "GET", f"/campaigns/{cid}/imports", me))["items"]
    assert [i["import_id"] for i in imports] == [_json(csv)["upload_id"]]
    assert imports[0]["status"] == "awaiting_upload"


def test_openapi_document_covers_every_route(client) -> None:  # type: ignore[no-untyped-def]
    from openapi_spec_validator import validate

    import app

    response = call(client, "GET", "/openapi.json")
    assert response.status_code == 200
    doc = _json(response)
    validate(doc)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = {(path, method) for path, entries in app.app.routes.items() for method in entries}
    assert documented == routed
    assert "CampaignCreate" in doc["components"]["schemas"]
    assert doc["paths"]["/campaigns"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/health"]["get"]


def test_framework_errors_use_the_same_shape(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    response = call(client, "POST", "/campaigns", me, {"name": "x"}, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    error = _json(response)["error"]
    assert error["code"] == "unsupported_media_type"
    assert "text/plain" in error["message"]
    assert error["request_id"]


def test_the_load_campaign_task_snapshots_the_campaign_as_the_api_shows_it(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from chalicelib.domain.errors import NotFoundError
    from chalicelib.tasks.campaigns import load_campaign
    from devstack.lambdas import LambdaContext

    context = LambdaContext("tailorcast-test-load_campaign", "arn:aws:lambda:us-east-1:1:function:x")

    me, other = new_tenant(), new_tenant("other@example.com")
    cid = _json(call(client, "POST", "/campaigns", me, {"name": "Q4", "script": "Hi {first_name}"}))[
        "campaign_id"
    ]
    shown = _json(call(client, "GET", f"/campaigns/{cid}", me))
    snapshot = load_campaign({"account_id": me.account_id, "campaign_id": cid}, context)
    assert snapshot == {"campaign": shown}  # the same shape, no account id in the execution state
    with pytest.raises(NotFoundError):
        load_campaign({"account_id": other.account_id, "campaign_id": cid}, context)
