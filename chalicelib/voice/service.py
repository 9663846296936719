"""The voice function's use cases: prepare a campaign's voice, personalize a prospect, preview a name.

These run in the voice container (engines, models, numpy); the API reaches them through
:class:`chalicelib.domain.ports.VoiceRunner`. Storage and engines come in through ports.
"""

from __future__ import annotations

import hashlib
import io
import wave
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    TailorcastError,
)
from chalicelib.domain.media.ladder import MAX_WINDOW_SECONDS
from chalicelib.domain.media.wav import WavLayout, wav_bytes, wav_layout
from chalicelib.domain.models import (
    Campaign,
    CampaignVoice,
    Ladder,
    SlotSource,
    SpeakerProfile,
    UploadStatus,
    VoiceEngine,
    VoiceSlot,
    VoiceStatus,
    utcnow,
)
from chalicelib.domain.ports import CampaignRepository, LexiconRepository, ObjectStore, SpeechSynthesizer
from chalicelib.domain.speech import Speech
from chalicelib.domain.speech.names import sanitize_name
from chalicelib.domain.speech.pronounce import has_pronunciation, resolve_utterance
from chalicelib.domain.speech.script import parse_script
from chalicelib.domain.voice import scoped_voice_sample
from chalicelib.voice import align, profile
from chalicelib.voice.align import Aligner, Slot
from chalicelib.voice.pcm import float_to_pcm, pcm_to_float, resample
from chalicelib.voice.personalize import NameQuality, personalize
from chalicelib.voice.splice import Frames, Placement

#: Audio kept either side of the slots when personalizing: loudness context and crossfade room.
CONTEXT_SECONDS = 2.5
#: The render window reaches this far past the replaced audio, so its crossfades sit in it.
WINDOW_MARGIN_SECONDS = 0.1
#: A preview plays this much of the video's own audio either side of the name.
PREVIEW_CONTEXT_SECONDS = 1.5

Synthesizers = Callable[[VoiceEngine], SpeechSynthesizer]


@dataclass(frozen=True)
class BaseAudio:
    """Reads the base video's WAV (written by the ladder job) by byte range."""

    store: ObjectStore
    key: str
    rate: int
    channels: int
    duration: float
    _layout: WavLayout

    @classmethod
    def open(cls, store: ObjectStore, ladder: Ladder) -> BaseAudio:
        key = f"{ladder.prefix}/{ladder.pcm}"
        layout = wav_layout(store.get_bytes(key, 0, 4095))
        duration = layout.data_bytes / layout.frame_bytes / layout.sample_rate
        return cls(store, key, layout.sample_rate, layout.channels, duration, layout)

    def read(self, start: float, end: float) -> Frames:
        """Samples from ``start`` to ``end`` seconds as float32 (samples, channels)."""
        first = max(0, round(start * self.rate))
        last = min(round(end * self.rate), int(self.duration * self.rate))
        if last <= first:
            return np.zeros((0, self.channels), dtype=np.float32)
        lo, hi = self._layout.byte_range(first, last)
        return pcm_to_float(self.store.get_bytes(self.key, lo, hi), self.channels)

    def mono(self, rate: int, start: float = 0.0, end: float | None = None) -> np.ndarray[Any, Any]:
        frames = self.read(start, self.duration if end is None else end)
        return resample(frames.mean(axis=1).astype(np.float32), self.rate, rate)


# ------------------------------------------------------------------------------------- prepare


def prepare_voice(
    account_id: str,
    campaign_id: str,
    campaigns: CampaignRepository,
    media: ObjectStore,
    uploads: ObjectStore,
    aligner: Aligner,
) -> CampaignVoice:
    """Locate the campaign's slots and learn the seller's voice; store both on the campaign.

    A problem the seller must fix (no script, no placeholder, alignment below the threshold, …)
    does not raise: it is stored as ``needs_attention`` with the reason, and returned.

    Raises
    ------
    ConflictError
        The base video is not ready yet.
    """
    campaign = campaigns.get(account_id, campaign_id)
    ladder = _ready_ladder(campaign)
    upload_id = campaign.base_video.upload_id if campaign.base_video else None
    _set_voice(campaigns, account_id, campaign_id, status=VoiceStatus.PREPARING, error=None)
    try:
        base = BaseAudio.open(media, ladder)
        tokens = parse_script(campaign.script, campaign.voice.placeholders)
        speech = base.mono(align.RATE)
        found = aligner.locate(speech, tokens)
        _check_one_window(found)
        learnt = _profile(speech, campaign, uploads)
    except InvalidInputError as exc:
        return _set_voice(
            campaigns, account_id, campaign_id, status=VoiceStatus.NEEDS_ATTENTION, error=str(exc), slots=[]
        )
    except Exception as exc:
        # Never left in ``preparing``: the seller sees why, and the caller (a retry) the error.
        reason = exc.message if isinstance(exc, TailorcastError) else "an internal error"
        _set_voice(
            campaigns,
            account_id,
            campaign_id,
            status=VoiceStatus.NEEDS_ATTENTION,
            error=f"the voice could not be prepared ({reason}); try again, or upload the recording again",
            slots=[],
        )
        raise
    slots = [
        VoiceSlot(
            variable=s.variable,
            start=s.start,
            end=s.end,
            pause_before=s.pause_before,
            pause_after=s.pause_after,
            confidence=s.confidence,
            source=SlotSource.ALIGNED,
        )
        for s in found
    ]
    return _set_voice(
        campaigns,
        account_id,
        campaign_id,
        status=VoiceStatus.READY,
        error=None,
        slots=slots,
        alignment_confidence=min(s.confidence for s in found),
        profile=learnt,
        prepared_upload_id=upload_id,
        prepared_at=utcnow(),
    )


