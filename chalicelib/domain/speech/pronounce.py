"""Pronunciation overrides: how a seller tells the voice to say a name it would get wrong.

A pronunciation is written one of two ways:

* **IPA** between slashes or square brackets: ``/ʃɪˈvɔːn/``. Exact, for sellers who know it.
* **A respelling**: ``shi-VAWN``. Hyphen-separated syllables, the stressed one in capitals, spelt
  the way an English reader would sound them out (the convention of Wikipedia's pronunciation
  respelling key: ``ee`` /iː/, ``ay`` /eɪ/, ``ah`` /ɑː/, ``aw`` /ɔː/, ``oh`` /oʊ/, ``oo`` /uː/,
  ``uh`` /ʌ/, ``zh`` /ʒ/, ``kh`` /x/ …).

Overrides come from the prospect (highest precedence) or from the account's lexicon (a mapping
from :func:`normalize_key` of a name to a pronunciation). :func:`resolve_utterance` turns a name
into the :class:`~chalicelib.domain.speech.Utterance` an engine says. Engines that take phonemes
use :func:`respelling_to_ipa` and :func:`ipa_segments`; engines that only take text use
:func:`respelling_to_text`.

Pure Python; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.domain.speech import Utterance

#: The longest pronunciation accepted, delimiters included.
MAX_PRONUNCIATION_CHARS = 100

#: IPA symbols that can be the nucleus of a syllable (used to place stress marks).
IPA_VOWELS = frozenset("aeiouyæøœɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵɶʉʊʌʏᵻ")
STRESS_MARKS = frozenset("ˈˌ")

_SYLLABIC = "\u0329"  # combining vertical line below: n̩, l̩
_NON_SYLLABIC = "\u032f"  # combining inverted breve below: the glide of a diphthong (aɪ̯)
_TIES = frozenset("\u0361\u035c")
_MODIFIERS = frozenset("ːˑʰʲʷ˞ˤⁿˡ")
# Symbols that are one sound though written with two letters.
_MERGED = frozenset({"aɪ", "aʊ", "eɪ", "oʊ", "ɔɪ", "əʊ", "tʃ", "dʒ"})
_IPA_EXTRA = frozenset("æçðøœħŋθβχɸɣεʧʤʦ :.'‿|‖-")
_IPA_SPELLINGS = {"ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "g": "ɡ", ":": "ː", "'": "ˈ"}


@dataclass(frozen=True)
class Pronunciation:
    """How to say a name: IPA (without delimiters) or a respelling (``shi-VAWN``)."""

    kind: Literal["ipa", "respelling"]
    value: str


def parse_pronunciation(text: str, field: str = "pronunciation") -> Pronunciation:
    """Read a seller's pronunciation: IPA between ``/…/`` or ``[…]``, else a respelling.

    IPA is normalized (NFC; ``:`` → ``ː``, ``'`` → ``ˈ``, ``g`` → ``ɡ``; spaces collapsed). A
    respelling is kept as written, spaces collapsed.

    Raises
    ------
    InvalidInputError
        Empty; longer than :data:`MAX_PRONUNCIATION_CHARS`; digits; unbalanced delimiters; IPA
        with characters outside the IPA; a respelling with anything but letters a–z,
        apostrophes, hyphens and spaces, empty syllables, or capitals that do not mark one
        stressed syllable. The issue (located at ``field``) says which and how to fix it.
    """

    def invalid(reason: str) -> InvalidInputError:
        return InvalidInputError("the pronunciation cannot be used", [FieldIssue(field, reason)])

    stripped = " ".join(text.split())
    if not stripped:
        raise invalid("is empty")
    if len(stripped) > MAX_PRONUNCIATION_CHARS:
        raise invalid(f"is longer than {MAX_PRONUNCIATION_CHARS} characters")
    if any(unicodedata.category(ch) == "Nd" for ch in stripped):
        raise invalid("contains digits; write the sounds with letters (e.g. shi-VAWN) or IPA (/ʃɪˈvɔːn/)")

    opened, closed = stripped[0], stripped[-1]
    delimited = opened in "/[" or closed in "/]" or "/" in stripped or "[" in stripped or "]" in stripped
    if not delimited:
        try:
            parse_respelling(stripped)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        return Pronunciation("respelling", stripped)

    pairs = {"/": "/", "[": "]"}
    if len(stripped) < 2 or opened not in pairs or closed != pairs[opened]:
        raise invalid("has unbalanced slashes or brackets; write IPA between two slashes, like /ʃɪˈvɔːn/")
    inner = stripped[1:-1].strip()
    if any(ch in "/[]" for ch in inner):
        raise invalid("has unbalanced slashes or brackets; write IPA between two slashes, like /ʃɪˈvɔːn/")
    if not inner:
        raise invalid("has nothing between the slashes")
    inner = unicodedata.normalize("NFC", inner)
    bad = sorted({ch for ch in inner if not _is_ipa_char(ch)})
    if bad:
        shown = " ".join(bad)
        raise invalid(f"contains characters that are not IPA: {shown}")
    value = "".join(_IPA_SPELLINGS.get(ch, ch) for ch in inner)
    if not any(unicodedata.category(ch)[0] == "L" and ch not in STRESS_MARKS | _MODIFIERS for ch in value):
        raise invalid("has no sounds between the slashes")
    return Pronunciation("ipa", unicodedata.normalize("NFC", value))


def normalize_key(name: str) -> str:
    """The account-lexicon key for a name: NFKC, case-folded, curly apostrophes straightened,
    whitespace collapsed (``"  SIOBHAN  o’brien"`` → ``"siobhan o'brien"``)."""
    text = unicodedata.normalize("NFKC", name).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.casefold().split())


def resolve_utterance(name: str, override: str | None, lexicon: Mapping[str, str]) -> Utterance:
    """What to say for ``name`` (already sanitized), honouring overrides.

    Precedence: the prospect's ``override`` > the lexicon entry for the whole name > the written
    name. Lexicon keys are matched by :func:`normalize_key`; values use the override syntax.

    For a name of several words with no whole-name entry, per-word entries are used:

    * every word has an entry → one pronunciation: a respelling if all are respellings, else IPA
      (respellings converted with :func:`respelling_to_ipa`);
    * only some words have entries, all respellings → a respelling in which the other words are
      their written form in lower case (``"Siobhan Marie"`` → ``"shi-VAWN marie"``). A word with
      no capitals carries no stress, and engines read such a word with their own letter-to-sound
      rules, so the written words sound as they would without the lexicon;
    * only some words have entries and one is IPA, or an uncovered word is not plain a–z
      (``"Zoë"``) → the written name. IPA cannot be mixed with written words without a
      phonemizer, which this pure module does not have; the seller can add a whole-name entry.

    Raises
    ------
    InvalidInputError
        The override (field ``pronunciation``) or a used lexicon entry (field ``lexicon``) is
        malformed.
    """
    if override is not None and override.strip():
        return _utterance(name, parse_pronunciation(override, "pronunciation"))

    entries = {normalize_key(key): value for key, value in lexicon.items()}
    key = normalize_key(name)
    if key in entries:
        return _utterance(name, parse_pronunciation(entries[key], "lexicon"))

    words = key.split(" ")
    found = [parse_pronunciation(entries[w], "lexicon") if w in entries else None for w in words]
    if len(words) < 2 or not any(found):
        return Utterance(name)
    if all(p is not None for p in found):
        parts = [p for p in found if p is not None]
        if all(p.kind == "respelling" for p in parts):
            return Utterance(name, respelling=" ".join(p.value for p in parts))
        ipa = " ".join(p.value if p.kind == "ipa" else respelling_to_ipa(p.value) for p in parts)
        return Utterance(name, ipa=ipa)
    if any(p is not None and p.kind == "ipa" for p in found):
        return Utterance(name)
    mixed: list[str] = []
    for word, pron in zip(words, found, strict=True):
        if pron is not None:
            mixed.append(pron.value)
        elif re.fullmatch(r"[a-z'-]*[a-z][a-z'-]*", word) and "--" not in word:
            mixed.append(word.strip("-"))
        else:
            return Utterance(name)
    return Utterance(name, respelling=" ".join(mixed))


def has_pronunciation(name: str, override: str | None, lexicon: Mapping[str, str]) -> bool:
    """Whether ``name`` will be spoken from a pronunciation, not its spelling.

    True for a non-blank override, a lexicon entry for the whole name, or entries for every
    word. Pass it to :func:`~chalicelib.domain.speech.names.sanitize_name` so a name in a script the
    voices cannot read is accepted when the seller has said how to pronounce it.
    """
    if override is not None and override.strip():
        return True
    keys = {normalize_key(key) for key in lexicon}
    key = normalize_key(name)
    return key in keys or (bool(key) and all(word in keys for word in key.split(" ")))


def _utterance(name: str, pron: Pronunciation) -> Utterance:
    if pron.kind == "ipa":
        return Utterance(name, ipa=pron.value)
    return Utterance(name, respelling=pron.value)


# --- respellings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Syllable:
    letters: str  # lower case, apostrophes removed
    stressed: bool


def parse_respelling(respelling: str) -> list[list[Syllable]]:
    """Words of syllables. A syllable in capitals is stressed; lower case or Title case is not.

    Raises
    ------
    ValueError
        With a seller-readable reason (:func:`parse_pronunciation` turns it into a field issue).
    """
    if not re.fullmatch(r"[A-Za-z' -]+", respelling):
        raise ValueError(
            "may only contain letters a-z, apostrophes, hyphens and spaces "
            "(write IPA between slashes, like /ʃɪˈvɔːn/)"
        )
    words: list[list[Syllable]] = []
    for word in respelling.split():
        syllables: list[Syllable] = []
        for part in word.split("-"):
            if not part.replace("'", ""):
                raise ValueError("has an empty syllable; separate syllables with one hyphen, like shi-VAWN")
            for letters in _apostrophe_parts(part):
                syllables.append(_syllable(letters))
        if len(syllables) > 1 and all(s.stressed for s in syllables):
            raise ValueError(
                "has every syllable in capitals; capitalize only the stressed one, like shi-VAWN"
            )
        words.append(syllables)
    return words


def respelling_words(respelling: str) -> list[list[Syllable]]:
    """:func:`parse_respelling` for engines: a malformed respelling is the seller's input error.

    Raises
    ------
    InvalidInputError
        The respelling is malformed (field ``pronunciation``).
    """
    try:
        return parse_respelling(respelling)
    except ValueError as exc:
        raise InvalidInputError(
            "the pronunciation cannot be used", [FieldIssue("pronunciation", str(exc))]
        ) from None


def _apostrophe_parts(part: str) -> list[str]:
    """An apostrophe may also separate syllables (``o'BRY-en``); a part with no vowel letter
    (the ``d`` of ``d'ARC``) belongs to the part after it, or before it when it is last."""
    pieces = [p for p in part.split("'") if p]
    out: list[str] = []
    carry = ""
    for piece in pieces:
        if not any(ch in "aeiouyAEIOUY" for ch in piece):
            carry += piece
            continue
        # Glued consonants take the case of the syllable they join.
        out.append((carry.upper() if piece.isupper() else carry.lower()) + piece)
        carry = ""
    if carry:
        if out:
            out[-1] += carry.upper() if out[-1].isupper() else carry.lower()
        else:
            out.append(carry)
    return out


def _syllable(letters: str) -> Syllable:
    if letters.isupper():
        return Syllable(letters.lower(), True)
    if letters.islower() or (letters[0].isupper() and letters[1:].islower()):
        return Syllable(letters.lower(), False)
    raise ValueError(
        "mixes capitals inside a syllable; write the stressed syllable in capitals "
        "and the others in lower case, like shi-VAWN"
    )


def respelling_to_text(respelling: str) -> str:
    """Text an engine without phoneme input reads closest to ``respelling``.

    Lower case, syllables kept apart by hyphens, apostrophes dropped: ``"shi-VAWN"`` →
    ``"shi-vawn"``. Why this form (checked against espeak-ng's and flite's letter-to-sound
    rules, the only engines here whose reading can be inspected offline):

    * **Joining** the syllables (``"shivawn"``) lets the engine re-split them by English spelling
      rules: espeak reads ``shivawn`` as /ʃˈɪvɔːn/ (SHIV-awn) and flite reads ``deeahrmid`` as
      "d r m ax d". Hyphens keep each syllable sounded as written (espeak: /ʃivˈɔːn/; flite:
      ``sh iy v ao n``) without the pause a space can add between words.
    * **Capitals** are dropped because several engines spell out all-capital words (``VAWN`` →
      "V-A-W-N"); the stress they mark cannot be expressed in plain text.

    Raises
    ------
    InvalidInputError
        The respelling is malformed (field ``pronunciation``).
    """
    words = respelling_words(respelling)
    return " ".join("-".join(s.letters for s in word) for word in words)


# Respelling graphemes → IPA (American English, the symbols espeak-ng's en-us uses, which the
# piper voices were trained on). Vowels carry (stressed, unstressed) forms.
_VOWEL_GRAPHEMES: dict[str, tuple[str, str]] = {
    "eye": ("aɪ", "aɪ"),
    "igh": ("aɪ", "aɪ"),
    "ahr": ("ɑːɹ", "ɑːɹ"),
    "air": ("ɛɹ", "ɛɹ"),
    "ear": ("ɪɹ", "ɪɹ"),
    "eer": ("ɪɹ", "ɪɹ"),
    "oor": ("ʊɹ", "ʊɹ"),
    "oar": ("ɔːɹ", "ɔːɹ"),
    "ar": ("ɑːɹ", "ɑːɹ"),
    "or": ("ɔːɹ", "ɔːɹ"),
    "er": ("ɜː", "ɚ"),
    "ur": ("ɜː", "ɚ"),
    "ir": ("ɜː", "ɚ"),
    "ah": ("ɑː", "ɑː"),
    "aw": ("ɔː", "ɔː"),
    "au": ("ɔː", "ɔː"),
    "ay": ("eɪ", "eɪ"),
    "ai": ("eɪ", "eɪ"),
    "ey": ("eɪ", "iː"),  # HEY, but BAI-ley
    "ee": ("iː", "iː"),
    "ea": ("iː", "iː"),
    "ew": ("juː", "juː"),
    "oo": ("uː", "uː"),
    "uu": ("ʊ", "ʊ"),
    "oh": ("oʊ", "oʊ"),
    "oa": ("oʊ", "oʊ"),
    "ow": ("aʊ", "aʊ"),
    "ou": ("aʊ", "aʊ"),
    "oy": ("ɔɪ", "ɔɪ"),
    "oi": ("ɔɪ", "ɔɪ"),
    "uh": ("ʌ", "ə"),
    "ih": ("ɪ", "ɪ"),
    "eh": ("ɛ", "ɛ"),
}
# Only at the end of a syllable.
_FINAL_VOWEL_GRAPHEMES: dict[str, tuple[str, str]] = {
    "are": ("ɛɹ", "ɛɹ"),
    "ore": ("ɔːɹ", "ɔːɹ"),
    "ier": ("ɪɹ", "ɪɹ"),
    "ire": ("aɪɚ", "aɪɚ"),
    "oe": ("oʊ", "oʊ"),
    "ie": ("iː", "iː"),
    "ue": ("uː", "uː"),
}
# A single vowel letter: (closed stressed, closed unstressed, open stressed, open unstressed).
_SINGLE_VOWELS: dict[str, tuple[str, str, str, str]] = {
    "a": ("æ", "æ", "ɑː", "ə"),
    "e": ("ɛ", "ɛ", "ɛ", "ə"),
    "i": ("ɪ", "ɪ", "iː", "ɪ"),
    "o": ("ɑː", "ə", "oʊ", "oʊ"),
    "u": ("ʌ", "ə", "uː", "uː"),
}
_LONG_VOWELS = {"a": "eɪ", "e": "iː", "i": "aɪ", "o": "oʊ", "u": "uː", "y": "aɪ"}
_CONSONANT_GRAPHEMES = {
    "tch": "tʃ",
    "ch": "tʃ",
    "sh": "ʃ",
    "zh": "ʒ",
    "th": "θ",
    "dh": "ð",
    "kh": "x",
    "ng": "ŋ",
    "nk": "ŋk",
    "ph": "f",
    "wh": "w",
    "ck": "k",
    "qu": "kw",
    "gh": "ɡ",
    "j": "dʒ",
    "g": "ɡ",
    "x": "ks",
    "q": "k",
    "r": "ɹ",
}
_VOWEL_LETTERS = frozenset("aeiou")
# Vowel, one consonant, silent e (KATE, MIKE); not r, whose "are"/"ore"/"ire" are r-coloured.
_MAGIC_E = re.compile(r"([^aeiouy]*)([aeiouy])(th|[bcdfgjklmnpstvz])e")


def respelling_to_ipa(respelling: str) -> str:
    """IPA for a respelling, stress marked before each capitalized syllable's vowel.

    ``"shi-VAWN"`` → ``"ʃɪvˈɔːn"``; ``"oh-BRY-en"`` → ``"oʊbɹˈaɪɛn"``. Each syllable is read by
    the respelling key's rules (greedy longest grapheme first, a closed/open distinction for
    single vowels, silent final *e* making the vowel long: ``MIKE`` → /maɪk/). A one-syllable word
    is stressed even in lower case. Deterministic: the same respelling always gives the same IPA.

    Why not espeak-ng per syllable: isolated syllables trip its abbreviation and letter-name
    rules (``ih`` → /aɪ/, ``a`` → /eɪ/, ``kh`` → "K-H", ``uhn`` → /uːn/), which is exactly where
    a respelling needs to be taken literally.

    Raises
    ------
    InvalidInputError
        The respelling is malformed (field ``pronunciation``).
    """
    return " ".join(word_to_ipa(word) for word in respelling_words(respelling))


def word_to_ipa(word: Sequence[Syllable]) -> str:
    """IPA for one word of :func:`parse_respelling` (see :func:`respelling_to_ipa`)."""
    single = len(word) == 1
    return "".join(_syllable_ipa(s.letters, s.stressed or single) for s in word)


def _syllable_ipa(letters: str, stressed: bool) -> str:
    phones: list[str] = []
    magic = _MAGIC_E.fullmatch(letters)
    if magic and len(letters) >= 3:
        onset, vowel, coda = magic.groups()
        phones = [*_consonants(onset), _LONG_VOWELS[vowel], *_consonants(coda)]
    else:
        phones = _graphemes(letters, stressed)
    if not any(p[0] in IPA_VOWELS for p in phones):
        # A syllabic consonant (the "l" of BOT-l): give it a schwa so it is a syllable.
        phones.insert(max(len(phones) - 1, 0), "ə")
    if stressed:
        at = next(i for i, p in enumerate(phones) if p[0] in IPA_VOWELS)
        phones.insert(at, "ˈ")
    return "".join(phones)


def _graphemes(letters: str, stressed: bool) -> list[str]:
    phones: list[str] = []
    n = len(letters)
    i = 0
    has_vowel = False
    while i < n:
        rest = letters[i:]
        vowel = _match_vowel(rest)
        if vowel is not None:
            grapheme, (strong, weak) = vowel
            phones.append(strong if stressed else weak)
            i += len(grapheme)
            has_vowel = True
            continue
        ch = letters[i]
        if ch == "e" and i == n - 1 and has_vowel:
            break  # silent final e (ANNE)
        if ch in _VOWEL_LETTERS:
            open_ = i == n - 1
            closed_s, closed_u, open_s, open_u = _SINGLE_VOWELS[ch]
            phones.append((open_s if stressed else open_u) if open_ else (closed_s if stressed else closed_u))
            has_vowel = True
            i += 1
            continue
        if ch == "y":
            if i + 1 < n and letters[i + 1] in _VOWEL_LETTERS:
                phones.append("j")
            elif i == n - 1:
                phones.append("aɪ")
                has_vowel = True
            else:
                phones.append("ɪ")
                has_vowel = True
            i += 1
            continue
        for grapheme in (rest[:3], rest[:2], rest[:1]):
            if grapheme in _CONSONANT_GRAPHEMES:
                phones.append(_CONSONANT_GRAPHEMES[grapheme])
                i += len(grapheme)
                break
        else:
            if ch == "c":  # soft before e, i, y (CEE-lee-a); hard otherwise
                phones.append("s" if i + 1 < n and letters[i + 1] in "eiy" else "k")
            else:
                phones.append(ch)
            i += 1
        # A doubled consonant letter is one sound (ss, ll, rr).
        if 0 < i < n and letters[i] == letters[i - 1] and letters[i] not in _VOWEL_LETTERS | {"y"}:
            i += 1
    return phones


def _match_vowel(rest: str) -> tuple[str, tuple[str, str]] | None:
    for size in (3, 2):
        grapheme = rest[:size]
        if len(grapheme) == size and grapheme == rest and grapheme in _FINAL_VOWEL_GRAPHEMES:
            return grapheme, _FINAL_VOWEL_GRAPHEMES[grapheme]
        if len(grapheme) == size and grapheme in _VOWEL_GRAPHEMES:
            # "er" + vowel is e + r starting the next sound (a rare in-syllable case: "eri").
            if grapheme[-1] == "r" and len(rest) > size and rest[size] in _VOWEL_LETTERS:
                continue
            return grapheme, _VOWEL_GRAPHEMES[grapheme]
    return None


def _consonants(letters: str) -> list[str]:
    return _graphemes(letters, stressed=False) if letters else []


# --- IPA --------------------------------------------------------------------------------------


def ipa_segments(ipa: str, *, stress_on_vowel: bool = True) -> list[str]:
    """Split IPA into sounds, stress marks and word breaks (``" "``).

    Each sound keeps its diacritics and length mark (``"ɔː"``, ``"n̩"``); the diphthongs and
    affricates in :data:`_MERGED` and tie-barred pairs are one sound; syllable dots and
    intonation bars are dropped. Spellings are normalized (``g`` → ``ɡ``, ``ʧ`` → ``tʃ``,
    ``:`` → ``ː``). With ``stress_on_vowel`` (the espeak-ng convention the piper voices were
    trained on), each stress mark is moved from the syllable's start to just before its vowel:
    ``ʃɪˈvɔːn`` → ``ʃ ɪ v ˈ ɔː n``.
    """
    text = unicodedata.normalize("NFD", ipa)
    text = "".join(_IPA_SPELLINGS.get(ch, ch) for ch in text)
    segments: list[str] = []
    tie = False
    for ch in text:
        if ch in _TIES:
            tie = True
        elif ch.isspace():
            if segments and segments[-1] != " ":
                segments.append(" ")
        elif ch in ".‿|‖-":
            continue
        elif ch in STRESS_MARKS:
            segments.append(ch)
        elif (
            segments
            and segments[-1] not in STRESS_MARKS
            and segments[-1] != " "
            and (tie or ch in _MODIFIERS or unicodedata.category(ch) == "Mn")
        ):
            segments[-1] += ch
            tie = False
        else:
            merged = segments[-1] + ch if segments else ""
            if merged in _MERGED:
                segments[-1] = merged
            else:
                segments.append(ch)
            tie = False
    segments = [s.replace(_NON_SYLLABIC, "") for s in segments]
    while segments and segments[-1] == " ":
        segments.pop()
    if stress_on_vowel:
        segments = _stress_on_vowel(segments)
    return segments


def is_vowel(segment: str) -> bool:
    """Whether an IPA segment from :func:`ipa_segments` is a syllable nucleus."""
    return bool(segment) and (segment[0] in IPA_VOWELS or _SYLLABIC in segment)


def _stress_on_vowel(segments: list[str]) -> list[str]:
    out: list[str] = []
    pending: str | None = None
    for seg in segments:
        if seg in STRESS_MARKS:
            pending = seg
            continue
        if seg == " ":
            pending = None  # a stress mark with no vowel after it in its word: nowhere to go
        elif pending is not None and is_vowel(seg):
            out.append(pending)
            pending = None
        out.append(seg)
    return out


def _is_ipa_char(ch: str) -> bool:
    cp = ord(ch)
    return (
        "a" <= ch <= "z"
        or 0x0250 <= cp <= 0x02FF  # IPA Extensions, Spacing Modifier Letters
        or 0x0300 <= cp <= 0x036F  # Combining Diacritical Marks
        or 0x1D00 <= cp <= 0x1DBF  # Phonetic Extensions (ᵻ) and Supplement
        or ch in _IPA_EXTRA
    )
