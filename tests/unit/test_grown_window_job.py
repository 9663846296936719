"""The MediaConvert job for a grown window (issue 17): valid for AWS, the frame held in order."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.domain.media.jobs import AUDIO_SELECTOR, HeldFrame, JobRequest, grown_window_job
from chalicelib.domain.media.ladder import Span, ladder_for, parse_timecode
from devstack.mediaconvert.executor import plan_job
from devstack.mediaconvert.server import UnsupportedSettingsError
from tests.unit.test_media_jobs import RENDER, ROLE, SOURCE, _aws_errors

TWO_SEGMENTS = Span(0, 1)
AUDIO = (f"{RENDER}/input/before.wav", f"{RENDER}/input/held.wav", f"{RENDER}/input/after.wav")


def _job(
    frame: int, frames: int, *, span: Span = TWO_SEGMENTS, duration: float = 10.0, fps: int = 30
) -> JobRequest:
    return grown_window_job(
        source=SOURCE,
        destination=f"{RENDER}/window/main",
        span=span,
        duration=duration,
        fps=fps,
        audio=AUDIO,
        hold=HeldFrame(frame, frames, f"{RENDER}/input/held.png", 1280, 720),
        rungs=ladder_for(1280, 720),
        role=ROLE,
        metadata={"kind": "window", "render_id": "rnd_1"},
        token="rnd_1",
    )


@pytest.mark.parametrize(("fps", "frames"), [(24, 1), (25, 19), (30, 22), (30, 45)])
def test_the_document_is_valid_for_aws(fps: int, frames: int) -> None:
    assert _aws_errors(_job(fps, frames, fps=fps).kwargs()) == []


def test_the_span_plays_up_to_the_held_frame_then_the_still_then_the_rest() -> None:
    # GIVEN a 2-segment span at 30 fps and frame 29 (0.967 s) held 22 more frames
    inputs = _job(29, 22).settings["Inputs"]
    first, still, rest = inputs
    clip = [
        (parse_timecode(c["StartTimecode"], 30), parse_timecode(c["EndTimecode"], 30))
        for i in (first, rest)
        for c in i["InputClippings"]
    ]
    # THEN the clips cover every frame of the span once, split after the held frame
    assert clip == [(0, 29), (30, 119)]
    # AND the still lasts the held frames (whole ms), with the prospect's audio for that stretch
    assert still["VideoGenerator"]["Duration"] == round(22 * 1000 / 30)
    assert still["VideoGenerator"]["ImageInput"].endswith("/held.png")
    assert [i["AudioSelectors"][AUDIO_SELECTOR]["ExternalAudioFileInput"] for i in inputs] == list(AUDIO)
    assert (
        first["AudioSelectors"][AUDIO_SELECTOR]["Offset"]
        == rest["AudioSelectors"][AUDIO_SELECTOR]["Offset"]
        == 0
    )
    # AND every rung is re-encoded with the audio
    outputs = _job(29, 22).settings["OutputGroups"][0]["Outputs"]
    assert len(outputs) == len(ladder_for(1280, 720)) + 1


def test_holding_the_span_s_last_frame_needs_no_third_input() -> None:
    inputs = _job(299, 3, span=Span(4, 4), duration=10.0).settings["Inputs"]
    assert len(inputs) == 2 and parse_timecode(inputs[0]["InputClippings"][0]["EndTimecode"], 30) == 299
    assert inputs[0]["AudioSelectors"][AUDIO_SELECTOR]["Offset"] == 8000


@pytest.mark.parametrize(("frame", "frames"), [(60, 3), (10, 0)])
def test_a_frame_outside_the_span_or_no_hold_is_refused(frame: int, frames: int) -> None:
    with pytest.raises(ValueError, match="not in the span"):
        _job(frame, frames, span=Span(0, 0))


def test_the_local_stand_in_plans_the_inputs_in_order() -> None:
    plan = plan_job(copy.deepcopy(_job(29, 22).settings))
    first, still, rest = plan.pieces
    assert (first.source, first.clip, first.audio_offset_ms) == (SOURCE, ("00:00:00:00", "00:00:00:29"), 0)
    assert (still.source, still.image, still.duration_ms, still.fps) == (
        None,
        f"{RENDER}/input/held.png",
        733,
        30,
    )
    assert (rest.clip, rest.external_audio) == (("00:00:01:00", "00:00:03:29"), AUDIO[2])
    assert [v.modifier for v in plan.videos] == ["_360p", "_480p", "_720p"]


def _with(change: Any) -> dict[str, Any]:
    settings = copy.deepcopy(_job(29, 22).settings)
    change(settings["Inputs"])
    return settings


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda i: i[1].update(FileInput=SOURCE), "cannot also have FileInput"),
        (
            lambda i: i[1].update(InputClippings=i[0]["InputClippings"]),
            "cannot also have FileInput or InputClippings",
        ),
        (lambda i: i[1]["VideoGenerator"].pop("Height"), "both Width and Height"),
        (
            lambda i: i[1]["VideoGenerator"].pop("FramerateDenominator"),
            "FramerateNumerator and FramerateDenominator",
        ),
        (lambda i: i[1]["VideoGenerator"].pop("Duration"), "Duration is required"),
        (lambda i: i[0].pop("FileInput"), "needs FileInput or VideoGenerator"),
        (lambda i: i.insert(0, i.pop(1)), "starts with a clipped file input"),
        (lambda i: i[2].pop("InputClippings"), "exactly one InputClipping"),
        (lambda i: i[1]["VideoGenerator"].update(FramerateNumerator=25), "frame rate must be the outputs'"),
    ],
)
def test_the_stand_in_refuses_what_aws_or_it_cannot_run(change: Any, says: str) -> None:
    with pytest.raises(UnsupportedSettingsError, match=says):
        plan_job(_with(change))
