"""Account deletion (issue 18, item 6): everything of the account removed, nothing of another.

``POST /account/deletion`` (the owner, confirming with the account's name) records the deletion
and starts the ``delete_account`` task, which goes through :data:`STEPS` in order. Each step is
idempotent, so a retried or re-requested task carries on where the last one stopped:

1. ``subscription``: the Stripe subscription is cancelled (no further charge);
2. ``objects``: every object under the account's prefixes in every bucket (:func:`account_prefixes`);
3. ``campaigns``: each campaign's partition (prospects, rosters, imports, batches, videos) and
   the campaign item; the prospects' watch tokens go with them, so sent watch links stop;
4. ``users``: each user's Cognito login and login claim (``SUBJECT#…``), then the user item,
   then the account's API keys (``APIKEY#{hash}``) and the other items outside its partitions
   that name it (invite lookups, rate-limit counters); from here on nobody can sign in to the
   account or call the API as it;
5. ``account``: those outside items again (a request still in flight may have counted one), the
   rest of the account's partition, then the deletion record and the account.

Objects are swept again before the last step, in case a render still running wrote one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.domain.account_export import ACCOUNT_EXPORTS_PREFIX
from chalicelib.domain.account_records import AccountJob, JobKind, JobStatus
from chalicelib.domain.errors import (
    FieldIssue,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TailorcastError,
)
from chalicelib.domain.export import EXPORTS_PREFIX
from chalicelib.domain.models import Role, utcnow
from chalicelib.domain.ports import (
    AccountEraser,
    AccountJobRepository,
    AccountRepository,
    IdentityDirectory,
    ObjectStore,
    ProfileRepository,
    SubscriptionCanceller,
    TaskStarter,
)
from chalicelib.domain.uploads import UPLOAD_PREFIX

logger = logging.getLogger(__name__)

DELETION_TASK = "delete_account"
#: The deletion's job id: an account has one deletion (its sort key is ``DELETION``).
DELETION_ID = "deletion"
STEPS = ("subscription", "objects", "campaigns", "users", "account")
#: The items of the account's partition deleted last, in this order.
LAST_ITEMS = ("DELETION", "ACCOUNT")


@dataclass(frozen=True)
class AccountPrefixes:
    """Where the account's objects are, per bucket (each ends in ``/``: no other account matches)."""

    uploads: tuple[str, ...]
    media: tuple[str, ...]


def account_prefixes(account_id: str) -> AccountPrefixes:
    """Every prefix the product writes the account's objects under (one definition)."""
    return AccountPrefixes(
        uploads=(
            f"{UPLOAD_PREFIX}/{account_id}/",  # base videos, CSVs, voice samples
            f"{EXPORTS_PREFIX}/{account_id}/",  # campaign exports
            f"{ACCOUNT_EXPORTS_PREFIX}/{account_id}/",  # account exports
        ),
        media=(f"{account_id}/",),  # ladders, renders, posters, logo, avatars, manifests
    )


@dataclass(frozen=True)
class DeletionPorts:
    accounts: AccountRepository
    profiles: ProfileRepository
    jobs: AccountJobRepository
    eraser: AccountEraser
    identities: IdentityDirectory
    subscriptions: SubscriptionCanceller
    uploads: ObjectStore
    media: ObjectStore


def request_deletion(
    accounts: AccountRepository,
    jobs: AccountJobRepository,
    tasks: TaskStarter,
    *,
    account_id: str,
    user_id: str,
    role: Role,
    confirm: str,
) -> AccountJob:
    """Record the deletion (once) and start, or resume, the task.

    Raises
    ------
    ForbiddenError
        The caller is not an owner of the account.
    InvalidInputError
        ``confirm`` is not the account's name (``body.confirm``).
    StorageError
        The task could not be started (asking again starts it).
    """
    if role is not Role.OWNER:
        raise ForbiddenError("only the account's owner can delete it")
    account = accounts.get(account_id)
    if confirm.strip() != account.name:
        raise InvalidInputError(
            "the confirmation does not match",
            [FieldIssue("body.confirm", f"type the account's name exactly ({account.name!r}) to delete it")],
        )
    job, created = jobs.add(
        AccountJob(account_id=account_id, job_id=DELETION_ID, kind=JobKind.DELETION, requested_by=user_id)
    )
    if created or job.status in (JobStatus.PENDING, JobStatus.FAILED):
        tasks.start(DELETION_TASK, {"account_id": account_id})
    return job


def deletion_status(jobs: AccountJobRepository, account_id: str) -> AccountJob:
    """The account's deletion. Raises NotFoundError when none was requested."""
    return jobs.get(account_id, JobKind.DELETION, DELETION_ID)


def _sweep_objects(ports: DeletionPorts, account_id: str) -> int:
    prefixes = account_prefixes(account_id)
    deleted = sum(ports.uploads.delete_prefix(p) for p in prefixes.uploads)
    return deleted + sum(ports.media.delete_prefix(p) for p in prefixes.media)


def run_deletion(ports: DeletionPorts, account_id: str) -> str:
    """Delete the account (the task). Returns ``"deleted"``, or ``"nothing"`` when there was no
    deletion to run (it finished before: the record goes last).

    Raises
    ------
    StorageError
        A store, Cognito or Stripe failed: the job records where, and a retry carries on there.
    """
    try:
        job = ports.jobs.get(account_id, JobKind.DELETION, DELETION_ID)
    except NotFoundError:
        return "nothing"
    job = ports.jobs.save(
        job.model_copy(
            update={
                "status": JobStatus.RUNNING,
                "attempts": job.attempts + 1,
                "error": None,
                "updated_at": utcnow(),
            }
        )
    )
    start = STEPS.index(job.step) if job.step in STEPS else 0
    try:
        for step in STEPS[start:]:
            job = ports.jobs.save(job.model_copy(update={"step": step, "updated_at": utcnow()}))
            _STEP[step](ports, account_id)
            logger.info("account deletion step done", extra={"step": step})
    except TailorcastError as exc:
        ports.jobs.save(
            job.model_copy(update={"status": JobStatus.FAILED, "error": exc.message, "updated_at": utcnow()})
        )
        raise
    return "deleted"


def _cancel_subscription(ports: DeletionPorts, account_id: str) -> None:
    try:
        account = ports.accounts.get(account_id)
    except NotFoundError:
        return
    if account.stripe_subscription_id:
        ports.subscriptions.cancel(account.stripe_subscription_id)


def _objects(ports: DeletionPorts, account_id: str) -> None:
    _sweep_objects(ports, account_id)


def _campaigns(ports: DeletionPorts, account_id: str) -> None:
    for campaign_id in ports.eraser.campaign_ids(account_id):
        ports.eraser.erase_campaign(account_id, campaign_id)


def _users(ports: DeletionPorts, account_id: str) -> None:
    for user in ports.profiles.users(account_id):
        ports.identities.delete_user(user.subject, str(user.email))
        ports.eraser.erase_user(user)
    ports.eraser.erase_pointers(account_id)


def _account(ports: DeletionPorts, account_id: str) -> None:
    _sweep_objects(ports, account_id)  # anything a render still running wrote meanwhile
    ports.eraser.erase_pointers(account_id)
    ports.eraser.erase_account_items(account_id, keep=LAST_ITEMS)
    ports.eraser.erase_last(account_id, LAST_ITEMS)


_STEP = {
    "subscription": _cancel_subscription,
    "objects": _objects,
    "campaigns": _campaigns,
    "users": _users,
    "account": _account,
}
