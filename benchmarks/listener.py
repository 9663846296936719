"""An independent listener for tests and the benchmark: pocketsphinx keyword spotting.

It shares nothing with the product's alignment but the acoustic model: keyword search against a
phone loop, with its own decoder. A word missing from the dictionary is added with espeak-ng's
pronunciation (mapped to ARPAbet), as the product does for script words.
"""

from __future__ import annotations

from chalicelib.voice.align import FRAMES_PER_SECOND, RATE, ensure_word, pcm16
from chalicelib.voice.pcm import Samples

#: Keyword-spotting threshold: low enough to hear a name in running speech, measured on the
#: LibriVox clips (the original "john" is heard at 1e-30 and above).
KWS_THRESHOLD = 1e-30


def heard(audio: Samples, word: str, threshold: float = KWS_THRESHOLD) -> list[tuple[float, float]]:
    """Where ``word`` is heard in ``audio`` (mono float32 at 16 kHz): (start, end) seconds."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=RATE, loglevel="FATAL", kws_threshold=threshold)
    word = word.lower()
    ensure_word(decoder, word, update=True)
    decoder.add_keyphrase("name", word)
    decoder.activate_search("name")
    decoder.start_utt()
    decoder.process_raw(pcm16(audio), full_utt=True)
    decoder.end_utt()
    return [
        (s.start_frame / FRAMES_PER_SECOND, (s.end_frame + 1) / FRAMES_PER_SECOND)
        for s in (decoder.seg() or [])
    ]
