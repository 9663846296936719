"""``tailorcast bench import``: a prospects CSV imported into the local stack's DynamoDB.

Ours is the product's import path: the ``ingest_upload`` handler (the S3-triggered Lambda) reads
the uploaded object from S3, detects its encoding and delimiter, maps the columns, validates every
row, drops duplicates (against the file and the campaign) and writes the prospects through the
repository's bulk writer (``BatchWriteItem``, 25 items a call, 4 calls in flight). It runs in a
**worker process of its own**, as a Lambda runs in its own sandbox, against the stack's moto
server in this process: on 2 cores the importer and the emulated DynamoDB each get one. The S3
notification is switched off so that the stack does not run the same import in-process too.
The clock runs around the handler call; peak memory is the worker's maximum resident set size.
CPU time is given for both sides (the worker's, and this process's while the worker runs: the
emulated DynamoDB), per 10,000 rows: on a shared machine it moves far less than wall time.

The baseline, measured in the same run on the same stack, is the import as it was before the
bulk writer: the same parsing and validation, then per row one ``TransactWriteItems`` with the
prospect and its email claim item (how uniqueness was kept then). It is timed on
``--baseline-rows`` rows and compared per row. The seed's bar (1,000 rows in under 10 s) is
reported beside it.

Files are HubSpot exports of generated contacts (accented names, custom columns), deterministic.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Progress, Result, local_stack, machine, measured_at, silent
from devstack.stack import LocalStack

TARGETS = {"seconds_for_10000": 5.0, "peak_mb_for_50000": 300.0}
HEADER = (
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Website URL,"
    "Lifecycle Stage,Contact owner,City"
)
FIRST = (
    "José", "Siobhán", "Zoë", "Priya", "Müller", "Chloé", "Björn", "Ana", "Łukasz", "Amélie",
    "Noor", "Kenji", "Ravi", "Ines", "Dmitri", "Aoife", "Mateo", "Leïla", "Søren", "Grace",
)  # fmt: skip
LAST = (
    "García", "O'Brien", "Müller", "Patel", "Nguyen", "Dubois", "Kowalski", "Rossi", "Silva",
    "Andersson", "Okafor", "Tanaka", "Smith", "Yılmaz", "Novák", "van der Berg",
)  # fmt: skip
COMPANY = ("Acme", "Globex, Inc.", "Initech", "Hooli", "Umbrella", "Stark Industries", "Wonka GmbH")
TITLE = ("VP Sales", "Head of RevOps", "CTO", "Account Executive", "Founder & CEO", "SDR Manager")
CITY = ("Dublin", "São Paulo", "Köln", "Kraków", "Austin", "Lagos", "Tokyo")


def write_hubspot_csv(path: Path, rows: int, seed: int = 6) -> Path:
    """A HubSpot contacts export of ``rows`` generated prospects (UTF-8 with a BOM, CRLF)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write(HEADER + "\r\n")
        for i in range(rows):
            first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANY)
            email = f"{first[:3].lower()}.{i}@{company.split()[0].strip(',').lower()}.example"
            quoted_company = f'"{company}"' if "," in company else company
            fh.write(
                f"{5100 + i},{first},{last},{email},+1 555 01{i % 100:02d},{quoted_company},"
                f"{rng.choice(TITLE)},https://{company.split()[0].strip(',').lower()}.example,Lead,"
                f"Sam Lee,{rng.choice(CITY)}\r\n"
            )
    return path


def run_import_bench(
    rows: int = 10_000,
    big_rows: int = 50_000,
    baseline_rows: int = 1_000,
    progress: Progress = silent,
) -> Result:
    """Run the benchmark (see the module's docstring) and return its figures as a JSON-able dict."""
    with (
        tempfile.TemporaryDirectory(prefix="tc-importbench-") as tmp,
        local_stack(Path(tmp) / "state") as stack,
    ):
        return _Bench(stack, Path(tmp), progress).run(rows, big_rows, baseline_rows)


