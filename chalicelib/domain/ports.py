"""Ports: the small interfaces the domain needs from the outside world.

``chalicelib/adapters`` implements each one (against AWS, PyAV and Pillow, the speech engines);
``tests/fakes.py`` holds in-memory fakes that the same contract tests run against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from chalicelib.domain.account_records import AccountJob, JobKind, UserProfile
from chalicelib.domain.analytics import AccountEngagement, CampaignEngagement, ProspectEngagement
from chalicelib.domain.errors import LimitExceededError, TailorcastError
from chalicelib.domain.models import (
    Account,
    ApiKey,
    BatchCounters,
    Branding,
    Campaign,
    CsvImport,
    Page,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    User,
    VideoProbe,
    VideoStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from chalicelib.domain.speech import Speech, Utterance

if TYPE_CHECKING:  # the media package's use cases import these ports: only the type checker looks
    from chalicelib.domain.images import ImageRules, NormalizedImage
    from chalicelib.domain.media.jobs import JobRequest
    from chalicelib.domain.team import Invite


class AccountRepository(Protocol):
    def create(self, account: Account, owner: User) -> None:
        """Create an account and its first user atomically.

        Raises
        ------
        ConflictError
            If the user's identity subject is already bound to an account.
        """

    def get(self, account_id: str) -> Account: ...
    def user_by_subject(self, subject: str) -> User: ...

    def user_and_account(self, account_id: str, user_id: str) -> tuple[User, Account]:
        """The user and its account, read together (DynamoDB: one ``BatchGetItem``), so that a
        request knows its plan and standing with no round trip of its own.

        Raises
        ------
        NotFoundError
            The user or the account does not exist.
        """

    def login_of(self, subject: str) -> tuple[str, str]:
        """The (account id, user id) a login belongs to (its subject claim).

        Raises
        ------
        NotFoundError
            No user signs in with ``subject``.
        """

    def principal_by_subject(self, subject: str) -> tuple[User, Account]:
        """The user a login belongs to, and its account (the subject's claim, then
        :meth:`user_and_account`).

        Raises
        ------
        NotFoundError
            No user signs in with ``subject``.
        """


class ApiKeyRepository(Protocol):
    """API keys: a lookup by the key's hash (what authentication reads) and the account's list."""

    def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        """Store a new key under its hash (both items in one transaction)."""

    def by_hash(self, key_hash: str) -> ApiKey:
        """The key with this SHA-256 (consistent read).

        Raises
        ------
        NotFoundError
            No such key (never made, or revoked).
        """

    def list(self, account_id: str) -> list[ApiKey]:
        """The account's keys, newest first, with their last-used times."""

    def delete(self, account_id: str, key_id: str) -> None:
        """Revoke: both items go in one transaction.

        Raises
        ------
        NotFoundError
            The account has no such key.
        """

    def touch(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        """Set the key's last-used time to ``now`` unless it is already after ``unless_since``
        (a conditional write, so that concurrent requests write it once)."""


class CampaignRepository(Protocol):
    def add(self, campaign: Campaign, quota: Quota | None = None) -> Campaign:
        """Store a new campaign, counted in ``quota.name`` in the same transaction when given.

        Raises
        ------
        LimitExceededError
            ``quota`` is reached (:meth:`Quota.exceeded`: a 402 for a plan's quota).
        """

    def get(self, account_id: str, campaign_id: str) -> Campaign:
        """Return the tenant's campaign.

        Raises
        ------
        NotFoundError
            If it does not exist for *this* account (whether or not it exists elsewhere).
        """

    def list(self, account_id: str, limit: int, cursor: str | None) -> Page[Campaign]: ...

    def save(self, campaign: Campaign) -> Campaign:
        """Write back a campaign read earlier; bumps ``version``.

        Raises
        ------
        ConflictError
            If someone else saved it since it was read (optimistic locking).
        NotFoundError
            If it was deleted meanwhile.
        """

    def update(
        self, account_id: str, campaign_id: str, change: Callable[[Campaign], Campaign | None]
    ) -> Campaign:
        """Read-modify-write with retries on optimistic-lock conflicts.

        ``change`` returns the new campaign, or ``None`` to leave it untouched.
        """

    def delete(self, account_id: str, campaign_id: str) -> None:
        """Delete the campaign item, counted out of the account's ``campaigns`` counter."""


class ProspectSort(StrEnum):
    """Orders a campaign's prospects can be listed in (each is served by an index)."""

    CREATED = "created"  # when the prospect was added (the default; newest first)
    NAME = "name"  # first name, then last name, case-insensitively
    EMAIL = "email"
    COMPANY = "company"  # prospects without a company come last
    STATUS = "status"  # video status, then when added


@dataclass(frozen=True)
class ProspectQuery:
    """Which of a campaign's prospects to list, and in what order.

    ``search`` matches, case- and accent-insensitively, anywhere in the first name, last name,
    email or company; ``status`` keeps one video status.
    """

    search: str | None = None
    status: VideoStatus | None = None
    sort: ProspectSort = ProspectSort.CREATED
    descending: bool = True


class ProspectWriter(Protocol):
    """Adds many prospects to one campaign quickly (a CSV import), while it holds the campaign.

    Got from :meth:`ProspectRepository.bulk_writer`. ``existing`` holds the normalized emails
    already in the campaign when the writer opened; the caller skips those (and repeats) and
    :meth:`add` s the rest. Writes are buffered and sent in parallel batches; ``written`` counts
    the prospects known to be stored.
    """

    existing: set[str]
    written: int

    def add(self, prospect: Prospect) -> None:
        """Queue one prospect (its email must not be in ``existing`` nor added before)."""

    def flush(self) -> None:
        """Wait until everything queued is stored.

        Raises
        ------
        StorageError
            If a batch could not be stored (``written`` still counts what was).
        """


class ProspectRepository(Protocol):
    def add(self, prospect: Prospect) -> Prospect:
        """Add a prospect; its normalized email must be unique in its campaign.

        Raises
        ------
        ConflictError
            If the campaign already has a prospect with that email, or an import is writing to
            the campaign right now.
        """

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> Prospect: ...

    def get_by_watch_token(self, token: str) -> Prospect:
        """The prospect whose watch link carries ``token`` (any account: the token is the secret).

        Raises
        ------
        NotFoundError
            No prospect has that token (a rotated token is no longer any prospect's).
        """

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]: ...

    def search(
        self, account_id: str, campaign_id: str, query: ProspectQuery, limit: int, cursor: str | None
    ) -> Page[Prospect]:
        """One page of the campaign's prospects matching ``query``, in its order.

        A page holds at most ``limit`` prospects and may hold fewer even when more match (the
        store stops after reading a bounded number of items); follow ``cursor`` until it is
        ``None``. A cursor is only valid with the same query.

        Raises
        ------
        InvalidInputError
            If ``cursor`` is malformed or was made for another query.
        """

    def iter_campaign(self, account_id: str, campaign_id: str) -> Iterator[Prospect]:
        """Every prospect of the campaign, oldest first, read page by page."""

    def save(self, prospect: Prospect) -> Prospect:
        """Store a changed prospect (version-checked); returns it with its new version.

        A changed email must stay unique in the campaign.

        Raises
        ------
        NotFoundError
            If the prospect was deleted.
        ConflictError
            If it changed since it was read, its new email is taken, or an import is running.
        """

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[Prospect], Prospect | None],
    ) -> Prospect:
        """Read-change-save with retries on version conflicts; ``change`` returning ``None``
        leaves the prospect as it is."""

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None: ...

    def email_keys(self, account_id: str, campaign_id: str) -> set[str]:
        """The normalized emails of the campaign's prospects (read without the rest of them)."""

    def count_by_status(self, account_id: str, campaign_id: str) -> dict[VideoStatus, int]:
        """How many of the campaign's prospects are in each video status (every status listed)."""

    def bulk_writer(
        self, account_id: str, campaign_id: str, owner: str
    ) -> AbstractContextManager[ProspectWriter]:
        """Hold the campaign's prospects for a bulk import by ``owner`` (an import id).

        While held, :meth:`add` and email changes through :meth:`save` in that campaign are
        refused with ``ConflictError``; leaving the context flushes and releases it. A holder that
        dies releases it after :data:`IMPORT_LEASE_SECONDS`.

        Raises
        ------
        ConflictError
            If another import holds the campaign.
        """

    def delete_campaign(self, account_id: str, campaign_id: str) -> int: ...


