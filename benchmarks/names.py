"""``tailorcast bench names``: do 500 real first names fit, and are they heard where they go?

The names are ``tests/data/names/first_names.txt`` (common US names from the SSA's baby-name data
and common names from other languages; source and licence in the README beside it). The seller is
real: the LibriVox clip from Debian's ``pocketsphinx-testdata`` ("and Mister John Dashwood …").
Two slots, both mid-sentence:

* ``aligned``: the slot the product's own alignment finds for "John" (0.35 s, as issue 17
  measured), with the pauses it finds around it;
* ``floor``: the shortest slot issue 17 guarantees, 0.30 s with no pause either side, centred on
  the same "John" (the hardest case: nothing to borrow).

Each name goes through the product's voice path (sanitize → piper → WORLD matching → R128 →
fit → room tone → crossfades) with growing allowed, at 30 fps: it fits or is refused, and when
it fits the figures are the product's own quality gate (pitch vs the seller's median, loudness vs
the speech around the slot, click ratio) plus an independent listener (pocketsphinx keyword
spotting, :mod:`benchmarks.listener`'s method) asked whether the name is heard where it was laid.

Baseline, side by side on the same names and slots: the fit as it was before growing (the same
:func:`~chalicelib.voice.splice.plan_fit` without ``grow``), which refused what it could not
squeeze into the slot.
"""

from __future__ import annotations

import csv
import statistics
import time
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Progress, Result, load_average, machine, measured_at, silent
from benchmarks.listener import KWS_THRESHOLD
from benchmarks.voice import CLIP, RATE, SCRIPT
from chalicelib.voice.personalize import MAX_CLICK_RATIO, MAX_F0_OFFSET_SEMITONES, MAX_LOUDNESS_OFFSET_LU
from chalicelib.voice.splice import MAX_NAME_SECONDS

NAMES_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "names" / "first_names.txt"
#: The frame rate the growth is rounded to (the demo's ladder runs at 30 fps).
FRAME_RATE = 30
FLOOR_SLOT_SECONDS = 0.30
TARGET_SECONDS_PER_NAME = 0.3
#: A name counts as heard where it was laid when a keyword hit overlaps its span widened by this.
HEARD_TOLERANCE_SECONDS = 0.15
#: Seconds of audio either side of the name the listener hears.
LISTEN_CONTEXT_SECONDS = 1.5


def load_names(path: Path = NAMES_FILE) -> list[str]:
    """The names in ``path``: one per line, ``#`` lines and blank lines skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class _Listener:
    """Keyword spotting with one pocketsphinx decoder for all names (a decoder per name costs
    more than the name): a keyphrase search per word, activated in turn."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=16_000, loglevel="FATAL", kws_threshold=KWS_THRESHOLD)
        self._searches: dict[str, str] = {}

    def heard(self, audio: np.ndarray[Any, Any], word: str) -> list[tuple[float, float]]:
        from chalicelib.voice.align import FRAMES_PER_SECOND, ensure_word, pcm16

        word = word.lower()
        search = self._searches.get(word)
        if search is None:
            search = f"kw{len(self._searches)}"
            ensure_word(self._decoder, word, update=True)
            self._decoder.add_keyphrase(search, word)
            self._searches[word] = search
        self._decoder.activate_search(search)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm16(audio), full_utt=True)
        self._decoder.end_utt()
        return [
            (s.start_frame / FRAMES_PER_SECOND, (s.end_frame + 1) / FRAMES_PER_SECOND)
            for s in (self._decoder.seg() or [])
        ]


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "max": round(ordered[-1], 4),
    }


