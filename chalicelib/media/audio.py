"""Decode any recording with PyAV to the ladder's PCM (s16 stereo at 48 kHz).

What a user or the voice step supplies can be any container PyAV reads; only the recording's own
bytes are ever opened. The domain reaches this through :class:`~chalicelib.domain.ports.MediaCodec`
(:mod:`chalicelib.adapters.frames`); the WAV layout and splice it then applies are pure Python, in
:mod:`chalicelib.domain.media.wav`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.media.ladder import AUDIO_SAMPLE_RATE
from chalicelib.domain.media.wav import FRAME_BYTES

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
