"""DynamoDB repositories (PynamoDB) implementing the domain's repository ports."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import (
    AccountItem,
    AnalyticsCacheItem,
    BatchCountersItem,
    CampaignItem,
    ClaimItem,
    CsvImportItem,
    PronunciationItem,
    ProspectItem,
    ProspectRosterItem,
    RateCounterItem,
    RenderBatchItem,
    SubjectClaimItem,
    TableItem,
    UserItem,
    VideoItem,
    WebhookDeliveryItem,
    WebhookEndpointItem,
    WebhookEventClaimItem,
)
from chalicelib.adapters.dynamodb.quotas import counted_write
from chalicelib.domain.concurrency import UPDATE_ATTEMPTS, optimistic_update
from chalicelib.domain.errors import (
    CampaignBusyError,
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    StorageError,
    StoredDataError,
    issues_from_validation,
)
from chalicelib.domain.models import (
    DEFAULT_VARIANT,
    Account,
    BaseVideo,
    BatchCounters,
    Campaign,
    CampaignCounters,
    CampaignVoice,
    CsvImport,
    NameCard,
    Page,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RowError,
    UnreadableItem,
    User,
    VideoStatus,
    VoiceStatus,
    WatchPageSettings,
    WebhookDelivery,
    WebhookEndpoint,
    fold,
    utcnow,
)
from chalicelib.domain.ports import (
    IMPORT_LEASE_SECONDS,
    CounterMove,
    ProspectQuery,
    ProspectSort,
    ProspectWriter,
    Quota,
)
from chalicelib.domain.webhooks import DELIVERY_RETENTION as WEBHOOK_DELIVERY_RETENTION

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=Model)


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def campaign_pk(account_id: str, campaign_id: str) -> str:
    return f"ACCOUNT#{account_id}#CAMPAIGN#{campaign_id}"


def subject_pk(subject: str) -> str:
    return f"SUBJECT#{subject}"


def encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, sk_prefix: str) -> str | None:
    """Decode an opaque cursor to the sort key it resumes after.

    Only the sort key travels; the partition key is always rebuilt from the caller's account,
    so a cursor can never page through another tenant's partition.

    Raises
    ------
    InvalidInputError
        If the cursor was not issued by us for this kind of listing.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sk = json.loads(base64.urlsafe_b64decode(padded))["sk"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(
            "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page")]
        ) from exc
    if not isinstance(sk, str) or not sk.startswith(sk_prefix):
        raise InvalidInputError(
            "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page")]
        )
    return sk


def _version(version: int) -> dict[str, Any]:
    """Version kwarg for a PynamoDB item: absent for a new item (→ attribute_not_exists)."""
    return {"version": version} if version else {}


def _get(model: type[M], pk: str, sk: str, kind: str, ident: str) -> M:
    try:
        return model.get(pk, sk, consistent_read=True)
    except model.DoesNotExist as exc:
        raise NotFoundError(kind, ident) from exc


def _is_condition_failure(exc: PynamoDBException) -> bool:
    return exc.cause_response_code in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def _page(
    model: type[M],
    pk: str,
    sk_prefix: str,
    limit: int,
    cursor: str | None,
    convert: Callable[[M], Any],
) -> Page[Any]:
    start = decode_cursor(cursor, sk_prefix)
    result = model.query(
        pk,
        model.sk.startswith(sk_prefix),  # type: ignore[attr-defined]
        limit=limit,
        last_evaluated_key={"pk": {"S": pk}, "sk": {"S": start}} if start else None,
        consistent_read=True,
        scan_index_forward=False,  # ULIDs sort by time: newest first
    )
    items: list[Any] = []
    unreadable: list[UnreadableItem] = []
    for item in result:
        try:
            items.append(convert(item))
        except StoredDataError as exc:  # an error on that item, never on the list around it
            sort_key = str(getattr(item, "sk", ""))
            unreadable.append(UnreadableItem(id=sort_key.split("#", 1)[-1], error=exc.message))
    last = result.last_evaluated_key
    return Page(items=items, cursor=encode_cursor(last["sk"]["S"]) if last else None, unreadable=unreadable)


# --------------------------------------------------------------------------- accounts


