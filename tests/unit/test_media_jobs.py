"""MediaConvert ``CreateJob`` documents: valid for AWS (botocore's model), shaped for 2 s segment
splicing, and honoured by the local stand-in (which refuses what it cannot reproduce)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from chalicelib.domain.media.jobs import (
    AUDIO_GROUP,
    AUDIO_SELECTOR,
    JobRequest,
    Overlay,
    base_ladder_job,
    window_job,
)
from chalicelib.domain.media.ladder import (
    AUDIO_BITRATE,
    AUDIO_SAMPLE_RATE,
    SEGMENT_SECONDS,
    Rung,
    Span,
    Window,
    ladder_for,
    parse_timecode,
)
from devstack.mediaconvert.executor import plan_job
from devstack.mediaconvert.server import UnsupportedSettingsError

MODEL = botocore.session.get_session().get_service_model("mediaconvert")
_INPUT = MODEL.operation_model("CreateJob").input_shape
assert _INPUT is not None
CREATE_JOB: StructureShape = _INPUT
ROLE = "arn:aws:iam::123456789012:role/tailorcast-test-mediaconvert"
SOURCE = "s3://tailorcast-test-uploads/acct_1/camp_1/base_video/upl_1/pitch.mp4"
MEDIA = "s3://tailorcast-test-media"
BASE = f"{MEDIA}/acct_1/camp_1/base/upl_1"
RENDER = f"{MEDIA}/acct_1/camp_1/videos/pros_1/rnd_1"

LADDERS = {
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "portrait": (1080, 1920),
    "small": (320, 180),
}
MIDDLE_SPAN = Span(2, 2)
MIDDLE_WINDOW = Window(4.6, 5.9)


def _base(size: str, fps: int = 30) -> JobRequest:
    return base_ladder_job(
        source=SOURCE,
        destination=f"{BASE}/main",
        pcm_destination=f"{BASE}/audio",
        rungs=ladder_for(*LADDERS[size]),
        fps=fps,
        role=ROLE,
        metadata={"kind": "base", "account_id": "acct_1", "campaign_id": "camp_1", "upload_id": "upl_1"},
        token="base-upl_1",
    )


def _window(
    size: str,
    *,
    overlay: bool,
    span: Span = MIDDLE_SPAN,
    window: Window = MIDDLE_WINDOW,
    duration: float = 10.0,
    fps: int = 30,
) -> JobRequest:
    return window_job(
        source=SOURCE,
        destination=f"{RENDER}/window/main",
        span=span,
        duration=duration,
        fps=fps,
        audio=f"{RENDER}/input/audio.wav",
        rungs=ladder_for(*LADDERS[size]),
        overlay=Overlay(f"{RENDER}/input/overlay.png", window) if overlay else None,
        role=ROLE,
        metadata={
            "kind": "window",
            "account_id": "acct_1",
            "campaign_id": "camp_1",
            "prospect_id": "pros_1",
            "render_id": "rnd_1",
        },
        token="rnd_1",
    )


def _documents() -> Iterator[Any]:
    for size in LADDERS:
        for fps in (24, 25, 30):
            yield pytest.param(_base(size, fps), id=f"base-{size}-{fps}")
        yield pytest.param(_window(size, overlay=False), id=f"window-audio-{size}")
        yield pytest.param(_window(size, overlay=True), id=f"window-overlay-{size}")
        yield pytest.param(
            _window(size, overlay=True, span=Span(0, 1), window=Window(0.3, 3.2), fps=25, duration=3.5),
            id=f"window-overlay-short-end-{size}",
        )


DOCUMENTS = list(_documents())

# --------------------------------------------------------------------------- AWS validity


def _constraint_errors(shape: Shape, value: Any, path: str) -> Iterator[str]:
    """What ParamValidator leaves to the service: enums, maxima, patterns and string lengths."""
    if isinstance(shape, StructureShape):
        for key, item in value.items():
            yield from _constraint_errors(shape.members[key], item, f"{path}.{key}")
    elif isinstance(shape, ListShape):
        for i, item in enumerate(value):
            yield from _constraint_errors(shape.member, item, f"{path}[{i}]")
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            yield from _constraint_errors(shape.key, key, f"{path} key {key!r}")
            yield from _constraint_errors(shape.value, item, f"{path}.{key}")
    else:
        meta = shape.metadata
        if "enum" in meta and value not in meta["enum"]:
            yield f"{path}={value!r} is not one of {shape.name}'s {len(meta['enum'])} values"
        if shape.type_name in ("integer", "long", "double", "float"):
            if "min" in meta and value < meta["min"]:
                yield f"{path}={value} is below {meta['min']}"
            if "max" in meta and value > meta["max"]:
                yield f"{path}={value} is above {meta['max']}"
        if shape.type_name == "string":
            if "pattern" in meta and not re.match(meta["pattern"], value):
                yield f"{path}={value!r} does not match {meta['pattern']}"
            if "max" in meta and len(value) > meta["max"]:
                yield f"{path} is longer than {meta['max']}"


def _aws_errors(kwargs: dict[str, Any]) -> list[str]:
    report = ParamValidator().validate(kwargs, CREATE_JOB)
    errors = [report.generate_report()] if report.has_errors() else []
    return errors + list(_constraint_errors(CREATE_JOB, kwargs, "CreateJob"))


def test_the_constraint_walker_catches_what_paramvalidator_does_not() -> None:
    kwargs = _base("720p").kwargs()
    kwargs["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["CmafGroupSettings"]["WriteHlsManifest"] = (
        "YES"
    )
    kwargs["Settings"]["Inputs"][0]["FileInput"] = "/local/file.mp4"
    kwargs["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"]["H264Settings"][
        "NumberBFramesBetweenReferenceFrames"
    ] = 9
    assert not ParamValidator().validate(kwargs, CREATE_JOB).has_errors()
    errors = _aws_errors(kwargs)
    assert len(errors) == 3, errors
    assert any("WriteHlsManifest='YES'" in e for e in errors)
    assert any("FileInput='/local/file.mp4'" in e for e in errors)
    assert any("NumberBFramesBetweenReferenceFrames=9 is above 7" in e for e in errors)


@pytest.mark.parametrize("request_", DOCUMENTS)
def test_every_document_is_valid_for_aws(request_: JobRequest) -> None:
    assert _aws_errors(request_.kwargs()) == []


def test_queue_and_tags_are_sent_only_when_set() -> None:
    plain = _base("720p").kwargs()
    assert "Queue" not in plain and "Tags" not in plain
    request = _base("720p")
    queued = JobRequest(
        request.settings,
        request.user_metadata,
        request.role,
        request.client_request_token,
        queue="arn:aws:mediaconvert:us-east-1:123456789012:queues/tailorcast",
        tags={"app": "tailorcast"},
    ).kwargs()
    assert queued["Queue"].endswith(":queues/tailorcast") and queued["Tags"] == {"app": "tailorcast"}
    assert _aws_errors(queued) == []


# --------------------------------------------------------------------------- document shape


def _cmaf(request: JobRequest) -> dict[str, Any]:
    groups = [
        g
        for g in request.settings["OutputGroups"]
        if g["OutputGroupSettings"]["Type"] == "CMAF_GROUP_SETTINGS"
    ]
    assert len(groups) == 1
    group: dict[str, Any] = groups[0]
    return group


def _videos(request: JobRequest) -> list[dict[str, Any]]:
    return [o for o in _cmaf(request)["Outputs"] if "VideoDescription" in o]


def _audios(request: JobRequest) -> list[dict[str, Any]]:
    return [o for o in _cmaf(request)["Outputs"] if o.get("AudioDescriptions")]


def test_metadata_token_and_role() -> None:
    base = _base("720p").kwargs()
    assert base["UserMetadata"] == {
        "kind": "base",
        "account_id": "acct_1",
        "campaign_id": "camp_1",
        "upload_id": "upl_1",
    }
    assert (base["ClientRequestToken"], base["Role"]) == ("base-upl_1", ROLE)
    assert base["StatusUpdateInterval"] == "SECONDS_10"
    window = _window("720p", overlay=False).kwargs()
    assert (
        window["UserMetadata"]["render_id"] == "rnd_1" and window["UserMetadata"]["prospect_id"] == "pros_1"
    )
    assert window["ClientRequestToken"] == "rnd_1"


@pytest.mark.parametrize("request_", DOCUMENTS)
def test_hls_as_cmaf_with_closed_segment_long_gops(request_: JobRequest) -> None:
    cmaf = _cmaf(request_)["OutputGroupSettings"]["CmafGroupSettings"]
    assert cmaf["WriteHlsManifest"] == "ENABLED" and cmaf["WriteDashManifest"] == "DISABLED"
    assert cmaf["SegmentLength"] == cmaf["FragmentLength"] == SEGMENT_SECONDS
    assert cmaf["SegmentControl"] == "SEGMENTED_FILES"
    for out in _videos(request_):
        assert out["ContainerSettings"]["Container"] == "CMFC"
        h264 = out["VideoDescription"]["CodecSettings"]["H264Settings"]
        assert (h264["GopSize"], h264["GopSizeUnits"]) == (SEGMENT_SECONDS, "SECONDS")
        assert h264["GopClosedCadence"] == 1
        assert h264["NumberBFramesBetweenReferenceFrames"] == 0
        assert h264["SceneChangeDetect"] == "DISABLED"  # no extra keyframes inside a segment
        assert h264["FramerateControl"] == "SPECIFIED" and h264["FramerateDenominator"] == 1


@pytest.mark.parametrize("request_", DOCUMENTS)
def test_audio_is_its_own_rendition_group(request_: JobRequest) -> None:
    audios = _audios(request_)
    assert len(audios) == 1
    audio = audios[0]
    assert "VideoDescription" not in audio
    group = audio["ContainerSettings"]["CmfcSettings"]["AudioGroupId"]
    assert group == AUDIO_GROUP
    for out in _videos(request_):
        assert not out.get("AudioDescriptions")
        assert group in out["ContainerSettings"]["CmfcSettings"]["AudioRenditionSets"].split(",")
    (description,) = audio["AudioDescriptions"]
    assert description["AudioSourceName"] in request_.settings["Inputs"][0]["AudioSelectors"]
    aac = description["CodecSettings"]["AacSettings"]
    assert (aac["CodecProfile"], aac["SampleRate"], aac["Bitrate"], aac["CodingMode"]) == (
        "LC",
        AUDIO_SAMPLE_RATE,
        AUDIO_BITRATE,
        "CODING_MODE_2_0",
    )


@pytest.mark.parametrize("size", LADDERS)
@pytest.mark.parametrize("fps", [24, 25, 30])
def test_base_ladder_outputs_follow_the_rungs(size: str, fps: int) -> None:
    request = _base(size, fps)
    rungs: list[Rung] = ladder_for(*LADDERS[size])
    videos = _videos(request)
    assert [o["NameModifier"] for o in videos] == [r.modifier for r in rungs]
    for out, rung in zip(videos, rungs, strict=True):
        vd = out["VideoDescription"]
        assert (vd["Width"], vd["Height"]) == (rung.width, rung.height)
        h264 = vd["CodecSettings"]["H264Settings"]
        assert h264["MaxBitrate"] == rung.max_bitrate and h264["FramerateNumerator"] == fps
    # the whole input, its audio from the source, and the same audio as a WAV beside the ladder
    (the_input,) = request.settings["Inputs"]
    assert "InputClippings" not in the_input and "ImageInserter" not in the_input
    assert the_input["FileInput"] == SOURCE
    assert the_input["AudioSelectors"] == {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}}
    assert _cmaf(request)["OutputGroupSettings"]["CmafGroupSettings"]["Destination"] == f"{BASE}/main"
    (pcm,) = [
        g
        for g in request.settings["OutputGroups"]
        if g["OutputGroupSettings"]["Type"] == "FILE_GROUP_SETTINGS"
    ]
    assert pcm["OutputGroupSettings"]["FileGroupSettings"]["Destination"] == f"{BASE}/audio"
    (wav_out,) = pcm["Outputs"]
    wav = wav_out["AudioDescriptions"][0]["CodecSettings"]["WavSettings"]
    assert (wav["BitDepth"], wav["Channels"], wav["SampleRate"], wav["Format"]) == (16, 2, 48_000, "RIFF")


def test_window_job_without_overlay_is_audio_only() -> None:
    request = _window("720p", overlay=False)
    assert _videos(request) == []
    assert "ImageInserter" not in request.settings["Inputs"][0]
    assert len(request.settings["OutputGroups"]) == 1  # no WAV group for a window


def test_window_job_with_overlay_re_encodes_every_rung() -> None:
    request = _window("portrait", overlay=True)
    assert [(o["VideoDescription"]["Width"], o["VideoDescription"]["Height"]) for o in _videos(request)] == [
        (r.width, r.height) for r in ladder_for(1080, 1920)
    ]


@pytest.mark.parametrize(
    ("span", "duration", "fps", "start", "end"),
    [
        (Span(1, 2), 10.0, 30, "00:00:02:00", "00:00:05:29"),
        (Span(0, 0), 10.0, 25, "00:00:00:00", "00:00:01:24"),
        (Span(2, 2), 10.0, 24, "00:00:04:00", "00:00:05:23"),
        # the final segment is short: the clip ends on the source's last frame (9.52 s = frame 238)
        (Span(4, 4), 9.52, 25, "00:00:08:00", "00:00:09:12"),
        (Span(3, 4), 9.9, 30, "00:00:06:00", "00:00:09:26"),
        (Span(30, 31), 100.0, 24, "00:01:00:00", "00:01:03:23"),
        (Span(1799, 1800), 3602.0, 30, "00:59:58:00", "01:00:01:29"),
    ],
)
def test_window_clipping_covers_exactly_the_span(
    span: Span, duration: float, fps: int, start: str, end: str
) -> None:
    request = _window("720p", overlay=False, span=span, duration=duration, fps=fps)
    (the_input,) = request.settings["Inputs"]
    (clip,) = the_input["InputClippings"]
    assert (clip["StartTimecode"], clip["EndTimecode"]) == (start, end)
    first, last = parse_timecode(start, fps), parse_timecode(end, fps)
    assert first == span.first * SEGMENT_SECONDS * fps
    assert last + 1 == round(min(span.end_seconds, duration) * fps)  # inclusive end
    # the replacement audio starts at the span's first second, placed there on the input timeline
    selector = the_input["AudioSelectors"][AUDIO_SELECTOR]
    assert selector["ExternalAudioFileInput"] == f"{RENDER}/input/audio.wav"
    assert selector["Offset"] == span.first * SEGMENT_SECONDS * 1000
    assert _aws_errors(request.kwargs()) == []


@pytest.mark.parametrize(
    ("window", "fps", "start", "duration_ms"),
    [
        (Window(4.6, 5.9), 30, "00:00:04:18", 1300),
        (Window(2.51, 3.0), 25, "00:00:02:13", 490),  # 62.75 frames: the nearest frame is 63
        (Window(0.0, 30.0), 24, "00:00:00:00", 30_000),
        (Window(61.02, 61.5), 30, "00:01:01:01", 480),  # 1830.6 frames → 1831
    ],
)
def test_image_inserter_follows_the_window(window: Window, fps: int, start: str, duration_ms: int) -> None:
    span = Span(int(window.start // 2), int(window.end // 2))
    request = _window("1080p", overlay=True, span=span, window=window, fps=fps, duration=120.0)
    (image,) = request.settings["Inputs"][0]["ImageInserter"]["InsertableImages"]
    assert image["StartTime"] == start and image["Duration"] == duration_ms
    assert image["ImageInserterInput"] == f"{RENDER}/input/overlay.png"
    assert (image["ImageX"], image["ImageY"], image["Opacity"]) == (0, 0, 100)
    assert _aws_errors(request.kwargs()) == []


# --------------------------------------------------------------------------- the local stand-in


@pytest.mark.parametrize("request_", DOCUMENTS)
def test_the_stand_in_honours_every_document(request_: JobRequest) -> None:
    plan = plan_job(copy.deepcopy(request_.settings))
    assert plan.segment_seconds == SEGMENT_SECONDS
    assert [v.modifier for v in plan.videos] == [o["NameModifier"] for o in _videos(request_)]
    assert all(v.gop_seconds == SEGMENT_SECONDS and v.profile == "high" for v in plan.videos)
    assert (plan.audio.group, plan.audio.sample_rate, plan.audio.channels) == (AUDIO_GROUP, 48_000, 2)
    the_input = request_.settings["Inputs"][0]
    if "InputClippings" in the_input:
        clip = the_input["InputClippings"][0]
        assert plan.clip == (clip["StartTimecode"], clip["EndTimecode"]) and plan.pcm is None
        assert plan.external_audio == the_input["AudioSelectors"][AUDIO_SELECTOR]["ExternalAudioFileInput"]
        assert len(plan.images) == (1 if "ImageInserter" in the_input else 0)
    else:
        assert plan.clip is None and plan.pcm is not None and plan.pcm.destination == f"{BASE}/audio"


def _h264(index: int = 0) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda s: s["OutputGroups"][0]["Outputs"][index]["VideoDescription"]["CodecSettings"][
        "H264Settings"
    ]


def _cmaf_settings(s: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = s["OutputGroups"][0]["OutputGroupSettings"]["CmafGroupSettings"]
    return settings


def _to_hls_group(s: dict[str, Any]) -> None:
    group = s["OutputGroups"][0]["OutputGroupSettings"]
    group["Type"] = "HLS_GROUP_SETTINGS"
    group["HlsGroupSettings"] = {"Destination": f"{BASE}/main", "SegmentLength": 2, "MinSegmentLength": 0}
    del group["CmafGroupSettings"]


H264 = "Settings.OutputGroups[0].Outputs[{i}].VideoDescription.CodecSettings.H264Settings"
MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "b-frames": (
        lambda s: _h264(1)(s).update(NumberBFramesBetweenReferenceFrames=2),
        H264.format(i=1) + ".NumberBFramesBetweenReferenceFrames=2",
    ),
    "open gop": (lambda s: _h264(0)(s).update(GopClosedCadence=0), H264.format(i=0) + ".GopClosedCadence=0"),
    "scene change keyframes": (
        lambda s: _h264(2)(s).update(SceneChangeDetect="ENABLED"),
        H264.format(i=2) + ".SceneChangeDetect='ENABLED'",
    ),
    "unknown h264 setting": (lambda s: _h264(0)(s).update(Syntax="RP2027"), H264.format(i=0) + ".Syntax"),
    "m3u8 container": (
        lambda s: s["OutputGroups"][0]["Outputs"][0]["ContainerSettings"].update(Container="M3U8"),
        "Settings.OutputGroups[0].Outputs[0].ContainerSettings.Container='M3U8'",
    ),
    "hls group": (_to_hls_group, "Settings.OutputGroups[0].OutputGroupSettings.Type='HLS_GROUP_SETTINGS'"),
    "dash manifest": (
        lambda s: _cmaf_settings(s).update(WriteDashManifest="ENABLED"),
        "Settings.OutputGroups[0].OutputGroupSettings.CmafGroupSettings.WriteDashManifest='ENABLED'",
    ),
    "mpd manifest option": (
        lambda s: _cmaf_settings(s).update(MpdProfile="MAIN_PROFILE"),
        "Settings.OutputGroups[0].OutputGroupSettings.CmafGroupSettings.MpdProfile",
    ),
    "aac he": (
        lambda s: s["OutputGroups"][0]["Outputs"][-1]["AudioDescriptions"][0]["CodecSettings"][
            "AacSettings"
        ].update(CodecProfile="HEV1"),
        "Settings.OutputGroups[0].Outputs[3].AudioDescriptions[0].CodecSettings.AacSettings.CodecProfile='HEV1'",
    ),
    "input deblocking": (
        lambda s: s["Inputs"][0].update(DeblockFilter="ENABLED"),
        "Settings.Inputs[0].DeblockFilter",
    ),
    "two inputs unclipped": (
        lambda s: s["Inputs"].append(copy.deepcopy(s["Inputs"][0])),
        "Inputs[0]: stitched file inputs need exactly one InputClipping",
    ),
    "gop not the segment": (lambda s: _h264(1)(s).update(GopSize=4), "Outputs[1]: GopSize"),
    "fragment shorter than segment": (
        lambda s: _cmaf_settings(s).update(FragmentLength=1),
        "FragmentLength must equal SegmentLength",
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_the_stand_in_refuses_what_it_cannot_reproduce(name: str) -> None:
    mutate, path = MUTATIONS[name]
    request = _base("720p")
    settings = copy.deepcopy(request.settings)
    mutate(settings)
    # still a valid AWS request: the refusal is the stand-in's, never a malformed document
    kwargs = request.kwargs() | {"Settings": settings}
    assert _aws_errors(kwargs) == []
    with pytest.raises(UnsupportedSettingsError) as err:
        plan_job(settings)
    assert path in str(err.value)
    plan_job(copy.deepcopy(request.settings))  # the unmutated document still passes
