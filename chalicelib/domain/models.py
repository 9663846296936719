"""Domain entities as pydantic models. Pure: no boto3, pynamodb or chalice here.

Every entity carries the ``account_id`` of the tenant that owns it; repositories key every item
by it, so a lookup without the caller's account can never reach another tenant's data.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator
from ulid import ULID

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_watch_token() -> str:
    """The secret in a prospect's watch link (``/w/{token}``): 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def new_id(prefix: str) -> str:
    """A time-sortable, unguessable id (ULID, 80 random bits) with a readable type prefix."""
    return f"{prefix}_{str(ULID()).lower()}"


class Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Plan(StrEnum):
    """The plans of the product's matrix; what each allows is in :mod:`chalicelib.domain.plans`."""

    TRIAL = "trial"
    BASIC = "basic"
    PRO = "pro"
    AGENCY = "agency"

    @classmethod
    def _missing_(cls, value: object) -> Plan | None:
        return cls.BASIC if value == "starter" else None  # stored by versions before issue 18


class AccountStatus(StrEnum):
    """Billing standing. ``active`` covers a running trial; ``past_due``: a renewal failed and
    Stripe is retrying (work goes on for a grace period); ``unpaid``: the retries ran out;
    ``cancelled``: the subscription ended. Only ``active`` (and ``past_due`` within its grace)
    creates new work; every status keeps its data and its sent watch links playing."""

    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELLED = "cancelled"


TRIAL_DAYS = 7
TRIAL_VIDEO_LIMIT = 5
#: How long a past-due account keeps creating new work while Stripe retries the card.
PAST_DUE_GRACE_DAYS = 7


class Branding(Entity):
    """An account's look on its watch pages (issue 18, item 3): its logo (a public image of the media
    bucket), an accent colour for the call to action, and whether the "made with Tailorcast" badge
    shows. Kept on the account item, which the watch page reads anyway; only a plan with the
    ``branding`` entitlement shows it (:mod:`chalicelib.domain.branding`), so a downgrade keeps it
    stored but shows the default look."""

    logo_key: str | None = Field(default=None, max_length=1024)
    accent_color: str | None = Field(default=None, pattern=r"^#[0-9a-f]{6}$")
    show_badge: bool = True
    updated_at: datetime = Field(default_factory=utcnow)


class Account(Entity):
    """The tenant, with the billing state that Stripe's webhooks drive.

    The usage period is the trial (``created_at`` to ``trial_ends_at``) until the account
    subscribes, then the subscription's current billing period (``period_start``/``period_end``,
    as Stripe reports it). ``subscription_changed_at`` is the Stripe object's own time of the
    last state written, so that webhooks delivered out of order never roll the account back.
    """

    account_id: str
    name: str = Field(min_length=1, max_length=200)
    plan: Plan = Plan.TRIAL
    status: AccountStatus = AccountStatus.ACTIVE
    trial_ends_at: datetime | None = None
    trial_video_limit: int = TRIAL_VIDEO_LIMIT
    videos_rendered: int = 0
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    subscription_changed_at: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    past_due_since: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    version: int = 0
    branding: Branding | None = None  # issue 18: the watch pages' look (plans with branding only)

    @property
    def prospects_per_campaign(self) -> int | None:
        """The plan's limit on a campaign's prospects (None: no limit)."""
        from chalicelib.domain.plans import spec

        return spec(self.plan).prospects_per_campaign

    def usage_period(self) -> tuple[datetime, datetime | None]:
        """The period that video usage counts in: the trial, or the current billing period."""
        if self.plan is Plan.TRIAL or self.period_start is None:
            return self.created_at, self.trial_ends_at
        return self.period_start, self.period_end

    @classmethod
    def start_trial(cls, name: str, now: datetime | None = None) -> Account:
        now = now or utcnow()
        return cls(
            account_id=new_id("acct"),
            name=name,
            trial_ends_at=now + timedelta(days=TRIAL_DAYS),
            created_at=now,
        )


