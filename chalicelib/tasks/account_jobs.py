"""The account's background jobs (issue 18): ``export_account``, ``delete_account`` and
``tag_lapsed_media`` (the retention tag, started by the billing webhook).

Started asynchronously by the API (``InvocationType=Event``); Lambda retries a failed run twice,
and both are resumable: an export already done is left alone, a deletion carries on from the
step it stopped at.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import dependencies as deps
from chalicelib.domain import account_deletion, account_export, media_retention
from chalicelib.observability import log_keys, logger

bp = Blueprint(__name__)


class AccountInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str = Field(min_length=1, max_length=64)


class ExportInput(AccountInput):
    export_id: str = Field(min_length=1, max_length=64)


@bp.lambda_function(name=account_export.EXPORT_TASK)
def export_account(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ExportInput.model_validate(event)
    log_keys(account_id=request.account_id, export_id=request.export_id)
    job = account_export.run_export(deps.export_ports(), request.account_id, request.export_id)
    logger.info("account exported", extra={"size_bytes": job.size_bytes})
    return {"status": job.status.value}


@bp.lambda_function(name=account_deletion.DELETION_TASK)
def delete_account(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = AccountInput.model_validate(event)
    log_keys(account_id=request.account_id)
    outcome = account_deletion.run_deletion(deps.deletion_ports(), request.account_id)
    logger.info("account deletion finished", extra={"outcome": outcome})
    return {"status": outcome}


class RetentionInput(AccountInput):
    start_after: str | None = Field(default=None, max_length=1024)


@bp.lambda_function(name=media_retention.MEDIA_RETENTION_TASK)
def tag_lapsed_media(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = RetentionInput.model_validate(event)
    log_keys(account_id=request.account_id)
    result = media_retention.retag_page(deps.retention_ports(), request.account_id, request.start_after)
    return {
        "lapsed": result.lapsed,
        "objects": result.seen,
        "changed": result.changed,
        "next": result.next_after,
    }
