"""MediaCodec adapter on PyAV and Pillow: the pictures and sound the media use cases need.

The domain decides what to make and where it goes (which rendition, which second, which bucket
key); this adapter only turns bytes into bytes with :mod:`chalicelib.media`: it decodes a
recording to the ladder's PCM, draws the name card, grabs the poster frame, encodes the animated
previews and remuxes the MP4 download. Both libraries are imported on first use, so the API
Lambda pays for them only on the routes that build a download.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path


class PyAVMediaCodec:
    """:class:`~chalicelib.domain.ports.MediaCodec` with PyAV (FFmpeg in-process) and Pillow."""

    def decode_audio(self, data: bytes, *, what: str) -> bytes:
        """Decode any recording to interleaved s16 stereo at the ladder's rate.

        Raises
        ------
        InvalidInputError
            As :func:`chalicelib.media.audio.decode_pcm`.
        """
        from chalicelib.media.audio import decode_pcm

        return decode_pcm(data, what=what)

    def name_card(
        self, text: str, width: int, height: int, *, subtitle: str | None = None
    ) -> tuple[bytes, tuple[int, int]]:
        """The name card cropped to its own box, and where it goes: the encoder then composites
        a few hundred pixels per frame instead of a whole transparent frame."""
        from PIL import Image

        from chalicelib.media.overlay import card_box, render_overlay

        full = render_overlay(text, width, height, subtitle=subtitle)
        box = card_box(width, height)
        out = io.BytesIO()
        Image.open(io.BytesIO(full)).crop(box).save(out, format="PNG", optimize=False)
        return out.getvalue(), (box[0], box[1])

    def poster(self, init: bytes, segments: Sequence[bytes], *, at_seconds: float) -> bytes:
        from chalicelib.media import previews

        return previews.poster_jpeg(init, segments, at_seconds=at_seconds)

    def still_png(
        self, init: bytes, segments: Sequence[bytes], *, at_seconds: float, width: int, height: int
    ) -> bytes:
        from chalicelib.media import previews

        return previews.frame_png(init, segments, at_seconds=at_seconds, width=width, height=height)

    def previews(
        self,
        init: bytes,
        segments: Sequence[bytes],
        *,
        start_seconds: float,
        seconds: float,
        gif_width: int,
        gif_max_bytes: int,
    ) -> tuple[bytes, bytes]:
        from chalicelib.media import previews

        frames = previews.preview_frames(init, segments, start_seconds=start_seconds, seconds=seconds)
        webp = previews.encode_animation(frames, image_format="webp")
        gif = previews.encode_animation(frames, image_format="gif", width=gif_width, max_bytes=gif_max_bytes)
        return webp, gif

    def mp4(
        self,
        video_init: bytes,
        video_segments: Sequence[bytes],
        audio_init: bytes,
        audio_segments: Sequence[bytes],
        dest: Path,
    ) -> None:
        from chalicelib.media import previews

        previews.mp4_download(video_init, video_segments, audio_init, audio_segments, dest)