class DynamoAccountRepository:
    def create(self, account: Account, owner: User) -> None:
        account_item = AccountItem(
            account_pk(account.account_id),
            "ACCOUNT",
            name=account.name,
            plan=account.plan.value,
            status=account.status.value,
            trial_ends_at=account.trial_ends_at,
            trial_video_limit=account.trial_video_limit,
            videos_rendered=account.videos_rendered,
            stripe_customer_id=account.stripe_customer_id,
            created_at=account.created_at,
        )
        user_item = UserItem(
            account_pk(account.account_id),
            f"USER#{owner.user_id}",
            subject=owner.subject,
            email=str(owner.email),
            role=owner.role.value,
            created_at=owner.created_at,
        )
        claim = SubjectClaimItem(
            subject_pk(owner.subject),
            "SUBJECT",
            account_id=account.account_id,
            user_id=owner.user_id,
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(account_item, condition=AccountItem.pk.does_not_exist())
                tx.save(user_item, condition=UserItem.pk.does_not_exist())
                tx.save(claim, condition=SubjectClaimItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError("that login already belongs to an account") from exc
            raise

    def get(self, account_id: str) -> Account:
        item = _get(AccountItem, account_pk(account_id), "ACCOUNT", "account", account_id)
        return Account(
            account_id=account_id,
            name=item.name,
            plan=item.plan,
            status=item.status,
            trial_ends_at=item.trial_ends_at,
            trial_video_limit=int(item.trial_video_limit),
            videos_rendered=int(item.videos_rendered),
            stripe_customer_id=item.stripe_customer_id,
            created_at=item.created_at,
            version=int(item.version or 0),
        )

    def user_by_subject(self, subject: str) -> User:
        claim = _get(SubjectClaimItem, subject_pk(subject), "SUBJECT", "user", subject)
        item = _get(UserItem, account_pk(claim.account_id), f"USER#{claim.user_id}", "user", subject)
        return User(
            account_id=claim.account_id,
            user_id=claim.user_id,
            subject=item.subject,
            email=item.email,
            role=item.role,
            created_at=item.created_at,
        )


# --------------------------------------------------------------------------- campaigns


E = TypeVar("E", bound=BaseModel)


def _stored(model: type[E], data: dict[str, Any], what: str) -> tuple[E, list[str]]:
    """Read a sub-document an older version may have stored against today's rules: its invalid
    fields fall back to their defaults (logged, and returned so the caller can say so).

    Raises
    ------
    StoredDataError
        Even with the invalid fields reset it does not validate (a required field is bad).
    """
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        bad = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
    logger.warning("stored %s is invalid; fields reset to defaults", what, extra={"fields": bad})
    try:
        return model.model_validate({k: v for k, v in data.items() if k not in bad}), bad
    except ValidationError as exc:
        raise StoredDataError(f"the stored {what} is invalid ({', '.join(bad)})") from exc


def _stored_voice(item: CampaignItem) -> CampaignVoice:
    if not item.voice:
        return CampaignVoice()
    voice, reset = _stored(CampaignVoice, item.voice.as_dict(), "voice settings")
    if not reset:
        return voice
    error = f"the saved voice settings were invalid and were cleared ({', '.join(reset)}); set them again"
    return voice.model_copy(update={"status": VoiceStatus.NEEDS_ATTENTION, "error": error})


def _campaign_from_item(item: CampaignItem) -> Campaign:
    try:
        return _campaign_fields(item)
    except (ValidationError, StoredDataError) as exc:
        campaign_id = item.sk.removeprefix("CAMPAIGN#")
        logger.warning("a stored campaign cannot be read", extra={"campaign_id": campaign_id})
        raise StoredDataError(
            f"campaign {campaign_id!r} was saved in a form this version cannot read; delete it and "
            "create it again"
        ) from exc


def _campaign_fields(item: CampaignItem) -> Campaign:
    account_id = item.pk.removeprefix("ACCOUNT#")
    return Campaign(
        account_id=account_id,
        campaign_id=item.sk.removeprefix("CAMPAIGN#"),
        name=item.name,
        description=item.description,
        script=item.script,
        status=item.status,
        base_video=BaseVideo.model_validate(item.base_video.as_dict()) if item.base_video else None,
        pending_base_video=(
            BaseVideo.model_validate(item.pending_base_video.as_dict()) if item.pending_base_video else None
        ),
        voice=_stored_voice(item),
        name_card=_stored(NameCard, item.name_card.as_dict(), "name card")[0] if item.name_card else None,
        watch_page=(
            _stored(WatchPageSettings, item.watch_page.as_dict(), "watch page settings")[0]
            if item.watch_page
            else WatchPageSettings()
        ),
        active_batch_id=item.active_batch_id,
        counters=CampaignCounters(
            prospects=int(item.prospects),
            videos_rendered=int(item.videos_rendered),
            videos_failed=int(item.videos_failed),
            views=int(item.views),
        ),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version or 0),
    )


def _campaign_to_item(c: Campaign) -> CampaignItem:
    try:  # ``model_copy(update=…)`` skips validation: nothing invalid is stored, whatever the path
        Campaign.model_validate(c.model_dump())
    except ValidationError as exc:
        raise InvalidInputError("the campaign is invalid", issues_from_validation(exc, "campaign")) from exc
    return CampaignItem(
        account_pk(c.account_id),
        f"CAMPAIGN#{c.campaign_id}",
        name=c.name,
        description=c.description,
        script=c.script,
        status=c.status.value,
        base_video=c.base_video.model_dump(mode="json") if c.base_video else None,
        pending_base_video=c.pending_base_video.model_dump(mode="json") if c.pending_base_video else None,
        voice=c.voice.model_dump(mode="json"),
        name_card=c.name_card.model_dump(mode="json") if c.name_card else None,
        watch_page=c.watch_page.model_dump(mode="json"),
        active_batch_id=c.active_batch_id,
        prospects=c.counters.prospects,
        videos_rendered=c.counters.videos_rendered,
        videos_failed=c.counters.videos_failed,
        views=c.counters.views,
        created_at=c.created_at,
        updated_at=c.updated_at,
        **_version(c.version),
    )


class DynamoCampaignRepository:
    def add(self, campaign: Campaign) -> Campaign:
        item = _campaign_to_item(campaign.model_copy(update={"version": 0}))
        try:
            item.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"campaign {campaign.campaign_id!r} already exists") from exc
            raise
        return _campaign_from_item(item)

    def get(self, account_id: str, campaign_id: str) -> Campaign:
        return _campaign_from_item(
            _get(CampaignItem, account_pk(account_id), f"CAMPAIGN#{campaign_id}", "campaign", campaign_id)
        )

    def list(self, account_id: str, limit: int, cursor: str | None) -> Page[Campaign]:
        return _page(CampaignItem, account_pk(account_id), "CAMPAIGN#", limit, cursor, _campaign_from_item)

    def save(self, campaign: Campaign) -> Campaign:
        item = _campaign_to_item(campaign)
        try:
            item.save()  # VersionAttribute adds `version = :read_version` as the condition
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
            self.get(campaign.account_id, campaign.campaign_id)  # NotFoundError if deleted
            raise ConflictError("the campaign was changed by someone else; reload it and try again") from exc
        return _campaign_from_item(item)

    def update(
        self, account_id: str, campaign_id: str, change: Callable[[Campaign], Campaign | None]
    ) -> Campaign:
        return optimistic_update(lambda: self.get(account_id, campaign_id), self.save, change)

    def delete(self, account_id: str, campaign_id: str) -> None:
        item = CampaignItem(account_pk(account_id), f"CAMPAIGN#{campaign_id}")
        try:
            item.delete(condition=CampaignItem.pk.exists(), add_version_condition=False)
        except DeleteError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("campaign", campaign_id) from exc
            raise


# --------------------------------------------------------------------------- prospects


def _prospect_from_item(item: ProspectItem) -> Prospect:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return Prospect(
        account_id=account_id,
        campaign_id=campaign_id,
        prospect_id=item.sk.removeprefix("PROSPECT#"),
        first_name=item.first_name,
        last_name=item.last_name,
        email=item.email,
        company=item.company,
        title=item.title,
        phone=item.phone,
        website=item.website,
        linkedin_url=item.linkedin_url,
        pronunciation=item.pronunciation,
        custom_fields=dict(item.custom_fields.as_dict()) if item.custom_fields else {},
        watch_token=item.watch_token,
        video_status=item.video_status,
        video_error=item.video_error,
        video_generated_at=item.video_generated_at,
        variant=item.variant or DEFAULT_VARIANT,
        watch_expires_at=item.watch_expires_at,
        watch_revoked_at=item.watch_revoked_at,
        email_sent_at=item.email_sent_at,
        video_viewed_at=item.video_viewed_at,
        video_view_count=int(item.video_view_count),
        cta_clicked_at=item.cta_clicked_at,
        cta_click_count=int(item.cta_click_count or 0),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version or 0),
    )


