"""What a prospect's video is rendered from: its ``{variables}``, its name card, its inputs digest.

Pure rules over a campaign and a prospect: :func:`prospect_values` and :func:`fill` (the name card's
text), :func:`overlay_for`, :func:`inputs_hash` (equal digests → the same video, so an unchanged
prospect is skipped) and :func:`check_renderable` (what the seller must do before a batch starts).
Imports nothing else from this package.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.models import Campaign, NameCard, OverlayText, Prospect, UploadStatus, VoiceStatus
from chalicelib.domain.speech.pronounce import normalize_key

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_ ]*)\}")


def prospect_values(prospect: Prospect) -> dict[str, str]:
    """What ``{variables}`` a prospect fills in: the standard fields and its custom fields."""
    values = {k: v for k, v in prospect.custom_fields.items()}
    values.update(
        first_name=prospect.first_name,
        last_name=prospect.last_name or "",
        company=prospect.company or "",
        title=prospect.title or "",
    )
    return values


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{variable}`` replaced (unknown or empty ones vanish), spaces tidied."""
    text = _VARIABLE.sub(lambda m: values.get(m.group(1).strip(), ""), template)
    return " ".join(text.split())


def overlay_for(card: NameCard | None, prospect: Prospect) -> OverlayText | None:
    """The prospect's name card, or ``None`` when the campaign has none or it renders empty."""
    if card is None:
        return None
    values = prospect_values(prospect)
    text = fill(card.text, values)[:80]
    if not text:
        return None
    subtitle = fill(card.subtitle, values)[:80] if card.subtitle else ""
    return OverlayText(text=text, subtitle=subtitle or None)


def inputs_hash(campaign: Campaign, prospect: Prospect, lexicon: Mapping[str, str]) -> str:
    """A digest of everything a prospect's video is rendered from: the base, the voice set-up,
    the names and how they are pronounced, the card. Equal digests → the same video."""
    voice = campaign.voice
    names = [prospect.first_name, prospect.last_name or "", prospect.company or ""]
    keys = {normalize_key(n) for n in names if n} | {normalize_key(w) for n in names for w in n.split() if w}
    parts = {
        "base": campaign.base_video.upload_id if campaign.base_video else None,
        "engine": voice.engine.value,
        "voice_id": voice.voice_id,
        "slots": [s.model_dump(mode="json") for s in voice.slots],
        "prepared_at": voice.prepared_at.isoformat() if voice.prepared_at else None,
        "names": names,
        "pronunciation": prospect.pronunciation,
        "lexicon": {k: lexicon[k] for k in sorted(keys) if k in lexicon},
        "card": (o.model_dump(mode="json") if (o := overlay_for(campaign.name_card, prospect)) else None),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def check_renderable(campaign: Campaign) -> None:
    """Raise ``ConflictError`` saying what the seller must do first, if anything."""
    base = campaign.base_video
    if base is None or base.status is not UploadStatus.READY:
        state = "no base video yet" if base is None else f"the base video is {base.status.value}"
        raise ConflictError(
            f"the campaign cannot render: {state}; upload a base video and wait until it is ready"
        )
    voice = campaign.voice
    if voice.status is not VoiceStatus.READY:
        why = voice.error or f"the voice is {voice.status.value}"
        raise ConflictError(f"the campaign cannot render yet: {why}")
    if voice.prepared_upload_id is not None and voice.prepared_upload_id != base.upload_id:
        # The slots are times in the audio the voice was prepared on: a replaced base video's
        # names sit elsewhere, until the voice is prepared again (it starts when the base is ready).
        raise ConflictError(
            "the campaign cannot render yet: the voice is not prepared for the new base video yet "
            "(it starts once the video is ready; POST …/voice/align prepares it now)"
        )
