"""Voice: how a campaign's names are spoken, the slots, previews, and the pronunciation lexicon."""

from __future__ import annotations

from urllib.parse import unquote

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import voice
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.models import CampaignVoice, Placeholders, PronunciationEntry, VoiceEngine, VoiceStatus
from chalicelib.media.audio import recording_seconds
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class VoiceUpdate(Strict):
    engine: VoiceEngine | None = None
    voice_id: str | None = Field(default=None, max_length=200, description="the engine's voice; '' resets")
    placeholders: Placeholders | None = Field(
        default=None,
        description="what you said in each slot, e.g. {'first_name': 'John'}; leave one out for a pause",
    )
    voice_sample_key: str | None = Field(default=None, max_length=1024)


class SlotIn(Strict):
    variable: str = Field(min_length=1, max_length=40)
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    pause_before: float = Field(default=0.0, ge=0, le=5)
    pause_after: float = Field(default=0.0, ge=0, le=5)


class SlotsIn(Strict):
    slots: list[SlotIn] = Field(min_length=1, max_length=3)


class PreviewIn(Strict):
    first_name: str | None = Field(default=None, max_length=300)
    last_name: str | None = Field(default=None, max_length=300)
    company: str | None = Field(default=None, max_length=300)
    pronunciations: dict[str, str] = Field(
        default_factory=dict, description="per variable: /IPA/ or a respelling like shi-VAWN"
    )


class NameQualityOut(BaseModel):
    variable: str
    f0_offset_semitones: float | None
    loudness_offset_lu: float
    click_ratio: float
    ok: bool


class PreviewOut(BaseModel):
    url: str
    expires_in: int
    start: float
    end: float
    spoken: dict[str, str]
    notes: list[str]
    quality: list[NameQualityOut]


class PronunciationIn(Strict):
    pronunciation: str = Field(
        min_length=1, max_length=200, description="/IPA/ or a respelling like shi-VAWN"
    )


class PronunciationOut(BaseModel):
    name: str
    pronunciation: str

    @classmethod
    def of(cls, e: PronunciationEntry) -> PronunciationOut:
        return cls(name=e.name, pronunciation=e.pronunciation)


class PronunciationList(BaseModel):
    items: list[PronunciationOut]


@route(
    bp,
    "/campaigns/{campaign_id}/voice",
    "GET",
    summary="How the campaign's names are spoken",
    response=CampaignVoice,
)
def get(principal: Principal, campaign_id: str) -> CampaignVoice:
    return owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id).voice


@route(
    bp,
    "/campaigns/{campaign_id}/voice",
    "PATCH",
    summary="Choose the engine and voice, and say what you said in each slot (re-prepares the voice)",
    body=VoiceUpdate,
    response=CampaignVoice,
)
def update(principal: Principal, campaign_id: str, body: VoiceUpdate) -> CampaignVoice:
    campaign, again = voice.configure_voice(
        campaigns=deps.get_campaign_repo(),
        uploads=deps.get_upload_store(),
        account_id=principal.account_id,
        campaign_id=campaign_id,
        **body.model_dump(exclude_unset=True),
        check_recording=lambda data: recording_seconds(data, what="recording"),
    )
    if again:
        deps.get_voice_runner().start(
            "prepare", {"account_id": principal.account_id, "campaign_id": campaign_id}
        )
        return campaign.voice.model_copy(update={"status": VoiceStatus.PREPARING})
    return campaign.voice


@route(
    bp,
    "/campaigns/{campaign_id}/voice/align",
    "POST",
    creates=True,
    summary="Locate the slots in the base video and learn the voice now (waits for the result)",
    response=CampaignVoice,
)
def align(principal: Principal, campaign_id: str) -> CampaignVoice:
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    if not voice.base_ready(campaign):
        raise ConflictError("the campaign's base video is not ready yet")
    result = deps.get_voice_runner().call(
        "prepare", {"account_id": principal.account_id, "campaign_id": campaign_id}
    )
    return CampaignVoice.model_validate(result)


@route(
    bp,
    "/campaigns/{campaign_id}/voice/slots",
    "PUT",
    summary="Set the slots' start and end by hand (overrides the alignment)",
    body=SlotsIn,
    response=CampaignVoice,
)
def put_slots(principal: Principal, campaign_id: str, body: SlotsIn) -> CampaignVoice:
    return voice.set_slots(
        deps.get_campaign_repo(),
        principal.account_id,
        campaign_id,
        [voice.SlotInput(**s.model_dump()) for s in body.slots],
    )


@route(
    bp,
    "/campaigns/{campaign_id}/voice/preview",
    "POST",
    creates=True,
    summary="Hear a name spliced into the video's audio before anything is rendered",
    body=PreviewIn,
    response=PreviewOut,
)
def preview(principal: Principal, campaign_id: str, body: PreviewIn) -> PreviewOut:
    values = body.model_dump(include={"first_name", "last_name", "company"}, exclude_none=True)
    voice.check_preview(values, body.pronunciations)
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    result = deps.get_voice_runner().call(
        "preview",
        {
            "account_id": principal.account_id,
            "campaign_id": campaign_id,
            "values": values,
            "pronunciations": body.pronunciations,
        },
    )
    ttl = get_settings().download_url_ttl_seconds
    url = deps.get_media_store().presign_get(result["audio_key"], ttl, filename="preview.wav")
    return PreviewOut(
        url=url, expires_in=ttl, **{k: result[k] for k in ("start", "end", "spoken", "notes", "quality")}
    )


@route(
    bp, "/pronunciations", "GET", summary="The account's pronunciation lexicon", response=PronunciationList
)
def list_pronunciations(principal: Principal) -> PronunciationList:
    return PronunciationList(
        items=[PronunciationOut.of(e) for e in deps.get_lexicon_repo().list(principal.account_id)]
    )


@route(
    bp,
    "/pronunciations/{name}",
    "PUT",
    summary="Say this name this way in every campaign",
    body=PronunciationIn,
    response=PronunciationOut,
)
def put_pronunciation(principal: Principal, name: str, body: PronunciationIn) -> PronunciationOut:
    entry = voice.put_pronunciation(
        deps.get_lexicon_repo(), principal.account_id, unquote(name), body.pronunciation
    )
    return PronunciationOut.of(entry)


@route(bp, "/pronunciations/{name}", "DELETE", summary="Forget how to say this name", status=204)
def delete_pronunciation(principal: Principal, name: str) -> None:
    voice.delete_pronunciation(deps.get_lexicon_repo(), principal.account_id, unquote(name))
