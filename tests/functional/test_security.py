"""Auth on every route, and tenant isolation on every route, driven by ``app.routes``."""

from __future__ import annotations

import json
import re
import time

import boto3
import jwt
import pytest

from chalicelib.api._http import ROUTES
from chalicelib.domain.models import Prospect, new_id
from tests.functional.conftest import call

# The only routes anyone may call without a token, and what they answer for a made-up id. Adding a
# public route means adding it here. The watch routes are keyed by the watch link's token (the
# secret itself), never by an account: tests/functional/test_watch_api.py covers them.
PUBLIC = {
    ("/health", "GET"): 200,
    ("/openapi.json", "GET"): 200,
    ("/w/{token}", "GET"): 404,
    ("/w/{token}", "HEAD"): 404,
    ("/w/{token}/events", "POST"): 404,
    ("/assets/{name}", "GET"): 404,
    # Sign-up and sign-in (issue 18): no user pool is configured here, so each says that sign-in
    # is unavailable (503) rather than anything about the email (tests/functional/test_identity_api.py
    # runs them against a pool).
    ("/auth/signup", "POST"): 503,
    ("/auth/confirm", "POST"): 503,
    ("/auth/resend-code", "POST"): 503,
    ("/auth/login", "POST"): 503,
    ("/auth/refresh", "POST"): 503,
    ("/auth/forgot-password", "POST"): 503,
    ("/auth/reset-password", "POST"): 503,
    # Stripe's webhooks: no token; no Stripe secret is stored here, so none can be verified (503,
    # and Stripe retries). tests/functional/test_billing_api.py verifies them against a secret.
    ("/webhooks/stripe", "POST"): 503,
}

# A valid body for each request model, so isolation is proven past validation (not by a 422).
VALID_BODIES = {
    "CampaignCreate": {"name": "x"},
    "CampaignUpdate": {"name": "stolen"},
    "UploadRequest": {
        "kind": "prospects_csv",
        "filename": "a.csv",
        "content_type": "text/csv",
        "size_bytes": 5,
    },
    "VoiceUpdate": {"engine": "flite"},
    "SlotsIn": {"slots": [{"variable": "first_name", "start": 0.5, "end": 1.0}]},
    "PreviewIn": {"first_name": "Priya"},
    "PronunciationIn": {"pronunciation": "shi-VAWN"},
    "WebhookCreate": {"url": "https://hooks.example.com/tailorcast"},
    "BatchCreate": {"force": True},
    "RenderOne": {"force": True},
    "ExportCreate": {"format": "csv", "status": "completed"},
    "ProspectUpdate": {"title": "stolen", "pronunciation": "shi-VAWN"},
    # The broadest selectors: were isolation broken, they would reach every prospect of Alice's.
    "BulkDelete": {"filter": {}},
    "BulkRender": {"filter": {}, "force": True},
    "WatchLinkUpdate": {"rotate": True, "revoked": True},
    "MarkSent": {"prospect_ids": ["pros_01aaaaaaaaaaaaaaaaaaaaaaaa"]},
    "SignUpIn": {"email": "new@example.com", "password": "Str0ng-Password"},
    "ConfirmIn": {"email": "new@example.com", "code": "123456"},
    "EmailIn": {"email": "new@example.com"},
    "LoginIn": {"email": "new@example.com", "password": "Str0ng-Password"},
    "RefreshIn": {"refresh_token": "r"},
    "ResetPasswordIn": {"email": "new@example.com", "code": "123456", "password": "Str0ng-Password"},
    "ChangePasswordIn": {"old_password": "Str0ng-Password", "new_password": "N3w-Password1"},
    "InviteIn": {"email": "joiner@example.com", "role": "member"},
    "BrandingUpdate": {"accent_color": "#1D4ED8", "show_badge": False},
    "CheckoutIn": {"plan": "basic"},
    "DeletionRequest": {"confirm": "Acme"},
    "NotificationsUpdate": {"weekly_digest": False},
    "ProfileUpdate": {"full_name": "Ada Lovelace"},
    "ApiKeyCreate": {"name": "CRM sync"},
}
# Routes keyed by the caller's own account only (no other tenant's id can be named in them):
# isolation for these is proven by test_lexicon_is_per_account instead.
OWN_ACCOUNT_ONLY = {("/pronunciations/{name}", "PUT")}


