"""``tailorcast``: run the local stack, manage local accounts, and run the demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.panel import Panel

from chalicelib.domain.contact_fields import mapping_help
from chalicelib.domain.models import VideoStatus

if TYPE_CHECKING:
    from tailorcast_cli.client import TailorcastClient

app = typer.Typer(help="Tailorcast: personalized video outreach.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts on the local stack.", no_args_is_help=True)
app.add_typer(account_app, name="account")
from tailorcast_cli.billing import billing_app, stripe_app  # noqa: E402 - the sub-apps, after `app`

app.add_typer(billing_app, name="billing")
app.add_typer(stripe_app, name="stripe")
console = Console()
err = Console(stderr=True)

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", envvar="TAILORCAST_STATE_DIR", help="Where local state lives."),
]
DEFAULT_STATE_DIR = Path(".tailorcast")


def main() -> None:
    app()


@app.command()
def up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    aws_port: Annotated[int, typer.Option(help="moto server port (0 = any free port)")] = 4566,
    api_port: Annotated[int, typer.Option(help="REST API port (0 = any free port)")] = 8000,
    gateway_port: Annotated[
        int, typer.Option(help="front door port: watch pages and media, like CloudFront (0 = any free port)")
    ] = 8080,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start the whole local stack on 127.0.0.1 and serve until Ctrl-C."""
    _logging(verbose)  # first: importing the stack loads Powertools, which reads its log level once
    from devstack.stack import LocalStack

    stack = LocalStack(state_dir, aws_port=aws_port, api_port=api_port, gateway_port=gateway_port)
    endpoints = stack.start()
    stop = threading.Event()
    # Both stop cleanly, even when started with SIGINT ignored (from a script's background job).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(
        Panel.fit(
            f"[bold]API[/]      {endpoints.api}\n[bold]Watch[/]    {endpoints.media}  "
            "(front door: watch pages and media)\n"
            f"[bold]AWS[/]      {endpoints.aws}\n"
            f"[bold]State[/]    {stack.state_dir}\n\n"
            "Sign up: [cyan]tailorcast signup[/], then [cyan]tailorcast outbox list[/] for the code\n"
            "Ctrl-C stops the stack; state is kept for the next start.",
            title="Tailorcast local stack is up",
        )
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        stack.stop()
        console.print("stopped; state saved in", str(stack.state_dir))


