"""Find each variable's slot in the base audio by forced alignment of the script (pocketsphinx).

pocketsphinx's wheel ships the US English acoustic model, dictionary and language model, so this
runs offline. Forced alignment always produces *some* answer, so it is checked independently:
the audio around each slot is recognized freely (no script) and compared with the script's words
there. That agreement is the slot's confidence.
"""

from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.speech.script import ScriptToken
from chalicelib.voice.pcm import Samples

RATE = 16000  # the acoustic model's rate
FRAMES_PER_SECOND = 100  # pocketsphinx's 10 ms frames
#: Below this agreement between the script and what is heard around a slot, the slot is not trusted.
MIN_CONFIDENCE = 0.5
#: Seconds of audio either side of a slot recognized freely to check the alignment.
CHECK_CONTEXT_SECONDS = 2.5
#: A slot left as a pause must be at least this long to be found.
MIN_PAUSE_SECONDS = 0.15

# espeak-ng IPA → CMU ARPAbet, to add words the dictionary lacks (product names, surnames).
_IPA_TO_ARPABET = {
    "tʃ": "CH",
    "dʒ": "JH",
    "aɪ": "AY",
    "aʊ": "AW",
    "ɔɪ": "OY",
    "eɪ": "EY",
    "oʊ": "OW",
    "əʊ": "OW",
    "ɪə": "IH R",
    "eə": "EH R",
    "ʊə": "UH R",
    "ɜː": "ER",
    "ɝ": "ER",
    "ɚ": "ER",
    "ɐ": "AH",
    "ə": "AH",
    "ʌ": "AH",
    "æ": "AE",
    "ɑː": "AA",
    "ɑ": "AA",
    "ɒ": "AA",
    "ɔː": "AO",
    "ɔ": "AO",
    "ɛ": "EH",
    "e": "EH",
    "ɪ": "IH",
    "i": "IY",
    "iː": "IY",
    "ʊ": "UH",
    "u": "UW",
    "uː": "UW",
    "ᵻ": "IH",
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "ɡ": "G",
    "g": "G",
    "f": "F",
    "v": "V",
    "θ": "TH",
    "ð": "DH",
    "s": "S",
    "z": "Z",
    "ʃ": "SH",
    "ʒ": "ZH",
    "h": "HH",
    "m": "M",
    "n": "N",
    "ŋ": "NG",
    "l": "L",
    "ɹ": "R",
    "r": "R",
    "ɾ": "D",
    "j": "Y",
    "w": "W",
    "ʔ": "T",
    "x": "K",
}
_IPA_KEYS = sorted(_IPA_TO_ARPABET, key=len, reverse=True)


@dataclass(frozen=True)
class Slot:
    """Where a variable is spoken in the base audio, and the pauses around it (seconds)."""

    variable: str
    start: float
    end: float
    confidence: float
    pause_before: float  # silence between the previous word and the slot
    pause_after: float  # silence between the slot and the next word


@dataclass(frozen=True)
class _Word:
    text: str
    start: float
    end: float
    token: int  # index into the script's tokens


def ipa_to_arpabet(ipa: str) -> str:
    """Best-effort ARPAbet for an espeak IPA string (stress and length marks dropped)."""
    ipa = re.sub(r"[ˈˌ‿.\s-]", "", ipa)
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        for key in _IPA_KEYS:
            if ipa.startswith(key, i):
                phones.append(_IPA_TO_ARPABET[key])
                i += len(key)
                break
        else:
            i += 1  # a length mark or diacritic: nothing to say in ARPAbet
    return " ".join(phones)


def pcm16(audio: Samples) -> bytes:
    """Float samples as the 16-bit PCM bytes pocketsphinx decodes."""
    return bytes(np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes())


def ensure_word(decoder: Any, word: str, *, update: bool = False) -> None:
    """Give ``decoder`` a pronunciation for ``word`` if its dictionary lacks one (espeak-ng's IPA
    as ARPAbet). ``update`` rebuilds the active search at once (needed before a keyphrase).

    Raises
    ------
    InvalidInputError
        espeak-ng has no pronunciation for it either.
    """
    if decoder.lookup_word(word) is not None:
        return
    from chalicelib.voice.phonemes import espeak_ipa

    phones = ipa_to_arpabet(espeak_ipa(word))
    if not phones:
        raise InvalidInputError(
            "a script word cannot be pronounced",
            [FieldIssue("script", f"'{word}' has no pronunciation; spell it out as it sounds")],
        )
    decoder.add_word(word, phones, update)


