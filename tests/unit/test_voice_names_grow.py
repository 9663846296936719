"""The voice task's use case with growing on (issue 17, item 2): a name longer than its slot
comes back with the window's growth and audio that much longer; a name that fits, as before."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.media.wav import wav_bytes, wav_layout
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CampaignVoice,
    Ladder,
    UploadStatus,
    VoiceSlot,
    VoiceStatus,
)
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech
from chalicelib.voice import profile
from chalicelib.voice.pcm import resample
from chalicelib.voice.service import WINDOW_MARGIN_SECONDS, VoicedWindow, voice_names
from tests import fakes

RATE, FPS, SECONDS = 48_000, 30, 10.0
PREFIX = "acct/camp/base/upl"


def _voiced(seconds: float, rate: int) -> np.ndarray:
    """A vowel-like buzz at 120 Hz with a syllable rhythm: voiced enough to profile and match."""
    t = np.arange(round(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 8))
    return (0.2 * buzz * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


class _Engine:
    """Says every utterance as a buzz lasting what ``lengths`` gives for its text."""

    name = "piper"

    def __init__(self, lengths: dict[str, float]) -> None:
        self.lengths = lengths

    def voices(self) -> list[VoiceInfo]:
        return []

    def synthesize(self, utterance: object, voice_id: str | None = None) -> Speech:
        text = str(getattr(utterance, "text", utterance))
        return Speech(_voiced(self.lengths[text], 22_050), 22_050)


def _campaign(store: fakes.FakeObjectStore, slots: list[VoiceSlot]) -> Campaign:
    mono = _voiced(SECONDS, RATE)
    mono[round(8.5 * RATE) : round(9.5 * RATE)] *= 0.01  # the room's quiet stretch
    pcm = (np.repeat(mono[:, None], 2, axis=1) * 32767).astype("<i2").tobytes()
    store.put_bytes(f"{PREFIX}/audio.wav", wav_bytes(pcm), "audio/wav")
    learnt = profile.build_profile(resample(mono, RATE, 16_000), 16_000)
    ladder = Ladder(
        prefix=PREFIX,
        master="main.m3u8",
        audio_playlist="main_audio.m3u8",
        pcm="audio.wav",
        renditions=["main_360p.m3u8"],
        width=640,
        height=360,
        fps=FPS,
        duration_seconds=SECONDS,
        segment_count=5,
    )
    base = BaseVideo(upload_id="upl", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder)
    voice = CampaignVoice(status=VoiceStatus.READY, slots=slots, profile=learnt)
    return Campaign(account_id="acct", campaign_id="camp", name="Q4", base_video=base, voice=voice)


FIRST = VoiceSlot(variable="first_name", start=3.0, end=3.3, pause_before=0.1, pause_after=0.1)
LAST = VoiceSlot(variable="last_name", start=5.0, end=5.3, pause_before=0.1, pause_after=0.1)


def _say(
    slots: list[VoiceSlot], values: dict[str, str], lengths: dict[str, float]
) -> tuple[VoicedWindow, bytes]:
    store = fakes.FakeObjectStore("media")
    campaign = _campaign(store, slots)
    voiced = voice_names(
        campaign, values, {}, {}, store, lambda engine: _Engine(lengths), "acct/camp/voice/p"
    )
    return voiced, store.get_bytes(voiced.audio_key)


def test_a_name_longer_than_its_slot_grows_the_window_by_whole_frames() -> None:
    # GIVEN a 0.3 s slot (0.1 s pauses) that holds about 0.57 s of name, and a 1.2 s name
    voiced, wav = _say([FIRST], {"first_name": "Bartholomew"}, {"Bartholomew": 1.2})
    # THEN the window grows by whole frames, the hold inside the window
    assert voiced.extension > 0
    assert math.isclose(voiced.extension * FPS, round(voiced.extension * FPS), abs_tol=1e-6)
    assert voiced.hold_at is not None and voiced.start < voiced.hold_at < voiced.end
    # AND the window's end is the base's second (the placements are on the grown timeline)
    grown_end = max(p.replace_end for p in voiced.placements)
    assert voiced.end == pytest.approx(grown_end - voiced.extension + WINDOW_MARGIN_SECONDS, abs=1e-3)
    # AND the audio lasts the base window plus the growth
    layout = wav_layout(wav)
    samples = layout.data_bytes // layout.frame_bytes
    assert samples == pytest.approx((voiced.end - voiced.start + voiced.extension) * RATE, abs=2)
    assert voiced.as_dict()["extension"] == voiced.extension


def test_a_name_that_fits_does_not_grow() -> None:
    voiced, wav = _say([FIRST], {"first_name": "Ada"}, {"Ada": 0.3})
    assert (voiced.extension, voiced.hold_at) == (0.0, None)
    layout = wav_layout(wav)
    assert layout.data_bytes // layout.frame_bytes == pytest.approx((voiced.end - voiced.start) * RATE, abs=2)


def test_two_names_that_both_need_growing_are_refused_with_both_fields() -> None:
    values = {"first_name": "Bartholomew", "last_name": "Christopherson"}
    with pytest.raises(InvalidInputError) as raised:
        _say([FIRST, LAST], values, {"Bartholomew": 1.2, "Christopherson": 1.2})
    assert [i.loc for i in raised.value.issues] == ["first_name", "last_name"]


def test_a_name_over_the_limit_is_refused_clearly() -> None:
    with pytest.raises(InvalidInputError, match="too long"):
        _say([FIRST], {"first_name": "Bartholomew"}, {"Bartholomew": 1.6})
