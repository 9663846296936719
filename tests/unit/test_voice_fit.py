"""Fitting a name into its slot (issue 17, "every name fits"): the plan, and laying it in."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.speech import Speech
from chalicelib.voice.align import Slot
from chalicelib.voice.splice import (
    FADE_SECONDS,
    MAX_NAME_SECONDS,
    MIN_STRETCH,
    PAUSE_BORROW,
    Placement,
    lay_in,
    plan_fit,
)

RATE = 48_000
FPS = (24, 25, 30)

slots = st.builds(
    lambda start, length, before, after: Slot("first_name", start, start + length, 0.9, before, after),
    start=st.floats(0.5, 20.0),
    length=st.floats(0.3, 1.5),
    before=st.floats(0.0, 0.6),
    after=st.floats(0.0, 0.6),
)
names = st.floats(0.05, MAX_NAME_SECONDS)


def _old_rules(slot: Slot, name_seconds: float) -> Placement | None:
    """plan_fit as it was before growing (issue 17): None where it refused."""
    room = slot.end - slot.start
    start, stretch = slot.start, 1.0
    if name_seconds > room:
        extra = name_seconds - room
        before = min(extra, slot.pause_before * PAUSE_BORROW)
        after = min(extra - before, slot.pause_after * PAUSE_BORROW)
        start -= before
        missing = extra - before - after
        if missing > 1e-9:
            stretch = (name_seconds - missing) / name_seconds
            if stretch < MIN_STRETCH:
                return None
    end = start + name_seconds * stretch
    return Placement(
        "first_name",
        round(start, 4),
        round(end, 4),
        round(min(start, slot.start), 4),
        round(max(end, slot.end), 4),
        round(stretch, 4),
    )


@given(slots, names, st.sampled_from(FPS))
@example(Slot("first_name", 0.63, 0.98, 0.7, 0.0, 0.0), 1.5, 30)  # the issue's 0.35 s slot
@example(Slot("first_name", 1.0, 1.3, 0.7, 0.0, 0.0), 1.5, 24)  # the floor: 0.3 s, no pauses
def test_every_name_up_to_the_limit_fits_every_slot_of_0_3_s(slot: Slot, name: float, fps: int) -> None:
    # WHEN the window may grow
    p = plan_fit(slot, name, "Bartholomew", grow=True, frame_rate=fps)
    # THEN the name is spoken whole, never faster than the limit, and starts no earlier than
    # half the pause before lets it
    assert p.stretch >= MIN_STRETCH - 1e-9
    assert p.name_end - p.name_start == pytest.approx(name * p.stretch, abs=2e-4)
    assert p.name_start >= slot.start - slot.pause_before * PAUSE_BORROW - 1e-4
    assert p.replace_start <= p.name_start and p.name_end <= p.replace_end + 1e-4
    if p.extension == 0:
        assert p.hold_at is None
        assert p == _old_rules(slot, name)  # what fits today is placed exactly as today
        return
    # AND a growth is whole frames, no more than one frame over what is missing
    frames = p.extension * fps
    assert frames == pytest.approx(round(frames), abs=1e-6) and round(frames) >= 1
    base_end = slot.end + slot.pause_after * PAUSE_BORROW
    missing = name * MIN_STRETCH - (base_end - p.name_start)
    assert missing - 1e-4 <= p.extension < missing + 1 / fps + 1e-4
    # AND it is inserted inside the replaced stretch, one fade before its (base) end
    assert p.hold_at is not None
    assert p.hold_at == pytest.approx(base_end - FADE_SECONDS, abs=2e-4)
    assert p.replace_start + FADE_SECONDS <= p.hold_at
    assert p.replace_end == pytest.approx(base_end + p.extension, abs=2e-4)
    assert p.grown(p.hold_at) == pytest.approx(p.hold_at + p.extension)
    assert p.grown(p.replace_start) == p.replace_start


@given(slots, names)
def test_without_growing_the_old_rules_hold(slot: Slot, name: float) -> None:
    old = _old_rules(slot, name)
    if old is None:
        with pytest.raises(InvalidInputError, match="the name does not fit its slot"):
            plan_fit(slot, name, "Bartholomew")
    else:
        assert plan_fit(slot, name, "Bartholomew") == old


@given(slots, st.floats(MAX_NAME_SECONDS + 0.01, 4.0))
def test_a_name_over_the_limit_fits_only_where_the_slot_holds_it(slot: Slot, name: float) -> None:
    old = _old_rules(slot, name)
    if old is not None:
        assert plan_fit(slot, name, "X", grow=True, frame_rate=30) == old
        return
    with pytest.raises(InvalidInputError) as caught:
        plan_fit(slot, name, "Maximiliano Alejandro", grow=True, frame_rate=30)
    (issue,) = caught.value.issues
    assert issue.loc == "first_name"
    assert "'Maximiliano Alejandro' takes" in issue.message and f"{name:.2f} s" in issue.message
    assert "1.5 s always fit" in issue.message and "shorter form" in issue.message


def test_without_a_frame_rate_a_growth_is_whole_milliseconds() -> None:
    p = plan_fit(Slot("first_name", 0.63, 0.98, 0.7, 0.0, 0.0), 1.2345, grow=True)
    assert p.extension == pytest.approx(math.ceil((1.2345 * MIN_STRETCH - 0.35) * 1000) / 1000)


def _tone(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.standard_normal((int(seconds * RATE), 1)) * 1e-3).astype(np.float32)


def _speech(seconds: float) -> Speech:
    t = np.arange(int(seconds * RATE)) / RATE
    return Speech((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), RATE)


@pytest.mark.parametrize("fps", FPS)
def test_a_grown_placement_lengthens_the_audio_by_its_extension_and_keeps_the_rest(fps: int) -> None:
    # GIVEN 4 s of "speech" starting 1 s into the base, and a 0.35 s slot with no pauses
    offset = 1.0
    t = np.arange(4 * RATE) / RATE
    base = (
        np.stack([np.sin(2 * np.pi * 220 * t), np.cos(2 * np.pi * 330 * t)], axis=1).astype(np.float32) * 0.2
    )
    slot = Slot("first_name", 2.63, 2.98, 0.7, 0.0, 0.0)
    p = plan_fit(slot, 1.4, grow=True, frame_rate=fps)
    assert p.extension > 0 and p.hold_at is not None
    # WHEN the name is laid in
    out = lay_in(base, RATE, offset, p, _speech(1.4 * p.stretch), _tone(0.5))
    # THEN the audio is exactly the extension longer (whole samples: frames divide 48 kHz)
    grow = round(p.extension * RATE)
    assert grow == pytest.approx(p.extension * RATE, abs=1e-6)
    assert len(out) == len(base) + grow
    # AND before the replaced stretch and after it the base plays untouched, shifted by the growth
    lo = round((p.replace_start - offset) * RATE)
    hi = round((p.replace_end - offset) * RATE)
    np.testing.assert_array_equal(out[:lo], base[:lo])
    np.testing.assert_array_equal(out[hi:], base[hi - grow :])
    # AND the name is there, over the inserted time too
    name_end = round((p.name_end - offset) * RATE)
    assert np.abs(out[name_end - 2000 : name_end - 500]).max() > 0.1


def test_a_grown_placement_outside_the_audio_is_an_error() -> None:
    p = plan_fit(Slot("first_name", 2.63, 2.98, 0.7, 0.0, 0.0), 1.4, grow=True, frame_rate=30)
    with pytest.raises(ValueError, match="outside"):
        lay_in(np.zeros((RATE, 2), np.float32), RATE, 5.0, p, _speech(0.9), _tone(0.2))


def test_personalize_moves_later_slots_by_earlier_growth() -> None:
    from chalicelib.voice.personalize import personalize
    from chalicelib.voice.profile import build_profile

    # GIVEN 6 s of voiced "speech" (a gliding tone with noise) and two 0.35 s slots with no pauses
    t = np.arange(6 * RATE) / RATE
    rng = np.random.default_rng(3)
    mono = 0.2 * np.sin(
        2 * np.pi * (110 + 10 * np.sin(2 * np.pi * 0.5 * t)) * t
    ) + 0.01 * rng.standard_normal(len(t))
    base = np.repeat(mono.astype(np.float32)[:, None], 2, axis=1)
    profile = build_profile(mono[::3].astype(np.float32), 16_000)
    slots = [Slot("first_name", 1.0, 1.35, 0.9, 0.0, 0.0), Slot("company", 3.0, 3.35, 0.9, 0.0, 0.0)]
    names = {"first_name": _speech(1.2), "company": _speech(1.0)}
    # WHEN both names are laid in with growing allowed
    done = personalize(base, RATE, 0.0, slots, names, {}, profile, _tone(0.3), grow=True, frame_rate=25)
    first, second = done.placements
    # THEN each grew, the second on the timeline the first's growth moved
    assert first.extension > 0 and second.extension > 0
    assert second.name_start == pytest.approx(3.0 + first.extension, abs=1e-4)
    assert second.hold_at == pytest.approx(3.35 + first.extension - FADE_SECONDS, abs=2e-4)
    assert len(done.audio) == len(base) + round(done.extension * RATE)
    # AND the base between and after the slots plays untouched, shifted by the growth so far
    a = round((first.replace_end + 0.1) * RATE)
    np.testing.assert_array_equal(done.audio[a : a + RATE], base[a - round(first.extension * RATE) :][:RATE])
    np.testing.assert_array_equal(done.audio[-RATE:], base[-RATE:])