def run_names_bench(limit: int | None = None, progress: Progress = silent) -> Result:
    """Run the benchmark (see the module's docstring) on the first ``limit`` names (all: None)."""
    from chalicelib.adapters.voice.piper import PiperSynthesizer
    from chalicelib.domain.errors import InvalidInputError
    from chalicelib.domain.speech import Utterance
    from chalicelib.domain.speech.names import sanitize_name
    from chalicelib.domain.speech.script import parse_script
    from chalicelib.voice.align import RATE as ALIGN_RATE
    from chalicelib.voice.align import Aligner, Slot
    from chalicelib.voice.pcm import resample
    from chalicelib.voice.personalize import personalize
    from chalicelib.voice.profile import build_profile
    from chalicelib.voice.splice import plan_fit

    if not CLIP.exists():
        raise SystemExit(f"{CLIP} is missing: run `make system-deps` (Debian's pocketsphinx-testdata)")
    names = load_names()[:limit]
    with wave.open(str(CLIP)) as w:
        pcm16 = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    clip = (pcm16 / np.float32(32768)).astype(np.float32)
    progress("aligning the script and learning the voice")
    (aligned,) = Aligner().locate(clip, parse_script(SCRIPT, {"first_name": "John"}))
    profile = build_profile(clip, ALIGN_RATE)
    centre = (aligned.start + aligned.end) / 2
    floor = replace(
        aligned,
        start=round(centre - FLOOR_SLOT_SECONDS / 2, 3),
        end=round(centre + FLOOR_SLOT_SECONDS / 2, 3),
        pause_before=0.0,
        pause_after=0.0,
    )
    slots: dict[str, Slot] = {"aligned": aligned, "floor": floor}
    base = np.repeat(resample(clip, ALIGN_RATE, RATE)[:, None], 2, axis=1)
    tone = base[int(profile.room_tone_start * RATE) : int(profile.room_tone_end * RATE)]
    listener = _Listener()
    reference = _heard_at(listener, base, "john", aligned.start, aligned.end)

    engine = PiperSynthesizer()
    engine.warm()
    personalize(
        base, RATE, 0.0, [aligned], {"first_name": engine.synthesize(Utterance("Warm"))}, {}, profile, tone
    )

    rows: dict[str, list[dict[str, Any]]] = {case: [] for case in slots}
    for i, raw in enumerate(names):
        if i % 25 == 0:
            progress(f"{i}/{len(names)} {raw}")
        clean = sanitize_name(raw, "first_name")
        wall, cpu = time.perf_counter(), time.process_time()
        speech = engine.synthesize(Utterance(clean.text))
        synth_wall, synth_cpu = time.perf_counter() - wall, time.process_time() - cpu
        # The control: the listener asked for the same name in the untouched recording ("John").
        false_alarm = _heard_at(listener, base, clean.text, aligned.start, aligned.end)
        for case, slot in slots.items():
            row: dict[str, Any] = {
                "name": clean.text,
                "seconds": round(speech.duration, 3),
                "heard_in_original": false_alarm,
            }
            try:
                plan_fit(slot, speech.duration, clean.text)
                row["old_fit"] = True
            except InvalidInputError:
                row["old_fit"] = False
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                done = personalize(
                    base,
                    RATE,
                    0.0,
                    [slot],
                    {"first_name": speech},
                    {"first_name": clean.text},
                    profile,
                    tone,
                    grow=True,
                    frame_rate=FRAME_RATE,
                )
            except InvalidInputError as exc:
                rows[case].append({**row, "fits": False, "refusal": str(exc)})
                continue
            row["wall_s"] = round(synth_wall + time.perf_counter() - wall, 4)
            row["cpu_s"] = round(synth_cpu + time.process_time() - cpu, 4)
            (placement,) = done.placements
            (q,) = done.quality
            row |= {
                "fits": True,
                "extension_s": round(placement.extension, 4),
                "stretch": placement.stretch,
                "f0_st": q.f0_offset_semitones,
                "lu": q.loudness_offset_lu,
                "click": q.click_ratio,
                "heard": _heard_at(
                    listener, done.audio, clean.text, placement.name_start, placement.name_end
                ),
            }
            rows[case].append(row)

    return {
        "benchmark": "names",
        "measured_at": measured_at(),
        "names_file": str(NAMES_FILE.relative_to(NAMES_FILE.parents[3])),
        "names": len(names),
        "seller": "LibriVox reader (pocketsphinx-testdata), 'and Mister {first_name} Dashwood …'",
        "engine": "piper en_US-joe-medium (warm), WORLD matching, grow=True at 30 fps",
        "listener": {
            "method": "pocketsphinx keyword spotting, own decoder, threshold "
            f"{KWS_THRESHOLD:g}; heard = a hit within {HEARD_TOLERANCE_SECONDS} s of the laid name",
            "reference_john_heard_in_the_original": reference,
        },
        "machine": {**machine(python=True), "load_average_at_end": load_average()},
        "cases": {case: {"slot": _slot_facts(slots[case]), **_case_figures(rows[case])} for case in slots},
        "targets": {
            "fit_rate_up_to_max_name_seconds": 1.0,
            "max_name_seconds": MAX_NAME_SECONDS,
            "seconds_per_name_median": TARGET_SECONDS_PER_NAME,
            "f0_semitones": MAX_F0_OFFSET_SEMITONES,
            "loudness_lu": MAX_LOUDNESS_OFFSET_LU,
            "click_ratio": MAX_CLICK_RATIO,
        },
        "rows": rows,
    }


#: The per-name table's columns: the name's, then each case's (prefixed ``<case>_``).
NAME_COLUMNS = ("name", "seconds", "heard_in_original")
CASE_COLUMNS = (
    "old_fit",
    "fits",
    "extension_s",
    "stretch",
    "f0_st",
    "lu",
    "click",
    "heard",
    "wall_s",
    "cpu_s",
)


