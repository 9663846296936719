"""Turn a prospect's name, as it arrived in a CSV or the API, into something a voice can say.

Names come from spreadsheets and CRMs: curly apostrophes, emoji, ``"Bob 🚀"``, trailing
``"(2)"``, zero-width characters pasted from the web. :func:`sanitize_name` keeps what can be
spoken and tells the seller, in plain words, what it dropped. It refuses (rather than guesses)
when nothing speakable is left, when the name is implausibly long, or when it is written in a
script the English voices cannot read: then the seller is asked for a pronunciation.

Pure Python (``unicodedata``); no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from chalicelib.domain.errors import FieldIssue, InvalidInputError

#: The longest name (after cleaning) that is spoken. Longer is almost always a pasted sentence.
MAX_NAME_CHARS = 50

# Apostrophe look-alikes sellers' tools produce (curly quotes, the Hawaiian ʻokina, primes, accents).
_APOSTROPHES = frozenset("\u2018\u2019\u201b\u02bc\u02bb\u02b9\u2032\u0060\u00b4\uff07")
# Dash look-alikes (hyphen, non-breaking hyphen, figure/en/em dash, minus, small/full-width hyphen).
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d")
# Emoji glue: zero-width joiner, variation selectors, skin tones, keycap, tag characters.
_EMOJI_GLUE = frozenset(
    [0x200D, 0x20E3, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)]
)
_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # mahjong … symbols & pictographs extended-A (incl. flags, faces)
    (0x2600, 0x27BF),  # misc symbols, dingbats (☀ ✂ ❤)
    (0x2B00, 0x2BFF),  # arrows & stars (⭐)
    (0x2300, 0x23FF),  # misc technical (⌚ ⏰)
)
_KEPT_PUNCTUATION = frozenset("'-.")

# Seller-facing descriptions of each kind of change, in a stable order.
_CHANGE_TEXT = {
    "apostrophes": "replaced curly apostrophes with straight ones",
    "dashes": "replaced dashes with hyphens",
    "compat": "converted special letter forms (full-width, ligatures, super/subscripts) to plain letters",
    "emoji": "removed emoji",
    "symbols": "removed symbols and punctuation",
    "digits": "removed digits",
    "control": "removed invisible or control characters",
    "spaces": "removed extra spaces",
}


@dataclass(frozen=True)
class SpokenName:
    """A name ready for a speech engine, and what was changed to get there (for the seller)."""

    text: str
    changes: list[str] = field(default_factory=list)


def sanitize_name(raw: str, field: str = "first_name", *, has_pronunciation: bool = False) -> SpokenName:
    """Clean ``raw`` into a speakable name.

    Keeps letters (Latin, with any diacritics), combining marks on them, apostrophes, hyphens,
    periods and single spaces; applies Unicode NFKC; turns curly apostrophes and dashes into
    ``'`` and ``-``; drops emoji, symbols, digits and control characters, recording each kind
    dropped in :attr:`SpokenName.changes`.

    Parameters
    ----------
    raw
        The name as entered.
    field
        The input field it came from, used as the :class:`FieldIssue` location.
    has_pronunciation
        The prospect (or the account lexicon) gives a pronunciation for this name. Then letters
        of any script are kept: the written form is only shown, the pronunciation is spoken.

    Raises
    ------
    InvalidInputError
        Nothing speakable is left; the cleaned name is longer than :data:`MAX_NAME_CHARS`; or
        (without ``has_pronunciation``) it contains letters the English voices cannot read, in
        which case the reason asks the seller to add a pronunciation for the prospect.
    """
    seen: set[str] = set()
    text = unicodedata.normalize("NFC", _replace_lookalikes(raw, seen))
    has_emoji = any(_is_emoji(ch) for ch in text)

    kept: list[str] = []
    foreign_scripts: list[str] = []
    on_letter = False  # whether a combining mark here would sit on a kept letter
    for original in text:
        category = unicodedata.category(original)
        if original.isspace():
            kept.append(" ")
            on_letter = False
            continue
        if category[0] in "SNCZ":
            # Decided on the original character: NFKC would turn ™ into "TM" and ² into "2".
            seen.add(_removed_kind(original, category, has_emoji))
            continue
        compat = unicodedata.normalize("NFKC", original)
        if compat != original:
            seen.add("compat")
        for ch in compat:
            cat = unicodedata.category(ch)
            if cat[0] == "L" and cat != "Lm":
                script = _script(ch)
                if script != "LATIN" and not has_pronunciation and script not in foreign_scripts:
                    foreign_scripts.append(script)
                kept.append(ch)
                on_letter = True
            elif cat[0] == "M" and on_letter:
                kept.append(ch)
            elif ch in _KEPT_PUNCTUATION:
                kept.append(ch)
                on_letter = False
            elif ch.isspace():
                kept.append(" ")
                on_letter = False
            else:
                seen.add("symbols")

    joined = "".join(kept)
    collapsed = " ".join(joined.split())
    if collapsed != joined:
        seen.add("spaces")

    if not any(unicodedata.category(ch)[0] == "L" for ch in collapsed):
        reason = "is empty" if not raw.strip() else "has no letters that can be spoken"
        raise _invalid(field, reason)
    if foreign_scripts:
        scripts = " and ".join(_script_label(s) for s in foreign_scripts)
        raise _invalid(
            field,
            f"is written in {scripts}, which the English voices cannot read; add a pronunciation "
            "for this prospect, e.g. a respelling like shi-VAWN or IPA between slashes",
        )
    if len(collapsed) > MAX_NAME_CHARS:
        raise _invalid(field, f"is longer than {MAX_NAME_CHARS} characters ({len(collapsed)})")
    return SpokenName(collapsed, [text for key, text in _CHANGE_TEXT.items() if key in seen])


def _replace_lookalikes(raw: str, seen: set[str]) -> str:
    out = []
    for ch in raw:
        if ch in _APOSTROPHES:
            seen.add("apostrophes")
            out.append("'")
        elif ch in _DASHES:
            seen.add("dashes")
            out.append("-")
        else:
            out.append(ch)
    return "".join(out)


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return unicodedata.category(ch) == "So" and any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES)


def _removed_kind(ch: str, category: str, has_emoji: bool) -> str:
    if _is_emoji(ch) or (has_emoji and ord(ch) in _EMOJI_GLUE):
        return "emoji"
    if category[0] == "N":
        return "digits"
    if category[0] == "C" or category in ("Zl", "Zp"):
        return "control"
    return "symbols"


def _script(ch: str) -> str:
    """The script a letter belongs to, from its Unicode name ("LATIN", "CYRILLIC", "CJK", …)."""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def _script_label(script: str) -> str:
    labels = {
        "CJK": "Chinese/Japanese characters",
        "HANGUL": "Korean (Hangul)",
        "UNKNOWN": "an unknown script",
    }
    return labels.get(script, f"{script.title()} script")


def _invalid(field: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"the name in {field} cannot be spoken", [FieldIssue(field, reason)])
