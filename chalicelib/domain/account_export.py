"""Account export (issue 18, item 6): a zip of everything the account has, made in the background.

``POST /account/export`` records a job and starts the ``export_account`` task; the task gathers
the account's data through the repositories, writes one JSON file per entity (and the prospects
as CSV too, formula-neutralized as every Tailorcast CSV is) into a zip in the private uploads
bucket under the account's prefix, and marks the job done; ``GET /account/exports/{id}`` then
gives a presigned link that expires. Secrets are never exported (webhook signing secrets).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.account_records import AccountJob, JobKind, JobStatus
from chalicelib.domain.contact_fields import EXPORT_COLUMNS
from chalicelib.domain.errors import StorageError, TailorcastError
from chalicelib.domain.export import neutralize_formula
from chalicelib.domain.models import CsvImport, Prospect, ProspectVideo, new_id, utcnow
from chalicelib.domain.ports import (
    AccountJobRepository,
    AccountRepository,
    AnalyticsQueries,
    CampaignRepository,
    CsvImportRepository,
    ObjectStore,
    ProfileRepository,
    ProspectRepository,
    TaskStarter,
    VideoRepository,
    WebhookRepository,
)

EXPORT_TASK = "export_account"
#: Under the private uploads bucket, beside ``uploads/`` and the campaign exports (no ingest here).
ACCOUNT_EXPORTS_PREFIX = "account-exports"
#: How far back the analytics aggregates go (the longest window the analytics read path allows).
ANALYTICS_DAYS = 366
FILENAME = "tailorcast-export.zip"


def export_key(account_id: str, export_id: str) -> str:
    return f"{ACCOUNT_EXPORTS_PREFIX}/{account_id}/{export_id}/{FILENAME}"


@dataclass(frozen=True)
class ExportPorts:
    accounts: AccountRepository
    profiles: ProfileRepository
    campaigns: CampaignRepository
    prospects: ProspectRepository
    videos: VideoRepository
    imports: CsvImportRepository
    webhooks: WebhookRepository
    analytics: AnalyticsQueries
    store: ObjectStore  # the private uploads bucket
    jobs: AccountJobRepository


def request_export(
    jobs: AccountJobRepository, tasks: TaskStarter, account_id: str, user_id: str
) -> AccountJob:
    """Record an export and start the task that makes it.

    Raises
    ------
    StorageError
        The task could not be started (the job is marked failed; asking again makes a new one).
    """
    job, _ = jobs.add(
        AccountJob(account_id=account_id, job_id=new_id("aexp"), kind=JobKind.EXPORT, requested_by=user_id)
    )
    try:
        tasks.start(EXPORT_TASK, {"account_id": account_id, "export_id": job.job_id})
    except TailorcastError as exc:
        jobs.save(
            job.model_copy(update={"status": JobStatus.FAILED, "error": exc.message, "updated_at": utcnow()})
        )
        raise
    return job


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _dump(models: Iterable[BaseModel], exclude: set[str] | None = None) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json", exclude=exclude) for m in models]


PROSPECT_CSV_COLUMNS = (
    "campaign_id",
    "prospect_id",
    *EXPORT_COLUMNS,
    "video_status",
    "variant",
    "email_sent_at",
    "video_viewed_at",
    "video_view_count",
    "cta_clicked_at",
    "cta_click_count",
    "created_at",
    "custom_fields",
)


def prospects_csv(prospects: Iterable[Prospect]) -> bytes:
    """Every prospect as one CSV (UTF-8 with BOM, every cell formula-neutralized); custom fields
    as one JSON cell (their names differ per campaign)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(PROSPECT_CSV_COLUMNS)
    for p in prospects:
        data = p.model_dump(mode="json")
        row = []
        for column in PROSPECT_CSV_COLUMNS:
            value = data.get(column)
            if column == "custom_fields":
                value = json.dumps(value or {}, ensure_ascii=False, sort_keys=True)
            row.append(neutralize_formula("" if value is None else str(value)))
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode()


