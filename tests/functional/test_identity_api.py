"""Sign-up, sign-in and team routes through the Chalice test client, with moto's Cognito in-process
(completed by the stand-in: codes are read from moto's SES, never from a reply) and the
post-confirmation trigger invoked directly, as Cognito would invoke it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from devstack import cognito, outbox
from tests.functional.conftest import Tenant, call

PASSWORD = "Str0ng-Password"


@pytest.fixture
def pool(
    aws: None, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A user pool like the stack's, the API configured for it (tokens verified against the
    pool's public key, from a file here: the same verifier as the stack's JWKS URL)."""
    from chalicelib import dependencies

    stand_in = cognito.CognitoStandIn(None, sender="no-reply@tailorcast.local")
    box = outbox.Outbox(None, "123456789012", "us-east-1")
    cognito.install(stand_in)
    outbox.install(box)
    boto3.client("ses").verify_email_identity(EmailAddress="no-reply@tailorcast.local")
    idp = boto3.client("cognito-idp")
    pool_id = idp.create_user_pool(
        PoolName="users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireSymbols": False}},
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="public")["UserPoolClient"][
        "ClientId"
    ]
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(cognito.jwks_document())
    for name, value in {
        "TAILORCAST_COGNITO_USER_POOL_ID": pool_id,
        "TAILORCAST_COGNITO_CLIENT_ID": client_id,
        "TAILORCAST_LOCAL_JWKS_PATH": str(jwks),
        "TAILORCAST_JWT_ISSUER": f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
        "TAILORCAST_JWT_AUDIENCE": client_id,
        "TAILORCAST_NOTIFICATIONS_FROM_ADDRESS": "no-reply@tailorcast.local",
    }.items():
        monkeypatch.setenv(name, value)
    dependencies.reset()
    try:
        yield {"pool_id": pool_id, "client_id": client_id}
    finally:
        cognito.uninstall()
        outbox.uninstall()
        monkeypatch.undo()
        dependencies.reset()


def _post(client: Client, path: str, body: Any, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return call(client, "POST", path, None, body, headers=headers)


def _code(email: str) -> str:
    message = outbox._active.latest(email) if outbox._active else None
    assert message is not None and message.code() is not None
    return str(message.code())


def _trigger(
    client: Client, pool: dict[str, str], email: str, source: str = "PostConfirmation_ConfirmSignUp"
) -> Any:
    """What Cognito sends the trigger after ConfirmSignUp (the pool here has no LambdaConfig)."""
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=pool["pool_id"], Username=email)
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    event = {
        "version": "1",
        "region": "us-east-1",
        "userPoolId": pool["pool_id"],
        "userName": user["Username"],
        "callerContext": {"awsSdkVersion": "x", "clientId": pool["client_id"]},
        "triggerSource": source,
        "request": {"userAttributes": attributes},
        "response": {},
    }
    reply = client.lambda_.invoke("on_post_confirmation", event).payload
    assert reply == event  # Cognito requires the event back
    return attributes["sub"]


