"""The end-to-end demo on the local stack (``make demo``)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devstack.client import TailorcastClient
from devstack.samples import make_base_video
from devstack.stack import LocalStack

DEMO_SUBJECT = "demo-seller"
DEMO_EMAIL = "seller@tailorcast.example"
SCRIPT = "Hi {first_name}, I recorded this for you and the team at {company}."


def run_demo(state_dir: Path, console: Console) -> dict[str, Any]:
    """Start the stack in this process, run the seller's first steps through the API, stop."""
    stack = LocalStack(state_dir)
    endpoints = stack.start()
    try:
        console.print(f"[green]✓[/] local stack up — API {endpoints.api}, AWS {endpoints.aws}")
        token = _demo_token(stack)
        client = TailorcastClient(endpoints.api, token)
        me = client.me()
        console.print(f"[green]✓[/] signed in as {me['email']} (account {me['account']['account_id']})")
        campaign = client.create_campaign("Q4 outbound — demo", "Created by make demo", SCRIPT)
        console.print(f"[green]✓[/] created campaign {campaign['campaign_id']}")
        sample = state_dir.resolve() / "samples" / "base-video.mp4"
        if not sample.exists():
            sample.parent.mkdir(parents=True, exist_ok=True)
            make_base_video(sample)
        client.upload(campaign["campaign_id"], "base_video", sample, "video/mp4")
        console.print(
            f"[green]✓[/] uploaded {sample.name} ({sample.stat().st_size / 1e6:.1f} MB) by presigned POST"
        )
        campaign = client.wait_for_base_video(campaign["campaign_id"])
        console.print(campaign_table(campaign))
        console.print_json(json.dumps(campaign))
        client.close()
        return campaign
    finally:
        stack.stop()


def _demo_token(stack: LocalStack) -> str:
    from chalicelib import dependencies
    from chalicelib.domain.accounts import create_account
    from chalicelib.domain.errors import ConflictError

    # On a restarted stack the demo seller already has an account: reuse it.
    with contextlib.suppress(ConflictError):
        create_account(dependencies.get_account_repo(), DEMO_EMAIL, "Demo Seller Inc.", DEMO_SUBJECT)
    return stack.issuer.issue(DEMO_SUBJECT)


def campaign_table(campaign: dict[str, Any]) -> Table:
    table = Table(title=f"Campaign {campaign['campaign_id']}", show_header=False)
    video = campaign.get("base_video") or {}
    probe = video.get("probe") or {}
    rows = [
        ("name", campaign["name"]),
        ("status", campaign["status"]),
        ("script", campaign["script"]),
        ("base video", f"{video.get('filename')} — {video.get('status')}"),
    ]
    if probe:
        rows.append(
            (
                "probe",
                f"{probe['container']} {probe['video_codec']} {probe['width']}x{probe['height']} "
                f"{probe['frame_rate']:.2f} fps, {probe['duration_seconds']:.1f} s, "
                f"audio {probe.get('audio_codec')}",
            )
        )
    if video.get("reason"):
        rows.append(("rejected because", video["reason"]))
    for key, value in rows:
        table.add_row(key, str(value))
    return table