class Role(StrEnum):
    """A user's standing in their account: one owner; admins manage the team as the owner does."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class User(Entity):
    account_id: str
    user_id: str
    subject: str  # the identity provider's `sub` claim (Cognito or the local issuer)
    email: EmailStr
    role: Role = Role.OWNER
    created_at: datetime = Field(default_factory=utcnow)


class UploadKind(StrEnum):
    BASE_VIDEO = "base_video"
    PROSPECTS_CSV = "prospects_csv"
    VOICE_SAMPLE = "voice_sample"  # a recording of the seller's voice, for the voice profile


class UploadStatus(StrEnum):
    """A base video's life: uploaded → validated and encoding (``processing``) → ``ready``.

    ``rejected`` means the file itself is unusable (the seller must upload another);
    ``failed`` means encoding it failed on our side (the reason says so).
    """

    AWAITING_UPLOAD = "awaiting_upload"
    PROCESSING = "processing"
    READY = "ready"
    REJECTED = "rejected"
    FAILED = "failed"


class VideoProbe(Entity):
    """What probing the uploaded base video found."""

    container: str
    video_codec: str
    width: int
    height: int
    duration_seconds: float
    frame_rate: float
    rotation: int = 0
    variable_frame_rate: bool = False
    audio_codec: str | None = None
    audio_sample_rate: int | None = None


class Ladder(Entity):
    """The base video encoded once: the shared HLS ladder every prospect's video reuses."""

    prefix: str  # media bucket key prefix of every object below
    master: str  # multivariant playlist, relative to ``prefix``
    audio_playlist: str
    pcm: str  # the audio as WAV (what window audio is spliced into)
    renditions: list[str]  # video media playlists, lowest rung first
    width: int  # the source as displayed (rotation applied): overlays are drawn at this size
    height: int
    fps: int
    duration_seconds: float
    segment_count: int


class BaseVideo(Entity):
    upload_id: str
    key: str
    filename: str
    status: UploadStatus = UploadStatus.AWAITING_UPLOAD
    size_bytes: int | None = None
    probe: VideoProbe | None = None
    reason: str | None = None  # why it was rejected or failed, in words a seller understands
    job_id: str | None = None  # the ladder's MediaConvert job
    progress: int = 0  # percent of the ladder encode
    ladder: Ladder | None = None
    updated_at: datetime = Field(default_factory=utcnow)


#: The prospect fields a script's slot can speak (``{first_name}`` …).
SLOT_VARIABLES = ("first_name", "last_name", "company")
#: What a seller said in a slot is a name or a company, never a sentence.
MAX_PLACEHOLDER_CHARS = 100


def _check_placeholders(value: dict[str, str]) -> dict[str, str]:
    for variable, said in value.items():
        if variable not in SLOT_VARIABLES:
            raise ValueError(f"{variable!r} is not a slot; use " + ", ".join(SLOT_VARIABLES))
        if len(said) > MAX_PLACEHOLDER_CHARS:
            raise ValueError(f"what you said for {variable} is over {MAX_PLACEHOLDER_CHARS} characters")
    return value


#: What the seller said in each slot, by variable ({"first_name": "John"}).
Placeholders = Annotated[dict[str, str], AfterValidator(_check_placeholders)]


class VoiceEngine(StrEnum):
    """Which engine says the names. ``piper`` (local, offline) is the default; ``flite`` and
    ``espeak`` are local fallbacks; ``polly`` and ``elevenlabs`` are cloud services."""

    PIPER = "piper"
    FLITE = "flite"
    ESPEAK = "espeak"
    POLLY = "polly"
    ELEVENLABS = "elevenlabs"


class SlotSource(StrEnum):
    ALIGNED = "aligned"  # found by forced alignment of the script
    MANUAL = "manual"  # set by the seller


class VoiceSlot(Entity):
    """Where a variable (``first_name`` …) is spoken in the base audio, in seconds."""

    variable: str
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    pause_before: float = Field(default=0.0, ge=0)
    pause_after: float = Field(default=0.0, ge=0)
    confidence: float | None = None  # alignment agreement, 0–1 (None when set by hand)
    source: SlotSource = SlotSource.ALIGNED


class SpeakerProfile(Entity):
    """The seller's voice and room, learnt once per campaign (see ``chalicelib/voice/profile.py``)."""

    f0_median_hz: float
    log_f0_mean: float
    log_f0_std: float
    f0_p5_hz: float
    f0_p95_hz: float
    ltas_db: list[float]
    loudness_lufs: float
    room_tone_start: float  # seconds into the analysed audio
    room_tone_end: float
    room_tone_dbfs: float
    source: str  # "base_video" or "voice_sample"
    seconds_analysed: float