#: How long a bulk import may hold a campaign's prospects without finishing (a Lambda lives 15 min).
IMPORT_LEASE_SECONDS = 15 * 60


class CsvImportRepository(Protocol):
    def add(self, item: CsvImport) -> CsvImport: ...
    def get(self, account_id: str, campaign_id: str, import_id: str) -> CsvImport: ...
    def list(self, account_id: str, campaign_id: str) -> list[CsvImport]: ...
    def save(self, item: CsvImport) -> CsvImport: ...


class RenderBatchRepository(Protocol):
    """Render batches; a batch's :class:`BatchCounters` live beside it and are only ever moved
    by :meth:`VideoRepository.move` (atomically with a prospect's status) or :meth:`set_counters`."""

    def add(self, batch: RenderBatch) -> RenderBatch: ...
    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch: ...
    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[RenderBatch]:
        """The campaign's batches, newest first."""

    def save(self, batch: RenderBatch) -> RenderBatch:
        """Write back a batch read earlier (its counters are not written; see above).

        Raises
        ------
        ConflictError
            If it was saved by someone else since it was read.
        """

    def update(
        self,
        account_id: str,
        campaign_id: str,
        batch_id: str,
        change: Callable[[RenderBatch], RenderBatch | None],
    ) -> RenderBatch: ...

    def set_counters(self, account_id: str, campaign_id: str, batch_id: str, counters: BatchCounters) -> None:
        """Overwrite the counters (when a batch is prepared, before any prospect moves)."""


