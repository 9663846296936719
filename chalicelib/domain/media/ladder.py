"""The HLS ladder and the segment arithmetic that segment-level personalization relies on.

Pure: numbers in, numbers out. Every rule that the base encode and a prospect's window encode
must agree on (rungs, frame rate, 2 s segments, the AAC frame grid) lives here, once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from chalicelib.domain.errors import FieldIssue, InvalidInputError

SEGMENT_SECONDS = 2
AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
AUDIO_BITRATE = 128_000
#: One AAC-LC frame. Audio segments can only start on this grid, which does not divide 2 s.
AAC_FRAME_SAMPLES = 1024
#: A prospect's window (the spoken name, the on-screen card) is at most this long.
MAX_WINDOW_SECONDS = 30.0
MIN_WINDOW_SECONDS = 0.1
#: How far a window may end past a 2 s mark and still count as ending on it: float noise from
#: arithmetic on seconds, far below a frame.
END_TOLERANCE_SECONDS = 1e-6
_SAMPLE_NOISE = 1e-6  # the same, for positions in samples
#: Output frame rates. Sources are conformed to one of these so that every 2 s segment holds a
#: whole number of frames and a window re-encode lands on exactly the base's frame times.
FRAME_RATES = (24, 25, 30)


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder. ``name`` is also the output's name modifier suffix."""

    name: str
    width: int
    height: int
    max_bitrate: int

    @property
    def modifier(self) -> str:
        return f"_{self.name}"


# (short side, peak bitrate at 30 fps)
_RUNGS = ((360, 900_000), (480, 1_600_000), (720, 3_000_000), (1080, 6_000_000))
_ALWAYS = 720  # 360p, 480p and 720p are always produced; 1080p only when the source has it


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def ladder_for(width: int, height: int) -> list[Rung]:
    """Rungs for a source of ``width``×``height`` *as displayed* (rotation already applied).

    Rungs are named by their short side, so a portrait phone video gets 360×640 … 720×1280.
    """
    if width <= 0 or height <= 0:
        raise ValueError("source dimensions must be positive")
    short, long_ = min(width, height), max(width, height)
    rungs: list[Rung] = []
    for side, bitrate in _RUNGS:
        if side > _ALWAYS and short < side:
            break
        other = _even(long_ * side / short)
        w, h = (other, side) if width >= height else (side, other)
        rungs.append(Rung(name=f"{side}p", width=w, height=h, max_bitrate=bitrate))
    return rungs


def frame_rate_for(source_fps: float) -> int:
    """The output frame rate: the source's when standard, else the nearest standard one.

    High-frame-rate phone video (50/60 fps) is halved; anything else snaps to 24, 25 or 30.
    """
    fps = source_fps / 2 if source_fps > 45 else source_fps
    return min(FRAME_RATES, key=lambda r: abs(r - fps))


def video_segment_count(duration_seconds: float) -> int:
    return max(1, math.ceil(duration_seconds / SEGMENT_SECONDS - 1e-9))


def audio_segment_start(index: int) -> int:
    """First sample of audio segment ``index``: the first AAC frame at or after ``index``×2 s."""
    target = index * SEGMENT_SECONDS * AUDIO_SAMPLE_RATE
    return math.ceil(target / AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES


def timecode(seconds: float, fps: int) -> str:
    """``HH:MM:SS:FF`` for a time that falls on a frame boundary at ``fps``."""
    frames = round(seconds * fps)
    s, ff = divmod(frames, fps)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}"


def parse_timecode(value: str, fps: int) -> int:
    """Frame number of ``HH:MM:SS:FF`` at ``fps``."""
    hh, mm, ss, ff = (int(p) for p in value.replace(";", ":").split(":"))
    if ff >= fps or mm >= 60 or ss >= 60:
        raise ValueError(f"timecode {value!r} is not valid at {fps} fps")
    return ((hh * 60 + mm) * 60 + ss) * fps + ff


