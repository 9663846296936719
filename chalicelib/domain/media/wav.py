"""WAV plumbing for window renders: find the samples in the base's WAV, splice, write a WAV.

The base's audio is a 16-bit RIFF WAV written by the ladder job, read by byte range, so a render
touches only the seconds it replaces. Pure Python (``array``, ``wave``): decoding other formats is
PyAV's job, behind :class:`~chalicelib.domain.ports.MediaCodec`.
"""

from __future__ import annotations

import io
import wave
from array import array
from dataclasses import dataclass

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.media.ladder import AUDIO_CHANNELS, AUDIO_SAMPLE_RATE

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
