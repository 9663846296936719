"""Words to IPA with the espeak-ng library that piper-tts bundles (in-process, no binary needed)."""

from __future__ import annotations

import re
import threading

_lock = threading.Lock()
_ready = False


def espeak_ipa(text: str, voice: str = "en-us") -> str:
    """espeak-ng's IPA for ``text`` (stress marks kept, language-switch flags removed)."""
    global _ready
    from piper import espeakbridge
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    with _lock:
        if not _ready:
            espeakbridge.initialize(str(ESPEAK_DATA_DIR))
            _ready = True
        espeakbridge.set_voice(voice)
        clauses = espeakbridge.get_phonemes(text)
    return " ".join(re.sub(r"\([^)]+\)", "", phonemes) for phonemes, _, _ in clauses).strip()
