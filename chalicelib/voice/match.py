"""Voice matching: move a synthesized name's pitch, timbre and loudness onto the seller's.

WORLD (pyworld) splits the name into F0 (``harvest``), spectral envelope (``cheaptrick``) and
aperiodicity (``d4c``); each is changed and the name re-synthesized:

* F0 is mapped in log space: the name's median goes to the speaker's median, and its movement is
  scaled towards the speaker's range (limited, so a short name keeps its own intonation);
* the envelope is equalised towards the speaker's long-term spectrum (band gains, limited to
  ±:data:`MAX_EQ_DB`), which carries most of the "same microphone, same room, same voice" cue;
* time is stretched by resampling WORLD's frames, which keeps pitch and formants;
* loudness is set to a target in LUFS (EBU R128) and peaks kept under -1 dBFS.

Engines that clone the seller (ElevenLabs) skip the first three and only get loudness.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chalicelib.domain.models import SpeakerProfile
from chalicelib.domain.speech import Speech
from chalicelib.voice.pcm import resample
from chalicelib.voice.profile import (
    BAND_EDGES_HZ,
    PITCH_CEILING_HZ,
    PITCH_FLOOR_HZ,
    loudness_lufs,
    ltas_db,
)

FRAME_PERIOD_MS = 5.0
MAX_EQ_DB = 9.0
#: How far a name's own pitch movement may be scaled towards the speaker's range.
RANGE_SCALE_LIMITS = (0.7, 1.3)
PEAK_CEILING = 10 ** (-1 / 20)  # -1 dBFS


def match_voice(
    speech: Speech,
    profile: SpeakerProfile,
    *,
    target_lufs: float,
    out_rate: int,
    stretch: float = 1.0,
    convert: bool = True,
) -> Speech:
    """``speech`` re-voiced towards ``profile``, ``stretch`` times as long, at ``target_lufs``.

    With ``convert=False`` (an engine that clones the seller) only duration and loudness change.
    """
    x = np.ascontiguousarray(speech.samples, dtype=np.float64)
    fs = speech.sample_rate
    if convert or stretch != 1.0:
        x = _world(x, fs, profile if convert else None, stretch)
    y = resample(x.astype(np.float32), fs, out_rate)
    return Speech(_normalize(y, out_rate, target_lufs), out_rate)


def _world(
    x: npt.NDArray[np.float64], fs: int, profile: SpeakerProfile | None, stretch: float
) -> npt.NDArray[np.float64]:
    import warnings

    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pyworld

    f0, t = pyworld.harvest(
        x, fs, f0_floor=PITCH_FLOOR_HZ, f0_ceil=PITCH_CEILING_HZ, frame_period=FRAME_PERIOD_MS
    )
    sp = pyworld.cheaptrick(x, f0, t, fs)
    ap = pyworld.d4c(x, f0, t, fs)
    if profile is not None:
        f0 = map_f0(f0, profile)
        sp = sp * equalizer(x, fs, profile, sp.shape[1])[np.newaxis, :]
    if stretch != 1.0:
        f0, sp, ap = _stretch_frames(f0, sp, ap, stretch)
    y: npt.NDArray[np.float64] = pyworld.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), fs, FRAME_PERIOD_MS
    )
    return y


def map_f0(f0: npt.NDArray[np.float64], profile: SpeakerProfile) -> npt.NDArray[np.float64]:
    """Log-F0 mapping of the voiced frames onto the speaker's median and range."""
    voiced = f0 > 0
    if voiced.sum() < 3:
        return f0
    log_f0 = np.log(f0[voiced])
    centre = float(np.median(log_f0))
    spread = float(log_f0.std())
    scale = float(np.clip(profile.log_f0_std / spread, *RANGE_SCALE_LIMITS)) if spread > 1e-3 else 1.0
    out = f0.copy()
    out[voiced] = np.exp(np.log(profile.f0_median_hz) + (log_f0 - centre) * scale)
    return out


def equalizer(
    x: npt.NDArray[np.float64], fs: int, profile: SpeakerProfile, bins: int
) -> npt.NDArray[np.float64]:
    """Power gain per envelope bin that moves ``x``'s long-term spectrum to the speaker's."""
    mine = np.array(ltas_db(x.astype(np.float32), fs))
    theirs = np.array(profile.ltas_db)
    diff = theirs - mine
    diff -= diff.mean()  # loudness is set separately; only the spectral shape moves here
    diff = np.convolve(np.pad(diff, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    diff = np.clip(diff, -MAX_EQ_DB, MAX_EQ_DB)
    centres = np.sqrt(np.array(BAND_EDGES_HZ[:-1]) * np.array(BAND_EDGES_HZ[1:]))
    freqs = np.linspace(0, fs / 2, bins)
    gain_db = np.interp(np.log(np.maximum(freqs, 1.0)), np.log(centres), diff)
    return np.asarray(10 ** (gain_db / 10), dtype=np.float64)


def _stretch_frames(
    f0: npt.NDArray[np.float64], sp: npt.NDArray[np.float64], ap: npt.NDArray[np.float64], stretch: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = len(f0)
    m = max(2, round(n * stretch))
    pos = np.linspace(0, n - 1, m)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, np.newaxis]
    voiced = (f0[lo] > 0) & (f0[hi] > 0)
    new_f0 = np.where(voiced, f0[lo] * (1 - w[:, 0]) + f0[hi] * w[:, 0], f0[np.rint(pos).astype(int)])
    return new_f0, sp[lo] * (1 - w) + sp[hi] * w, ap[lo] * (1 - w) + ap[hi] * w


def _normalize(y: npt.NDArray[np.float32], rate: int, target_lufs: float) -> npt.NDArray[np.float32]:
    current = loudness_lufs(y, rate)
    if np.isfinite(current):
        y = y * np.float32(10 ** ((target_lufs - current) / 20))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > PEAK_CEILING:
        y = y * np.float32(PEAK_CEILING / peak)
    return y.astype(np.float32)