def gather(ports: ExportPorts, account_id: str, today: date) -> dict[str, bytes]:
    """The export's files, by name in the zip."""
    account = ports.accounts.get(account_id)
    users = ports.profiles.users(account_id)
    profiles = [ports.profiles.get(account_id, u.user_id) for u in users]
    campaigns = []
    cursor: str | None = None
    while True:
        page = ports.campaigns.list(account_id, 100, cursor)
        campaigns.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
    prospects: list[Prospect] = []
    videos: list[ProspectVideo] = []
    imports: list[CsvImport] = []
    for campaign in campaigns:
        prospects.extend(ports.prospects.iter_campaign(account_id, campaign.campaign_id))
        videos.extend(ports.videos.list_campaign(account_id, campaign.campaign_id))
        imports.extend(ports.imports.list(account_id, campaign.campaign_id))
    endpoints = ports.webhooks.list_endpoints(account_id)
    since = today - timedelta(days=ANALYTICS_DAYS - 1)
    try:
        analytics: dict[str, Any] = ports.analytics.account(account_id, since, today).model_dump(mode="json")
    except StorageError as exc:  # the rest of the data is still the seller's to take
        analytics = {"error": f"the analytics could not be read: {exc.message}; export again later for them"}
    return {
        "account.json": _json(account.model_dump(mode="json")),
        "users.json": _json(
            [
                {
                    **u.model_dump(mode="json"),
                    "profile": p.model_dump(mode="json", exclude={"account_id", "user_id"}),
                }
                for u, p in zip(users, profiles, strict=True)
            ]
        ),
        "campaigns.json": _json(_dump(campaigns)),
        "prospects.json": _json(_dump(prospects)),
        "prospects.csv": prospects_csv(prospects),
        "videos.json": _json(_dump(videos, exclude={"task_token"})),
        "imports.json": _json(_dump(imports)),
        "webhook_endpoints.json": _json(_dump(endpoints, exclude={"secret"})),
        "analytics.json": _json(analytics),
    }


README = """Tailorcast account export

account.json            the account: plan, billing standing, branding
users.json              the team: each user and their profile and notification settings
campaigns.json          campaigns: script, voice, watch page settings, counters
prospects.json / .csv   every prospect of every campaign (the CSV is for spreadsheets)
videos.json             each prospect's current video: its status and where its files are
imports.json            CSV imports and their row errors
webhook_endpoints.json  webhook endpoints (their signing secrets are not exported)
analytics.json          engagement aggregates by month and campaign over the last year
"""


def build_zip(files: dict[str, bytes]) -> bytes:
    """The files as one deflated zip, with a README first."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", README)
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def run_export(ports: ExportPorts, account_id: str, export_id: str, today: date | None = None) -> AccountJob:
    """Make the export (the task). A job already completed is left as it is (a retried task).

    Raises
    ------
    NotFoundError
        No such export for this account.
    StorageError
        Reading or writing failed (the job says so; Lambda retries the task).
    """
    job = ports.jobs.get(account_id, JobKind.EXPORT, export_id)
    if job.status is JobStatus.COMPLETED:
        return job
    job = ports.jobs.save(
        job.model_copy(
            update={"status": JobStatus.RUNNING, "attempts": job.attempts + 1, "updated_at": utcnow()}
        )
    )
    try:
        data = build_zip(gather(ports, account_id, today or utcnow().date()))
        key = export_key(account_id, export_id)
        ports.store.put_bytes(key, data, "application/zip")
    except TailorcastError as exc:
        ports.jobs.save(
            job.model_copy(update={"status": JobStatus.FAILED, "error": exc.message, "updated_at": utcnow()})
        )
        raise
    now = utcnow()
    return ports.jobs.save(
        job.model_copy(
            update={
                "status": JobStatus.COMPLETED,
                "key": key,
                "size_bytes": len(data),
                "error": None,
                "updated_at": now,
                "finished_at": now,
            }
        )
    )


def download_link(
    jobs: AccountJobRepository,
    presign: Callable[[str, int, str], str],
    account_id: str,
    export_id: str,
    ttl_seconds: int,
) -> tuple[AccountJob, str | None]:
    """The export job and, once it is complete, a presigned link valid for ``ttl_seconds``.

    Raises
    ------
    NotFoundError
        No such export for this account.
    """
    job = jobs.get(account_id, JobKind.EXPORT, export_id)
    if job.status is not JobStatus.COMPLETED or job.key is None:
        return job, None
    return job, presign(job.key, ttl_seconds, FILENAME)