def _split_campaign_pk(pk: str) -> tuple[str, str]:
    account_part, campaign_part = pk.split("#CAMPAIGN#", 1)
    return account_part.removeprefix("ACCOUNT#"), campaign_part


#: Sort keys are cut to this many characters of folded text (a key is at most 1 KB).
_SORT_TEXT_CHARS = 200
#: Sorts after any folded text: prospects without a company come last in ascending order.
_LAST = "\U0010ffff"
_STATUS_RANK = {status: rank for rank, status in enumerate(VideoStatus)}


def status_key(status: VideoStatus, prospect_id: str) -> str:
    return f"{_STATUS_RANK[status]}:{status.value}#{prospect_id}"


def _status_prefix(status: VideoStatus) -> str:
    return f"{_STATUS_RANK[status]}:{status.value}#"


def prospect_index_keys(p: Prospect) -> dict[str, Any]:
    """The attributes the indexes and search read, derived from the prospect's fields (the fake
    repository orders and searches by the same values)."""
    name = fold(f"{p.first_name} {p.last_name or ''}")[:_SORT_TEXT_CHARS]
    company = fold(p.company or "")[:_SORT_TEXT_CHARS] or _LAST
    return {
        "email_key": p.email_key,
        "name_key": f"{name}#{p.prospect_id}",
        "company_key": f"{company}#{p.prospect_id}",
        "status_key": status_key(p.video_status, p.prospect_id),
        "search_text": fold(f"{p.first_name} {p.last_name or ''} {p.email} {p.company or ''}"),
        "gsi1pk": f"WATCH#{p.watch_token}",
        "gsi1sk": "PROSPECT",
    }


def _prospect_to_item(p: Prospect) -> ProspectItem:
    data = p.model_dump(
        exclude={"account_id", "campaign_id", "prospect_id", "version", "email", "video_status"}
    )
    return ProspectItem(
        campaign_pk(p.account_id, p.campaign_id),
        f"PROSPECT#{p.prospect_id}",
        email=str(p.email),
        video_status=p.video_status.value,
        **data,
        **prospect_index_keys(p),
        **_version(p.version),
    )


def _tx_connection() -> Connection:
    """The table's (cached) low-level connection, for transactions: a new ``Connection`` per
    transaction would build a new botocore client each time (~0.1 s)."""
    return TableItem._get_connection().connection


class _ProspectGone(Exception):
    """A video's prospect was deleted while the video moved (the video is stored alone)."""


class _StaleVersion(ConflictError):
    """The item changed since it was read (retried by ``update``, unlike a taken email)."""


#: Items one ``BatchWriteItem`` takes, and batches a bulk writer keeps in flight at once.
_BATCH_ITEMS = 25
_BATCHES_IN_FLIGHT = 8
_WRITER_THREADS = 4
_SEARCH_PAGE_ITEMS = 200
#: A filtered listing stops after evaluating this many items (the page is then short).
_SEARCH_MAX_EVALUATED = 5_000
_INDEX_FOR_SORT = {
    ProspectSort.NAME: ("lsi_name", "name_key"),
    ProspectSort.EMAIL: ("lsi_email", "email_key"),
    ProspectSort.COMPANY: ("lsi_company", "company_key"),
    ProspectSort.STATUS: ("lsi_status", "status_key"),
}
_IMPORT_RUNNING = "an import is adding prospects to this campaign; try again when it has finished"


