# ruff: noqa: F811 - the fixture imported from test_previews is used as an argument
"""The MP4 download of a grown window's playlists (issue 17): the base segments after the window
carry base timestamps, behind the prospect's timeline; the download plays them after the window."""

from __future__ import annotations

from pathlib import Path

import av

from chalicelib.media.previews import mp4_download
from tests.unit.test_previews import FPS, SECONDS, Rendition, rendition  # noqa: F401 - a fixture


def test_a_download_across_a_discontinuity_keeps_every_frame_in_order(
    rendition: Rendition, tmp_path: Path
) -> None:
    # GIVEN the tracks with segment 1 played twice: the timestamps jump back 2 s after it, as
    # a grown window's return to the base segments does
    video, audio = rendition.video, rendition.audio
    v = [*video.segments[:2], *video.segments[1:]]
    a = [*audio.segments[:2], *audio.segments[1:]]
    # WHEN the download is built THEN every frame is there, in order, 2 s longer
    dest = mp4_download(video.init, v, audio.init, a, tmp_path / "grown.mp4")
    with av.open(str(dest)) as container:
        stamps = [f.pts for f in container.decode(video=0)]
    assert len(stamps) == FPS * (SECONDS + 2)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    with av.open(str(dest)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert abs(samples / 48_000 - (SECONDS + 2)) < 0.1