@account_app.command("create")
def account_create(
    email: Annotated[str, typer.Option(help="The owner's email")],
    name: Annotated[str | None, typer.Option(help="Your name")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Sign a new owner up on the running local stack as an operator would, without the email
    round trip: Cognito sign-up with a random password, the code read from the local outbox, the
    confirmation (which creates the account), and a sign-in kept as the CLI's session. Prints the
    access token. An email that already has an account is refused (log in instead)."""
    import secrets

    from tailorcast_cli.client import ApiError
    from tailorcast_cli.session import AuthApi, Credentials, save

    info = _running_stack(state_dir)
    auth = AuthApi(info["api"])
    # A random password meeting the pool's policy; the owner sets their own with `password forgot`.
    password = "Tc1" + secrets.token_urlsafe(18)
    body: dict[str, Any] = {"email": email, "password": password}
    if name:
        body["name"] = name
    try:
        auth.message("/auth/signup", body)
    except ApiError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    from devstack.outbox import read_remote

    sent = [
        m for m in read_remote(info["aws"]) if email.strip().lower() in [t.lower() for t in m.to] and m.code()
    ]
    if not sent:
        err.print(f"[red]error:[/] no confirmation code for {email} in the outbox")
        raise typer.Exit(1)
    code = sent[-1].code() or ""
    auth.message("/auth/confirm", {"email": email, "code": code})
    tokens = auth.login(email, password)
    save(state_dir, Credentials.of(info["api"], email.strip().lower(), tokens))
    from tailorcast_cli.client import TailorcastClient

    with closing(TailorcastClient(info["api"], tokens.access_token)) as client:
        me = client.me()
    err.print(f"created account [bold]{me.account.account_id}[/] for {email} (plan {me.account.plan})")
    err.print(
        f"API: {info['api']}   use: Authorization: Bearer <token> (valid {tokens.expires_in // 60} min)"
    )
    err.print("the CLI is logged in as this owner; they set a password with `tailorcast password forgot`")
    print(tokens.access_token)


@app.command()
def demo(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", envvar="NO_SERVE", help="exit after rendering (for scripts)")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """The main job on the local stack: a base video and 25 prospects in, one video each out."""
    _logging(verbose)  # first: importing the demo loads Powertools, which reads its log level once
    from tailorcast_cli.demo import run_demo

    result = run_demo(state_dir, console, serve=not no_serve)
    if not result.get("ok"):
        raise typer.Exit(1)


bench = typer.Typer(help="Benchmarks: figures as JSON, each against the baseline it names.")
app.add_typer(bench, name="bench")


def _say(message: str) -> None:
    """A benchmark's progress, dimmed on stderr (stdout is kept for the JSON)."""
    err.print(f"[dim]… {message}[/]")


@bench.command("render")
def bench_render(
    prospects: Annotated[int, typer.Option(help="prospects rendered segment-level (ours)")] = 20,
    naive: Annotated[int, typer.Option(help="prospects rendered the naive way (full re-encode each)")] = 2,
    seconds: Annotated[float, typer.Option(help="length of the generated 720p base video")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """Segment-level personalized renders vs a full per-prospect ladder re-encode, side by side."""
    from benchmarks.harness import emit
    from benchmarks.render import run_render_bench

    emit(run_render_bench(prospects, naive, seconds, progress=_say), as_json=as_json)


@bench.command("voice")
def bench_voice(
    names: Annotated[int, typer.Option(help="generated names to synthesize, match and splice")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """One name synthesized, matched and spliced (warm engine) vs a naive cut-in, side by side."""
    from benchmarks.harness import emit
    from benchmarks.voice import run_voice_bench

    emit(run_voice_bench(names, progress=_say), as_json=as_json)


@bench.command("names")
def bench_names(
    limit: Annotated[
        int | None, typer.Option(help="only the first N names of the list (default: all 500)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    rows: Annotated[Path | None, typer.Option(help="write the per-name figures to this CSV file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """500 first names fitted into a real seller's slots (growing when needed) vs the old fit's
    refusals: fit rate, growth, time, pitch, loudness, clicks, and whether each name is heard."""
    from benchmarks.harness import emit
    from benchmarks.names import run_names_bench, write_rows

    result = run_names_bench(limit, progress=_say)
    per_name = result.pop("rows")
    if rows is not None:
        write_rows(per_name, rows)
    emit(result, as_json=as_json, out=out)


@bench.command("campaign")
def bench_campaign(
    prospects: Annotated[
        int, typer.Option(help="prospects rendered end to end (1000 measures it for real)")
    ] = 200,
    seconds: Annotated[float, typer.Option(help="length of the 720p base video")] = 120.0,
    naive: Annotated[int, typer.Option(help="full per-prospect re-encodes timed for the baseline")] = 1,
    concurrency: Annotated[
        int | None, typer.Option(help="the Map's MaxConcurrency (default: TAILORCAST_RENDER_CONCURRENCY's)")
    ] = None,
    workers: Annotated[int, typer.Option(help="MediaConvert stand-in job workers")] = 2,
    card: Annotated[
        bool, typer.Option("--card", help="give the campaign a name card ({first_name})")
    ] = False,
    sweep: Annotated[
        str | None,
        typer.Option(help="also compare concurrency:workers pairs, e.g. '4:2,8:2,16:2,8:1,8:3'"),
    ] = None,
    sweep_prospects: Annotated[int, typer.Option(help="prospects re-rendered per sweep pair")] = 40,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """A campaign's prospects voiced, rendered and published through the local state machine, vs a
    full per-prospect ladder re-encode."""
    _logging(False)
    from benchmarks.campaign import Config, run_campaign_bench
    from benchmarks.harness import emit
    from chalicelib.settings import Settings

    config = Config(concurrency or Settings().render_concurrency, workers)
    pairs = [Config.parse(p) for p in sweep.split(",") if p.strip()] if sweep else []
    result = run_campaign_bench(
        prospects,
        seconds,
        naive,
        config,
        card=card,
        sweep=pairs,
        sweep_prospects=sweep_prospects,
        progress=_say,
    )
    emit(result, as_json=as_json, out=out)


@bench.command("import")
def bench_import(
    rows: Annotated[int, typer.Option(help="rows of the timed import (the target is for 10,000)")] = 10_000,
    big_rows: Annotated[int, typer.Option(help="rows of the file whose peak memory is measured")] = 50_000,
    baseline_rows: Annotated[int, typer.Option(help="rows imported the row-by-row way (baseline)")] = 1_000,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """A HubSpot CSV imported into the local DynamoDB by the import Lambda's code (bulk writer), vs
    the same rows added one by one."""
    _logging(False)
    from benchmarks.harness import emit
    from benchmarks.imports import run_import_bench

    emit(run_import_bench(rows, big_rows, baseline_rows, progress=_say), as_json=as_json, out=out)


@bench.command("analytics")
def bench_analytics(
    events: Annotated[
        int, typer.Option(help="synthetic engagement events (the target is for 1,000,000)")
    ] = 1_000_000,
    runs: Annotated[int, typer.Option(help="warm campaign queries timed (the median is reported)")] = 7,
    baseline_runs: Annotated[int, typer.Option(help="runs of the baseline (DuckDB over the raw JSON)")] = 3,
    days: Annotated[int, typer.Option(help="days the events span, ending yesterday")] = 30,
    buffer_seconds: Annotated[
        int, typer.Option(help="Firehose's buffering interval the objects are laid out with (CDK: 60)")
    ] = 60,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """Campaign analytics over synthetic events through the local Athena (boto3, its columnar cache),
    vs the same SQL by DuckDB over the raw JSON lines; and the watch page's weight."""
    _logging(False)
    from benchmarks.analytics import run_analytics_bench
    from benchmarks.harness import emit

    result = run_analytics_bench(events, runs, baseline_runs, days, buffer_seconds, progress=_say)
    emit(result, as_json=as_json, out=out)


@bench.command("api")
def bench_api(
    rounds: Annotated[int, typer.Option(help="alternating rounds of each mode")] = 6,
    passes: Annotated[int, typer.Option(help="passes of the request mix per round")] = 15,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """The authenticated API with the plan checks (rate limit, quotas) vs the same requests
    without them: median and p95 latency and DynamoDB round trips per request."""
    _logging(False)
    from benchmarks.api import run_api_bench
    from benchmarks.harness import emit

    emit(run_api_bench(rounds, passes, progress=_say), as_json=as_json, out=out)


@bench.command("cost")
def bench_cost(
    results: Annotated[
        Path | None, typer.Option(help="where the benchmarks' results are (default: benchmarks/results)")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print the tables of docs/cost.md instead of the JSON")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="also write the JSON to this file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON result")] = False,
) -> None:
    """The cloud cost of one personalized video and of 1,000, at list prices, from the newest
    benchmark results and the code's counts, vs a full re-render per prospect and the peers' prices.
    Reads files only: no stack, nothing rendered."""
    from benchmarks.cost import MissingFigureError, Results, markdown_tables, run_cost_model

    try:
        result = run_cost_model(Results.newest(results) if results else Results.newest())
    except MissingFigureError as exc:
        err.print(f"[red]a figure the cost model needs is missing:[/] {exc}")
        raise typer.Exit(1) from None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if markdown:
        print(markdown_tables(result), end="")
    else:
        print(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))


voice_app = typer.Typer(help="The campaign's voice on the running local stack.", no_args_is_help=True)
app.add_typer(voice_app, name="voice")


@voice_app.command("preview")
def voice_preview(
    campaign_id: Annotated[str, typer.Argument(help="The campaign whose video the name goes into")],
    name: Annotated[str, typer.Option(help="The first name to say")],
    token: Token = None,
    say: Annotated[str | None, typer.Option(help="How to say it: a respelling (shi-VAWN) or /IPA/")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the spliced audio")] = Path("preview.wav"),
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Hear a name spliced into the video's audio before anything is rendered."""
    import httpx

    from tailorcast_cli.client import ApiError

    client = _render_client(state_dir, token)
    try:
        reply = client.preview_voice(
            campaign_id, first_name=name, pronunciations={"first_name": say} if say else {}
        )
    except ApiError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    out.write_bytes(httpx.get(reply.url).content)
    for q in reply.quality:
        err.print(
            f"{q.variable}: pitch {q.f0_offset_semitones or 0:+.2f} st, loudness "
            f"{q.loudness_offset_lu:+.2f} LU, click ratio {q.click_ratio:.2f} "
            + ("[green]ok[/]" if q.ok else "[yellow]outside targets[/]")
        )
    for note in reply.notes:
        err.print(f"[yellow]note:[/] {note}")
    print(out)


render_app = typer.Typer(
    help=(
        "Render a campaign's personalized videos on the running local stack, in batches.\n\n"
        "Start one with `tailorcast render start CAMPAIGN [--prospect ID …] [--watch]`; follow, "
        "cancel or resume it with `render watch|cancel|resume CAMPAIGN BATCH`; `render list CAMPAIGN` "
        "shows the campaign's batches. Every command uses the `tailorcast login` session, or "
        "--token (TAILORCAST_TOKEN)."
    ),
    no_args_is_help=True,
)
app.add_typer(render_app, name="render")

Token = Annotated[
    str | None,
    typer.Option(envvar="TAILORCAST_TOKEN", help="Bearer token (default: the `tailorcast login` session)"),
]
CampaignArg = Annotated[str, typer.Argument(help="The campaign")]
BatchArg = Annotated[str, typer.Argument(help="The batch (`tailorcast render list CAMPAIGN`)")]
WatchOpt = Annotated[bool, typer.Option("--watch", "-w", help="follow the batch until it finishes")]
IntervalOpt = Annotated[float, typer.Option(help="seconds between polls while watching", min=0)]


@render_app.command("start")
def render_start(
    campaign_id: CampaignArg,
    token: Token = None,
    prospect: Annotated[
        list[str] | None,
        typer.Option("--prospect", "-p", help="render only this prospect (repeat for more); default: all"),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="re-render videos already rendered from the same inputs")
    ] = False,
    watch: WatchOpt = False,
    interval: IntervalOpt = 1.0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Start a batch (every prospect that needs a render, or the --prospect ones); print its id.

    --watch shows its progress until it finishes, then the failed prospects and why.

    Exit status 1: the batch ended failed, cancelled or interrupted (or the API refused).
    """
    with closing(_render_client(state_dir, token)) as client:
        batch = _api(lambda: client.start_batch(campaign_id, prospect_ids=prospect or None, force=force))
        err.print(f"started batch [bold]{batch.batch_id}[/] for campaign {campaign_id}")
        if batch.refused:
            # Over the plan's videos for the period: left as they were (nothing lost).
            err.print(f"[yellow]{batch.refused} not rendered:[/] {batch.refused_reason}")
        print(batch.batch_id)
        if watch:
            _watch(client, campaign_id, batch.batch_id, interval)


@render_app.command("watch")
def render_watch(
    campaign_id: CampaignArg,
    batch_id: BatchArg,
    token: Token = None,
    interval: IntervalOpt = 1.0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Follow a batch until it finishes; exit 1 if it ended failed, cancelled or interrupted."""
    with closing(_render_client(state_dir, token)) as client:
        _watch(client, campaign_id, batch_id, interval)


@render_app.command("cancel")
def render_cancel(
    campaign_id: CampaignArg, batch_id: BatchArg, token: Token = None, state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """Cancel a batch: no new renders start; videos already rendered (or rendering) stay."""
    from tailorcast_cli.progress import summary_text

    with closing(_render_client(state_dir, token)) as client:
        batch = _api(lambda: client.cancel_batch(campaign_id, batch_id))
    console.print(summary_text(batch))


@render_app.command("resume")
def render_resume(
    campaign_id: CampaignArg,
    batch_id: BatchArg,
    token: Token = None,
    watch: WatchOpt = False,
    interval: IntervalOpt = 1.0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Resume an interrupted batch where it stopped (e.g. after the stack was restarted)."""
    with closing(_render_client(state_dir, token)) as client:
        batch = _api(lambda: client.resume_batch(campaign_id, batch_id))
        err.print(f"resumed batch [bold]{batch.batch_id}[/] (execution {batch.executions})")
        if watch:
            _watch(client, campaign_id, batch_id, interval)


@render_app.command("list")
def render_list(
    campaign_id: CampaignArg, token: Token = None, state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """The campaign's render batches, newest first."""
    from tailorcast_cli.progress import batches_table

    with closing(_render_client(state_dir, token)) as client:
        batches = _api(lambda: client.batches(campaign_id))
    if not batches:
        console.print("no render batches yet — start one with `tailorcast render start CAMPAIGN`")
        return
    console.print(batches_table(batches))


def _render_client(state_dir: Path, token: str | None) -> TailorcastClient:
    """A client of the running local stack's API (tests replace this): with ``token``, or else
    signed in with the stored session (``tailorcast login``), refreshed as needed."""
    from tailorcast_cli.client import TailorcastClient
    from tailorcast_cli.session import NotLoggedInError, stored_client

    api = _running_stack(state_dir)["api"]
    if token:
        return TailorcastClient(api, token)
    try:
        return stored_client(state_dir, api)
    except NotLoggedInError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


T = TypeVar("T")


def _api(call: Callable[[], T]) -> T:
    """Run one API call; an API error is printed (message and fields) and exits 1."""
    import httpx

    from tailorcast_cli.client import ApiError
    from tailorcast_cli.session import NotLoggedInError

    try:
        return call()
    except NotLoggedInError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except ApiError as exc:
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        err.print(f"[red]error:[/] {error.get('message') or exc} [dim](HTTP {exc.status})[/]")
        for field in error.get("fields") or []:
            err.print(f"  [yellow]{field.get('field')}[/]: {field.get('message')}")
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/] the API could not be reached: {exc}")
        raise typer.Exit(1) from None


def _watch(client: TailorcastClient, campaign_id: str, batch_id: str, interval: float) -> None:
    from tailorcast_cli.progress import UNSUCCESSFUL, failures_table, summary_text, watch_batch

    try:
        batch = _api(lambda: watch_batch(client, campaign_id, batch_id, err, interval=interval))
    except KeyboardInterrupt:
        err.print(f"stopped watching; the batch goes on — `tailorcast render watch {campaign_id} {batch_id}`")
        raise typer.Exit(130) from None
    console.print(summary_text(batch))
    if batch.counters.failed:
        failed = _api(lambda: client.batch_prospects(campaign_id, batch_id, status="failed"))
        console.print(failures_table(failed))
    if batch.status in UNSUCCESSFUL:
        raise typer.Exit(1)


prospects_app = typer.Typer(help="A campaign's prospects on the running local stack.", no_args_is_help=True)
app.add_typer(prospects_app, name="prospects")


@prospects_app.command("export")
def prospects_export(
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="The campaign")],
    token: Token = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the file ('-': stdout); default: its own name here"),
    ] = None,
    fmt: Annotated[
        Literal["csv", "html"],
        typer.Option(
            "--format",
            "-f",
            help="csv: a row per prospect for a mail-merge tool; html: each prospect's email snippet",
        ),
    ] = "csv",
    status: Annotated[
        VideoStatus | None,
        typer.Option(help="only prospects whose video is in this status (e.g. completed)"),
    ] = None,
    image: Annotated[
        Literal["poster", "gif"], typer.Option(help="html: the picture in each snippet")
    ] = "poster",
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Export a campaign's prospects with their watch links, posters and GIFs (CSV), or their
    email snippets (HTML); prints where it wrote the file."""
    with closing(_render_client(state_dir, token)) as client:
        done = _api(lambda: client.export(campaign, fmt, status, image))
        data = _api(lambda: client.fetch(done.url))
    for warning in done.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if out == Path("-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    dest = out or Path(done.filename)
    dest.write_bytes(data)
    err.print(f"exported {done.rows} prospects ({done.size_bytes:,} bytes)")
    print(dest)


MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        "-m",
        help=f'override the column mapping: "COLUMN=FIELD" (repeat); FIELD is {mapping_help()}',
    ),
]
CsvArg = Annotated[Path, typer.Argument(help="The CSV file", exists=True, dir_okay=False, readable=True)]


@prospects_app.command("preview")
def prospects_preview(
    file: CsvArg,
    campaign: Annotated[
        str | None,
        typer.Option(
            "--campaign", "-c", help="also count duplicates and the plan's limit against this campaign (API)"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="TAILORCAST_TOKEN", help="Bearer token (default: the `tailorcast login` session)"
        ),
    ] = None,
    mapping: MapOpt = None,
    sample: Annotated[
        int | None,
        typer.Option(
            help="how many normalized prospects to include (default: all; 500 at most with --campaign)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the preview as JSON")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """What importing FILE would do, writing nothing: encoding, delimiter, the column mapping, the
    rows that would be imported, duplicates, and every rejected row with its number and reason.

    Without --campaign it runs offline, with the import's own code.
    """
    from chalicelib.domain.errors import InvalidInputError, UploadRejectedError
    from tailorcast_cli.importview import local_preview, parse_map_options, preview_view

    try:
        override = parse_map_options(mapping or [])
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if campaign is None:
        try:
            data = local_preview(file, override, sample)
        except (UploadRejectedError, InvalidInputError) as exc:
            _refused(exc.message, getattr(exc, "issues", []), as_json)
            raise typer.Exit(1) from None
    else:
        with closing(_render_client(state_dir, token)) as client:
            data = _api(
                lambda: client.preview_import(
                    campaign, file.read_bytes(), override, 500 if sample is None else min(sample, 500)
                )
            )
    if as_json:
        print(json.dumps({"file": str(file), **data.model_dump(mode="json")}, ensure_ascii=False))
    else:
        console.print(preview_view(data))


@prospects_app.command("import")
def prospects_import(
    file: CsvArg,
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="The campaign to add the prospects to")],
    token: Token = None,
    mapping: MapOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the finished import as JSON")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Upload FILE to the campaign and follow its import with a progress bar; then show what was
    imported and every row that was not, with its row number and reason.

    Exit status 1: the file was rejected or the import failed (rows already imported stay).
    """
    from chalicelib.domain.errors import InvalidInputError, UploadRejectedError
    from tailorcast_cli.importview import import_view, local_preview, parse_map_options, watch_import

    try:
        override = parse_map_options(mapping or [])
        total: int | None = local_preview(file, override, 0).total_rows
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except (UploadRejectedError, InvalidInputError) as exc:
        _refused(exc.message, getattr(exc, "issues", []), as_json)  # nothing was uploaded
        raise typer.Exit(1) from None
    with closing(_render_client(state_dir, token)) as client:
        ticket = _api(lambda: client.upload(campaign, "prospects_csv", file, "text/csv", override))
        err.print(f"uploaded {file.name}; import [bold]{ticket.upload_id}[/]")
        record = _api(lambda: watch_import(client, campaign, ticket.upload_id, total, err))
    if as_json:
        print(json.dumps(record.model_dump(mode="json"), ensure_ascii=False))
    else:
        console.print(import_view(record))
    if record.status != "completed":
        raise typer.Exit(1)


def _refused(message: str, issues: list[Any], as_json: bool) -> None:
    fields = [{"field": i.field, "message": i.message} for i in issues]
    if as_json:
        print(json.dumps({"error": {"message": message, "fields": fields}}, ensure_ascii=False))
    err.print(f"[red]the file can't be imported:[/] {message}")
    for field in fields:
        err.print(f"  [yellow]{field['field']}[/]: {field['message']}")


@app.command()
def openapi() -> None:
    """Print the API's OpenAPI document (generated from the pydantic models)."""
    from chalicelib.api.openapi import document

    print(json.dumps(document(), indent=2))


def _running_stack(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "stack.json"
    if not path.exists():
        err.print(
            f"[red]error:[/] no local stack is running for {state_dir} — start one with `tailorcast up`"
        )
        raise typer.Exit(2)
    info: dict[str, Any] = json.loads(path.read_text())
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError):
        err.print(
            f"[red]error:[/] the stack in {state_dir} is not running any more — start it with `tailorcast up`"
        )
        raise typer.Exit(2) from None
    return info


def _register_identity_commands() -> None:
    from tailorcast_cli import identity_cli

    identity_cli.register(app)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not verbose:
        # Powertools logs JSON to stdout for CloudWatch; locally it would drown the CLI output.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)


_register_identity_commands()  # signup, login … and the outbox (they import this module's helpers)
