"""In-memory fakes of the domain ports, with the same semantics as the DynamoDB adapters.

The repository contract tests (tests/unit/test_repository_contract.py) run one suite against
both, so a fake can never quietly drift from the real thing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from chalicelib.adapters.dynamodb.repositories import decode_cursor, encode_cursor, prospect_index_keys
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import (
    CampaignBusyError,
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    StorageError,
    UploadRejectedError,
)
from chalicelib.domain.media.jobs import JobRequest
from chalicelib.domain.models import (
    Account,
    ApiKey,
    BatchCounters,
    Campaign,
    CsvImport,
    Page,
    Plan,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    User,
    VideoProbe,
    VideoStatus,
    WebhookDelivery,
    WebhookEndpoint,
    fold,
    utcnow,
)
from chalicelib.domain.ports import (
    CounterMove,
    JobStatus,
    LedgerMove,
    ObjectInfo,
    PresignedPost,
    ProspectQuery,
    ProspectSort,
    Quota,
    VideoUsage,
)
from chalicelib.domain.webhooks import EVENT_TYPES


class FakeAccountRepository:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.users: dict[str, User] = {}

    def create(self, account: Account, owner: User) -> None:
        if owner.subject in self.users or account.account_id in self.accounts:
            raise ConflictError("that login already belongs to an account")
        self.accounts[account.account_id] = account.model_copy(update={"version": 1})
        self.users[owner.subject] = owner

    def get(self, account_id: str) -> Account:
        if account_id not in self.accounts:
            raise NotFoundError("account", account_id)
        return self.accounts[account_id]

    def user_by_subject(self, subject: str) -> User:
        if subject not in self.users:
            raise NotFoundError("user", subject)
        return self.users[subject]

    def user_and_account(self, account_id: str, user_id: str) -> tuple[User, Account]:
        for user in self.users.values():
            if user.account_id == account_id and user.user_id == user_id:
                return user, self.get(account_id)
        raise NotFoundError("user", user_id)

    def login_of(self, subject: str) -> tuple[str, str]:
        user = self.user_by_subject(subject)
        return user.account_id, user.user_id

    def principal_by_subject(self, subject: str) -> tuple[User, Account]:
        user = self.user_by_subject(subject)
        return user, self.get(user.account_id)


def accounts_with(*account_ids: str, plan: Plan = Plan.AGENCY) -> FakeAccountRepository:
    """A fake account repository holding these accounts (on ``plan``: no prospect limit)."""
    repo = FakeAccountRepository()
    for account_id in account_ids:
        repo.accounts[account_id] = Account(account_id=account_id, name=account_id, plan=plan, version=1)
    return repo


def _page(items: dict[str, object], prefix: str, limit: int, cursor: str | None) -> Page:  # type: ignore[type-arg]
    start = decode_cursor(cursor, prefix)
    keys = sorted(items, reverse=True)
    if start is not None:
        keys = [k for k in keys if k < start]
    chunk = keys[:limit]
    more = len(keys) > limit
    return Page(
        items=[copy.deepcopy(items[k]) for k in chunk], cursor=encode_cursor(chunk[-1]) if more else None
    )


class FakeCampaignRepository:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Campaign]] = {}
        self._lock = threading.Lock()

    def _tenant(self, account_id: str) -> dict[str, Campaign]:
        return self.items.setdefault(account_id, {})

    def add(self, campaign: Campaign, quota: Quota | None = None) -> Campaign:
        key = f"CAMPAIGN#{campaign.campaign_id}"
        with self._lock:
            if key in self._tenant(campaign.account_id):
                raise ConflictError("exists")
            if quota is not None and len(self._tenant(campaign.account_id)) + 1 > quota.limit:
                raise quota.exceeded(len(self._tenant(campaign.account_id)))
            stored = campaign.model_copy(update={"version": 1})
            self._tenant(campaign.account_id)[key] = stored
        return stored

    def get(self, account_id: str, campaign_id: str) -> Campaign:
        found = self._tenant(account_id).get(f"CAMPAIGN#{campaign_id}")
        if found is None:
            raise NotFoundError("campaign", campaign_id)
        return found.model_copy(deep=True)

    def list(self, account_id: str, limit: int, cursor: str | None) -> Page[Campaign]:
        return _page(self._tenant(account_id), "CAMPAIGN#", limit, cursor)  # type: ignore[arg-type]

    def save(self, campaign: Campaign) -> Campaign:
        key = f"CAMPAIGN#{campaign.campaign_id}"
        with self._lock:
            current = self._tenant(campaign.account_id).get(key)
            if current is None:
                raise NotFoundError("campaign", campaign.campaign_id)
            if current.version != campaign.version:
                raise ConflictError("changed by someone else")
            stored = campaign.model_copy(update={"version": campaign.version + 1})
            self._tenant(campaign.account_id)[key] = stored
        return stored

    def update(
        self, account_id: str, campaign_id: str, change: Callable[[Campaign], Campaign | None]
    ) -> Campaign:
        return optimistic_update(lambda: self.get(account_id, campaign_id), self.save, change)

    def delete(self, account_id: str, campaign_id: str) -> None:
        if self._tenant(account_id).pop(f"CAMPAIGN#{campaign_id}", None) is None:
            raise NotFoundError("campaign", campaign_id)


class FakeProspectRepository:
    """Prospects in a dict per campaign, with the adapter's uniqueness, import hold, search and
    pagination semantics (the contract tests hold both to them)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Prospect]] = {}
        self.holders: dict[tuple[str, str], str] = {}
        self.fail_after: int | None = None  # a bulk writer raises StorageError after storing this many

    def _part(self, account_id: str, campaign_id: str) -> dict[str, Prospect]:
        return self.items.setdefault((account_id, campaign_id), {})

    def _check_email(self, prospect: Prospect, other_than: str | None = None) -> None:
        if (prospect.account_id, prospect.campaign_id) in self.holders:
            raise ConflictError(
                "an import is adding prospects to this campaign; try again when it has finished"
            )
        part = self._part(prospect.account_id, prospect.campaign_id)
        if any(p.email_key == prospect.email_key and p.prospect_id != other_than for p in part.values()):
            raise ConflictError(f"a prospect with email {prospect.email_key!r} is already in this campaign")

    def add(self, prospect: Prospect) -> Prospect:
        self._check_email(prospect)
        stored = prospect.model_copy(update={"version": 1})
        self._part(prospect.account_id, prospect.campaign_id)[f"PROSPECT#{prospect.prospect_id}"] = stored
        return stored

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> Prospect:
        found = self._part(account_id, campaign_id).get(f"PROSPECT#{prospect_id}")
        if found is None:
            raise NotFoundError("prospect", prospect_id)
        return found.model_copy(deep=True)

    def get_by_watch_token(self, token: str) -> Prospect:
        for part in self.items.values():
            for p in part.values():
                if p.watch_token == token:
                    return p.model_copy(deep=True)
        raise NotFoundError("watch link", "")

    def save(self, prospect: Prospect) -> Prospect:
        current = self.get(prospect.account_id, prospect.campaign_id, prospect.prospect_id)
        if current.version != prospect.version:
            raise ConflictError(f"prospect {prospect.prospect_id!r} was changed concurrently")
        if current.email_key != prospect.email_key:
            self._check_email(prospect, other_than=prospect.prospect_id)
        stored = prospect.model_copy(update={"version": prospect.version + 1, "updated_at": utcnow()})
        self._part(prospect.account_id, prospect.campaign_id)[f"PROSPECT#{prospect.prospect_id}"] = stored
        return stored.model_copy(deep=True)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[Prospect], Prospect | None],
    ) -> Prospect:
        current = self.get(account_id, campaign_id, prospect_id)
        changed = change(current)
        return current if changed is None else self.save(changed)

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]:
        return self.search(account_id, campaign_id, ProspectQuery(), limit, cursor)

    def search(
        self, account_id: str, campaign_id: str, query: ProspectQuery, limit: int, cursor: str | None
    ) -> Page[Prospect]:
        # The adapter's own index keys and search text: the fake orders and matches as DynamoDB does.
        index = {
            ProspectSort.NAME: "name_key",
            ProspectSort.EMAIL: "email_key",
            ProspectSort.COMPANY: "company_key",
            ProspectSort.STATUS: "status_key",
        }.get(query.sort, "status_key" if query.status is not None else None)

        def key(p: Prospect) -> str:
            return str(prospect_index_keys(p)[index]) if index else p.prospect_id

        needle = fold(query.search or "")
        chosen = [
            p
            for p in self._part(account_id, campaign_id).values()
            if (query.status is None or p.video_status is query.status)
            and needle in prospect_index_keys(p)["search_text"]
        ]
        chosen.sort(key=key, reverse=query.descending)
        fingerprint = repr((needle, query.status, query.sort, query.descending))
        start = 0
        if cursor is not None:
            try:
                given, after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            except (ValueError, TypeError, binascii.Error) as exc:
                raise _bad_cursor() from exc
            if given != fingerprint:
                raise _bad_cursor()
            start = next((i + 1 for i, p in enumerate(chosen) if p.prospect_id == after), len(chosen))
        page = chosen[start : start + limit]
        more = start + limit < len(chosen)
        token = (
            base64.urlsafe_b64encode(json.dumps([fingerprint, page[-1].prospect_id]).encode()).decode()
            if more and page
            else None
        )
        return Page(items=[p.model_copy(deep=True) for p in page], cursor=token)

    def iter_campaign(self, account_id: str, campaign_id: str) -> Iterator[Prospect]:
        for _, prospect in sorted(self._part(account_id, campaign_id).items()):
            yield prospect.model_copy(deep=True)

    def email_keys(self, account_id: str, campaign_id: str) -> set[str]:
        return {p.email_key for p in self._part(account_id, campaign_id).values()}

    def count_by_status(self, account_id: str, campaign_id: str) -> dict[VideoStatus, int]:
        counts = dict.fromkeys(VideoStatus, 0)
        for prospect in self._part(account_id, campaign_id).values():
            counts[prospect.video_status] += 1
        return counts

    def set_video_status(self, video: ProspectVideo) -> None:
        """What the DynamoDB video repository does in the same transaction as a video's move."""
        part = self._part(video.account_id, video.campaign_id)
        prospect = part.get(f"PROSPECT#{video.prospect_id}")
        if prospect is None:
            return
        update: dict[str, Any] = {"video_status": video.status, "video_error": video.error or None}
        if video.status is VideoStatus.COMPLETED and video.completed_at is not None:
            update["video_generated_at"] = video.completed_at
        part[f"PROSPECT#{video.prospect_id}"] = prospect.model_copy(update=update)

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        if self._part(account_id, campaign_id).pop(f"PROSPECT#{prospect_id}", None) is None:
            raise NotFoundError("prospect", prospect_id)

    @contextlib.contextmanager
    def bulk_writer(self, account_id: str, campaign_id: str, owner: str) -> Iterator[_FakeWriter]:
        held = self.holders.get((account_id, campaign_id))
        if held is not None and held != owner:
            raise CampaignBusyError(
                "another import is adding prospects to this campaign; try again when it has finished"
            )
        self.holders[(account_id, campaign_id)] = owner
        part = self._part(account_id, campaign_id)
        writer = _FakeWriter(part, {p.email_key for p in part.values()}, self.fail_after)
        try:
            yield writer
        finally:
            del self.holders[(account_id, campaign_id)]

    def delete_campaign(self, account_id: str, campaign_id: str) -> int:
        return len(self.items.pop((account_id, campaign_id), {}))


