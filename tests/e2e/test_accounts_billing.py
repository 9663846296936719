"""Issue 18's journey on the real local stack, as a new seller takes it on the CLI and the API.

Sign up, read the code from the local outbox, confirm, log in: a 7-day, 5-video trial. Render 5
videos (real renders); the 6th is refused with a 402 that says why. Subscribe to Basic through the
local Stripe checkout page with 4242…; Stripe's signed webhook moves the account to Basic; the 6th
renders. Change the plan in the billing portal (Pro); a card that fails on renewal makes the account
past due once the Stripe stand-in's clock passes the period. The usage API shows each step; the
CLI session outlives its access token and ends at ``logout``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tailorcast_cli.client import ApiError, TailorcastClient
from tailorcast_cli.demo import SCRIPT
from tailorcast_cli.demo import SELLER_RECORDING as CLIP
from tailorcast_cli.samples import make_base_video

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("tailorcast"))
EMAIL = "journey@example.com"
PASSWORD = "Journey-Seller-1"
NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald")


def _cli(state: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``tailorcast ARGS`` against the stack whose state is ``state`` (None: a command that needs
    no stack, such as paying a checkout page)."""
    env = {**os.environ, "COLUMNS": "200", "TAILORCAST_PASSWORD": PASSWORD}
    env.pop("TAILORCAST_TOKEN", None)
    where = ["--state-dir", str(state)] if state is not None else []
    return subprocess.run([CLI, *args, *where], capture_output=True, text=True, timeout=180, env=env)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def _until(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.25)


def _usage(state: Path) -> dict[str, Any]:
    return dict(json.loads(_ok(_cli(state, "billing", "usage"))))


def _portal_form(url: str, action: str, **values: str) -> httpx.Response:
    """Post one of the hosted billing portal's forms as the browser would."""
    page = httpx.get(url, timeout=30)
    page.raise_for_status()
    found = re.search(rf'<form method="post" action="([^"]*/{action})"', page.text)
    assert found, f"the portal page has no {action} form"
    return httpx.post(urljoin(url, found.group(1)), data=values, timeout=30)


def _price_of(url: str, title: str) -> str:
    page = httpx.get(url, timeout=30).text
    found = re.search(rf'<option value="(price_[^"]+)"[^>]*>{title} ', page)
    assert found, f"the portal offers no {title} plan"
    return found.group(1)


