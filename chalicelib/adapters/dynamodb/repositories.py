"""DynamoDB repositories (PynamoDB) implementing the domain's repository ports."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import (
    AccountItem,
    BatchCountersItem,
    CampaignItem,
    CsvImportItem,
    EmailClaimItem,
    PronunciationItem,
    ProspectItem,
    RenderBatchItem,
    SubjectClaimItem,
    TableItem,
    UserItem,
    VideoItem,
    WebhookDeliveryItem,
    WebhookEndpointItem,
    WebhookEventClaimItem,
)
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    StorageError,
)
from chalicelib.domain.models import (
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
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from chalicelib.domain.ports import CounterMove
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


def _is_condition_failure(exc: PutError | DeleteError | TransactWriteError) -> bool:
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
    items = [convert(item) for item in result]
    last = result.last_evaluated_key
    return Page(items=items, cursor=encode_cursor(last["sk"]["S"]) if last else None)


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
            with TransactWrite(connection=Connection(region=AccountItem.Meta.region)) as tx:
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


def _campaign_from_item(item: CampaignItem) -> Campaign:
    account_id = item.pk.removeprefix("ACCOUNT#")
    return Campaign(
        account_id=account_id,
        campaign_id=item.sk.removeprefix("CAMPAIGN#"),
        name=item.name,
        description=item.description,
        script=item.script,
        status=item.status,
        base_video=BaseVideo.model_validate(item.base_video.as_dict()) if item.base_video else None,
        voice=CampaignVoice.model_validate(item.voice.as_dict()) if item.voice else CampaignVoice(),
        name_card=NameCard.model_validate(item.name_card.as_dict()) if item.name_card else None,
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
    return CampaignItem(
        account_pk(c.account_id),
        f"CAMPAIGN#{c.campaign_id}",
        name=c.name,
        description=c.description,
        script=c.script,
        status=c.status.value,
        base_video=c.base_video.model_dump(mode="json") if c.base_video else None,
        voice=c.voice.model_dump(mode="json"),
        name_card=c.name_card.model_dump(mode="json") if c.name_card else None,
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
        video_status=item.video_status,
        video_error=item.video_error,
        video_generated_at=item.video_generated_at,
        email_sent_at=item.email_sent_at,
        video_viewed_at=item.video_viewed_at,
        video_view_count=int(item.video_view_count),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version or 0),
    )


def _split_campaign_pk(pk: str) -> tuple[str, str]:
    account_part, campaign_part = pk.split("#CAMPAIGN#", 1)
    return account_part.removeprefix("ACCOUNT#"), campaign_part


class DynamoProspectRepository:
    def add(self, prospect: Prospect) -> Prospect:
        pk = campaign_pk(prospect.account_id, prospect.campaign_id)
        data = prospect.model_dump(
            exclude={"account_id", "campaign_id", "prospect_id", "version", "email", "video_status"}
        )
        item = ProspectItem(
            pk,
            f"PROSPECT#{prospect.prospect_id}",
            email=str(prospect.email),
            video_status=prospect.video_status.value,
            **data,
        )
        claim = EmailClaimItem(pk, f"EMAIL#{prospect.email_key}", prospect_id=prospect.prospect_id)
        try:
            with TransactWrite(connection=Connection(region=ProspectItem.Meta.region)) as tx:
                tx.save(claim, condition=EmailClaimItem.sk.does_not_exist())
                tx.save(item, condition=ProspectItem.sk.does_not_exist())
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(
                    f"a prospect with email {prospect.email_key!r} is already in this campaign"
                ) from exc
            raise
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

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]:
        return _page(
            ProspectItem,
            campaign_pk(account_id, campaign_id),
            "PROSPECT#",
            limit,
            cursor,
            _prospect_from_item,
        )

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        prospect = self.get(account_id, campaign_id, prospect_id)
        pk = campaign_pk(account_id, campaign_id)
        with TransactWrite(connection=Connection(region=ProspectItem.Meta.region)) as tx:
            tx.delete(ProspectItem(pk, f"PROSPECT#{prospect_id}"), add_version_condition=False)
            tx.delete(EmailClaimItem(pk, f"EMAIL#{prospect.email_key}"))

    def delete_campaign(self, account_id: str, campaign_id: str) -> int:
        """Delete every item in the campaign's partition (prospects, claims, imports, batches)."""
        pk = campaign_pk(account_id, campaign_id)
        deleted = 0
        with TableItem.batch_write() as batch:
            for item in TableItem.query(pk, consistent_read=True, attributes_to_get=["pk", "sk"]):
                batch.delete(item)
                deleted += 1
        return deleted


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
        record = self._record(video)
        try:
            record.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(
                    f"the video of prospect {video.prospect_id!r} was changed concurrently"
                ) from exc
            raise
        return _video_from_item(record)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo:
        return optimistic_update(lambda: self.get(account_id, campaign_id, prospect_id), self.save, change)

    def move(self, video: ProspectVideo, counters: CounterMove | None) -> ProspectVideo:
        if counters is None:
            return self.save(video)
        record = self._record(video)
        pk = campaign_pk(video.account_id, video.campaign_id)
        tally = BatchCountersItem(pk, f"BATCHCOUNT#{counters.batch_id}")
        actions = [getattr(BatchCountersItem, name).add(delta) for name, delta in counters.deltas.items()]
        try:
            with TransactWrite(connection=Connection(region=VideoItem.Meta.region)) as tx:
                tx.save(record)
                tx.update(tally, actions=actions)
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(
                    f"the video of prospect {video.prospect_id!r} was changed concurrently"
                ) from exc
            raise
        return _video_from_item(record)

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
    """Endpoints and deliveries in the account's partition (see ``WebhookRepository``)."""

    def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
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
            item.save(condition=WebhookEndpointItem.sk.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"webhook endpoint {endpoint.endpoint_id!r} already exists") from exc
            raise
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

    def delete_endpoint(self, account_id: str, endpoint_id: str) -> None:
        pk = account_pk(account_id)
        try:
            WebhookEndpointItem(pk, f"WEBHOOK#{endpoint_id}").delete(
                condition=WebhookEndpointItem.sk.exists()
            )
        except DeleteError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("webhook endpoint", endpoint_id) from exc
            raise
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
            with TransactWrite(connection=Connection(region=WebhookDeliveryItem.Meta.region)) as tx:
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
