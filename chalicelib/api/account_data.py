"""The account's data as a whole (issue 18, item 6): export it as a zip, or delete it.

Both run in the background (a task Lambda started asynchronously) and answer 202 with where to
follow them. The deletion is the owner's alone and is confirmed by typing the account's name.
"""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import account_deletion, account_export
from chalicelib.domain.account_records import AccountJob
from chalicelib.domain.auth import Principal
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class AccountExportOut(BaseModel):
    export_id: str
    status: str = Field(description="pending, running, completed or failed")
    download_url: str | None = Field(description="a link to the zip once completed; it expires")
    download_expires_in: int | None = Field(description="seconds the link is valid for")
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: AccountJob, url: str | None = None, ttl: int | None = None) -> AccountExportOut:
        return cls(
            export_id=job.job_id,
            status=job.status.value,
            download_url=url,
            download_expires_in=ttl if url else None,
            size_bytes=job.size_bytes,
            error=job.error,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


class DeletionRequest(Strict):
    confirm: str = Field(min_length=1, max_length=200, description="the account's name, exactly")


class DeletionOut(BaseModel):
    status: str = Field(description="pending, running or failed (once done, the account is gone)")
    step: str | None = Field(description="subscription, objects, campaigns, users or account")
    error: str | None
    requested_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: AccountJob) -> DeletionOut:
        return cls(
            status=job.status.value,
            step=job.step,
            error=job.error,
            requested_at=job.created_at,
            updated_at=job.updated_at,
        )


@route(
    bp,
    "/account/export",
    "POST",
    summary="Export the account's data (a zip of JSON files, prospects also as CSV), made in the background",
    status=202,
    response=AccountExportOut,
)
def start_export(principal: Principal) -> AccountExportOut:
    job = account_export.request_export(
        deps.get_account_job_repo(), deps.get_task_starter(), principal.account_id, principal.user_id
    )
    return AccountExportOut.of(job)


@route(
    bp,
    "/account/exports/{export_id}",
    "GET",
    summary="An account export's status, and a link to its zip once done (the link expires)",
    response=AccountExportOut,
)
def get_export(principal: Principal, export_id: str) -> AccountExportOut:
    ttl = get_settings().download_url_ttl_seconds
    job, url = account_export.download_link(
        deps.get_account_job_repo(), deps.get_upload_store().presign_get, principal.account_id, export_id, ttl
    )
    return AccountExportOut.of(job, url, ttl)


@route(
    bp,
    "/account/deletion",
    "POST",
    summary="Delete the account and everything in it (owner only; confirm with the account's name). "
    "Sent watch links stop working; the subscription is cancelled",
    body=DeletionRequest,
    status=202,
    response=DeletionOut,
)
def request_deletion(principal: Principal, body: DeletionRequest) -> DeletionOut:
    job = account_deletion.request_deletion(
        deps.get_account_repo(),
        deps.get_account_job_repo(),
        deps.get_task_starter(),
        account_id=principal.account_id,
        user_id=principal.user_id,
        role=principal.role,
        confirm=body.confirm,
    )
    return DeletionOut.of(job)


@route(bp, "/account/deletion", "GET", summary="Where the account's deletion stands", response=DeletionOut)
def get_deletion(principal: Principal) -> DeletionOut:
    return DeletionOut.of(account_deletion.deletion_status(deps.get_account_job_repo(), principal.account_id))
