"""``make fuzz``: schemathesis against the local stack's own ``/openapi.json``, bounded and seeded.

1. ``tailorcast up`` on free loopback ports, with its state in ``.tailorcast/fuzz/state`` (fresh).
2. Two accounts (``tailorcast account create``), each with a bearer token.
3. Records for path ids to resolve (``hooks.py`` mixes them into the generated ids): two campaigns
   with imported prospects, an import, webhook endpoints on a loopback URL, pronunciations, a
   watch token, an asset name.
4. ``schemathesis run`` with ``schemathesis.toml`` (checks, phases, budget, seed), as the first
   account. ``POST /webhooks`` and ``POST /webhooks/{endpoint_id}/test`` are left out: a registered
   URL receives events, and nothing may leave this machine.
5. The stack is stopped; its log is searched for unhandled errors (each is one 500, with the
   traceback the response never shows), grouped by route and where they were raised.

Prints the figures as JSON last (requests sent, seconds, failures) and exits non-zero on any
failure. Reports are in ``.tailorcast/fuzz/``.
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

from devstack.client import ApiError, TailorcastClient

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".tailorcast" / "fuzz"
CONFIG = Path(__file__).with_name("schemathesis.toml")
BIN = Path(sys.executable).parent
#: Never generated: a registered URL receives events (the run must not send anything off-machine).
EXCLUDED_OPERATIONS = ("post_webhooks", "post_webhooks_endpoint_id_test")
#: The webhook endpoints seeded for path ids point here: the discard port, on loopback.
LOOPBACK_RECEIVER = "http://127.0.0.1:9/fuzz"
PROSPECTS_CSV = b"first_name,last_name,email,company\nSiobhan,Kelly,siobhan@example.com,Acme\nJohn,Doe,john@example.com,Initech\n"
STACK_START_SECONDS = 180


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
            seeds = _seed(info["api"], tokens, problems)
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
    return done.stdout.strip()


def _seed(api: str, tokens: list[str], problems: list[str]) -> Path:
    """Records whose ids the hooks put in paths; the second set is for destructive operations.
    A record that cannot be made is left out (its ids are only generated) and noted in
    ``problems``: each is a failure of the run."""
    me = TailorcastClient(api, tokens[0])
    peer = TailorcastClient(api, tokens[1])
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
        attempt(
            "a pronunciation", lambda: kept.update(name=me.put_pronunciation("Siobhan", "shi-VAWN")["name"])
        )
        attempt("a pronunciation", lambda: spare.update(name=me.put_pronunciation("Niamh", "NEEV")["name"]))
        url = me.watch_link(kept["campaign_id"], kept["prospect_id"])["watch_url"]
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
    into["endpoint_id"] = client.create_webhook(LOOPBACK_RECEIVER)["endpoint_id"]


def _campaign_with_prospects(client: TailorcastClient, name: str) -> dict[str, str]:
    campaign_id = client.create_campaign(name, "", "Hi {first_name}, this is for {company}.")["campaign_id"]
    csv = OUT / f"{campaign_id}.csv"
    csv.write_bytes(PROSPECTS_CSV)
    ticket = client.upload(campaign_id, "prospects_csv", csv, "text/csv")
    done = client.wait_for_import(campaign_id, ticket["upload_id"])
    if done["status"] != "completed":
        raise SystemExit(f"seeding: the prospects import ended {done['status']}: {done.get('reason')}")
    prospects = client.prospects(campaign_id)
    return {
        "campaign_id": campaign_id,
        "import_id": ticket["upload_id"],
        "prospect_id": prospects[0]["prospect_id"],
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
