"""The end-to-end demo on the local stack (``make demo``): the product's main job.

A seller signs in, creates a campaign, uploads a base video with their speech and a CRM export of
25 prospects; the slot is found in the recording; the render state machine makes one video per
prospect; each printed link is decoded with ffmpeg before it is shown; then the stack keeps
serving (API and media) until Ctrl-C, unless told not to.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chalicelib.adapters.cdn import SetCookie
from chalicelib.api.prospects import ProspectOut
from chalicelib.api.videos import VideoOut
from devstack.cdnkeys import campaign_folder, ffmpeg_cookies
from devstack.stack import LocalStack
from tailorcast_cli.client import TailorcastClient
from tailorcast_cli.progress import watch_batch
from tailorcast_cli.samples import ffmpeg_exe, make_base_video, write_prospects_csv

#: The demo seller's password on the local stack (the pool's policy: 10+ characters, mixed case, a digit).
DEMO_PASSWORD = "Demo-Seller-2026"  # noqa: S105 - a local demo account's
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
NAME_CARD = {"text": "{first_name}", "subtitle": "{company}"}
WATCH_PAGE = {
    "headline": "{first_name}, I recorded this for {company}",
    "seller_name": "Demo Seller",
    "cta_label": "Book 15 minutes",
    "cta_url": "https://cal.example.com/demo-seller/15min",
}


def run_demo(state_dir: Path, console: Console, serve: bool = True) -> dict[str, Any]:
    """Start the stack in this process, run the seller's job through the API, then serve."""
    stack = LocalStack(state_dir)
    endpoints = stack.start()
    try:
        console.print(
            f"[green]✓[/] local stack up — API {endpoints.api}, media {endpoints.media}, AWS {endpoints.aws}"
        )
        client = TailorcastClient(endpoints.api, demo_token(stack))
        result = _seller_job(
            client, state_dir, console, lambda url: stack.media_cookies([campaign_folder(url)])
        )
        if result.get("ok"):
            result["engagement"] = _prospect_side(client, stack, console, result)
            result["ok"] = bool(result["engagement"].get("ok"))
        client.close()
        if serve and result.get("ok"):
            console.print(
                "\n[bold]Serving[/] — the links above play while this runs "
                f"(API {endpoints.api}). Ctrl-C stops; state is kept in {stack.state_dir}."
            )
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        return result
    finally:
        stack.stop()


def _subscribe(client: TailorcastClient, console: Console, plan: str = "pro") -> None:
    """Move the demo seller off the trial (5 videos) as a seller would: the local Stripe checkout
    page paid with Stripe's test card 4242…, and the signed webhook that changes the plan."""
    from tailorcast_cli.billing import subscribe_with_test_card

    if client.me().account.plan != "trial":
        return  # a restarted demo: subscribed the first time
    subscribe_with_test_card(client, plan)
    console.print(f"[green]✓[/] subscribed to {plan.title()} through the local Stripe checkout (card 4242…)")


