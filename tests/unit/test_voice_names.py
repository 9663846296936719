"""sanitize_name: what is kept, what is dropped (and said so), and what is refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.speech.names import MAX_NAME_CHARS, SpokenName, sanitize_name


def refusal(raw: str, **kwargs: bool) -> str:
    with pytest.raises(InvalidInputError) as caught:
        sanitize_name(raw, "first_name", **kwargs)
    (issue,) = caught.value.issues
    assert issue.loc == "first_name"
    return issue.message


class TestKept:
    @pytest.mark.parametrize(
        "raw",
        [
            "Siobhan",
            "Zoë",
            "José",
            "Jean-Luc",
            "O'Brien",
            "Dr. J.R.",
            "Mary Kate",
            "Łukasz",
            "Nguyễn",
            "Þóra",
        ],
    )
    def test_ordinary_names_pass_unchanged(self, raw):
        assert sanitize_name(raw) == SpokenName(unicodedata.normalize("NFC", raw), [])

    def test_combining_marks_on_latin_letters_are_kept(self):
        # GIVEN "Émile" typed with a combining acute accent
        spoken = sanitize_name("E\u0301mile")
        # THEN the accent stays (NFKC composes it)
        assert spoken.text == "Émile"
        assert spoken.changes == []


class TestNormalized:
    def test_curly_apostrophe_becomes_straight(self):
        assert sanitize_name("O\u2019Brien") == SpokenName(
            "O'Brien", ["replaced curly apostrophes with straight ones"]
        )

    def test_okina_is_an_apostrophe(self):
        assert sanitize_name("Ha\u02bbupu").text == "Ha'upu"

    def test_dashes_become_hyphens(self):
        spoken = sanitize_name("Mary\u2013Kate")
        assert spoken.text == "Mary-Kate"
        assert spoken.changes == ["replaced dashes with hyphens"]

    def test_full_width_letters_and_ligatures_become_plain(self):
        spoken = sanitize_name("\uff22\uff4f\uff42 \ufb01ona")
        assert spoken.text == "Bob fiona"
        assert any("plain letters" in change for change in spoken.changes)

    def test_whitespace_is_collapsed(self):
        spoken = sanitize_name("  Mary \t\n Kate  ")
        assert spoken == SpokenName("Mary Kate", ["removed extra spaces"])


class TestRemoved:
    def test_emoji_including_joined_sequences_and_skin_tones(self):
        spoken = sanitize_name("Bob 🚀👩\u200d💻👍🏽")
        assert spoken == SpokenName("Bob", ["removed emoji", "removed extra spaces"])

    def test_digits(self):
        assert sanitize_name("Anna2") == SpokenName("Anna", ["removed digits"])

    def test_symbols_are_decided_before_nfkc(self):
        # NFKC would turn ™ into "TM" and ² into "2": they must go, not become letters/digits.
        spoken = sanitize_name("Bob™²")
        assert spoken.text == "Bob"
        assert spoken.changes == ["removed symbols and punctuation", "removed digits"]

    def test_invisible_characters(self):
        spoken = sanitize_name("Bo\u200bb\u0007")
        assert spoken == SpokenName("Bob", ["removed invisible or control characters"])

    def test_each_kind_is_reported_once(self):
        spoken = sanitize_name("Mary (2) & 3 🎉🎉")
        assert spoken.text == "Mary"
        assert spoken.changes == [
            "removed emoji",
            "removed symbols and punctuation",
            "removed digits",
            "removed extra spaces",
        ]


class TestRefused:
    @pytest.mark.parametrize("raw", ["", "   ", "\u200b"])
    def test_empty(self, raw):
        assert refusal(raw) in ("is empty", "has no letters that can be spoken")

    @pytest.mark.parametrize("raw", ["🚀🚀", "1234", "---", "'. -"])
    def test_nothing_speakable_left(self, raw):
        assert refusal(raw) == "has no letters that can be spoken"

    def test_a_200_character_name(self):
        assert refusal("A" * 200) == f"is longer than {MAX_NAME_CHARS} characters (200)"

    def test_length_is_counted_after_cleaning(self):
        assert sanitize_name("A" * MAX_NAME_CHARS + " 🚀🚀🚀").text == "A" * MAX_NAME_CHARS

    @pytest.mark.parametrize(
        ("raw", "script"),
        [("李小龍", "Chinese/Japanese"), ("Иван", "Cyrillic"), ("محمد", "Arabic"), ("김민준", "Korean")],
    )
    def test_scripts_the_english_voices_cannot_read_ask_for_a_pronunciation(self, raw, script):
        reason = refusal(raw)
        assert script in reason
        assert "add a pronunciation for this prospect" in reason

    def test_mixed_latin_and_other_script_is_refused(self):
        assert "Cyrillic" in refusal("Ivan Иван")

    def test_the_error_names_the_field(self):
        with pytest.raises(InvalidInputError) as caught:
            sanitize_name("", "prospects.3.first_name")
        assert caught.value.issues[0].loc == "prospects.3.first_name"


class TestWithPronunciation:
    @pytest.mark.parametrize("raw", ["李小龍", "Иван", "محمد"])
    def test_any_script_is_kept_when_a_pronunciation_says_how(self, raw):
        assert sanitize_name(raw, has_pronunciation=True).text == raw

    def test_still_cleaned_and_still_limited(self):
        assert sanitize_name("Иван 🚀", has_pronunciation=True).text == "Иван"
        assert refusal("Иван" * 20, has_pronunciation=True).startswith("is longer than")
        assert refusal("🚀", has_pronunciation=True) == "has no letters that can be spoken"


ALLOWED_PUNCTUATION = set("'-. ")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_never_crashes_and_output_is_speakable(raw):
    # GIVEN any text at all, WHEN it is sanitized, THEN it is either refused cleanly or speakable
    for has_pronunciation in (False, True):
        try:
            spoken = sanitize_name(raw, has_pronunciation=has_pronunciation)
        except InvalidInputError as exc:
            issues = exc.issues
            spoken = None
        if spoken is None:
            assert issues and issues[0].loc == "first_name"
            continue
        text = spoken.text
        assert 0 < len(text) <= MAX_NAME_CHARS
        assert text == text.strip() and "  " not in text
        assert any(unicodedata.category(ch)[0] == "L" for ch in text)
        for ch in text:
            category = unicodedata.category(ch)
            assert category[0] in "LM" or ch in ALLOWED_PUNCTUATION, (raw, ch)
            if category[0] == "L" and not has_pronunciation:
                assert unicodedata.name(ch).startswith("LATIN"), (raw, ch)
        assert sanitize_name(text, has_pronunciation=has_pronunciation).text == text  # idempotent


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(categories=["Lu", "Ll", "Zs", "Nd", "So", "Cf", "Pd", "Po"]), max_size=80)
)
def test_never_crashes_on_name_like_text(raw):
    try:
        spoken = sanitize_name(raw)
    except InvalidInputError:
        return
    assert 0 < len(spoken.text) <= MAX_NAME_CHARS
