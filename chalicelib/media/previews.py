"""Email previews made from a prospect's HLS rendition: a poster JPEG, an animated WebP or GIF,
an MP4.

Email clients cannot play HLS, so a personalized email shows a still (with a play button) or a
short looping animation that links to the landing page, and the landing page offers a plain MP4
download. The animation comes as WebP (small, sharp) and as GIF (Outlook and many other clients
show no WebP; Outlook on Windows shows a GIF's first frame only): one set of sampled frames,
encoded in each format. All three are made from the fMP4 segments the render already put in S3 (the caller
fetches them): ``init + segment...`` is a valid fragmented MP4, which PyAV demuxes in memory.

Cost control: a poster or preview demuxes the segments it is given but decodes only from the
last keyframe at or before the wanted time, and turns into pictures only the frames it keeps
(scaled by swscale while converting). The MP4 is a remux (no re-encode), with the fragments
spooled to temporary files next to ``dest`` so a long video never sits in memory.

Times are on the video's own timeline (the segments' ``tfdt``), as a player shows them: the
third 2 s segment starts near 4.0 s whether or not the first two are passed in.
"""

from __future__ import annotations

import functools
import heapq
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, TypeVar

import av
import av.error
from av.container import InputContainer
from av.packet import Packet
from av.stream import Stream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image, ImageDraw

#: A wanted time may precede the first frame by this much: encoder delay and AAC priming put a
#: video's first frame a few tens of milliseconds after 0. Earlier than that means the caller
#: fetched the wrong segments.
START_SLACK_S = 0.5
POSTER_JPEG_QUALITY = 85
#: Animated preview: the format's levels are tried in turn (WebP qualities; GIF palette sizes),
#: then the frame rate is halved, then the width shrinks by _WIDTH_STEP until it fits the byte
#: budget or reaches _MIN_PREVIEW_WIDTH.
_WEBP_QUALITIES = (75, 60, 45, 30)
_WEBP_METHOD = 4  # libwebp effort 0-6: 4 is its default speed/size balance
_GIF_COLORS = (256, 128, 64, 32)
#: Frames the GIF's one palette is learnt from (spread over the clip), each at this share of its size.
_GIF_PALETTE_SAMPLES = 4
_GIF_PALETTE_SCALE = 0.5
_WIDTH_STEP = 0.75
_MIN_PREVIEW_WIDTH = 120
#: Play button: diameter as a share of the poster's shorter side, drawn oversized to anti-alias.
_PLAY_DIAMETER = 0.22
_PLAY_SUPERSAMPLE = 4
_PLAY_DISC_RGBA = (0, 0, 0, 120)
_PLAY_MARK_RGBA = (255, 255, 255, 235)
_SCALER = "AREA"  # swscale's area averaging: the sharpest cheap downscale

_S = TypeVar("_S", bound=Stream)


