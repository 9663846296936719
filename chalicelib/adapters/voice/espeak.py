"""espeak-ng (the Debian binary) behind the SpeechSynthesizer port.

Formant synthesis: robotic, but its English rules pronounce names well and it takes phonemes.
espeak-ng's ``--ipa`` is output only; as input it takes its own phoneme mnemonics (Kirshenbaum-
like ASCII) inside ``[[ … ]]``. IPA is converted to those mnemonics with a table for the English
sounds (checked by a round trip: mnemonics rendered back by ``espeak-ng --ipa`` give the same
IPA); an IPA symbol with no English mnemonic falls back to reading the written name. Respelled
words with a stressed syllable go through :func:`~chalicelib.domain.speech.pronounce.respelling_to_ipa`
the same way; respelled words without capitals are read as text by espeak-ng's own rules.

Licence: espeak-ng and its data are GPL-3.0-or-later; running the binary as a separate process
does not extend the GPL to this code, but redistributing the binary carries its terms.
"""

from __future__ import annotations

import logging

from chalicelib.adapters.voice import speech_from_binary
from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech, Utterance
from chalicelib.domain.speech.pronounce import ipa_segments, is_vowel, respelling_words, word_to_ipa

logger = logging.getLogger(__name__)

LICENCE = "GPL-3.0-or-later (espeak-ng program and voice data)"
PROVENANCE = "espeak-ng 1.51 (Debian package), formant synthesis with rule-based English"
_VOICES = {
    "en-us": ("en-US", "US English (espeak-ng formant voice, male)"),
    "en-gb": ("en-GB", "British English (espeak-ng formant voice, male)"),
    "en-gb-x-rp": ("en-GB", "British English, Received Pronunciation (espeak-ng)"),
    "en-gb-scotland": ("en-GB", "Scottish English (espeak-ng)"),
    "en-029": ("en", "Caribbean English (espeak-ng)"),
}

# IPA segment (see ipa_segments) → espeak-ng English phoneme mnemonic.
_MNEMONICS = {
    "iː": "i:", "i": "i", "ɪ": "I", "ᵻ": "I#", "e": "e", "eɪ": "eI", "ɛ": "E", "æ": "a", "a": "a",
    "ɐ": "a#", "ə": "@", "ɚ": "3", "ɜː": "3:", "ɜ": "3:", "ɝ": "3:", "ʌ": "V", "ɑː": "A:",
    "ɑ": "A:", "ɒ": "0", "ɔː": "O:", "ɔ": "O:", "oː": "o@", "oʊ": "oU", "əʊ": "oU", "o": "oU",
    "ʊ": "U", "uː": "u:", "u": "u:", "aɪ": "aI", "aʊ": "aU", "ɔɪ": "OI",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "ɡ": "g", "f": "f", "v": "v", "θ": "T",
    "ð": "D", "s": "s", "z": "z", "ʃ": "S", "ʒ": "Z", "h": "h", "m": "m", "n": "n", "ŋ": "N",
    "l": "l", "ɫ": "l", "ɹ": "r", "r": "r", "ɾ": "t#", "j": "j", "w": "w", "ʍ": "w", "tʃ": "tS",
    "dʒ": "dZ", "x": "x", "ʔ": "?", "n̩": "n-", "l̩": "l-", "ˈ": "'", "ˌ": ",",
}  # fmt: skip
# A vowel before ɹ that espeak-ng writes as one r-coloured phoneme (CARla → k'A@l@).
_RHOTIC = {"ɑː": "A@", "ɑ": "A@", "ɔː": "O@", "ɔ": "O@", "oː": "o@", "ɛ": "e@", "ɪ": "i@3", "ʊ": "U@"}