class VoiceStatus(StrEnum):
    NOT_READY = "not_ready"  # no ready base video or no script yet
    PREPARING = "preparing"
    READY = "ready"
    NEEDS_ATTENTION = "needs_attention"  # ``error`` says what the seller should do


class CampaignVoice(Entity):
    """How a campaign's names are spoken: engine, slots in the base audio, speaker profile."""

    engine: VoiceEngine = VoiceEngine.PIPER
    voice_id: str | None = Field(default=None, max_length=200)
    # What the seller said in each slot ("John"); a variable left out was recorded as a pause.
    placeholders: Placeholders = Field(default_factory=dict)
    # Optional separate recording of the seller's voice (uploads bucket) that the profile uses.
    voice_sample_key: str | None = Field(default=None, max_length=1024)
    status: VoiceStatus = VoiceStatus.NOT_READY
    error: str | None = None
    slots: list[VoiceSlot] = Field(default_factory=list)
    alignment_confidence: float | None = None  # the lowest slot confidence
    profile: SpeakerProfile | None = None
    prepared_upload_id: str | None = None  # the base video the slots and profile belong to
    prepared_at: datetime | None = None


class PronunciationEntry(Entity):
    """One entry of an account's pronunciation lexicon: how to say a name, everywhere."""

    account_id: str
    key: str  # the name, normalized (case-folded, NFKC, single spaces)
    name: str = Field(min_length=1, max_length=100)
    pronunciation: str = Field(min_length=1, max_length=200)  # /IPA/ or a respelling like shi-VAWN
    updated_at: datetime = Field(default_factory=utcnow)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"
    RENDERING = "rendering"
    ARCHIVED = "archived"


class CampaignCounters(Entity):
    prospects: int = 0
    videos_rendered: int = 0
    videos_failed: int = 0
    views: int = 0


class NameCard(Entity):
    """The optional on-screen text: templates over the prospect's fields (``{first_name}``,
    ``{last_name}``, ``{company}``), drawn over the name's window. A subtitle that renders empty
    (no company) is left off; a card whose text renders empty is not drawn."""

    text: str = Field(default="{first_name}", min_length=1, max_length=80)
    subtitle: str | None = Field(default="{company}", max_length=80)


def _web_url(value: str | None) -> str | None:
    """An absolute http(s) URL (the only kinds a watch page may link to or load), else an error."""
    if value is None:
        return None
    value = value.strip()
    if not re.match(r"(?i)^https?://[^\s/?#]+[^\s]*$", value):
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


class WatchPageSettings(Entity):
    """What a campaign's watch pages show around the video: the seller, a headline (a template over
    ``{first_name}``, ``{last_name}``, ``{company}``) and the call to action."""

    headline: str = Field(default="{first_name}, I made this video for you", min_length=1, max_length=200)
    seller_name: str | None = Field(default=None, max_length=100)  # unset: the account's name
    seller_avatar_url: str | None = Field(default=None, max_length=2048)
    cta_label: str = Field(default="Book a meeting", min_length=1, max_length=40)
    cta_url: str | None = Field(default=None, max_length=2048)  # a calendar link or any page
    link_ttl_days: int | None = Field(default=None, ge=1, le=365)  # watch links expire after this

    @field_validator("seller_avatar_url", "cta_url")
    @classmethod
    def _absolute_web_url(cls, value: str | None) -> str | None:
        return _web_url(value)

    @field_validator("headline")
    @classmethod
    def _known_variables(cls, value: str) -> str:
        unknown = sorted(set(re.findall(r"\{([^{}]*)\}", value)) - WATCH_HEADLINE_VARIABLES)
        if unknown:
            raise ValueError(
                f"unknown variable {{{unknown[0]}}}; use "
                + ", ".join(f"{{{v}}}" for v in sorted(WATCH_HEADLINE_VARIABLES))
            )
        return value


WATCH_HEADLINE_VARIABLES = frozenset({"first_name", "last_name", "company"})


