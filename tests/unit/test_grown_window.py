"""A grown window (issue 17): its segments, and the prospect's playlists with a discontinuity."""

from __future__ import annotations

import math

import m3u8
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.domain.media.hls import MediaPlaylist, PlaylistError, grown_media
from chalicelib.domain.media.ladder import (
    AAC_FRAME_SAMPLES,
    AUDIO_SAMPLE_RATE,
    SEGMENT_SECONDS,
    Growth,
    Span,
    audio_segment_start,
    grown_audio_segments,
    grown_video_segments,
    video_segment_count,
)

BASE_DIR = "acct_1/camp_1/base/upl_1"
RENDER_DIR = "acct_1/camp_1/videos/pros_1/rnd_1"
WINDOW_DIR = f"{RENDER_DIR}/window"


@st.composite
def grown_windows(draw: st.DrawFn) -> tuple[float, Span, Growth, int]:
    fps = draw(st.sampled_from((24, 25, 30)))
    duration = draw(st.integers(3 * fps, 90 * fps)) / fps  # whole frames, like every base
    count = video_segment_count(duration)
    first = draw(st.integers(0, count - 1))
    last = draw(st.integers(first, min(count - 1, first + 3)))
    span = Span(first, last)
    end = min(span.end_seconds, duration)
    hold = draw(st.floats(span.start_seconds, end - 1e-3))
    growth = Growth(hold, draw(st.integers(1, 45)) / fps)  # up to 1.5 s
    return duration, span, growth, fps


def _base_video(duration: float) -> list[float]:
    n = video_segment_count(duration)
    return [min(SEGMENT_SECONDS, duration - i * SEGMENT_SECONDS) for i in range(n)]


def _base_audio(duration: float) -> list[float]:
    total = round(duration * AUDIO_SAMPLE_RATE)
    n = video_segment_count(duration)
    ends = [min(audio_segment_start(i + 1), total) if i < n - 1 else total for i in range(n)]
    return [(ends[i] - audio_segment_start(i)) / AUDIO_SAMPLE_RATE for i in range(n)]


def _playlist(stem: str, durations: list[float]) -> MediaPlaylist:
    return MediaPlaylist(
        f"{stem}_init.mp4",
        [(f"{stem}_{i:05d}.mp4", d) for i, d in enumerate(durations)],
        max(2, *(round(d) for d in durations)),
    )


@settings(deadline=None)
@given(grown_windows())
# At the video's end the last 2 s mark's AAC frame starts 768 samples late: a 2-frame growth
# would leave a tail of 832 samples, under one AAC frame, which the last segment takes.
@example((179 / 30, Span(2, 2), Growth(5.0, 2 / 30), 30))
def test_grown_segments_add_the_extension_and_stay_within_the_target(
    case: tuple[float, Span, Growth, int],
) -> None:
    duration, span, growth, fps = case
    video = grown_video_segments(span, duration, growth, fps)
    audio = grown_audio_segments(span, duration, growth, fps)
    base_v = _base_video(duration)[span.first : span.last + 1]
    base_a = _base_audio(duration)[span.first : span.last + 1]
    # THEN both tracks are exactly the extension longer than the segments they replace
    assert sum(video) == pytest.approx(sum(base_v) + growth.extension, abs=1e-9)
    assert sum(audio) == pytest.approx(sum(base_a) + growth.extension, abs=1e-9)
    # AND video segments are whole frames, 2 s each but the last (so GOPs stay on the grid)
    assert all(abs(d * fps - round(d * fps)) < 1e-9 for d in video)
    assert all(d == SEGMENT_SECONDS for d in video[:-1]) and 0 < video[-1] <= SEGMENT_SECONDS
    # AND audio segments start on the AAC grid and none would raise the target duration
    starts = [
        audio_segment_start(span.first) + round(sum(audio[:i]) * AUDIO_SAMPLE_RATE) for i in range(len(audio))
    ]
    assert all(s % AAC_FRAME_SAMPLES == 0 for s in starts)
    assert all(round(d) <= SEGMENT_SECONDS for d in audio)
    assert min(audio) * AUDIO_SAMPLE_RATE >= AAC_FRAME_SAMPLES - 1e-6


