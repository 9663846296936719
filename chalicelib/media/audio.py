"""PCM plumbing for window renders: read any audio, splice it into the base's WAV, write a WAV.

PyAV decodes and resamples (whatever the voice step or a user supplied); the base's audio is a
16-bit RIFF WAV written by the ladder job, read by byte range, so a render touches only the
seconds it replaces.
"""

from __future__ import annotations

import io
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.domain.errors import InvalidInputError
from chalicelib.media.ladder import AUDIO_CHANNELS, AUDIO_SAMPLE_RATE

SAMPLE_BYTES = 2  # s16
FRAME_BYTES = SAMPLE_BYTES * AUDIO_CHANNELS
#: Crossfade at each edge of the window: long enough to avoid a click, short enough to be inaudible.
FADE_SECONDS = 0.010
#: A WAV header (RIFF, fmt, maybe LIST/fact) fits in this many bytes.
HEADER_PROBE_BYTES = 4096


@dataclass(frozen=True)
class WavLayout:
    data_offset: int
    data_bytes: int
    channels: int
    sample_rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    def byte_range(self, first_sample: int, end_sample: int) -> tuple[int, int]:
        """Inclusive byte range of samples ``first_sample``..``end_sample - 1`` (clamped to the data)."""
        last = min(end_sample * self.frame_bytes, self.data_bytes) - 1
        return self.data_offset + first_sample * self.frame_bytes, self.data_offset + last


def wav_layout(header: bytes) -> WavLayout:
    """Where a RIFF WAV's samples start, and their format (walks the chunk headers only)."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise InvalidInputError("not a RIFF WAV file")
    fmt: tuple[int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(header):
        kind, size = header[pos : pos + 4], int.from_bytes(header[pos + 4 : pos + 8], "little")
        body = pos + 8
        if kind == b"fmt ":
            tag = int.from_bytes(header[body : body + 2], "little")
            channels = int.from_bytes(header[body + 2 : body + 4], "little")
            rate = int.from_bytes(header[body + 4 : body + 8], "little")
            bits = int.from_bytes(header[body + 14 : body + 16], "little")
            if tag not in (1, 0xFFFE):
                raise InvalidInputError("the WAV is not PCM")
            fmt = (channels, rate, bits)
        elif kind == b"data":
            if fmt is None:
                raise InvalidInputError("the WAV has no fmt chunk before its data")
            return WavLayout(body, size, *fmt)
        pos = body + size + (size & 1)
    raise InvalidInputError("no data chunk in the first bytes of the WAV")


#: What a seller's recording may be read as: self-contained containers only. Playlists (hls,
#: dash), concat scripts, image sequences and sdp/rtp would open other files the bytes name.
RECORDING_DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mp3,wav,aac,flac,ogg"


def _no_other_files(url: str, flags: int, options: dict[str, str]) -> None:
    raise InvalidInputError("the recording refers to other files; upload the recording itself")


def decode_pcm(data: bytes, *, what: str = "audio") -> bytes:
    """Decode any audio file PyAV reads to interleaved s16 at the ladder's rate and layout.

    Only ``data`` itself is read: a nameless buffer (no extension picks a demuxer), the
    :data:`RECORDING_DEMUXERS` allow-list, and an ``io_open`` hook that refuses any other file.

    Raises
    ------
    InvalidInputError
        Not a recording of a supported kind, refers to other files, no audio, or undecodable.
    """
    out = b"".join(_decoded(data, what))
    if not out:
        raise InvalidInputError(f"the {what} is empty")
    return out


def recording_seconds(data: bytes, *, what: str = "recording", at_most: float = 600.0) -> float:
    """How many seconds of sound ``data`` holds (counted up to ``at_most``), read as
    :func:`decode_pcm` reads it, without keeping the samples.

    Raises
    ------
    InvalidInputError
        As :func:`decode_pcm`.
    """
    frames = 0
    for chunk in _decoded(data, what):
        frames += len(chunk) // FRAME_BYTES
        if frames >= at_most * AUDIO_SAMPLE_RATE:
            break
    return frames / AUDIO_SAMPLE_RATE


def _decoded(data: bytes, what: str) -> Iterator[bytes]:
    import av

    try:
        with av.open(
            io.BytesIO(data),
            mode="r",
            container_options={"format_whitelist": RECORDING_DEMUXERS, "enable_drefs": "0"},
            io_open=_no_other_files,
        ) as container:
            if not container.streams.audio:
                raise InvalidInputError(f"the {what} has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_SAMPLE_RATE)
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    yield bytes(converted.planes[0])[: converted.samples * FRAME_BYTES]
            for converted in resampler.resample(None):
                yield bytes(converted.planes[0])[: converted.samples * FRAME_BYTES]
    except av.FFmpegError as exc:
        raise InvalidInputError(f"the {what} could not be decoded ({type(exc).__name__})") from exc


def splice(base: bytes, at_sample: int, replacement: bytes, window_samples: int) -> bytes:
    """``base`` with ``window_samples`` from ``at_sample`` replaced by ``replacement`` (padded with
    silence to the window), crossfaded over :data:`FADE_SECONDS` at both edges.

    All three are interleaved s16 stereo at the ladder's rate.
    """
    if len(replacement) // FRAME_BYTES > window_samples:
        raise InvalidInputError(
            f"the replacement audio lasts {len(replacement) / FRAME_BYTES / AUDIO_SAMPLE_RATE:.3f} s, "
            f"longer than the {window_samples / AUDIO_SAMPLE_RATE:.3f} s window"
        )
    out = array("h", base)
    rep = array("h", replacement)
    rep.extend([0] * (window_samples * AUDIO_CHANNELS - len(rep)))
    fade = max(1, min(round(FADE_SECONDS * AUDIO_SAMPLE_RATE), window_samples // 2))
    start = at_sample * AUDIO_CHANNELS
    end = min(start + len(rep), len(out))
    original = out[start:end]
    out[start:end] = rep[: end - start]
    edges = [*range(0, fade * AUDIO_CHANNELS), *range((window_samples - fade) * AUDIO_CHANNELS, len(rep))]
    for i in edges:  # only the two crossfades need arithmetic
        if i >= end - start:
            break
        n = i // AUDIO_CHANNELS
        gain = min(1.0, (n + 0.5) / fade, (window_samples - n - 0.5) / fade)
        out[start + i] = max(-32768, min(32767, round(rep[i] * gain + original[i] * (1.0 - gain))))
    return out.tobytes()


def wav_bytes(pcm: bytes, sample_rate: int = AUDIO_SAMPLE_RATE, channels: int = AUDIO_CHANNELS) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(SAMPLE_BYTES)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()