class Campaign(Entity):
    account_id: str
    campaign_id: str
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    script: str = Field(default="", max_length=5000)
    status: CampaignStatus = CampaignStatus.DRAFT
    base_video: BaseVideo | None = None  # the working base: what renders are made from
    #: A base video uploaded to replace a ready one. It becomes ``base_video`` only once its ladder
    #: is encoded; until then renders keep the working base, and a replacement that is rejected or
    #: fails stays here with its reason (the working base is untouched).
    pending_base_video: BaseVideo | None = None
    voice: CampaignVoice = Field(default_factory=CampaignVoice)
    name_card: NameCard | None = None
    watch_page: WatchPageSettings = Field(default_factory=WatchPageSettings)
    active_batch_id: str | None = None  # the render batch running now (one at a time)
    counters: CampaignCounters = Field(default_factory=CampaignCounters)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0

    @property
    def newest_base_video(self) -> BaseVideo | None:
        """The base video requested last: the pending replacement if there is one, else the base."""
        return self.pending_base_video or self.base_video

    def base_upload(self, upload_id: str) -> BaseVideo | None:
        """The base-video upload ``upload_id``, working or pending; None once another replaced it."""
        for video in (self.pending_base_video, self.base_video):
            if video is not None and video.upload_id == upload_id:
                return video
        return None

    def with_requested_base(self, video: BaseVideo) -> Campaign:
        """The campaign once ``video`` is requested as its base video.

        A ready base keeps working: ``video`` waits beside it as the pending replacement (a newer
        request replaces an older pending one). Without a ready base there is nothing to keep, and
        ``video`` is the base straight away.
        """
        if self.base_video is not None and self.base_video.status is UploadStatus.READY:
            return self.model_copy(update={"pending_base_video": video})
        return self.model_copy(update={"base_video": video, "pending_base_video": None})

    def with_base_upload(self, video: BaseVideo) -> Campaign:
        """The campaign with ``video`` recorded over the upload of the same id, wherever it is.

        A pending replacement that is ``ready`` becomes the working base. The campaign's status
        follows its working base (``ready`` when that is, else ``draft``); a pending upload's
        progress, rejection or failure leaves both untouched.

        Raises
        ------
        ValueError
            The campaign holds no upload with ``video``'s id (check :meth:`base_upload` first).
        """
        pending = self.pending_base_video
        if pending is not None and pending.upload_id == video.upload_id:
            if video.status is not UploadStatus.READY:
                return self.model_copy(update={"pending_base_video": video})
            update: dict[str, object] = {"base_video": video, "pending_base_video": None}
        elif self.base_video is not None and self.base_video.upload_id == video.upload_id:
            update = {"base_video": video}
        else:
            raise ValueError(f"{video.upload_id} is not one of the campaign's base-video uploads")
        status = CampaignStatus.READY if video.status is UploadStatus.READY else CampaignStatus.DRAFT
        return self.model_copy(update={**update, "status": status})


class VideoStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    SYNTHESIZING = "synthesizing"
    RENDERING = "rendering"
    COMPLETED = "completed"
    FAILED = "failed"


#: The variant a prospect is in until the learning loop assigns script variants.
DEFAULT_VARIANT = "default"


@dataclass(frozen=True)
class Contact:
    """Marks a :class:`Prospect` field as a contact field, and says what the rest derive from it.

    ``aliases`` are the CSV column names the field is recognized by, best first (compared as
    :func:`chalicelib.domain.prospects_csv.header_key` does: case, spacing, punctuation and camelCase
    do not matter). ``label`` names it in a seller's messages (default: the name, spaced).
    ``editable``: ``PATCH …/prospects/{id}`` may change it; ``exported``: the mail-merge export
    carries it; ``blank_clears``: a blank value in a change removes it, as null does.
    :mod:`chalicelib.domain.contact_fields` turns these into every list the product uses.
    """

    aliases: tuple[str, ...]
    label: str | None = None
    editable: bool = True
    exported: bool = True
    blank_clears: bool = True