def _signed_up(client: Client, pool: dict[str, str], email: str, **extra: str) -> dict[str, Any]:
    assert _post(client, "/auth/signup", {"email": email, "password": PASSWORD, **extra}).status_code == 201
    email = email.lower()  # the API's usernames (Cognito's email usernames are case-insensitive)
    assert _post(client, "/auth/confirm", {"email": email, "code": _code(email)}).status_code == 200
    _trigger(client, pool, email)
    login = _post(client, "/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.body
    return dict(json.loads(login.body))


def test_sign_up_confirm_log_in_refresh_and_log_out(client: Client, pool: dict[str, str]) -> None:
    tokens = _signed_up(client, pool, "New@Example.com", company="Acme")
    assert set(tokens) >= {"access_token", "id_token", "refresh_token", "expires_in"}
    me = call(client, "GET", "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.body
    body = json.loads(me.body)
    assert body["email"] == "new@example.com" and body["role"] == "owner"
    assert body["account"]["plan"] == "trial" and body["account"]["name"] == "Acme"

    # The trigger retried: nothing is made twice.
    _trigger(client, pool, "new@example.com")
    again = call(client, "GET", "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert json.loads(again.body)["account"]["account_id"] == body["account"]["account_id"]

    refreshed = _post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and json.loads(refreshed.body)["refresh_token"] is None
    assert _post(client, "/auth/logout", {}, tokens["access_token"]).status_code == 204
    refused = _post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401 and "log in again" in json.loads(refused.body)["error"]["message"]


def _error(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body)["error"])


def test_sign_up_errors_say_what_to_do(client: Client, pool: dict[str, str]) -> None:
    weak = _post(client, "/auth/signup", {"email": "a@example.com", "password": "short"})
    assert weak.status_code == 422 and _error(weak)["fields"][0]["field"] == "body.password"
    assert "10 characters" in _error(weak)["fields"][0]["message"]

    assert _post(client, "/auth/signup", {"email": "a@example.com", "password": PASSWORD}).status_code == 201
    taken = _post(client, "/auth/signup", {"email": "A@example.com", "password": PASSWORD})
    assert taken.status_code == 409 and "log in" in _error(taken)["message"]
    assert "reset the password" in _error(taken)["message"]

    unconfirmed = _post(client, "/auth/login", {"email": "a@example.com", "password": PASSWORD})
    assert unconfirmed.status_code == 403 and "confirm" in _error(unconfirmed)["message"]

    code = _code("a@example.com")
    wrong = _post(
        client, "/auth/confirm", {"email": "a@example.com", "code": "000000" if code != "000000" else "1"}
    )
    assert wrong.status_code == 422 and _error(wrong)["fields"][0]["field"] == "body.code"
    assert _post(client, "/auth/confirm", {"email": "a@example.com", "code": code}).status_code == 200
    again = _post(client, "/auth/resend-code", {"email": "a@example.com"})
    assert again.status_code == 409 and "already confirmed" in _error(again)["message"]

    bad = _post(client, "/auth/login", {"email": "a@example.com", "password": "Wr0ng-Password"})
    assert bad.status_code == 401 and _error(bad)["message"] == "wrong email or password"
    nobody = _post(client, "/auth/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert nobody.status_code == 401 and _error(nobody)["message"] == "wrong email or password"


def test_forgot_reset_and_change_password(client: Client, pool: dict[str, str]) -> None:
    tokens = _signed_up(client, pool, "a@example.com")
    assert _post(client, "/auth/forgot-password", {"email": "a@example.com"}).status_code == 202
    code = _code("a@example.com")
    body = {"email": "a@example.com", "code": code, "password": "N3w-Password"}
    assert _post(client, "/auth/reset-password", body).status_code == 200
    assert _post(client, "/auth/login", {"email": "a@example.com", "password": PASSWORD}).status_code == 401
    fresh = json.loads(
        _post(client, "/auth/login", {"email": "a@example.com", "password": "N3w-Password"}).body
    )

    change = {"old_password": "Wr0ng-Password", "new_password": "An0ther-Password"}
    assert _post(client, "/me/password", change, fresh["access_token"]).status_code == 401
    weak = _post(
        client, "/me/password", {"old_password": "N3w-Password", "new_password": "x"}, fresh["access_token"]
    )
    assert weak.status_code == 422 and _error(weak)["fields"][0]["field"] == "body.new_password"
    change["old_password"] = "N3w-Password"
    assert _post(client, "/me/password", change, fresh["access_token"]).status_code == 204
    assert (
        _post(client, "/auth/login", {"email": "a@example.com", "password": "An0ther-Password"}).status_code
        == 200
    )
    assert tokens["access_token"]


# --------------------------------------------------------------------------- team seats


def _on_plan(account_id: str, plan: str) -> None:
    from chalicelib.adapters.dynamodb.models import AccountItem

    AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT").update(actions=[AccountItem.plan.set(plan)])


def _member(client: Client, pool: dict[str, str], email: str) -> str:
    """``email`` signs up (through the pool) and confirms: their access token."""
    return str(_signed_up(client, pool, email)["access_token"])


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_an_invited_user_signs_up_into_the_inviting_account(client: Client, pool: dict[str, str]) -> None:
    owner = _member(client, pool, "owner@example.com")
    account_id = json.loads(call(client, "GET", "/me", headers=_as(owner)).body)["account"]["account_id"]
    _on_plan(account_id, "pro")

    sent = call(
        client,
        "POST",
        "/team/invites",
        None,
        {"email": "Mia@Example.com", "role": "admin"},
        headers=_as(owner),
    )
    assert sent.status_code == 201, sent.body
    email = outbox._active.latest("mia@example.com") if outbox._active else None
    assert email is not None and "admin" in email.body

    mia = _member(client, pool, "mia@example.com")
    me = json.loads(call(client, "GET", "/me", headers=_as(mia)).body)
    assert me["account"]["account_id"] == account_id and me["role"] == "admin"
    team = json.loads(call(client, "GET", "/team", headers=_as(mia)).body)
    assert sorted(m["email"] for m in team["members"]) == ["mia@example.com", "owner@example.com"]
    assert team["invites"] == [] and team["seats"] == 3 and team["seats_used"] == 2


def _tenant(client: Client, pool: dict[str, str], email: str) -> Tenant:
    token = _member(client, pool, email)
    return Tenant(
        json.loads(call(client, "GET", "/me", headers=_as(token)).body)["account"]["account_id"], token
    )


def test_seats_are_refused_past_the_plan_and_freed_by_removal(client: Client, pool: dict[str, str]) -> None:
    owner = _tenant(client, pool, "owner@example.com")
    trial = call(client, "POST", "/team/invites", owner, {"email": "b@example.com"})
    assert trial.status_code == 422 and _error(trial)["code"] == "limit_exceeded"
    assert "1 seat" in _error(trial)["message"]

    _on_plan(owner.account_id, "pro")
    assert call(client, "POST", "/team/invites", owner, {"email": "b@example.com"}).status_code == 201
    dup = call(client, "POST", "/team/invites", owner, {"email": "b@example.com"})
    assert dup.status_code == 409
    c = json.loads(call(client, "POST", "/team/invites", owner, {"email": "c@example.com"}).body)
    full = call(client, "POST", "/team/invites", owner, {"email": "d@example.com"})
    assert full.status_code == 422 and "3 seats" in _error(full)["message"]

    assert call(client, "DELETE", f"/team/invites/{c['invite_id']}", owner).status_code == 204
    assert call(client, "POST", "/team/invites", owner, {"email": "d@example.com"}).status_code == 201

    b = _member(client, pool, "b@example.com")
    b_id = json.loads(call(client, "GET", "/me", headers=_as(b)).body)["user_id"]
    refused = call(client, "POST", "/team/invites", None, {"email": "e@example.com"}, headers=_as(b))
    assert refused.status_code == 403  # a member does not manage the team
    assert call(client, "DELETE", f"/team/members/{b_id}", owner).status_code == 204
    assert call(client, "GET", "/me", headers=_as(b)).status_code == 401  # no longer in the account
    assert call(client, "POST", "/team/invites", owner, {"email": "e@example.com"}).status_code == 201


def test_team_routes_never_reach_another_account(client: Client, pool: dict[str, str]) -> None:
    a = _tenant(client, pool, "a@example.com")
    b = _tenant(client, pool, "b@example.com")
    _on_plan(a.account_id, "pro")
    invite = json.loads(call(client, "POST", "/team/invites", a, {"email": "x@example.com"}).body)
    member_token = _member(client, pool, "x@example.com")
    member_id = json.loads(call(client, "GET", "/me", headers=_as(member_token)).body)["user_id"]
    a_owner = json.loads(call(client, "GET", "/me", a).body)["user_id"]

    seen = json.loads(call(client, "GET", "/team", b).body)
    assert [m["email"] for m in seen["members"]] == ["b@example.com"] and seen["invites"] == []
    assert call(client, "DELETE", f"/team/invites/{invite['invite_id']}", b).status_code == 404
    assert call(client, "DELETE", f"/team/members/{member_id}", b).status_code == 404
    assert call(client, "DELETE", f"/team/members/{a_owner}", b).status_code == 404
    assert call(client, "GET", "/me", headers=_as(member_token)).status_code == 200  # untouched
    assert call(client, "DELETE", f"/team/members/{a_owner}", a).status_code == 403  # the owner stays
