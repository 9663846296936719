"""Scheduled notifications (issue 18, item 6): the weekly engagement digest, Mondays 08:00 UTC.

Each account's owners who keep the digest on get the past week's views, plays and CTA clicks,
read through the same analytics path as ``GET /analytics``. One account failing (its analytics
query, the mailer) is logged and the walk goes on; a rerun sends nothing twice (dedupe claims).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalice.app import Blueprint, Cron

from chalicelib import dependencies as deps
from chalicelib.domain import notifications, reporting
from chalicelib.domain.analytics import AccountEngagement
from chalicelib.domain.errors import TailorcastError
from chalicelib.domain.models import utcnow
from chalicelib.domain.reporting import ReportingPorts, Window
from chalicelib.observability import logger
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


def _reporting() -> ReportingPorts:
    return ReportingPorts(
        queries=deps.get_analytics(),
        cache=deps.get_analytics_cache(),
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
    )


def digest_account(account_id: str, today: date) -> int:
    """Send one account's digest; returns the number of emails sent."""
    ports = _reporting()
    max_age = get_settings().analytics_max_age_seconds

    def engagement(since: date, until: date) -> AccountEngagement:
        return reporting.account_report(ports, account_id, Window(since, until), max_age)[0]

    def names() -> dict[str, str]:
        out: dict[str, str] = {}
        cursor: str | None = None
        while True:
            page = deps.get_campaign_repo().list(account_id, 100, cursor)
            out.update({c.campaign_id: c.name for c in page.items})
            cursor = page.cursor
            if cursor is None:
                return out

    return notifications.send_weekly_digest(deps.notification_ports(), account_id, engagement, names, today)


@bp.schedule(
    Cron(0, 8, "?", "*", "MON", "*"), name="weekly_digest", description="The weekly engagement digest"
)
def weekly_digest(event: Any) -> dict[str, int]:
    today = utcnow().date()
    accounts = sent = failed = 0
    for account_id in deps.get_account_directory().account_ids():
        accounts += 1
        try:
            sent += digest_account(account_id, today)
        except TailorcastError:
            failed += 1
            logger.exception("weekly digest failed for an account", extra={"account_id": account_id})
    logger.info("weekly digest sent", extra={"accounts": accounts, "emails": sent, "failed": failed})
    return {"accounts": accounts, "emails": sent, "failed": failed}
