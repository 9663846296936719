"""What the local MediaConvert honours of ``CreateJob`` settings, and the plan a job runs from.

:data:`HONOURED` lists exactly the settings (and values) the executor reproduces: what
Tailorcast's job builder emits. :func:`plan_job` checks settings against it, naming the path of
the first one it cannot honour, and turns them into a :class:`Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devstack.mediaconvert.server import UnsupportedSettingsError

# --------------------------------------------------------------------------- honoured settings

_ANY = object()  # any value of the model's type
_STR, _INT, _NUM = _ANY, _ANY, _ANY

_H264: dict[str, Any] = {
    "RateControlMode": {"QVBR", "VBR", "CBR"},
    "QvbrSettings": {"QvbrQualityLevel": _INT},
    "Bitrate": _INT,
    "MaxBitrate": _INT,
    "HrdBufferSize": _INT,
    "CodecProfile": {"HIGH", "MAIN", "BASELINE"},
    "CodecLevel": {"AUTO"},
    "GopSize": _NUM,
    "GopSizeUnits": {"SECONDS"},
    "GopClosedCadence": {1},
    "NumberBFramesBetweenReferenceFrames": {0},
    "SceneChangeDetect": {"DISABLED"},
    "FramerateControl": {"SPECIFIED"},
    "FramerateConversionAlgorithm": {"DUPLICATE_DROP"},
    "FramerateNumerator": _INT,
    "FramerateDenominator": {1},
    "ParControl": {"SPECIFIED"},
    "ParNumerator": {1},
    "ParDenominator": {1},
}
_AAC: dict[str, Any] = {
    "CodecProfile": {"LC"},
    "CodingMode": {"CODING_MODE_2_0", "CODING_MODE_1_0"},
    "RateControlMode": {"CBR"},
    "Bitrate": _INT,
    "SampleRate": {48000, 44100},
}
_WAV: dict[str, Any] = {
    "BitDepth": {16},
    "Channels": {1, 2},
    "SampleRate": {48000, 44100},
    "Format": {"RIFF"},
}
HONOURED: dict[str, Any] = {
    "TimecodeConfig": {"Source": {"ZEROBASED"}},
    "Inputs": [
        {
            "FileInput": _STR,
            "TimecodeSource": {"ZEROBASED"},
            "VideoSelector": {"Rotate": {"AUTO"}},
            "InputClippings": [{"StartTimecode": _STR, "EndTimecode": _STR}],
            "VideoGenerator": {
                "Duration": _INT,
                "ImageInput": _STR,
                "Width": _INT,
                "Height": _INT,
                "FramerateNumerator": _INT,
                "FramerateDenominator": {1},
                "SampleRate": {48000, 44100},
                "Channels": {1, 2},
            },
            "AudioSelectors": {
                "*": {"DefaultSelection": {"DEFAULT"}, "ExternalAudioFileInput": _STR, "Offset": _INT}
            },
            "ImageInserter": {
                "InsertableImages": [
                    {
                        "ImageInserterInput": _STR,
                        "Layer": _INT,
                        "ImageX": _INT,
                        "ImageY": _INT,
                        "Opacity": _INT,
                        "StartTime": _STR,
                        "Duration": _INT,
                        "FadeIn": _INT,
                        "FadeOut": _INT,
                    }
                ]
            },
        }
    ],
    "OutputGroups": [
        {
            "Name": _STR,
            "OutputGroupSettings": {
                "Type": {"CMAF_GROUP_SETTINGS", "FILE_GROUP_SETTINGS"},
                "FileGroupSettings": {"Destination": _STR},
                "CmafGroupSettings": {
                    "Destination": _STR,
                    "SegmentLength": _INT,
                    "FragmentLength": _INT,
                    "SegmentControl": {"SEGMENTED_FILES"},
                    "SegmentLengthControl": {"GOP_MULTIPLE", "EXACT"},
                    "WriteHlsManifest": {"ENABLED"},
                    "WriteDashManifest": {"DISABLED"},
                    "ManifestDurationFormat": {"FLOATING_POINT"},
                    "StreamInfResolution": {"INCLUDE"},
                    "CodecSpecification": {"RFC_6381"},
                    "ClientCache": {"ENABLED", "DISABLED"},
                },
            },
            "Outputs": [
                {
                    "NameModifier": _STR,
                    "ContainerSettings": {
                        "Container": {"CMFC", "RAW"},
                        "CmfcSettings": {
                            "AudioRenditionSets": _STR,
                            "AudioGroupId": _STR,
                            "AudioTrackType": {"ALTERNATE_AUDIO_AUTO_SELECT_DEFAULT"},
                        },
                    },
                    "VideoDescription": {
                        "Width": _INT,
                        "Height": _INT,
                        "ScalingBehavior": {"DEFAULT"},
                        "CodecSettings": {"Codec": {"H_264"}, "H264Settings": _H264},
                    },
                    "AudioDescriptions": [
                        {
                            "AudioSourceName": _STR,
                            "CodecSettings": {
                                "Codec": {"AAC", "WAV"},
                                "AacSettings": _AAC,
                                "WavSettings": _WAV,
                            },
                        }
                    ],
                }
            ],
        }
    ],
}


def check_honoured(value: Any, spec: Any, path: str = "Settings") -> None:
    """Raise :class:`UnsupportedSettingsError` naming the first setting the stand-in can't honour."""
    if spec is _ANY:
        return
    if isinstance(spec, set):
        if value not in spec:
            allowed = ", ".join(sorted(map(str, spec)))
            raise UnsupportedSettingsError(
                f"{path}={value!r} is not supported by the local MediaConvert (supported: {allowed})"
            )
        return
    if isinstance(spec, list):
        for i, item in enumerate(value):
            check_honoured(item, spec[0], f"{path}[{i}]")
        return
    if "*" in spec:  # a map with free keys
        for key, item in value.items():
            check_honoured(item, spec["*"], f"{path}.{key}")
        return
    for key, item in value.items():
        if key not in spec:
            raise UnsupportedSettingsError(f"{path}.{key} is not supported by the local MediaConvert")
        check_honoured(item, spec[key], f"{path}.{key}")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class VideoOut:
    modifier: str
    width: int
    height: int
    fps: int
    gop_seconds: float
    profile: str
    rate_control: str
    bitrate: int | None
    max_bitrate: int | None
    buffer: int | None
    qvbr: int | None