class _FakeWriter:
    def __init__(self, part: dict[str, Prospect], existing: set[str], fail_after: int | None) -> None:
        self._part = part
        self.existing = existing
        self.written = 0
        self._fail_after = fail_after

    def add(self, prospect: Prospect) -> None:
        if self._fail_after is not None and self.written >= self._fail_after:
            raise StorageError("the prospects could not be stored")
        self._part[f"PROSPECT#{prospect.prospect_id}"] = prospect.model_copy(update={"version": 1})
        self.written += 1

    def flush(self) -> None:
        return None


def _bad_cursor() -> InvalidInputError:
    return InvalidInputError(
        "invalid cursor", [FieldIssue("query.cursor", "not a cursor from a previous page of this listing")]
    )


class FakeCsvImportRepository:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], CsvImport] = {}

    def add(self, item: CsvImport) -> CsvImport:
        key = (item.account_id, item.campaign_id, item.import_id)
        if key in self.items:
            raise ConflictError("exists")
        self.items[key] = item.model_copy(update={"version": 1})
        return self.items[key]

    def get(self, account_id: str, campaign_id: str, import_id: str) -> CsvImport:
        try:
            return self.items[(account_id, campaign_id, import_id)]
        except KeyError:
            raise NotFoundError("import", import_id) from None

    def list(self, account_id: str, campaign_id: str) -> list[CsvImport]:
        found = [i for (a, c, _), i in self.items.items() if (a, c) == (account_id, campaign_id)]
        return sorted(found, key=lambda i: i.import_id, reverse=True)

    def save(self, item: CsvImport) -> CsvImport:
        key = (item.account_id, item.campaign_id, item.import_id)
        current = self.items.get(key)
        if current is not None and current.version != item.version:
            raise ConflictError("changed concurrently")
        self.items[key] = item.model_copy(update={"version": item.version + 1})
        return self.items[key]


