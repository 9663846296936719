"""Reading the ladder's playlists and writing a prospect's, on hand-written HLS."""

from __future__ import annotations

import posixpath

import m3u8
import pytest

from chalicelib.domain.media.hls import (
    DURATION_TOLERANCE,
    Master,
    MediaPlaylist,
    PlaylistError,
    Variant,
    parse_master,
    parse_media,
    prospect_master,
    relative,
    spliced_media,
)
from chalicelib.domain.media.ladder import AUDIO_SAMPLE_RATE, audio_segment_start

BASE_DIR = "acct_1/camp_1/base/upl_1"
RENDER_DIR = "acct_1/camp_1/videos/pros_1/rnd_1"
WINDOW_DIR = f"{RENDER_DIR}/window"

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",LANGUAGE="und",AUTOSELECT=YES,DEFAULT=YES,CHANNELS="2",URI="main_audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=3400000,AVERAGE-BANDWIDTH=2100000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="audio"
main_720p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1050000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"
main_360p.m3u8
"""


def _audio_seconds(i: int, total_samples: int) -> float:
    end = min(audio_segment_start(i + 1), total_samples)
    return (end - audio_segment_start(i)) / AUDIO_SAMPLE_RATE


def _media(stem: str, durations: list[float], *, start: int = 1, endlist: bool = True) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(2, round(max(durations)))}",
        f"#EXT-X-MEDIA-SEQUENCE:{start}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{stem}_init.mp4"',
    ]
    for n, seconds in enumerate(durations):
        lines += [f"#EXTINF:{seconds:.6f},", f"{stem}_{n + start:05d}.mp4"]
    if endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


# 10 s of audio in five segments cut on the AAC grid: 2.005333 s three times, then 1.984 s (the
# grids meet again at 8 s), then 2 s
TOTAL = 10 * AUDIO_SAMPLE_RATE
AUDIO_DURATIONS = [_audio_seconds(i, TOTAL) for i in range(5)]


def _resolve(directory: str, uri: str) -> str:
    return posixpath.normpath(posixpath.join(directory, uri))


# --------------------------------------------------------------------------- parsing


def test_parse_master() -> None:
    master = parse_master(MASTER)
    assert master == Master(
        audio_group="audio",
        audio_uri="main_audio.m3u8",
        audio_channels="2",
        variants=[
            Variant("main_720p.m3u8", 3_400_000, 2_100_000, "avc1.64001f,mp4a.40.2", (1280, 720), 30.0),
            Variant("main_360p.m3u8", 1_050_000, None, "avc1.64001e,mp4a.40.2", (640, 360), None),
        ],
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "\n".join(line for line in MASTER.splitlines() if not line.startswith("#EXT-X-MEDIA")).replace(
                ',AUDIO="audio"', ""
            ),
            "one audio rendition, found 0",
        ),
        (MASTER.replace('CODECS="avc1.64001e,mp4a.40.2",', ""), "main_360p.m3u8 lacks RESOLUTION or CODECS"),
        (MASTER.replace("RESOLUTION=640x360,", ""), "main_360p.m3u8 lacks RESOLUTION or CODECS"),
        (MASTER.replace('640x360,AUDIO="audio"', '640x360,AUDIO="other"'), "not bound to the audio group"),
        (_media("main_audio", AUDIO_DURATIONS), "expected a multivariant playlist"),
    ],
)
def test_parse_master_errors(text: str, says: str) -> None:
    with pytest.raises(PlaylistError, match=says):
        parse_master(text)


def test_parse_master_refuses_two_audio_renditions() -> None:
    second = (
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Other",LANGUAGE="en",AUTOSELECT=NO,DEFAULT=NO,'
        'URI="other_audio.m3u8"\n'
    )
    text = MASTER.replace("#EXT-X-STREAM-INF", second + "#EXT-X-STREAM-INF", 1)
    with pytest.raises(PlaylistError, match="found 2"):
        parse_master(text)


def test_parse_media() -> None:
    media = parse_media(_media("main_audio", AUDIO_DURATIONS))
    assert media.map_uri == "main_audio_init.mp4"
    assert [uri for uri, _ in media.segments] == [f"main_audio_{n:05d}.mp4" for n in range(1, 6)]
    assert [d for _, d in media.segments] == [round(d, 6) for d in AUDIO_DURATIONS]
    assert media.target_duration == 2
    assert media.duration == pytest.approx(10.0, abs=5e-6)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (_media("main_audio", AUDIO_DURATIONS, endlist=False), "complete \\(VOD\\)"),
        (
            _media("main_audio", AUDIO_DURATIONS).replace(
                "#EXTINF:2.005333,\nmain_audio_00002.mp4",
                '#EXT-X-MAP:URI="other_init.mp4"\n#EXTINF:2.005333,\nmain_audio_00002.mp4',
            ),
            "one EXT-X-MAP",
        ),
        (
            _media("main_audio", AUDIO_DURATIONS).replace('#EXT-X-MAP:URI="main_audio_init.mp4"\n', ""),
            "EXT-X-MAP",
        ),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n", "with segments"),
        (MASTER, "with segments"),
    ],
)
def test_parse_media_errors(text: str, says: str) -> None:
    with pytest.raises(PlaylistError, match=says):
        parse_media(text)


def test_relative() -> None:
    assert relative(RENDER_DIR, f"{BASE_DIR}/main_720p.m3u8") == "../../../base/upl_1/main_720p.m3u8"
    assert relative(RENDER_DIR, f"{WINDOW_DIR}/main_audio_00001.mp4") == "window/main_audio_00001.mp4"
    assert relative(RENDER_DIR, f"{RENDER_DIR}/main_audio.m3u8") == "main_audio.m3u8"


# --------------------------------------------------------------------------- splicing


def _base_and_window(first: int, count: int) -> tuple[MediaPlaylist, MediaPlaylist]:
    base = parse_media(_media("main_audio", AUDIO_DURATIONS))
    window = parse_media(_media("main_audio", AUDIO_DURATIONS[first : first + count]))
    return base, window


@pytest.mark.parametrize(("first", "count"), [(0, 1), (1, 2), (3, 2), (0, 5)])
def test_spliced_media_swaps_exactly_the_span(first: int, count: int) -> None:
    base, window = _base_and_window(first, count)
    text = spliced_media(base, BASE_DIR, window, WINDOW_DIR, first, RENDER_DIR)
    m3u8.parse(text, strict=True)
    parsed = m3u8.loads(text)
    assert parsed.is_endlist and parsed.playlist_type == "vod" and parsed.version == 7
    assert parsed.target_duration == 2
    # the base's init serves every segment, the window's included: one map, no discontinuity
    assert len(parsed.segment_map) == 1
    assert _resolve(RENDER_DIR, parsed.segment_map[0].uri) == f"{BASE_DIR}/main_audio_init.mp4"
    assert not any(s.discontinuity for s in parsed.segments)

    keys = [_resolve(RENDER_DIR, s.uri) for s in parsed.segments]
    expected = [f"{BASE_DIR}/main_audio_{n + 1:05d}.mp4" for n in range(5)]
    for i in range(count):
        expected[first + i] = f"{WINDOW_DIR}/main_audio_{i + 1:05d}.mp4"
    assert keys == expected
    assert [float(s.duration) for s in parsed.segments] == [d for _, d in base.segments]
    assert all(not s.uri.startswith("/") and "://" not in s.uri for s in parsed.segments)


def test_spliced_media_accepts_the_six_decimal_rounding_only() -> None:
    base, _ = _base_and_window(1, 1)
    seconds = base.segments[1][1]
    close = MediaPlaylist("w_init.mp4", [("w_00001.mp4", seconds + DURATION_TOLERANCE * 0.8)], 2)
    spliced_media(base, BASE_DIR, close, WINDOW_DIR, 1, RENDER_DIR)
    # one sample at 48 kHz (20.8 µs) is within; one AAC frame (21.3 ms) or one video frame is not
    one_frame = MediaPlaylist("w_init.mp4", [("w_00001.mp4", seconds - 1024 / AUDIO_SAMPLE_RATE)], 2)
    with pytest.raises(PlaylistError, match="window segment 0 lasts"):
        spliced_media(base, BASE_DIR, one_frame, WINDOW_DIR, 1, RENDER_DIR)
    far = MediaPlaylist("w_init.mp4", [("w_00001.mp4", seconds + DURATION_TOLERANCE * 1.5)], 2)
    with pytest.raises(PlaylistError, match="base's segment 1"):
        spliced_media(base, BASE_DIR, far, WINDOW_DIR, 1, RENDER_DIR)


def test_spliced_media_checks_each_window_segment_against_its_own_base_segment() -> None:
    # base segments 2, 3, 4 last 2.005333, 1.984 and 2 s: a window cut for 3..4 placed at 2 is refused
    base, window = _base_and_window(3, 2)
    with pytest.raises(PlaylistError):
        spliced_media(base, BASE_DIR, window, WINDOW_DIR, 2, RENDER_DIR)


@pytest.mark.parametrize(("first", "count"), [(4, 2), (-1, 1), (5, 1)])
def test_spliced_media_refuses_a_window_outside_the_base(first: int, count: int) -> None:
    base = parse_media(_media("main_audio", AUDIO_DURATIONS))
    window = MediaPlaylist("w_init.mp4", [(f"w_{i}.mp4", 2.005333) for i in range(count)], 2)
    with pytest.raises(PlaylistError, match="fall outside the base"):
        spliced_media(base, BASE_DIR, window, WINDOW_DIR, first, RENDER_DIR)


def test_spliced_media_uses_the_larger_target_duration() -> None:
    base = parse_media(_media("v", [2.0, 2.0, 2.0]))
    window = MediaPlaylist("w_init.mp4", [("w_1.mp4", 2.0)], 3)
    parsed = m3u8.loads(spliced_media(base, BASE_DIR, window, WINDOW_DIR, 1, RENDER_DIR))
    assert parsed.target_duration == 3


# --------------------------------------------------------------------------- prospect master


@pytest.mark.parametrize("with_video", [False, True])
def test_prospect_master(with_video: bool) -> None:
    base = parse_master(MASTER)
    replaced = {"main_audio.m3u8": f"{RENDER_DIR}/main_audio.m3u8"}
    if with_video:
        replaced |= {v.uri: f"{RENDER_DIR}/{v.uri}" for v in base.variants}
    text = prospect_master(base, BASE_DIR, RENDER_DIR, replaced)
    m3u8.parse(text, strict=True)
    ours = parse_master(text)

    assert (ours.audio_group, ours.audio_channels) == (base.audio_group, base.audio_channels)
    assert _resolve(RENDER_DIR, ours.audio_uri) == f"{RENDER_DIR}/main_audio.m3u8"
    assert len(ours.variants) == len(base.variants)
    for mine, theirs in zip(ours.variants, base.variants, strict=True):
        assert (mine.bandwidth, mine.average_bandwidth, mine.codecs, mine.resolution, mine.frame_rate) == (
            theirs.bandwidth,
            theirs.average_bandwidth,
            theirs.codecs,
            theirs.resolution,
            theirs.frame_rate,
        )
        where = RENDER_DIR if with_video else BASE_DIR
        assert _resolve(RENDER_DIR, mine.uri) == f"{where}/{theirs.uri}"
    parsed = m3u8.loads(text)
    assert parsed.media[0].default == "YES" and parsed.media[0].autoselect == "YES"
    assert all(p.stream_info.audio == "audio" for p in parsed.playlists)


def test_prospect_master_without_channels_omits_the_attribute() -> None:
    base = parse_master(MASTER.replace('CHANNELS="2",', ""))
    assert base.audio_channels is None
    text = prospect_master(base, BASE_DIR, RENDER_DIR, {})
    m3u8.parse(text, strict=True)
    assert "CHANNELS" not in text
    # nothing replaced: every URI leads back to the base
    ours = parse_master(text)
    assert _resolve(RENDER_DIR, ours.audio_uri) == f"{BASE_DIR}/main_audio.m3u8"
    assert [_resolve(RENDER_DIR, v.uri) for v in ours.variants] == [
        f"{BASE_DIR}/main_720p.m3u8",
        f"{BASE_DIR}/main_360p.m3u8",
    ]
