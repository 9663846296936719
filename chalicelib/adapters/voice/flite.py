"""CMU Flite (the Debian ``flite`` binary) behind the SpeechSynthesizer port.

Flite reads text with its own lexicon and letter-to-sound rules, or, with ``-p``, a string of its
US English phones (ARPAbet in lower case). IPA and respellings are turned into phones (respellings
through :func:`~chalicelib.domain.speech.pronounce.respelling_to_ipa`) and said with ``-p``; flite cannot
take IPA itself. Flite's phone input ignores stress (``ao1`` and ``ao`` give identical audio), so
stress is dropped. An IPA symbol with no flite phone falls back to reading the written name.

Licence: flite and its voices (including the CMU ARCTIC ``slt``/``awb``/``rms`` and the ``kal``
diphone voices) are under CMU's permissive BSD-style licence (``/usr/share/doc/flite/copyright``:
use, modify and distribute, keep the notice, mark modifications, no endorsement).
"""

from __future__ import annotations

import logging

from chalicelib.adapters.voice import speech_from_binary
from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech, Utterance
from chalicelib.domain.speech.pronounce import ipa_segments, respelling_to_ipa

logger = logging.getLogger(__name__)

LICENCE = "CMU Flite licence (BSD-style: keep the notice, mark modifications, no endorsement)"
_ARCTIC = "CMU ARCTIC database (CMU, BSD-style), clustergen voice built into Debian's flite 2.2"
_VOICES = {
    "slt": ("US English female (CMU ARCTIC slt), 16 kHz", _ARCTIC),
    "rms": ("US English male (CMU ARCTIC rms), 16 kHz", _ARCTIC),
    "awb": ("Scottish English male (CMU ARCTIC awb), 16 kHz", _ARCTIC),
    "kal16": ("US English male diphone voice (kal), 16 kHz", "CMU Festival kal diphones, built into flite"),
    "kal": ("US English male diphone voice (kal), 8 kHz", "CMU Festival kal diphones, built into flite"),
}

# IPA segment (see ipa_segments) → flite's US English phone.
_FLITE_PHONES = {
    "iː": "iy", "i": "iy", "ɪ": "ih", "ᵻ": "ih", "e": "ey", "eɪ": "ey", "ɛ": "eh", "æ": "ae",
    "a": "aa", "ɐ": "ax", "ə": "ax", "ɚ": "er", "ɜː": "er", "ɜ": "er", "ɝ": "er", "ʌ": "ah",
    "ɑː": "aa", "ɑ": "aa", "ɒ": "aa", "ɔː": "ao", "ɔ": "ao", "oː": "ao", "oʊ": "ow", "əʊ": "ow",
    "o": "ow", "ʊ": "uh", "uː": "uw", "u": "uw", "aɪ": "ay", "aʊ": "aw", "ɔɪ": "oy",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "ɡ": "g", "f": "f", "v": "v", "θ": "th",
    "ð": "dh", "s": "s", "z": "z", "ʃ": "sh", "ʒ": "zh", "h": "hh", "m": "m", "n": "n",
    "ŋ": "ng", "l": "l", "ɫ": "l", "ɹ": "r", "r": "r", "ɾ": "t", "j": "y", "w": "w", "ʍ": "w",
    "tʃ": "ch", "dʒ": "jh", "x": "k", "ʔ": "t", "n̩": "ax n", "l̩": "ax l", "m̩": "ax m",
}  # fmt: skip


class FliteSynthesizer:
    """Flite via its command line, one process per name (about 20 ms).

    Parameters
    ----------
    binary
        The ``flite`` executable (a name on ``PATH`` or a path).
    default_voice
        Used when ``synthesize`` is given no ``voice_id``.
    timeout_seconds
        A run longer than this is killed and reported as a SynthesisError.
    """

    name = "flite"

    def __init__(
        self, binary: str = "flite", default_voice: str = "slt", timeout_seconds: float = 20.0
    ) -> None:
        if default_voice not in _VOICES:
            raise InvalidInputError(f"unknown flite voice {default_voice!r}", [_voice_issue()])
        self._binary = binary
        self._default_voice = default_voice
        self._timeout = timeout_seconds

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(voice_id=vid, engine=self.name, language="en-US" if vid != "awb" else "en-GB",
                      description=desc, licence=LICENCE, provenance=prov)
            for vid, (desc, prov) in _VOICES.items()
        ]  # fmt: skip

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` with a flite voice (IPA and respellings as flite phones).

        Raises
        ------
        InvalidInputError
            ``voice_id`` is not one of flite's built-in voices here.
        SynthesisError
            The binary is missing, fails, times out, or writes no audio.
        """
        voice = voice_id or self._default_voice
        if voice not in _VOICES:
            raise InvalidInputError(f"unknown flite voice {voice!r}", [_voice_issue()])
        phones = flite_phones(utterance)
        source = ["-p", phones] if phones else ["-t", utterance.text]
        return speech_from_binary(
            "flite", lambda out: [self._binary, "-voice", voice, *source, "-o", str(out)], self._timeout
        )


def flite_phones(utterance: Utterance) -> str | None:
    """The ``-p`` phone string for an utterance's IPA or respelling; ``None`` to read the text.

    ``None`` too when the IPA has a symbol flite has no phone for (logged): the written name is
    a better fallback than a sound dropped from the middle of it.
    """
    if utterance.ipa:
        ipa = utterance.ipa
    elif utterance.respelling:
        ipa = respelling_to_ipa(utterance.respelling)
    else:
        return None
    phones: list[str] = []
    for segment in ipa_segments(ipa, stress_on_vowel=False):
        if segment in "ˈˌ ":
            continue
        phone = _FLITE_PHONES.get(segment) or _FLITE_PHONES.get(_base(segment))
        if phone is None:
            logger.warning(
                "flite has no phone for an IPA symbol; reading the name", extra={"symbol": segment}
            )
            return None
        phones.append(phone)
    return f"pau {' '.join(phones)} pau" if phones else None


def _base(segment: str) -> str:
    """The segment without diacritics, keeping a length mark (``ẽː`` → ``eː``, ``tʰ`` → ``t``)."""
    base = segment[0]
    return base + "ː" if "ː" in segment[1:] else base


def _voice_issue() -> FieldIssue:
    return FieldIssue("voice_id", f"flite voices here: {', '.join(_VOICES)}")
