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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    """The local stack, with the tests' smoke state machine beside the product's."""
    with local_stack(tmp_path / "state", {"smoke": SMOKE_MACHINE}) as local:
        yield local


def agency_account(email: str, name: str, subject: str) -> Any:
    """An account on the Agency plan (the highest limits) for ``subject``, made through the
    repository: tests that render many videos or make several campaigns are not about the trial's
    5 videos and 1 campaign. Returns the Account."""
    from datetime import timedelta

    from chalicelib import dependencies as deps
    from chalicelib.domain.models import Account, Plan, Role, User, new_id, utcnow

    now = utcnow()
    account = Account.start_trial(name=name, now=now).model_copy(
        update={"plan": Plan.AGENCY, "period_start": now, "period_end": now + timedelta(days=30)}
    )
    owner = User(
        account_id=account.account_id, user_id=new_id("user"), subject=subject, email=email, role=Role.OWNER
    )
    deps.get_account_repo().create(account, owner)
    return account


@pytest.fixture
def seller(stack: Any, tmp_path: Path) -> tuple[Any, str, str]:
    """A signed-in seller's campaign on ``stack`` whose base video (a real recording of speech,
    the script's "John" where ``{first_name}`` goes) is ready: (client, account id, campaign id)."""
    from tailorcast_cli.client import TailorcastClient
    from tailorcast_cli.samples import make_base_video

    if not CLIP.exists():
        pytest.fail(f"{CLIP} is missing: `make system-deps` installs Debian's pocketsphinx-testdata")
    account = agency_account("seller@example.com", "Acme", "seller-1")
    client = TailorcastClient(stack.endpoints.api, stack.issuer.issue("seller-1"))
    campaign = client.create_campaign("Q4", "", SCRIPT)
    cid = campaign.campaign_id
    client.update_voice(cid, placeholders={"first_name": "John"})
    base = make_base_video(tmp_path / "base.mp4", seconds=7.0, width=640, height=360, audio=CLIP)
    client.upload(cid, "base_video", base, "video/mp4")
    ready = client.wait_for_base_video(cid).base_video
    assert ready is not None and ready.status == "ready"
    return client, account.account_id, cid
