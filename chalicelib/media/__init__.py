"""Media helpers on PyAV and Pillow: decode a recording, draw the name card, make posters, animated
previews and the MP4 download from a render's segments.

The domain never imports this package: it asks :class:`~chalicelib.domain.ports.MediaCodec`,
which :mod:`chalicelib.adapters.frames` implements with these helpers (and the voice engine decodes
samples with :mod:`.audio`). The ladder, job, playlist and WAV rules are pure and live in the
domain (:mod:`chalicelib.domain.media`).

May import: the domain, PyAV, Pillow. Never adapters, api, tasks or AWS
(contract ``libraries-below-adapters``).
"""