class _Bench:
    def __init__(self, stack: LocalStack, work: Path, progress: Progress) -> None:
        self.stack = stack
        self.work = work
        self.say = progress
        self.account_id = self._account()
        # The bench plays Lambda: it runs the handler itself, in a worker, so S3 must not as well.
        s3 = stack.client("s3")
        s3.put_bucket_notification_configuration(
            Bucket=stack.settings.uploads_bucket, NotificationConfiguration={}
        )

    def _account(self) -> str:
        from chalicelib import dependencies as deps
        from chalicelib.domain.models import Account, Plan, Role, User, new_id

        account = Account(account_id=new_id("acct"), name="bench", plan=Plan.AGENCY)
        owner = User(
            account_id=account.account_id,
            user_id=new_id("user"),
            subject=new_id("sub"),
            email="bench@example.com",
            role=Role.OWNER,
        )
        deps.get_account_repo().create(account, owner)
        return account.account_id

    def _upload(self, path: Path) -> tuple[str, str]:
        """A campaign with ``path`` uploaded as its prospects CSV; returns (campaign id, key)."""
        from chalicelib import dependencies as deps
        from chalicelib.domain import campaigns as svc
        from chalicelib.domain.models import UploadKind

        campaign = svc.create_campaign(deps.get_campaign_repo(), self.account_id, path.stem)
        ticket = svc.request_upload(
            campaigns=deps.get_campaign_repo(),
            imports=deps.get_import_repo(),
            uploads=deps.get_upload_store(),
            account_id=self.account_id,
            campaign_id=campaign.campaign_id,
            kind=UploadKind.PROSPECTS_CSV,
            filename=path.name,
            content_type="text/csv",
            size_bytes=path.stat().st_size,
            max_video_bytes=1,
            max_csv_bytes=self.stack.settings.max_csv_bytes,
            ttl_seconds=600,
        )
        self.stack.client("s3").upload_file(str(path), self.stack.settings.uploads_bucket, ticket.key)
        return campaign.campaign_id, ticket.key

    def _worker(self, mode: str, key: str) -> dict[str, Any]:
        assert self.stack.endpoints is not None
        env = {
            **os.environ,
            **self.stack.settings_env(self.stack.endpoints.aws, self.stack.endpoints.mediaconvert),
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        # The stack (moto) answers in this process's threads: its CPU time while the worker runs
        # is what the emulated DynamoDB cost (robust to other load on the machine, unlike wall time).
        stack_cpu = time.process_time()
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.imports", mode, key],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the {mode} worker failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["stack_cpu_seconds"] = round(time.process_time() - stack_cpu, 3)
        return result

    def _stored(self, campaign_id: str) -> int:
        from chalicelib import dependencies as deps

        return len(deps.get_prospect_repo().email_keys(self.account_id, campaign_id))

    def _case(self, mode: str, rows: int, name: str) -> dict[str, Any]:
        path = write_hubspot_csv(self.work / f"{name}.csv", rows)
        campaign_id, key = self._upload(path)
        self.say(f"{mode}: {rows:,} rows ({path.stat().st_size / 2**20:.1f} MB)")
        figures = self._worker(mode, key)
        stored = self._stored(campaign_id)
        if stored != rows or figures["imported"] != rows:
            raise RuntimeError(f"{mode} stored {stored} of {rows} rows (import said {figures['imported']})")
        return {"rows": rows, "file_mb": round(path.stat().st_size / 2**20, 2), **figures}

    def run(self, rows: int, big_rows: int, baseline_rows: int) -> dict[str, Any]:
        ours = self._case("ours", rows, "contacts")
        baseline = self._case("rowwise", baseline_rows, "baseline")
        big = self._case("ours", big_rows, "big")
        ours_per_row = ours["seconds"] / rows
        per_10000 = 10_000 / rows
        baseline_per_row = baseline["seconds"] / baseline_rows
        return {
            "benchmark": "import",
            "measured_at": measured_at(),
            "machine": machine(python=True),
            "ours": {
                **ours,
                "rows_per_second": round(rows / ours["seconds"]),
                "importer_cpu_seconds_per_10000": round(ours["importer_cpu_seconds"] * per_10000, 2),
                "stack_cpu_seconds_per_10000": round(ours["stack_cpu_seconds"] * per_10000, 2),
                "path": "ingest_upload in a worker process: S3 read, parse, validate, dedupe, "
                "BatchWriteItem ×4 in flight",
            },
            "baseline": {
                **baseline,
                "rows_per_second": round(baseline_rows / baseline["seconds"]),
                "path": "the same parse and validation, then per row one TransactWriteItems "
                "(the prospect + its email claim), as the import did before the bulk writer",
                "seconds_for_10000_extrapolated": round(baseline_per_row * 10_000, 1),
                "importer_cpu_seconds_per_10000": round(
                    baseline["importer_cpu_seconds"] * 10_000 / baseline_rows, 2
                ),
                "stack_cpu_seconds_per_10000": round(
                    baseline["stack_cpu_seconds"] * 10_000 / baseline_rows, 2
                ),
            },
            "big_file": {**big, "rows_per_second": round(big_rows / big["seconds"])},
            "ratio_vs_baseline": round(baseline_per_row / ours_per_row, 1),
            "seed_bar": {
                "rows": 1_000,
                "seconds": 10.0,
                "ours_seconds_for_1000": round(ours_per_row * 1_000, 3),
            },
            "targets": TARGETS,
            "targets_met": {
                "seconds_for_10000": ours["seconds"] * 10_000 / rows <= TARGETS["seconds_for_10000"],
                "peak_mb_for_50000": big["peak_mb"] <= TARGETS["peak_mb_for_50000"],
            },
        }


# --------------------------------------------------------------------------- the worker process


def _peak_mb() -> float:
    """This process's peak resident set (``VmHWM``). Not ``ru_maxrss``: Linux carries the forking
    parent's size over ``exec`` into it, so a worker forked from the stack would report the stack."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ingest(key: str) -> dict[str, Any]:
    from chalicelib import dependencies as deps
    from chalicelib.domain.ingest import ingest_upload
    from chalicelib.domain.uploads import UploadKey

    deps.get_prospect_repo()  # bind the models before the clock starts (a Lambda's cold start)
    before = _peak_mb()
    cpu = _cpu()
    start = time.perf_counter()
    outcome = ingest_upload(
        key,
        accounts=deps.get_account_repo(),
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        prospects=deps.get_prospect_repo(),
        store=deps.get_upload_store(),
        probe=deps.get_media_probe(),
        limits=deps.ingest_limits(),
        start_ladder=lambda campaign: "",
    )
    seconds = time.perf_counter() - start
    parsed = UploadKey.parse(key)
    record = deps.get_import_repo().get(parsed.account_id, parsed.campaign_id, parsed.upload_id)
    if outcome.status != "completed":
        raise RuntimeError(f"the import ended {outcome.status}: {outcome.reason}")
    return {
        "seconds": round(seconds, 3),
        "imported": record.imported,
        "importer_cpu_seconds": round(_cpu() - cpu, 3),
        "peak_mb": _peak_mb(),
        "rss_before_import_mb": before,
    }


def _rowwise(key: str) -> dict[str, Any]:
    """The import before the bulk writer: per valid row, one ``TransactWriteItems`` putting the
    prospect and its email claim item, each conditioned on not existing (how uniqueness was kept)."""
    import boto3

    from chalicelib import dependencies as deps
    from chalicelib.adapters.dynamodb.repositories import _prospect_to_item
    from chalicelib.domain import prospects_csv
    from chalicelib.domain.uploads import UploadKey
    from chalicelib.settings import get_settings

    parsed = UploadKey.parse(key)
    table = get_settings().table_name
    deps.get_prospect_repo()  # bind the models
    dynamodb = boto3.client("dynamodb")
    before = _peak_mb()
    cpu = _cpu()
    start = time.perf_counter()
    imported = 0
    with deps.get_upload_store().open_stream(key) as body:
        source = prospects_csv.read_prospects_csv(body)
        for row, cells in source.records():
            found = source.prospect(row, cells, parsed.account_id, parsed.campaign_id)
            if isinstance(found, list):
                continue
            item = _prospect_to_item(found)
            item.version = 1
            claim = {"pk": {"S": item.pk}, "sk": {"S": f"EMAIL#{found.email_key}"}}
            dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {**claim, "prospect_id": {"S": found.prospect_id}},
                             "ConditionExpression": "attribute_not_exists(sk)"}},
                    {"Put": {"TableName": table, "Item": item.serialize(),
                             "ConditionExpression": "attribute_not_exists(sk)"}},
                ]
            )  # fmt: skip
            imported += 1
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "imported": imported,
        "importer_cpu_seconds": round(_cpu() - cpu, 3),
        "peak_mb": _peak_mb(),
        "rss_before_import_mb": before,
    }


def _main(argv: list[str]) -> None:
    mode, key = argv
    result = _ingest(key) if mode == "ours" else _rowwise(key)
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
