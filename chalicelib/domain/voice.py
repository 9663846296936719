"""Voice use cases the API runs itself (pure): campaign voice settings, hand-set slots, and the
account's pronunciation lexicon. The heavy work (alignment, synthesis) is in the voice function
(``chalicelib/voice/service.py``), reached through :class:`~chalicelib.domain.ports.VoiceRunner`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.errors import ConflictError, FieldIssue, InvalidInputError, NotFoundError
from chalicelib.domain.models import (
    Campaign,
    CampaignVoice,
    PronunciationEntry,
    SlotSource,
    UploadKind,
    UploadStatus,
    VoiceEngine,
    VoiceSlot,
    VoiceStatus,
    utcnow,
)
from chalicelib.domain.ports import CampaignRepository, LexiconRepository, ObjectStore
from chalicelib.domain.speech.names import sanitize_name
from chalicelib.domain.speech.pronounce import normalize_key, parse_pronunciation
from chalicelib.domain.speech.script import parse_script, slot_variables
from chalicelib.domain.uploads import MAX_VOICE_SAMPLE_BYTES, UploadKey

#: The longest a hand-set slot may be: a name, not a sentence.
MAX_SLOT_SECONDS = 5.0


def base_ready(campaign: Campaign) -> bool:
    base = campaign.base_video
    return base is not None and base.status is UploadStatus.READY and base.ladder is not None


def scoped_voice_sample(uploads: ObjectStore, account_id: str, campaign_id: str, key: str) -> UploadKey:
    """The caller's own recording named by ``key``: parsed, scoped to the account and campaign, and
    there. The answer is the same whether another tenant's key exists or not.

    Raises
    ------
    InvalidInputError
        Not the key of a recording uploaded to this campaign (a ``voice_sample`` upload, or a
        ``base_video`` one), nothing was uploaded there, or it is over the voice sample's size.
    """
    refusal = InvalidInputError(
        "the voice sample is not one of this campaign's uploads",
        [FieldIssue("body.voice_sample_key", "use the key of a recording uploaded to this campaign")],
    )
    try:
        parsed = UploadKey.parse(key)
    except InvalidInputError:
        raise refusal from None
    if (parsed.account_id, parsed.campaign_id) != (account_id, campaign_id):
        raise refusal
    if parsed.kind not in (UploadKind.VOICE_SAMPLE, UploadKind.BASE_VIDEO):
        raise refusal
    try:
        size = uploads.head(parsed.key).size
    except NotFoundError:
        raise InvalidInputError(
            "the voice sample was never uploaded",
            [FieldIssue("body.voice_sample_key", "nothing has been uploaded under this key yet")],
        ) from None
    if size > MAX_VOICE_SAMPLE_BYTES:
        raise InvalidInputError(
            "the voice sample is too large",
            [
                FieldIssue(
                    "body.voice_sample_key",
                    f"the recording is {size / 2**20:.0f} MB; a voice sample is at most "
                    f"{MAX_VOICE_SAMPLE_BYTES // 2**20} MB (a minute or two of speech)",
                )
            ],
        )
    return parsed


#: Reads a recording and answers how many seconds of sound it holds.
RecordingCheck = Callable[[bytes], float]
#: Less speech than this says too little about a voice to learn it.
MIN_VOICE_SAMPLE_SECONDS = 5.0


def _accepted_sample(uploads: ObjectStore, key: UploadKey, check: RecordingCheck) -> None:
    """A sample replaces the one in use only once it is known to be usable (staged, like a base
    video): it decodes, and holds enough sound."""
    try:
        seconds = check(uploads.get_bytes(key.key))
    except InvalidInputError as exc:
        raise InvalidInputError(
            "the voice sample cannot be used", [FieldIssue("body.voice_sample_key", exc.message)]
        ) from None
    if seconds < MIN_VOICE_SAMPLE_SECONDS:
        raise InvalidInputError(
            "the voice sample cannot be used",
            [
                FieldIssue(
                    "body.voice_sample_key",
                    f"the recording holds {seconds:.1f} s of sound; record at least "
                    f"{MIN_VOICE_SAMPLE_SECONDS:.0f} s of you speaking",
                )
            ],
        )


def configure_voice(
    *,
    campaigns: CampaignRepository,
    uploads: ObjectStore,
    account_id: str,
    campaign_id: str,
    engine: VoiceEngine | None = None,
    voice_id: str | None = None,
    placeholders: dict[str, str] | None = None,
    voice_sample_key: str | None = None,
    check_recording: RecordingCheck | None = None,
) -> tuple[Campaign, bool]:
    """Change how the campaign's names are spoken. Returns the campaign and whether the slots or
    profile must be prepared again (placeholders or voice sample changed, base video ready).

    Raises
    ------
    InvalidInputError
        Placeholders for variables the script does not use, or that cannot be spoken; a voice
        sample that is not one of this campaign's uploads (see :func:`scoped_voice_sample`), or
        that ``check_recording`` finds unusable: the sample in use then stays.
    """
    if voice_sample_key:
        scoped = scoped_voice_sample(uploads, account_id, campaign_id, voice_sample_key)
        in_use = campaigns.get(account_id, campaign_id).voice.voice_sample_key
        if check_recording is not None and scoped.key != in_use:
            _accepted_sample(uploads, scoped, check_recording)
        voice_sample_key = scoped.key

    def change(current: Campaign) -> Campaign | None:
        voice = current.voice
        updates: dict[str, object] = {}
        if engine is not None:
            updates["engine"] = engine
        if voice_id is not None:
            updates["voice_id"] = voice_id or None
        if placeholders is not None and placeholders != voice.placeholders:
            if current.script.strip():
                parse_script(current.script, placeholders)  # raises with the field at fault
            updates["placeholders"] = placeholders
        if voice_sample_key is not None and voice_sample_key != voice.voice_sample_key:
            updates["voice_sample_key"] = voice_sample_key or None
        if not updates:
            return None
        if {"placeholders", "voice_sample_key"} & updates.keys():
            updates |= {"status": VoiceStatus.NOT_READY, "error": None}
        return current.model_copy(update={"voice": voice.model_copy(update=updates), "updated_at": utcnow()})

    before = campaigns.get(account_id, campaign_id)
    after = campaigns.update(account_id, campaign_id, change)
    again = after.voice.status is VoiceStatus.NOT_READY and after.voice != before.voice
    return after, again and base_ready(after) and bool(after.script.strip())


@dataclass(frozen=True)
class SlotInput:
    variable: str
    start: float
    end: float
    pause_before: float = 0.0
    pause_after: float = 0.0


def set_slots(
    campaigns: CampaignRepository, account_id: str, campaign_id: str, slots: list[SlotInput]
) -> CampaignVoice:
    """Set the slots by hand (the seller's override of the alignment).

    Raises
    ------
    InvalidInputError
        A variable the script does not use or given twice, a slot outside the audio, reversed,
        longer than :data:`MAX_SLOT_SECONDS` or overlapping another.
    ConflictError
        The base video is not ready (there is no audio to place a slot in yet).
    """
    campaign = campaigns.get(account_id, campaign_id)
    if not base_ready(campaign):
        raise ConflictError("the campaign's base video is not ready yet")
    assert campaign.base_video is not None
    assert campaign.base_video.ladder is not None
    duration = campaign.base_video.ladder.duration_seconds
    allowed = slot_variables(campaign.script)
    issues: list[FieldIssue] = []
    seen: set[str] = set()
    for i, s in enumerate(slots):
        where = f"body.slots.{i}"
        if s.variable not in allowed:
            issues.append(FieldIssue(f"{where}.variable", f"the script has no {{{s.variable}}}"))
        elif s.variable in seen:
            issues.append(FieldIssue(f"{where}.variable", "given twice"))
        seen.add(s.variable)
        if not 0 <= s.start < s.end:
            issues.append(FieldIssue(f"{where}.end", "must be after start (seconds, start ≥ 0)"))
        elif s.end > duration + 1e-6:
            issues.append(
                FieldIssue(
                    f"{where}.end",
                    f"is past the end of the video ({duration:.2f} s); the slot must be in the audio",
                )
            )
        elif s.end - s.start > MAX_SLOT_SECONDS:
            issues.append(
                FieldIssue(
                    f"{where}.end", f"the slot is {s.end - s.start:.2f} s; at most {MAX_SLOT_SECONDS:.0f} s"
                )
            )
    ordered = sorted(slots, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            issues.append(FieldIssue("body.slots", f"{{{a.variable}}} and {{{b.variable}}} overlap"))
    if not slots:
        issues.append(FieldIssue("body.slots", "give at least one slot"))
    if issues:
        raise InvalidInputError("the slots are invalid", issues)

    def change(current: Campaign) -> Campaign:
        voice = current.voice
        status = VoiceStatus.READY if voice.profile is not None else VoiceStatus.NOT_READY
        new = [
            VoiceSlot(
                variable=s.variable,
                start=s.start,
                end=s.end,
                pause_before=s.pause_before,
                pause_after=s.pause_after,
                confidence=None,
                source=SlotSource.MANUAL,
            )
            for s in ordered
        ]
        error = (
            None if voice.profile is not None else "the voice profile is learnt when the voice is prepared"
        )
        return current.model_copy(
            update={
                "voice": voice.model_copy(update={"slots": new, "status": status, "error": error}),
                "updated_at": utcnow(),
            }
        )

    return campaigns.update(account_id, campaign_id, change).voice


def put_pronunciation(
    lexicon: LexiconRepository, account_id: str, name: str, pronunciation: str
) -> PronunciationEntry:
    """Add or replace how ``name`` is said across the account.

    Raises
    ------
    InvalidInputError
        The name cannot be spoken, or the pronunciation is malformed.
    """
    clean = sanitize_name(name, "name", has_pronunciation=True)
    parse_pronunciation(pronunciation, "body.pronunciation")
    return lexicon.put(
        PronunciationEntry(
            account_id=account_id,
            key=normalize_key(clean.text),
            name=clean.text,
            pronunciation=pronunciation.strip(),
        )
    )


def delete_pronunciation(lexicon: LexiconRepository, account_id: str, name: str) -> None:
    lexicon.delete(account_id, normalize_key(name))


def check_preview(values: dict[str, str], pronunciations: dict[str, str]) -> None:
    """Reject an unspeakable name or malformed pronunciation before calling the voice function.

    Raises
    ------
    InvalidInputError
        No name to say, a name that cannot be spoken, or a malformed pronunciation.
    """
    if not values:
        raise InvalidInputError(
            "the preview request is invalid",
            [FieldIssue("body.first_name", "give a first name, last name or company to hear")],
        )
    issues: list[FieldIssue] = []
    for variable, value in values.items():
        try:
            sanitize_name(value, f"body.{variable}", has_pronunciation=bool(pronunciations.get(variable)))
        except InvalidInputError as exc:
            issues += exc.issues
    for variable, text in pronunciations.items():
        try:
            parse_pronunciation(text, f"body.pronunciations.{variable}")
        except InvalidInputError as exc:
            issues += exc.issues
    if issues:
        raise InvalidInputError("the preview request is invalid", issues)