class Aligner:
    """Two pocketsphinx decoders, loaded once per process: one aligns, one recognizes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._align: Any = None
        self._recognize: Any = None

    def _decoders(self) -> tuple[Any, Any]:
        if self._align is None:
            from pocketsphinx import Decoder

            self._align = Decoder(samprate=RATE, loglevel="FATAL")
            self._recognize = Decoder(samprate=RATE, loglevel="FATAL")
        return self._align, self._recognize

    def locate(self, audio: Samples, tokens: list[ScriptToken]) -> list[Slot]:
        """Each slot of ``tokens`` located in ``audio`` (mono float32 at :data:`RATE`).

        Raises
        ------
        InvalidInputError
            The recording does not follow the script, a pause slot has no pause, or a slot's
            confidence is below :data:`MIN_CONFIDENCE` (the message says what to do).
        """
        raw = pcm16(audio)
        duration = len(audio) / RATE
        with self._lock:
            align, recognize = self._decoders()
            words, silences = self._align_words(align, raw, tokens)
            slots = [self._slot(i, t, words, silences, duration) for i, t in enumerate(tokens) if t.is_slot]
            return [self._checked(s, tokens, words, audio, recognize) for s in slots]

    # -- alignment -----------------------------------------------------------------------------

    def _align_words(
        self, decoder: Any, raw: bytes, tokens: list[ScriptToken]
    ) -> tuple[list[_Word], list[tuple[float, float]]]:
        owners: list[int] = []
        spoken: list[str] = []
        for index, token in enumerate(tokens):
            for word in token.text.split():
                ensure_word(decoder, word)
                spoken.append(word)
                owners.append(index)
        try:
            decoder.set_align_text(" ".join(spoken))
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            segments = list(decoder.seg() or [])
        except RuntimeError as exc:
            raise _not_following("the aligner could not fit the script to the audio") from exc
        words: list[_Word] = []
        silences: list[tuple[float, float]] = []
        for seg in segments:
            start, end = seg.start_frame / FRAMES_PER_SECOND, (seg.end_frame + 1) / FRAMES_PER_SECOND
            name = re.sub(r"\(\d+\)$", "", seg.word)
            if name.startswith(("<", "[", "+")):
                silences.append((start, end))
                continue
            if len(words) >= len(spoken) or name != spoken[len(words)]:
                raise _not_following(f"the aligner heard '{name}' out of order")
            words.append(_Word(name, start, end, owners[len(words)]))
        if len(words) != len(spoken):
            raise _not_following(f"only {len(words)} of the script's {len(spoken)} words were placed")
        return words, silences

    @staticmethod
    def _slot(
        index: int,
        token: ScriptToken,
        words: list[_Word],
        silences: list[tuple[float, float]],
        duration: float,
    ) -> Slot:
        assert token.variable is not None
        before = [w for w in words if w.token < index]
        after = [w for w in words if w.token > index]
        inside = [w for w in words if w.token == index]
        prev_end = before[-1].end if before else 0.0
        next_start = after[0].start if after else duration
        if inside:
            start, end = inside[0].start, inside[-1].end
        else:
            # A pause slot: the silence the aligner found between the neighbouring words.
            gap = [s for s in silences if s[0] >= prev_end - 0.011 and s[1] <= next_start + 0.011]
            start, end = (gap[0][0], gap[-1][1]) if gap else (prev_end, next_start)
            if end - start < MIN_PAUSE_SECONDS:
                raise InvalidInputError(
                    "no pause where the name goes",
                    [
                        FieldIssue(
                            f"placeholders.{token.variable}",
                            f"no pause was found for {{{token.variable}}} at {prev_end:.2f} s: leave a clear "
                            "pause there, or say a placeholder name and enter it here",
                        )
                    ],
                )
        return Slot(
            variable=token.variable,
            start=round(start, 3),
            end=round(end, 3),
            confidence=0.0,
            pause_before=round(max(0.0, start - prev_end), 3),
            pause_after=round(max(0.0, next_start - end), 3),
        )

    # -- independent check ---------------------------------------------------------------------

    def _checked(
        self, slot: Slot, tokens: list[ScriptToken], words: list[_Word], audio: Samples, decoder: Any
    ) -> Slot:
        lo = max(0.0, slot.start - CHECK_CONTEXT_SECONDS)
        hi = min(len(audio) / RATE, slot.end + CHECK_CONTEXT_SECONDS)
        expected = [w.text for w in words if w.end > lo and w.start < hi]
        clip = audio[int(lo * RATE) : int(hi * RATE)]
        decoder.start_utt()
        decoder.process_raw(pcm16(clip), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        heard = hyp.hypstr.split() if hyp is not None else []
        confidence = _agreement(self._phones(self._align, expected), self._phones(decoder, heard))
        if confidence < MIN_CONFIDENCE:
            raise InvalidInputError(
                "the slot could not be found reliably",
                [
                    FieldIssue(
                        f"slots.{slot.variable}",
                        f"only {confidence:.0%} of the script around {{{slot.variable}}} was heard near "
                        f"{slot.start:.2f} s (heard: '{' '.join(heard)[:120]}'). Make the script match what "
                        "you said, or set the slot's start and end by hand",
                    )
                ],
            )
        return Slot(**{**slot.__dict__, "confidence": round(confidence, 3)})

    @staticmethod
    def _phones(decoder: Any, words: list[str]) -> list[str]:
        phones: list[str] = []
        for word in words:
            phones += (decoder.lookup_word(word) or "").split()
        return phones


def _agreement(expected: list[str], heard: list[str]) -> float:
    """How much of the expected phone sequence was heard, in order (0–1).

    Phones, not words: the recognizer may spell a word differently ("mr" for "mister") or split
    an unusual one ("guess would" for "dashwood") while hearing the same sounds.
    """
    if not expected:
        return 0.0
    matcher = difflib.SequenceMatcher(None, expected, heard, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(expected)


def _not_following(detail: str) -> InvalidInputError:
    return InvalidInputError(
        "the recording does not follow the script",
        [
            FieldIssue(
                "script",
                f"{detail}. Make the script word-for-word what you say in the video (with the placeholder "
                "name you said, if any), or set the slot by hand",
            )
        ],
    )