def _profile(speech: np.ndarray[Any, Any], campaign: Campaign, uploads: ObjectStore) -> SpeakerProfile:
    """The profile from the voice sample if there is one, else the base audio; room tone always
    from the base (it is the video's room the name must sit in)."""
    voice = campaign.voice
    if not voice.voice_sample_key:
        return profile.build_profile(speech, align.RATE)
    from chalicelib.domain.media.ladder import AUDIO_CHANNELS, AUDIO_SAMPLE_RATE
    from chalicelib.media.audio import decode_pcm

    # Checked again here: a key stored by an older version was never scoped to the campaign.
    scoped = scoped_voice_sample(uploads, campaign.account_id, campaign.campaign_id, voice.voice_sample_key)
    try:
        recording = uploads.get_bytes(scoped.key)
    except NotFoundError:
        raise InvalidInputError(
            "the voice sample is gone",
            [FieldIssue("voice_sample_key", "the recording is no longer there; upload it again or clear it")],
        ) from None
    frames = pcm_to_float(decode_pcm(recording, what="voice sample"), AUDIO_CHANNELS)
    sample = resample(frames.mean(axis=1).astype(np.float32), AUDIO_SAMPLE_RATE, align.RATE)
    learnt = profile.build_profile(sample, align.RATE, source="voice_sample")
    start, end, level = profile.quietest_stretch(speech, align.RATE)
    return learnt.model_copy(update={"room_tone_start": start, "room_tone_end": end, "room_tone_dbfs": level})


def _check_one_window(slots: list[Slot]) -> None:
    span = max(s.end for s in slots) - min(s.start for s in slots) + 2 * WINDOW_MARGIN_SECONDS
    if span > MAX_WINDOW_SECONDS:
        raise InvalidInputError(
            "the slots are too far apart",
            [
                FieldIssue(
                    "script",
                    f"the placeholders span {span:.1f} s of the video; they must all fall within "
                    f"{MAX_WINDOW_SECONDS:.0f} s so one short re-render covers them",
                )
            ],
        )


def _ready_ladder(campaign: Campaign) -> Ladder:
    base = campaign.base_video
    if base is None or base.status is not UploadStatus.READY or base.ladder is None:
        raise ConflictError("the campaign's base video is not ready yet")
    return base.ladder


def _set_voice(
    campaigns: CampaignRepository, account_id: str, campaign_id: str, **changes: Any
) -> CampaignVoice:
    updated = campaigns.update(
        account_id,
        campaign_id,
        lambda c: c.model_copy(update={"voice": c.voice.model_copy(update=changes), "updated_at": utcnow()}),
    )
    return updated.voice


# ------------------------------------------------------------------------------- personalize


@dataclass(frozen=True)
class VoicedWindow:
    """A prospect's names laid into the base audio: what the media engine's render consumes."""

    start: float
    end: float
    audio_key: str
    spoken: dict[str, str]  # variable → what was said (sanitized text, or the respelling/IPA)
    notes: list[str]  # sanitizing the names changed something (shown to the seller)
    quality: list[NameQuality]
    placements: list[Placement]
    #: A grown window (issue 17): the audio lasts ``end - start + extension`` seconds; base
    #: second ``hold_at`` and all after it play ``extension`` later (``start``/``end`` are base
    #: seconds, what the window replaces).
    extension: float = 0.0
    hold_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["quality"] = [{**asdict(q), "ok": q.ok} for q in self.quality]
        return out