def _seller_job(
    client: TailorcastClient,
    state_dir: Path,
    console: Console,
    cookies_for: Callable[[str], list[SetCookie]],
) -> dict[str, Any]:
    me = client.me()
    console.print(f"[green]✓[/] signed in as {me.email} (account {me.account.account_id})")
    _subscribe(client, console)
    campaign = client.create_campaign("Q4 outbound — demo", "Created by make demo", SCRIPT)
    campaign_id = campaign.campaign_id
    client.update_voice(campaign_id, placeholders={"first_name": "John"})
    client.update_campaign(campaign_id, name_card=NAME_CARD, watch_page=WATCH_PAGE)
    console.print(f"[green]✓[/] campaign {campaign_id}: the seller says 'John' where each name goes")
    samples = state_dir.resolve() / "samples"
    video_file = samples / "base-video-voice.mp4"
    if not video_file.exists():
        samples.mkdir(parents=True, exist_ok=True)
        make_base_video(video_file, seconds=7.0, audio=SELLER_RECORDING)
    client.upload(campaign_id, "base_video", video_file, "video/mp4")
    console.print(f"[green]✓[/] uploaded {video_file.name} ({video_file.stat().st_size / 1e6:.1f} MB)")
    csv_file = write_prospects_csv(samples / "hubspot-contacts.csv")
    ticket = client.upload(campaign_id, "prospects_csv", csv_file, "text/csv")
    with console.status("importing the prospects, validating and encoding the base video…"):
        imported = client.wait_for_import(campaign_id, ticket.upload_id)
        campaign = client.wait_for_base_video(campaign_id)
    console.print(
        f"[green]✓[/] imported {imported.imported} prospects from {csv_file.name} "
        f"({imported.duplicates} duplicates, {imported.failed} rejected)"
    )
    video = campaign.base_video
    if video is None or video.status != "ready" or video.ladder is None:
        status, reason = (video.status, video.reason) if video is not None else (None, None)
        console.print(f"[red]✗[/] base video {status}: {reason}")
        return {"ok": False, "campaign": campaign}
    ladder = video.ladder
    console.print(
        f"[green]✓[/] base ladder ready once for everyone: {', '.join(ladder.renditions)} "
        f"({ladder.segment_count} × 2 s segments)"
    )
    with console.status("locating the name's slot and learning the seller's voice…"):
        voice = client.wait_for_voice(campaign_id)
    if voice.status != "ready" or voice.profile is None:
        console.print(f"[red]✗[/] voice: {voice.error}")
        return {"ok": False, "campaign": campaign}
    slot = voice.slots[0]
    console.print(
        f"[green]✓[/] slot {{{slot.variable}}} at {slot.start:.2f}–{slot.end:.2f} s "
        f"(confidence {slot.confidence:.0%}); "
        f"seller's median pitch {voice.profile.f0_median_hz:.0f} Hz"
    )
    started = time.monotonic()
    batch = client.start_batch(campaign_id)
    batch = watch_batch(client, campaign_id, batch.batch_id, console)
    seconds = time.monotonic() - started
    videos = client.batch_prospects(campaign_id, batch.batch_id)
    people = {p.prospect_id: p for p in client.prospects(campaign_id)}
    with console.status("decoding every link with ffmpeg…"):
        checked = {
            v.prospect_id: decode_check(v.playlist_url, cookies_for(v.playlist_url))
            for v in videos
            if v.playlist_url
        }
    console.print(videos_table(videos, people, checked))
    console.print("[bold]Playlists[/] (behind signed cookies, as on CloudFront; the watch page sets them):")
    for v in sorted(videos, key=lambda v: _first_name(people, v.prospect_id)):
        if v.playlist_url:
            name = _first_name(people, v.prospect_id) or v.prospect_id
            console.print(f"  {name:<10} {v.playlist_url}", soft_wrap=True, highlight=False)
    good = sum(1 for v in videos if v.status == "completed" and checked.get(v.prospect_id) is None)
    console.print(
        f"[green]✓[/] batch {batch.batch_id} {batch.status}: {good} of {batch.total} videos "
        f"rendered and decoded in {seconds:.0f} s ({seconds / max(1, batch.total):.2f} s per prospect)"
    )
    ok = batch.status == "completed" and good == batch.total and batch.total > 0
    return {"ok": ok, "campaign": campaign, "batch": batch, "videos": videos, "decode_errors": checked}


def _first_name(people: dict[str, ProspectOut], prospect_id: str) -> str:
    person = people.get(prospect_id)
    return person.first_name if person is not None else ""


