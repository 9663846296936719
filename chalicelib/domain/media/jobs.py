"""MediaConvert ``CreateJob`` requests, built from what a campaign needs. Pure (dicts out).

Both jobs write fMP4 HLS through MediaConvert's CMAF output group with its HLS manifest on:
that is how MediaConvert packages HLS as fragmented MP4 (its "Apple HLS" group writes MPEG-TS).
One output per track, so audio is demuxed into its own rendition group by construction.

* :func:`base_ladder_job` encodes the base video once: 2 s segments of 2 s closed GOPs, no
  B-frames (so every segment starts at exactly its 2 s mark, decode time = presentation time),
  the ladder from :mod:`ladder`, AAC-LC 48 kHz stereo.
* :func:`window_job` re-encodes only the segments of one prospect's window: the input is clipped
  to the span, the audio comes from the prospect's replacement track, and the name card (if any)
  is burnt in with the image inserter. Its segments replace the base's one for one.

Tests validate every document against botocore's MediaConvert model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.media.ladder import (
    AUDIO_BITRATE,
    AUDIO_CHANNELS,
    AUDIO_SAMPLE_RATE,
    SEGMENT_SECONDS,
    Rung,
    Span,
    Window,
    timecode,
)

AUDIO_SELECTOR = "Audio Selector 1"
AUDIO_GROUP = "audio"
AUDIO_MODIFIER = "_audio"
#: QVBR quality 8 of 10: AWS's recommendation for premium 720p–1080p content.
QVBR_QUALITY = 8


@dataclass(frozen=True)
class JobRequest:
    """Keyword arguments for ``mediaconvert.create_job``."""

    settings: dict[str, Any]
    user_metadata: dict[str, str]
    role: str
    client_request_token: str
    queue: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "Role": self.role,
            "Settings": self.settings,
            "UserMetadata": self.user_metadata,
            "ClientRequestToken": self.client_request_token,
            "StatusUpdateInterval": "SECONDS_10",
        }
        if self.queue:
            kw["Queue"] = self.queue
        if self.tags:
            kw["Tags"] = self.tags
        return kw


def _video_output(rung: Rung, fps: int) -> dict[str, Any]:
    return {
        "NameModifier": rung.modifier,
        "ContainerSettings": {"Container": "CMFC", "CmfcSettings": {"AudioRenditionSets": AUDIO_GROUP}},
        "VideoDescription": {
            "Width": rung.width,
            "Height": rung.height,
            "ScalingBehavior": "DEFAULT",
            "CodecSettings": {
                "Codec": "H_264",
                "H264Settings": {
                    "RateControlMode": "QVBR",
                    "QvbrSettings": {"QvbrQualityLevel": QVBR_QUALITY},
                    "MaxBitrate": rung.max_bitrate,
                    "HrdBufferSize": rung.max_bitrate * 2,
                    "CodecProfile": "HIGH",
                    "CodecLevel": "AUTO",
                    "GopSize": SEGMENT_SECONDS,
                    "GopSizeUnits": "SECONDS",
                    "GopClosedCadence": 1,
                    "NumberBFramesBetweenReferenceFrames": 0,
                    "SceneChangeDetect": "DISABLED",
                    "FramerateControl": "SPECIFIED",
                    "FramerateConversionAlgorithm": "DUPLICATE_DROP",
                    "FramerateNumerator": fps,
                    "FramerateDenominator": 1,
                    "ParControl": "SPECIFIED",
                    "ParNumerator": 1,
                    "ParDenominator": 1,
                },
            },
        },
    }


def _audio_output() -> dict[str, Any]:
    return {
        "NameModifier": AUDIO_MODIFIER,
        "ContainerSettings": {
            "Container": "CMFC",
            "CmfcSettings": {
                "AudioGroupId": AUDIO_GROUP,
                "AudioTrackType": "ALTERNATE_AUDIO_AUTO_SELECT_DEFAULT",
            },
        },
        "AudioDescriptions": [
            {
                "AudioSourceName": AUDIO_SELECTOR,
                "CodecSettings": {
                    "Codec": "AAC",
                    "AacSettings": {
                        "CodecProfile": "LC",
                        "CodingMode": "CODING_MODE_2_0" if AUDIO_CHANNELS == 2 else "CODING_MODE_1_0",
                        "RateControlMode": "CBR",
                        "Bitrate": AUDIO_BITRATE,
                        "SampleRate": AUDIO_SAMPLE_RATE,
                    },
                },
            }
        ],
    }


def _hls_group(destination: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Name": "HLS",
        "OutputGroupSettings": {
            "Type": "CMAF_GROUP_SETTINGS",
            "CmafGroupSettings": {
                "Destination": destination,
                "SegmentLength": SEGMENT_SECONDS,
                "FragmentLength": SEGMENT_SECONDS,
                "SegmentControl": "SEGMENTED_FILES",
                "SegmentLengthControl": "GOP_MULTIPLE",
                "WriteHlsManifest": "ENABLED",
                "WriteDashManifest": "DISABLED",
                "ManifestDurationFormat": "FLOATING_POINT",
                "StreamInfResolution": "INCLUDE",
                "CodecSpecification": "RFC_6381",
                "ClientCache": "ENABLED",
            },
        },
        "Outputs": outputs,
    }


def _pcm_group(destination: str) -> dict[str, Any]:
    """The base's audio as 16-bit WAV: what every prospect's window audio is spliced into.

    A WAV is addressable by byte range, so a render reads only the seconds it replaces."""
    return {
        "Name": "PCM",
        "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": destination},
        },
        "Outputs": [
            {
                "ContainerSettings": {"Container": "RAW"},
                "AudioDescriptions": [
                    {
                        "AudioSourceName": AUDIO_SELECTOR,
                        "CodecSettings": {
                            "Codec": "WAV",
                            "WavSettings": {
                                "BitDepth": 16,
                                "Channels": AUDIO_CHANNELS,
                                "SampleRate": AUDIO_SAMPLE_RATE,
                                "Format": "RIFF",
                            },
                        },
                    }
                ],
            }
        ],
    }


def base_ladder_job(
    *,
    source: str,
    destination: str,
    pcm_destination: str,
    rungs: list[Rung],
    fps: int,
    role: str,
    metadata: dict[str, str],
    token: str,
) -> JobRequest:
    """Encode the base video once into the shared HLS ladder at ``destination`` (an s3:// prefix
    ending in the manifest's base name, e.g. ``s3://media/acct/camp/base/upl/main``), plus its
    audio as a WAV at ``pcm_destination`` (``…/base/upl/audio`` → ``audio.wav``)."""
    settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [
            {
                "FileInput": source,
                "TimecodeSource": "ZEROBASED",
                "VideoSelector": {"Rotate": "AUTO"},
                "AudioSelectors": {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}},
            }
        ],
        "OutputGroups": [
            _hls_group(destination, [*(_video_output(r, fps) for r in rungs), _audio_output()]),
            _pcm_group(pcm_destination),
        ],
    }
    return JobRequest(settings=settings, user_metadata=metadata, role=role, client_request_token=token)


@dataclass(frozen=True)
class Overlay:
    """A PNG burnt into the input's picture at (``x``, ``y``) while ``window`` plays; it is
    scaled with the picture into every rung."""

    image: str  # s3:// URI of the PNG, in source (display) pixels
    window: Window
    x: int = 0
    y: int = 0


def window_job(
    *,
    source: str,
    destination: str,
    span: Span,
    duration: float,
    fps: int,
    audio: str,
    rungs: list[Rung],
    overlay: Overlay | None,
    role: str,
    metadata: dict[str, str],
    token: str,
) -> JobRequest:
    """Re-encode the segments of ``span`` only: audio always, video only under an overlay.

    ``audio`` is a WAV that starts at the span's first second and replaces the source's audio.
    The clip's end timecode is inclusive (MediaConvert's convention): the span's last frame.
    """
    end = min(float(span.end_seconds), duration)
    last_frame = max(round(end * fps) - 1, round(span.start_seconds * fps))
    selector: dict[str, Any] = {
        "ExternalAudioFileInput": audio,
        "DefaultSelection": "DEFAULT",
        "Offset": span.start_seconds * 1000,
    }
    the_input: dict[str, Any] = {
        "FileInput": source,
        "TimecodeSource": "ZEROBASED",
        "VideoSelector": {"Rotate": "AUTO"},
        "InputClippings": [
            {
                "StartTimecode": timecode(span.start_seconds, fps),
                "EndTimecode": timecode(last_frame / fps, fps),
            }
        ],
        "AudioSelectors": {AUDIO_SELECTOR: selector},
    }
    outputs = [_audio_output()]
    if overlay is not None:
        start_ms = round(overlay.window.start * 1000)
        the_input["ImageInserter"] = {
            "InsertableImages": [
                {
                    "ImageInserterInput": overlay.image,
                    "Layer": 1,
                    "ImageX": overlay.x,
                    "ImageY": overlay.y,
                    "Opacity": 100,
                    "StartTime": _ms_timecode(start_ms, fps),
                    "Duration": max(1, round(overlay.window.duration * 1000)),
                    "FadeIn": 200,
                    "FadeOut": 200,
                }
            ]
        }
        outputs = [*(_video_output(r, fps) for r in rungs), *outputs]
    settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [the_input],
        "OutputGroups": [_hls_group(destination, outputs)],
    }
    return JobRequest(settings=settings, user_metadata=metadata, role=role, client_request_token=token)


def _ms_timecode(ms: int, fps: int) -> str:
    """Nearest frame's timecode for a time in milliseconds."""
    return timecode(round(ms * fps / 1000) / fps, fps)