class EspeakSynthesizer:
    """espeak-ng via its command line, one process per name (about 10 ms).

    Parameters
    ----------
    binary
        The ``espeak-ng`` executable (a name on ``PATH`` or a path).
    default_voice
        Used when ``synthesize`` is given no ``voice_id``.
    words_per_minute
        Speaking rate (espeak-ng's default is 175; a name in a sentence sounds better slower).
    timeout_seconds
        A run longer than this is killed and reported as a SynthesisError.
    """

    name = "espeak"

    def __init__(
        self,
        binary: str = "espeak-ng",
        default_voice: str = "en-us",
        words_per_minute: int = 150,
        timeout_seconds: float = 20.0,
    ) -> None:
        if default_voice not in _VOICES:
            raise InvalidInputError(f"unknown espeak voice {default_voice!r}", [_voice_issue()])
        self._binary = binary
        self._default_voice = default_voice
        self._wpm = words_per_minute
        self._timeout = timeout_seconds

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(voice_id=vid, engine=self.name, language=lang, description=desc,
                      licence=LICENCE, provenance=PROVENANCE)
            for vid, (lang, desc) in _VOICES.items()
        ]  # fmt: skip

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` with an espeak-ng English voice (IPA and respellings as phonemes).

        Raises
        ------
        InvalidInputError
            ``voice_id`` is not one of the English voices listed by :meth:`voices`.
        SynthesisError
            The binary is missing, fails, times out, or writes no audio.
        """
        voice = voice_id or self._default_voice
        if voice not in _VOICES:
            raise InvalidInputError(f"unknown espeak voice {voice!r}", [_voice_issue()])
        # The text goes on stdin so a name starting with "-" is never read as an option.
        return speech_from_binary(
            "espeak-ng",
            lambda out: [self._binary, "-v", voice, "-s", str(self._wpm), "-w", str(out)],
            self._timeout,
            stdin=espeak_input(utterance),
        )


def espeak_input(utterance: Utterance) -> str:
    """What espeak-ng is given: text, with ``[[mnemonics]]`` for the words whose sounds are known."""
    written = utterance.text.replace("[", "").replace("]", "")
    if utterance.ipa:
        words = [ipa_to_mnemonics(word) for word in utterance.ipa.split()]
        if any(w is None for w in words):
            return written
        return " ".join(f"[[{w}]]" for w in words)
    if utterance.respelling:
        parts = []
        for word in respelling_words(utterance.respelling):
            mnemonics = ipa_to_mnemonics(word_to_ipa(word)) if any(s.stressed for s in word) else None
            parts.append(f"[[{mnemonics}]]" if mnemonics else "-".join(s.letters for s in word))
        return " ".join(parts)
    return written


def ipa_to_mnemonics(ipa: str) -> str | None:
    """espeak-ng phoneme mnemonics for one word of IPA, or ``None`` if a symbol has none."""
    segments = [s for s in ipa_segments(ipa) if s != " "]
    out: list[str] = []
    i = 0
    while i < len(segments):
        segment = segments[i]
        following = segments[i + 1] if i + 1 < len(segments) else None
        after = segments[i + 2] if i + 2 < len(segments) else None
        before_vowel = after is not None and is_vowel(after)
        if segment in _RHOTIC and following in ("ɹ", "r") and not (before_vowel and segment in "ɪʊ"):
            out.append(_RHOTIC[segment])
            # espeak's r-coloured vowel already ends in r; a vowel after needs the r again.
            i += 1 if before_vowel else 2
            continue
        mnemonic = _MNEMONICS.get(segment) or _MNEMONICS.get(_base(segment))
        if mnemonic is None:
            logger.warning(
                "espeak-ng has no phoneme for an IPA symbol; reading the name", extra={"symbol": segment}
            )
            return None
        out.append(mnemonic)
        i += 1
    return "".join(out) or None


def _base(segment: str) -> str:
    base = segment[0]
    return base + "ː" if "ː" in segment[1:] else base


def _voice_issue() -> FieldIssue:
    return FieldIssue("voice_id", f"espeak voices here: {', '.join(_VOICES)}")
