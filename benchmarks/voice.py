"""``tailorcast bench voice``: one name synthesized, matched and spliced, against a naive splice.

The seller is real: the LibriVox clip from Debian's ``pocketsphinx-testdata`` ("and Mister John
Dashwood …"), with the slot found by the product's own alignment. The names are generated here
(seeded syllable combinations, so the run is repeatable and no name list is shipped).

Ours: piper → WORLD pitch/timbre matching → R128 loudness → fit → room tone → crossfades.
Baseline, side by side on the same names: the raw engine output cut into the slot — no matching,
no room tone, no crossfade (what a pipeline without a voice stage does).
"""

from __future__ import annotations

import random
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Progress, Result, silent
from chalicelib.voice.personalize import MAX_CLICK_RATIO, MAX_F0_OFFSET_SEMITONES, MAX_LOUDNESS_OFFSET_LU

CLIP = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
SCRIPT = (
    "And Mister {first_name} Dashwood had then leisure to consider how much there might be "
    "prudently in his power to do for them."
)
RATE = 48_000
TARGET_SECONDS_PER_NAME = 0.3
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "j", "sh", "ch")
_VOWELS = ("a", "e", "i", "o", "u", "ay", "ee")
_CODAS = ("", "", "n", "l", "r", "s")


def generated_names(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct pronounceable one- and two-syllable names, the same for a seed."""
    rng = random.Random(seed)  # noqa: S311 - repeatable test names, not secrets
    names: list[str] = []
    while len(names) < count:
        syllables = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 2, 2)))]
        name = ("".join(syllables) + rng.choice(_CODAS)).capitalize()
        if name not in names:
            names.append(name)
    return names


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "max": round(ordered[-1], 4),
    }


def _figures(measured: dict[str, list[float]]) -> dict[str, Any]:
    """One side's summaries, and how many names met every quality target."""
    return {
        "seconds_per_name": _summary(measured["seconds"]),
        "f0_offset_semitones_abs": _summary(measured["f0"]),
        "loudness_offset_lu_abs": _summary(measured["lu"]),
        "click_ratio": _summary(measured["click"]),
        "within_targets": sum(
            f <= MAX_F0_OFFSET_SEMITONES and lu <= MAX_LOUDNESS_OFFSET_LU and c <= MAX_CLICK_RATIO
            for f, lu, c in zip(measured["f0"], measured["lu"], measured["click"], strict=True)
        ),
    }


def run_voice_bench(count: int = 30, progress: Progress = silent) -> Result:
    """Run the benchmark (see the module's docstring) and return its figures as a JSON-able dict."""
    from chalicelib.adapters.voice.piper import PiperSynthesizer
    from chalicelib.domain.speech import Utterance
    from chalicelib.domain.speech.script import parse_script
    from chalicelib.voice.align import RATE as ALIGN_RATE
    from chalicelib.voice.align import Aligner
    from chalicelib.voice.pcm import resample
    from chalicelib.voice.personalize import Personalized, measure, personalize, surrounding_loudness
    from chalicelib.voice.profile import build_profile
    from chalicelib.voice.splice import Placement

    if not CLIP.exists():
        raise SystemExit(f"{CLIP} is missing: run `make system-deps` (Debian's pocketsphinx-testdata)")
    with wave.open(str(CLIP)) as w:
        pcm16 = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    clip = (pcm16 / np.float32(32768)).astype(np.float32)
    progress("aligning the script and learning the voice")
    t = time.perf_counter()
    (slot,) = Aligner().locate(clip, parse_script(SCRIPT, {"first_name": "John"}))
    profile = build_profile(clip, ALIGN_RATE)
    prepare_seconds = time.perf_counter() - t
    base = np.repeat(resample(clip, ALIGN_RATE, RATE)[:, None], 2, axis=1)
    tone = base[int(profile.room_tone_start * RATE) : int(profile.room_tone_end * RATE)]

    engine = PiperSynthesizer()
    engine.warm()
    personalize(
        base, RATE, 0.0, [slot], {"first_name": engine.synthesize(Utterance("Warm"))}, {}, profile, tone
    )

    ours: dict[str, list[float]] = {"seconds": [], "f0": [], "lu": [], "click": []}
    naive: dict[str, list[float]] = {"seconds": [], "f0": [], "lu": [], "click": []}
    skipped: list[str] = []
    names = generated_names(count)
    for name in names:
        progress(name)
        t = time.perf_counter()
        speech = engine.synthesize(Utterance(name))
        try:
            done: Personalized = personalize(
                base, RATE, 0.0, [slot], {"first_name": speech}, {"first_name": name}, profile, tone
            )
        except Exception as exc:  # a name too long for the slot is reported, not measured
            skipped.append(f"{name}: {exc}")
            continue
        ours["seconds"].append(time.perf_counter() - t)
        (q,) = done.quality
        ours["f0"].append(abs(q.f0_offset_semitones or 0.0))
        ours["lu"].append(abs(q.loudness_offset_lu))
        ours["click"].append(q.click_ratio)

        # Baseline: the raw engine audio cut into the slot, same names, same measures.
        t = time.perf_counter()
        raw = engine.synthesize(Utterance(name))
        samples = resample(raw.samples, raw.sample_rate, RATE)
        lo, hi = int(slot.start * RATE), int(slot.end * RATE)
        cut = np.zeros(hi - lo, dtype=np.float32)
        cut[: min(len(samples), hi - lo)] = samples[: hi - lo]
        spliced = base.copy()
        spliced[lo:hi] = cut[:, None]
        naive["seconds"].append(time.perf_counter() - t)
        place = Placement(
            "first_name", slot.start, min(slot.end, slot.start + raw.duration), slot.start, slot.end, 1.0
        )
        target = surrounding_loudness(base, RATE, 0.0, slot.start, slot.end)
        nq = measure(spliced, RATE, 0.0, place, profile, target)
        naive["f0"].append(abs(nq.f0_offset_semitones or 0.0))
        naive["lu"].append(abs(nq.loudness_offset_lu))
        naive["click"].append(nq.click_ratio)

    measured = len(ours["seconds"])
    return {
        "benchmark": "voice",
        "seller": "LibriVox reader (pocketsphinx-testdata), slot found by the product's alignment",
        "slot": {"start": slot.start, "end": slot.end, "confidence": slot.confidence},
        "speaker_f0_median_hz": round(profile.f0_median_hz, 1),
        "prepare_seconds": round(prepare_seconds, 3),
        "names_generated": len(names),
        "names_measured": measured,
        "names_not_fitting": skipped,
        "engine": "piper en_US-joe-medium (warm)",
        "ours": _figures(ours),
        "baseline": {
            "name": "naive splice: raw engine audio cut into the slot, no matching, room tone or crossfade",
            **_figures(naive),
        },
        "targets": {
            "seconds_per_name_median": TARGET_SECONDS_PER_NAME,
            "f0_semitones": MAX_F0_OFFSET_SEMITONES,
            "loudness_lu": MAX_LOUDNESS_OFFSET_LU,
            "click_ratio": MAX_CLICK_RATIO,
        },
        "ratio_vs_baseline": {
            "seconds_per_name_median": round(
                statistics.median(ours["seconds"]) / statistics.median(naive["seconds"]), 2
            ),
            "click_ratio_median": round(
                statistics.median(ours["click"]) / statistics.median(naive["click"]), 3
            ),
            "loudness_offset_median": round(
                statistics.median(ours["lu"]) / max(statistics.median(naive["lu"]), 1e-9), 3
            ),
        },
    }
