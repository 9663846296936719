# ruff: noqa: F811 - the fixtures imported from test_media_domain are used as arguments
"""A grown window through the media use cases (issue 17): what ``prepare_window`` writes and
submits, and the playlists ``publish_playlists`` writes, on the in-memory fakes."""

from __future__ import annotations

import copy
import dataclasses

import m3u8
import numpy as np
import pytest

from chalicelib.domain import media as svc
from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.media import jobs
from chalicelib.domain.media.ladder import (
    Growth,
    Span,
    Window,
    grown_audio_segments,
    grown_video_segments,
    ladder_for,
    parse_timecode,
    span_for,
)
from chalicelib.domain.models import OverlayText, ProspectVideo, RenderWindow
from devstack.mediaconvert.plan import plan_job
from tests import fakes
from tests.unit.test_media_domain import (
    CONFIG,
    RATE,
    VIDEO_RUNGS,
    World,
    _base_pcm,
    _frames,
    _media_playlist,
    _wav,
    _write_ladder,
    ready,  # noqa: F401 - a fixture
    world,  # noqa: F401 - a fixture
)

START, END, HOLD, EXTENSION = 4.003, 4.9, 4.71, 0.2  # 0.2 s = 6 frames at 30 fps
VOICE_SECONDS = END - START + EXTENSION


def _request(world: World, window: RenderWindow, overlay: OverlayText | None = None) -> svc.RenderRequest:
    return svc.RenderRequest(
        account_id=world.account_id,
        campaign_id=world.campaign_id,
        prospect_id=world.prospect_id,
        window=window,
        audio_key="voice/grown.wav",
        overlay=overlay,
    )


def _prepare(
    world: World,
    window: RenderWindow,
    overlay: OverlayText | None = None,
    voice_seconds: float = VOICE_SECONDS,
) -> svc.PreparedWindow:
    _write_ladder(world)
    for uri, _, _ in VIDEO_RUNGS:  # the segments the still is read from
        for n in range(5):
            world.media.put_bytes(f"{world.prefix}/{uri[:-5]}_{n + 1:05d}.mp4", f"{uri}#{n}".encode(), "x")
        world.media.put_bytes(f"{world.prefix}/{uri[:-5]}_init.mp4", b"init", "x")
    voice = np.full((round(voice_seconds * RATE), 2), 7_777, dtype="<i2")
    world.media.put_bytes("voice/grown.wav", _wav(voice), "audio/wav")
    return svc.prepare_window(
        _request(world, window, overlay),
        "rnd_grown",
        world.campaign,
        media=world.media,
        uploads=world.uploads,
        config=CONFIG,
        codec=fakes.FakeMediaCodec(),
    )


def test_a_name_that_fits_gets_exactly_today_s_job(ready: World) -> None:
    # GIVEN a window without growth WHEN it is prepared
    prepared = _prepare(ready, RenderWindow(start=START, end=END), voice_seconds=0.8)
    # THEN the job is the one-input window job, built as before the grown path existed
    prefix = prepared.fields["prefix"]
    expected = jobs.window_job(
        source=f"s3://tailorcast-test-uploads/{ready.base.key}",
        destination=f"s3://tailorcast-test-media/{prefix}/window/main",
        span=span_for(Window(START, END), 10.0),
        duration=10.0,
        fps=30,
        audio=f"s3://tailorcast-test-media/{prefix}/input/audio.wav",
        rungs=ladder_for(1280, 720),
        overlay=None,
        role=CONFIG.role_arn,
        metadata=svc.window_metadata(ready.account_id, ready.campaign_id, ready.prospect_id, "rnd_grown"),
        token="rnd_grown",
    )
    assert prepared.job == expected
    assert prepared.fields["window"] == RenderWindow(start=START, end=END)
    assert f"{prefix}/input/held.png" not in ready.media.objects


def test_a_grown_window_holds_the_frame_at_the_hold_and_cuts_the_audio_where_the_inputs_meet(
    ready: World,
) -> None:
    window = RenderWindow(start=START, end=END, hold_at=HOLD, extension=EXTENSION)
    prepared = _prepare(ready, window)
    prefix = prepared.fields["prefix"]
    assert prepared.fields["window"] == window
    assert (prepared.fields["first_segment"], prepared.fields["segment_count"]) == (1, 2)

    # the job: the span up to the frame showing at the hold, its still for 6 frames, the rest
    before, still, after = prepared.job.settings["Inputs"]
    held = 141  # 4.71 s × 30 fps, floored: the frame on screen at the hold
    clips = [
        tuple(parse_timecode(c[k], 30) for k in ("StartTimecode", "EndTimecode"))
        for i in (before, after)
        for c in i["InputClippings"]
    ]
    assert clips == [(60, held), (held + 1, 179)]
    generator = still["VideoGenerator"]
    assert generator["Duration"] == 200
    assert generator["ImageInput"] == f"s3://tailorcast-test-media/{prefix}/input/held.png"
    assert (generator["Width"], generator["Height"]) == (1280, 720)
    # …the still is the best rung's frame at that instant, from the segment holding it
    assert ready.media.get_bytes(f"{prefix}/input/held.png") == f"still@{held / 30:.3f}:1280x720:1".encode()
    # every rung and the audio are re-encoded
    outputs = prepared.job.settings["OutputGroups"][0]["Outputs"]
    assert [o["NameModifier"] for o in outputs] == ["_360p", "_480p", "_720p", "_audio"]

    # the audio: the span's base audio with the window replaced by the longer voice, cut at the
    # frame boundary after the held frame (base second 142/30) and ``extension`` later
    base = _base_pcm().astype(np.int32)
    span_start, cut, extra = 2 * RATE, 142 * 1600 - 2 * RATE, round(EXTENSION * RATE)
    audio = {
        n: _frames(ready.media.get_bytes(f"{prefix}/input/{n}.wav")) for n in ("before", "held", "after")
    }
    w0, w1 = round(START * RATE) - span_start, round(END * RATE) - span_start
    assert len(audio["before"]) == cut and len(audio["held"]) == extra
    assert np.array_equal(audio["before"][:w0], base[span_start : span_start + w0])
    assert np.all(audio["held"] == 7_777)  # inside the name
    # the last input's file starts at the span's start too: base second t plays there at t + E,
    # so after the window it is the base's own audio at t again, sample for sample
    tail = audio["after"][w1 + 1000 :]
    assert np.array_equal(tail, base[span_start + w1 + 1000 : span_start + w1 + 1000 + len(tail)])
    assert np.all(audio["after"][cut : w1 - 1000] == 7_777)

    # the local MediaConvert plans it: three inputs in order
    plan = plan_job(copy.deepcopy(prepared.job.settings))
    assert [p.source is None for p in plan.pieces] == [False, True, False]