@dataclass(frozen=True)
class AudioOut:
    modifier: str
    bitrate: int
    sample_rate: int
    channels: int
    group: str


@dataclass(frozen=True)
class PcmOut:
    """A WAV of the whole audio track (a FILE group output): the PCM the AAC encoder received."""

    destination: str
    modifier: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Image:
    uri: str
    x: int
    y: int
    opacity: float
    start_timecode: str
    duration: float
    fade_in: float
    fade_out: float


@dataclass(frozen=True)
class Piece:
    """One input of a stitched job (several inputs played one after another): a file clipped to
    ``clip`` (inclusive timecodes), or a ``VideoGenerator`` of ``image`` for ``duration_ms``."""

    source: str | None
    clip: tuple[str, str] | None
    external_audio: str | None
    audio_offset_ms: int
    image: str | None = None
    duration_ms: int = 0
    fps: int | None = None  # the generator's frame rate


@dataclass(frozen=True)
class Plan:
    source: str
    destination: str
    segment_seconds: int
    videos: list[VideoOut]
    audio: AudioOut
    clip: tuple[str, str] | None
    external_audio: str | None
    audio_offset_ms: int
    images: list[Image]
    pcm: PcmOut | None = None
    #: A stitched job's inputs in play order (empty for a job with one file input).
    pieces: tuple[Piece, ...] = ()


