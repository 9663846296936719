"""Ports: the small interfaces the domain needs from the outside world.

``chalicelib/adapters`` implements each one against AWS; ``chalicelib/adapters/memory.py`` holds
in-memory fakes that the same contract tests run against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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
from chalicelib.media.jobs import JobRequest
from chalicelib.voice.speech import Speech, Utterance


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


class CampaignRepository(Protocol):
    def add(self, campaign: Campaign) -> Campaign: ...
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

    def delete(self, account_id: str, campaign_id: str) -> None: ...


class ProspectRepository(Protocol):
    def add(self, prospect: Prospect) -> Prospect:
        """Add a prospect; its normalized email must be unique in its campaign.

        Raises
        ------
        ConflictError
            If the campaign already has a prospect with that email.
        """

    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> Prospect: ...
    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[Prospect]: ...
    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None: ...
    def delete_campaign(self, account_id: str, campaign_id: str) -> int: ...


class CsvImportRepository(Protocol):
    def add(self, item: CsvImport) -> CsvImport: ...
    def get(self, account_id: str, campaign_id: str, import_id: str) -> CsvImport: ...
    def list(self, account_id: str, campaign_id: str) -> list[CsvImport]: ...
    def save(self, item: CsvImport) -> CsvImport: ...


class RenderBatchRepository(Protocol):
    def add(self, batch: RenderBatch) -> RenderBatch: ...
    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch: ...
    def save(self, batch: RenderBatch) -> RenderBatch: ...


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
    def delete_prefix(self, prefix: str) -> int: ...
    def get_bytes(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        """The object, or bytes ``first``..``last`` (inclusive) of it. NotFoundError if absent."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
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
