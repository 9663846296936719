"""A grown window (issue 17, item 2) mid-video on the local stack: the render task's window with
a hold, the MediaConvert stand-in's stitched job (the source clipped, the held frame's still, the
source again), and the prospect's playlists, decoded and compared with the base.

The window starts in base segment 2 (4 s), so both splices lie inside the stream: entering the
window (its segments carry the base's timestamps from 4 s on) and returning to the base after
it (one discontinuity, ``extension`` later in every rendition).
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import av
import boto3
import m3u8  # type: ignore[import-untyped]
import numpy as np
import pytest

from chalicelib import dependencies as deps
from chalicelib.domain.media.ladder import audio_segment_start
from chalicelib.domain.models import Prospect, new_id
from tests.e2e.test_media_engine import FPS, _decode_errors, _name_audio
from tests.e2e.test_media_engine import seller as seller  # the fixture: a 10 s base, no speech
from tests.e2e.test_watch_player import browser as browser  # the fixture: headless Chromium
from tests.e2e.test_watch_player import play_to_end

pytestmark = pytest.mark.e2e

WINDOW = {"start": 4.6, "end": 5.9, "hold_at": 5.51, "extension": 0.4}  # 12 frames at 30 fps
HELD = 165  # the frame on screen at 5.51 s


def _tfdt(segment: bytes) -> int:
    """The base media decode time of an fMP4 segment's first fragment."""
    at = segment.index(b"tfdt")
    version = segment[at + 4]
    return int.from_bytes(segment[at + 8 : at + (16 if version else 12)], "big")


def _timescale(init: bytes) -> int:
    at = init.index(b"mdhd")
    version = init[at + 4]
    offset = at + 8 + (16 if version else 8)
    return int(struct.unpack(">I", init[offset : offset + 4])[0])


def test_a_grown_window_mid_video_splices_in_and_out_on_the_base_timeline(
    stack: Any, seller: Any, browser: Any, tmp_path: Path
) -> None:
    client, account_id, cid = seller
    settings = stack.settings
    ladder = client.campaign(cid).base_video.ladder
    prospect = deps.get_prospect_repo().add(
        Prospect(
            account_id=account_id,
            campaign_id=cid,
            prospect_id=new_id("pros"),
            first_name="Bartholomew",
            email="bart@example.com",
        )
    )
    key = f"{account_id}/{cid}/voice/{prospect.prospect_id}.wav"
    seconds = WINDOW["end"] - WINDOW["start"] + WINDOW["extension"]
    boto3.client("s3").put_object(
        Bucket=settings.media_bucket, Key=key, Body=_name_audio(tmp_path / "bart.wav", seconds, 140.0)
    )
    payload = {
        "account_id": account_id,
        "campaign_id": cid,
        "prospect_id": prospect.prospect_id,
        "window": WINDOW,
        "audio_key": key,
    }
    reply = boto3.client("lambda").invoke(
        FunctionName=f"tailorcast-{settings.stage}-render_window", Payload=json.dumps(payload)
    )
    assert reply.get("FunctionError") is None, reply["Payload"].read()
    video = client.wait_for_video(cid, prospect.prospect_id)
    assert video.status == "completed", video
    assert video.window is not None and video.window.extension == WINDOW["extension"]

    root = stack.export_media(f"{account_id}/{cid}/", tmp_path / "media")
    base_dir = root / ladder.prefix
    mine = root / video.playlist_key
    master = m3u8.loads(mine.read_text())
    here = mine.parent
    assert all("/" not in p.uri for p in master.playlists)  # every rung is the prospect's own
    extra = round(WINDOW["extension"] * FPS)

    for rendition in [*ladder.renditions, "main_audio.m3u8"]:
        playlist = m3u8.loads((here / rendition).read_text())
        base = m3u8.loads((base_dir / rendition).read_text())
        # one discontinuity, before base segment 3 (after the span 2..2), in every rendition
        flagged = [i for i, s in enumerate(playlist.segments) if s.discontinuity]
        assert [playlist.segments[i].uri.rsplit("_", 1)[-1] for i in flagged] == ["00004.mp4"], rendition
        total = sum(s.duration for s in playlist.segments)
        assert total == pytest.approx(sum(s.duration for s in base.segments) + WINDOW["extension"], abs=1e-4)
        assert _decode_errors(here / rendition) == "", rendition
        # entering the window: its first segment continues the base's timeline at the span's start
        window_first = here / next(s.uri for s in playlist.segments if s.uri.startswith("window/"))
        scale = _timescale((base_dir / base.segment_map[0].uri).read_bytes())
        audio = rendition == "main_audio.m3u8"
        expected = audio_segment_start(2) * scale // 48_000 if audio else 4 * scale
        assert _tfdt(window_first.read_bytes()) == expected, rendition

    # the picture, decoded a discontinuity section at a time (as a player does; ffmpeg's HLS
    # demuxer retimes across it): the base's frames up to the span, the span's with frame 165 (on
    # screen at the hold) held 12 frames longer, then the base's own frames again, pixel for pixel
    rendition = ladder.renditions[0]
    (base,) = _sections(base_dir / rendition)
    before, after = _sections(here / rendition)
    assert (len(before), len(after)) == (6 * FPS + extra, len(base) - 6 * FPS)
    assert all(np.array_equal(x, y) for x, y in zip(before[: 4 * FPS], base, strict=False))
    assert all(np.array_equal(x, y) for x, y in zip(after, base[6 * FPS :], strict=True))
    held = HELD  # section 0 starts at the video's start: its frame numbers are the base's
    change = [float(np.abs(before[i] - before[i - 1]).mean()) for i in range(held - 5, held + extra + 6)]
    print(f"mean luma change frame to frame around the hold: {[round(c, 2) for c in change]}")
    moving, still, resumed = change[:5], change[6 : 6 + extra], change[6 + extra :]
    assert min(moving) > 1.0 and min(resumed) > 1.0  # the test picture moves every frame…
    assert max(still[1:]) < 0.1  # …but not while it holds (the first held frame is the still,
    assert still[0] < 1.0  # a re-encoded picture of frame 165: within a fraction of a level)

    # hls.js in Chromium plays it to the end through the front door, with no hole in either
    # track's buffered timestamps: not entering the window at 4 s, nor returning at 6.4 s
    link = client.watch_link(cid, prospect.prospect_id)
    duration, reached, tracks, _ = play_to_end(browser, link.watch_url)
    assert duration == pytest.approx(10.0 + WINDOW["extension"], abs=0.1)
    assert reached >= duration - 0.2
    assert sorted(t["type"].split("/")[0] for t in tracks) == ["audio", "video"]
    for track in tracks:
        print(f"{track['type']}: buffered {track['ranges']} (splices at 4.0 and 6.4 s)")
        assert len(track["ranges"]) == 1, track
        assert track["ranges"][0][0] <= 0.1 and track["ranges"][0][1] >= duration - 0.1


def _sections(playlist: Path) -> list[list[np.ndarray]]:
    """The luma of every frame of ``playlist``, one list per discontinuity section."""
    parsed = m3u8.loads(playlist.read_text())
    init = (playlist.parent / parsed.segment_map[0].uri).resolve().read_bytes()
    sections: list[bytes] = [init]
    for segment in parsed.segments:
        if segment.discontinuity:
            sections.append(init)
        sections[-1] += (playlist.parent / segment.uri).resolve().read_bytes()
    out = []
    for data in sections:
        with av.open(io.BytesIO(data), mode="r") as container:
            out.append([f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)])
    return out
