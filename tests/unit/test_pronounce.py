"""Pronunciation overrides: parsing, lexicon resolution, and respelling conversions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInputError
from chalicelib.domain.speech import Utterance
from chalicelib.domain.speech.names import sanitize_name
from chalicelib.domain.speech.pronounce import (
    MAX_PRONUNCIATION_CHARS,
    Pronunciation,
    has_pronunciation,
    ipa_segments,
    normalize_key,
    parse_pronunciation,
    parse_respelling,
    resolve_utterance,
    respelling_to_ipa,
    respelling_to_text,
)


def refusal(text: str) -> str:
    with pytest.raises(InvalidInputError) as caught:
        parse_pronunciation(text, "prospect.pronunciation")
    (issue,) = caught.value.issues
    assert issue.loc == "prospect.pronunciation"
    return issue.message


class TestParseIpa:
    @pytest.mark.parametrize("text", ["/ʃɪˈvɔːn/", "[ʃɪˈvɔːn]", "  / ʃɪˈvɔːn /  "])
    def test_between_slashes_or_brackets(self, text):
        assert parse_pronunciation(text) == Pronunciation("ipa", "ʃɪˈvɔːn")

    def test_ascii_stand_ins_are_normalized(self):
        # People type : for ː, ' for ˈ and g for ɡ.
        assert parse_pronunciation("/ʃiv'ɔ:n ɡ g/").value == "ʃivˈɔːn ɡ ɡ"

    def test_tie_bars_and_diacritics_are_ipa(self):
        assert parse_pronunciation("/ˈt͡ʃɑːɹlz n̩ ɛ̃/").kind == "ipa"

    @pytest.mark.parametrize("text", ["/ʃɪˈvɔːn", "ʃɪˈvɔːn/", "[ʃɪˈvɔːn/", "/a/ /b/", "/"])
    def test_unbalanced_delimiters(self, text):
        assert "unbalanced" in refusal(text)

    def test_characters_outside_the_ipa(self):
        assert refusal("/ʃɪˈvɔːn😀/") == "contains characters that are not IPA: 😀"
        assert refusal("/SHIvawn/").startswith("contains characters that are not IPA: H I S")

    @pytest.mark.parametrize("text", ["//", "/ ˈ /", "[ː]"])
    def test_no_sounds(self, text):
        assert "nothing" in refusal(text) or "no sounds" in refusal(text)


class TestParseRespelling:
    @pytest.mark.parametrize(
        "text", ["shi-VAWN", "NEEV", "o'BRY-en", "shi-VAWN oh-BRY-en", "Shi-VAWN", "shawn"]
    )
    def test_accepted_as_written(self, text):
        assert parse_pronunciation(text) == Pronunciation("respelling", text)

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("", "is empty"),
            ("   ", "is empty"),
            ("shi2-VAWN", "contains digits"),
            ("shi_VAWN", "may only contain letters a-z"),
            ("shï-VAWN", "may only contain letters a-z"),
            ("shi--VAWN", "has an empty syllable"),
            ("-shi", "has an empty syllable"),
            ("sHi-VAWN", "mixes capitals"),
            ("SHI-VAWN", "every syllable in capitals"),
            ("a" * (MAX_PRONUNCIATION_CHARS + 1), "is longer than 100 characters"),
        ],
    )
    def test_malformed(self, text, reason):
        assert reason in refusal(text)

    def test_apostrophes_separate_syllables_too(self):
        (word,) = parse_respelling("o'BRY-en")
        assert [(s.letters, s.stressed) for s in word] == [("o", False), ("bry", True), ("en", False)]

    def test_vowelless_apostrophe_part_joins_its_neighbour(self):
        (word,) = parse_respelling("d'ARK")
        assert [(s.letters, s.stressed) for s in word] == [("dark", True)]


class TestNormalizeKey:
    def test_case_width_apostrophes_and_spaces(self):
        assert normalize_key("  SIOBHAN\t o\u2019brien ") == "siobhan o'brien"
        assert normalize_key("\uff33iobhan") == "siobhan"
        assert normalize_key("STRASSE") == normalize_key("straße")


class TestResolveUtterance:
    LEXICON: ClassVar[Mapping[str, str]] = {
        "Siobhan": "shi-VAWN",
        "niamh": "/niːv/",
        "O'Brien": "oh-BRY-en",
        "Siobhan Smith": "/ʃɪˈvɔːn smɪθ/",
    }

    def test_prospect_override_wins(self):
        assert resolve_utterance("Siobhan", "shuh-VAWN", self.LEXICON) == Utterance(
            "Siobhan", respelling="shuh-VAWN"
        )
        assert resolve_utterance("Siobhan", "/ʃəˈvɔːn/", self.LEXICON) == Utterance("Siobhan", ipa="ʃəˈvɔːn")

    def test_blank_override_is_no_override(self):
        assert resolve_utterance("Siobhan", "  ", self.LEXICON).respelling == "shi-VAWN"

    def test_lexicon_entry_for_the_whole_name(self):
        assert resolve_utterance("SIOBHAN", None, self.LEXICON) == Utterance("SIOBHAN", respelling="shi-VAWN")
        assert resolve_utterance("Niamh", None, self.LEXICON) == Utterance("Niamh", ipa="niːv")
        assert resolve_utterance("Siobhan  Smith", None, self.LEXICON).ipa == "ʃɪˈvɔːn smɪθ"

    def test_written_name_when_nothing_matches(self):
        assert resolve_utterance("Bob", None, self.LEXICON) == Utterance("Bob")
        assert resolve_utterance("Bob Jones", None, {}) == Utterance("Bob Jones")

    def test_every_word_covered_by_respellings(self):
        assert resolve_utterance("Siobhan O'Brien", None, self.LEXICON) == Utterance(
            "Siobhan O'Brien", respelling="shi-VAWN oh-BRY-en"
        )

    def test_every_word_covered_with_some_ipa_becomes_ipa(self):
        assert resolve_utterance("Niamh O'Brien", None, self.LEXICON) == Utterance(
            "Niamh O'Brien", ipa="niːv oʊbɹˈaɪɛn"
        )

    def test_some_words_covered_by_respellings_mix_with_written_words(self):
        assert resolve_utterance("Siobhan Marie", None, self.LEXICON) == Utterance(
            "Siobhan Marie", respelling="shi-VAWN marie"
        )

    def test_some_words_covered_by_ipa_fall_back_to_the_written_name(self):
        assert resolve_utterance("Niamh Marie", None, self.LEXICON) == Utterance("Niamh Marie")

    def test_uncovered_word_that_is_not_plain_letters_falls_back(self):
        assert resolve_utterance("Siobhan Zoë", None, self.LEXICON) == Utterance("Siobhan Zoë")
        assert resolve_utterance("Siobhan J.R.", None, self.LEXICON) == Utterance("Siobhan J.R.")

    def test_malformed_override_or_lexicon_entry_is_reported(self):
        with pytest.raises(InvalidInputError) as caught:
            resolve_utterance("Siobhan", "/oops", {})
        assert caught.value.issues[0].loc == "pronunciation"
        with pytest.raises(InvalidInputError) as caught:
            resolve_utterance("Siobhan", None, {"siobhan": "shi2"})
        assert caught.value.issues[0].loc == "lexicon"


class TestHasPronunciation:
    LEXICON: ClassVar[Mapping[str, str]] = {"иван": "ee-VAHN", "Li": "/liː/", "Wei": "WAY"}

    @pytest.mark.parametrize(
        ("name", "override", "expected"),
        [
            ("Иван", None, True),  # whole-name lexicon entry (matched case-insensitively)
            ("Li Wei", None, True),  # every word has an entry
            ("Li Bob", None, False),
            ("李伟", "lee WAY", True),
            ("李伟", " ", False),
        ],
    )
    def test_override_or_full_lexicon_cover(self, name, override, expected):
        assert has_pronunciation(name, override, self.LEXICON) is expected

    def test_lets_a_non_latin_name_through_sanitizing_and_is_spoken_from_the_lexicon(self):
        # GIVEN a Cyrillic name with an account-lexicon respelling
        raw = "Иван"
        spoken = sanitize_name(raw, has_pronunciation=has_pronunciation(raw, None, self.LEXICON))
        # THEN the written form is kept and the respelling is what gets said
        assert resolve_utterance(spoken.text, None, self.LEXICON) == Utterance("Иван", respelling="ee-VAHN")


class TestRespellingToIpa:
    @pytest.mark.parametrize(
        ("respelling", "ipa"),
        [
            ("shi-VAWN", "ʃɪvˈɔːn"),
            ("NEEV", "nˈiːv"),
            ("oh-BRY-en", "oʊbɹˈaɪɛn"),
            ("zhahn-LOOK", "ʒɑːnlˈuːk"),
            ("ay-MAY-lee-uh", "eɪmˈeɪliːə"),
            ("KEER-uhn", "kˈɪɹən"),
            ("MIKE-ul", "mˈaɪkəl"),  # silent e makes the vowel long
            ("BAY-lee", "bˈeɪliː"),
            ("JAY-sun", "dʒˈeɪsən"),  # unstressed closed u reduces
            ("lokh", "lˈɑːx"),  # one-syllable words are stressed
            ("BOT-l", "bˈɑːtəl"),  # a syllabic consonant gets its schwa
            ("ANNE", "ˈæn"),
            ("shi-VAWN oh-BRY-en", "ʃɪvˈɔːn oʊbɹˈaɪɛn"),
        ],
    )
    def test_respelling_key(self, respelling, ipa):
        assert respelling_to_ipa(respelling) == ipa

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6), min_size=1, max_size=4
        )
    )
    def test_any_valid_respelling_converts(self, syllables):
        respelling = "-".join(s.upper() if i == 0 else s for i, s in enumerate(syllables))
        ipa = respelling_to_ipa(respelling)
        assert ipa.count("ˈ") == 1
        assert all(seg for seg in ipa_segments(ipa))


class TestRespellingToText:
    @pytest.mark.parametrize(
        ("respelling", "text"),
        [
            ("shi-VAWN", "shi-vawn"),
            ("o'BRY-en", "o-bry-en"),
            ("NEEV", "neev"),
            ("shi-VAWN marie", "shi-vawn marie"),
        ],
    )
    def test_lower_case_hyphenated_syllables(self, respelling, text):
        assert respelling_to_text(respelling) == text


class TestIpaSegments:
    def test_stress_moves_onto_the_vowel(self):
        assert ipa_segments("ʃɪˈvɔːn") == ["ʃ", "ɪ", "v", "ˈ", "ɔː", "n"]
        assert ipa_segments("ʃɪˈvɔːn", stress_on_vowel=False) == ["ʃ", "ɪ", "ˈ", "v", "ɔː", "n"]

    def test_diphthongs_affricates_ties_and_diacritics_are_one_sound(self):
        assert ipa_segments("ˈt͡ʃaɪ̯ld ʤoʊ") == ["tʃ", "ˈ", "aɪ", "l", "d", " ", "dʒ", "oʊ"]
        assert ipa_segments("bʌtn̩ tʰæ̃") == ["b", "ʌ", "t", "n̩", " ", "tʰ", "æ̃"]

    def test_syllable_dots_are_dropped_and_spellings_normalized(self):
        assert ipa_segments("ˈɡeɪ.b g:") == ["ɡ", "ˈ", "eɪ", "b", " ", "ɡː"]

    def test_a_stress_mark_with_no_vowel_in_its_word_is_dropped(self):
        assert ipa_segments("sˈ t") == ["s", " ", "t"]
