from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devstack.demo import SCRIPT
from devstack.demo import SELLER_RECORDING as CLIP

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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    """The local stack, with the tests' smoke state machine beside the product's."""
    with local_stack(tmp_path / "state", {"smoke": SMOKE_MACHINE}) as local:
        yield local


@pytest.fixture
def seller(stack: Any, tmp_path: Path) -> tuple[Any, str, str]:
    """A signed-in seller's campaign on ``stack`` whose base video (a real recording of speech,
    the script's "John" where ``{first_name}`` goes) is ready: (client, account id, campaign id)."""
    from chalicelib import dependencies as deps
    from chalicelib.domain.accounts import create_account
    from devstack.client import TailorcastClient
    from devstack.samples import make_base_video

    if not CLIP.exists():
        pytest.fail(f"{CLIP} is missing: `make system-deps` installs Debian's pocketsphinx-testdata")
    account, _ = create_account(deps.get_account_repo(), "seller@example.com", "Acme", "seller-1")
    client = TailorcastClient(stack.endpoints.api, stack.issuer.issue("seller-1"))
    campaign = client.create_campaign("Q4", "", SCRIPT)
    cid = campaign["campaign_id"]
    client.update_voice(cid, placeholders={"first_name": "John"})
    base = make_base_video(tmp_path / "base.mp4", seconds=7.0, width=640, height=360, audio=CLIP)
    client.upload(cid, "base_video", base, "video/mp4")
    assert client.wait_for_base_video(cid)["base_video"]["status"] == "ready"
    return client, account.account_id, cid
