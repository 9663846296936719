"""Amazon Polly behind the SpeechSynthesizer port.

The name is sent as SSML: IPA as ``<phoneme alphabet="ipa" ph="…">name</phoneme>``, a respelling
as ``<sub alias="…">name</sub>`` (the alias is :func:`~chalicelib.voice.pronounce.respelling_to_text`),
everything XML-escaped. Audio comes back as 16 kHz mono 16-bit PCM.

The neural engine is asked first; a voice without it (``EngineNotSupportedException``) is retried
with the standard engine. Polly's voices and service terms are AWS's: output may be used
commercially under the AWS Service Terms; the voices themselves are not redistributable.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.voice import pcm16_to_samples, trim_silence
from chalicelib.domain.errors import FieldIssue, InvalidInputError, SynthesisError, TailorcastError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.voice.pronounce import respelling_to_text
from chalicelib.voice.speech import Speech, Utterance

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
LICENCE = "Amazon Polly, AWS Service Terms (synthesized audio may be used commercially; voices are AWS's)"
_ENGINES = ("neural", "standard")
# Errors that mean the request (voice, engine, SSML) was wrong rather than the service down.
_BAD_REQUEST = {
    "ValidationException",
    "LanguageNotSupportedException",
    "EngineNotSupportedException",
    "InvalidSsmlException",
    "TextLengthExceededException",
}


class PollySynthesizer:
    """Amazon Polly through an injected boto3 ``polly`` client.

    Parameters
    ----------
    client
        ``boto3.client("polly")`` (built lazily by the caller, never at import).
    default_voice
        Used when ``synthesize`` is given no ``voice_id``.
    engine
        ``"neural"`` (falls back to ``"standard"`` for voices without it) or ``"standard"``.
    """

    name = "polly"

    def __init__(self, client: Any, default_voice: str = "Matthew", engine: str = "neural") -> None:
        if engine not in _ENGINES:
            raise InvalidInputError(
                f"unknown Polly engine {engine!r}", [FieldIssue("engine", "must be neural or standard")]
            )
        self._client = client
        self._default_voice = default_voice
        self._engine = engine

    def voices(self) -> list[VoiceInfo]:
        """Polly's English voices (one ``DescribeVoices`` listing, all pages).

        Raises
        ------
        SynthesisError
            Polly could not be reached or refused.
        """
        found: list[VoiceInfo] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            try:
                page = self._client.describe_voices(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(exc) from exc
            for voice in page.get("Voices", []):
                language = str(voice.get("LanguageCode", ""))
                if not language.startswith("en"):
                    continue
                engines = ", ".join(voice.get("SupportedEngines", []))
                found.append(
                    VoiceInfo(
                        voice_id=str(voice["Id"]),
                        engine=self.name,
                        language=language,
                        description=f"{voice.get('Name', voice['Id'])}, {voice.get('Gender', '')} "
                        f"{voice.get('LanguageName', language)} ({engines})".replace("  ", " "),
                        licence=LICENCE,
                        provenance="Amazon Polly managed voice",
                    )
                )
            token = page.get("NextToken")
            if not token:
                return found

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` with a Polly voice, as 16 kHz PCM.

        Raises
        ------
        InvalidInputError
            The voice is not a Polly voice, or Polly rejects it (or the SSML) as invalid.
        SynthesisError
            Polly is unreachable, throttled, failing, or returns no audio.
        """
        voice = voice_id or self._default_voice
        known = self._known_voices()
        if known and voice not in known:
            raise InvalidInputError(
                f"unknown Polly voice {voice!r}", [FieldIssue("voice_id", "is not a Polly voice")]
            )
        response = self._request(voice, to_ssml(utterance))
        stream = response.get("AudioStream")
        try:
            pcm = stream.read() if stream is not None else b""
        except (BotoCoreError, OSError) as exc:
            raise _unavailable(exc) from exc
        finally:
            if stream is not None:
                stream.close()
        samples = trim_silence(pcm16_to_samples(pcm), SAMPLE_RATE)
        if samples.size == 0:
            raise SynthesisError("Amazon Polly returned no audio for the name")
        return Speech(samples, SAMPLE_RATE)

    def _request(self, voice: str, ssml: str) -> Any:
        engines = _ENGINES[_ENGINES.index(self._engine) :]
        for engine in engines[:-1]:
            try:
                return self._synthesize(voice, ssml, engine)
            except ClientError as exc:
                if _error_code(exc) != "EngineNotSupportedException":
                    raise _mapped(exc) from exc
                logger.info("Polly voice has no %s engine; retrying", engine, extra={"voice_id": voice})
        try:
            return self._synthesize(voice, ssml, engines[-1])
        except ClientError as exc:
            raise _mapped(exc) from exc

    def _synthesize(self, voice: str, ssml: str, engine: str) -> Any:
        try:
            return self._client.synthesize_speech(
                Engine=engine,
                OutputFormat="pcm",
                SampleRate=str(SAMPLE_RATE),
                Text=ssml,
                TextType="ssml",
                VoiceId=voice,
            )
        except BotoCoreError as exc:  # no network, no credentials, …
            raise _unavailable(exc) from exc

    def _known_voices(self) -> frozenset[str]:
        """Polly's voice ids from the client's service model (no request); empty if unknown."""
        try:
            shape = self._client.meta.service_model.shape_for("VoiceId")
            return frozenset(str(v) for v in shape.enum)
        except Exception:
            return frozenset()


def to_ssml(utterance: Utterance) -> str:
    """The SSML Polly is sent for ``utterance`` (everything escaped)."""
    text = escape(utterance.text)
    if utterance.ipa:
        body = f'<phoneme alphabet="ipa" ph={quoteattr(utterance.ipa)}>{text}</phoneme>'
    elif utterance.respelling:
        body = f"<sub alias={quoteattr(respelling_to_text(utterance.respelling))}>{text}</sub>"
    else:
        body = text
    return f"<speak>{body}</speak>"


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _error_message(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        return str(message) if message else None
    return None


def _mapped(exc: ClientError) -> TailorcastError:
    code = _error_code(exc)
    if code in _BAD_REQUEST:
        where = {"InvalidSsmlException": "pronunciation", "TextLengthExceededException": "name"}
        return InvalidInputError(
            "Amazon Polly refused the request",
            [FieldIssue(where.get(code or "", "voice_id"), _error_message(exc) or code or "invalid")],
        )
    return _unavailable(exc)


def _unavailable(exc: Exception) -> SynthesisError:
    code = _error_code(exc) or type(exc).__name__
    logger.error("Amazon Polly request failed", extra={"error_code": code})
    return SynthesisError(f"Amazon Polly is unavailable ({code})")
