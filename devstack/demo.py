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
        with console.status("validating, then encoding the HLS ladder once…"):
            campaign = client.wait_for_base_video(campaign["campaign_id"])
        console.print(campaign_table(campaign))
        video = campaign.get("base_video") or {}
        if video.get("status") != "ready":
            client.close()
            return campaign
        ladder = video["ladder"]
        console.print(
            f"[green]✓[/] base ladder ready: {', '.join(ladder['renditions'])} "
            f"({ladder['segment_count']} × 2 s segments, {ladder['duration_seconds']:.1f} s)"
        )
        renders = _render_prospects(
            stack, client, me["account"]["account_id"], campaign["campaign_id"], console
        )
        out = stack.export_media(
            f"{me['account']['account_id']}/{campaign['campaign_id']}/", state_dir / "demo-output"
        )
        console.print(renders_table(renders))
        for render in renders:
            if render.get("playlist_key"):
                console.print(f"  play: ffplay {out / render['playlist_key']}")
        client.close()
        campaign["renders"] = renders
        return campaign
    finally:
        stack.stop()


DEMO_PROSPECTS = (
    # (first name, company, window seconds, overlay): one name spoken near the start, one with a card
    ("Jane", "Acme", (0.45, 1.25), False),
    ("Zoë", "Globex", (2.4, 3.4), True),
)


def _render_prospects(
    stack: LocalStack, client: TailorcastClient, account_id: str, campaign_id: str, console: Console
) -> list[dict[str, Any]]:
    """Render two prospects through the render task, as the state machine will (issue 5).

    Their "name audio" is synthesized speech-like sound at another pitch until the voice step
    (issue 4) speaks real names.
    """
    import boto3

    from chalicelib import dependencies
    from chalicelib.domain.models import Prospect, new_id
    from devstack.samples import speech_wav

    media = boto3.client("s3")
    lam = boto3.client("lambda")
    started: list[tuple[str, str]] = []
    for i, (first, company, window, overlay) in enumerate(DEMO_PROSPECTS):
        prospect = dependencies.get_prospect_repo().add(
            Prospect(
                account_id=account_id,
                campaign_id=campaign_id,
                prospect_id=new_id("pros"),
                first_name=first,
                company=company,
                email=f"{first.lower()}.{new_id('x')[-6:]}@{company.lower()}.example",
            )
        )
        key = f"{account_id}/{campaign_id}/voice/{prospect.prospect_id}.wav"
        media.put_object(
            Bucket=stack.settings.media_bucket,
            Key=key,
            Body=speech_wav((window[1] - window[0]) * 0.9, pitch=180 + 60 * i),
        )
        payload = {
            "account_id": account_id,
            "campaign_id": campaign_id,
            "prospect_id": prospect.prospect_id,
            "window": {"start": window[0], "end": window[1]},
            "audio_key": key,
            "overlay": {"text": first, "subtitle": company} if overlay else None,
        }
        reply = lam.invoke(
            FunctionName=f"tailorcast-{stack.stage}-render_prospect", Payload=json.dumps(payload).encode()
        )
        body = json.loads(reply["Payload"].read())
        if reply.get("FunctionError"):
            console.print(f"[red]✗[/] {first}: {body.get('errorMessage')}")
            continue
        started.append((first, prospect.prospect_id))
    renders = []
    with console.status("rendering the windows (only the segments that change)…"):
        for first, prospect_id in started:
            video = client.wait_for_video(campaign_id, prospect_id)
            renders.append({"first_name": first, **video})
    return renders


def renders_table(renders: list[dict[str, Any]]) -> Table:
    table = Table(title="Personalized renders")
    for column in ("prospect", "status", "window", "card", "segments", "new storage", "poster"):
        table.add_column(column)
    for r in renders:
        table.add_row(
            r["first_name"],
            r["status"] if not r.get("error") else f"{r['status']}: {r['error']}",
            f"{r['window']['start']:.2f}–{r['window']['end']:.2f} s",
            (r.get("overlay") or {}).get("text") or "—",
            str(r["segments_rendered"]),
            f"{r['new_bytes'] / 1000:.0f} KB",
            "yes" if r.get("poster_key") else "—",
        )
    return table


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
        rows.append((f"{video.get('status')} because", video["reason"]))
    for key, value in rows:
        table.add_row(key, str(value))
    return table