# CSV column names of each contact field, best first: when two columns match one field the better
# name wins and the other becomes a custom field. That is how Outlook's honorific ``Title`` ("Dr.")
# loses to its ``Job Title``, while a lone ``Title`` (Salesforce, Apollo) is the job title.
_FIRST_NAME = (
    "first name",
    "given name",
    "first",
    "fname",
    "forename",
    "contact first name",
    "lead first name",
    "prénom",
    "vorname",
    "nombre",
)
_LAST_NAME = (
    "last name",
    "family name",
    "surname",
    "last",
    "lname",
    "contact last name",
    "lead last name",
    "nom de famille",
    "nom",
    "nachname",
    "apellido",
    "apellidos",
)
_EMAIL = (
    "email",
    "email address",
    "e-mail 1 - value",
    "email 1",
    "work email",
    "business email",
    "primary email",
    "contact email",
    "person email",
    "mail",
    "courriel",
    "e-mail-adresse",
    "correo electrónico",
    "correo",
)
_COMPANY = (
    "company",
    "company name",
    "account name",
    "organization 1 - name",
    "organization name",
    "organization",
    "organisation",
    "company / account",
    "business name",
    "employer",
    "account",
    "firma",
    "unternehmen",
    "entreprise",
    "société",
    "empresa",
)
_TITLE = (
    "job title",
    "organization 1 - title",
    "organization title",
    "job position",
    "title",
    "position",
    "job role",
    "role",
    "designation",
    "occupation",
    "poste",
    "cargo",
)
_PHONE = (
    "phone",
    "phone number",
    "telephone",
    "phone 1 - value",
    "business phone",
    "work phone",
    "first phone",
    "direct phone",
    "work direct phone",
    "corporate phone",
    "company phone",
    "mobile phone",
    "mobile",
    "mobile number",
    "cell phone",
    "cell",
    "tel",
    "téléphone",
    "telefon",
    "teléfono",
    "home phone",
    "other phone",
)
_WEBSITE = (
    "website",
    "website url",
    "web site",
    "website 1 - value",
    "web page",
    "homepage",
    "company website",
    "url",
    "web",
    "company domain",
    "company domain name",
    "domain",
    "site web",
    "webseite",
)
_LINKEDIN_URL = (
    "linkedin url",
    "person linkedin url",
    "linkedin profile url",
    "linkedin profile",
    "linkedin",
    "linkedin link",
    "linkedin contact profile url",
    "contact li profile url",
)
_PRONUNCIATION = (
    "pronunciation",
    "name pronunciation",
    "first name pronunciation",
    "pronunciation hint",
    "phonetic name",
    "phonetic first name",
    "phonetic",
    "say as",
    "how to pronounce",
)


class ContactDetails(Entity):
    """The prospect's contact fields, per the seed schema (lengths included): the one definition.

    Each field's :class:`Contact` marker is the one place that says how a CSV column finds it,
    whether a seller may edit it and whether exports carry it; :mod:`contact_fields` derives every
    list from them, and the API's ``ProspectOut``/``ProspectUpdate`` are built from them. Adding a
    contact field means a field here and its stored item, nothing else.
    """

    first_name: Annotated[str, Contact(_FIRST_NAME, label="first name")] = Field(min_length=1, max_length=100)
    last_name: Annotated[str | None, Contact(_LAST_NAME, label="last name")] = Field(
        default=None, max_length=100
    )
    email: Annotated[EmailStr, Contact(_EMAIL)] = Field(max_length=255, description="unique in the campaign")
    company: Annotated[str | None, Contact(_COMPANY)] = Field(default=None, max_length=255)
    title: Annotated[str | None, Contact(_TITLE)] = Field(
        default=None, max_length=255, description="job title"
    )
    phone: Annotated[str | None, Contact(_PHONE)] = Field(default=None, max_length=50)
    website: Annotated[str | None, Contact(_WEBSITE)] = Field(default=None, max_length=2048)
    linkedin_url: Annotated[str | None, Contact(_LINKEDIN_URL, label="LinkedIn URL")] = Field(
        default=None, max_length=2048
    )
    # Not exported (a mail merge has no use for it); a blank is refused, not read as "remove".
    pronunciation: Annotated[str | None, Contact(_PRONUNCIATION, exported=False, blank_clears=False)] = Field(
        default=None,
        max_length=200,
        description="how to say the name: /IPA/ or a respelling like shi-VAWN; overrides the lexicon",
    )

    @field_validator("email", mode="before")
    @classmethod
    def _normalized_email(cls, value: object) -> object:
        """Emails are stored trimmed and lower-cased (what CRMs and sequencers match on)."""
        return value.strip().lower() if isinstance(value, str) else value