def _all_routes():  # type: ignore[no-untyped-def]
    import app

    return sorted((path, method) for path, entries in app.app.routes.items() for method in entries)


# A valid file for routes that take one as their body (raw_body), with its content type.
VALID_FILE = (b"First Name,Email\r\nAda,ada@example.com\r\n", "text/csv")


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


VALID_FILES = {
    "image/png": _png(),
    "text/csv": VALID_FILE[0],
    "text/plain": b'{"session": "s.1.m", "events": [{"type": "page_view", "seq": 0}]}',
}


def _body_for(path: str, method: str):  # type: ignore[no-untyped-def]
    doc = next(r for r in ROUTES if r.path == path and r.method == method)
    if doc.raw_body:
        return next(VALID_FILES[t] for t in doc.raw_body if t in VALID_FILES)
    return VALID_BODIES[doc.body.__name__] if doc.body else None


def _headers_for(path: str, method: str) -> dict[str, str]:
    doc = next(r for r in ROUTES if r.path == path and r.method == method)
    return {"Content-Type": next(t for t in doc.raw_body if t in VALID_FILES)} if doc.raw_body else {}


def test_every_body_model_has_a_valid_example() -> None:
    models = {r.body.__name__ for r in ROUTES if r.body is not None}
    assert models <= VALID_BODIES.keys()