class FakeLexiconRepository:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], PronunciationEntry] = {}

    def put(self, entry: PronunciationEntry) -> PronunciationEntry:
        self.items[(entry.account_id, entry.key)] = entry
        return entry

    def get(self, account_id: str, key: str) -> PronunciationEntry:
        try:
            return self.items[(account_id, key)]
        except KeyError:
            raise NotFoundError("pronunciation", key) from None

    def list(self, account_id: str) -> list[PronunciationEntry]:
        return sorted((e for (a, _), e in self.items.items() if a == account_id), key=lambda e: e.key)

    def delete(self, account_id: str, key: str) -> None:
        self.get(account_id, key)
        del self.items[(account_id, key)]


class FakeObjectStore:
    """Objects in a dict; ``presign_post`` returns a URL nobody can reach (unit tests only).

    ``get_bytes`` follows S3's ``Range: bytes=first-last`` (inclusive, clamped to the object).
    """

    def __init__(self, bucket: str = "fake-bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    def presign_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost:
        return PresignedPost(
            url="https://uploads.invalid/",
            fields={"key": key, "Content-Type": content_type},
            expires_in=expires_in,
        )

    def head(self, key: str) -> ObjectInfo:
        if key not in self.objects:
            raise NotFoundError("object", key)
        return ObjectInfo(key=key, size=len(self.objects[key]), content_type=self.content_types.get(key))

    def download(self, key: str, dest: Path) -> Path:
        dest.write_bytes(self.objects[key])
        return dest

    def read_prefix(self, key: str, max_bytes: int) -> bytes:
        return self.objects[key][:max_bytes]

    def open_stream(self, key: str) -> BinaryIO:
        if key not in self.objects:
            raise NotFoundError("object", key)
        return io.BytesIO(self.objects[key])

    def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for k in doomed:
            del self.objects[k]
            self.content_types.pop(k, None)
        return len(doomed)

    def get_bytes(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        if key not in self.objects:
            raise NotFoundError("object", key)
        data = self.objects[key]
        if first is None:
            return data
        if first >= len(data):
            raise StorageError(f"range {first}- is not satisfiable for {key!r} ({len(data)} bytes)")
        return data[first : None if last is None else last + 1]

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = bytes(data)
        self.content_types[key] = content_type

    def copy(self, source_key: str, key: str) -> None:
        if source_key not in self.objects:
            raise NotFoundError("object", source_key)
        self.objects[key] = self.objects[source_key]
        if source_key in self.content_types:
            self.content_types[key] = self.content_types[source_key]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        suffix = f"&filename={filename}" if filename else ""
        return f"https://{self.bucket}.invalid/{key}?expires_in={expires_in}{suffix}"


class FakeMediaProbe:
    """Returns a fixed probe for files whose bytes start with ``b"VIDEO"``, rejects others."""

    def __init__(self, result: VideoProbe) -> None:
        self.result = result

    def probe(self, path: Path) -> VideoProbe:
        if not path.read_bytes().startswith(b"VIDEO"):
            raise UploadRejectedError("this file is not a video")
        return self.result


class FakeRenderBatchRepository:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], RenderBatch] = {}
        self.counters: dict[tuple[str, str, str], BatchCounters] = {}
        self._lock = threading.Lock()

    def add(self, batch: RenderBatch) -> RenderBatch:
        return self.save(batch.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
        key = (account_id, campaign_id, batch_id)
        try:
            found = self.items[key]
        except KeyError:
            raise NotFoundError("render batch", batch_id) from None
        return found.model_copy(update={"counters": self.counters.get(key, BatchCounters())}, deep=True)

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[RenderBatch]:
        mine = {f"BATCH#{k[2]}": self.get(*k) for k in self.items if k[:2] == (account_id, campaign_id)}
        return _page(mine, "BATCH#", limit, cursor)  # type: ignore[arg-type]

    def save(self, batch: RenderBatch) -> RenderBatch:
        key = (batch.account_id, batch.campaign_id, batch.batch_id)
        with self._lock:
            current = self.items.get(key)
            if (current.version if current else 0) != batch.version:
                raise ConflictError("changed concurrently")
            self.items[key] = batch.model_copy(update={"version": batch.version + 1}, deep=True)
        return self.get(*key)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        batch_id: str,
        change: Callable[[RenderBatch], RenderBatch | None],
    ) -> RenderBatch:
        return optimistic_update(lambda: self.get(account_id, campaign_id, batch_id), self.save, change)

    def set_counters(self, account_id: str, campaign_id: str, batch_id: str, counters: BatchCounters) -> None:
        self.counters[(account_id, campaign_id, batch_id)] = counters.model_copy()

    def add_to_counters(self, account_id: str, campaign_id: str, move: CounterMove) -> None:
        key = (account_id, campaign_id, move.batch_id)
        current = self.counters.get(key, BatchCounters()).model_dump()
        for name, delta in move.deltas.items():
            current[name] += delta
        self.counters[key] = BatchCounters(**current)


