"""Amazon Polly behind the SpeechSynthesizer port.

The name is sent as SSML: IPA as ``<phoneme alphabet="ipa" ph="…">name</phoneme>``, a respelling
as ``<sub alias="…">name</sub>`` (the alias is
:func:`~chalicelib.domain.speech.pronounce.respelling_to_text`), everything XML-escaped. Audio
comes back as 16 kHz mono 16-bit PCM.

The neural engine is asked first; a voice without it (``EngineNotSupportedException``) is retried
with the standard engine. Polly's voices and service terms are AWS's: output may be used
commercially under the AWS Service Terms; the voices themselves are not redistributable.
"""

from __future__ import annotations

import logging
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from chalicelib.adapters.aws_errors import AwsFault, translate_aws_errors
from chalicelib.adapters.voice import pcm16_to_samples, trim_silence
from chalicelib.domain.errors import FieldIssue, InvalidInputError, SynthesisError, TailorcastError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech, Utterance
from chalicelib.domain.speech.pronounce import respelling_to_text

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
            with translate_aws_errors("polly.describe_voices", "", otherwise=_unavailable):
                page = self._client.describe_voices(**kwargs)
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
            with translate_aws_errors("polly.synthesize_speech (audio)", "", otherwise=_unavailable):
                pcm = stream.read() if stream is not None else b""
        except OSError as exc:
            raise _unavailable_code(type(exc).__name__) from exc
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
            with translate_aws_errors(
                "polly.synthesize_speech", "", tolerate=("EngineNotSupportedException",), otherwise=_mapped
            ) as call:
                response = self._synthesize(voice, ssml, engine)
            if call.tolerated is None:
                return response
            logger.info("Polly voice has no %s engine; retrying", engine, extra={"voice_id": voice})
        with translate_aws_errors("polly.synthesize_speech", "", otherwise=_mapped):
            return self._synthesize(voice, ssml, engines[-1])

    def _synthesize(self, voice: str, ssml: str, engine: str) -> Any:
        return self._client.synthesize_speech(
            Engine=engine,
            OutputFormat="pcm",
            SampleRate=str(SAMPLE_RATE),
            Text=ssml,
            TextType="ssml",
            VoiceId=voice,
        )

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


def _mapped(fault: AwsFault) -> TailorcastError:
    if fault.code in _BAD_REQUEST:
        where = {"InvalidSsmlException": "pronunciation", "TextLengthExceededException": "name"}
        return InvalidInputError(
            "Amazon Polly refused the request",
            [FieldIssue(where.get(fault.code, "voice_id"), fault.message or fault.code or "invalid")],
        )
    return _unavailable(fault)


def _unavailable(fault: AwsFault) -> SynthesisError:
    # Throttled, failing, unreachable or refused: the caller cannot fix any of them, so they are
    # all one SynthesisError (503), as the speech port promises.
    return _unavailable_code(fault.code)


def _unavailable_code(code: str) -> SynthesisError:
    logger.error("Amazon Polly request failed", extra={"error_code": code})
    return SynthesisError(f"Amazon Polly is unavailable ({code})")