def plan_job(settings: dict[str, Any]) -> Plan:
    """Turn validated settings into a plan; raise ``UnsupportedSettingsError`` on combinations
    that are well-formed for AWS but that this stand-in does not implement."""
    check_honoured(settings, HONOURED)
    inputs, groups = settings.get("Inputs", []), settings.get("OutputGroups", [])
    cmaf_groups = [g for g in groups if g["OutputGroupSettings"]["Type"] == "CMAF_GROUP_SETTINGS"]
    file_groups = [g for g in groups if g["OutputGroupSettings"]["Type"] == "FILE_GROUP_SETTINGS"]
    if not inputs or len(cmaf_groups) != 1 or len(file_groups) > 1:
        raise UnsupportedSettingsError(
            "the local MediaConvert runs jobs with inputs, one CMAF group and at most one file group"
        )
    if len(inputs) > 1 or "VideoGenerator" in inputs[0]:
        return _plan_stitched(inputs, cmaf_groups[0], file_groups)
    the_input, group = inputs[0], cmaf_groups[0]
    pcm = _plan_pcm(file_groups[0]) if file_groups else None
    cmaf, seg, videos, audios = _plan_cmaf_outputs(group)
    if len(audios) != 1:
        raise UnsupportedSettingsError("the local MediaConvert needs exactly one audio output")
    if len({v.fps for v in videos}) > 1:
        raise UnsupportedSettingsError("all video outputs must share one frame rate locally")
    clippings = the_input.get("InputClippings", [])
    if len(clippings) > 1:
        raise UnsupportedSettingsError("at most one InputClipping is supported locally")
    selectors = list(the_input.get("AudioSelectors", {}).values())
    if len(selectors) > 1:
        raise UnsupportedSettingsError("at most one audio selector is supported locally")
    images = the_input.get("ImageInserter", {}).get("InsertableImages", [])
    if pcm is not None and clippings:
        raise UnsupportedSettingsError("a WAV file group is supported on unclipped inputs only")
    if not videos and images:
        raise UnsupportedSettingsError("ImageInserter needs at least one video output")
    selector = selectors[0] if selectors else {}
    return Plan(
        source=the_input["FileInput"],
        destination=cmaf["Destination"],
        segment_seconds=seg,
        videos=videos,
        audio=audios[0],
        clip=(clippings[0]["StartTimecode"], clippings[0]["EndTimecode"]) if clippings else None,
        external_audio=selector.get("ExternalAudioFileInput"),
        audio_offset_ms=int(selector.get("Offset", 0)),
        pcm=pcm,
        images=[_plan_image(img) for img in images],
    )


def _plan_cmaf_outputs(
    group: dict[str, Any],
) -> tuple[dict[str, Any], int, list[VideoOut], list[AudioOut]]:
    """The CMAF group's settings, its segment length, and its video and audio outputs."""
    cmaf = group["OutputGroupSettings"].get("CmafGroupSettings", {})
    seg = int(cmaf.get("SegmentLength", 10))
    if int(cmaf.get("FragmentLength", seg)) != seg:
        raise UnsupportedSettingsError("CmafGroupSettings.FragmentLength must equal SegmentLength locally")
    outputs = [
        _plan_output(out, f"Settings.OutputGroups[0].Outputs[{i}]", seg)
        for i, out in enumerate(group.get("Outputs", []))
    ]
    return (
        cmaf,
        seg,
        [o for o in outputs if isinstance(o, VideoOut)],
        [o for o in outputs if isinstance(o, AudioOut)],
    )


def _plan_stitched(
    inputs: list[dict[str, Any]], group: dict[str, Any], file_groups: list[dict[str, Any]]
) -> Plan:
    """A job whose inputs play one after another (MediaConvert stitches a job's inputs in order):
    files clipped with ``InputClippings`` and video generators (``VideoGenerator``: frames of
    ``ImageInput`` for ``Duration`` ms, with silent audio unless an external file is selected).

    What AWS refuses is refused with a message in its style; what the service runs but this
    stand-in does not reproduce is refused naming the limit.
    """
    pieces = [_plan_piece(the_input, f"Settings.Inputs[{i}]") for i, the_input in enumerate(inputs)]
    if pieces[0].source is None:
        raise UnsupportedSettingsError(
            "Settings.Inputs[0]: a stitched job starts with a clipped file input locally "
            "(its timeline is the file's)"
        )
    if file_groups:
        raise UnsupportedSettingsError("a WAV file group is supported on single unclipped inputs only")
    cmaf, seg, videos, audios = _plan_cmaf_outputs(group)
    if len(audios) != 1 or not videos:
        raise UnsupportedSettingsError(
            "a stitched job needs video outputs and exactly one audio output locally"
        )
    if len({v.fps for v in videos}) > 1:
        raise UnsupportedSettingsError("all video outputs must share one frame rate locally")
    for i, piece in enumerate(pieces):
        if piece.fps is not None and piece.fps != videos[0].fps:
            raise UnsupportedSettingsError(
                f"Settings.Inputs[{i}].VideoGenerator: its frame rate must be the outputs' locally "
                f"({videos[0].fps})"
            )
    return Plan(
        source=str(pieces[0].source),
        destination=cmaf["Destination"],
        segment_seconds=seg,
        videos=videos,
        audio=audios[0],
        clip=None,
        external_audio=None,
        audio_offset_ms=0,
        images=[],
        pieces=tuple(pieces),
    )