class FakeVideoRepository:
    """One :class:`ProspectVideo` per prospect, with the DynamoDB adapter's version semantics:
    version 0 creates (and conflicts if one exists), version N overwrites only version N."""

    def __init__(
        self,
        batches: FakeRenderBatchRepository | None = None,
        prospects: FakeProspectRepository | None = None,
        ledger: FakeUsageLedger | None = None,
    ) -> None:
        self.items: dict[tuple[str, str, str], ProspectVideo] = {}
        self._lock = threading.RLock()
        self.batches = batches
        self.prospects = prospects  # given, a video's status is copied onto its prospect
        self.ledger = ledger if ledger is not None else FakeUsageLedger()

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> ProspectVideo:
        found = self.items.get((account_id, campaign_id, prospect_id))
        if found is None:
            raise NotFoundError("video", prospect_id)
        return found.model_copy(deep=True)

    def save(self, video: ProspectVideo) -> ProspectVideo:
        key = (video.account_id, video.campaign_id, video.prospect_id)
        with self._lock:
            current = self.items.get(key)
            if (current.version if current else 0) != video.version:
                raise ConflictError(f"the video of prospect {video.prospect_id!r} was changed concurrently")
            stored = video.model_copy(update={"version": video.version + 1}, deep=True)
            self.items[key] = stored
            if self.prospects is not None:
                self.prospects.set_video_status(stored)
        return stored.model_copy(deep=True)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo:
        return optimistic_update(lambda: self.get(account_id, campaign_id, prospect_id), self.save, change)

    def move(
        self, video: ProspectVideo, counters: CounterMove | None, ledger: LedgerMove | None = None
    ) -> ProspectVideo:
        """Like DynamoDB's transaction: the counters and the ledger move only if the
        version-checked save wins (and the ledger's reservation fits)."""
        with self._lock, self.ledger.lock:
            key = (video.account_id, video.campaign_id, video.prospect_id)
            current = self.items.get(key)
            if (current.version if current else 0) != video.version:
                raise ConflictError(f"the video of prospect {video.prospect_id!r} was changed concurrently")
            if ledger is not None:
                self.ledger.apply(ledger)
            saved = self.save(video)
            if counters is not None:
                assert self.batches is not None, "give the fake its batch repository to move counters"
                self.batches.add_to_counters(video.account_id, video.campaign_id, counters)
            return saved

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        with self._lock:
            self.items.pop((account_id, campaign_id, prospect_id), None)

    def list_campaign(self, account_id: str, campaign_id: str) -> Iterator[ProspectVideo]:
        for key, video in sorted(self.items.items()):
            if key[:2] == (account_id, campaign_id):
                yield video.model_copy(deep=True)


class FakeOrchestrator:
    """Records executions; ``states`` is what :meth:`status` reports (tests set it)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.stopped: list[str] = []
        self.states: dict[str, str | None] = {}
        self.refuse: str | None = None

    def start(self, batch: RenderBatch, attempt: int) -> str:
        if self.refuse is not None:
            raise StorageError(self.refuse)
        arn = f"arn:aws:states:us-east-1:123456789012:execution:render:{batch.batch_id}-{attempt}"
        if (batch.batch_id, attempt) not in self.started:
            self.started.append((batch.batch_id, attempt))
            self.states[arn] = "RUNNING"
        return arn

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)
        if execution_arn in self.states:
            self.states[execution_arn] = "ABORTED"

    def status(self, execution_arn: str) -> str | None:
        return self.states.get(execution_arn)


class FakeCallbacks:
    """Records task callbacks; tokens in ``dead`` answer as Step Functions does for a stopped task."""

    def __init__(self) -> None:
        self.succeeded: list[tuple[str, dict[str, object]]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.dead: set[str] = set()

    def succeed(self, token: str, output: dict[str, object]) -> bool:
        if token in self.dead:
            return False
        self.succeeded.append((token, output))
        self.dead.add(token)
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        if token in self.dead:
            return False
        self.failed.append((token, error, cause))
        self.dead.add(token)
        return True


class FakeMediaJobs:
    """Records every submitted :class:`JobRequest`; idempotent on the client request token like
    MediaConvert. ``refuse`` makes the next submissions fail as the adapter does."""

    def __init__(self) -> None:
        self.submitted: list[JobRequest] = []
        self.by_token: dict[str, str] = {}
        self.refuse: str | None = None
        self.statuses: dict[str, JobStatus] = {}  # tests set a job's status here

    def submit(self, request: JobRequest) -> str:
        if self.refuse is not None:
            raise StorageError(f"MediaConvert refused the job: {self.refuse}")
        if request.client_request_token in self.by_token:
            return self.by_token[request.client_request_token]
        self.submitted.append(request)
        job_id = f"job-{len(self.submitted):04d}"
        self.by_token[request.client_request_token] = job_id
        self.statuses[job_id] = JobStatus("SUBMITTED", 0)
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        return self.statuses.get(job_id)


# --------------------------------------------------------------------------- webhooks


class FakeQuotaCounter:
    """Per-account counters in a dict, moved under a lock (the DynamoDB adapter's semantics: a
    limit is never passed, a release stops at zero, a counter never moved is 0)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.lock = threading.RLock()

    def usage(self, account_id: str, name: str) -> int:
        return self.counts.get((account_id, name), 0)

    def reserve(self, account_id: str, quota: Quota, amount: int = 1) -> int:
        with self.lock:
            used = self.usage(account_id, quota.name)
            if used + amount > quota.limit:
                raise quota.exceeded(used)
            self.counts[account_id, quota.name] = used + amount
            return used + amount

    def release(self, account_id: str, name: str, amount: int = 1) -> int:
        with self.lock:
            used = max(0, self.usage(account_id, name) - amount)
            self.counts[account_id, name] = used
            return used


class FakeUsageLedger:
    """The video ledgers (``taken``/``committed`` per account and period) and named counters."""

    def __init__(self) -> None:
        self.ledgers: dict[tuple[str, str], list[int]] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self.lock = threading.RLock()

    def apply(self, move: LedgerMove) -> None:
        with self.lock:
            entry = self.ledgers.setdefault((move.account_id, move.period), [0, 0])
            if move.kind == "reserve":
                if entry[0] >= move.limit:
                    raise QuotaExceededError("full", quota="videos", limit=move.limit, used=entry[0])
                entry[0] += 1
            elif move.kind == "commit":
                entry[1] += 1
            else:
                entry[0] -= 1

    def videos(self, account_id: str, period: str) -> VideoUsage:
        taken, committed = self.ledgers.get((account_id, period), [0, 0])
        return VideoUsage(used=committed, reserved=taken - committed)

    def count(self, account_id: str, name: str) -> int:
        return self.counts.get((account_id, name), 0)

    def snapshot(self, account_id: str, period: str, names: Any) -> tuple[VideoUsage, dict[str, int]]:
        return self.videos(account_id, period), {name: self.count(account_id, name) for name in names}


class FakeApiKeyRepository:
    def __init__(self) -> None:
        self.by_digest: dict[str, ApiKey] = {}

    def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        if key_hash in self.by_digest:
            raise ConflictError("that API key already exists")
        self.by_digest[key_hash] = key
        return key

    def by_hash(self, key_hash: str) -> ApiKey:
        if key_hash not in self.by_digest:
            raise NotFoundError("API key", "(hidden)")
        return self.by_digest[key_hash]

    def list(self, account_id: str) -> list[ApiKey]:
        return sorted(
            (k for k in self.by_digest.values() if k.account_id == account_id),
            key=lambda k: k.key_id,
            reverse=True,
        )

    def delete(self, account_id: str, key_id: str) -> None:
        for digest, key in list(self.by_digest.items()):
            if key.account_id == account_id and key.key_id == key_id:
                del self.by_digest[digest]
                return
        raise NotFoundError("API key", key_id)

    def touch(self, key_hash: str, now: Any, unless_since: Any) -> None:
        key = self.by_digest.get(key_hash)
        if key is not None and (key.last_used_at is None or key.last_used_at < unless_since):
            self.by_digest[key_hash] = key.model_copy(update={"last_used_at": now})


