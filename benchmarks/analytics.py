"""``tailorcast bench analytics``: campaign analytics over 1,000,000 engagement events.

The events are synthetic but shaped like the product's (the contract of issue 7, every column):
several accounts and campaigns with variants, every prospect's ``sent`` event, people who open,
play, send heartbeats with watched ranges every 5 s, cross quartiles, pause, end, click the CTA or
change quality, and bots mixed in (scanners' HEADs and GETs, GETs with no play after them, hits
seconds after the send, impossible timings), over 30 days, busier in working hours. They are laid
out as Firehose writes them with the stream's buffering hints (CDK's: an object per 60 s or 5 MiB,
``events/dt=YYYY-MM-DD/{stream}-1-YYYY-MM-DD-HH-MM-SS-{uuid}``, keyed by the batch's first
arrival), uploaded into the local stack's analytics bucket (moto's S3, through the stack, so its
S3 mirror and Athena's change feed see them), and read through the stack's Glue table.

**Ours** is the product's path: ``AthenaAnalytics.campaign`` (boto3 ``athena``) against the Athena
stand-in: the query started, polled, its results paged back and parsed. The stand-in builds its
columnar cache in the background as the stack reports each write (its change feed), so *cold*
is the first query's wall time **from the moment the last write was acknowledged**: whatever the
builder has not applied by then is applied by that query (nothing is waited for before the clock
starts). The run also reports how far behind the builder was at the last write, how long it took
to catch up (``wait_idle`` from the last write, in a thread beside the query), and the write phase
with the builder running (``background=False`` measures it without: the cache is then built by
the first query, as before). *Warm* is every query after it (median of ``runs``).

**Baseline**, measured in the same run: the same SQL (bound and translated the same way) run by
DuckDB straight over the raw JSON-lines files on local disk, i.e. the stand-in without its
columnar cache (and without any HTTP or S3 in the way, so it is the favourable case for it).
Both must give the same answer; the run says whether they did.

The watch page's weight (issue 7's other target) is measured by ``benchmarks.pageweight``.
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import Progress, Result, load_average, local_stack, machine, silent
from devstack.stack import LocalStack

TARGET_SECONDS = 1.0
COLD_TARGET_SECONDS = 10.0
#: Firehose's buffering hints in the cloud (infrastructure/cdk: EVENTS_BUFFER_SECONDS / _MIB).
BUFFER_SECONDS = 60
BUFFER_MIB = 5
UPLOAD_WORKERS = 8
COLD_TIMEOUT_SECONDS = 1800
TIMED = ("acct_bench", "camp_bench_1")

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
)
SCANNER_AGENTS = (
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro) SafeLinks",
    "Mimecast-URL-Protect/1.0",
)


@dataclass(frozen=True)
class CampaignSpec:
    account_id: str
    campaign_id: str
    prospects: int
    weight: float  # share of the sessions
    variants: tuple[str, ...]
    duration: float  # the video, seconds
    send_day: int  # days after the first day


CAMPAIGNS = (
    CampaignSpec(*TIMED, 8_000, 0.40, ("default", "b"), 90.0, 1),
    CampaignSpec("acct_bench", "camp_bench_2", 3_000, 0.10, ("default",), 60.0, 4),
    CampaignSpec("acct_bench", "camp_bench_3", 3_000, 0.10, ("default", "b", "c"), 75.0, 9),
    CampaignSpec("acct_bench", "camp_bench_4", 2_000, 0.05, ("default",), 45.0, 15),
    CampaignSpec("acct_bench", "camp_bench_5", 2_000, 0.05, ("default", "b"), 120.0, 20),
    CampaignSpec("acct_other_1", "camp_other_1", 5_000, 0.15, ("default",), 60.0, 2),
    CampaignSpec("acct_other_2", "camp_other_2", 5_000, 0.15, ("default", "b"), 80.0, 6),
)
#: Session kinds and their shares: people, and the bots engagement analytics must not count.
KINDS = (
    ("human", 0.74),
    ("scanner", 0.10),
    ("get_without_play", 0.08),
    ("too_soon_after_send", 0.05),
    ("impossible_timing", 0.03),
)


@dataclass(frozen=True)
class _Seed:
    start_ms: int
    kind: str  # a session kind, or "send"
    campaign: int
    prospect: int
    seed: int


class EventGenerator:
    """Deterministic synthetic events (``seed``) over ``days`` days ending yesterday (UTC)."""

    def __init__(self, days: int = 30, seed: int = 7) -> None:
        self.days = days
        self.first_day = datetime.now(UTC).date() - timedelta(days=days)
        self._origin = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=UTC)
        self._rng = random.Random(seed)  # noqa: S311 (test data)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    def _ms(self, day: float, hour: float) -> int:
        return int((self._origin + timedelta(days=day, hours=hour)).timestamp() * 1000)

    def seeds(self, total: int) -> tuple[list[_Seed], int]:
        """Sessions (and campaign sends) in time order, enough for ``total`` events; the count of
        events the last one may keep (so that there are exactly ``total``)."""
        minimum = sum(c.prospects for c in CAMPAIGNS)
        if total <= minimum:
            raise ValueError(f"at least {minimum + 1:,} events: every prospect's sent event is {minimum:,}")
        rng, out, count = self._rng, [], 0
        for index, spec in enumerate(CAMPAIGNS):
            seed = _Seed(self._ms(spec.send_day, 14), "send", index, 0, rng.getrandbits(32))
            out.append(seed)
            count += spec.prospects
        weights = [c.weight for c in CAMPAIGNS]
        kinds = [kind for kind, _ in KINDS]
        shares = [share for _, share in KINDS]
        end_ms = self._ms(self.days, 0)
        while count < total:
            index = rng.choices(range(len(CAMPAIGNS)), weights)[0]
            spec = CAMPAIGNS[index]
            kind = rng.choices(kinds, shares)[0]
            send_ms = self._ms(spec.send_day, 14)
            if kind in ("scanner", "too_soon_after_send"):
                start = send_ms + rng.randint(2_000, 50_000)  # scanners follow the send at once
            else:  # people open within hours to days, more in working hours
                start = send_ms + int(rng.lognormvariate(10.0, 1.4) * 1000)
                hour = datetime.fromtimestamp(start / 1000, UTC).hour
                if not 7 <= hour <= 19 and rng.random() < 0.6:
                    start += 12 * 3600 * 1000
            if start >= end_ms - 3_600_000:
                continue
            seed = _Seed(start, kind, index, rng.randrange(spec.prospects), rng.getrandbits(32))
            count += len(self.expand(seed))
            out.append(seed)
        out.sort(key=lambda s: s.start_ms)
        return out, len(self.expand(out[-1])) - (count - total)

    def expand(self, seed: _Seed) -> list[dict[str, Any]]:
        """The events of one session (or of one campaign's send), each with every column."""
        rng = random.Random(seed.seed)  # noqa: S311 (test data)
        spec = CAMPAIGNS[seed.campaign]
        if seed.kind == "send":
            return [
                self._event(rng, spec, p, "sent", seed.start_ms + p * 40, None, agent=None, ip=None)
                for p in range(spec.prospects)
            ]
        session = f"ses_{rng.getrandbits(80):020x}"
        t = seed.start_ms
        agent = rng.choice(USER_AGENTS)
        ev = self._event
        p = seed.prospect
        if seed.kind == "scanner":
            scanner = rng.choice(SCANNER_AGENTS)
            return [
                ev(
                    rng,
                    spec,
                    p,
                    "page_request",
                    t,
                    None,
                    agent=scanner,
                    method="HEAD",
                    bot_reason="head_request",
                ),
                ev(
                    rng,
                    spec,
                    p,
                    "page_request",
                    t + 300,
                    None,
                    agent=scanner,
                    method="GET",
                    bot_reason="scanner_user_agent",
                ),
            ]
        if seed.kind == "too_soon_after_send":
            return [
                ev(
                    rng,
                    spec,
                    p,
                    "page_request",
                    t,
                    None,
                    agent=agent,
                    method="GET",
                    bot_reason="too_soon_after_send",
                )
            ]
        out = [ev(rng, spec, p, "page_request", t, session, agent=agent, method="GET")]
        out.append(ev(rng, spec, p, "page_view", t + rng.randint(300, 1500), session, agent=agent))
        if seed.kind == "get_without_play":
            return out
        t += rng.randint(2_000, 9_000)
        out.append(ev(rng, spec, p, "play", t, session, agent=agent, position=0.0))
        fraction = min(
            1.0, rng.choice((0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.0, 1.0)) * rng.uniform(0.9, 1.1)
        )
        watched_total = round(spec.duration * fraction, 1)
        if seed.kind == "impossible_timing":
            out.append(
                ev(
                    rng,
                    spec,
                    p,
                    "heartbeat",
                    t + 1_000,
                    session,
                    agent=agent,
                    position=watched_total,
                    ranges=[[0.0, watched_total]],
                    watched=watched_total,
                    bot_reason="impossible_timing",
                )
            )
            return out
        position, quartiles = 0.0, [25, 50, 75, 100]
        while position < watched_total:
            step = min(5.0, watched_total - position)
            t += int(step * 1000)
            start, position = position, round(position + step, 1)
            ended = position >= spec.duration - 0.05
            out.append(
                ev(
                    rng,
                    spec,
                    p,
                    "ended" if ended else "heartbeat",
                    t,
                    session,
                    agent=agent,
                    position=position,
                    ranges=[[start, position]],
                    watched=position,
                    quality="auto",
                    speed=1.0,
                )
            )
            while quartiles and position / spec.duration * 100 >= quartiles[0] - 0.5:
                out.append(
                    ev(
                        rng,
                        spec,
                        p,
                        "quartile",
                        t + 10,
                        session,
                        agent=agent,
                        quartile=quartiles.pop(0),
                        position=position,
                        watched=position,
                    )
                )
            if rng.random() < 0.01:
                out.append(
                    ev(
                        rng,
                        spec,
                        p,
                        "quality_change",
                        t + 20,
                        session,
                        agent=agent,
                        quality="720p",
                        position=position,
                    )
                )
        if position < spec.duration - 0.05:
            out.append(ev(rng, spec, p, "pause", t + 500, session, agent=agent, position=position))
        if rng.random() < 0.12 + 0.2 * fraction:
            out.append(ev(rng, spec, p, "cta_click", t + rng.randint(1_000, 20_000), session, agent=agent))
        return out

    @staticmethod
    def _event(
        rng: random.Random,
        spec: CampaignSpec,
        prospect: int,
        kind: str,
        ts: int,
        session: str | None,
        *,
        agent: str | None,
        ip: str | None = "203.0.113.0",
        bot_reason: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event_id": f"ev_{rng.getrandbits(80):020x}",
            "type": kind,
            "ts": ts,
            "client_ts": ts - rng.randint(50, 900) if session else None,
            "account_id": spec.account_id,
            "campaign_id": spec.campaign_id,
            "prospect_id": f"{spec.campaign_id}_p{prospect:05d}",
            "render_id": f"rnd_{spec.campaign_id}_{prospect:05d}",
            "variant": spec.variants[prospect % len(spec.variants)],
            "session_id": session,
            "position": None,
            "duration": spec.duration if kind != "sent" else None,
            "watched": None,
            "ranges": None,
            "quartile": None,
            "quality": None,
            "speed": None,
            "method": None,
            "user_agent": agent,
            "ip": ip,
            "bot": bot_reason is not None,
            "bot_reason": bot_reason,
        }
        record.update(fields)
        return record

    def objects(
        self, total: int, stream: str, prefix: str, buffer_seconds: int, buffer_bytes: int
    ) -> Iterator[tuple[str, bytes, int]]:
        """(key, body, events) of each object Firehose would write, in time order."""
        from devstack.firehose import object_key

        seeds, last_keeps = self.seeds(total)
        pending: list[tuple[int, int, bytes]] = []  # (ts, n, line): a heap across sessions
        n = 0
        batch: list[bytes] = []
        batch_first = 0
        size = 0

        def close() -> tuple[str, bytes, int]:
            when = datetime.fromtimestamp(batch_first / 1000, UTC)
            return object_key(prefix, stream, when), b"".join(batch), len(batch)

        for i, seed in enumerate(seeds):
            events = self.expand(seed)
            if i == len(seeds) - 1:
                events = events[:last_keeps]
            for event in events:
                n += 1
                heapq.heappush(
                    pending, (event["ts"], n, json.dumps(event, separators=(",", ":")).encode() + b"\n")
                )
            # everything before this session's start has all arrived: deliver it in order
            horizon = seeds[i + 1].start_ms if i + 1 < len(seeds) else None
            while pending and (horizon is None or pending[0][0] < horizon):
                ts, _, line = heapq.heappop(pending)
                if batch and (ts - batch_first >= buffer_seconds * 1000 or size + len(line) > buffer_bytes):
                    yield close()
                    batch, size = [], 0
                if not batch:
                    batch_first = ts
                batch.append(line)
                size += len(line)
        if batch:
            yield close()


def run_analytics_bench(
    events: int = 1_000_000,
    runs: int = 7,
    baseline_runs: int = 3,
    days: int = 30,
    buffer_seconds: int = BUFFER_SECONDS,
    progress: Progress = silent,
    background: bool = True,
) -> Result:
    """Run the benchmark (see the module's docstring) and return its figures as a JSON-able dict.
    ``background=False`` stops the Athena stand-in's background builder first (the comparison)."""
    load_before = load_average()
    with (
        tempfile.TemporaryDirectory(prefix="tc-analyticsbench-") as tmp,
        local_stack(Path(tmp) / "state") as stack,
    ):
        if not background:
            stack.athena.stop_builder()
        result = _Bench(stack, Path(tmp), progress).run(events, runs, baseline_runs, days, buffer_seconds)
        result["ours"]["background_builder"] = background
    result["page_weight"] = _page_weight()
    result["machine"] = {
        **machine(python=True),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    return result


class _Bench:
    def __init__(self, stack: LocalStack, work: Path, progress: Progress) -> None:
        self.stack = stack
        self.raw = work / "raw"
        self.say = progress

    def run(
        self, total: int, runs: int, baseline_runs: int, days: int, buffer_seconds: int
    ) -> dict[str, Any]:
        from chalicelib.adapters import analytics_schema as schema
        from chalicelib.adapters.analytics import AthenaAnalytics
        from chalicelib.domain import analytics

        generator = EventGenerator(days)
        since, until = generator.first_day, generator.last_day
        cpu_before = time.process_time()
        layout = self._upload(generator, total, buffer_seconds)
        last_write = time.perf_counter()  # every write acknowledged: the cold clock starts here
        layout["write_cpu_seconds"] = round(time.process_time() - cpu_before, 1)
        at_last_write = self._cache_objects()
        s = self.stack.settings
        # The product's adapter as dependencies.get_analytics() builds it, but with room for the
        # cold query: without the background builder it builds the cache from every object.
        queries = AthenaAnalytics(
            self.stack.client("athena"),
            database=s.analytics_database,
            table=s.analytics_table,
            workgroup=s.athena_workgroup,
            timeout_seconds=COLD_TIMEOUT_SECONDS,
        )
        caught_up: list[float] = []  # from the last write: all applied; then files merged too
        athena = self.stack.athena

        def watch() -> None:
            for merged in (False, True):
                done = athena.wait_idle(COLD_TIMEOUT_SECONDS, merged=merged)
                caught_up.append(round(time.perf_counter() - last_write, 3) if done else -1.0)

        watcher = threading.Thread(target=watch, name="bench-catch-up")
        watcher.start()

        self.say("campaign analytics, cold (from the last write)")
        cpu_before = time.process_time()
        answer = queries.campaign(*TIMED, since, until)
        cold = time.perf_counter() - last_write
        cold_cpu = time.process_time() - cpu_before
        watcher.join()
        (cache,) = self.stack.athena.cache_stats()
        warm = []
        for i in range(runs):
            self.say(f"campaign analytics, warm {i + 1}/{runs}")
            seconds, again = _timed(lambda: queries.campaign(*TIMED, since, until))
            warm.append(seconds)
            assert again == answer
        prospect_id = f"{TIMED[1]}_p00042"
        prospect = [_timed(lambda: queries.prospect(*TIMED, prospect_id, since, until))[0] for _ in range(3)]
        account = [_timed(lambda: queries.account(TIMED[0], since, until))[0] for _ in range(3)]

        query = analytics.campaign_query(self.stack.settings.analytics_table, *TIMED, since, until)
        baseline: list[float] = []
        baseline_rows: list[dict[str, str | None]] = []
        for i in range(baseline_runs):
            self.say(f"baseline: DuckDB over the raw JSON lines {i + 1}/{baseline_runs}")
            seconds, baseline_rows = _timed(lambda: self._baseline(query, schema))
            baseline.append(seconds)
        from_baseline = analytics.campaign_engagement(
            baseline_rows, account_id=TIMED[0], campaign_id=TIMED[1], since=since, until=until
        )
        median_warm = statistics.median(warm)
        median_baseline = statistics.median(baseline)
        return {
            "benchmark": "campaign analytics over synthetic engagement events",
            "events": layout["events"],
            "days": days,
            "window": [since.isoformat(), until.isoformat()],
            "layout": layout,
            "campaign": {
                "account_id": TIMED[0],
                "campaign_id": TIMED[1],
                "events": layout["timed_campaign_events"],
                "funnel": answer.funnel.model_dump(),
                "bot_hits": answer.bots.total,
            },
            "ours": {
                "path": "AthenaAnalytics.campaign: boto3, Athena stand-in, DuckDB over its columnar cache",
                "cold_seconds": round(cold, 3),
                "cold_process_cpu_seconds": round(cold_cpu, 3),
                "cold_query_applied": cache["last_sync"],
                "objects_in_cache_at_last_write": at_last_write,
                "objects_pending_at_last_write": layout["objects"] - at_last_write,
                "background_caught_up_seconds_after_last_write": caught_up[0],
                "background_idle_seconds_after_last_write": caught_up[1],
                "background_build": cache["background"],
                "background_seconds_per_object": (
                    round(cache["background"]["seconds"] / cache["background"]["objects"], 4)
                    if cache["background"]["objects"]
                    else None
                ),
                "warm_median_seconds": round(median_warm, 3),
                "warm_runs_seconds": [round(s, 3) for s in warm],
                "prospect_warm_median_seconds": round(statistics.median(prospect), 3),
                "account_warm_median_seconds": round(statistics.median(account), 3),
                "columnar_cache_bytes": _size(self.stack.state_dir / "athena", "*.parquet"),
                "columnar_cache_files": cache["files"],
            },
            "baseline": {
                "name": "the same SQL, DuckDB straight over the raw JSON-lines files (no columnar cache)",
                "median_seconds": round(median_baseline, 3),
                "runs_seconds": [round(s, 3) for s in baseline],
                "same_answer": from_baseline == answer,
            },
            "target_seconds": TARGET_SECONDS,
            "cold_target_seconds": COLD_TARGET_SECONDS,
            "met": median_warm <= TARGET_SECONDS,
            "met_cold": cold <= COLD_TARGET_SECONDS,
            "ratio_vs_baseline": round(median_baseline / median_warm, 1) if median_warm else None,
        }

    def _upload(self, generator: EventGenerator, total: int, buffer_seconds: int) -> dict[str, Any]:
        """Generate the objects, keep a copy on disk (the baseline reads it), upload them."""
        s = self.stack.settings
        prefix = "events/dt=!{timestamp:yyyy-MM-dd}/"
        s3 = self.stack.client("s3")
        count = events = size = campaign_events = 0
        in_flight = threading.Semaphore(UPLOAD_WORKERS * 4)
        started = time.perf_counter()
        futures: list[Future[Any]] = []
        marker = f'"campaign_id":"{TIMED[1]}"'.encode()
        with ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="bench-upload") as pool:

            def put(key: str, body: bytes) -> None:
                try:
                    s3.put_object(Bucket=s.analytics_bucket, Key=key, Body=body)
                finally:
                    in_flight.release()

            for key, body, n in generator.objects(
                total, s.events_stream_name, prefix, buffer_seconds, BUFFER_MIB * 1024 * 1024
            ):
                path = self.raw / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
                in_flight.acquire()
                futures.append(pool.submit(put, key, body))
                count, events, size = count + 1, events + n, size + len(body)
                campaign_events += body.count(marker)
                if count % 1000 == 0:
                    self.say(f"{events:,} events in {count:,} objects uploaded")
        for future in futures:
            future.result()
        return {
            "events": events,
            "objects": count,
            "bytes": size,
            "timed_campaign_events": campaign_events,
            "buffering_hints": {"IntervalInSeconds": buffer_seconds, "SizeInMBs": BUFFER_MIB},
            "generate_and_upload_seconds": round(time.perf_counter() - started, 1),
        }

    def _cache_objects(self) -> int:
        """Objects the Athena stand-in's cache holds now (0 before it has one)."""
        return sum(int(c["objects"]) for c in self.stack.athena.cache_stats())

    def _baseline(self, query: Any, schema: Any) -> list[dict[str, str | None]]:
        """The same query the same way, DuckDB reading the JSON-lines files themselves."""
        from chalicelib.adapters.analytics import athena_parameter
        from devstack import athena

        columns = [(n, athena.duckdb_type(t)) for n, t in schema.COLUMNS]
        spec = "{" + ", ".join(f"'{n}': '{t}'" for n, t in columns) + "}"
        names = ", ".join(f'"{n}"' for n, _ in columns)
        con = athena.connect()
        try:
            athena.use_database(con, self.stack.settings.analytics_database)
            glob = str(self.raw / "events" / "*" / "*")
            con.execute(
                f'CREATE VIEW "{self.stack.settings.analytics_table}" AS SELECT {names}, dt FROM read_json('  # noqa: S608
                f"'{glob}', format = 'newline_delimited', columns = {spec}, ignore_errors = true, "
                "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})"
            )
            relation = con.sql(athena.translate(query.sql, [athena_parameter(p) for p in query.params]))
            kinds = [athena.athena_type(str(t))[0] for t in relation.types]
            return [
                {
                    n: athena.athena_text(v, kinds[i])
                    for i, (n, v) in enumerate(zip(relation.columns, row, strict=True))
                }
                for row in relation.fetchall()
            ]
        finally:
            con.close()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _size(root: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in root.rglob(pattern))


def _page_weight() -> dict[str, Any]:
    """The watch page's weight (:mod:`benchmarks.pageweight`, the watch page's own measurement)."""
    from benchmarks import pageweight

    return dict(pageweight.measure())
