"""Voice: find the name's slot in the base audio, synthesize the prospect's name in a voice
matched to the seller, and splice it in without a click, gap or level jump.

Like :mod:`chalicelib.media`, this is library code (numpy, WORLD, Praat, pocketsphinx) used by the
domain through plain functions; engines sit behind :class:`chalicelib.domain.ports.SpeechSynthesizer`.
Nothing here imports boto3.
"""
