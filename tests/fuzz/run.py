"""``make fuzz``: schemathesis against the local stack's own ``/openapi.json``, bounded and seeded.

1. ``tailorcast up`` on free loopback ports, with its state in ``.tailorcast/fuzz/state`` (fresh).
2. Two accounts (``tailorcast account create``), each with a bearer token: the first is the one
   fuzzed, the second's token must get a 404 for the first's records (``tenant_isolation``).
3. Records for path ids to resolve (``hooks.py`` mixes them into the generated ids): two campaigns
   with imported prospects, an import, webhook endpoints on a loopback URL, pronunciations, the
   record a completed render leaves (so the watch page and its beacons answer), its watch token,
   an asset name.
4. ``schemathesis run`` with ``schemathesis.toml`` (checks, phases, budget, seed), as the first
   account. ``POST /webhooks`` and ``POST /webhooks/{endpoint_id}/test`` are left out: a registered
   URL receives events, and nothing may leave this machine.
5. The stack is stopped; its log is searched for unhandled errors (each is one 500, with the
   traceback the response never shows), grouped by route and where they were raised.

Prints the figures as JSON last (requests sent, seconds, failures) and exits non-zero on any
failure. Reports are in ``.tailorcast/fuzz/``. Arguments are passed on to ``schemathesis run``
(``python -m tests.fuzz.run --include-path-regex '^/webhooks' -n 10`` fuzzes less, faster).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tailorcast_cli.client import ApiError, TailorcastClient

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".tailorcast" / "fuzz"
CONFIG = Path(__file__).with_name("schemathesis.toml")
BIN = Path(sys.executable).parent
#: Never generated: a registered URL receives events (the run must not send anything off-machine).
EXCLUDED_OPERATIONS = ("post_webhooks", "post_webhooks_endpoint_id_test")
#: The webhook endpoints seeded for path ids point here: the discard port, on loopback.
LOOPBACK_RECEIVER = "http://127.0.0.1:9/fuzz"
PROSPECTS_CSV = (
    b"first_name,last_name,email,company\n"
    b"Siobhan,Kelly,siobhan@example.com,Acme\n"
    b"John,Doe,john@example.com,Initech\n"
)
STACK_START_SECONDS = 180
#: The budget (``max-examples`` per operation, plus the coverage phase) sends more than this; fewer
#: means operations were skipped or stopped early. Only checked on a full run (no arguments).
MIN_REQUESTS = 5000


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(OUT, ignore_errors=True)
    state = OUT / "state"
    state.mkdir(parents=True)
    log_path = OUT / "stack.log"
    problems: list[str] = []
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR"}
    with log_path.open("wb") as log:
        ports = ["--aws-port", "0", "--api-port", "0", "--gateway-port", "0"]
        stack = subprocess.Popen(
            [str(BIN / "tailorcast"), "up", "--state-dir", str(state), *ports],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        try:
            info = _wait_for_stack(state, stack)
            tokens = [_account(state, f"fuzz-{who}@example.com") for who in ("a", "b")]
            seeds = _seed(info, tokens, problems)
            origin_verify = info["env"].get("TAILORCAST_ORIGIN_VERIFY_SECRET", "")
            exit_code = _schemathesis(info["api"], tokens, seeds, origin_verify, sys.argv[1:])
        finally:
            stack.send_signal(signal.SIGTERM)
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                stack.kill()
    report = json.loads((OUT / "report.json").read_text()) if (OUT / "report.json").exists() else {}
    counted = json.loads((OUT / "count.json").read_text()) if (OUT / "count.json").exists() else {}
    unhandled = _unhandled_errors(log_path)
    failures = [
        {"title": f["title"], "operations": f["operations"], "count": f["count"]}
        for f in report.get("failures", [])
    ]
    summary = {
        "requests": counted.get("requests", 0),
        "tenant_isolation_checks": counted.get("tenant_isolation_checks", 0),
        "seconds": round(time.monotonic() - started, 1),
        "fuzz_seconds": report.get("running_time"),
        "failures": sum(f["count"] for f in failures),
        "failure_groups": failures,
        "errors": report.get("errors", []),
        "seeding_problems": problems,
        "unhandled_server_errors": unhandled,
    }
    if not sys.argv[1:] and summary["requests"] < MIN_REQUESTS:
        problems.append(f"only {summary['requests']} requests were sent (at least {MIN_REQUESTS} expected)")
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return exit_code or (1 if unhandled or problems else 0)


def _wait_for_stack(state: Path, stack: subprocess.Popen[bytes]) -> dict[str, Any]:
    path = state / "stack.json"
    deadline = time.monotonic() + STACK_START_SECONDS
    while not path.exists():
        if stack.poll() is not None:
            raise SystemExit(f"the local stack exited ({stack.returncode}): see {OUT / 'stack.log'}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the local stack did not start in {STACK_START_SECONDS} s")
        time.sleep(0.2)
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def _account(state: Path, email: str) -> str:
    done = subprocess.run(
        [str(BIN / "tailorcast"), "account", "create", "--email", email, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    token = done.stdout.strip()
    # On Agency (subscribed through the local checkout, as a seller would): every route is open
    # (API keys, branding) and the hour's request budget is far above the run's.
    from tailorcast_cli.billing import subscribe_with_test_card

    subscribe_with_test_card(TailorcastClient(_api_url(state), token), "agency")
    return token


def _api_url(state: Path) -> str:
    return str(json.loads((state / "stack.json").read_text())["api"])


def _seed(info: dict[str, Any], tokens: list[str], problems: list[str]) -> Path:
    """Records whose ids the hooks put in paths; the second set is for destructive operations.
    A record that cannot be made is left out (its ids are only generated) and noted in
    ``problems``: each is a failure of the run."""
    me = TailorcastClient(info["api"], tokens[0])
    peer = TailorcastClient(info["api"], tokens[1])
    kept: dict[str, str] = {}
    spare: dict[str, str] = {}

    def attempt(what: str, make: Callable[[], None]) -> None:
        try:
            make()
        except ApiError as exc:
            problems.append(f"seeding {what}: {exc}")

    try:
        kept.update(_campaign_with_prospects(me, "fuzz"))
        spare.update(_campaign_with_prospects(me, "fuzz spare"))
        peer.create_campaign("the other tenant's")
        attempt("a webhook endpoint", lambda: _endpoint(me, kept))
        attempt("a webhook endpoint", lambda: _endpoint(me, spare))
        attempt("a pronunciation", lambda: kept.update(name=me.put_pronunciation("Siobhan", "shi-VAWN").name))
        attempt("a pronunciation", lambda: spare.update(name=me.put_pronunciation("Niamh", "NEEV").name))
        _finished_render(info["env"], me.me().account.account_id, kept["campaign_id"], kept["prospect_id"])
        url = me.watch_link(kept["campaign_id"], kept["prospect_id"]).watch_url
        assert url is not None, "the stack gives no watch links (its watch site's URL is not set)"
        kept["token"] = spare["token"] = url.rsplit("/", 1)[-1]
    finally:
        me.close()
        peer.close()
    manifest = json.loads((ROOT / "chalicelib" / "web" / "dist" / "manifest.json").read_text())
    path = OUT / "seeds.json"
    path.write_text(
        json.dumps({"ids": kept, "spare": spare, "asset": sorted(manifest.values())[0]}, indent=2)
    )
    return path


def _endpoint(client: TailorcastClient, into: dict[str, str]) -> None:
    into["endpoint_id"] = client.create_webhook(LOOPBACK_RECEIVER).endpoint_id


def _finished_render(env: dict[str, str], account_id: str, campaign_id: str, prospect_id: str) -> None:
    """The record a completed render leaves, so that the watch page, its beacons and the video
    routes answer as for a sent video. Its media is not made (a render takes minutes here)."""
    from chalicelib import dependencies
    from chalicelib.domain.models import ProspectVideo, RenderWindow, VideoStatus, new_id

    saved = dict(os.environ)
    os.environ.update(env)
    dependencies.reset()
    try:
        render_id = new_id("rnd")
        dependencies.get_video_repo().save(
            ProspectVideo(
                account_id=account_id,
                campaign_id=campaign_id,
                prospect_id=prospect_id,
                render_id=render_id,
                status=VideoStatus.COMPLETED,
                base_upload_id="upl_fuzz",
                window=RenderWindow(start=0.5, end=1.5),
                first_segment=0,
                segment_count=1,
                prefix=f"{account_id}/{campaign_id}/videos/{prospect_id}/{render_id}",
                master="master.m3u8",
                poster="poster.jpg",
            )
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        dependencies.reset()


def _campaign_with_prospects(client: TailorcastClient, name: str) -> dict[str, str]:
    campaign_id = client.create_campaign(name, "", "Hi {first_name}, this is for {company}.").campaign_id
    csv = OUT / f"{campaign_id}.csv"
    csv.write_bytes(PROSPECTS_CSV)
    ticket = client.upload(campaign_id, "prospects_csv", csv, "text/csv")
    done = client.wait_for_import(campaign_id, ticket.upload_id)
    if done.status != "completed":
        raise SystemExit(f"seeding: the prospects import ended {done.status}: {done.reason}")
    prospects = client.prospects(campaign_id)
    return {
        "campaign_id": campaign_id,
        "import_id": ticket.upload_id,
        "prospect_id": prospects[0].prospect_id,
    }


def _schemathesis(api: str, tokens: list[str], seeds: Path, origin_verify: str, extra: list[str]) -> int:
    command = [str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run", f"{api}/openapi.json"]
    for operation_id in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation_id]
    command += ["--report", "json", "--report-json-path", str(OUT / "report.json"), *extra]
    env = {
        **os.environ,
        "TAILORCAST_FUZZ_TOKEN": tokens[0],
        "TAILORCAST_FUZZ_PEER_TOKEN": tokens[1],
        "TAILORCAST_FUZZ_ORIGIN_VERIFY": origin_verify,
        "TAILORCAST_FUZZ_SEEDS": str(seeds),
        "TAILORCAST_FUZZ_COUNT": str(OUT / "count.json"),
        "NO_PROXY": "127.0.0.1",
    }
    return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode


def _unhandled_errors(log_path: Path) -> list[dict[str, Any]]:
    """The stack's ``unhandled error`` log lines, one per route and place raised, with a count."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        trace = str(record.get("exception", ""))
        if not trace:
            continue
        frames = [f.strip() for f in trace.splitlines() if f.strip().startswith('File "')]
        where = frames[-1].replace(str(ROOT) + "/", "") if frames else "?"
        last = trace.strip().splitlines()[-1]
        seen[(f"{record.get('method', '?')} {record.get('route', '?')}", where, last)] += 1
    return [
        {"route": route, "raised_at": where, "error": error, "count": count}
        for (route, where, error), count in sorted(seen.items())
    ]


if __name__ == "__main__":
    sys.exit(main())
