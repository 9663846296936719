"""Speech engines behind :class:`chalicelib.domain.ports.SpeechSynthesizer`.

=============  ===========================================================  ===================
engine         what it is                                                   needs
=============  ===========================================================  ===================
``piper``      neural TTS in-process (onnxruntime); the packaged joe voice  the ``voice`` deps
``flite``      CMU Flite binary; ARCTIC voices                              ``/usr/bin/flite``
``espeak``     espeak-ng binary; formant synthesis, robotic but exact       ``espeak-ng``
``polly``      Amazon Polly (neural, else standard)                         a boto3 client
``elevenlabs`` ElevenLabs over HTTPS; the seller's cloned voice             an API key
=============  ===========================================================  ===================

Nothing is imported or loaded until :func:`build_synthesizer` asks for an engine (not even numpy):
onnxruntime and the 63 MB piper model only load when piper is used, once per process.

May import: the domain (ports, errors, :mod:`chalicelib.domain.speech`), numpy, piper, httpx, a
boto3 client passed in. With :mod:`chalicelib.voice`, the only place the voice engines are
imported (contract ``voice-engines``).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import FieldIssue, InvalidInputError, SynthesisError

if TYPE_CHECKING:  # numpy stays out of import time: the API Lambda imports the factory too
    from chalicelib.domain.ports import SpeechSynthesizer
    from chalicelib.domain.speech import Samples, Speech

logger = logging.getLogger(__name__)

ENGINES = ("piper", "flite", "espeak", "polly", "elevenlabs")

#: Frames quieter than this (dB below the loudest 10 ms frame) are silence at the edges.
TRIM_THRESHOLD_DB = -40.0
#: Audio kept either side of the first/last loud frame, so soft onsets (f, h, s) survive.
TRIM_MARGIN_SECONDS = 0.01

_cache: dict[tuple[str, str], SpeechSynthesizer] = {}
_cache_lock = threading.Lock()


def build_synthesizer(
    engine: str,
    *,
    polly_client_factory: Callable[[], Any] | None = None,
    elevenlabs_api_key: str | None = None,
    piper_model: Path | None = None,
    elevenlabs_model_id: str = "eleven_multilingual_v2",
    polly_voice: str = "Matthew",
    polly_engine: str = "neural",
) -> SpeechSynthesizer:
    """The synthesizer for ``engine`` (one of :data:`ENGINES`).

    Local engines are cached for the life of the process (one loaded piper model per path);
    Polly is built from a fresh call to ``polly_client_factory`` (which should itself be cached,
    as ``dependencies`` caches its boto3 clients); ElevenLabs is cached per API key so its HTTP
    connection pool is reused.

    Raises
    ------
    SynthesisError
        The engine is not configured here (no Polly client factory, no ElevenLabs key).
    InvalidInputError
        ``engine`` is not one of :data:`ENGINES`.
    """
    if engine == "polly":
        if polly_client_factory is None:
            raise SynthesisError("Amazon Polly is not configured: no Polly client is available here")
        from chalicelib.adapters.voice.polly import PollySynthesizer

        return PollySynthesizer(polly_client_factory(), default_voice=polly_voice, engine=polly_engine)
    if engine == "elevenlabs":
        if not elevenlabs_api_key:
            raise SynthesisError("ElevenLabs is not configured: set TAILORCAST_ELEVENLABS_API_KEY")
        key, model_id = elevenlabs_api_key, elevenlabs_model_id
        return _cached("elevenlabs", f"{model_id}:{key}", lambda: _elevenlabs(key, model_id))
    if engine == "piper":
        model = piper_model
        return _cached("piper", str(model or ""), lambda: _piper(model))
    if engine == "flite":
        return _cached("flite", "", _flite)
    if engine == "espeak":
        return _cached("espeak", "", _espeak)
    raise InvalidInputError(
        f"unknown speech engine {engine!r}",
        [FieldIssue("engine", f"must be one of {', '.join(ENGINES)}")],
    )


def reset_synthesizers() -> None:
    """Forget cached engines (tests; after changing the configured piper model)."""
    with _cache_lock:
        _cache.clear()


def _cached(engine: str, key: str, build: Callable[[], SpeechSynthesizer]) -> SpeechSynthesizer:
    with _cache_lock:
        found = _cache.get((engine, key))
        if found is None:
            found = _cache[(engine, key)] = build()
        return found


def _piper(model: Path | None) -> SpeechSynthesizer:
    from chalicelib.adapters.voice.piper import PiperSynthesizer

    return PiperSynthesizer(model)


def _flite() -> SpeechSynthesizer:
    from chalicelib.adapters.voice.flite import FliteSynthesizer

    return FliteSynthesizer()


def _espeak() -> SpeechSynthesizer:
    from chalicelib.adapters.voice.espeak import EspeakSynthesizer

    return EspeakSynthesizer()


def _elevenlabs(api_key: str, model_id: str) -> SpeechSynthesizer:
    from chalicelib.adapters.voice.elevenlabs import ElevenLabsSynthesizer

    return ElevenLabsSynthesizer(api_key, model_id=model_id)


def trim_silence(
    samples: Samples,
    sample_rate: int,
    *,
    threshold_db: float = TRIM_THRESHOLD_DB,
    margin_seconds: float = TRIM_MARGIN_SECONDS,
) -> Samples:
    """``samples`` without the silence engines put before and after the words.

    A simple energy gate: 10 ms frames whose RMS is more than ``threshold_db`` below the
    loudest frame are silence; everything from the first to the last loud frame is kept, plus
    ``margin_seconds`` either side. All-silent (or empty) input gives an empty array.
    """
    import numpy as np

    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    frame = max(int(sample_rate * 0.01), 1)
    count = len(audio) // frame + (1 if len(audio) % frame else 0)
    if count == 0:
        return audio[:0]
    padded = np.zeros(count * frame, dtype=np.float32)
    padded[: len(audio)] = audio
    rms = np.sqrt(np.mean(padded.reshape(count, frame).astype(np.float64) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 1e-6:
        return audio[:0]
    loud = np.flatnonzero(rms >= peak * 10 ** (threshold_db / 20))
    margin = round(sample_rate * margin_seconds)
    start = max(int(loud[0]) * frame - margin, 0)
    end = min((int(loud[-1]) + 1) * frame + margin, len(audio))
    return audio[start:end].copy()


def pcm16_to_samples(pcm: bytes) -> Samples:
    """Mono little-endian signed 16-bit PCM (what Polly, ElevenLabs and WAV files carry) →
    float32 in [-1, 1]."""
    import numpy as np

    usable = len(pcm) - len(pcm) % 2
    return (np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def read_wav(path: Path, engine: str) -> tuple[Samples, int]:
    """A mono 16-bit WAV an engine wrote → (samples, sample rate).

    Raises
    ------
    SynthesisError
        The file is missing, unreadable, or not mono 16-bit.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise SynthesisError(f"{engine} wrote audio in an unexpected format")
            return pcm16_to_samples(wav.readframes(wav.getnframes())), wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise SynthesisError(f"{engine} wrote no readable audio") from exc