class DynamoProspectRepository:
    """Prospects, one item each; email uniqueness through the campaign's roster item."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    # -- writers of the campaign's set of emails go through the roster ----------------------

    def _roster(self, pk: str) -> ProspectRosterItem | None:
        try:
            return ProspectRosterItem.get(pk, "ROSTER", consistent_read=True)
        except ProspectRosterItem.DoesNotExist:
            return None

    def _claim_email(self, pk: str, email_key: str, write: Callable[[TransactWrite], None]) -> None:
        """Run ``write`` in a transaction that also bumps the roster's revision, once no prospect of
        the campaign has ``email_key`` and no import holds the roster; retried on races."""
        for _ in range(UPDATE_ATTEMPTS):
            roster = self._roster(pk)
            revision = int(roster.revision or 0) if roster else 0
            if roster is not None and roster.holder and (roster.held_until or 0) > self._clock():
                raise CampaignBusyError(_IMPORT_RUNNING)
            if self._email_taken(pk, email_key):
                raise ConflictError(f"a prospect with email {email_key!r} is already in this campaign")
            guard = ProspectRosterItem(pk, "ROSTER")
            condition = (
                ProspectRosterItem.revision == revision
                if roster is not None
                else ProspectRosterItem.sk.does_not_exist()
            )
            try:
                with TransactWrite(connection=_tx_connection()) as tx:
                    write(tx)
                    tx.update(
                        guard, actions=[ProspectRosterItem.revision.set(revision + 1)], condition=condition
                    )
            except TransactWriteError as exc:
                reasons = [r.code if r else None for r in exc.cancellation_reasons or []]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise _StaleVersion("the prospect was changed concurrently") from exc
                if _is_condition_failure(exc):
                    continue  # the roster moved: look again
                raise
            return
        raise ConflictError("the campaign's prospects changed concurrently; try again")

    def _email_taken(self, pk: str, email_key: str) -> bool:
        return ProspectItem.by_email.count(pk, ProspectItem.email_key == email_key, consistent_read=True) > 0

    def add(self, prospect: Prospect) -> Prospect:
        item = _prospect_to_item(prospect.model_copy(update={"version": 0}))

        def write(tx: TransactWrite) -> None:
            tx.save(item, condition=ProspectItem.sk.does_not_exist())

        try:
            self._claim_email(item.pk, prospect.email_key, write)
        except _StaleVersion:
            # The prospect id is new, so an item under it can only be this very write, applied by
            # a request whose reply was lost and then retried (moto ignores ClientRequestToken).
            try:
                stored = self.get(prospect.account_id, prospect.campaign_id, prospect.prospect_id)
            except NotFoundError:
                stored = None
            if stored is None or stored.email_key != prospect.email_key:
                raise ConflictError(f"prospect {prospect.prospect_id!r} could not be added") from None
        return prospect.model_copy(update={"version": 1})

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> Prospect:
        return _prospect_from_item(
            _get(
                ProspectItem,
                campaign_pk(account_id, campaign_id),
                f"PROSPECT#{prospect_id}",
                "prospect",
                prospect_id,
            )
        )

    def get_by_watch_token(self, token: str) -> Prospect:
        if not token or len(token) > 64:
            raise NotFoundError("watch link", "")
        for item in ProspectItem.by_watch_token.query(f"WATCH#{token}", ProspectItem.gsi1sk == "PROSPECT"):
            if item.watch_token == token:  # the index is eventually consistent: trust the item
                return _prospect_from_item(item)
        raise NotFoundError("watch link", "")

    def save(self, prospect: Prospect) -> Prospect:
        current = self.get(prospect.account_id, prospect.campaign_id, prospect.prospect_id)
        if current.version != prospect.version:
            raise _StaleVersion(f"prospect {prospect.prospect_id!r} was changed concurrently")
        item = _prospect_to_item(prospect.model_copy(update={"updated_at": utcnow()}))
        if current.email_key == prospect.email_key:
            try:
                item.save(condition=ProspectItem.sk.exists())
            except PutError as exc:
                if _is_condition_failure(exc):
                    raise _StaleVersion(
                        f"prospect {prospect.prospect_id!r} was changed concurrently"
                    ) from exc
                raise
        else:

            def write(tx: TransactWrite) -> None:
                tx.save(item, condition=ProspectItem.sk.exists())

            self._claim_email(item.pk, prospect.email_key, write)
        return _prospect_from_item(item)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[Prospect], Prospect | None],
    ) -> Prospect:
        for _ in range(UPDATE_ATTEMPTS):
            current = self.get(account_id, campaign_id, prospect_id)
            changed = change(current)
            if changed is None:
                return current
            try:
                return self.save(changed)
            except _StaleVersion:
                continue
        raise ConflictError(f"prospect {prospect_id!r} kept changing; try again")

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]:
        return self.search(account_id, campaign_id, ProspectQuery(), limit, cursor)

    def search(
        self, account_id: str, campaign_id: str, query: ProspectQuery, limit: int, cursor: str | None
    ) -> Page[Prospect]:
        pk = campaign_pk(account_id, campaign_id)
        fingerprint = _query_fingerprint(query)
        start = _decode_search_cursor(cursor, fingerprint)
        index_name, sort_attr = _INDEX_FOR_SORT.get(query.sort, (None, None))
        # The base table's sort key is time-ordered (ULIDs); the other orders read an index.
        range_condition: Any = None if index_name else ProspectItem.sk.startswith("PROSPECT#")
        filters: list[Any] = []
        if query.status is not None:
            if index_name in (None, "lsi_status"):
                index_name, sort_attr = "lsi_status", "status_key"
                range_condition = ProspectItem.status_key.startswith(_status_prefix(query.status))
            else:
                filters.append(ProspectItem.video_status == query.status.value)
        needle = fold(query.search or "")
        if needle:
            filters.append(ProspectItem.search_text.contains(needle))
        filter_condition = None
        for condition in filters:
            filter_condition = condition if filter_condition is None else filter_condition & condition
        last_key = None
        if start is not None:
            last_key = {"pk": {"S": pk}, "sk": {"S": start["sk"]}}
            if sort_attr is not None:
                if not isinstance(start.get(sort_attr), str):
                    raise _bad_cursor()
                last_key[sort_attr] = {"S": start[sort_attr]}
        result = ProspectItem.query(
            pk,
            range_condition,
            filter_condition,
            consistent_read=True,
            index_name=index_name,
            scan_index_forward=not query.descending,
            last_evaluated_key=last_key,
            page_size=_SEARCH_PAGE_ITEMS if filter_condition is not None else limit,
        )
        pages = result.page_iter
        found: list[Prospect] = []
        for page in pages:
            raw_items = page.get("Items") or []
            for position, raw in enumerate(raw_items):
                found.append(_prospect_from_item(ProspectItem.from_raw_data(raw)))
                if len(found) == limit:
                    more = position < len(raw_items) - 1 or pages.last_evaluated_key is not None
                    key = {name: raw[name]["S"] for name in pages.key_names if name != "pk"}
                    return Page(items=found, cursor=_encode_search_cursor(key, fingerprint) if more else None)
            if pages.total_scanned_count >= _SEARCH_MAX_EVALUATED:
                break
        last = pages.last_evaluated_key
        if not last:
            return Page(items=found, cursor=None)
        key = {name: value["S"] for name, value in last.items() if name != "pk"}
        return Page(items=found, cursor=_encode_search_cursor(key, fingerprint))

    def iter_campaign(self, account_id: str, campaign_id: str) -> Iterator[Prospect]:
        query = ProspectItem.query(
            campaign_pk(account_id, campaign_id),
            ProspectItem.sk.startswith("PROSPECT#"),
            consistent_read=True,
            page_size=500,
        )
        for item in query:
            yield _prospect_from_item(item)

    def email_keys(self, account_id: str, campaign_id: str) -> set[str]:
        query = ProspectItem.query(
            campaign_pk(account_id, campaign_id),
            ProspectItem.sk.startswith("PROSPECT#"),
            consistent_read=True,
            attributes_to_get=["pk", "sk", "email_key"],
            page_size=2_000,
        )
        return {str(item.email_key) for item in query}

    def count_by_status(self, account_id: str, campaign_id: str) -> dict[VideoStatus, int]:
        pk = campaign_pk(account_id, campaign_id)
        return {
            status: ProspectItem.by_status.count(
                pk, ProspectItem.status_key.startswith(_status_prefix(status)), consistent_read=True
            )
            for status in VideoStatus
        }

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        item = ProspectItem(campaign_pk(account_id, campaign_id), f"PROSPECT#{prospect_id}")
        try:
            item.delete(condition=ProspectItem.sk.exists(), add_version_condition=False)
        except DeleteError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("prospect", prospect_id) from exc
            raise

    @contextlib.contextmanager
    def bulk_writer(self, account_id: str, campaign_id: str, owner: str) -> Iterator[ProspectWriter]:
        pk = campaign_pk(account_id, campaign_id)
        self._hold(pk, owner)
        writer = _BulkWriter(pk)
        try:
            writer.existing = self.email_keys(account_id, campaign_id)
            yield writer
            writer.flush()
        finally:
            writer.close()
            self._release(pk, owner)

    def _hold(self, pk: str, owner: str) -> None:
        now = self._clock()
        roster = ProspectRosterItem(pk, "ROSTER")
        free = (
            ProspectRosterItem.holder.does_not_exist()
            | (ProspectRosterItem.held_until < int(now))
            | (ProspectRosterItem.holder == owner)
        )
        try:
            roster.update(
                actions=[
                    ProspectRosterItem.holder.set(owner),
                    ProspectRosterItem.held_until.set(int(now) + IMPORT_LEASE_SECONDS),
                    ProspectRosterItem.revision.add(1),
                ],
                condition=free,
            )
        except UpdateError as exc:
            if _is_condition_failure(exc):
                raise CampaignBusyError(
                    "another import is adding prospects to this campaign; try again when it has finished"
                ) from exc
            raise

    def _release(self, pk: str, owner: str) -> None:
        try:
            ProspectRosterItem(pk, "ROSTER").update(
                actions=[
                    ProspectRosterItem.holder.remove(),
                    ProspectRosterItem.held_until.remove(),
                    ProspectRosterItem.revision.add(1),
                ],
                condition=ProspectRosterItem.holder == owner,
            )
        except UpdateError as exc:
            if not _is_condition_failure(exc):
                raise
            logger.warning("the import's hold on the campaign had already lapsed")

    def delete_campaign(self, account_id: str, campaign_id: str) -> int:
        """Delete every item in the campaign's partition (prospects, roster, imports, batches)."""
        pk = campaign_pk(account_id, campaign_id)
        deleted = 0
        with TableItem.batch_write() as batch:
            for item in TableItem.query(pk, consistent_read=True, attributes_to_get=["pk", "sk"]):
                batch.delete(item)
                deleted += 1
        return deleted


