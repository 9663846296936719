"""ElevenLabs (HTTPS API) behind the SpeechSynthesizer port: the seller's own cloned voice.

One ``POST /v1/text-to-speech/{voice_id}?output_format=pcm_16000`` per name with httpx; the
official SDK is not needed for one endpoint. Audio comes back as 16 kHz mono 16-bit PCM.

Pronunciation: ElevenLabs honours SSML ``<phoneme alphabet="ipa" ph="…">`` only with the English
models ``eleven_flash_v2``, ``eleven_turbo_v2`` and ``eleven_monolingual_v1``; other models
(including the default ``eleven_multilingual_v2``) *silently skip the tagged word*, so with them
IPA is not sent and the written name is read instead (logged). A respelling is sent as text
(:func:`~chalicelib.domain.speech.pronounce.respelling_to_text`), which every model reads.

The API key is sent only in the ``xi-api-key`` header; it is never logged or put in an error.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import httpx

from chalicelib.adapters.voice import pcm16_to_samples, trim_silence
from chalicelib.domain.errors import FieldIssue, InvalidInputError, SynthesisError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech, Utterance
from chalicelib.domain.speech.pronounce import respelling_to_text

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Models whose SSML phoneme tags are honoured (ElevenLabs docs, "Pronunciation").
PHONEME_MODELS = frozenset({"eleven_flash_v2", "eleven_turbo_v2", "eleven_monolingual_v1"})
LICENCE = "ElevenLabs Terms of Service (the seller's own cloned voice; the seller must hold consent)"


class ElevenLabsSynthesizer:
    """ElevenLabs text-to-speech with the seller's voice.

    Parameters
    ----------
    api_key
        The ElevenLabs API key (a secret: never logged).
    http
        An ``httpx.Client`` to reuse (tests pass one with ``httpx.MockTransport``); by default
        one is created with ``timeout_seconds``.
    model_id
        The ElevenLabs model; see :data:`PHONEME_MODELS` for which honour IPA.
    base_url
        The API's origin.
    """

    name = "elevenlabs"

    def __init__(
        self,
        api_key: str,
        http: httpx.Client | None = None,
        model_id: str = "eleven_multilingual_v2",
        base_url: str = "https://api.elevenlabs.io",
        timeout_seconds: float = 30.0,
    ) -> None:
        if not api_key:
            raise SynthesisError("ElevenLabs is not configured: set TAILORCAST_ELEVENLABS_API_KEY")
        self._key = api_key
        self._http = http or httpx.Client(timeout=timeout_seconds)
        self._model = model_id
        self._base = base_url.rstrip("/")

    def voices(self) -> list[VoiceInfo]:
        """The account's voices (``GET /v1/voices``); cloned ones have ``clones=True``.

        Raises
        ------
        SynthesisError
            ElevenLabs is unreachable or refuses (status and its message).
        """
        response = self._send("GET", "/v1/voices")
        try:
            listed = response.json().get("voices", [])
        except ValueError as exc:
            raise SynthesisError("ElevenLabs returned an unreadable voice list") from exc
        found = []
        for voice in listed:
            category = str(voice.get("category", ""))
            found.append(
                VoiceInfo(
                    voice_id=str(voice.get("voice_id", "")),
                    engine=self.name,
                    language=str((voice.get("labels") or {}).get("language", "multilingual")),
                    description=f"{voice.get('name', 'voice')} ({category or 'voice'})",
                    licence=LICENCE,
                    provenance=f"ElevenLabs {category or 'voice'} on the operator's account",
                    clones=category in ("cloned", "professional"),
                )
            )
        return found

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` in the ElevenLabs voice ``voice_id`` (required: the seller's clone).

        Raises
        ------
        InvalidInputError
            No ``voice_id``, or ElevenLabs does not know it (404).
        SynthesisError
            ElevenLabs is unreachable, refuses (HTTP status and its message), or returns no audio.
        """
        if not voice_id:
            raise InvalidInputError(
                "ElevenLabs needs the seller's voice", [FieldIssue("voice_id", "is required for ElevenLabs")]
            )
        response = self._send(
            "POST",
            f"/v1/text-to-speech/{quote(voice_id, safe='')}",
            params={"output_format": f"pcm_{SAMPLE_RATE}"},
            json={"text": self.request_text(utterance), "model_id": self._model},
        )
        samples = trim_silence(pcm16_to_samples(response.content), SAMPLE_RATE)
        if samples.size == 0:
            raise SynthesisError("ElevenLabs returned no audio for the name")
        return Speech(samples, SAMPLE_RATE)

    def request_text(self, utterance: Utterance) -> str:
        """The ``text`` sent for ``utterance`` (a phoneme tag only for models that honour it)."""
        if utterance.ipa:
            if self._model in PHONEME_MODELS:
                ph = quoteattr(utterance.ipa)
                return f'<phoneme alphabet="ipa" ph={ph}>{escape(utterance.text)}</phoneme>'
            logger.warning(
                "ElevenLabs model ignores IPA; reading the written name", extra={"model_id": self._model}
            )
            return utterance.text
        if utterance.respelling:
            return respelling_to_text(utterance.respelling)
        return utterance.text

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(
                method, self._base + path, headers={"xi-api-key": self._key}, **kwargs
            )
        except httpx.HTTPError as exc:
            logger.error("ElevenLabs unreachable", extra={"error": type(exc).__name__})
            raise SynthesisError(f"ElevenLabs is unreachable ({type(exc).__name__})") from None
        if response.status_code < 400:
            return response
        message = self._scrub(_service_message(response))
        logger.error("ElevenLabs refused", extra={"status": response.status_code, "detail": message})
        if response.status_code == 404 and path.startswith("/v1/text-to-speech/"):
            raise InvalidInputError(
                "ElevenLabs does not know that voice", [FieldIssue("voice_id", message or "not found")]
            )
        raise SynthesisError(f"ElevenLabs refused (HTTP {response.status_code}): {message or 'no message'}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text


def _service_message(response: httpx.Response) -> str:
    """ElevenLabs' error text: ``{"detail": {"status", "message"}}``, a string, or a list."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        parts = [str(detail[k]) for k in ("message", "status") if detail.get(k)]
        return " ".join(parts[:1]) or str(detail)[:300]
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)[:300]
    return str(detail)[:300]