@dataclass(frozen=True)
class CounterMove:
    """Which batch counters a prospect's status change moves (``-1`` from one, ``+1`` to another)."""

    batch_id: str
    deltas: dict[str, int]


@dataclass(frozen=True)
class LedgerMove:
    """How a prospect video's status change moves the account's video ledger for ``period``
    (see :mod:`chalicelib.domain.usage`): ``reserve`` (``taken + 1`` if ``taken < limit``),
    ``commit`` (``committed + 1``) or ``release`` (``taken - 1``)."""

    account_id: str
    period: str
    kind: str  # reserve | commit | release
    limit: int = 0  # reserve only


@dataclass(frozen=True)
class VideoUsage:
    """The video ledger of one period: ``used`` rendered, ``reserved`` queued or rendering."""

    used: int = 0
    reserved: int = 0

    @property
    def taken(self) -> int:
        return self.used + self.reserved


class UsageLedger(Protocol):
    """Reads the account's counters (moved by the repositories, in their transactions)."""

    def videos(self, account_id: str, period: str) -> VideoUsage:
        """The video ledger of ``period`` (zero for a period with no render yet)."""

    def count(self, account_id: str, name: str) -> int:
        """A counted quota's count (``campaigns``, ``seats``…; 0 for one never moved)."""

    def snapshot(
        self, account_id: str, period: str, names: Sequence[str]
    ) -> tuple[VideoUsage, dict[str, int]]:
        """The video ledger of ``period`` and the counts ``names``, read together (one round trip)."""


class VideoRepository(Protocol):
    """One :class:`ProspectVideo` per prospect (its latest render), version-checked like campaigns."""

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> ProspectVideo: ...
    def save(self, video: ProspectVideo) -> ProspectVideo: ...
    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo: ...

    def move(
        self, video: ProspectVideo, counters: CounterMove | None, ledger: LedgerMove | None = None
    ) -> ProspectVideo:
        """Save ``video`` (read earlier: version-checked) and move its batch's counters and the
        account's video ledger, in one transaction, so a status change is counted exactly once
        however often it is retried.

        Raises
        ------
        ConflictError
            If the video changed since it was read (nothing is written).
        QuotaExceededError
            ``ledger`` reserves and the period's ledger is full (nothing is written).
        """

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        """Forget the prospect's video (its media is deleted separately); no error if none."""

    def list_campaign(self, account_id: str, campaign_id: str) -> Iterator[ProspectVideo]:
        """Every prospect video of the campaign (paged underneath)."""


class LexiconRepository(Protocol):
    """An account's pronunciation lexicon, keyed by the normalized name."""

    def put(self, entry: PronunciationEntry) -> PronunciationEntry: ...
    def get(self, account_id: str, key: str) -> PronunciationEntry: ...
    def list(self, account_id: str) -> list[PronunciationEntry]: ...
    def delete(self, account_id: str, key: str) -> None: ...


class VoiceRunner(Protocol):
    """The voice function (a container-image Lambda: the engines and models are too big to ride
    with the API's functions), called by name with an action and its payload."""

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run ``action`` and return its result.

        Raises
        ------
        InvalidInputError, NotFoundError, ConflictError, SynthesisError
            As the action raised them (message and field issues kept).
        StorageError
            The function could not be reached or crashed.
        """

    def start(self, action: str, payload: dict[str, Any]) -> None:
        """Run ``action`` asynchronously (retried by the Lambda service on failure)."""


class EventPublisher(Protocol):
    """Outgoing webhooks: an account's registered endpoints receive its events, signed."""

    def publish(self, account_id: str, event_type: str, event_id: str, data: dict[str, Any]) -> int:
        """Queue delivery of one event to every enabled endpoint of the account subscribed to
        ``event_type`` (``video.completed``, ``video.failed``, ``batch.completed``); returns how
        many deliveries were queued.

        ``event_id`` is stable for the same occurrence (a retried task publishes the same id), so
        a repeated publish queues nothing new and receivers can deduplicate on it.

        Raises
        ------
        StorageError
            The deliveries could not be queued (the caller's own work is unaffected and it may
            retry with the same ``event_id``).
        """