class _BulkWriter:
    """Buffers prospects into ``BatchWriteItem`` calls sent from a small thread pool."""

    def __init__(self, pk: str) -> None:
        self.pk = pk
        self.existing: set[str] = set()
        self.written = 0
        self._buffer: list[dict[str, Any]] = []
        self._pending: collections.deque[Future[int]] = collections.deque()
        self._pool = ThreadPoolExecutor(_WRITER_THREADS, thread_name_prefix="prospect-writer")
        self._lock = threading.Lock()
        self._table = TableItem.Meta.table_name
        # A client of its own: the requests are built here from validated items, so botocore's
        # parameter validation (a walk over every attribute of 25 items) is skipped; a connection
        # per writer thread.
        self._client: Any = boto3.session.Session().client(
            "dynamodb",
            region_name=TableItem.Meta.region,
            config=BotoConfig(
                parameter_validation=False,
                max_pool_connections=_WRITER_THREADS,
                retries={"mode": "standard", "max_attempts": 5},
            ),
        )

    def add(self, prospect: Prospect) -> None:
        item = _prospect_to_item(prospect.model_copy(update={"version": 0}))
        if item.pk != self.pk:
            raise ValueError("a bulk writer only writes to its own campaign")
        item.version = 1
        self._buffer.append(item.serialize())
        if len(self._buffer) == _BATCH_ITEMS:
            self._send()

    def _send(self) -> None:
        batch, self._buffer = self._buffer, []
        while len(self._pending) >= _BATCHES_IN_FLIGHT:
            self._collect(self._pending.popleft())
        self._pending.append(self._pool.submit(self._write, batch))

    def _collect(self, future: Future[int]) -> None:
        stored = future.result()
        with self._lock:
            self.written += stored

    def _write(self, items: list[dict[str, Any]]) -> int:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(8):
            try:
                reply = self._client.batch_write_item(RequestItems={self._table: requests})
            except (BotoCoreError, ClientError) as exc:
                raise StorageError("the prospects could not be stored") from exc
            requests = (reply.get("UnprocessedItems") or {}).get(self._table) or []
            if not requests:
                return len(items)
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())  # noqa: S311 (jitter, not a secret)
        raise StorageError(f"{len(requests)} prospects were still unprocessed after retries")

    def flush(self) -> None:
        if self._buffer:
            self._send()
        while self._pending:
            self._collect(self._pending.popleft())

    def close(self) -> None:
        """Wait for batches in flight (so ``written`` is right) without raising, then stop."""
        while self._pending:
            future = self._pending.popleft()
            try:
                self._collect(future)
            except Exception:
                logger.exception("a batch of prospects was not stored")
        self._pool.shutdown(wait=True)


def _query_fingerprint(query: ProspectQuery) -> str:
    text = json.dumps(
        [query.search and fold(query.search), query.status, query.sort, query.descending], default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _bad_cursor() -> InvalidInputError:
    return InvalidInputError(
        "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page of this listing")]
    )


def _encode_search_cursor(key: dict[str, str], fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key, "q": fingerprint}).encode()).decode().rstrip("=")


def _decode_search_cursor(cursor: str | None, fingerprint: str) -> dict[str, str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        key, given = data["k"], data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _bad_cursor() from exc
    if (
        given != fingerprint
        or not isinstance(key, dict)
        or not str(key.get("sk", "")).startswith("PROSPECT#")
    ):
        raise _bad_cursor()
    return {str(k): str(v) for k, v in key.items()}


# --------------------------------------------------------------------------- imports & batches


def _import_from_item(item: CsvImportItem) -> CsvImport:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return CsvImport(
        account_id=account_id,
        campaign_id=campaign_id,
        import_id=item.sk.removeprefix("IMPORT#"),
        filename=item.filename,
        key=item.key,
        status=item.status,
        size_bytes=int(item.size_bytes) if item.size_bytes is not None else None,
        total_rows=int(item.total_rows),
        imported=int(item.imported),
        duplicates=int(item.duplicates),
        failed=int(item.failed),
        errors=[RowError.model_validate(e) for e in item.errors or []],
        reason=item.reason,
        encoding=item.encoding,
        delimiter=item.delimiter,
        mapping={str(source): str(target) for source, target in item.mapping or []},
        requested_mapping=(
            {str(source): str(target) for source, target in item.requested_mapping}
            if item.requested_mapping is not None
            else None
        ),
        warnings=[str(w) for w in item.warnings or []],
        created_at=item.created_at,
        completed_at=item.completed_at,
        version=int(item.version or 0),
    )


def _import_to_item(i: CsvImport) -> CsvImportItem:
    return CsvImportItem(
        campaign_pk(i.account_id, i.campaign_id),
        f"IMPORT#{i.import_id}",
        filename=i.filename,
        key=i.key,
        status=i.status.value,
        size_bytes=i.size_bytes,
        total_rows=i.total_rows,
        imported=i.imported,
        duplicates=i.duplicates,
        failed=i.failed,
        errors=[e.model_dump(mode="json") for e in i.errors],
        reason=i.reason,
        encoding=i.encoding,
        delimiter=i.delimiter,
        mapping=[[source, target] for source, target in i.mapping.items()],
        requested_mapping=(
            [[source, target] for source, target in i.requested_mapping.items()]
            if i.requested_mapping is not None
            else None
        ),
        warnings=list(i.warnings),
        created_at=i.created_at,
        completed_at=i.completed_at,
        **_version(i.version),
    )


class DynamoCsvImportRepository:
    def add(self, item: CsvImport) -> CsvImport:
        return self.save(item.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, import_id: str) -> CsvImport:
        return _import_from_item(
            _get(
                CsvImportItem,
                campaign_pk(account_id, campaign_id),
                f"IMPORT#{import_id}",
                "import",
                import_id,
            )
        )

    def list(self, account_id: str, campaign_id: str) -> list[CsvImport]:
        query = CsvImportItem.query(
            campaign_pk(account_id, campaign_id),
            CsvImportItem.sk.startswith("IMPORT#"),
            consistent_read=True,
            scan_index_forward=False,
        )
        return [_import_from_item(i) for i in query]

    def save(self, item: CsvImport) -> CsvImport:
        record = _import_to_item(item)
        try:
            record.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"import {item.import_id!r} was changed concurrently") from exc
            raise
        return _import_from_item(record)


