"""One prospect's names into the base audio: match, fit, lay in, and measure the result.

The measurements are the product's quality gate as well as the benchmark's figures: every
spliced name reports how far its pitch is from the seller's (semitones), how far its loudness is
from the speech around it (LU), and how its largest sample jump at the splice points compares
with the audio's own jumps elsewhere (≤ 1 means no click).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from chalicelib.domain.models import SpeakerProfile
from chalicelib.domain.speech import Speech
from chalicelib.voice.align import Slot
from chalicelib.voice.match import match_voice
from chalicelib.voice.pcm import resample
from chalicelib.voice.profile import f0_track, loudness_lufs
from chalicelib.voice.splice import FADE_SECONDS, Frames, Placement, lay_in, plan_fit

#: Seconds of speech either side of a slot whose loudness the name is matched to.
LOUDNESS_CONTEXT_SECONDS = 2.0
#: Targets (issue 4): the product flags a name outside them.
MAX_F0_OFFSET_SEMITONES = 2.0
MAX_LOUDNESS_OFFSET_LU = 1.0
MAX_CLICK_RATIO = 1.0


@dataclass(frozen=True)
class NameQuality:
    variable: str
    f0_offset_semitones: float | None  # None: too little voiced speech in the name to tell
    loudness_offset_lu: float
    click_ratio: float

    @property
    def ok(self) -> bool:
        pitch_ok = (
            self.f0_offset_semitones is None or abs(self.f0_offset_semitones) <= MAX_F0_OFFSET_SEMITONES
        )
        return (
            pitch_ok
            and abs(self.loudness_offset_lu) <= MAX_LOUDNESS_OFFSET_LU
            and self.click_ratio <= MAX_CLICK_RATIO
        )


@dataclass(frozen=True)
class Personalized:
    audio: Frames  # the context audio with every name laid in (longer by ``extension``)
    placements: list[Placement]  # on the prospect's timeline: later slots move by earlier growth
    quality: list[NameQuality]

    @property
    def extension(self) -> float:
        """Seconds the prospect's stream is longer than the base."""
        return sum(p.extension for p in self.placements)


def personalize(
    audio: Frames,
    rate: int,
    offset: float,
    slots: list[Slot],
    names: Mapping[str, Speech],
    shown: Mapping[str, str],
    profile: SpeakerProfile,
    room_tone: Frames,
    *,
    convert: bool = True,
    grow: bool = False,
    frame_rate: int | None = None,
) -> Personalized:
    """Lay ``names[slot.variable]`` into each slot of ``audio`` (which starts ``offset`` s into the base).

    ``grow`` and ``frame_rate`` are :func:`~chalicelib.voice.splice.plan_fit`'s: with ``grow``
    a name longer than its slot makes the returned audio longer (see :attr:`Personalized.extension`).

    Raises
    ------
    InvalidInputError
        A name does not fit its slot.
    """
    out = audio
    placements: list[Placement] = []
    targets: list[float] = []
    moved = 0.0  # how far earlier growth has moved this slot on the prospect's timeline
    for slot in sorted(slots, key=lambda s: s.start):
        speech = names[slot.variable]
        here = dataclasses.replace(slot, start=slot.start + moved, end=slot.end + moved) if moved else slot
        placement = plan_fit(
            here, speech.duration, shown.get(slot.variable, "the name"), grow=grow, frame_rate=frame_rate
        )
        base_end = placement.replace_end - placement.extension - moved
        target = surrounding_loudness(audio, rate, offset, placement.replace_start - moved, base_end)
        if not math.isfinite(target):
            target = profile.loudness_lufs
        matched = match_voice(
            speech, profile, target_lufs=target, out_rate=rate, stretch=placement.stretch, convert=convert
        )
        out = lay_in(out, rate, offset, placement, matched, room_tone)
        placements.append(placement)
        targets.append(target)
        moved += placement.extension
    quality = [measure(out, rate, offset, p, profile, t) for p, t in zip(placements, targets, strict=True)]
    return Personalized(out, placements, quality)


def surrounding_loudness(audio: Frames, rate: int, offset: float, start: float, end: float) -> float:
    """Loudness (LUFS) of the speech within :data:`LOUDNESS_CONTEXT_SECONDS` of ``start``..``end``."""
    lo = max(0, int((start - LOUDNESS_CONTEXT_SECONDS - offset) * rate))
    a = int((start - offset) * rate)
    b = int((end - offset) * rate)
    hi = min(len(audio), int((end + LOUDNESS_CONTEXT_SECONDS - offset) * rate))
    around = np.concatenate([audio[lo:a], audio[b:hi]]).mean(axis=1)
    if len(around) < int(0.1 * rate):
        return float("nan")
    return loudness_lufs(around.astype(np.float32), rate)


def measure(
    audio: Frames, rate: int, offset: float, placement: Placement, profile: SpeakerProfile, target_lufs: float
) -> NameQuality:
    """How the laid-in name compares with the seller (pitch), its context (loudness) and itself (clicks)."""
    mono = audio.mean(axis=1).astype(np.float32)
    a = int((placement.name_start - offset) * rate)
    b = int((placement.name_end - offset) * rate)
    name = mono[a:b]
    f0 = f0_track(resample(name, rate, 16000), 16000)
    offset_st = float(12 * np.log2(np.median(f0) / profile.f0_median_hz)) if len(f0) >= 5 else None
    loud = loudness_lufs(name, rate) - target_lufs
    return NameQuality(
        variable=placement.variable,
        f0_offset_semitones=None if offset_st is None else round(offset_st, 3),
        loudness_offset_lu=round(float(loud), 3),
        click_ratio=round(
            click_ratio(audio, rate, offset, [placement.replace_start, placement.replace_end]), 3
        ),
    )


def click_ratio(audio: Frames, rate: int, offset: float, points: list[float]) -> float:
    """Largest sample-to-sample jump within a fade of any splice point, over the 99.9th
    percentile of the jumps everywhere else in ``audio`` (per channel, the worst channel)."""
    jumps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    near = np.zeros(len(jumps), dtype=bool)
    reach = int(FADE_SECONDS * rate) + 1
    for point in points:
        i = round((point - offset) * rate)
        near[max(0, i - reach) : min(len(jumps), i + reach)] = True
    if near.all() or not near.any():
        return 0.0
    reference = float(np.percentile(jumps[~near], 99.9))
    return float(jumps[near].max() / reference) if reference > 0 else math.inf
