"""PCM conversions and resampling for the voice modules (numpy and scipy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Polyphase resampling (scipy), exact for the integer ratios audio rates have."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    out: Samples = resample_poly(samples, to_rate // g, from_rate // g).astype(np.float32)
    return out


def pcm_to_float(pcm: bytes, channels: int) -> npt.NDArray[np.float32]:
    """Interleaved s16 → float32 array shaped (samples, channels)."""
    data = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels)


def float_to_pcm(frames: npt.NDArray[np.float32]) -> bytes:
    """float32 (samples, channels) → interleaved s16, with rounding and clipping."""
    return bytes(np.clip(np.round(frames * 32768.0), -32768, 32767).astype("<i2").tobytes())