@dataclass(frozen=True)
class HeldFrame:
    """The picture a grown window holds (issue 17): base frame ``frame`` shown ``frames`` more
    times, from a still of it (``image``, an s3:// PNG at ``width``×``height``, the source's
    display size)."""

    frame: int
    frames: int
    image: str
    width: int
    height: int


def grown_window_job(
    *,
    source: str,
    destination: str,
    span: Span,
    duration: float,
    fps: int,
    audio: tuple[str, str, str],
    hold: HeldFrame,
    rungs: list[Rung],
    role: str,
    metadata: dict[str, str],
    token: str,
) -> JobRequest:
    """Re-encode a grown window: the span's picture with one frame held, its audio the prospect's.

    Three inputs, stitched in order (MediaConvert plays a job's inputs one after another):

    1. the source clipped from the span's start to the held frame (inclusive);
    2. a ``VideoGenerator`` of ``hold.frames`` frames at ``fps`` whose picture is the still of
       that frame (``ImageInput``); ``Duration`` is in whole milliseconds, so it is the frames'
       length rounded, which at 24, 25 and 30 fps is within half a millisecond of it;
    3. the source clipped from the frame after the held one to the span's last frame.

    ``audio`` is three WAVs, the prospect's audio cut where the inputs meet: the first and the
    last start at the span's start on the base timeline (so their ``Offset`` is the span's
    start, as in :func:`window_job`, and the clipping takes what each input covers), the middle
    one is the held stretch and starts with its input. Every output (each rung and the audio) is
    written, the video's GOPs on the 2 s grid from the window's start.

    Verified: the document against botocore's MediaConvert model, and its output through the
    local stand-in (which stitches the inputs as documented and writes the segments on the base's
    timeline, as it does for :func:`window_job`). To be checked on AWS: that the service lays an
    ``ExternalAudioFileInput`` over a video generator's silent track, and that a generator's
    ``Duration`` in whole milliseconds yields exactly ``hold.frames`` frames.
    """
    end = min(float(span.end_seconds), duration)
    first, last = round(span.start_seconds * fps), round(end * fps) - 1
    if not first <= hold.frame <= last or hold.frames < 1:
        raise ValueError(f"frame {hold.frame} is not in the span's frames {first}..{last}, or holds none")
    before, held, after = audio

    def clipped(start: int, stop: int, wav: str) -> dict[str, Any]:
        return {
            "FileInput": source,
            "TimecodeSource": "ZEROBASED",
            "VideoSelector": {"Rotate": "AUTO"},
            "InputClippings": [
                {"StartTimecode": timecode(start / fps, fps), "EndTimecode": timecode(stop / fps, fps)}
            ],
            "AudioSelectors": {
                AUDIO_SELECTOR: {
                    "ExternalAudioFileInput": wav,
                    "DefaultSelection": "DEFAULT",
                    "Offset": span.start_seconds * 1000,
                }
            },
        }

    generator = {
        "VideoGenerator": {
            "Duration": max(1, round(hold.frames * 1000 / fps)),
            "ImageInput": hold.image,
            "Width": hold.width,
            "Height": hold.height,
            "FramerateNumerator": fps,
            "FramerateDenominator": 1,
            "SampleRate": AUDIO_SAMPLE_RATE,
            "Channels": AUDIO_CHANNELS,
        },
        "AudioSelectors": {AUDIO_SELECTOR: {"ExternalAudioFileInput": held, "DefaultSelection": "DEFAULT"}},
    }
    inputs = [clipped(first, hold.frame, before), generator]
    if hold.frame < last:
        inputs.append(clipped(hold.frame + 1, last, after))
    settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": inputs,
        "OutputGroups": [_hls_group(destination, [*(_video_output(r, fps) for r in rungs), _audio_output()])],
    }
    return JobRequest(settings=settings, user_metadata=metadata, role=role, client_request_token=token)