def test_a_grown_window_under_a_name_card_is_refused_clearly(ready: World) -> None:
    window = RenderWindow(start=START, end=END, hold_at=HOLD, extension=EXTENSION)
    with pytest.raises(InvalidInputError) as raised:
        _prepare(ready, window, OverlayText(text="Bartholomew"))
    assert raised.value.issues[0].loc == "name_card"


@pytest.mark.parametrize(
    ("hold_at", "extension"),
    [(HOLD, 0.21), (7.5, EXTENSION), (4.95, EXTENSION)],
    ids=["part-frame", "outside", "after-window"],
)
def test_a_growth_that_is_not_whole_frames_inside_the_window_is_refused(
    ready: World, hold_at: float, extension: float
) -> None:
    with pytest.raises(InvalidInputError):
        _prepare(ready, RenderWindow(start=START, end=END, hold_at=hold_at, extension=extension))


# --------------------------------------------------------------------------- publish


def _grown_video(world: World) -> ProspectVideo:
    """A completed grown window job's outputs for span 1..2 of the 10 s ladder."""
    _write_ladder(world)
    prefix = svc.render_prefix(world.account_id, world.campaign_id, world.prospect_id, "rnd_grown")
    span, growth = Span(1, 2), Growth(HOLD, EXTENSION)
    for uri, _, _ in VIDEO_RUNGS:
        durations = grown_video_segments(span, 10.0, growth, 30)
        world.media.put_bytes(f"{prefix}/window/{uri}", _media_playlist(uri[:-5], durations), "x")
        for n in range(len(durations)):
            world.media.put_bytes(f"{prefix}/window/{uri[:-5]}_{n + 1:05d}.mp4", b"v" * 10, "x")
    audio_list = m3u8.loads(world.media.get_bytes(f"{world.prefix}/main_audio.m3u8").decode())
    audio_seconds = sum(float(s.duration) for s in audio_list.segments)
    durations = grown_audio_segments(span, audio_seconds, growth, 30)
    world.media.put_bytes(f"{prefix}/window/main_audio.m3u8", _media_playlist("main_audio", durations), "x")
    for n in range(len(durations)):
        world.media.put_bytes(f"{prefix}/window/main_audio_{n + 1:05d}.mp4", b"a" * 10, "x")
    return ProspectVideo(
        account_id=world.account_id,
        campaign_id=world.campaign_id,
        prospect_id=world.prospect_id,
        render_id="rnd_grown",
        base_upload_id=world.upload_id,
        window=RenderWindow(start=START, end=END, hold_at=HOLD, extension=EXTENSION),
        first_segment=1,
        segment_count=2,
        prefix=prefix,
    )


def test_publish_of_a_grown_window_splices_every_rendition_with_one_discontinuity(world: World) -> None:
    video = _grown_video(world)
    done = svc.publish_playlists(video, world.media)
    prefix = video.prefix
    assert prefix is not None
    master = m3u8.loads(world.media.get_bytes(f"{prefix}/{done['master']}").decode())
    # every rung's playlist and the audio's are the prospect's own, in the base's master's shape
    assert sorted(p.uri for p in master.playlists) == sorted(uri for uri, _, _ in VIDEO_RUNGS)
    assert [m.uri for m in master.media] == ["main_audio.m3u8"]
    returns = set()
    for uri in [*(u for u, _, _ in VIDEO_RUNGS), "main_audio.m3u8"]:
        text = world.media.get_bytes(f"{prefix}/{uri}").decode()
        playlist = m3u8.loads(text)
        flagged = [i for i, s in enumerate(playlist.segments) if s.discontinuity]
        assert len(flagged) == 1
        returns.add(playlist.segments[flagged[0]].uri.rsplit("_", 1)[-1])  # the base segment it returns to
        base = m3u8.loads(world.media.get_bytes(f"{world.prefix}/{uri}").decode())
        total = sum(float(s.duration) for s in playlist.segments)
        assert total == pytest.approx(sum(float(s.duration) for s in base.segments) + EXTENSION, abs=1e-5)
        assert playlist.target_duration == 2
    assert returns == {"00004.mp4"}  # base segment 3, after the span 1..2, in every rendition


def test_publish_refuses_a_grown_window_whose_job_wrote_another_segment_plan(world: World) -> None:
    video = _grown_video(world)
    assert video.window is not None
    shorter = dataclasses.replace(Growth(HOLD, EXTENSION), extension=0.1)
    durations = grown_video_segments(Span(1, 2), 10.0, shorter, 30)[:-1]
    world.media.put_bytes(
        f"{video.prefix}/window/main_360p.m3u8", _media_playlist("main_360p", durations), "x"
    )
    with pytest.raises(svc.hls.PlaylistError):
        svc.publish_playlists(video, world.media)