def test_sign_up_trial_limit_subscribe_change_plan_and_past_due(stack: Any, tmp_path: Path) -> None:
    state = stack.state_dir

    # Sign up; the code arrives in the local outbox, never in the reply.
    signup = _ok(_cli(state, "signup", "--email", EMAIL, "--company", "Journey Inc"))
    assert not re.search(r"\b\d{6}\b", signup)
    listed = _ok(_cli(state, "outbox", "list", "--to", EMAIL))
    code = re.search(r"\b(\d{6})\b", listed)
    assert code, listed
    wrong = _cli(
        state, "confirm", "--email", EMAIL, "--code", "000000" if code.group(1) != "000000" else "111111"
    )
    assert wrong.returncode == 1 and "code" in wrong.stderr
    _ok(_cli(state, "confirm", "--email", EMAIL, "--code", code.group(1)))
    _ok(_cli(state, "login", "--email", EMAIL))

    usage = _usage(state)
    assert usage["plan"]["plan"] == "trial" and usage["videos"]["limit"] == 5
    assert usage["trial_days_left"] in (6, 7)
    assert (usage["campaigns"]["used"], usage["campaigns"]["limit"]) == (0, 1)

    # The seller's job, through the API with the CLI's session.
    credentials = json.loads((state / "credentials.json").read_text())
    client = TailorcastClient(stack.endpoints.api, credentials["access_token"])
    cid = client.create_campaign("Journey", "", SCRIPT).campaign_id
    client.update_voice(cid, placeholders={"first_name": "John"})
    base = make_base_video(tmp_path / "base.mp4", seconds=7.0, width=640, height=360, audio=CLIP)
    client.upload(cid, "base_video", base, "video/mp4")
    assert client.wait_for_base_video(cid).base_video.status == "ready"  # type: ignore[union-attr]
    csv_file = tmp_path / "prospects.csv"
    csv_file.write_text(
        "First Name,Email,Company\n" + "".join(f"{n},{n.lower()}@example.com,Acme\n" for n in NAMES)
    )
    ticket = client.upload(cid, "prospects_csv", csv_file, "text/csv")
    assert client.wait_for_import(cid, ticket.upload_id).imported == len(NAMES)
    prospects = {p.first_name: p.prospect_id for p in client.prospects(cid)}

    # A trial makes one campaign…
    with pytest.raises(ApiError) as second_campaign:
        client.create_campaign("Another")
    assert second_campaign.value.status == 402

    # …and renders 5 videos; the 6th is refused with a 402 that says why and what unlocks it.
    first_five = [prospects[n] for n in NAMES[:5]]
    batch = client.start_batch(cid, first_five)
    done = client.wait_for_batch(cid, batch.batch_id, timeout=600)
    assert done.status == "completed", done
    assert done.counters.completed == 5 and done.refused == 0
    with pytest.raises(ApiError) as sixth:
        client.render_prospect(cid, prospects[NAMES[5]])
    assert sixth.value.status == 402
    error = sixth.value.body["error"]
    assert (error["quota"], error["limit"], error["used"]) == ("videos", 5, 5), error
    assert error["unlock"] == "basic" and "5" in error["message"]
    assert _usage(state)["videos"]["used"] == 5

    # Subscribe to Basic on the local checkout page: a declined card names the reason, 4242 pays.
    url = _ok(_cli(state, "billing", "subscribe", "--plan", "basic")).strip()
    declined = _cli(None, "stripe", "pay", url, "--card", "4000 0000 0000 0002")
    assert declined.returncode == 1 and "declined" in (declined.stdout + declined.stderr).lower()
    assert "/billing" in _ok(_cli(None, "stripe", "pay", url, "--card", "4242 4242 4242 4242"))
    _until("the webhook moves the account to Basic", lambda: _usage(state)["plan"]["plan"] == "basic")
    usage = _usage(state)
    assert usage["status"] == "active" and usage["videos"]["limit"] == 50
    assert usage["videos"]["used"] == 0  # a new period starts at zero

    # The 6th renders now.
    sixth_batch = client.render_prospect(cid, prospects[NAMES[5]])
    assert client.wait_for_batch(cid, sixth_batch.batch_id, timeout=300).status == "completed"
    assert _usage(state)["videos"]["used"] == 1

    # Change the plan in the billing portal: Pro.
    portal = _ok(_cli(state, "billing", "portal")).strip()
    changed = _portal_form(portal, "plan", price=_price_of(portal, "Pro"))
    assert changed.status_code in (200, 303), changed.text
    _until("the webhook moves the account to Pro", lambda: _usage(state)["plan"]["plan"] == "pro")

    # A card that fails on renewal: past due once the period ends.
    card = _portal_form(
        portal, "card", **{"cardnumber": "4000 0000 0000 0341", "exp-date": "12 / 34", "cvc": "123"}
    )
    assert card.status_code in (200, 303), card.text
    _ok(_cli(state, "stripe", "advance", "--days", "31"))
    _until("the failed renewal makes the account past due", lambda: _usage(state)["status"] == "past_due")
    status = json.loads(_ok(_cli(state, "billing", "status")))
    assert status["status"] == "past_due" and status["past_due_since"]
    assert any(i["status"] != "paid" for i in status["invoices"])
    assert _usage(state)["can_create"]  # within the grace period, work goes on

    # The session outlives its access token (refreshed from the stored refresh token)…
    stored = json.loads((state / "credentials.json").read_text())
    stored["access_token"] = stored["access_token"][:-8] + "AAAAAAAA"
    (state / "credentials.json").write_text(json.dumps(stored))
    assert _usage(state)["plan"]["plan"] == "pro"
    # …and ends at logout.
    _ok(_cli(state, "logout"))
    after = _cli(state, "billing", "usage")
    assert after.returncode == 1 and "tailorcast login" in after.stderr