def _batch_from_item(item: RenderBatchItem, counters: BatchCounters | None = None) -> RenderBatch:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return RenderBatch.model_validate(
        {
            **item.data.as_dict(),
            "account_id": account_id,
            "campaign_id": campaign_id,
            "batch_id": item.sk.removeprefix("BATCH#"),
            "counters": counters or BatchCounters(),
            "version": int(item.version or 0),
        }
    )


def _counters_from_item(item: BatchCountersItem | None) -> BatchCounters:
    if item is None:
        return BatchCounters()
    return BatchCounters(
        queued=int(item.queued or 0),
        in_progress=int(item.in_progress or 0),
        completed=int(item.completed or 0),
        failed=int(item.failed or 0),
        cancelled=int(item.cancelled or 0),
    )


COUNTER_NAMES = tuple(BatchCounters.model_fields)


class DynamoRenderBatchRepository:
    def add(self, batch: RenderBatch) -> RenderBatch:
        return self.save(batch.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
        pk = campaign_pk(account_id, campaign_id)
        item = _get(RenderBatchItem, pk, f"BATCH#{batch_id}", "render batch", batch_id)
        return _batch_from_item(item, self._counters(pk, batch_id))

    def _counters(self, pk: str, batch_id: str) -> BatchCounters:
        try:
            return _counters_from_item(
                BatchCountersItem.get(pk, f"BATCHCOUNT#{batch_id}", consistent_read=True)
            )
        except BatchCountersItem.DoesNotExist:
            return BatchCounters()

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[RenderBatch]:
        pk = campaign_pk(account_id, campaign_id)
        page = _page(RenderBatchItem, pk, "BATCH#", limit, cursor, _batch_from_item)
        items = [b.model_copy(update={"counters": self._counters(pk, b.batch_id)}) for b in page.items]
        return Page(items=items, cursor=page.cursor)

    def save(self, batch: RenderBatch) -> RenderBatch:
        data = batch.model_dump(
            mode="json", exclude={"account_id", "campaign_id", "batch_id", "counters", "version"}
        )
        record = RenderBatchItem(
            campaign_pk(batch.account_id, batch.campaign_id),
            f"BATCH#{batch.batch_id}",
            status=batch.status.value,
            data=data,
            **_version(batch.version),
        )
        try:
            record.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"render batch {batch.batch_id!r} was changed concurrently") from exc
            raise
        return _batch_from_item(record, batch.counters)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        batch_id: str,
        change: Callable[[RenderBatch], RenderBatch | None],
    ) -> RenderBatch:
        return optimistic_update(lambda: self.get(account_id, campaign_id, batch_id), self.save, change)

    def set_counters(self, account_id: str, campaign_id: str, batch_id: str, counters: BatchCounters) -> None:
        BatchCountersItem(
            campaign_pk(account_id, campaign_id), f"BATCHCOUNT#{batch_id}", **counters.model_dump()
        ).save()


# --------------------------------------------------------------------------- prospect videos


def _video_from_item(item: VideoItem) -> ProspectVideo:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return ProspectVideo.model_validate(
        {
            **item.data.as_dict(),
            "account_id": account_id,
            "campaign_id": campaign_id,
            "prospect_id": item.sk.removeprefix("VIDEO#"),
            "version": int(item.version or 0),
        }
    )


def _video_status_actions(video: ProspectVideo) -> list[Any]:
    actions = [
        ProspectItem.video_status.set(video.status.value),
        ProspectItem.status_key.set(status_key(video.status, video.prospect_id)),
    ]
    if video.error:
        actions.append(ProspectItem.video_error.set(video.error))
    else:
        actions.append(ProspectItem.video_error.remove())
    if video.status is VideoStatus.COMPLETED and video.completed_at is not None:
        actions.append(ProspectItem.video_generated_at.set(video.completed_at))
    return actions