def test_a_growth_must_be_whole_frames_and_held_inside_the_span() -> None:
    span = Span(1, 2)
    with pytest.raises(ValueError, match="whole number of frames"):
        grown_video_segments(span, 20.0, Growth(3.0, 0.05), 30)
    with pytest.raises(ValueError, match="outside the span"):
        grown_audio_segments(span, 20.0, Growth(6.5, 0.1), 30)


@settings(deadline=None)
@given(grown_windows())
def test_prospect_playlists_mark_the_return_to_the_base_in_every_rendition(
    case: tuple[float, Span, Growth, int],
) -> None:
    duration, span, growth, fps = case
    here = RENDER_DIR
    texts = {}
    for stem, base, window in (
        ("main_audio", _base_audio(duration), grown_audio_segments(span, duration, growth, fps)),
        ("main_720p", _base_video(duration), grown_video_segments(span, duration, growth, fps)),
    ):
        text = grown_media(
            _playlist(stem, base),
            BASE_DIR,
            _playlist(stem, window),
            WINDOW_DIR,
            span.first,
            span.count,
            growth.extension,
            here,
        )
        parsed = m3u8.loads(text)
        texts[stem] = parsed
        # THEN it plays the base's duration plus the growth
        assert sum(s.duration for s in parsed.segments) == pytest.approx(
            sum(base) + growth.extension, abs=1e-6 * len(parsed.segments)
        )
        assert all(round(s.duration) <= parsed.target_duration for s in parsed.segments)
        assert parsed.discontinuity_sequence == 0 and parsed.is_endlist
        # AND the window's segments follow the base's earlier ones with no discontinuity
        flagged = [i for i, s in enumerate(parsed.segments) if s.discontinuity]
        after = span.first + len(window)
        if span.last == video_segment_count(duration) - 1:
            assert flagged == []  # nothing of the base follows
        else:
            assert flagged == [after]
            # the base segment after it is the one after the span, from the shared base folder
            uri = parsed.segments[after].uri
            assert posixpath_norm(here, uri) == f"{BASE_DIR}/{stem}_{span.last + 1:05d}.mp4"
        assert all(
            posixpath_norm(here, s.uri).startswith(WINDOW_DIR) for s in parsed.segments[span.first : after]
        )
    # AND audio and video return to the base at the same moment (within the AAC grid's offset)
    a, v = texts["main_audio"], texts["main_720p"]
    if any(s.discontinuity for s in v.segments):
        at = [
            sum(
                s.duration for s in p.segments[: next(i for i, s in enumerate(p.segments) if s.discontinuity)]
            )
            for p in (a, v)
        ]
        assert abs(at[0] - at[1]) < AAC_FRAME_SAMPLES / AUDIO_SAMPLE_RATE
        assert at[1] == pytest.approx(span.end_seconds + growth.extension, abs=1e-6 * len(v.segments))


def posixpath_norm(directory: str, uri: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.join(directory, uri))


def test_a_window_that_does_not_add_up_is_refused() -> None:
    base = _playlist("main_720p", [2.0] * 5)
    window = _playlist("main_720p", [2.0, 2.0, 0.4])
    text = grown_media(base, BASE_DIR, window, WINDOW_DIR, 1, 2, 0.4, RENDER_DIR)
    assert "#EXT-X-DISCONTINUITY\n" in text
    with pytest.raises(PlaylistError, match=r"grown by 0\.500000 s"):
        grown_media(base, BASE_DIR, window, WINDOW_DIR, 1, 2, 0.5, RENDER_DIR)
    with pytest.raises(PlaylistError, match="outside"):
        grown_media(base, BASE_DIR, window, WINDOW_DIR, 4, 2, 0.4, RENDER_DIR)
    assert math.isclose(sum(s.duration for s in m3u8.loads(text).segments), 10.4)
