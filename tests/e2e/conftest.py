from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tailorcast_cli.demo import SCRIPT
from tailorcast_cli.demo import SELLER_RECORDING as CLIP

SMOKE_MACHINE = Path(__file__).parent / "state_machines" / "smoke.asl.json"


@contextmanager
def local_stack(state_dir: Path, extra_state_machines: dict[str, Path]) -> Iterator[Any]:
    """The real local stack in this process (moto server, Chalice HTTP server, dispatch); the
    process environment and the cached adapters are as before once it stops."""
    from chalicelib import dependencies
    from devstack.stack import LocalStack

    saved = dict(os.environ)
    local = LocalStack(state_dir, extra_state_machines=extra_state_machines)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        dependencies.reset()


def front_door_cookies(state_dir: Path, front_url: str, key_pair_id: str, prefixes: list[str]) -> list[Any]:
    """The CloudFront-style signed cookies for media folders ``prefixes`` (``acct/camp/``, each ending
    in ``/``), signed with the key a stack keeps in ``state_dir``: what the watch page sets. Works for
    a stack in another process too (its stack.json has ``media`` and ``env``)."""
    from devstack.cdnkeys import CdnKeys

    return CdnKeys(state_dir / "cdn").viewer_cookies(key_pair_id, front_url, prefixes)


def decode_playlist(stack: Any, url: str) -> str | None:
    """ffmpeg's verdict on the HLS at ``url`` (``None``: decodes cleanly), read through the front door
    with cookies for the video's campaign folder (the gateway refuses playlists without them)."""
    from devstack.cdnkeys import campaign_folder
    from tailorcast_cli.demo import decode_check

    return decode_check(url, stack.media_cookies([campaign_folder(url)]))


def media_client(stack: Any, prefixes: list[str]) -> httpx.Client:
    """An HTTP client on the stack's front door holding the signed cookies for ``prefixes`` in its
    jar (sent per cookie Path, as a browser sends them after opening the watch page)."""
    client = httpx.Client(base_url=stack.endpoints.media, timeout=60)
    host = urlsplit(stack.endpoints.media).hostname or ""
    for cookie in stack.media_cookies(prefixes):
        client.cookies.set(cookie.name, cookie.value, domain=host, path=cookie.path)
    return client


#: The password the e2e tests sign their sellers up with (the pool's policy: 10+, mixed case, a digit).
PASSWORD = "E2e-Seller-Pass1"


def signed_up(stack: Any, email: str, password: str = PASSWORD) -> Any:
    """A seller signed up through the stack's Cognito (the code read from the outbox, the account
    made by the post-confirmation trigger) and signed in: their tokens (``SignedIn``)."""
    return stack.sign_up(email, password)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    """The local stack, with the tests' smoke state machine beside the product's."""
    with local_stack(tmp_path / "state", {"smoke": SMOKE_MACHINE}) as local:
        yield local


def signed_up_on_agency(stack: Any, email: str) -> Any:
    """A seller signed up through Cognito (:func:`signed_up`) whose account is then moved to the
    Agency plan (the highest limits), as a subscription would: tests that render many videos or
    make several campaigns are not about the trial's 5 videos and 1 campaign. Their tokens."""
    from datetime import timedelta

    from chalicelib.adapters.dynamodb.models import AccountItem
    from chalicelib.domain.models import Plan, utcnow
    from tailorcast_cli.client import TailorcastClient

    tokens = signed_up(stack, email)
    account_id = TailorcastClient(stack.endpoints.api, tokens.access_token).me().account.account_id
    now = utcnow()
    AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT").update(
        actions=[
            AccountItem.plan.set(Plan.AGENCY.value),
            AccountItem.period_start.set(now),
            AccountItem.period_end.set(now + timedelta(days=30)),
        ]
    )
    return tokens


@pytest.fixture
def seller(stack: Any, tmp_path: Path) -> tuple[Any, str, str]:
    """A signed-in seller's campaign on ``stack`` whose base video (a real recording of speech,
    the script's "John" where ``{first_name}`` goes) is ready: (client, account id, campaign id)."""
    from tailorcast_cli.client import TailorcastClient
    from tailorcast_cli.samples import make_base_video

    if not CLIP.exists():
        pytest.fail(f"{CLIP} is missing: `make system-deps` installs Debian's pocketsphinx-testdata")
    client = TailorcastClient(
        stack.endpoints.api, signed_up_on_agency(stack, "seller@example.com").access_token
    )
    account = client.me().account
    campaign = client.create_campaign("Q4", "", SCRIPT)
    cid = campaign.campaign_id
    client.update_voice(cid, placeholders={"first_name": "John"})
    base = make_base_video(tmp_path / "base.mp4", seconds=7.0, width=640, height=360, audio=CLIP)
    client.upload(cid, "base_video", base, "video/mp4")
    ready = client.wait_for_base_video(cid).base_video
    assert ready is not None and ready.status == "ready"
    return client, account.account_id, cid