class DynamoVideoRepository:
    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> ProspectVideo:
        return _video_from_item(
            _get(
                VideoItem, campaign_pk(account_id, campaign_id), f"VIDEO#{prospect_id}", "video", prospect_id
            )
        )

    @staticmethod
    def _record(video: ProspectVideo) -> VideoItem:
        data = video.model_dump(mode="json", exclude={"account_id", "campaign_id", "prospect_id", "version"})
        return VideoItem(
            campaign_pk(video.account_id, video.campaign_id),
            f"VIDEO#{video.prospect_id}",
            render_id=video.render_id,
            status=video.status.value,
            data=data,
            **_version(video.version),
        )

    def save(self, video: ProspectVideo) -> ProspectVideo:
        return self.move(video, None)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo:
        return optimistic_update(lambda: self.get(account_id, campaign_id, prospect_id), self.save, change)

    def move(self, video: ProspectVideo, counters: CounterMove | None) -> ProspectVideo:
        """Store the video, its batch's counter move and its status on the prospect, in one
        transaction (the prospect's copy is what lists filter and sort by). A prospect deleted
        meanwhile is left alone."""
        record = self._record(video)
        try:
            self._transact(record, video, counters, with_prospect=True)
        except _ProspectGone:
            self._transact(record, video, counters, with_prospect=False)
        return _video_from_item(record)

    @staticmethod
    def _transact(
        record: VideoItem, video: ProspectVideo, counters: CounterMove | None, *, with_prospect: bool
    ) -> None:
        pk = record.pk
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(record)
                if counters is not None:
                    tally = BatchCountersItem(pk, f"BATCHCOUNT#{counters.batch_id}")
                    actions = [
                        getattr(BatchCountersItem, name).add(delta) for name, delta in counters.deltas.items()
                    ]
                    tx.update(tally, actions=actions)
                if with_prospect:  # last, so its cancellation reason is the last one
                    tx.update(
                        ProspectItem(pk, f"PROSPECT#{video.prospect_id}"),
                        actions=_video_status_actions(video),
                        condition=ProspectItem.sk.exists(),
                        add_version_condition=False,  # a status is not an edit of the prospect
                    )
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in exc.cancellation_reasons or []]
            others_fine = not any(code not in (None, "None") for code in reasons[:-1])
            if with_prospect and reasons and reasons[-1] == "ConditionalCheckFailed" and others_fine:
                raise _ProspectGone from exc
            if _is_condition_failure(exc):
                raise ConflictError(
                    f"the video of prospect {video.prospect_id!r} was changed concurrently"
                ) from exc
            raise

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        VideoItem(campaign_pk(account_id, campaign_id), f"VIDEO#{prospect_id}").delete(
            add_version_condition=False
        )

    def list_campaign(self, account_id: str, campaign_id: str) -> Iterator[ProspectVideo]:
        query = VideoItem.query(
            campaign_pk(account_id, campaign_id), VideoItem.sk.startswith("VIDEO#"), consistent_read=True
        )
        for item in query:
            yield _video_from_item(item)


# --------------------------------------------------------------------------- pronunciation lexicon


def _entry_from_item(item: PronunciationItem) -> PronunciationEntry:
    return PronunciationEntry(
        account_id=item.pk.removeprefix("ACCOUNT#"),
        key=item.sk.removeprefix("LEXICON#"),
        name=item.name,
        pronunciation=item.pronunciation,
        updated_at=item.updated_at,
    )


class DynamoLexiconRepository:
    """An account's pronunciation lexicon, in the account's own partition."""

    def put(self, entry: PronunciationEntry) -> PronunciationEntry:
        item = PronunciationItem(
            account_pk(entry.account_id),
            f"LEXICON#{entry.key}",
            name=entry.name,
            pronunciation=entry.pronunciation,
            updated_at=entry.updated_at,
        )
        item.save()
        return _entry_from_item(item)

    def get(self, account_id: str, key: str) -> PronunciationEntry:
        return _entry_from_item(
            _get(PronunciationItem, account_pk(account_id), f"LEXICON#{key}", "pronunciation", key)
        )

    def list(self, account_id: str) -> list[PronunciationEntry]:
        query = PronunciationItem.query(
            account_pk(account_id), PronunciationItem.sk.startswith("LEXICON#"), consistent_read=True
        )
        return [_entry_from_item(i) for i in query]

    def delete(self, account_id: str, key: str) -> None:
        self.get(account_id, key)  # NotFoundError for a name that is not there
        PronunciationItem(account_pk(account_id), f"LEXICON#{key}").delete()


# --------------------------------------------------------------------------- webhooks


def _endpoint_from_item(item: WebhookEndpointItem) -> WebhookEndpoint:
    return WebhookEndpoint(
        account_id=item.pk.removeprefix("ACCOUNT#"),
        endpoint_id=item.sk.removeprefix("WEBHOOK#"),
        url=item.url,
        description=item.description,
        events=list(item.events or []),
        secret=item.secret,
        enabled=bool(item.enabled),
        created_at=item.created_at,
    )


def _delivery_sk(endpoint_id: str, delivery_id: str) -> str:
    return f"DELIVERY#{endpoint_id}#{delivery_id}"


def _event_claim_sk(endpoint_id: str, event_id: str) -> str:
    # Hashed: event ids are the publisher's strings, of any shape; sort keys have a size limit.
    return f"WHEVENT#{endpoint_id}#{hashlib.sha256(event_id.encode()).hexdigest()}"


def _delivery_from_item(item: WebhookDeliveryItem) -> WebhookDelivery:
    endpoint_id, delivery_id = item.sk.removeprefix("DELIVERY#").split("#", 1)
    return WebhookDelivery(
        account_id=item.pk.removeprefix("ACCOUNT#"),
        endpoint_id=endpoint_id,
        delivery_id=delivery_id,
        event_id=item.event_id,
        event_type=item.event_type,
        payload=item.payload,
        status=item.status,
        attempts=int(item.attempts),
        last_status_code=int(item.last_status_code) if item.last_status_code is not None else None,
        last_error=item.last_error,
        created_at=item.created_at,
        last_attempt_at=item.last_attempt_at,
        delivered_at=item.delivered_at,
    )


def _delivery_to_item(d: WebhookDelivery) -> WebhookDeliveryItem:
    return WebhookDeliveryItem(
        account_pk(d.account_id),
        _delivery_sk(d.endpoint_id, d.delivery_id),
        event_id=d.event_id,
        event_type=d.event_type,
        payload=d.payload,
        status=d.status.value,
        attempts=d.attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        last_attempt_at=d.last_attempt_at,
        delivered_at=d.delivered_at,
        expires_at=d.created_at + WEBHOOK_DELIVERY_RETENTION,
    )


