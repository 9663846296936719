"""The voice function: one container-image Lambda (``layers/voice``) with three actions.

* ``prepare`` — locate the slots and learn the seller's voice (after the base video is ready,
  or when the seller asks);
* ``synthesize`` — one prospect's names laid into the base audio (the render pipeline's step
  before the render state);
* ``preview`` — one name in context, before anything is rendered.

Not a Chalice function: its engines and models are too big for a zip package. It reads the same
settings and uses the same adapters as every other function. Callers that want domain errors
back as data (the API) send ``raise_errors: false``; Step Functions lets them raise, so a
``Catch`` sees the error's name.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib import dependencies as deps
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.errors import InvalidInputError, TailorcastError, error_to_dict, issues_from_validation
from chalicelib.observability import log_keys, logger


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)


class SynthesizeRequest(_Request):
    prospect_id: str = Field(min_length=1)


class PreviewRequest(_Request):
    values: dict[str, str] = Field(min_length=1)  # variable → the name to say
    pronunciations: dict[str, str] = Field(default_factory=dict)  # variable → /IPA/ or respelling


@lru_cache(maxsize=1)
def _aligner() -> Any:
    from chalicelib.voice.align import Aligner

    return Aligner()


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.voice import service

    request = _Request.model_validate(event)
    voice = service.prepare_voice(
        request.account_id,
        request.campaign_id,
        deps.get_campaign_repo(),
        deps.get_media_store(),
        deps.get_upload_store(),
        _aligner(),
    )
    return voice.model_dump(mode="json")


def synthesize(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.voice import service

    request = SynthesizeRequest.model_validate(event)
    campaign = owned_campaign(deps.get_campaign_repo(), request.account_id, request.campaign_id)
    prospect = deps.get_prospect_repo().get(request.account_id, request.campaign_id, request.prospect_id)
    values = {
        "first_name": prospect.first_name,
        "last_name": prospect.last_name or "",
        "company": prospect.company or "",
    }
    voiced = service.voice_names(
        campaign,
        values,
        {"first_name": prospect.pronunciation},  # the seed's per-prospect override is for the name
        service.lexicon_map(deps.get_lexicon_repo(), request.account_id),
        deps.get_media_store(),
        deps.get_synthesizer,
        f"{request.account_id}/{request.campaign_id}/voice/{request.prospect_id}",
    )
    return voiced.as_dict()


def preview(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.voice import service

    request = PreviewRequest.model_validate(event)
    campaign = owned_campaign(deps.get_campaign_repo(), request.account_id, request.campaign_id)
    voiced = service.voice_names(
        campaign,
        request.values,
        dict(request.pronunciations),
        service.lexicon_map(deps.get_lexicon_repo(), request.account_id),
        deps.get_media_store(),
        deps.get_synthesizer,
        f"{request.account_id}/{request.campaign_id}/voice/previews",
        context_seconds=service.PREVIEW_CONTEXT_SECONDS,
    )
    return voiced.as_dict()


ACTIONS = {"prepare": prepare, "synthesize": synthesize, "preview": preview}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``{"action": ..., ...}`` → ``{"result": ...}`` or ``{"error": ...}``."""
    raise_errors = bool(event.get("raise_errors", True))
    action = ACTIONS.get(str(event.get("action")))
    log_keys(**{k: v for k, v in event.items() if k.endswith("_id") and isinstance(v, str)})
    try:
        if action is None:
            raise InvalidInputError(
                f"unknown voice action {event.get('action')!r}; one of: {', '.join(ACTIONS)}"
            )
        try:
            result = action(event)
        except ValidationError as exc:
            raise InvalidInputError("bad voice request", issues_from_validation(exc, "event")) from exc
    except TailorcastError as exc:
        logger.info("voice action refused", extra={"action": event.get("action"), "error": exc.code})
        if raise_errors:
            raise
        return {"error": error_to_dict(exc)}
    return {"result": result}
