"""S3 ``ObjectCreated`` on the uploads bucket → validate and record the upload, start the ladder
or import the prospects."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalice.app import S3Event

from chalicelib import dependencies as deps
from chalicelib.domain.ingest import ingest_upload
from chalicelib.domain.media import start_base_ladder
from chalicelib.domain.models import Campaign
from chalicelib.observability import log_keys, logger


def _start_ladder(campaign: Campaign) -> str:
    return start_base_ladder(
        campaign,
        uploads=deps.get_upload_store(),
        media=deps.get_media_store(),
        media_jobs=deps.get_media_jobs(),
        config=deps.media_config(),
    )


def on_upload(event: S3Event) -> dict[str, Any]:
    """Registered in ``app.py`` against the configured uploads bucket (``uploads/`` prefix)."""
    outcome = ingest_upload(
        event.key,  # chalice has already URL-decoded the key
        accounts=deps.get_account_repo(),
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        prospects=deps.get_prospect_repo(),
        store=deps.get_upload_store(),
        probe=deps.get_media_probe(),
        limits=deps.ingest_limits(),
        start_ladder=_start_ladder,
    )
    log_keys(upload_kind=outcome.kind.value if outcome.kind else None)
    logger.info("upload ingested", extra={"status": outcome.status, "reason": outcome.reason})
    return dataclasses.asdict(outcome)
