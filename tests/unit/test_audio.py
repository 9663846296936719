"""PCM plumbing for window renders: WAV headers, decoding, splicing."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
from PIL import Image

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.media.ladder import AUDIO_CHANNELS, AUDIO_SAMPLE_RATE
from chalicelib.domain.media.wav import (
    FADE_SECONDS,
    FRAME_BYTES,
    WavLayout,
    splice,
    wav_bytes,
    wav_layout,
)
from chalicelib.media.audio import decode_pcm

FADE = round(FADE_SECONDS * AUDIO_SAMPLE_RATE)  # 480 samples


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _fmt(tag: int = 1, channels: int = 2, rate: int = 48_000, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits))


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --------------------------------------------------------------------------- wav_layout


def test_wav_layout_of_a_plain_wav() -> None:
    data = wav_bytes(bytes(4 * 100))
    layout = wav_layout(data)
    assert layout == WavLayout(data_offset=44, data_bytes=400, channels=2, sample_rate=48_000, bits=16)
    assert layout.frame_bytes == 4


def test_wav_layout_skips_extra_chunks_and_their_padding() -> None:
    # LIST with an odd size is followed by a pad byte that is not counted in its size
    info = _chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00")
    assert len(info) % 2 == 0 and struct.unpack("<I", info[4:8])[0] % 2 == 1
    samples = bytes(range(256)) * 4
    data = _riff(
        _fmt(channels=1, rate=22_050), info, _chunk(b"fact", b"\x00\x01\x00\x00"), _chunk(b"data", samples)
    )
    layout = wav_layout(data)
    assert (layout.channels, layout.sample_rate, layout.bits) == (1, 22_050, 16)
    assert layout.data_bytes == len(samples)
    assert data[layout.data_offset : layout.data_offset + layout.data_bytes] == samples


def test_wav_layout_accepts_wave_format_extensible() -> None:
    ext = struct.pack("<HHIIHHHHIH14s", 0xFFFE, 2, 48_000, 192_000, 4, 16, 22, 16, 3, 1, b"\x00" * 14)
    data = _riff(_chunk(b"fmt ", ext), _chunk(b"data", bytes(8)))
    assert wav_layout(data).data_bytes == 8


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not a RIFF WAV"),
        (b"RIFX" + bytes(8), "not a RIFF WAV"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not a RIFF WAV"),
        (_riff(_fmt(tag=3, bits=32), _chunk(b"data", bytes(8))), "not PCM"),  # IEEE float
        (_riff(_fmt(tag=0x55), _chunk(b"data", bytes(8))), "not PCM"),  # MP3 in a WAV
        (_riff(_chunk(b"data", bytes(8)), _fmt()), "no fmt chunk before its data"),
        (_riff(_fmt(), _chunk(b"LIST", bytes(6000)), _chunk(b"data", bytes(8)))[:4096], "no data chunk"),
    ],
)
def test_wav_layout_errors(data: bytes, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        wav_layout(data)


def test_byte_range_is_inclusive_and_clamped_to_the_data() -> None:
    layout = WavLayout(
        data_offset=44, data_bytes=4000, channels=2, sample_rate=48_000, bits=16
    )  # 1000 frames
    assert layout.byte_range(0, 1) == (44, 47)
    assert layout.byte_range(10, 20) == (44 + 40, 44 + 80 - 1)
    assert layout.byte_range(900, 1000) == (44 + 3600, 44 + 3999)
    assert layout.byte_range(900, 5000) == (44 + 3600, 44 + 3999)  # past the end: clamped
    mono24 = WavLayout(data_offset=100, data_bytes=300, channels=1, sample_rate=48_000, bits=24)
    assert mono24.byte_range(10, 20) == (130, 159)


# --------------------------------------------------------------------------- decode_pcm


def _wav(samples: np.ndarray, rate: int, channels: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def test_decode_pcm_resamples_mono_22k_to_48k_stereo() -> None:
    rate, seconds, pitch = 22_050, 1.5, 440.0
    t = np.arange(round(rate * seconds)) / rate
    pcm = decode_pcm(_wav((np.sin(2 * np.pi * pitch * t) * 12_000).astype(np.int16), rate, 1))
    assert len(pcm) % FRAME_BYTES == 0
    out = np.frombuffer(pcm, dtype="<i2").reshape(-1, AUDIO_CHANNELS)
    assert abs(len(out) - seconds * AUDIO_SAMPLE_RATE) <= AUDIO_SAMPLE_RATE // 1000  # within 1 ms
    assert np.array_equal(out[:, 0], out[:, 1])  # mono goes to both channels
    middle = out[len(out) // 4 : 3 * len(out) // 4, 0].astype(float)
    peak = np.fft.rfftfreq(len(middle), 1 / AUDIO_SAMPLE_RATE)[np.abs(np.fft.rfft(middle)).argmax()]
    assert abs(peak - pitch) < 3  # same pitch: resampled, not just relabelled
    # level kept, give or take the -3 dB pan law of a mono source spread over two channels
    assert 12_000 / np.sqrt(2) * 0.98 < np.abs(middle).max() < 12_000 * 1.02


def test_decode_pcm_keeps_48k_stereo_as_is() -> None:
    rng = np.random.default_rng(7)
    samples = rng.integers(-20_000, 20_000, size=(4800, 2), dtype=np.int16)
    assert decode_pcm(_wav(samples, 48_000, 2)) == samples.astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"this is not audio at all, just text" * 20, "could not be decoded"),
        (_wav(np.zeros(0, dtype=np.int16), 48_000, 2), "is empty"),
    ],
)
def test_decode_pcm_errors(data: bytes, says: str) -> None:
    with pytest.raises(InvalidInputError, match=f"the voice {says}"):
        decode_pcm(data, what="voice")


def test_decode_pcm_refuses_a_file_without_audio() -> None:
    png = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(png, format="PNG")
    with pytest.raises(InvalidInputError, match="could not be decoded"):  # not a recording at all
        decode_pcm(png.getvalue())


@pytest.mark.parametrize(
    "refers",
    [
        "ffconcat version 1.0\nfile '{name}'\n",
        "ffconcat version 1.0\nfile '{path}'\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\nfile://{path}\n#EXT-X-ENDLIST\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n{name}\n#EXT-X-ENDLIST\n",
    ],
    ids=["concat-relative", "concat-absolute", "hls-file-url", "hls-relative"],
)
def test_decode_pcm_never_reads_a_file_the_recording_names(
    refers: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a real recording on this machine, next to the working directory
    secret = tmp_path / "secret.wav"
    secret.write_bytes(_wav((np.ones(48_000) * 9_000).astype(np.int16), 48_000, 1))
    monkeypatch.chdir(tmp_path)
    # WHEN a "voice sample" is a playlist or concat script naming it, THEN nothing is decoded
    script = refers.format(name=secret.name, path=secret).encode()
    with pytest.raises(InvalidInputError, match=r"could not be decoded|refers to other files"):
        decode_pcm(script, what="voice sample")


# --------------------------------------------------------------------------- splice


def _pcm(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


def _frames(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, AUDIO_CHANNELS).astype(np.int32)


@pytest.fixture
def signals() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    base = rng.integers(-12_000, 12_000, size=(48_000, 2), dtype=np.int16)
    replacement = rng.integers(-30_000, 30_000, size=(9_600, 2), dtype=np.int16)
    return base, replacement


def test_splice_replaces_the_window_only(signals: tuple[np.ndarray, np.ndarray]) -> None:
    base, replacement = signals
    at, window = 10_000, len(replacement)
    out = _frames(splice(_pcm(base), at, _pcm(replacement), window))
    assert out.shape == base.shape
    assert np.array_equal(out[:at], base[:at])
    assert np.array_equal(out[at + window :], base[at + window :])
    assert np.array_equal(out[at + FADE : at + window - FADE], replacement[FADE:-FADE])


def test_splice_crossfades_stay_between_the_two_signals(signals: tuple[np.ndarray, np.ndarray]) -> None:
    base, replacement = signals
    at, window = 10_000, len(replacement)
    out = _frames(splice(_pcm(base), at, _pcm(replacement), window))
    for lo, hi in ((0, FADE), (window - FADE, window)):
        got = out[at + lo : at + hi]
        a, b = base[at + lo : at + hi].astype(np.int32), replacement[lo:hi].astype(np.int32)
        assert np.all(got >= np.minimum(a, b)) and np.all(got <= np.maximum(a, b))
    # the first sample is (almost) the base's, the last one (almost) the base's again
    assert np.all(np.abs(out[at] - base[at]) <= np.abs(replacement[0].astype(int) - base[at]) * 0.01 + 1)
    last = at + window - 1
    assert np.all(
        np.abs(out[last] - base[last]) <= np.abs(replacement[-1].astype(int) - base[last]) * 0.01 + 1
    )


def test_splice_fades_are_monotone() -> None:
    base = np.full((20_000, 2), 10_000, dtype=np.int16)
    replacement = np.full((4_000, 2), -10_000, dtype=np.int16)
    at, window = 5_000, 4_000
    out = _frames(splice(_pcm(base), at, _pcm(replacement), window))[:, 0]
    fade_in, fade_out = out[at : at + FADE + 1], out[at + window - FADE - 1 : at + window]
    assert np.all(np.diff(fade_in) <= 0) and np.all(np.diff(fade_out) >= 0)
    assert fade_in[0] > 9_900 and fade_in[-1] == -10_000
    assert fade_out[0] == -10_000 and fade_out[-1] > 9_900
    assert np.all(out[at + FADE : at + window - FADE] == -10_000)
    # the fades are audibly short: 10 ms, not the whole window
    assert np.count_nonzero((out > -10_000) & (out < 10_000)) == 2 * FADE


def test_splice_pads_a_shorter_replacement_with_silence(signals: tuple[np.ndarray, np.ndarray]) -> None:
    base, replacement = signals
    at, window = 10_000, 20_000
    out = _frames(splice(_pcm(base), at, _pcm(replacement), window))
    n = len(replacement)
    assert np.array_equal(out[at + FADE : at + n], replacement[FADE:])
    assert np.all(out[at + n : at + window - FADE] == 0)
    assert np.array_equal(out[at + window :], base[at + window :])


def test_splice_refuses_a_replacement_longer_than_the_window(signals: tuple[np.ndarray, np.ndarray]) -> None:
    base, replacement = signals
    with pytest.raises(InvalidInputError, match=r"lasts 0\.200 s, longer than the 0\.199 s window"):
        splice(_pcm(base), 0, _pcm(replacement), len(replacement) - 48)
    # exactly the window's length is fine
    splice(_pcm(base), 0, _pcm(replacement), len(replacement))


def test_splice_a_window_at_the_very_end_keeps_the_length(signals: tuple[np.ndarray, np.ndarray]) -> None:
    base, replacement = signals
    at = len(base) - 1_000  # the window runs past the base: only what exists is replaced
    out = _frames(splice(_pcm(base), at, _pcm(replacement), len(replacement)))
    assert out.shape == base.shape
    assert np.array_equal(out[:at], base[:at])
    assert np.array_equal(out[at + FADE :], replacement[FADE:1_000])


def test_splice_a_window_shorter_than_two_fades() -> None:
    base = np.full((1_000, 2), 10_000, dtype=np.int16)
    replacement = np.full((100, 2), -10_000, dtype=np.int16)
    out = _frames(splice(_pcm(base), 300, _pcm(replacement), 100))[:, 0]
    assert np.array_equal(out[:300], np.full(300, 10_000)) and np.array_equal(out[400:], np.full(600, 10_000))
    inside = out[300:400]
    assert np.all((inside >= -10_000) & (inside <= 10_000))
    assert inside.min() == inside[49] or inside.min() == inside[50]  # deepest in the middle
    assert inside.min() < -9_000


def test_wav_bytes_round_trip() -> None:
    pcm = _pcm(np.arange(-500, 500, dtype=np.int16).reshape(-1, 2))
    data = wav_bytes(pcm)
    layout = wav_layout(data)
    assert data[layout.data_offset :] == pcm
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()) == (2, 48_000, 2, 500)
