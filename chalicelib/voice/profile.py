"""The seller's speaker profile, built once per campaign from the base audio (or a voice sample).

* pitch: Praat's autocorrelation pitch track (parselmouth), as statistics of log F0;
* timbre: the long-term average spectrum (LTAS) of the speech, in bands on a log-frequency grid;
* loudness: integrated EBU R128 loudness (pyloudnorm);
* room tone: the quietest stretch of the recording, by position, so a splice can lay the room's
  real background under the synthesized name instead of digital silence.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.models import SpeakerProfile
from chalicelib.voice.pcm import Samples

ANALYSIS_RATE = 16000
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0
#: LTAS band edges: 24 bands, log-spaced from 100 Hz to 7.6 kHz (below the analysis Nyquist).
BAND_EDGES_HZ = tuple(float(f) for f in np.geomspace(100.0, 7600.0, 25))
ROOM_TONE_SECONDS = 0.3
_FRAME = 0.02  # seconds per RMS frame


def f0_track(samples: Samples, rate: int) -> npt.NDArray[np.float64]:
    """Voiced F0 values (Hz) of ``samples`` by Praat's autocorrelation method."""
    import parselmouth

    pitch = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=rate).to_pitch_ac(
        pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ
    )
    values: npt.NDArray[np.float64] = pitch.selected_array["frequency"]
    return values[values > 0]


def ltas_db(samples: Samples, rate: int) -> list[float]:
    """Mean power per band of :data:`BAND_EDGES_HZ`, in dB (Welch's method)."""
    from scipy.signal import welch

    freqs, power = welch(samples, fs=rate, nperseg=min(1024, len(samples)))
    out = []
    for lo, hi in itertools.pairwise(BAND_EDGES_HZ):
        band = power[(freqs >= lo) & (freqs < hi)]
        out.append(float(10 * np.log10(max(float(band.mean()) if band.size else 0.0, 1e-20))))
    return out


def loudness_lufs(samples: Samples, rate: int) -> float:
    """Integrated loudness (EBU R128 / ITU-R BS.1770-4); short clips use shorter gating blocks."""
    import pyloudnorm

    block = min(0.4, 0.8 * len(samples) / rate)
    if block < 0.05:
        raise InvalidInputError("the audio is too short to measure its loudness")
    return float(pyloudnorm.Meter(rate, block_size=block).integrated_loudness(samples.astype(np.float64)))


def quietest_stretch(
    samples: Samples, rate: int, seconds: float = ROOM_TONE_SECONDS
) -> tuple[float, float, float]:
    """(start, end, level dBFS) of the quietest ``seconds`` of ``samples`` that is not digital silence."""
    hop = int(_FRAME * rate)
    frames = len(samples) // hop
    need = max(1, round(seconds / _FRAME))
    if frames < need:
        raise InvalidInputError("the audio is too short to find the room tone")
    rms = np.sqrt(np.mean(samples[: frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=1))
    rms = np.where(rms < 1e-6, np.inf, rms)  # an edited-in digital silence is not the room
    window = np.convolve(rms, np.ones(need) / need, mode="valid")
    best = int(np.argmin(window))
    level = float(window[best])
    if not np.isfinite(level):
        best, level = 0, 1e-6
    return best * _FRAME, (best + need) * _FRAME, float(20 * np.log10(level))


def build_profile(samples: Samples, rate: int, source: str = "base_video") -> SpeakerProfile:
    """Profile the voice in ``samples`` (mono float32 at ``rate``, ideally :data:`ANALYSIS_RATE`).

    Raises
    ------
    InvalidInputError
        Too little voiced speech to profile (under 1 s of voiced frames).
    """
    f0 = f0_track(samples, rate)
    if len(f0) < 100:  # Praat's pitch step is 10 ms at this floor
        raise InvalidInputError(
            "there is too little speech to learn the voice from: record at least a few seconds of talking"
        )
    log_f0 = np.log(f0)
    start, end, level = quietest_stretch(samples, rate)
    return SpeakerProfile(
        f0_median_hz=float(np.median(f0)),
        log_f0_mean=float(log_f0.mean()),
        log_f0_std=float(log_f0.std()),
        f0_p5_hz=float(np.percentile(f0, 5)),
        f0_p95_hz=float(np.percentile(f0, 95)),
        ltas_db=ltas_db(samples, rate),
        loudness_lufs=loudness_lufs(samples, rate),
        room_tone_start=start,
        room_tone_end=end,
        room_tone_dbfs=level,
        source=source,
        seconds_analysed=round(len(samples) / rate, 3),
    )
