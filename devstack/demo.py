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
#: The seller's recording: a public-domain LibriVox reader (Debian's pocketsphinx-testdata, which
#: `make demo` installs). The script marks where the reader says "John" as the name's slot.
SELLER_RECORDING = Path(
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
)
SCRIPT = (
    "And Mister {first_name} Dashwood had then leisure to consider how much there might be "
    "prudently in his power to do for them."
)


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
        client.update_voice(campaign["campaign_id"], placeholders={"first_name": "John"})
        console.print(
            f"[green]✓[/] created campaign {campaign['campaign_id']} (the seller says 'John' in the slot)"
        )
        sample = state_dir.resolve() / "samples" / "base-video-voice.mp4"
        if not sample.exists():
            sample.parent.mkdir(parents=True, exist_ok=True)
            make_base_video(sample, seconds=7.0, audio=SELLER_RECORDING)
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
        with console.status("locating the name's slot and learning the seller's voice…"):
            voice = client.wait_for_voice(campaign["campaign_id"])
        if voice["status"] != "ready":
            console.print(f"[red]✗[/] voice: {voice['error']}")
            client.close()
            return campaign
        slot = voice["slots"][0]
        console.print(
            f"[green]✓[/] slot {{{slot['variable']}}} at {slot['start']:.2f}–{slot['end']:.2f} s "
            f"(confidence {slot['confidence']:.0%}); "
            f"seller's median pitch {voice['profile']['f0_median_hz']:.0f} Hz"
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
    # (first name, pronunciation, company, name card)
    ("Priya", None, "Acme", False),
    ("Siobhan", "shi-VAWN", "Globex", True),
)


def _render_prospects(
    stack: LocalStack, client: TailorcastClient, account_id: str, campaign_id: str, console: Console
) -> list[dict[str, Any]]:
    """Voice, then render, each prospect through the two task functions, as the state machine will
    chain them (issue 5): the voice function lays the name into the audio, the render task
    re-encodes only the segments that change."""
    import boto3

    from chalicelib import dependencies
    from chalicelib.domain.models import Prospect, new_id

    lam = boto3.client("lambda")
    started: list[tuple[str, str, dict[str, Any]]] = []
    for first, pronunciation, company, card in DEMO_PROSPECTS:
        prospect = dependencies.get_prospect_repo().add(
            Prospect(
                account_id=account_id,
                campaign_id=campaign_id,
                prospect_id=new_id("pros"),
                first_name=first,
                company=company,
                pronunciation=pronunciation,
                email=f"{first.lower()}.{new_id('x')[-6:]}@{company.lower()}.example",
            )
        )
        ids = {"account_id": account_id, "campaign_id": campaign_id, "prospect_id": prospect.prospect_id}
        reply = lam.invoke(
            FunctionName=stack.settings.voice_function_name,
            Payload=json.dumps({"action": "synthesize", **ids}).encode(),
        )
        body = json.loads(reply["Payload"].read())
        if reply.get("FunctionError"):
            console.print(f"[red]✗[/] {first}: {body.get('errorMessage')}")
            continue
        voiced = body["result"]
        payload = {
            **ids,
            "window": {"start": voiced["start"], "end": voiced["end"]},
            "audio_key": voiced["audio_key"],
            "overlay": {"text": first, "subtitle": company} if card else None,
        }
        reply = lam.invoke(
            FunctionName=f"tailorcast-{stack.stage}-render_prospect", Payload=json.dumps(payload).encode()
        )
        body = json.loads(reply["Payload"].read())
        if reply.get("FunctionError"):
            console.print(f"[red]✗[/] {first}: {body.get('errorMessage')}")
            continue
        started.append((first, prospect.prospect_id, voiced))
    renders = []
    with console.status("rendering the windows (only the segments that change)…"):
        for first, prospect_id, voiced in started:
            video = client.wait_for_video(campaign_id, prospect_id)
            renders.append({"first_name": first, "voice": voiced["quality"][0], **video})
    return renders


def renders_table(renders: list[dict[str, Any]]) -> Table:
    table = Table(title="Personalized renders")
    for column in (
        "prospect",
        "status",
        "window",
        "pitch Δ",
        "loudness Δ",
        "click",
        "card",
        "segments",
        "storage",
    ):
        table.add_column(column)
    for r in renders:
        table.add_row(
            r["first_name"],
            r["status"] if not r.get("error") else f"{r['status']}: {r['error']}",
            f"{r['window']['start']:.2f}–{r['window']['end']:.2f} s",
            f"{r['voice']['f0_offset_semitones'] or 0:+.2f} st" if r.get("voice") else "—",
            f"{r['voice']['loudness_offset_lu']:+.2f} LU" if r.get("voice") else "—",
            f"{r['voice']['click_ratio']:.2f}" if r.get("voice") else "—",
            (r.get("overlay") or {}).get("text") or "—",
            str(r["segments_rendered"]),
            f"{r['new_bytes'] / 1000:.0f} KB",
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
