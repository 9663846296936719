"""The ``lapsed`` retention tag on an account's media (issue 18, item 9; ``docs/retention.md``).

The stack's lifecycle rule expires media objects tagged ``lapsed=true`` 730 days after the
object's creation date. When an account lapses (its subscription is cancelled, or unpaid: see
:func:`~chalicelib.domain.billing.is_lapsed`) the webhook's follow-up starts the
:data:`MEDIA_RETENTION_TASK`, which tags every media object under the account's prefix; when the
account is active again the same task removes the tag.

The task follows the account's status *when it runs*, never the event's: two tasks started by a
lapse and a resubscription in quick succession both end with the media as the account now is.
It is idempotent (an object already as wanted is left alone) and resumable: it handles one page of
keys per run and starts itself again after the page's last key, so no run outgrows a Lambda's
time limit, and a failed run is retried from its page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.account_deletion import account_prefixes
from chalicelib.domain.billing import is_lapsed
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.ports import AccountRepository, MediaTagger, TaskStarter

logger = logging.getLogger(__name__)

MEDIA_RETENTION_TASK = "tag_lapsed_media"
#: The tag the lifecycle rule ``expire-lapsed-accounts-media`` filters on (CDK: LAPSED_TAG).
LAPSED_TAG_KEY = "lapsed"
LAPSED_TAG_VALUE = "true"
#: Keys handled by one run of the task (one ``ListObjectsV2`` page).
PAGE_SIZE = 1000


@dataclass(frozen=True)
class RetentionPorts:
    accounts: AccountRepository
    media: MediaTagger
    tasks: TaskStarter
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class RetagResult:
    lapsed: bool | None  # what the media was made to be (None: the account is gone)
    seen: int
    changed: int
    next_after: str | None  # where the next run starts (None: done)


def start(tasks: TaskStarter, account_id: str) -> None:
    """Start the task for the account (the billing webhook's follow-up on a lapse or return)."""
    tasks.start(MEDIA_RETENTION_TASK, {"account_id": account_id})


def retag_page(ports: RetentionPorts, account_id: str, start_after: str | None = None) -> RetagResult:
    """Make one page of the account's media match its status, then start the next page's run.

    Raises
    ------
    StorageError
        The store or the task starter failed (the run is retried from this page).
    """
    try:
        account = ports.accounts.get(account_id)
    except NotFoundError:
        return RetagResult(lapsed=None, seen=0, changed=0, next_after=None)  # deleted meanwhile
    lapsed = is_lapsed(account.status)
    (prefix,) = account_prefixes(account_id).media
    keys = ports.media.keys(prefix, start_after, ports.page_size)
    changed = sum(1 for key in keys if ports.media.set_lapsed(key, lapsed))
    next_after = keys[-1] if len(keys) == ports.page_size else None
    if next_after is not None:
        payload: dict[str, Any] = {"account_id": account_id, "start_after": next_after}
        ports.tasks.start(MEDIA_RETENTION_TASK, payload)
    logger.info(
        "media retention tag applied",
        extra={"lapsed": lapsed, "objects": len(keys), "changed": changed, "more": next_after is not None},
    )
    return RetagResult(lapsed=lapsed, seen=len(keys), changed=changed, next_after=next_after)