class Prospect(ContactDetails):
    """A prospect: its contact fields (:class:`ContactDetails`), free-form custom fields, its video
    and what its link has seen."""

    account_id: str
    campaign_id: str
    prospect_id: str
    custom_fields: dict[str, str] = Field(default_factory=dict)
    watch_token: str = Field(default_factory=new_watch_token, min_length=16, max_length=64)
    video_status: VideoStatus = VideoStatus.PENDING
    video_error: str | None = None
    video_generated_at: datetime | None = None
    variant: str = Field(default=DEFAULT_VARIANT, min_length=1, max_length=40)  # the script variant sent
    watch_expires_at: datetime | None = None  # the watch link stops working then (None: never)
    watch_revoked_at: datetime | None = None  # the watch link was turned off
    email_sent_at: datetime | None = None
    video_viewed_at: datetime | None = None  # first human play
    video_view_count: int = 0  # human plays (one per viewing session)
    cta_clicked_at: datetime | None = None  # first human CTA click
    cta_click_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0

    @property
    def email_key(self) -> str:
        return normalize_email(str(self.email))

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() if self.last_name else self.first_name


def fold(text: str) -> str:
    """Text as compared by search, sort and CSV headers: case-folded, accents dropped, whitespace
    collapsed (``"  José MÜLLER "`` → ``"jose muller"``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Case-folded again: a compatibility decomposition can give capitals ("ℌ" → "H").
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(bare.split())


def normalize_email(email: str) -> str:
    """Emails are unique per campaign case-insensitively (seed: UNIQUE(project_id, email))."""
    return email.strip().lower()


class CsvImportStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    RECEIVED = "received"
    PROCESSING = "processing"
    COMPLETED = "completed"
    REJECTED = "rejected"  # the file (or the campaign's state) was refused: ``reason`` says why
    FAILED = "failed"  # stopped by a problem on our side; what was imported stays


class RowError(Entity):
    row: int
    field: str | None
    message: str


class CsvImport(Entity):
    account_id: str
    campaign_id: str
    import_id: str
    filename: str
    key: str
    status: CsvImportStatus = CsvImportStatus.AWAITING_UPLOAD
    size_bytes: int | None = None
    total_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list[RowError] = Field(default_factory=list)  # the first 1,000; `failed` counts every row
    reason: str | None = None
    encoding: str | None = None  # the Python codec the file was read with ("utf-8", "cp1252", …)
    delimiter: str | None = None
    mapping: dict[str, str] = Field(default_factory=dict)  # source column → field, "custom" or "ignore"
    requested_mapping: dict[str, str] | None = None  # the seller's override, given with the upload
    warnings: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    version: int = 0


class RenderWindow(Entity):
    """The base seconds a prospect's window replaces. A grown window (issue 17: a name longer
    than its slot) plays ``extension`` s longer: base second ``hold_at`` and all after it play
    that much later, the picture holding the frame shown at ``hold_at`` meanwhile."""

    start: float
    end: float
    hold_at: float | None = None
    extension: float = 0.0

    @property
    def grown(self) -> bool:
        return self.hold_at is not None and self.extension > 0


class OverlayText(Entity):
    text: str = Field(min_length=1, max_length=80)
    subtitle: str | None = Field(default=None, max_length=80)


class ProspectVideo(Entity):
    """A prospect's current render: a few re-encoded segments plus playlists over the base.

    One per prospect, keyed by ``(prospect, render_version)``: ``render_id`` belongs to that
    version, so a retried or redriven step finds the render it started instead of starting
    another. The render pipeline moves it ``queued → synthesizing → rendering → completed`` or
    ``failed``; the span fields are set once the render is submitted.
    """

    account_id: str
    campaign_id: str
    prospect_id: str
    render_id: str  # also the unguessable part of every object key of this render
    render_version: int = 1
    status: VideoStatus = VideoStatus.RENDERING
    batch_id: str | None = None  # the batch that rendered it (None: rendered directly)
    inputs_hash: str | None = None  # what it was rendered from (see domain/render/inputs.py)
    task_token: str | None = None  # the waiting Step Functions task, while rendering
    base_upload_id: str | None = None
    window: RenderWindow | None = None
    overlay: OverlayText | None = None
    first_segment: int | None = None
    segment_count: int | None = None
    job_id: str | None = None
    progress: int = 0
    prefix: str | None = None  # media bucket prefix of this render's objects
    master: str | None = None  # set when completed, relative to ``prefix`` like the rest
    poster: str | None = None
    preview: str | None = None  # animated WebP
    gif: str | None = None  # the same animation as a GIF (for email clients without WebP)
    download: str | None = None
    new_bytes: int = 0  # storage this prospect added on top of the shared base
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    queued_at: datetime | None = None
    synthesizing_at: datetime | None = None
    rendering_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    # The video-ledger period this render reserved (and, once completed, used) a video in; None:
    # it costs nothing (a re-render of unchanged inputs), or its reservation was released.
    quota_period: str | None = None
    version: int = 0


class RenderBatchStatus(StrEnum):
    """``interrupted``: its orchestration stopped before finishing (the local stack was killed,
    or the execution failed); ``POST …/resume`` carries on where it stopped."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE_BATCH = frozenset(
    {RenderBatchStatus.PENDING, RenderBatchStatus.RUNNING, RenderBatchStatus.INTERRUPTED}
)


