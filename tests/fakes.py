"""In-memory fakes of the domain ports, with the same semantics as the DynamoDB adapters.

The repository contract tests (tests/unit/test_repository_contract.py) run one suite against
both, so a fake can never quietly drift from the real thing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path

from chalicelib.adapters.dynamodb.repositories import decode_cursor, encode_cursor
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import ConflictError, NotFoundError, StorageError, UploadRejectedError
from chalicelib.domain.models import (
    Account,
    Campaign,
    CsvImport,
    Page,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    User,
    VideoProbe,
)
from chalicelib.domain.ports import JobStatus, ObjectInfo, PresignedPost
from chalicelib.media.jobs import JobRequest


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

    def add(self, campaign: Campaign) -> Campaign:
        key = f"CAMPAIGN#{campaign.campaign_id}"
        with self._lock:
            if key in self._tenant(campaign.account_id):
                raise ConflictError("exists")
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
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Prospect]] = {}

    def _part(self, account_id: str, campaign_id: str) -> dict[str, Prospect]:
        return self.items.setdefault((account_id, campaign_id), {})

    def add(self, prospect: Prospect) -> Prospect:
        part = self._part(prospect.account_id, prospect.campaign_id)
        if any(p.email_key == prospect.email_key for p in part.values()):
            raise ConflictError(f"a prospect with email {prospect.email_key!r} is already in this campaign")
        stored = prospect.model_copy(update={"version": 1})
        part[f"PROSPECT#{prospect.prospect_id}"] = stored
        return stored

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> Prospect:
        found = self._part(account_id, campaign_id).get(f"PROSPECT#{prospect_id}")
        if found is None:
            raise NotFoundError("prospect", prospect_id)
        return found

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]:
        return _page(self._part(account_id, campaign_id), "PROSPECT#", limit, cursor)  # type: ignore[arg-type]

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        if self._part(account_id, campaign_id).pop(f"PROSPECT#{prospect_id}", None) is None:
            raise NotFoundError("prospect", prospect_id)

    def delete_campaign(self, account_id: str, campaign_id: str) -> int:
        return len(self.items.pop((account_id, campaign_id), {}))


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

    def add(self, batch: RenderBatch) -> RenderBatch:
        return self.save(batch.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
        try:
            return self.items[(account_id, campaign_id, batch_id)]
        except KeyError:
            raise NotFoundError("render batch", batch_id) from None

    def save(self, batch: RenderBatch) -> RenderBatch:
        key = (batch.account_id, batch.campaign_id, batch.batch_id)
        current = self.items.get(key)
        if (current.version if current else 0) != batch.version:
            raise ConflictError("changed concurrently")
        self.items[key] = batch.model_copy(update={"version": batch.version + 1})
        return self.items[key]


class FakeVideoRepository:
    """One :class:`ProspectVideo` per prospect, with the DynamoDB adapter's version semantics:
    version 0 creates (and conflicts if one exists), version N overwrites only version N."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], ProspectVideo] = {}
        self._lock = threading.Lock()

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
        return stored.model_copy(deep=True)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo:
        return optimistic_update(lambda: self.get(account_id, campaign_id, prospect_id), self.save, change)


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
