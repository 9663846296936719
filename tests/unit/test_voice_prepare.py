"""Preparing a campaign's voice with fakes: a voice sample is read only when it is the campaign's
own, and whatever goes wrong the voice never stays ``preparing``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chalicelib.domain.media.wav import wav_bytes
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    Ladder,
    UploadStatus,
    VoiceStatus,
    new_id,
)
from chalicelib.domain.speech.script import ScriptToken
from chalicelib.voice import service
from chalicelib.voice.align import Aligner, Slot
from tests import fakes

RATE = 48_000


class _Aligner(Aligner):
    def __init__(self, failure: Exception | None = None) -> None:  # no models: nothing is aligned
        self.failure = failure

    def locate(self, audio: Any, tokens: list[ScriptToken]) -> list[Slot]:
        if self.failure is not None:
            raise self.failure
        return [Slot("first_name", 0.5, 0.9, 0.9, 0.1, 0.1)]


def _world(sample_key: str | None) -> tuple[fakes.FakeCampaignRepository, fakes.FakeObjectStore, Campaign]:
    campaigns, media = fakes.FakeCampaignRepository(), fakes.FakeObjectStore("media")
    account_id, campaign_id = new_id("acct"), new_id("camp")
    ladder = Ladder(
        prefix="base",
        master="main.m3u8",
        audio_playlist="a.m3u8",
        pcm="audio.wav",
        renditions=["v.m3u8"],
        width=640,
        height=360,
        fps=30,
        duration_seconds=2.0,
        segment_count=1,
    )
    speech = (0.1 * np.sin(np.linspace(0, 400 * np.pi, 2 * RATE))).astype(np.float32)
    pcm = (np.repeat(speech[:, None], 2, axis=1) * 32767).astype("<i2").tobytes()
    media.put_bytes("base/audio.wav", wav_bytes(pcm, RATE, 2), "audio/wav")
    campaign = Campaign(
        account_id=account_id,
        campaign_id=campaign_id,
        name="Q4",
        script="Hi {first_name}, a quick idea.",
        base_video=BaseVideo(
            upload_id="upl_x", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
        ),
    )
    campaign = campaign.model_copy(
        update={"voice": campaign.voice.model_copy(update={"voice_sample_key": sample_key})}
    )
    return campaigns, media, campaigns.add(campaign)


def _key(campaign: Campaign, upload: str = "upl_00000000000000000000000001") -> str:
    return f"uploads/{campaign.account_id}/{campaign.campaign_id}/base_video/{upload}/me.mp4"


def test_a_sample_stored_by_an_older_version_for_another_tenant_is_not_read() -> None:
    campaigns, media, campaign = _world(None)
    uploads = fakes.FakeObjectStore("uploads")
    foreign = f"uploads/{new_id('acct')}/{new_id('camp')}/base_video/upl_00000000000000000000000001/me.mp4"
    uploads.put_bytes(foreign, b"someone else's voice", "video/mp4")
    campaigns.update(
        campaign.account_id,
        campaign.campaign_id,
        lambda c: c.model_copy(update={"voice": c.voice.model_copy(update={"voice_sample_key": foreign})}),
    )
    voice = service.prepare_voice(
        campaign.account_id, campaign.campaign_id, campaigns, media, uploads, _Aligner()
    )
    assert voice.status is VoiceStatus.NEEDS_ATTENTION
    assert voice.error is not None and "not one of this campaign's uploads" in voice.error
    assert voice.profile is None


def test_a_missing_sample_is_a_clear_failure_not_a_stuck_status() -> None:
    campaigns, media, campaign = _world(None)
    key = _key(campaign)
    campaigns.update(
        campaign.account_id,
        campaign.campaign_id,
        lambda c: c.model_copy(update={"voice": c.voice.model_copy(update={"voice_sample_key": key})}),
    )
    voice = service.prepare_voice(
        campaign.account_id, campaign.campaign_id, campaigns, media, fakes.FakeObjectStore(), _Aligner()
    )
    assert voice.status is VoiceStatus.NEEDS_ATTENTION
    assert voice.error is not None and "never uploaded" in voice.error


def test_an_unexpected_failure_leaves_needs_attention_and_is_raised() -> None:
    campaigns, media, campaign = _world(None)
    with pytest.raises(RuntimeError):
        service.prepare_voice(
            campaign.account_id,
            campaign.campaign_id,
            campaigns,
            media,
            fakes.FakeObjectStore(),
            _Aligner(RuntimeError("boom")),
        )
    voice = campaigns.get(campaign.account_id, campaign.campaign_id).voice
    assert voice.status is VoiceStatus.NEEDS_ATTENTION
    assert voice.error is not None and "try again" in voice.error