def speech_from_binary(
    label: str, command: Callable[[Path], list[str]], timeout: float, stdin: str | None = None
) -> Speech:
    """Run a local engine's program, which writes a mono 16-bit WAV to the path it is given, and
    return that audio with the edge silence trimmed (flite, espeak-ng).

    Raises
    ------
    SynthesisError
        The program is missing, fails, times out, or writes no audio.
    """
    from chalicelib.domain.speech import Speech

    with tempfile.TemporaryDirectory(prefix=f"{label}-") as tmp:
        out = Path(tmp) / "name.wav"
        argv = command(out)
        try:
            done = subprocess.run(
                argv,
                input=None if stdin is None else stdin.encode("utf-8"),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SynthesisError(f"{label} is not installed here (no {argv[0]!r} binary)") from exc
        except subprocess.TimeoutExpired as exc:
            raise SynthesisError(f"{label} did not finish within {timeout:g} s") from exc
        except OSError as exc:
            raise SynthesisError(f"{label} could not be run: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()[-300:]
            logger.error("%s failed", label, extra={"returncode": done.returncode, "stderr": detail})
            raise SynthesisError(f"{label} failed (exit status {done.returncode}): {detail or 'no message'}")
        samples, rate = read_wav(out, label)
    trimmed = trim_silence(samples, rate)
    if trimmed.size == 0:
        raise SynthesisError(f"{label} produced no audio for the name")
    return Speech(trimmed, rate)