def _plan_piece(the_input: dict[str, Any], where: str) -> Piece:
    """One input of a stitched job."""
    selectors = list(the_input.get("AudioSelectors", {}).values())
    if len(selectors) > 1:
        raise UnsupportedSettingsError(f"{where}: at most one audio selector is supported locally")
    selector = selectors[0] if selectors else {}
    if "ImageInserter" in the_input:
        raise UnsupportedSettingsError(f"{where}.ImageInserter is not supported on stitched inputs locally")
    external, offset = selector.get("ExternalAudioFileInput"), int(selector.get("Offset", 0))
    generator = the_input.get("VideoGenerator")
    if generator is not None:
        _check_generator(the_input, generator, where)
        return Piece(
            source=None,
            clip=None,
            external_audio=external,
            audio_offset_ms=offset,
            image=str(generator["ImageInput"]),
            duration_ms=int(generator["Duration"]),
            fps=int(generator["FramerateNumerator"]) if "FramerateNumerator" in generator else None,
        )
    if "FileInput" not in the_input:
        raise UnsupportedSettingsError(f"{where}: an input needs FileInput or VideoGenerator")
    clippings = the_input.get("InputClippings", [])
    if len(clippings) != 1:
        raise UnsupportedSettingsError(
            f"{where}: stitched file inputs need exactly one InputClipping locally"
        )
    return Piece(
        source=str(the_input["FileInput"]),
        clip=(clippings[0]["StartTimecode"], clippings[0]["EndTimecode"]),
        external_audio=external,
        audio_offset_ms=offset,
    )


def _check_generator(the_input: dict[str, Any], generator: dict[str, Any], where: str) -> None:
    """AWS's rules for a ``VideoGenerator`` input (it makes its own frames: it reads no file and
    cannot be clipped; sizes and rates come in pairs), then this stand-in's (a still only)."""
    if "FileInput" in the_input or "InputClippings" in the_input:
        raise UnsupportedSettingsError(
            f"{where}: an input with VideoGenerator cannot also have FileInput or InputClippings"
        )
    if ("Width" in generator) != ("Height" in generator):
        raise UnsupportedSettingsError(f"{where}.VideoGenerator: specify both Width and Height, or neither")
    if ("FramerateNumerator" in generator) != ("FramerateDenominator" in generator):
        raise UnsupportedSettingsError(
            f"{where}.VideoGenerator: specify both FramerateNumerator and FramerateDenominator, or neither"
        )
    if "Duration" not in generator:
        raise UnsupportedSettingsError(f"{where}.VideoGenerator.Duration is required")
    if "ImageInput" not in generator:
        raise UnsupportedSettingsError(
            f"{where}.VideoGenerator: only a generator with ImageInput (a still) is supported locally"
        )


def _plan_output(out: dict[str, Any], where: str, seg: int) -> VideoOut | AudioOut:
    """One CMAF output: exactly one video or one audio track, in the CMFC container."""
    if out.get("ContainerSettings", {}).get("Container") != "CMFC":
        raise UnsupportedSettingsError(f"{where}: CMAF outputs use the CMFC container")
    has_video, has_audio = "VideoDescription" in out, bool(out.get("AudioDescriptions"))
    if has_video == has_audio:
        raise UnsupportedSettingsError(f"{where}: a CMAF output carries exactly one video or one audio track")
    if "NameModifier" not in out:
        raise UnsupportedSettingsError(f"{where}.NameModifier is required locally")
    return _plan_video(out, where, seg) if has_video else _plan_audio(out, where)