class FakeSecretSealer:
    """Seals by keeping the plaintext in memory and storing an opaque handle (``fake1:…``), so a
    stored item never holds the secret; opening with another context fails, as with KMS."""

    PREFIX = "fake1:"

    def __init__(self) -> None:
        self.sealed: dict[str, tuple[str, dict[str, str]]] = {}
        self.fail_with: StorageError | None = None  # set to make every call fail (the key service is down)

    def seal(self, plaintext: str, context: Mapping[str, str]) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        handle = f"{self.PREFIX}{uuid.uuid4().hex}"
        self.sealed[handle] = (plaintext, dict(context))
        return handle

    def open(self, sealed: str, context: Mapping[str, str]) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        found = self.sealed.get(sealed)
        if found is None or found[1] != dict(context):
            raise StorageError("the sealed secret could not be opened")
        return found[0]


class FakeWebhookRepository:
    """Endpoints and deliveries in dicts, with the DynamoDB adapter's semantics (one delivery
    per endpoint and event, saving a deleted delivery is NotFoundError, newest first, endpoints
    counted atomically against their quota, a missing counter starting at the stored count)."""

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str], WebhookEndpoint] = {}
        self.deliveries: dict[tuple[str, str], dict[str, WebhookDelivery]] = {}
        self.claims: dict[tuple[str, str, str], str] = {}  # (account, endpoint, event) → delivery
        self.quotas = FakeQuotaCounter()
        self._lock = threading.Lock()

    def _start_counter(self, account_id: str, name: str) -> None:
        if (account_id, name) not in self.quotas.counts:  # endpoints stored before they were counted
            self.quotas.counts[account_id, name] = sum(1 for a, _ in self.endpoints if a == account_id)

    def add_endpoint(self, endpoint: WebhookEndpoint, quota: Quota) -> WebhookEndpoint:
        key = (endpoint.account_id, endpoint.endpoint_id)
        with self.quotas.lock:
            if key in self.endpoints:
                raise ConflictError(f"webhook endpoint {endpoint.endpoint_id!r} already exists")
            self._start_counter(endpoint.account_id, quota.name)
            self.quotas.reserve(endpoint.account_id, quota)
            self.endpoints[key] = endpoint.model_copy(deep=True)
        return endpoint.model_copy(deep=True)

    def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint:
        found = self.endpoints.get((account_id, endpoint_id))
        if found is None:
            raise NotFoundError("webhook endpoint", endpoint_id)
        return found.model_copy(deep=True)

    def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        mine = [e for (a, _), e in self.endpoints.items() if a == account_id]
        return [e.model_copy(deep=True) for e in sorted(mine, key=lambda e: e.endpoint_id, reverse=True)]

    def delete_endpoint(self, account_id: str, endpoint_id: str, quota: Quota) -> None:
        with self.quotas.lock:
            if (account_id, endpoint_id) not in self.endpoints:
                raise NotFoundError("webhook endpoint", endpoint_id)
            self._start_counter(account_id, quota.name)
            del self.endpoints[account_id, endpoint_id]
            self.quotas.release(account_id, quota.name)
        self.deliveries.pop((account_id, endpoint_id), None)
        for key in [k for k in self.claims if k[:2] == (account_id, endpoint_id)]:
            del self.claims[key]

    def _part(self, account_id: str, endpoint_id: str) -> dict[str, WebhookDelivery]:
        return self.deliveries.setdefault((account_id, endpoint_id), {})

    def add_delivery(self, delivery: WebhookDelivery) -> tuple[WebhookDelivery, bool]:
        claim = (delivery.account_id, delivery.endpoint_id, delivery.event_id)
        with self._lock:
            if claim in self.claims:
                return self.get_delivery(delivery.account_id, delivery.endpoint_id, self.claims[claim]), False
            self.claims[claim] = delivery.delivery_id
            self._part(delivery.account_id, delivery.endpoint_id)[f"DELIVERY#{delivery.delivery_id}"] = (
                delivery.model_copy(deep=True)
            )
        return delivery.model_copy(deep=True), True

    def get_delivery(self, account_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        found = self._part(account_id, endpoint_id).get(f"DELIVERY#{delivery_id}")
        if found is None:
            raise NotFoundError("webhook delivery", delivery_id)
        return found.model_copy(deep=True)

    def save_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        part = self._part(delivery.account_id, delivery.endpoint_id)
        key = f"DELIVERY#{delivery.delivery_id}"
        with self._lock:
            if key not in part:
                raise NotFoundError("webhook delivery", delivery.delivery_id)
            part[key] = delivery.model_copy(deep=True)
        return delivery.model_copy(deep=True)

    def list_deliveries(
        self, account_id: str, endpoint_id: str, limit: int, cursor: str | None = None
    ) -> Page[WebhookDelivery]:
        return _page(self._part(account_id, endpoint_id), "DELIVERY#", limit, cursor)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PublishedEvent:
    account_id: str
    event_type: str
    event_id: str
    data: dict[str, Any]


class FakeEventPublisher:
    """Records published events, so tests of the publishers (the render pipeline) can assert on
    them. Like the real one it is idempotent on ``event_id`` (a repeat returns 0) and refuses an
    unknown event type; ``refuse`` makes it raise ``StorageError`` as the real one can."""

    def __init__(self) -> None:
        self.events: list[PublishedEvent] = []
        self.refuse: str | None = None

    def publish(self, account_id: str, event_type: str, event_id: str, data: dict[str, Any]) -> int:
        if event_type not in EVENT_TYPES:
            raise InvalidInputError(f"unknown event type {event_type!r}")
        if self.refuse is not None:
            raise StorageError(f"the webhook deliveries could not be queued: {self.refuse}")
        if any(e.account_id == account_id and e.event_id == event_id for e in self.events):
            return 0
        self.events.append(PublishedEvent(account_id, event_type, event_id, copy.deepcopy(data)))
        return 1

    def of_type(self, event_type: str) -> list[PublishedEvent]:
        return [e for e in self.events if e.event_type == event_type]


class FakeDeliveryQueue:
    """Records queued delivery ids; idempotent like Step Functions' execution names."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.refuse: str | None = None

    def enqueue(self, delivery: WebhookDelivery) -> bool:
        if self.refuse is not None:
            raise StorageError(f"the webhook delivery could not be queued: {self.refuse}")
        if delivery.delivery_id in self.queued:
            return False
        self.queued.append(delivery.delivery_id)
        return True


@dataclass(frozen=True)
class SentRequest:
    url: str
    body: bytes
    headers: dict[str, str]


class FakeWebhookSender:
    """Answers each POST with the next scripted reply: a status code, or an exception to raise
    (``WebhookDeliveryError`` for a timeout or refused connection); 200 once the script is out."""

    def __init__(self, *replies: int | Exception) -> None:
        self.replies = list(replies)
        self.sent: list[SentRequest] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.sent.append(SentRequest(url, body, dict(headers)))
        reply = self.replies.pop(0) if self.replies else 200
        if isinstance(reply, Exception):
            raise reply
        return reply


class FakeEventSink:
    """The event stream as a list; ``refuse`` makes every put fail like a Firehose outage."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refuse: str | None = None

    def put(self, events: Any) -> None:
        if self.refuse is not None:
            raise StorageError(f"the events could not be stored: {self.refuse}")
        self.events.extend(dict(e) for e in events)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class FakeRateLimiter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.claimed: set[str] = set()
        self._lock = threading.Lock()

    def hit(self, key: str, ttl_seconds: int) -> int:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def claim(self, keys: Any, ttl_seconds: int) -> list[bool]:
        firsts = []
        with self._lock:
            for key in keys:
                firsts.append(key not in self.claimed)
                self.claimed.add(key)
        return firsts

    def release(self, keys: Any) -> None:
        with self._lock:
            self.claimed.difference_update(keys)


class FakeAnalyticsCache:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}

    def get(self, account_id: str, key: str) -> Any:
        return self.items.get((account_id, key))

    def put(
        self, account_id: str, key: str, computed_at: Any, value: dict[str, Any], ttl_seconds: int
    ) -> None:
        self.items[(account_id, key)] = (computed_at, json.loads(json.dumps(value, default=str)))