def _prospect_side(
    client: TailorcastClient, stack: LocalStack, console: Console, result: dict[str, Any]
) -> dict[str, Any]:
    """The emails go out; a mail gateway's scanners hit the first link; the prospect opens it in
    a real browser, watches to the end and clicks the CTA; analytics count the person only."""
    from tailorcast_cli import viewer

    campaign_id = result["campaign"].campaign_id
    people = sorted(client.prospects(campaign_id), key=lambda p: p.first_name)
    sent_at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    client.mark_sent(campaign_id, [p.prospect_id for p in people], sent_at)
    links = {p.prospect_id: client.watch_link(campaign_id, p.prospect_id) for p in people}
    console.print("[bold]Watch links[/] (what the emails carry; each page sets its own signed cookies):")
    for p in people[:5]:
        console.print(f"  {p.first_name:<10} {links[p.prospect_id].watch_url}", highlight=False)
    if len(people) > 5:
        console.print(f"  … and {len(people) - 5} more (`tailorcast prospects export` lists them all)")
    first = people[0]
    url = links[first.prospect_id].watch_url
    if url is None:
        console.print("[red]✗[/] the stack gives no watch links (its watch site's URL is not set)")
        return {"ok": False}
    hits = viewer.scanner_hits(url)
    console.print(f"[green]✓[/] a mail gateway scanned {first.first_name}'s link: {hits} hits, no view")
    if not viewer.CHROMIUM.exists():
        console.print(f"[yellow]![/] {viewer.CHROMIUM} is missing (make system-deps installs it): no viewing")
        return {"ok": False}
    with console.status(f"{first.first_name} watches in headless Chromium…"):
        seen = viewer.watch(url)
    console.print(
        f"[green]✓[/] {first.first_name} watched “{seen.headline}” to {seen.reached:.1f} of "
        f"{seen.duration:.1f} s (switched to 360p, 2× speed) and clicked the CTA"
    )
    deadline = time.monotonic() + 30
    while client.prospect(campaign_id, first.prospect_id).cta_click_count < 1:
        if time.monotonic() > deadline:
            return {"ok": False}
        time.sleep(0.2)
    stack.firehose.flush()  # Firehose buffers up to a second locally (60 s in the cloud)
    report = client.analytics(campaign_id, max_age=0)
    funnel, bots = report.data.funnel.model_dump(), report.data.bots
    table = Table(title="Campaign funnel (Athena SQL on DuckDB over the Firehose files; people only)")
    for step in ("sent", "opened", "played", "half", "completed", "cta"):
        table.add_column(step)
    table.add_row(*(str(funnel[s]) for s in ("sent", "opened", "played", "half", "completed", "cta")))
    console.print(table)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(bots.by_reason.items()))
    console.print(f"[green]✓[/] bot and scanner hits left out: {bots.total} ({reasons})")
    expected = {"sent": len(people), "opened": 1, "played": 1, "completed": 1, "cta": 1}
    ok = all(funnel[k] == v for k, v in expected.items()) and bots.total == hits + 1
    return {"ok": ok, "funnel": funnel, "bots": bots.model_dump(), "viewing": seen.__dict__}


def decode_check(url: str, cookies: Sequence[SetCookie] = ()) -> str | None:
    """Decode the whole HLS playlist at ``url`` (every rendition ffmpeg picks); ``None`` when it
    decodes without a single error, else ffmpeg's complaint. ``cookies`` are the front door's
    signed cookies (as the watch page sets them): ffmpeg sends each under its ``Path``."""
    with_cookies = ["-cookies", ffmpeg_cookies(list(cookies))] if cookies else []
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-nostdin", *with_cookies, "-i", url, "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 or proc.stderr.strip():
        return proc.stderr.strip()[-500:] or f"ffmpeg exited {proc.returncode}"
    return None


def videos_table(
    videos: list[VideoOut], people: dict[str, ProspectOut], checked: dict[str, str | None]
) -> Table:
    table = Table(title="Personalized videos (each link decoded with ffmpeg)")
    for column in ("prospect", "company", "status", "card", "segments", "new storage", "decodes"):
        table.add_column(column, overflow="fold")
    for v in sorted(videos, key=lambda v: _first_name(people, v.prospect_id)):
        person = people.get(v.prospect_id)
        name = " ".join(filter(None, (person.first_name, person.last_name))) if person else ""
        problem = checked.get(v.prospect_id)
        status = str(v.status) if not v.error else f"{v.status}: {v.error}"
        if problem:
            status += f" — ffmpeg: {problem}"
        table.add_row(
            name,
            (person.company if person else None) or "—",
            status,
            (v.overlay.text if v.overlay else None) or "—",
            str(v.segments_rendered or "—"),
            f"{v.new_bytes / 1000:.0f} KB",
            "—" if not v.playlist_url else ("[red]no[/]" if problem else "[green]yes[/]"),
        )
    return table


def demo_token(stack: LocalStack) -> str:
    """An access token for the demo's seller on ``stack``, signed up through Cognito on first use
    (SignUp, the code read from the local outbox, ConfirmSignUp: the trigger creates the account)
    and signed in on a restarted stack."""
    idp = stack.client("cognito-idp")
    try:
        return stack.sign_up(DEMO_EMAIL, DEMO_PASSWORD, name="Demo Seller Inc.").access_token
    except idp.exceptions.UsernameExistsException:
        return stack.log_in(DEMO_EMAIL, DEMO_PASSWORD).access_token
