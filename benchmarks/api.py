"""``tailorcast bench api``: what the plan checks cost the authenticated API.

The local stack is started in this process and an Agency seller (the highest limits, so nothing
is refused) sends a realistic mix of requests through HTTP, as the console or an API client would:
listing and reading campaigns and prospects, ``/me`` and ``/me/usage``, editing a campaign, and
creating and deleting one. The same mix is sent **with** the plan checks (the per-plan hourly rate
limit: one atomic ``UpdateItem``; campaigns counted in the creating transaction) and **without**
them (``TAILORCAST_ENFORCE_PLAN_LIMITS=false``, the switch that exists for this baseline only),
in alternating rounds of one run, so both see the same machine and the same table.

Every DynamoDB call the API makes is counted (botocore's ``before-call`` event on each client, in
process) between a request's start and its answer: the **round trips per request** of each mode.
Targets: at most 1 added round trip per request, at most 10 % added median latency.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import Progress, Result, load_average, local_stack, machine, measured_at, silent

TARGET_ADDED_ROUND_TRIPS = 1.0
TARGET_ADDED_MEDIAN = 0.10
MODES = ("with_checks", "without_checks")


class _RoundTrips:
    """Counts DynamoDB API calls made by any botocore client in this process."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._original: Any = None

    @contextmanager
    def installed(self) -> Iterator[_RoundTrips]:
        from botocore.client import BaseClient

        original = getattr(BaseClient, "_make_api_call")  # noqa: B009  (private: not in the stubs)
        counter = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                with counter._lock:
                    counter.count += 1
            return original(client, operation, params)

        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def _seller(stack: Any) -> tuple[str, str]:
    """A seller signed up through the stack's Cognito and subscribed to Agency through the local
    Stripe checkout (as a seller would); their account id and access token."""
    from tailorcast_cli.billing import subscribe_with_test_card
    from tailorcast_cli.client import TailorcastClient

    tokens = stack.sign_up("bench@example.com", "Bench-Seller-Pass1")
    client = TailorcastClient(stack.endpoints.api, tokens.access_token)
    subscribe_with_test_card(client, "agency")
    return client.me().account.account_id, str(tokens.access_token)


def _prospects(account_id: str, campaign_id: str, n: int) -> None:
    from chalicelib import dependencies as deps
    from chalicelib.domain.models import Prospect, new_id

    repo = deps.get_prospect_repo()
    for i in range(n):
        repo.add(
            Prospect(
                account_id=account_id,
                campaign_id=campaign_id,
                prospect_id=new_id("pros"),
                first_name=f"Name{i}",
                last_name="Bench",
                email=f"p{i}@example.com",
                company="Acme",
            )
        )


def _set_mode(mode: str) -> None:
    from chalicelib.settings import get_settings

    os.environ["TAILORCAST_ENFORCE_PLAN_LIMITS"] = "true" if mode == "with_checks" else "false"
    get_settings.cache_clear()


