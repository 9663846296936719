"""Voice: find the name's slot in the base audio, synthesize the prospect's name in a voice
matched to the seller, and splice it in without a click, gap or level jump.

This is the engine the voice container image carries (numpy, scipy, WORLD, Praat, pocketsphinx,
piper's phonemizer), run by the voice Lambda (``chalicelib.tasks.voice``) and reached by the rest
through :class:`chalicelib.domain.ports.VoiceRunner`; the synthesizers sit behind
:class:`chalicelib.domain.ports.SpeechSynthesizer`. The text rules the domain needs (names,
pronunciations, scripts, the speech types) live in :mod:`chalicelib.domain.speech`.

May import: the domain, :mod:`chalicelib.media` (decoding), the voice engines. Never adapters,
api, tasks or AWS (contract ``libraries-below-adapters``); the domain never imports this package.
"""