class DynamoWebhookRepository:
    """Endpoints and deliveries in the account's partition (see ``WebhookRepository``); each
    endpoint is counted in the account's quota counter in the transaction that adds or deletes it."""

    @staticmethod
    def _counter(account_id: str) -> Callable[[], int]:
        """Counts the stored endpoints: where a counter starts for an account that had endpoints
        before they were counted."""
        return lambda: WebhookEndpointItem.count(
            account_pk(account_id), WebhookEndpointItem.sk.startswith("WEBHOOK#"), consistent_read=True
        )

    def add_endpoint(self, endpoint: WebhookEndpoint, quota: Quota) -> WebhookEndpoint:
        item = WebhookEndpointItem(
            account_pk(endpoint.account_id),
            f"WEBHOOK#{endpoint.endpoint_id}",
            url=endpoint.url,
            description=endpoint.description,
            events=list(endpoint.events),
            secret=endpoint.secret,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
        )
        try:
            counted_write(
                endpoint.account_id,
                quota,
                +1,
                lambda tx: tx.save(item, condition=WebhookEndpointItem.sk.does_not_exist()),
                self._counter(endpoint.account_id),
            )
        except TransactWriteError as exc:  # the endpoint's own condition: its id is taken
            raise ConflictError(f"webhook endpoint {endpoint.endpoint_id!r} already exists") from exc
        return _endpoint_from_item(item)

    def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint:
        return _endpoint_from_item(
            _get(
                WebhookEndpointItem,
                account_pk(account_id),
                f"WEBHOOK#{endpoint_id}",
                "webhook endpoint",
                endpoint_id,
            )
        )

    def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        query = WebhookEndpointItem.query(
            account_pk(account_id),
            WebhookEndpointItem.sk.startswith("WEBHOOK#"),
            consistent_read=True,
            scan_index_forward=False,
        )
        try:
            return [_endpoint_from_item(i) for i in query]
        except PynamoDBException as exc:  # publishing reads this: its callers expect StorageError
            logger.exception("listing webhook endpoints failed")
            raise StorageError("the webhook endpoints could not be read; try again shortly") from exc

    def delete_endpoint(self, account_id: str, endpoint_id: str, quota: Quota) -> None:
        pk = account_pk(account_id)
        stored = WebhookEndpointItem(pk, f"WEBHOOK#{endpoint_id}")
        try:
            counted_write(
                account_id,
                quota,
                -1,
                lambda tx: tx.delete(stored, condition=WebhookEndpointItem.sk.exists()),
                self._counter(account_id),
            )
        except TransactWriteError as exc:  # the endpoint's own condition: it does not exist
            raise NotFoundError("webhook endpoint", endpoint_id) from exc
        # Its deliveries and event claims go with it (an attempt in flight then finds nothing).
        with TableItem.batch_write() as batch:
            for prefix in (f"DELIVERY#{endpoint_id}#", f"WHEVENT#{endpoint_id}#"):
                query = TableItem.query(
                    pk,
                    TableItem.sk.startswith(prefix),
                    consistent_read=True,
                    attributes_to_get=["pk", "sk"],
                )
                for item in query:
                    batch.delete(item)

    def add_delivery(self, delivery: WebhookDelivery) -> tuple[WebhookDelivery, bool]:
        item = _delivery_to_item(delivery)
        claim = WebhookEventClaimItem(
            account_pk(delivery.account_id),
            _event_claim_sk(delivery.endpoint_id, delivery.event_id),
            delivery_id=delivery.delivery_id,
            expires_at=delivery.created_at + WEBHOOK_DELIVERY_RETENTION,
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(claim, condition=WebhookEventClaimItem.sk.does_not_exist())
                tx.save(item, condition=WebhookDeliveryItem.sk.does_not_exist())
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                logger.exception("storing webhook delivery %s failed", delivery.delivery_id)
                raise StorageError("the webhook delivery could not be stored; try again shortly") from exc
            # The event already reached this endpoint: hand back that delivery, not a second one.
            existing = _get(WebhookEventClaimItem, claim.pk, claim.sk, "webhook delivery", delivery.event_id)
            return self.get_delivery(delivery.account_id, delivery.endpoint_id, existing.delivery_id), False
        return _delivery_from_item(item), True

    def get_delivery(self, account_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        return _delivery_from_item(
            _get(
                WebhookDeliveryItem,
                account_pk(account_id),
                _delivery_sk(endpoint_id, delivery_id),
                "webhook delivery",
                delivery_id,
            )
        )

    def save_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        item = _delivery_to_item(delivery)
        try:
            item.save(condition=WebhookDeliveryItem.sk.exists())
        except PutError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("webhook delivery", delivery.delivery_id) from exc
            raise
        return _delivery_from_item(item)

    def list_deliveries(
        self, account_id: str, endpoint_id: str, limit: int, cursor: str | None = None
    ) -> Page[WebhookDelivery]:
        return _page(
            WebhookDeliveryItem,
            account_pk(account_id),
            f"DELIVERY#{endpoint_id}#",
            limit,
            cursor,
            _delivery_from_item,
        )


class DynamoRateLimiter:
    """Fixed-window counters: one atomic ``ADD`` per hit, items expire by TTL."""

    def hit(self, key: str, ttl_seconds: int) -> int:
        item = RateCounterItem(f"RATE#{key}", "COUNT")
        try:
            item.update(
                actions=[
                    RateCounterItem.hits.add(1),
                    RateCounterItem.expires_at.set(utcnow() + timedelta(seconds=ttl_seconds)),
                ]
            )
        except UpdateError as exc:
            raise StorageError("the rate counter could not be updated") from exc
        return int(item.hits)

    def claim(self, keys: Sequence[str], ttl_seconds: int) -> list[bool]:
        """One conditional put per key (``attribute_not_exists``): DynamoDB lets exactly one
        writer of a key succeed. A claim past its TTL but not yet deleted still counts as taken.

        Raises
        ------
        StorageError
            A claim could not be written (this call's claims are released first).
        """
        expires_at = utcnow() + timedelta(seconds=ttl_seconds)
        seen: set[str] = set()
        firsts = []
        for key in keys:
            if key in seen:
                firsts.append(False)
                continue
            seen.add(key)
            try:
                ClaimItem(f"CLAIM#{key}", "CLAIM", expires_at=expires_at).save(
                    condition=ClaimItem.pk.does_not_exist()
                )
            except PutError as exc:
                if _is_condition_failure(exc):
                    firsts.append(False)
                    continue
                self.release([k for k, first in zip(keys, firsts, strict=False) if first])
                raise StorageError("a claim could not be written") from exc
            firsts.append(True)
        return firsts

    def release(self, keys: Sequence[str]) -> None:
        for key in dict.fromkeys(keys):
            try:
                ClaimItem(f"CLAIM#{key}", "CLAIM").delete()
            except DeleteError:
                logger.exception("could not release a claim")


class DynamoAnalyticsCache:
    """Analytics answers per account, keyed by what was asked."""

    def get(self, account_id: str, key: str) -> tuple[datetime, dict[str, Any]] | None:
        try:
            item = AnalyticsCacheItem.get(account_pk(account_id), f"ANALYTICS#{key}")
        except AnalyticsCacheItem.DoesNotExist:
            return None
        return item.computed_at, json.loads(item.value)

    def put(
        self, account_id: str, key: str, computed_at: datetime, value: dict[str, Any], ttl_seconds: int
    ) -> None:
        AnalyticsCacheItem(
            account_pk(account_id),
            f"ANALYTICS#{key}",
            computed_at=computed_at,
            value=json.dumps(value, separators=(",", ":"), default=str),
            expires_at=computed_at + timedelta(seconds=max(ttl_seconds, 60)),
        ).save()
