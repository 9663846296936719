"""Fit a matched name into its slot and lay it into the base audio with no click, gap or jump.

Fitting, in order of how natural it sounds:

1. a name no longer than the slot starts where the old one started; the rest of the slot
   becomes a slightly longer pause, filled with the room's own tone;
2. a longer name borrows up to half of the pause before it and half of the pause after it;
3. what is still missing is taken by speaking faster, down to :data:`MIN_STRETCH` of the time;
4. beyond that, when growing is allowed and the name takes at most :data:`MAX_NAME_SECONDS` to
   say, the prospect's stream grows by the seconds still missing (:attr:`Placement.extension`,
   whole video frames): they are inserted at :attr:`Placement.hold_at`, inside the replaced
   stretch, where the audio is the name over room tone and the picture holds the frame showing
   at that instant (the seller's words either side keep their own timing and lips);
5. otherwise the name does not fit, and the seller is told how to make room.

Laying in: the replaced stretch is the room tone (the quietest part of the recording, tiled with
mirrored joins so it never jumps) with the name on top, crossfaded into the original audio over
:data:`FADE_SECONDS` at each edge.
"""

from __future__ import annotations

import math
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
#: Issue 17: a name up to this long always fits (the window grows); a longer one fits only where
#: the slot holds it without growing.
MAX_NAME_SECONDS = 1.5
#: Positions in the plan are rounded to this many decimals (0.1 ms, under 5 samples at 48 kHz).
_DECIMALS = 4
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
    #: Seconds the prospect's stream is longer than the base (0: the name fits the slot). Times
    #: above up to ``hold_at`` are the base's; ``name_end`` and ``replace_end`` are on the grown
    #: timeline, where base time ``t`` ≥ ``hold_at`` plays at ``t + extension``.
    extension: float = 0.0
    #: Base second at which the ``extension`` is inserted (None when it is 0).
    hold_at: float | None = None

    def grown(self, base_seconds: float) -> float:
        """Where base second ``base_seconds`` plays in the prospect's stream."""
        if self.hold_at is None or base_seconds < self.hold_at:
            return base_seconds
        return base_seconds + self.extension


def plan_fit(
    slot: Slot,
    name_seconds: float,
    shown_name: str = "the name",
    *,
    grow: bool = False,
    frame_rate: int | None = None,
) -> Placement:
    """Where a name of ``name_seconds`` goes in ``slot``.

    Parameters
    ----------
    grow
        Let a name that needs more room than the slot, its borrowed pauses and the speed-up give
        grow the stream instead of being refused, up to :data:`MAX_NAME_SECONDS` of name.
    frame_rate
        The video's frame rate: a growth is rounded up to whole frames so the picture can hold
        a frame for exactly that long (else to whole milliseconds).

    Raises
    ------
    InvalidInputError
        The name cannot fit even spoken :data:`MIN_STRETCH` faster using half of each pause (and,
        with ``grow``, it takes longer than :data:`MAX_NAME_SECONDS` to say).
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
                if not grow:
                    raise _does_not_fit(slot, name_seconds, shown_name)
                return _grown(
                    slot, name_seconds, shown_name, start, start + room + before + after, frame_rate
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


def _holds(slot: Slot) -> float:
    """The longest name (seconds as synthesized) that ``slot`` takes without growing."""
    return (slot.end - slot.start + (slot.pause_before + slot.pause_after) * PAUSE_BORROW) / MIN_STRETCH


def _does_not_fit(slot: Slot, name_seconds: float, shown_name: str) -> InvalidInputError:
    return InvalidInputError(
        "the name does not fit its slot",
        [
            FieldIssue(
                slot.variable,
                f"'{shown_name}' takes {name_seconds:.2f} s to say; the slot has room for "
                f"{_holds(slot):.2f} s. Use a shorter form of it, or re-record "
                "with a longer pause after the name",
            )
        ],
    )


def _grown(
    slot: Slot, name_seconds: float, shown_name: str, start: float, end: float, frame_rate: int | None
) -> Placement:
    """The name spoken :data:`MIN_STRETCH` fast from ``start``, the stream growing by what is
    still missing past ``end`` (the slot's end plus the borrowed pause), in whole frames."""
    if name_seconds > MAX_NAME_SECONDS:
        raise InvalidInputError(
            "the name is too long for its slot",
            [
                FieldIssue(
                    slot.variable,
                    f"'{shown_name}' takes {name_seconds:.2f} s to say; names up to "
                    f"{MAX_NAME_SECONDS:.1f} s always fit, longer ones only where the slot has room "
                    f"(this one has room for {_holds(slot):.2f} s). Use a shorter form of it (a "
                    "nickname, or the first name alone), or re-record with a longer pause after the name",
                )
            ],
        )
    spoken = name_seconds * MIN_STRETCH
    ticks = frame_rate or 1000
    # Rounded up on the grid, less a hair of float noise so an exact frame stays one frame.
    extension = math.ceil((spoken - (end - start)) * ticks - 1e-6) / ticks
    # Inside the replaced stretch, one fade before its end: the last fade then crossfades the
    # name and room tone back into the base's own audio, which continues unbroken after it.
    hold_at = round(end - FADE_SECONDS, _DECIMALS)
    return Placement(
        variable=slot.variable,
        name_start=round(start, _DECIMALS),
        name_end=round(start + spoken, _DECIMALS),
        replace_start=round(start, _DECIMALS),
        replace_end=round(end + extension, _DECIMALS),
        stretch=MIN_STRETCH,
        extension=extension,
        hold_at=hold_at,
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
    A placement with an extension returns ``round(extension * rate)`` more samples: they are
    inserted at ``hold_at``, under the name and room tone.
    """
    if placement.extension and placement.hold_at is not None:
        hold = round((placement.hold_at - offset) * rate)
        if hold < 0 or hold > len(audio):
            raise ValueError("the placement reaches outside the audio given")
        grow = np.zeros((round(placement.extension * rate), audio.shape[1]), dtype=audio.dtype)
        out: Frames = np.concatenate([audio[:hold], grow, audio[hold:]])
    else:
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