class RenderOrchestrator(Protocol):
    """The render state machine (Step Functions), as the domain starts and stops it."""

    def start(self, batch: RenderBatch, attempt: int) -> str:
        """Start an execution for the batch (named after it and ``attempt``); returns its ARN.
        Starting the same batch and attempt twice returns the same execution."""

    def stop(self, execution_arn: str, cause: str) -> None:
        """Stop the execution (already stopped or gone is fine)."""

    def status(self, execution_arn: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; ``None`` if the service has no such
        execution (the local stack was restarted)."""


class TaskCallbacks(Protocol):
    """Step Functions' callback pattern: resume a task that waits on a token."""

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        """Resume the task with ``output``; ``False`` if the token is dead (execution gone)."""

    def fail(self, token: str, error: str, cause: str) -> bool:
        """Fail the task with an error name its ``Catch`` matches; ``False`` if the token is dead."""


@dataclass(frozen=True)
class JobStatus:
    status: str  # SUBMITTED PROGRESSING COMPLETE ERROR CANCELED
    percent: int | None = None
    error_code: int | None = None
    error_message: str | None = None


class MediaJobs(Protocol):
    """MediaConvert, as the domain needs it."""

    def status(self, job_id: str) -> JobStatus | None:
        """The job's current status, or ``None`` if the service does not know the job."""

    def submit(self, request: JobRequest) -> str:
        """Create the job and return its id. Idempotent on ``request.client_request_token``.

        Raises
        ------
        StorageError
            If the service refused or could not be reached (the message says which).
        """


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_in: int


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None


class ObjectStore(Protocol):
    def presign_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> PresignedPost: ...
    def head(self, key: str) -> ObjectInfo: ...
    def download(self, key: str, dest: Path) -> Path: ...
    def read_prefix(self, key: str, max_bytes: int) -> bytes: ...
    def open_stream(self, key: str) -> BinaryIO:
        """The object as a binary stream read on demand (close it, or use it in ``with``).

        Raises
        ------
        NotFoundError
            If there is no such object.
        StorageError
            If the store cannot be read.
        """

    def delete_prefix(self, prefix: str) -> int: ...
    def get_bytes(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        """The object, or bytes ``first``..``last`` (inclusive) of it. NotFoundError if absent."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def copy(self, source_key: str, key: str) -> None:
        """Copy an object within the store, server side (no bytes pass through the caller).

        Raises
        ------
        NotFoundError
            If there is no object at ``source_key``.
        """

    def uri(self, key: str) -> str:
        """``s3://bucket/key``: how other AWS services (MediaConvert) address the object."""

    def presign_get(self, key: str, expires_in: int, filename: str | None = None) -> str: ...


class MediaProbe(Protocol):
    def probe(self, path: Path) -> VideoProbe:
        """Probe a local media file and prove it decodes.

        Raises
        ------
        UploadRejectedError
            With a seller-readable reason: not a video, truncated, undecodable, unsupported.
        """


class MediaCodec(Protocol):
    """What the media use cases ask of a codec and an image library: decode a recording, draw
    the name card, picture a rendition's segments, remux the MP4 download. Bytes in, bytes out;
    the adapter (:mod:`chalicelib.adapters.frames`) is PyAV and Pillow.

    A rendition is passed as its fMP4 init segment and media segments, as the render wrote them.
    """

    def decode_audio(self, data: bytes, *, what: str) -> bytes:
        """Any recording, as interleaved s16 stereo PCM at the ladder's sample rate.

        Raises
        ------
        InvalidInputError
            Not a supported recording, refers to other files, no audio, empty or undecodable
            (the message names ``what``).
        """

    def name_card(
        self, text: str, width: int, height: int, *, subtitle: str | None = None
    ) -> tuple[bytes, tuple[int, int]]:
        """The name card for a ``width`` x ``height`` frame as a PNG cropped to its own box, and
        where the box's top-left corner goes on the frame."""

    def poster(self, init: bytes, segments: Sequence[bytes], *, at_seconds: float) -> bytes:
        """The JPEG poster: the frame shown at ``at_seconds`` (on the video's own timeline)."""

    def still_png(
        self, init: bytes, segments: Sequence[bytes], *, at_seconds: float, width: int, height: int
    ) -> bytes:
        """A PNG of the frame shown at ``at_seconds`` (on the video's own timeline), scaled to
        ``width`` x ``height``: the picture a grown window holds.

        Raises
        ------
        ValueError
            No frame at ``at_seconds`` in the segments, or they do not decode.
        """

    def previews(
        self,
        init: bytes,
        segments: Sequence[bytes],
        *,
        start_seconds: float,
        seconds: float,
        gif_width: int,
        gif_max_bytes: int,
    ) -> tuple[bytes, bytes]:
        """The animated WebP and GIF of ``seconds`` from ``start_seconds``, from one decode; the
        GIF ``gif_width`` wide and at most ``gif_max_bytes``."""

    def mp4(
        self,
        video_init: bytes,
        video_segments: Sequence[bytes],
        audio_init: bytes,
        audio_segments: Sequence[bytes],
        dest: Path,
    ) -> None:
        """Remux a video and an audio rendition into one progressive MP4 at ``dest``."""


class TokenVerifier(Protocol):
    def subject(self, token: str) -> str:
        """Verify a bearer token and return its subject.

        Raises
        ------
        AuthenticationError
            If the token is malformed, expired, or not from our issuer/audience.
        """


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine offers, with where it came from (shown to sellers and in the README)."""

    voice_id: str
    engine: str
    language: str
    description: str
    licence: str
    provenance: str
    clones: bool = False  # a true clone of the seller (no pitch/timbre matching needed)


class SpeechSynthesizer(Protocol):
    """A text-to-speech engine (piper, flite, espeak-ng, Amazon Polly, ElevenLabs)."""

    name: str

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` (honouring its IPA or respelling) with ``voice_id`` or the default.

        Raises
        ------
        SynthesisError
            The engine is unavailable (not installed, no API key), refused, or produced no audio.
        InvalidInputError
            The voice is unknown to this engine.
        """


@dataclass(frozen=True)
class Quota:
    """A ceiling on one per-account count: webhook endpoints today; campaigns per plan, videos per
    period and seats later. ``name`` names the account's counter; ``message`` is what the seller
    reads when the ceiling is reached."""

    name: str
    limit: int
    message: str = ""

    def exceeded(self, used: int | None = None) -> TailorcastError:
        """The error for a move refused at the limit (``used``: the count it found, if read)."""
        return LimitExceededError(
            self.message or f"the account's limit of {self.limit} {self.name} is reached"
        )


class QuotaCounter(Protocol):
    """Per-account counters with a ceiling, moved atomically: however many requests race, a count
    never passes its quota's limit (DynamoDB: one conditional update per move, ``count < limit``).

    Repositories whose items are counted (webhook endpoints) move the same counter in the same
    transaction as the item itself, given the :class:`Quota`; these methods are for counts that
    have no item of their own (renders in a billing period).
    """

    def usage(self, account_id: str, name: str) -> int:
        """The count so far (0 for a counter never moved)."""

    def reserve(self, account_id: str, quota: Quota, amount: int = 1) -> int:
        """Count ``amount`` more and return the new count.

        Raises
        ------
        LimitExceededError
            The count would pass ``quota.limit`` (:meth:`Quota.exceeded`); nothing is counted.
        StorageError
            The counter could not be moved.
        """

    def release(self, account_id: str, name: str, amount: int = 1) -> int:
        """Count ``amount`` less (never below zero) and return the new count.

        Raises
        ------
        StorageError
            The counter could not be moved.
        """


class SecretSealer(Protocol):
    """Encrypts the secrets we store but must use again (a webhook's HMAC key): KMS in the cloud
    and in the local stack. ``context`` is bound to the ciphertext (KMS encryption context, the
    AEAD's associated data): opening with another context fails, so a sealed value copied onto
    another tenant's item is useless."""

    def seal(self, plaintext: str, context: Mapping[str, str]) -> str:
        """The sealed form of ``plaintext`` (ASCII, safe to store as a string attribute).

        Raises
        ------
        StorageError
            The key service refused or could not be reached (``ConfigurationError``: the key is
            missing or disabled).
        """

    def open(self, sealed: str, context: Mapping[str, str]) -> str:
        """The plaintext :meth:`seal` was given.

        Raises
        ------
        StorageError
            ``sealed`` was not sealed by this sealer with this ``context`` (tampered with, or
            moved), or the key service refused or could not be reached.
        """


class WebhookRepository(Protocol):
    """An account's webhook endpoints and their deliveries (all in the account's partition).

    Endpoints are counted in the account's ``quota.name`` counter (see :class:`QuotaCounter`),
    moved in the same transaction as the endpoint is added or deleted.
    """

    def add_endpoint(self, endpoint: WebhookEndpoint, quota: Quota) -> WebhookEndpoint:
        """Store a new endpoint and count it, atomically.

        An account whose endpoints were stored before they were counted is counted first (once).

        Raises
        ------
        LimitExceededError
            The account already has ``quota.limit`` endpoints (:meth:`Quota.exceeded`).
        ConflictError
            An endpoint with this id exists.
        """

    def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint:
        """Return the tenant's endpoint.

        Raises
        ------
        NotFoundError
            If it does not exist for *this* account.
        """

    def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the account, newest first (an account has at most a handful)."""

    def delete_endpoint(self, account_id: str, endpoint_id: str, quota: Quota) -> None:
        """Delete the endpoint (and count it out of ``quota.name``, atomically) and its delivery records.

        Raises
        ------
        NotFoundError
            If it does not exist for this account.
        """

    def add_delivery(self, delivery: WebhookDelivery) -> tuple[WebhookDelivery, bool]:
        """Store a delivery unless the endpoint already has one for the same ``event_id``.

        Returns the stored delivery (the earlier one, with its id and payload, when the event was
        already queued to this endpoint) and whether it was added now.
        """

    def get_delivery(self, account_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Raises ``NotFoundError`` if there is no such delivery for this account and endpoint."""

    def save_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """Write back a delivery read earlier.

        Raises
        ------
        NotFoundError
            If it was deleted meanwhile (its endpoint was deleted): nothing is written.
        """

    def list_deliveries(
        self, account_id: str, endpoint_id: str, limit: int, cursor: str | None = None
    ) -> Page[WebhookDelivery]:
        """The endpoint's deliveries, newest first."""


class WebhookSender(Protocol):
    """HTTP for outgoing webhooks: one POST, no redirects, a short timeout."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` and return the response's status code (any status, 3xx included).

        Raises
        ------
        WebhookDeliveryError
            The request timed out, could not connect, or the destination is not allowed (a host
            that resolves to a private or loopback address).
        """


class DeliveryQueue(Protocol):
    """Where a stored delivery is handed over to be attempted (and retried) asynchronously."""

    def enqueue(self, delivery: WebhookDelivery) -> bool:
        """Start delivering; ``False`` if this delivery was already queued (idempotent).

        Raises
        ------
        StorageError
            It could not be queued; the caller may try again with the same delivery.
        """


class RateLimiter(Protocol):
    """Fixed-window counters and one-time claims shared by every Lambda (abuse limits and replay
    protection on public endpoints)."""

    def hit(self, key: str, ttl_seconds: int) -> int:
        """Count one hit on ``key`` (which names its window); returns the count so far.

        Raises
        ------
        StorageError
            The counter could not be updated.
        """

    def claim(self, keys: Sequence[str], ttl_seconds: int) -> list[bool]:
        """Claim each key once, for ``ttl_seconds`` at least: ``True`` where this call claimed it
        first, ``False`` where it was claimed before (by any Lambda, or earlier in ``keys``).
        Atomic per key (a conditional write), so two concurrent claims of a key get one ``True``.

        Raises
        ------
        StorageError
            A claim could not be written (none of this call's claims stand).
        """

    def release(self, keys: Sequence[str]) -> None:
        """Forget claims (those of a request whose work failed, so that its retry is not taken
        for a replay). Best effort: a claim that can't be removed is logged and kept."""


class AnalyticsCache(Protocol):
    """Computed analytics answers, each with the time it was computed (its freshness)."""

    def get(self, account_id: str, key: str) -> tuple[datetime, dict[str, Any]] | None: ...

    def put(
        self, account_id: str, key: str, computed_at: datetime, value: dict[str, Any], ttl_seconds: int
    ) -> None:
        """Store an answer; it disappears after ``ttl_seconds`` (never served past its bound anyway)."""


class EventSink(Protocol):
    """The engagement event stream (Firehose into the analytics bucket)."""

    def put(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Send events (dicts with the columns of ``analytics_schema.COLUMNS``).

        Raises
        ------
        StorageError
            Some events could not be stored after retries.
        """


class AnalyticsQueries(Protocol):
    """Engagement analytics over the event logs (Athena); every answer is scoped to one account.

    Each method raises ``StorageError`` when the query fails or times out, and
    ``InvalidInputError`` when ``since`` is after ``until``. Days are UTC, both ends included.
    """

    def prospect(
        self, account_id: str, campaign_id: str, prospect_id: str, since: date, until: date
    ) -> ProspectEngagement: ...

    def campaign(self, account_id: str, campaign_id: str, since: date, until: date) -> CampaignEngagement: ...

    def account(self, account_id: str, since: date, until: date) -> AccountEngagement: ...


# --------------------------------------------------------------------------- billing (issue 18)

if TYPE_CHECKING:
    from chalicelib.domain.billing import BillingUpdate, CheckoutHold, CheckoutSession, Invoice
    from chalicelib.domain.models import Plan


class BillingGateway(Protocol):
    """Stripe, as the product uses it (the adapter pins the API version).

    Every method raises ``StorageError`` when Stripe cannot be reached or refuses (a retry may
    help), and ``ConfigurationError`` when the API key is missing or rejected.
    """

    def create_customer(self, account_id: str, *, email: str, name: str, idempotency_key: str) -> str:
        """Create a customer tagged ``metadata.account_id``; its id."""

    def customer_account_id(self, customer_id: str) -> str | None:
        """The account id in the customer's metadata (None: not one of ours, or deleted)."""

    def price_for(self, plan: Plan) -> str:
        """The id of the plan's price, found by its lookup key."""

    def create_checkout(
        self,
        *,
        customer_id: str,
        account_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
    ) -> CheckoutSession:
        """A subscription-mode Checkout Session (``client_reference_id`` = the account id)."""

    def checkout_session(self, session_id: str) -> CheckoutSession: ...

    def expire_checkout(self, session_id: str) -> bool:
        """Expire an open session: True once it can no longer be paid, False if it was paid."""

    def create_portal(self, customer_id: str, return_url: str) -> str:
        """A billing portal session's URL."""

    def subscription_json(self, subscription_id: str) -> Mapping[str, Any]:
        """The subscription as Stripe answers it now (JSON)."""

    def default_card(self, customer_id: str, subscription_id: str | None) -> tuple[str, str] | None:
        """The card that pays: (brand, last4), if known."""

    def recent_invoices(self, customer_id: str, limit: int) -> list[Invoice]: ...


class BillingRepository(Protocol):
    """The billing side of the table: conditional writes only."""

    def set_customer(self, account_id: str, customer_id: str) -> str:
        """Save the account's Stripe customer unless it has one; the one it has after."""

    def hold_checkout(
        self, account_id: str, hold: CheckoutHold, now: datetime, expires_at: datetime
    ) -> CheckoutHold:
        """Take the account's checkout hold unless an unexpired one exists; the hold in force."""

    def replace_checkout(
        self, account_id: str, old_token: str, hold: CheckoutHold, expires_at: datetime
    ) -> bool:
        """Swap the hold ``old_token`` for ``hold``; False if it is no longer ``old_token``."""

    def record_checkout(self, account_id: str, token: str, session_id: str, url: str) -> None:
        """Note the session made for the hold ``token`` (nothing if the hold has changed)."""

    def release_checkout(self, account_id: str, session_id: str) -> None:
        """Drop the hold whose session is ``session_id`` (it completed)."""

    def apply_subscription(self, account_id: str, update: BillingUpdate, changed_at: datetime) -> bool:
        """Write ``update`` unless the account holds a state from after ``changed_at``; written?"""

    def claim_event(self, event_id: str, ttl: timedelta) -> bool:
        """Claim a Stripe event id for ``ttl``: True only for the first claim."""

    def release_event(self, event_id: str) -> None: ...


# --------------------------------------------------------------------------- issue 18, item 6 and branding


class ImageNormalizer(Protocol):
    """Decodes an uploaded image in full and re-encodes it (Pillow, ``adapters/images.py``)."""

    def normalize(self, data: bytes, rules: ImageRules) -> NormalizedImage:
        """The image as stored by ``rules`` (scaled to fit its box, re-encoded, metadata gone).

        Raises
        ------
        InvalidInputError
            Not a PNG/JPEG/WebP image, undecodable, or outside the size bounds (names ``rules.field``).
        """


class AccountBrandingStore(Protocol):
    def set_branding(self, account_id: str, branding: Branding | None) -> None:
        """Store the account's branding (``None``: the default look) without touching the rest of
        the account item (its billing fields move under their own version checks).

        Raises
        ------
        NotFoundError
            No such account.
        """


class ProfileRepository(Protocol):
    """Users' profiles and notification preferences, and the users of an account."""

    def get(self, account_id: str, user_id: str) -> UserProfile:
        """The user's profile; a user who never saved one gets the defaults (every email on)."""

    def save(self, profile: UserProfile) -> UserProfile: ...

    def users(self, account_id: str) -> list[User]:
        """Every user of the account (the team), oldest first."""


@dataclass(frozen=True)
class Email:
    """One email, composed: plain text and HTML bodies of the same message."""

    to: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Send one email (SES in the cloud, moto's SES locally); returns the provider's message id.

        Raises
        ------
        StorageError
            It could not be sent (retryable when ``retry_after`` is set).
        """


class AccountJobRepository(Protocol):
    """The account's exports (``EXPORT#{id}``) and its deletion (one item, ``DELETION``)."""

    def add(self, job: AccountJob) -> tuple[AccountJob, bool]:
        """Store a new job; for a deletion, only if none exists. Returns the stored job and
        whether this call created it (a second deletion request gets the first one back)."""

    def get(self, account_id: str, kind: JobKind, job_id: str) -> AccountJob:
        """Raises NotFoundError when the account has no such job."""

    def save(self, job: AccountJob) -> AccountJob: ...


class TaskStarter(Protocol):
    def start(self, task: str, payload: dict[str, Any]) -> None:
        """Start the named task Lambda asynchronously (``InvocationType=Event``); Lambda retries
        a failed asynchronous run twice, and each task is idempotent and resumable.

        Raises
        ------
        StorageError
            It could not be started (the job stays pending; asking again starts it).
        """


class AccountEraser(Protocol):
    """Removes an account's items from the table, partition by partition (each call idempotent)."""

    def campaign_ids(self, account_id: str) -> list[str]:
        """The ids of the account's campaigns (each has its own partition)."""

    def erase_campaign(self, account_id: str, campaign_id: str) -> int:
        """Delete every item of the campaign's partition, then the campaign's own item."""

    def erase_user(self, user: User) -> None:
        """Delete the user's login claim (``SUBJECT#…``), then the user's item."""

    def erase_pointers(self, account_id: str) -> int:
        """Delete the items outside the account's partitions that name it: its API keys' lookup
        items, its invites' lookup items, its rate-limit counters. Call it while the account's
        own items (which lead to the first two) still exist.
        """

    def erase_account_items(self, account_id: str, keep: Sequence[str]) -> int:
        """Delete every item of the account's partition except the sort keys in ``keep``."""

    def erase_last(self, account_id: str, sort_keys: Sequence[str]) -> None:
        """Delete these last items of the account's partition (the deletion record, the account)."""


class MediaTagger(Protocol):
    """The media bucket's ``lapsed`` retention tag, object by object (``docs/retention.md``)."""

    def keys(self, prefix: str, start_after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` keys under ``prefix`` after ``start_after``, in key order."""

    def set_lapsed(self, key: str, lapsed: bool) -> bool:
        """Tag the object ``lapsed=true`` (restarting its age, so the retention period counts
        from now), or remove the tag; ``False`` when it already was so (or is gone).

        Raises
        ------
        StorageError
            The store refused or is unreachable (the task retries).
        """


class IdentityDirectory(Protocol):
    def delete_user(self, subject: str, email: str) -> bool:
        """Delete the login from the identity provider (Cognito ``AdminDeleteUser``); ``False``
        when there was none (already deleted, or a login the provider never had).

        Raises
        ------
        StorageError
            The provider refused or is unreachable (the deletion task retries).
        """


class SubscriptionCanceller(Protocol):
    """Ends an account's paid subscription at once (Stripe; the billing adapter implements it)."""

    def cancel(self, subscription_id: str) -> None:
        """Cancel the subscription now, without proration; one already cancelled or gone is done.

        Raises
        ------
        StorageError
            The payment provider refused or is unreachable (the deletion task retries).
        """


class AccountDirectory(Protocol):
    def account_ids(self) -> Iterator[str]:
        """Every account's id (the weekly digest walks them)."""


# --------------------------------------------------------------------------- identity and team (issue 18)


@dataclass(frozen=True)
class AuthTokens:
    """A sign-in's tokens (Cognito's ``AuthenticationResult``); a refresh returns no new
    ``refresh_token`` (``None``)."""

    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int


class IdentityProvider(Protocol):
    """The user pool: Cognito in the cloud, moto's Cognito (completed by ``devstack/cognito.py``)
    locally, through the same ``cognito-idp`` calls. Each method raises the product's errors:
    ``ConflictError`` (email taken), ``InvalidInputError`` naming the field (a wrong or expired
    ``code``, a weak ``password``), ``AuthenticationError`` (wrong password, revoked token),
    ``NotConfirmedError``, ``RateLimitedError`` (too many attempts), ``StorageError``."""

    def sign_up(self, email: str, password: str, name: str | None, company: str | None) -> str:
        """Register an unconfirmed user (a code is emailed); returns the user's ``sub``."""

    def confirm_sign_up(self, email: str, code: str) -> None:
        """Confirm with the emailed code (the pool's trigger then creates the account)."""

    def resend_code(self, email: str) -> None: ...
    def log_in(self, email: str, password: str) -> AuthTokens: ...
    def refresh(self, refresh_token: str) -> AuthTokens: ...
    def log_out(self, access_token: str) -> None:
        """Revoke every token of the user (GlobalSignOut)."""

    def forgot_password(self, email: str) -> None:
        """Email a reset code (says nothing about whether the email has an account)."""

    def reset_password(self, email: str, code: str, password: str) -> None: ...
    def change_password(self, access_token: str, old_password: str, new_password: str) -> None: ...


class TeamRepository(Protocol):
    """An account's members (its users) and pending invites. Members and pending invites together
    are the account's seats: adding an invite moves the seat counter in the same transaction."""

    def members(self, account_id: str) -> list[User]: ...
    def invites(self, account_id: str) -> list[Invite]: ...
    def invites_for(self, email: str) -> list[Invite]:
        """Pending invites of ``email`` in any account, oldest first (sign-up looks them up)."""

    def add_invite(self, invite: Invite, quota: Quota) -> Invite:
        """Store the invite and count its seat.

        Raises
        ------
        LimitExceededError
            The seats are all taken; nothing is written.
        ConflictError
            The email already has a pending invite to this account.
        """

    def delete_invite(self, account_id: str, invite_id: str, quota: Quota) -> Invite:
        """Remove a pending invite and free its seat (``NotFoundError`` if there is none)."""

    def accept_invite(self, invite: Invite, user: User) -> None:
        """The invite becomes the member ``user`` (its seat stays counted).

        Raises
        ------
        ConflictError
            ``user``'s subject already belongs to an account.
        NotFoundError
            The invite was withdrawn meanwhile.
        """

    def remove_member(self, account_id: str, user_id: str, quota: Quota) -> User:
        """Remove a member who is not the owner and free their seat (``NotFoundError`` if none)."""