class FakeAnalytics:
    """``AnalyticsQueries`` over events held in memory (``events``, e.g. a FakeEventSink's).

    Not a re-implementation: it runs the product's own SQL, bound and translated exactly as the
    Athena stand-in does (``devstack.athena.translate``), in DuckDB over a table built from the
    events, and reads the answers back as Athena's text rows. An event's ``dt`` is the UTC day of
    its ``ts`` unless the event names one (as Firehose's arrival day may differ).
    """

    def __init__(self, events: list[dict[str, Any]] | None = None, table: str = "events") -> None:
        self.events: list[dict[str, Any]] = events if events is not None else []
        self.table = table
        self.queries: list[Any] = []

    def run(self, query: Any) -> list[dict[str, str | None]]:
        from datetime import UTC, datetime

        from chalicelib.adapters.analytics import athena_parameter
        from chalicelib.adapters.analytics_schema import COLUMNS, PARTITION_KEYS
        from devstack import athena

        self.queries.append(query)
        columns = [(name, athena.duckdb_type(kind)) for name, kind in COLUMNS + PARTITION_KEYS]
        con = athena.connect()
        try:
            athena.use_database(con, "fake")
            con.execute(f'CREATE TABLE "{self.table}" (' + ", ".join(f'"{n}" {t}' for n, t in columns) + ")")
            rows = []
            for event in self.events:
                day = datetime.fromtimestamp(event["ts"] / 1000, UTC).date().isoformat()
                rows.append(tuple(event.get(n, day if n == "dt" else None) for n, _ in columns))
            if rows:
                marks = ", ".join("?" for _ in columns)
                con.executemany(f'INSERT INTO "{self.table}" VALUES ({marks})', rows)  # noqa: S608
            relation = con.sql(athena.translate(query.sql, [athena_parameter(p) for p in query.params]))
            kinds = [athena.athena_type(str(t))[0] for t in relation.types]
            return [
                {
                    n: athena.athena_text(v, kinds[i])
                    for i, (n, v) in enumerate(zip(relation.columns, row, strict=True))
                }
                for row in relation.fetchall()
            ]
        finally:
            con.close()

    def prospect(self, account_id: str, campaign_id: str, prospect_id: str, since: Any, until: Any) -> Any:
        from chalicelib.domain import analytics

        summary, heatmap = analytics.prospect_queries(
            self.table, account_id, campaign_id, prospect_id, since, until
        )
        return analytics.prospect_engagement(
            self.run(summary),
            self.run(heatmap),
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=prospect_id,
            since=since,
            until=until,
        )

    def campaign(self, account_id: str, campaign_id: str, since: Any, until: Any) -> Any:
        from chalicelib.domain import analytics

        rows = self.run(analytics.campaign_query(self.table, account_id, campaign_id, since, until))
        return analytics.campaign_engagement(
            rows, account_id=account_id, campaign_id=campaign_id, since=since, until=until
        )

    def account(self, account_id: str, since: Any, until: Any) -> Any:
        from chalicelib.domain import analytics

        rows = self.run(analytics.account_query(self.table, account_id, since, until))
        return analytics.account_engagement(rows, account_id=account_id, since=since, until=until)