def test_every_non_public_route_requires_a_token(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    routes = _all_routes()
    assert {r for r in routes if r in PUBLIC} == PUBLIC.keys()
    for path, method in routes:
        concrete = re.sub(r"{[^}]+}", "camp_00000000000000000000000000", path)
        response = call(
            client, method, concrete, body=_body_for(path, method), headers=_headers_for(path, method)
        )
        if (path, method) in PUBLIC:
            assert response.status_code == PUBLIC[path, method], (path, method, response.status_code)
        else:
            assert response.status_code == 401, (path, method, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert json.loads(response.body)["error"]["code"] == "unauthenticated"


def test_cross_tenant_access_is_404_on_every_route(client, new_tenant, sealing_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    alice, mallory = new_tenant("alice@a.io"), new_tenant("mallory@m.io")
    campaign = json.loads(call(client, "POST", "/campaigns", alice, {"name": "secret"}).body)
    upload = json.loads(
        call(
            client,
            "POST",
            f"/campaigns/{campaign['campaign_id']}/uploads",
            alice,
            VALID_BODIES["UploadRequest"],
        ).body
    )
    prospect_id = _alice_prospect_with_video(alice.account_id, campaign["campaign_id"])
    assert (
        call(client, "PUT", "/pronunciations/Siobhan", alice, {"pronunciation": "shi-VAWN"}).status_code
        == 200
    )
    webhook = json.loads(call(client, "POST", "/webhooks", alice, VALID_BODIES["WebhookCreate"]).body)
    api_key = json.loads(call(client, "POST", "/api-keys", alice, VALID_BODIES["ApiKeyCreate"]).body)
    batch_id = _alice_batch(alice.account_id, campaign["campaign_id"], prospect_id)
    from chalicelib.adapters.dynamodb.models import AccountItem

    AccountItem.get(f"ACCOUNT#{alice.account_id}", "ACCOUNT").update(actions=[AccountItem.plan.set("pro")])
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@tailorcast.local")  # the invite's sender
    invite = json.loads(call(client, "POST", "/team/invites", alice, VALID_BODIES["InviteIn"]).body)
    alice_user = json.loads(call(client, "GET", "/me", alice).body)["user_id"]
    from chalicelib import dependencies
    from tests.fakes import FakeTaskStarter

    monkeypatch.setattr(dependencies, "get_task_starter", FakeTaskStarter)  # the export runs nowhere
    export = json.loads(call(client, "POST", "/account/export", alice).body)
    batch_path = f"/campaigns/{campaign['campaign_id']}/batches/{batch_id}"
    alice_batch = json.loads(call(client, "GET", batch_path, alice).body)
    alice_batch_prospects = json.loads(call(client, "GET", f"{batch_path}/prospects", alice).body)
    prospects_path = f"/campaigns/{campaign['campaign_id']}/prospects"
    alice_prospects = json.loads(call(client, "GET", prospects_path, alice).body)
    ids = {
        "campaign_id": campaign["campaign_id"],
        "import_id": upload["upload_id"],
        "prospect_id": prospect_id,
        "name": "Siobhan",
        "endpoint_id": webhook["endpoint_id"],
        "batch_id": batch_id,
        "invite_id": invite["invite_id"],
        "user_id": alice_user,
        "export_id": export["export_id"],
        "key_id": api_key["key_id"],
    }
    missing = {
        "campaign_id": "camp_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "import_id": "upl_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "prospect_id": "pros_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "name": "Nobody",
        "endpoint_id": "whk_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "batch_id": "bat_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "invite_id": "inv_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "user_id": "user_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "export_id": "exp_01aaaaaaaaaaaaaaaaaaaaaaaa",
        "key_id": "key_01aaaaaaaaaaaaaaaaaaaaaaaa",
    }
    checked = 0
    for path, method in _all_routes():
        names = re.findall(r"{([^}]+)}", path)
        if not names or (path, method) in OWN_ACCOUNT_ONLY or (path, method) in PUBLIC:
            continue
        body = _body_for(path, method)
        headers = _headers_for(path, method)
        theirs = call(client, method, path.format(**ids), mallory, body, headers=headers)
        nowhere = call(client, method, path.format(**missing), mallory, body, headers=headers)
        assert theirs.status_code == 404, (path, method, theirs.status_code, theirs.body)
        # Indistinguishable from an id that exists nowhere: nothing leaks.
        strip = lambda r: {
            k: v for k, v in json.loads(r.body)["error"].items() if k not in ("request_id", "message")
        }
        assert strip(theirs) == strip(nowhere)
        checked += 1
    assert checked >= 12
    # And Alice's data is untouched by all of that.
    still = json.loads(call(client, "GET", f"/campaigns/{campaign['campaign_id']}", alice).body)
    assert still["name"] == "secret" and still["version"] == 1
    assert still["active_batch_id"] is None  # no batch was started on her campaign
    assert json.loads(call(client, "GET", batch_path, alice).body) == alice_batch  # nor cancelled or resumed
    assert json.loads(call(client, "GET", f"{batch_path}/prospects", alice).body) == alice_batch_prospects
    # her prospects were neither changed nor deleted
    assert json.loads(call(client, "GET", prospects_path, alice).body) == alice_prospects
    assert [p["prospect_id"] for p in alice_prospects["items"]] == [prospect_id]
    listed_batches = json.loads(
        call(client, "GET", f"/campaigns/{campaign['campaign_id']}/batches", alice).body
    )
    assert [b["batch_id"] for b in listed_batches["items"]] == [batch_id]
    listed = json.loads(call(client, "GET", "/campaigns", mallory).body)["items"]
    assert [c["campaign_id"] for c in listed] == []
    # her API key was not revoked by Mallory, and still works
    keys = json.loads(call(client, "GET", "/api-keys", alice).body)["items"]
    assert [k["key_id"] for k in keys] == [api_key["key_id"]]
    assert json.loads(call(client, "GET", "/api-keys", mallory).body)["items"] == []


def test_lexicon_is_per_account(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    alice, mallory = new_tenant("alice@a.io"), new_tenant("mallory@m.io")
    assert (
        call(client, "PUT", "/pronunciations/Siobhan", alice, {"pronunciation": "shi-VAWN"}).status_code
        == 200
    )
    # Mallory sees none of Alice's entries, cannot delete them, and her own entry is hers alone.
    assert json.loads(call(client, "GET", "/pronunciations", mallory).body)["items"] == []
    assert call(client, "DELETE", "/pronunciations/Siobhan", mallory).status_code == 404
    assert (
        call(client, "PUT", "/pronunciations/Siobhan", mallory, {"pronunciation": "/ʃɪˈvɔːn/"}).status_code
        == 200
    )
    mine = json.loads(call(client, "GET", "/pronunciations", alice).body)["items"]
    assert mine == [{"name": "Siobhan", "pronunciation": "shi-VAWN"}]


def _alice_prospect_with_video(account_id: str, campaign_id: str) -> str:
    from chalicelib import dependencies
    from chalicelib.domain.models import ProspectVideo, RenderWindow

    prospect = dependencies.get_prospect_repo().add(
        Prospect(
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=new_id("pros"),
            first_name="Jane",
            email="jane@example.com",
        )
    )
    dependencies.get_video_repo().save(
        ProspectVideo(
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=prospect.prospect_id,
            render_id=new_id("rnd"),
            base_upload_id="upl_x",
            window=RenderWindow(start=0.5, end=1.5),
            first_segment=0,
            segment_count=1,
            prefix=f"{account_id}/{campaign_id}/videos/{prospect.prospect_id}/r",
        )
    )
    return prospect.prospect_id


def _alice_batch(account_id: str, campaign_id: str, prospect_id: str) -> str:
    """A running render batch of Alice's (no execution: reading it asks Step Functions nothing),
    holding her prospect's video."""
    from chalicelib import dependencies
    from chalicelib.domain.models import BatchCounters, RenderBatch, RenderBatchStatus

    batch = dependencies.get_batch_repo().add(
        RenderBatch(
            account_id=account_id,
            campaign_id=campaign_id,
            batch_id=new_id("bat"),
            status=RenderBatchStatus.RUNNING,
            total=1,
        )
    )
    dependencies.get_batch_repo().set_counters(
        account_id, campaign_id, batch.batch_id, BatchCounters(queued=1)
    )
    dependencies.get_video_repo().update(
        account_id, campaign_id, prospect_id, lambda v: v.model_copy(update={"batch_id": batch.batch_id})
    )
    return batch.batch_id


def _forge(claims: dict[str, object], key, kid: str) -> str:  # type: ignore[no-untyped-def]
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        pytest.param(lambda c: {**c, "exp": int(time.time()) - 120}, "expired", id="expired"),
        pytest.param(lambda c: {**c, "iss": "https://evil.example"}, "not valid", id="wrong-issuer"),
        pytest.param(lambda c: {**c, "client_id": "other-app"}, "not an access token", id="wrong-client"),
        pytest.param(lambda c: {**c, "token_use": "id"}, "not an access token", id="id-token"),
        pytest.param(lambda c: {k: v for k, v in c.items() if k != "exp"}, "not valid", id="no-expiry"),
    ],
)
def test_bad_tokens_are_401(client, new_tenant, issuer, mutate, says) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    good = jwt.decode(me.token, options={"verify_signature": False})
    assert call(client, "GET", "/campaigns", me).status_code == 200  # the unmodified token works
    token = _forge(mutate(good), issuer._key, issuer.kid)
    response = call(client, "GET", "/campaigns", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert says in json.loads(response.body)["error"]["message"]


def test_token_signed_by_another_key_is_401(client, new_tenant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devstack.issuer import LocalIssuer

    me = new_tenant()
    good = jwt.decode(me.token, options={"verify_signature": False})
    impostor = LocalIssuer(tmp_path)
    for kid in (impostor.kid, jwt.get_unverified_header(me.token)["kid"]):  # unknown kid, and a stolen kid
        forged = _forge(good, impostor._key, kid)
        assert (
            call(client, "GET", "/campaigns", headers={"Authorization": f"Bearer {forged}"}).status_code
            == 401
        )


@pytest.mark.parametrize("header", ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
def test_malformed_authorization_is_401(client, header) -> None:  # type: ignore[no-untyped-def]
    response = call(client, "GET", "/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401


def test_valid_token_without_account_is_401(client, issuer, aws) -> None:  # type: ignore[no-untyped-def]
    token = issuer.issue("subject-with-no-account")
    response = call(client, "GET", "/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