def poster_jpeg(
    video_init: bytes,
    video_segments: Sequence[bytes],
    *,
    at_seconds: float,
    overlay_png: bytes | None = None,
    max_width: int = 1280,
    play_button: bool = True,
) -> bytes:
    """A progressive JPEG of the first frame at or after ``at_seconds``, ready for an email.

    The overlay (a full-frame RGBA PNG such as ``overlay.render_overlay``'s) is scaled to the
    picture if its size differs; a translucent play button is drawn in the centre; pictures
    wider than ``max_width`` are scaled down, keeping the aspect ratio.

    Raises
    ------
    ValueError
        If the segments are missing, empty or undecodable, no frame lies at ``at_seconds``, or
        ``overlay_png`` is not an image.
    """
    if max_width < 1:
        raise ValueError(f"max_width must be positive, got {max_width}")
    with _open_video(video_init, video_segments) as container:
        stream = container.streams.video[0]
        frame = next(_frames_at(container, stream, [at_seconds]))
        width, height = _fit_width(frame, max_width)
        picture = frame.to_image(width=width, height=height, interpolation=_SCALER)
    if overlay_png is not None:
        layer = _overlay_image(overlay_png, picture.size)
        picture.paste(layer, (0, 0), layer)
    if play_button:
        diameter = max(8, round(min(picture.size) * _PLAY_DIAMETER))
        button = _play_button(diameter)
        picture.paste(button, ((width - diameter) // 2, (height - diameter) // 2), button)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=POSTER_JPEG_QUALITY, progressive=True, optimize=True)
    return out.getvalue()


def frame_png(
    video_init: bytes, video_segments: Sequence[bytes], *, at_seconds: float, width: int, height: int
) -> bytes:
    """A lossless PNG of the first frame at or after ``at_seconds``, ``width`` x ``height``: the
    still a grown window holds (issue 17).

    Raises
    ------
    ValueError
        As :func:`poster_jpeg`.
    """
    with _open_video(video_init, video_segments) as container:
        stream = container.streams.video[0]
        frame = next(_frames_at(container, stream, [at_seconds]))
        picture = frame.to_image(width=width, height=height, interpolation="BICUBIC")
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=1)
    return out.getvalue()


ImageFormat = Literal["webp", "gif"]


@dataclass(frozen=True)
class PreviewFrames:
    """Pictures sampled from the video for an animated preview, ready to encode (in one format
    or several: the decode, the costly part, is done once)."""

    images: tuple[Image.Image, ...]
    duration_ms: int  # how long each picture shows


def preview_frames(
    video_init: bytes,
    video_segments: Sequence[bytes],
    *,
    start_seconds: float,
    seconds: float = 3.0,
    fps: int = 8,
    width: int = 480,
    overlay_png: bytes | None = None,
) -> PreviewFrames:
    """``seconds`` of video from ``start_seconds``, sampled ``fps`` times a second.

    Each sample is the first frame at or after its time, scaled to ``width`` (never up), with the
    overlay composited. A clip that ends before ``start_seconds + seconds`` gives fewer frames.

    Raises
    ------
    ValueError
        On bad arguments, missing or undecodable segments, or no frame at ``start_seconds``.
    """
    if seconds <= 0 or fps < 1 or width < _MIN_PREVIEW_WIDTH:
        raise ValueError(
            f"need seconds > 0, fps >= 1 and width >= {_MIN_PREVIEW_WIDTH} (got {seconds}, {fps}, {width})"
        )
    count = max(1, round(seconds * fps))
    times = [start_seconds + i / fps for i in range(count)]
    images: list[Image.Image] = []
    with _open_video(video_init, video_segments) as container:
        stream = container.streams.video[0]
        last: tuple[VideoFrame, Image.Image] | None = None
        for frame in _frames_at(container, stream, times, allow_short=True):
            if last is None or last[0] is not frame:  # a slow source repeats frames: convert once
                size = _fit_width(frame, width)
                last = frame, frame.to_image(width=size[0], height=size[1], interpolation=_SCALER)
            images.append(last[1])
    if overlay_png is not None:
        layer = _overlay_image(overlay_png, images[0].size)
        images = [_composited(image, layer) for image in images]
    return PreviewFrames(tuple(images), round(1000 / fps))


def encode_animation(
    frames: PreviewFrames,
    *,
    image_format: ImageFormat = "webp",
    max_bytes: int = 1_000_000,
    width: int | None = None,
) -> bytes:
    """An endlessly looping animated WebP or GIF of ``frames``, at most ``max_bytes``.

    ``width`` scales the pictures down first (never up). If the result exceeds ``max_bytes``, the
    format's level steps down (WebP quality; GIF palette size), then the frame rate halves, then
    the width shrinks, until it fits.

    Raises
    ------
    ValueError
        On bad arguments, or when even the smallest setting exceeds ``max_bytes``.
    """
    if image_format not in _ENCODERS:
        raise ValueError(f"image_format must be one of {sorted(_ENCODERS)}, got {image_format!r}")
    if max_bytes < 1 or not frames.images or (width is not None and width < _MIN_PREVIEW_WIDTH):
        raise ValueError(
            f"need frames, max_bytes >= 1 and width >= {_MIN_PREVIEW_WIDTH} (got {len(frames.images)} "
            f"frames, {max_bytes}, {width})"
        )
    encode, levels, label = _ENCODERS[image_format]
    images, duration = list(frames.images), frames.duration_ms
    if width is not None and width < images[0].width:
        images = _resized(images, width)
    for level in levels:
        data = encode(images, duration, level)
        if len(data) <= max_bytes:
            return data
    level = levels[-1]
    if len(images) > 1:
        images, duration = images[::2], duration * 2
        data = encode(images, duration, level)
    while len(data) > max_bytes:
        smaller = round(images[0].width * _WIDTH_STEP)
        if smaller < _MIN_PREVIEW_WIDTH:
            raise ValueError(
                f"animated {image_format} preview needs {len(data)} bytes even at {images[0].width} px "
                f"wide, {1000 / duration:g} fps, {label} {level}: over max_bytes={max_bytes}"
            )
        images = _resized(images, smaller)
        data = encode(images, duration, level)
    return data


def animated_preview(
    video_init: bytes,
    video_segments: Sequence[bytes],
    *,
    start_seconds: float,
    seconds: float = 3.0,
    fps: int = 8,
    width: int = 480,
    overlay_png: bytes | None = None,
    max_bytes: int = 1_000_000,
    image_format: ImageFormat = "webp",
) -> bytes:
    """An endlessly looping animated WebP (or GIF) of ``seconds`` of video from ``start_seconds``.

    :func:`preview_frames` then :func:`encode_animation`: frames are sampled ``fps`` times a
    second and scaled to ``width`` (never up); over ``max_bytes``, the quality (GIF: palette
    size) steps down, then the frame rate halves, then the width shrinks, until it fits. A clip
    that ends before ``start_seconds + seconds`` gives a shorter preview.

    Raises
    ------
    ValueError
        On bad arguments, missing or undecodable segments, no frame at ``start_seconds``, or
        when even the smallest setting exceeds ``max_bytes``.
    """
    if max_bytes < 1:
        raise ValueError(f"need max_bytes >= 1 (got {max_bytes})")
    frames = preview_frames(
        video_init,
        video_segments,
        start_seconds=start_seconds,
        seconds=seconds,
        fps=fps,
        width=width,
        overlay_png=overlay_png,
    )
    return encode_animation(frames, image_format=image_format, max_bytes=max_bytes)


def mp4_download(
    video_init: bytes,
    video_segments: Iterable[bytes],
    audio_init: bytes,
    audio_segments: Iterable[bytes],
    dest: Path,
) -> Path:
    """Remux an HLS rendition's video and audio tracks into one progressive MP4 at ``dest``.

    Packets are copied, not re-encoded, with their timestamps unchanged (A/V sync stays as
    rendered); ``moov`` goes first (faststart) so browsers can play while downloading. The
    segment iterables are consumed once, each fragment written to a temporary file in
    ``dest``'s directory; ``dest`` appears only when complete (atomic rename).

    Raises
    ------
    ValueError
        If an init segment or segment list is empty, or the tracks do not demux or mux.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mp4-download-") as scratch:
        work = Path(scratch)
        video_file = _spool(work / "video.mp4", video_init, video_segments, "video")
        audio_file = _spool(work / "audio.mp4", audio_init, audio_segments, "audio")
        partial = work / "out.mp4"
        try:
            with av.open(str(video_file)) as video_in, av.open(str(audio_file)) as audio_in:
                video = _first(video_in.streams.video, "video")
                audio = _first(audio_in.streams.audio, "audio")
                with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                    # opaque=True copies the demuxer's codec context. PyAV 14's default for video
                    # (opaque=False) opens a fresh *encoder* whose parameters replace the copied
                    # ones, and the file's video samples come out empty (PyAV issues #1903, #1917).
                    targets: dict[int, Stream] = {
                        id(video): out.add_stream_from_template(video, opaque=True),
                        id(audio): out.add_stream_from_template(audio, opaque=True),
                    }
                    # Interleave by decode time so the muxer never has to buffer one whole track.
                    merged = heapq.merge(_packets(video_in, video), _packets(audio_in, audio), key=_dts)
                    counts = {"video": 0, "audio": 0}
                    for packet in merged:
                        counts[packet.stream.type] += 1
                        packet.stream = targets[id(packet.stream)]
                        out.mux(packet)
                    if not all(counts.values()):
                        raise ValueError(f"a track has no packets (the segments hold {counts})")
        except av.error.FFmpegError as exc:
            raise ValueError(f"could not remux the rendition into an MP4: {exc}") from None
        os.replace(partial, dest)
    return dest


def _open_video(init: bytes, segments: Sequence[bytes]) -> InputContainer:
    if not init:
        raise ValueError("the video init segment is empty")
    if not segments or not all(segments):
        raise ValueError("need at least one video segment, none of them empty")
    try:
        container = av.open(io.BytesIO(init + b"".join(segments)), "r")
    except av.error.FFmpegError as exc:
        raise ValueError(f"the video segments are not a readable fragmented MP4: {exc}") from None
    if not container.streams.video:
        container.close()
        raise ValueError("the video segments have no video track")
    container.streams.video[
        0
    ].codec_context.thread_type = "AUTO"  # frame + slice threads: Lambda has 2+ vCPUs
    return container


def _frames_at(
    container: InputContainer, stream: VideoStream, times: Sequence[float], *, allow_short: bool = False
) -> Iterator[VideoFrame]:
    """For each of the ascending ``times``, the first frame whose pts is at or after it.

    The same frame is yielded again when it answers several times. With ``allow_short``, the
    sequence just stops when the video ends early (after at least one frame).
    """
    base = stream.time_base or Fraction(1, 90_000)
    targets = [round(Fraction(t) / base) for t in times]
    frames = _decoded_from(container, stream, targets[0])
    frame: VideoFrame | None = None
    try:
        for index, (seconds, target) in enumerate(zip(times, targets, strict=True)):
            while frame is None or frame.pts is None or frame.pts < target:
                frame = next(frames, None)
                if frame is None:
                    if allow_short and index > 0:
                        return
                    raise ValueError(f"no video frame at {seconds:g} s: the segments end before it")
                # Frames drained from the decoder at the end carry no time base: use the stream's.
                if index == 0 and frame.pts is not None and frame.pts * base > seconds + START_SLACK_S:
                    first = float(frame.pts * base)
                    raise ValueError(f"no video frame at {seconds:g} s: the segments start at {first:g} s")
            yield frame
    except av.error.FFmpegError as exc:
        raise ValueError(f"the video segments do not decode: {exc}") from None


def _decoded_from(container: InputContainer, stream: VideoStream, target: int) -> Iterator[VideoFrame]:
    """Decoded frames from the last keyframe at or before pts ``target`` (else the first one).

    Earlier packets are demuxed and dropped. A group of pictures is held (as packets) until a
    packet decoding after ``target`` proves that no later keyframe can still start at or
    before it.
    """
    pending: list[Packet] = []
    decoding = False
    for packet in container.demux(stream):
        if packet.size == 0:  # PyAV's end-of-stream marker
            continue
        if not decoding:
            stamp = packet.pts if packet.pts is not None else packet.dts
            if packet.is_keyframe and (not pending or stamp <= target):
                pending = [packet]
            elif pending:
                pending.append(packet)  # packets before the first keyframe cannot decode
            decoding = bool(pending) and packet.dts is not None and packet.dts > target
            if not decoding:
                continue
            batch, pending = pending, []
        else:
            batch = [packet]
        for queued in batch:
            yield from stream.decode(queued)
    for queued in pending:
        yield from stream.decode(queued)
    yield from stream.decode(None)


def _fit_width(frame: VideoFrame, max_width: int) -> tuple[int, int]:
    if frame.width <= max_width:
        return frame.width, frame.height
    return max_width, max(1, round(frame.height * max_width / frame.width))


def _overlay_image(png: bytes, size: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(io.BytesIO(png)) as image:
            layer: Image.Image = image.convert("RGBA")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"overlay_png is not a readable image: {exc}") from None
    return layer if layer.size == size else layer.resize(size, Image.Resampling.LANCZOS)


def _composited(image: Image.Image, layer: Image.Image) -> Image.Image:
    copy = image.copy()  # a repeated frame is one shared image: never paint it twice
    copy.paste(layer, (0, 0), layer)
    return copy


@functools.lru_cache(maxsize=8)
def _play_button(diameter: int) -> Image.Image:
    """A translucent disc with a ring and a ▶, anti-aliased by drawing it large and shrinking."""
    big = diameter * _PLAY_SUPERSAMPLE
    # Transparent *white*: shrinking blends edge pixels with it, so the ring gets no dark fringe.
    button = Image.new("RGBA", (big, big), (255, 255, 255, 0))
    draw = ImageDraw.Draw(button)
    ring = max(1, round(big * 0.05))
    draw.ellipse((0, 0, big - 1, big - 1), fill=_PLAY_DISC_RGBA, outline=_PLAY_MARK_RGBA, width=ring)
    # The triangle's centroid, not its box, sits on the disc's centre (optical centring).
    draw.polygon(
        [(big * 0.39, big * 0.28), (big * 0.39, big * 0.72), (big * 0.72, big * 0.5)], fill=_PLAY_MARK_RGBA
    )
    return button.resize((diameter, diameter), Image.Resampling.LANCZOS)


def _webp(images: list[Image.Image], duration_ms: int, quality: int) -> bytes:
    out = io.BytesIO()
    images[0].save(
        out,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        quality=quality,
        method=_WEBP_METHOD,
    )
    return out.getvalue()


def _gif(images: list[Image.Image], duration_ms: int, colors: int) -> bytes:
    # One palette for the whole clip, learnt from a few frames spread over it, and no dithering:
    # a pixel that does not change keeps its exact index, so Pillow's writer stores each frame
    # as only the rectangle that changed (and colours do not flicker from frame to frame).
    palette = _gif_palette(images, colors)
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    out = io.BytesIO()
    indexed[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=duration_ms,
        loop=0,
        optimize=False,  # the palette is already as small as asked; optimizing re-scans each frame
    )
    return out.getvalue()


def _gif_palette(images: list[Image.Image], colors: int) -> Image.Image:
    step = max(1, len(images) // _GIF_PALETTE_SAMPLES)
    samples = images[::step][:_GIF_PALETTE_SAMPLES]
    w = max(1, round(samples[0].width * _GIF_PALETTE_SCALE))
    h = max(1, round(samples[0].height * _GIF_PALETTE_SCALE))
    sheet = Image.new("RGB", (w * len(samples), h))
    for i, image in enumerate(samples):
        sheet.paste(image.convert("RGB").resize((w, h), Image.Resampling.BOX), (i * w, 0))
    return sheet.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _resized(images: list[Image.Image], width: int) -> list[Image.Image]:
    ratio = width / images[0].width
    size = (width, max(1, round(images[0].height * ratio)))
    resized: dict[int, Image.Image] = {}  # a repeated frame is one shared image: resize it once
    for image in images:
        if id(image) not in resized:
            resized[id(image)] = image.resize(size, Image.Resampling.BOX)
    return [resized[id(image)] for image in images]


#: image format → (encoder, its levels from best to smallest, what a level is called)
_ENCODERS: dict[str, tuple[Callable[[list[Image.Image], int, int], bytes], tuple[int, ...], str]] = {
    "webp": (_webp, _WEBP_QUALITIES, "quality"),
    "gif": (_gif, _GIF_COLORS, "colors"),
}


def _spool(path: Path, init: bytes, segments: Iterable[bytes], kind: str) -> Path:
    if not init:
        raise ValueError(f"the {kind} init segment is empty")
    written = 0
    with path.open("wb") as fh:
        fh.write(init)
        for segment in segments:
            written += fh.write(segment)
    if not written:
        raise ValueError(f"no {kind} segments (or only empty ones)")
    return path


def _first(streams: Sequence[_S], kind: str) -> _S:
    if not streams:
        raise ValueError(f"the {kind} segments have no {kind} track")
    return streams[0]


def _packets(container: InputContainer, stream: Stream) -> Iterator[Packet]:
    """The stream's packets with continuous timestamps. Where they jump back (the base segments
    after a grown window carry base times, an HLS discontinuity behind the prospect's timeline),
    the rest is moved on to follow the packet before, as a player maps a discontinuity."""
    shift, follows = 0, None
    for packet in container.demux(stream):
        if packet.dts is None or not packet.size:  # skip the end-of-stream marker
            continue
        if follows is not None and packet.dts + shift < follows:
            shift = follows - packet.dts
        if shift:
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
        follows = packet.dts + (packet.duration or 1)
        yield packet


def _dts(packet: Packet) -> Fraction:
    return packet.dts * packet.time_base