class FakeMediaCodec:
    """:class:`~chalicelib.domain.ports.MediaCodec` without PyAV or Pillow, for use cases whose
    pictures a test does not look at. Audio must already be the ladder's PCM in a WAV (what the
    real codec decodes anything to); pictures are small labelled byte strings."""

    def decode_audio(self, data: bytes, *, what: str) -> bytes:
        import wave

        try:
            with wave.open(io.BytesIO(data)) as w:
                layout = (w.getnchannels(), w.getframerate(), w.getsampwidth())
                pcm = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise InvalidInputError(f"the {what} could not be decoded ({type(exc).__name__})") from exc
        if layout != (2, 48_000, 2):
            raise InvalidInputError(f"the {what} is not 48 kHz 16-bit stereo (the fake decodes no more)")
        if not pcm:
            raise InvalidInputError(f"the {what} is empty")
        return pcm

    def name_card(
        self, text: str, width: int, height: int, *, subtitle: str | None = None
    ) -> tuple[bytes, tuple[int, int]]:
        return f"card:{text}|{subtitle or ''}".encode(), (width // 20, height * 3 // 4)

    def poster(self, init: bytes, segments: Any, *, at_seconds: float) -> bytes:
        return f"poster@{at_seconds:.3f}".encode()

    def still_png(self, init: bytes, segments: Any, *, at_seconds: float, width: int, height: int) -> bytes:
        return f"still@{at_seconds:.3f}:{width}x{height}:{len(segments)}".encode()

    def previews(
        self,
        init: bytes,
        segments: Any,
        *,
        start_seconds: float,
        seconds: float,
        gif_width: int,
        gif_max_bytes: int,
    ) -> tuple[bytes, bytes]:
        label = f"{start_seconds:.3f}+{seconds:.3f}"
        return f"webp:{label}".encode(), f"gif{gif_width}:{label}".encode()

    def mp4(
        self,
        video_init: bytes,
        video_segments: Any,
        audio_init: bytes,
        audio_segments: Any,
        dest: Path,
    ) -> None:
        dest.write_bytes(b"".join([video_init, *video_segments, audio_init, *audio_segments]))


# --------------------------------------------------------------------------- billing (issue 18)


class FakeBillingRepository:
    """:class:`~chalicelib.domain.ports.BillingRepository` over a :class:`FakeAccountRepository`."""

    def __init__(self, accounts: FakeAccountRepository) -> None:
        from chalicelib.domain.billing import CheckoutHold

        self.accounts = accounts
        self.holds: dict[str, tuple[CheckoutHold, datetime]] = {}
        self.claims: set[str] = set()

    def set_customer(self, account_id: str, customer_id: str) -> str:
        account = self.accounts.get(account_id)
        if account.stripe_customer_id is None:
            self.accounts.accounts[account_id] = account.model_copy(
                update={"stripe_customer_id": customer_id}
            )
            return customer_id
        return account.stripe_customer_id

    def apply_subscription(self, account_id: str, update: Any, changed_at: datetime) -> bool:
        account = self.accounts.get(account_id)
        if account.subscription_changed_at is not None and account.subscription_changed_at > changed_at:
            return False
        self.accounts.accounts[account_id] = account.model_copy(
            update={**vars(update), "subscription_changed_at": changed_at, "version": account.version + 1}
        )
        return True

    def hold_checkout(self, account_id: str, hold: Any, now: datetime, expires_at: datetime) -> Any:
        held = self.holds.get(account_id)
        if held is None or held[1] < now:
            self.holds[account_id] = (hold, expires_at)
            return hold
        return held[0]

    def replace_checkout(self, account_id: str, old_token: str, hold: Any, expires_at: datetime) -> bool:
        held = self.holds.get(account_id)
        if held is None or held[0].token != old_token:
            return False
        self.holds[account_id] = (hold, expires_at)
        return True

    def record_checkout(self, account_id: str, token: str, session_id: str, url: str) -> None:
        import dataclasses

        held = self.holds.get(account_id)
        if held is not None and held[0].token == token:
            self.holds[account_id] = (dataclasses.replace(held[0], session_id=session_id, url=url), held[1])

    def release_checkout(self, account_id: str, session_id: str) -> None:
        held = self.holds.get(account_id)
        if held is not None and held[0].session_id == session_id:
            del self.holds[account_id]

    def claim_event(self, event_id: str, ttl: Any) -> bool:
        if event_id in self.claims:
            return False
        self.claims.add(event_id)
        return True

    def release_event(self, event_id: str) -> None:
        self.claims.discard(event_id)


class FakeStripe:
    """:class:`~chalicelib.domain.ports.BillingGateway` in memory: subscriptions are Stripe-shaped
    JSON that tests change as Stripe would, and the product re-fetches."""

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, Any] = {}
        self.expired: list[str] = []
        self.calls: list[str] = []
        self._keys: dict[str, Any] = {}

    def create_customer(self, account_id: str, *, email: str, name: str, idempotency_key: str) -> str:
        self.calls.append("create_customer")
        if idempotency_key in self._keys:
            return str(self._keys[idempotency_key])
        customer_id = f"cus_{len(self.customers) + 1}"
        self.customers[customer_id] = {"id": customer_id, "metadata": {"account_id": account_id}}
        self._keys[idempotency_key] = customer_id
        return customer_id

    def customer_account_id(self, customer_id: str) -> str | None:
        value = self.customers.get(customer_id, {}).get("metadata", {}).get("account_id")
        return str(value) if value else None

    def price_for(self, plan: Plan) -> str:
        return f"price_{plan.value}"

    def create_checkout(self, **kw: Any) -> Any:
        from chalicelib.domain.billing import CheckoutSession

        self.calls.append("create_checkout")
        key = kw["idempotency_key"]
        if key not in self._keys:
            sid = f"cs_{len(self.sessions) + 1}"
            self.sessions[sid] = CheckoutSession(
                sid, f"https://stripe.test/{sid}", "open", None, kw["customer_id"], kw["account_id"]
            )
            self._keys[key] = self.sessions[sid]
        return self._keys[key]

    def checkout_session(self, session_id: str) -> Any:
        return self.sessions[session_id]

    def expire_checkout(self, session_id: str) -> bool:
        import dataclasses

        session = self.sessions[session_id]
        if session.status == "complete":
            return False
        self.sessions[session_id] = dataclasses.replace(session, status="expired")
        self.expired.append(session_id)
        return True

    def create_portal(self, customer_id: str, return_url: str) -> str:
        return f"https://stripe.test/portal/{customer_id}"

    def subscription_json(self, subscription_id: str) -> dict[str, Any]:
        if subscription_id not in self.subscriptions:
            raise NotFoundError("subscription", subscription_id)
        return self.subscriptions[subscription_id]

    def default_card(self, customer_id: str, subscription_id: str | None) -> tuple[str, str] | None:
        return ("visa", "4242") if subscription_id else None

    def recent_invoices(self, customer_id: str, limit: int) -> list[Any]:
        return []


# --------------------------------------------------------------------------- issue 18, item 6 and branding


class FakeProfileRepository:
    """Profiles by (account, user); ``users`` lists the users an account repository holds."""

    def __init__(self, accounts: FakeAccountRepository | None = None) -> None:
        self.accounts = accounts or FakeAccountRepository()
        self.profiles: dict[tuple[str, str], Any] = {}

    def get(self, account_id: str, user_id: str) -> Any:
        from chalicelib.domain.account_records import UserProfile

        return self.profiles.get((account_id, user_id)) or UserProfile(account_id=account_id, user_id=user_id)

    def save(self, profile: Any) -> Any:
        self.profiles[(profile.account_id, profile.user_id)] = profile
        return profile

    def users(self, account_id: str) -> list[User]:
        found = [u for u in self.accounts.users.values() if u.account_id == account_id]
        return sorted(found, key=lambda u: (u.created_at, u.user_id))