def voice_names(
    campaign: Campaign,
    values: Mapping[str, str],
    pronunciations: Mapping[str, str | None],
    lexicon: Mapping[str, str],
    media: ObjectStore,
    synthesizers: Synthesizers,
    key_prefix: str,
    *,
    context_seconds: float = 0.0,
) -> VoicedWindow:
    """Say ``values[variable]`` in each slot and write the window's audio under ``key_prefix``.

    ``context_seconds`` widens the written audio (previews play the name in context). A name
    longer than its slot grows the window by whole frames of the base video (issue 17): the
    result's ``extension`` and ``hold_at`` say by how much and where, ``start``/``end`` stay base
    seconds and the audio lasts ``extension`` longer. One name per video may grow.

    Raises
    ------
    InvalidInputError
        A value is missing, unspeakable or does not fit (the field says which); the campaign's
        voice is not ready.
    SynthesisError
        The engine is unavailable.
    """
    voice = campaign.voice
    if voice.status is not VoiceStatus.READY or not voice.slots or voice.profile is None:
        raise InvalidInputError(
            "the campaign's voice is not ready",
            [FieldIssue("voice", voice.error or "the slots and voice profile are still being prepared")],
        )
    ladder = _ready_ladder(campaign)
    engine = synthesizers(voice.engine)
    clones = (
        any(v.clones for v in engine.voices() if v.voice_id == voice.voice_id) if voice.voice_id else False
    )
    names: dict[str, Speech] = {}
    shown: dict[str, str] = {}
    notes: list[str] = []
    issues: list[FieldIssue] = []
    for slot in voice.slots:
        raw = values.get(slot.variable) or ""
        override = pronunciations.get(slot.variable)
        try:
            clean = sanitize_name(
                raw, slot.variable, has_pronunciation=has_pronunciation(raw, override, lexicon)
            )
        except InvalidInputError as exc:
            issues += exc.issues
            continue
        notes += [f"{slot.variable}: {change}" for change in clean.changes]
        utterance = resolve_utterance(clean.text, override, lexicon)
        names[slot.variable] = engine.synthesize(utterance, voice.voice_id)
        shown[slot.variable] = clean.text
    if issues:
        raise InvalidInputError("a name cannot be spoken", issues)

    base = BaseAudio.open(media, ladder)
    slots = [
        Slot(s.variable, s.start, s.end, s.confidence or 0.0, s.pause_before, s.pause_after)
        for s in voice.slots
    ]
    lo = max(0.0, min(s.start for s in slots) - CONTEXT_SECONDS)
    hi = min(base.duration, max(s.end for s in slots) + CONTEXT_SECONDS)
    audio = base.read(lo, hi)
    tone_lo, tone_hi = voice.profile.room_tone_start, voice.profile.room_tone_end
    tone = base.read(tone_lo, tone_hi)
    done = personalize(
        audio,
        base.rate,
        lo,
        slots,
        names,
        shown,
        voice.profile,
        tone,
        convert=not clones,
        grow=True,
        frame_rate=ladder.fps,
    )
    grown = [p for p in done.placements if p.extension]
    if len(grown) > 1:
        raise InvalidInputError(
            "the names do not fit their slots",
            [
                FieldIssue(
                    p.variable,
                    "only one name per video may be longer than its slot; use a shorter form of "
                    "this one, or re-record with a longer pause after it",
                )
                for p in grown
            ],
        )
    margin = WINDOW_MARGIN_SECONDS + context_seconds
    extension = done.extension
    start = max(lo, min(p.replace_start for p in done.placements) - margin)
    # ``replace_end`` is on the prospect's timeline; the window's end is the base's second.
    end = min(hi, max(p.replace_end for p in done.placements) - extension + margin)
    window = done.audio[round((start - lo) * base.rate) : round((end + extension - lo) * base.rate)]
    pcm = float_to_pcm(window)
    digest = hashlib.sha256(pcm).hexdigest()[:16]
    key = f"{key_prefix}/{digest}.wav"
    media.put_bytes(key, wav_bytes(pcm, base.rate, base.channels), "audio/wav")
    return VoicedWindow(
        start=round(start, 4),
        end=round(end, 4),
        audio_key=key,
        spoken={v: shown[v] for v in shown},
        notes=notes,
        quality=done.quality,
        placements=done.placements,
        extension=extension,
        hold_at=grown[0].hold_at if grown else None,
    )


def lexicon_map(lexicon: LexiconRepository, account_id: str) -> dict[str, str]:
    return {e.key: e.pronunciation for e in lexicon.list(account_id)}


def decode_wav(data: bytes) -> tuple[Frames, int]:
    """A 16-bit WAV as float32 frames and its rate (how a preview's audio reads back)."""
    with wave.open(io.BytesIO(data)) as w:
        return pcm_to_float(w.readframes(w.getnframes()), w.getnchannels()), w.getframerate()
