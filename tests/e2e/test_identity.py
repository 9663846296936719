"""Identity on the real local stack: a seller signs up through the API with the code read from the
local outbox, logs in, refreshes and logs out; the CLI keeps its session in a 0600 file, refreshes
it when the access token stops working, and refuses after ``logout``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.outbox import read_remote
from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("tailorcast"))


def test_sign_up_with_the_emailed_code_to_log_out(stack: Any) -> None:
    api = httpx.Client(base_url=stack.endpoints.api, timeout=30)
    email = "new.seller@example.com"
    signup = api.post("/auth/signup", json={"email": email, "password": PASSWORD, "company": "Acme"})
    assert signup.status_code == 201, signup.text
    assert not any(ch.isdigit() for ch in signup.text.split("6-digit")[0])  # no code in the reply

    # The code is read from the local outbox, as a seller reads their inbox (over HTTP here).
    sent = [m for m in read_remote(stack.endpoints.aws) if email in m.to]
    assert len(sent) == 1 and sent[0].code() is not None
    wrong = api.post("/auth/confirm", json={"email": email, "code": "12345x"})
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"][0]["field"] == "body.code"
    confirmed = api.post("/auth/confirm", json={"email": email, "code": sent[0].code()})
    assert confirmed.status_code == 200, confirmed.text

    tokens = api.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    me = api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    account = me["account"]
    assert me["email"] == email and me["role"] == "owner" and account["name"] == "Acme"
    assert account["plan"] == "trial" and account["trial_video_limit"] == 5
    from datetime import datetime

    assert (datetime.fromisoformat(account["trial_ends_at"]) - datetime.now(tz=None).astimezone()).days in (
        6,
        7,
    )

    refreshed = api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new_access = refreshed.json()["access_token"]
    assert api.get("/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200

    assert api.post("/auth/logout", headers={"Authorization": f"Bearer {new_access}"}).status_code == 204
    refused = api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "TAILORCAST_PASSWORD": PASSWORD}
    return subprocess.run(
        [CLI, *args, "--state-dir", str(state)], capture_output=True, text=True, timeout=120, env=env
    )


def test_the_cli_session_outlives_its_access_token_and_ends_at_logout(stack: Any) -> None:
    state = stack.state_dir
    email = "cli.seller@example.com"
    stack.sign_up(email, PASSWORD)  # SignUp, the outbox's code, ConfirmSignUp (the account), sign-in

    done = _cli(state, "login", "--email", email)
    assert done.returncode == 0, done.stderr
    credentials = state / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    who = _cli(state, "whoami")
    assert who.returncode == 0 and email in who.stdout, who.stderr

    # The stored access token stops working (as an expired one does): the refresh token renews it.
    stored = json.loads(credentials.read_text())
    stored["access_token"] = stored["access_token"][:-8] + "AAAAAAAA"
    credentials.write_text(json.dumps(stored))
    who = _cli(state, "whoami")
    assert who.returncode == 0 and email in who.stdout, who.stderr
    assert json.loads(credentials.read_text())["access_token"] != stored["access_token"]

    assert _cli(state, "logout").returncode == 0
    assert not credentials.exists()
    after = _cli(state, "whoami")
    assert after.returncode == 1 and "tailorcast login" in after.stderr

    # The outbox lists the code that was sent.
    listed = _cli(state, "outbox", "list", "--to", email)
    assert listed.returncode == 0 and "verification code" in listed.stdout