def _mix(http: httpx.Client, campaign_id: str, i: int) -> Iterator[tuple[str, str, str, Any]]:
    """One pass of the mix: (kind, method, path, body)."""
    yield "list campaigns", "GET", "/campaigns?limit=20", None
    yield "get campaign", "GET", f"/campaigns/{campaign_id}", None
    yield "list prospects", "GET", f"/campaigns/{campaign_id}/prospects?limit=25", None
    yield "me", "GET", "/me", None
    yield "usage", "GET", "/me/usage", None
    yield "edit campaign", "PATCH", f"/campaigns/{campaign_id}", {"description": f"pass {i}"}
    yield "create campaign", "POST", "/campaigns", {"name": f"bench {i}"}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_api_bench(rounds: int = 6, passes: int = 15, progress: Progress = silent) -> Result:
    """Median and p95 latency and DynamoDB round trips per request, with and without the checks."""
    with tempfile.TemporaryDirectory(prefix="tailorcast-bench-api-") as tmp, local_stack(Path(tmp)) as stack:
        assert stack.endpoints is not None
        account_id, token = _seller(stack)
        http = httpx.Client(
            base_url=stack.endpoints.api, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )
        created = http.post("/campaigns", json={"name": "bench", "script": "Hi {first_name}"})
        created.raise_for_status()
        campaign_id = created.json()["campaign_id"]
        _prospects(account_id, campaign_id, 50)
        latency: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
        trips: dict[str, dict[str, list[int]]] = {m: {} for m in MODES}
        counter = _RoundTrips()
        with counter.installed():
            for warm in MODES:  # warm both paths (clients, caches) before measuring
                _set_mode(warm)
                for _kind, method, path, body in _mix(http, campaign_id, -1):
                    http.request(method, path, json=body)
            for r in range(rounds):
                order = MODES if r % 2 == 0 else MODES[::-1]
                for mode in order:
                    _set_mode(mode)
                    progress(f"round {r + 1}/{rounds}: {mode}")
                    made: list[str] = []
                    for p in range(passes):
                        for kind, method, path, body in _mix(http, campaign_id, r * passes + p):
                            before = counter.count
                            start = time.perf_counter()
                            answer = http.request(method, path, json=body)
                            elapsed = time.perf_counter() - start
                            if answer.status_code >= 400:
                                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
                            trips[mode].setdefault(kind, []).append(counter.count - before)
                            latency[mode].setdefault(kind, []).append(elapsed)
                            if kind == "create campaign":
                                made.append(answer.json()["campaign_id"])
                    for cid in made:  # deleting is part of the mix too
                        before = counter.count
                        start = time.perf_counter()
                        http.delete(f"/campaigns/{cid}").raise_for_status()
                        latency[mode].setdefault("delete campaign", []).append(time.perf_counter() - start)
                        trips[mode].setdefault("delete campaign", []).append(counter.count - before)
        _set_mode("with_checks")
        http.close()

    def summary(mode: str) -> dict[str, Any]:
        every = [x for xs in latency[mode].values() for x in xs]
        all_trips = [x for xs in trips[mode].values() for x in xs]
        return {
            "requests": len(every),
            "median_ms": round(statistics.median(every) * 1000, 2),
            "p95_ms": round(_percentile(every, 0.95) * 1000, 2),
            "round_trips_per_request": round(statistics.mean(all_trips), 3),
            "by_request": {
                kind: {
                    "median_ms": round(statistics.median(xs) * 1000, 2),
                    "round_trips": round(statistics.mean(trips[mode][kind]), 2),
                }
                for kind, xs in sorted(latency[mode].items())
            },
        }

    with_checks, without = summary("with_checks"), summary("without_checks")
    added_trips = {
        kind: round(
            with_checks["by_request"][kind]["round_trips"] - without["by_request"][kind]["round_trips"], 2
        )
        for kind in with_checks["by_request"]
    }
    median_ratio = with_checks["median_ms"] / without["median_ms"]
    p95_ratio = with_checks["p95_ms"] / without["p95_ms"]
    max_added = max(added_trips.values())
    return {
        "benchmark": "api",
        "measured_at": measured_at(),
        "machine": machine(python=True),
        "load_average": load_average(),
        "setup": {
            "plan": "agency",
            "rounds": rounds,
            "passes_per_round": passes,
            "mix": sorted(with_checks["by_request"]),
            "prospects_in_campaign": 50,
            "baseline": "the same requests with TAILORCAST_ENFORCE_PLAN_LIMITS=false, alternating rounds",
        },
        "with_checks": with_checks,
        "without_checks": without,
        "added_round_trips_by_request": added_trips,
        "added_round_trips_max": max_added,
        "added_round_trips_mean": round(
            with_checks["round_trips_per_request"] - without["round_trips_per_request"], 3
        ),
        "median_ratio": round(median_ratio, 3),
        "p95_ratio": round(p95_ratio, 3),
        "targets": {
            "added_round_trips_max": TARGET_ADDED_ROUND_TRIPS,
            "added_median": TARGET_ADDED_MEDIAN,
        },
        "targets_met": {
            "round_trips": max_added <= TARGET_ADDED_ROUND_TRIPS,
            "median": median_ratio <= 1 + TARGET_ADDED_MEDIAN,
        },
    }