class FakeBrandingStore:
    """Sets the branding on the accounts of a :class:`FakeAccountRepository`."""

    def __init__(self, accounts: FakeAccountRepository) -> None:
        self.accounts = accounts

    def set_branding(self, account_id: str, branding: Any) -> None:
        account = self.accounts.get(account_id)
        self.accounts.accounts[account_id] = account.model_copy(
            update={"branding": branding, "version": account.version + 1}
        )


class FakeImageNormalizer:
    """Accepts bytes that start with a PNG, JPEG or WebP signature as a 64x64 image (unchanged);
    anything else is refused as the real one refuses it. For use cases whose pixels don't matter."""

    SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")

    def normalize(self, data: bytes, rules: Any) -> Any:
        from chalicelib.domain.images import NormalizedImage

        if not data.startswith(self.SIGNATURES):
            raise InvalidInputError(
                f"the {rules.field} is not a usable image",
                [FieldIssue(rules.field, "must be a PNG, JPEG or WebP image")],
            )
        return NormalizedImage(data=data, content_type=rules.content_type, width=64, height=64)


class FakeMailer:
    """Keeps sent emails in ``sent``; ``fail`` makes every send raise a retryable StorageError."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.fail = False

    def send(self, email: Any) -> str:
        if self.fail:
            raise StorageError("the email could not be sent", retry_after=5)
        self.sent.append(email)
        return f"msg-{len(self.sent)}"


class FakeTaskStarter:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def start(self, task: str, payload: dict[str, Any]) -> None:
        self.started.append((task, dict(payload)))


class FakeAccountJobRepository:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], Any] = {}

    def add(self, job: Any) -> tuple[Any, bool]:
        key = (job.account_id, job.kind.value, job.job_id)
        if key in self.jobs:
            return self.jobs[key], False
        self.jobs[key] = job
        return job, True

    def get(self, account_id: str, kind: Any, job_id: str) -> Any:
        key = (account_id, kind.value, job_id)
        if key not in self.jobs:
            raise NotFoundError(kind.value, job_id)
        return self.jobs[key]

    def save(self, job: Any) -> Any:
        self.jobs[(job.account_id, job.kind.value, job.job_id)] = job
        return job


class FakeIdentityDirectory:
    """Logins by subject; ``fail_times`` makes the next deletions raise (a flaky provider)."""

    def __init__(self, subjects: set[str] | None = None) -> None:
        self.subjects = set(subjects or ())
        self.fail_times = 0

    def delete_user(self, subject: str, email: str) -> bool:
        if self.fail_times:
            self.fail_times -= 1
            raise StorageError("the identity provider is unreachable", retry_after=5)
        if subject in self.subjects:
            self.subjects.discard(subject)
            return True
        return False


class FakeSubscriptionCanceller:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def cancel(self, subscription_id: str) -> None:
        if subscription_id not in self.cancelled:
            self.cancelled.append(subscription_id)


# --------------------------------------------------------------------------- identity and team (issue 18)


class FakeTeamRepository:
    """Members are the users of a :class:`FakeAccountRepository`; invites and the seat counter
    live here, moved under one lock (the DynamoDB transaction's semantics)."""

    def __init__(self, accounts: FakeAccountRepository) -> None:
        from chalicelib.domain.team import Invite

        self.accounts = accounts
        self.pending: dict[tuple[str, str], Invite] = {}  # (account, invite id)
        self.seats: dict[str, int] = {}
        self.lock = threading.RLock()

    def members(self, account_id: str) -> list[User]:
        return [u for u in self.accounts.users.values() if u.account_id == account_id]

    def invites(self, account_id: str) -> list[Any]:
        return [i for (a, _), i in self.pending.items() if a == account_id]

    def invites_for(self, email: str) -> list[Any]:
        return sorted((i for i in self.pending.values() if str(i.email) == email), key=lambda i: i.created_at)

    def _used(self, account_id: str) -> int:
        return self.seats.setdefault(
            account_id, len(self.members(account_id)) + len(self.invites(account_id))
        )

    def add_invite(self, invite: Any, quota: Quota) -> Any:
        with self.lock:
            if any(str(i.email) == str(invite.email) for i in self.invites(invite.account_id)):
                raise ConflictError(f"{invite.email} already has a pending invite to this account")
            used = self._used(invite.account_id)
            if used + 1 > quota.limit:
                raise quota.exceeded()
            self.pending[invite.account_id, invite.invite_id] = invite
            self.seats[invite.account_id] = used + 1
            return invite

    def delete_invite(self, account_id: str, invite_id: str, quota: Quota) -> Any:
        with self.lock:
            invite = self.pending.pop((account_id, invite_id), None)
            if invite is None:
                raise NotFoundError("invite", invite_id)
            self.seats[account_id] = max(0, self._used(account_id) - 1)
            return invite

    def accept_invite(self, invite: Any, user: User) -> None:
        with self.lock:
            if user.subject in self.accounts.users:
                raise ConflictError("that login already belongs to an account")
            if self.pending.pop((invite.account_id, invite.invite_id), None) is None:
                raise NotFoundError("invite", invite.invite_id)
            self.accounts.users[user.subject] = user

    def remove_member(self, account_id: str, user_id: str, quota: Quota) -> User:
        from chalicelib.domain.errors import ForbiddenError
        from chalicelib.domain.models import Role

        with self.lock:
            found = next((u for u in self.members(account_id) if u.user_id == user_id), None)
            if found is None:
                raise NotFoundError("member", user_id)
            if found.role is Role.OWNER:
                raise ForbiddenError("the account's owner cannot be removed")
            del self.accounts.users[found.subject]
            self.seats[account_id] = max(0, self._used(account_id) - 1)
            return found


# --------------------------------------------------------------------------- the lapsed retention tag (issue 18)


class FakeMediaTagger:
    """:class:`~chalicelib.domain.ports.MediaTagger` in memory: key → tagged."""

    def __init__(self, keys: list[str] | None = None) -> None:
        self.tagged: dict[str, bool] = dict.fromkeys(keys or [], False)
        self.writes = 0

    def keys(self, prefix: str, start_after: str | None, limit: int) -> list[str]:
        found = sorted(
            k for k in self.tagged if k.startswith(prefix) and (start_after is None or k > start_after)
        )
        return found[:limit]

    def set_lapsed(self, key: str, lapsed: bool) -> bool:
        if key not in self.tagged or self.tagged[key] == lapsed:
            return False
        self.tagged[key] = lapsed
        self.writes += 1
        return True