class BatchCounters(Entity):
    """Where the batch's prospects stand; moved atomically with each prospect's status."""

    queued: int = 0
    in_progress: int = 0  # synthesizing or rendering
    completed: int = 0
    failed: int = 0
    cancelled: int = 0  # never started: the batch was cancelled or stopped first


class RenderBatch(Entity):
    account_id: str
    campaign_id: str
    batch_id: str
    status: RenderBatchStatus = RenderBatchStatus.PENDING
    # What to render: every prospect of the campaign that needs it, or these ids.
    prospect_ids: list[str] | None = None
    force: bool = False  # re-render even completed prospects whose inputs did not change
    tolerated_failure_percent: float = Field(default=25.0, ge=0, le=100)
    total: int = 0  # prospects this batch renders
    skipped: int = 0  # selected but already rendered from the same inputs, or in progress elsewhere
    refused: int = (
        0  # selected, needing a render, but over the plan's videos for the period: left as they were
    )
    refused_reason: str | None = None  # why (the 402's message: the limit and what lifts it)
    counters: BatchCounters = Field(default_factory=BatchCounters)
    execution_arn: str | None = None
    executions: int = 0  # how many times it was started (first run, then each resume)
    mode: str | None = None  # "inline" or "distributed" (Map flavour, set when prepared)
    prepared_at: datetime | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0


class UnreadableItem(BaseModel):
    """An item of a listing that an older version stored in a form that no longer reads: listed
    apart with the reason, so one bad item never breaks the list around it."""

    id: str
    error: str


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``cursor`` is opaque and only valid for the same tenant."""

    items: list[T]
    cursor: str | None = None
    unreadable: list[UnreadableItem] = Field(default_factory=list)


class WebhookEndpoint(Entity):
    """A URL an account registered to receive its events, signed with ``secret``."""

    account_id: str
    endpoint_id: str
    url: str = Field(min_length=1, max_length=2048)
    description: str = Field(default="", max_length=200)
    events: list[str] = Field(min_length=1)
    secret: str  # HMAC key; shown to the seller once, when the endpoint is created
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or failed an attempt and waiting to be retried
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted, or the endpoint was deleted or disabled


class WebhookDelivery(Entity):
    """One event on its way to one endpoint. ``payload`` is the exact body every attempt sends."""

    account_id: str
    endpoint_id: str
    delivery_id: str
    event_id: str
    event_type: str
    payload: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class ApiKey(Entity):
    """A named key for programmatic access (Agency): acts as the user who created it, in that
    user's account. Only its SHA-256 is stored; ``prefix`` (the first characters) tells keys apart."""

    account_id: str
    key_id: str
    user_id: str  # the creator: the key acts with this user's account scope
    name: str = Field(min_length=1, max_length=100)
    prefix: str
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