def write_rows(rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """The result's per-name ``rows`` as CSV, one line per name with every case's columns
    (empty where a refused name has no figure)."""
    cases = list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow([*NAME_COLUMNS, *(f"{case}_{c}" for case in cases for c in CASE_COLUMNS)])
        for per_case in zip(*(rows[case] for case in cases), strict=True):
            first = per_case[0]
            out.writerow(
                [first[c] for c in NAME_COLUMNS] + [row.get(c, "") for row in per_case for c in CASE_COLUMNS]
            )


def _heard_at(listener: _Listener, audio: np.ndarray[Any, Any], word: str, start: float, end: float) -> bool:
    """Whether ``word`` is heard within the tolerance of ``start``..``end`` in ``audio`` (48 kHz)."""
    from chalicelib.voice.align import RATE as LISTEN_RATE
    from chalicelib.voice.pcm import resample

    lo = max(0.0, start - LISTEN_CONTEXT_SECONDS)
    hi = min(len(audio) / RATE, end + LISTEN_CONTEXT_SECONDS)
    mono = audio[int(lo * RATE) : int(hi * RATE)].mean(axis=1).astype(np.float32)
    hits = listener.heard(resample(mono, RATE, LISTEN_RATE), word)
    return any(
        a + lo < end + HEARD_TOLERANCE_SECONDS and b + lo > start - HEARD_TOLERANCE_SECONDS for a, b in hits
    )


def _slot_facts(slot: Any) -> dict[str, float]:
    return {
        "start": slot.start,
        "end": slot.end,
        "seconds": round(slot.end - slot.start, 3),
        "pause_before": slot.pause_before,
        "pause_after": slot.pause_after,
    }


def _case_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One slot's figures: fit (ours and the old rules), growth, time, quality, recognition."""
    short = [r for r in rows if r["seconds"] <= MAX_NAME_SECONDS]
    fitted = [r for r in rows if r["fits"]]
    grown = [r for r in fitted if r["extension_s"] > 0]
    old_refused = [r for r in rows if not r["old_fit"]]
    f0 = [abs(r["f0_st"]) for r in fitted if r["f0_st"] is not None]
    within = [
        r
        for r in fitted
        if (r["f0_st"] is None or abs(r["f0_st"]) <= MAX_F0_OFFSET_SEMITONES)
        and abs(r["lu"]) <= MAX_LOUDNESS_OFFSET_LU
        and r["click"] <= MAX_CLICK_RATIO
    ]
    return {
        "names_seconds_to_say": _summary([r["seconds"] for r in rows]),
        "names_up_to_max": len(short),
        "ours": {
            "fit": len(fitted),
            "fit_rate": round(len(fitted) / len(rows), 4) if rows else None,
            "fit_rate_up_to_max": round(sum(r["fits"] for r in short) / len(short), 4) if short else None,
            "grown": len(grown),
            "extension_seconds": _summary([r["extension_s"] for r in grown]),
            "refused": [r["refusal"] for r in rows if not r["fits"]],
            "seconds_per_name_wall": _summary([r["wall_s"] for r in fitted]),
            "seconds_per_name_cpu": _summary([r["cpu_s"] for r in fitted]),
            "f0_offset_semitones_abs": _summary(f0),
            "f0_not_measurable": sum(r["f0_st"] is None for r in fitted),
            "loudness_offset_lu_abs": _summary([abs(r["lu"]) for r in fitted]),
            "click_ratio": _summary([r["click"] for r in fitted]),
            "within_quality_targets": len(within),
            "heard_at_slot": sum(r["heard"] for r in fitted),
            "heard_rate": round(sum(r["heard"] for r in fitted) / len(fitted), 4) if fitted else None,
            "heard_rate_grown": round(sum(r["heard"] for r in grown) / len(grown), 4) if grown else None,
            # The same listener "hears" the name in the original recording (where "John" is said):
            # how far its yes means anything.
            "control_heard_in_original_rate": round(sum(r["heard_in_original"] for r in rows) / len(rows), 4)
            if rows
            else None,
            "heard_here_not_in_original": sum(r["heard"] and not r["heard_in_original"] for r in fitted),
        },
        "baseline_old_fit": {
            "name": "plan_fit before issue 17: half of each pause, then up to 1.43x faster, else refused",
            "fit": len(rows) - len(old_refused),
            "refused": len(old_refused),
            "refusal_rate": round(len(old_refused) / len(rows), 4) if rows else None,
            "refusal_rate_up_to_max": round(sum(not r["old_fit"] for r in short) / len(short), 4)
            if short
            else None,
        },
    }
