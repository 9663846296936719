"""Fit a matched name into its slot and lay it into the base audio with no click, gap or jump.

Fitting, in order of how natural it sounds:

1. a name no longer than the slot starts where the old one started; the rest of the slot
   becomes a slightly longer pause, filled with the room's own tone;
2. a longer name borrows up to half of the pause before it and half of the pause after it;
3. what is still missing is taken by speaking faster, down to :data:`MIN_STRETCH` of the time;
4. beyond that the name does not fit, and the seller is told how to make room.

Laying in: the replaced stretch is the room tone (the quietest part of the recording, tiled with
mirrored joins so it never jumps) with the name on top, crossfaded into the original audio over
:data:`FADE_SECONDS` at each edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.speech import Speech
from chalicelib.voice.align import Slot

#: The shortest a name may be squeezed to, as a share of its synthesized length. Engines say a
#: lone name in citation form, which is about 1.3–1.5 times as long as the same name inside a
#: running sentence; so up to 1.4 times the engine's pace is still the seller's natural pace.
MIN_STRETCH = 0.7
#: The share of each neighbouring pause a longer name may take.
PAUSE_BORROW = 0.5
FADE_SECONDS = 0.010
NAME_EDGE_FADE_SECONDS = 0.005

Frames = npt.NDArray[np.float32]  # (samples, channels)


@dataclass(frozen=True)
class Placement:
    """Where the name goes (seconds in the base audio) and how much it was time-scaled."""

    variable: str
    name_start: float
    name_end: float
    replace_start: float  # the stretch of original audio that is replaced
    replace_end: float
    stretch: float  # 1.0 = natural length; <1 = spoken faster


def plan_fit(slot: Slot, name_seconds: float, shown_name: str = "the name") -> Placement:
    """Where a name of ``name_seconds`` goes in ``slot``.

    Raises
    ------
    InvalidInputError
        The name cannot fit even spoken :data:`MIN_STRETCH` faster using half of each pause.
    """
    room = slot.end - slot.start
    start = slot.start
    stretch = 1.0
    if name_seconds > room:
        extra = name_seconds - room
        before = min(extra, slot.pause_before * PAUSE_BORROW)
        after = min(extra - before, slot.pause_after * PAUSE_BORROW)
        start -= before
        missing = extra - before - after
        if missing > 1e-9:
            stretch = (name_seconds - missing) / name_seconds
            if stretch < MIN_STRETCH:
                available = room + (slot.pause_before + slot.pause_after) * PAUSE_BORROW
                raise InvalidInputError(
                    "the name does not fit its slot",
                    [
                        FieldIssue(
                            slot.variable,
                            f"'{shown_name}' takes {name_seconds:.2f} s to say; the slot has room for "
                            f"{available / MIN_STRETCH:.2f} s. Use a shorter form of it, or re-record "
                            "with a longer pause after the name",
                        )
                    ],
                )
    end = start + name_seconds * stretch
    return Placement(
        variable=slot.variable,
        name_start=round(start, 4),
        name_end=round(end, 4),
        replace_start=round(min(start, slot.start), 4),
        replace_end=round(max(end, slot.end), 4),
        stretch=round(stretch, 4),
    )


def room_tone_bed(tone: Frames, samples: int) -> Frames:
    """``tone`` tiled to ``samples`` long, every other copy reversed so joins never jump."""
    if len(tone) == 0:
        return np.zeros((samples, 1), dtype=np.float32)
    pair = np.concatenate([tone, tone[::-1]])
    reps = samples // len(pair) + 1
    return np.tile(pair, (reps, 1))[:samples].astype(np.float32)


def lay_in(
    audio: Frames, rate: int, offset: float, placement: Placement, name: Speech, tone: Frames
) -> Frames:
    """``audio`` (which starts at ``offset`` s in the base) with ``name`` laid in per ``placement``.

    ``name`` must already be at ``rate`` and time-scaled; it is mixed equally into every channel.
    """
    out = audio.copy()
    lo = round((placement.replace_start - offset) * rate)
    hi = round((placement.replace_end - offset) * rate)
    if lo < 0 or hi > len(out):
        raise ValueError("the placement reaches outside the audio given")
    channels = out.shape[1]
    region = room_tone_bed(tone[:, :channels] if tone.ndim == 2 else tone[:, None], hi - lo)
    if region.shape[1] != channels:
        region = np.repeat(region[:, :1], channels, axis=1)
    voice = name.samples.astype(np.float32).copy()
    edge = min(len(voice) // 2, int(NAME_EDGE_FADE_SECONDS * rate))
    if edge:
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
        voice[:edge] *= ramp
        voice[-edge:] *= ramp[::-1]
    at = round((placement.name_start - placement.replace_start) * rate)
    length = min(len(voice), len(region) - at)
    region[at : at + length] += voice[:length, np.newaxis]
    fade = min((hi - lo) // 2, int(FADE_SECONDS * rate))
    gain = np.ones(hi - lo, dtype=np.float32)
    if fade:
        ramp = ((np.arange(fade) + 0.5) / fade).astype(np.float32)
        gain[:fade] = ramp
        gain[-fade:] = ramp[::-1]
    original = out[lo:hi]
    out[lo:hi] = original * (1 - gain[:, None]) + region * gain[:, None]
    return out