def _plan_video(out: dict[str, Any], where: str, seg: int) -> VideoOut:
    vd = out["VideoDescription"]
    h264 = vd["CodecSettings"]["H264Settings"]
    gop = float(h264.get("GopSize", seg))
    if gop != seg:
        raise UnsupportedSettingsError(f"{where}: GopSize must equal the segment length")
    if "FramerateNumerator" not in h264 or "Width" not in vd or "Height" not in vd:
        raise UnsupportedSettingsError(f"{where}: Width, Height and FramerateNumerator are required locally")
    return VideoOut(
        modifier=out["NameModifier"],
        width=int(vd["Width"]),
        height=int(vd["Height"]),
        fps=int(h264["FramerateNumerator"]),
        gop_seconds=gop,
        profile=str(h264.get("CodecProfile", "HIGH")).lower(),
        rate_control=str(h264.get("RateControlMode", "QVBR")),
        bitrate=h264.get("Bitrate"),
        max_bitrate=h264.get("MaxBitrate"),
        buffer=h264.get("HrdBufferSize"),
        qvbr=(h264.get("QvbrSettings") or {}).get("QvbrQualityLevel"),
    )


def _plan_audio(out: dict[str, Any], where: str) -> AudioOut:
    if len(out["AudioDescriptions"]) != 1:
        raise UnsupportedSettingsError(f"{where}: one audio description per CMAF output")
    codec = out["AudioDescriptions"][0]["CodecSettings"]
    if codec.get("Codec") != "AAC":
        raise UnsupportedSettingsError(f"{where}: CMAF audio outputs are AAC locally")
    aac = codec.get("AacSettings", {})
    cmfc = out.get("ContainerSettings", {}).get("CmfcSettings", {})
    return AudioOut(
        modifier=out["NameModifier"],
        bitrate=int(aac.get("Bitrate", 128000)),
        sample_rate=int(aac.get("SampleRate", 48000)),
        channels=2 if aac.get("CodingMode", "CODING_MODE_2_0") == "CODING_MODE_2_0" else 1,
        group=str(cmfc.get("AudioGroupId", "program_audio")),
    )


def _plan_image(img: dict[str, Any]) -> Image:
    """An inserted image; MediaConvert's milliseconds and percent as seconds and a fraction."""
    return Image(
        uri=img["ImageInserterInput"],
        x=int(img.get("ImageX", 0)),
        y=int(img.get("ImageY", 0)),
        opacity=int(img.get("Opacity", 50)) / 100,
        start_timecode=str(img.get("StartTime", "00:00:00:00")),
        duration=int(img.get("Duration", 0)) / 1000,
        fade_in=int(img.get("FadeIn", 0)) / 1000,
        fade_out=int(img.get("FadeOut", 0)) / 1000,
    )


def _plan_pcm(group: dict[str, Any]) -> PcmOut:
    outputs = group.get("Outputs", [])
    where = "Settings.OutputGroups[FILE_GROUP_SETTINGS]"
    if (
        len(outputs) != 1
        or "VideoDescription" in outputs[0]
        or len(outputs[0].get("AudioDescriptions", [])) != 1
    ):
        raise UnsupportedSettingsError(f"{where}: locally a file group holds one audio-only WAV output")
    out = outputs[0]
    codec = out["AudioDescriptions"][0]["CodecSettings"]
    if codec.get("Codec") != "WAV" or out.get("ContainerSettings", {}).get("Container") != "RAW":
        raise UnsupportedSettingsError(f"{where}: locally a file group output is WAV in the RAW container")
    wav = codec.get("WavSettings", {})
    return PcmOut(
        destination=group["OutputGroupSettings"]["FileGroupSettings"]["Destination"],
        modifier=str(out.get("NameModifier", "")),
        sample_rate=int(wav.get("SampleRate", 48000)),
        channels=int(wav.get("Channels", 2)),
    )