@dataclass(frozen=True)
class Window:
    """The seconds of the base video that differ for one prospect."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Span:
    """The base segments a window touches: ``first``..``last`` inclusive (same index for every
    rendition, because video and audio segments both start at the first frame at/after 2 s·i)."""

    first: int
    last: int

    @property
    def start_seconds(self) -> int:
        return self.first * SEGMENT_SECONDS

    @property
    def end_seconds(self) -> int:
        return (self.last + 1) * SEGMENT_SECONDS

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def check_window(start: float, end: float, duration: float) -> Window:
    """Reject a window before any encode starts; ``field`` names say which bound is wrong."""
    issues: list[FieldIssue] = []
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InvalidInputError("the window must be two finite numbers of seconds")
    if start < 0:
        issues.append(FieldIssue("window.start", "must be 0 or more"))
    if end > duration + 1e-6:
        issues.append(FieldIssue("window.end", f"is past the end of the video ({duration:.2f} s)"))
    if end - start < MIN_WINDOW_SECONDS:
        issues.append(FieldIssue("window.end", f"must be at least {MIN_WINDOW_SECONDS} s after the start"))
    elif end - start > MAX_WINDOW_SECONDS:
        issues.append(
            FieldIssue("window", f"is {end - start:.1f} s long; the most is {MAX_WINDOW_SECONDS:.0f} s")
        )
    if issues:
        raise InvalidInputError("the personalization window does not fit the video", issues)
    return Window(start=start, end=min(end, duration))


def span_for(window: Window, duration: float) -> Span:
    """Segments to re-encode for ``window``: every segment of any rendition that it touches.

    Both edges are placed on both grids. Audio segment i starts up to one AAC frame after
    2 s·i, so a window starting just after a 2 s mark may still lie in the previous audio
    segment (the span starts there). At the end the video mark decides, an end past it by
    float noise only (:data:`END_TOLERANCE_SECONDS`, far less than a frame) being on it; then
    the span grows while the window still reaches into the next audio segment's samples (the
    grids coincide every 16 s, where the audio is the finer of the two).
    """
    start_sample = window.start * AUDIO_SAMPLE_RATE
    end_sample = window.end * AUDIO_SAMPLE_RATE
    first = max(0, math.floor(window.start / SEGMENT_SECONDS))
    while first > 0 and audio_segment_start(first) > start_sample:
        first -= 1
    last = max(first, math.ceil((window.end - END_TOLERANCE_SECONDS) / SEGMENT_SECONDS) - 1)
    while audio_segment_start(last + 1) < end_sample - _SAMPLE_NOISE:
        last += 1
    return Span(first=first, last=min(last, video_segment_count(duration) - 1))


@dataclass(frozen=True)
class Growth:
    """A window that plays ``extension`` seconds longer than the base span it replaces (a name
    longer than its slot, issue 17): base second ``hold_at`` and everything after it play
    ``extension`` later, the picture holding the frame showing at ``hold_at`` meanwhile."""

    hold_at: float
    extension: float

    def check(self, span: Span, fps: int) -> None:
        """Raise ValueError unless the growth is whole frames and held inside ``span``."""
        frames = self.extension * fps
        if self.extension <= 0 or abs(frames - round(frames)) > 1e-6:
            raise ValueError(f"a growth of {self.extension} s is not a whole number of frames at {fps} fps")
        if not span.start_seconds <= self.hold_at < span.end_seconds:
            raise ValueError(f"the hold at {self.hold_at} s is outside the span's segments")


def held_frame(growth: Growth, fps: int) -> int:
    """The base frame a grown window holds: the one showing at ``growth.hold_at``. The picture
    resumes with the next frame ``extension`` later, so the base's audio after ``hold_at`` (which
    the voice moved by as much) stays with its lips to within that frame."""
    return math.floor(growth.hold_at * fps + 1e-6)


def grown_video_segments(span: Span, duration: float, growth: Growth, fps: int) -> list[float]:
    """Seconds of each video segment a grown window's job writes: the span's, ``extension``
    longer, cut every :data:`SEGMENT_SECONDS` from the span's start (its GOPs stay on the 2 s
    grid from there), the last one shorter. None is longer than a base segment, so the target
    duration stays."""
    growth.check(span, fps)
    frames = round((min(span.end_seconds, duration) - span.start_seconds + growth.extension) * fps)
    per = SEGMENT_SECONDS * fps
    return [min(per, frames - i) / fps for i in range(0, frames, per)]


def grown_audio_segments(span: Span, duration: float, growth: Growth, fps: int) -> list[float]:
    """Seconds of each audio segment a grown window's job writes: from the span's first sample,
    cut at the first AAC frame at or after every 2 s mark of the prospect's timeline (the window
    starts on the base's), and ending ``extension`` after the base's own end of the span. That end
    is on the video's frame grid, not the AAC grid: the last segment's final AAC frame is padded
    past it by less than one frame (21 ms), which the playlist's duration does not count."""
    growth.check(span, fps)
    total = round(duration * AUDIO_SAMPLE_RATE)
    first = audio_segment_start(span.first)
    last = span.last == video_segment_count(duration) - 1
    end = (total if last else audio_segment_start(span.last + 1)) + round(
        growth.extension * AUDIO_SAMPLE_RATE
    )
    cuts = [first]
    i = span.first + 1
    while audio_segment_start(i) < end:
        cuts.append(audio_segment_start(i))
        i += 1
    if end - cuts[-1] < AAC_FRAME_SAMPLES and len(cuts) > 1:
        cuts.pop()  # a tail under one AAC frame cannot be a segment of its own: the last one takes it
    cuts.append(end)
    return [(b - a) / AUDIO_SAMPLE_RATE for a, b in itertools.pairwise(cuts)]
