"""MediaProbe adapter on PyAV (FFmpeg's libraries in-process; the Lambda ships no ffprobe).

The probe answers two questions about an uploaded base video: what it is (container, codecs,
size, length, rotation, frame timing) and whether it is whole. Wholeness is checked by demuxing
every packet, which reads the entire file but decodes nothing (cheap even for 100 MB), plus
decoding the first video frame to prove the codec really decodes. Which containers and codecs are
*acceptable* is not decided here: ``chalicelib.domain.uploads.check_video`` does that.

Only the uploaded file itself is ever read. Some FFmpeg demuxers follow references to other files
or URLs (an HLS playlist's segments, a concat script's entries, an image2 sequence, an SDP
session), so a text upload naming ``file:///etc/passwd`` or another tenant's file in ``/tmp``
would otherwise be opened and described. Three locks keep the probe to the upload's bytes: FFmpeg
reads the file through a Python file object without its name (no protocol, and the seller's file
name cannot steer the choice of demuxer), ``format_whitelist`` refuses every demuxer but the
self-contained ones below before it reads a header, and an ``io_open`` hook refuses any second
open that a demuxer still attempts.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet
from av.stream import Disposition, Stream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from chalicelib.domain.errors import UploadRejectedError
from chalicelib.domain.models import VideoProbe

logger = logging.getLogger(__name__)

# Reasons shown to the seller. Kept short and free of FFmpeg jargon.
EMPTY = "the file is empty"
NOT_A_VIDEO = "this file is not a video"
STILL_IMAGE = "this file is a still image, not a video"
AUDIO_ONLY = "the file has no video track (it looks like an audio file)"
TRUNCATED = "the file is damaged or truncated; export it again and re-upload it"
UNDECODABLE = "the video track could not be decoded"

#: Enough of the file's start for magic numbers and a Matroska EBML header.
_HEAD_BYTES = 4096
#: Stop trying to get a first frame after this many video packets (a frame-threaded decoder
#: may hold back one packet per thread before its first output; anything past this is broken).
_FIRST_FRAME_PACKET_LIMIT = 96
#: Truncated when the video track ends before this share of the declared length...
_TRUNCATED_SHARE = 0.9
#: ...and more than this many seconds short (a short tail is normal: audio often outlasts video).
_TRUNCATED_MIN_GAP_S = 1.0
#: A frame duration this far from the typical one counts as "different"...
_VFR_DEVIATION = 0.10
#: ...and the video is variable frame rate when more than this share of them differ (a lone
#: dropped frame in a constant-rate recording does not make it VFR).
_VFR_SHARE = 0.05

_ISO_BMFF_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID = 0x4282
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
_IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})

#: The demuxers the probe may use, by FFmpeg's names; each reads nothing but its own input. The
#: containers the product takes come first; the rest are here only so the seller hears what the
#: file is (a still image, an audio file, an FLV video...). Anything else, notably the demuxers
#: that follow references (hls, dash, concat, image2, sdp, rtp...), is "not a video".
_ALLOWED_DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    # other video containers, which the domain refuses by name
    "flv",
    "mpegts",
    "mpeg",
    "asf",
    "ogg",
    "gif",
    # audio files, reported as "no video track"
    "mp3",
    "wav",
    "aac",
    "flac",
    # still images, reported as such (not svg_pipe: an SVG may link other files)
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "gif_pipe",
)
_OPEN_OPTIONS = {
    "format_whitelist": ",".join(_ALLOWED_DEMUXERS),
    # QuickTime external data references; off by default, and must stay off.
    "enable_drefs": "0",
}


@dataclass
class _Scan:
    """What one pass over every packet found."""

    video_pts: list[int] = field(default_factory=list)
    video_end: float = 0.0
    media_end: float = 0.0
    first_frame: VideoFrame | None = None


class PyAVMediaProbe:
    """Probe a local media file with PyAV and prove that it is a whole, decodable video."""

    def probe(self, path: Path) -> VideoProbe:
        """Describe the video at ``path`` after checking that it is complete and decodes.

        ``container`` is normalized to mp4, mov, avi, webm or mkv when it is one of those and
        is FFmpeg's demuxer name otherwise (flv, mpegts, gif...), for the domain to refuse.
        ``rotation`` is the clockwise turn a player applies for display (0, 90, 180 or 270; a
        portrait phone clip is 90), while ``width``/``height`` are the frame size as stored.

        Parameters
        ----------
        path
            A local file, e.g. the upload downloaded to ``/tmp``.

        Raises
        ------
        UploadRejectedError
            With a seller-readable reason when the file is empty, not a video (text, a playlist
            or any other file that refers to other files, still image, audio only), damaged or
            truncated, or its video track does not decode. Nothing but ``path`` is ever opened.
        FileNotFoundError
            If ``path`` does not exist (a pipeline fault, not the seller's).
        """
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
            if not head:
                raise UploadRejectedError(EMPTY)
            fh.seek(0)
            references = _RefuseReferences()
            try:
                container = av.open(
                    _Unnamed(fh),
                    mode="r",
                    # container_options, not options: PyAV also hands `options` to each
                    # stream's decoder and sizes that list before FLV has found its streams
                    # (a crash in PyAV 14).
                    container_options=_OPEN_OPTIONS,
                    # "replace": a phone app's badly encoded title tag must not sink the upload.
                    metadata_errors="replace",
                    io_open=references,
                )
            except (av.error.FFmpegError, _ReferenceRefusedError) as exc:
                if references.attempts:
                    raise _reject(NOT_A_VIDEO, "the file refers to other files", exc) from None
                # A recognizable video container that FFmpeg cannot open has lost its index,
                # e.g. an MP4 cut off before its moov atom; anything else was never a video
                # (or is a kind of file the probe does not open, such as a playlist).
                reason = TRUNCATED if _looks_like_video_container(head) else NOT_A_VIDEO
                raise _reject(reason, "open failed", exc) from None
            try:
                found = _describe(container, head)
            except _ReferenceRefusedError as exc:
                raise _reject(NOT_A_VIDEO, "the file refers to other files", exc) from None
            finally:
                container.close()
        if references.attempts:  # a demuxer that shrugged off the refusal
            raise _reject(NOT_A_VIDEO, f"the file refers to {references.attempts} other file(s)")
        return found


class _ReferenceRefusedError(Exception):
    """A demuxer tried to open something other than the upload."""


class _RefuseReferences:
    """PyAV ``io_open`` hook that counts and refuses every open beyond the upload itself."""

    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self, url: str, flags: int, options: dict[str, str]) -> BinaryIO:
        # The URL is not logged: it may hold a path or a name the seller typed.
        self.attempts += 1
        raise _ReferenceRefusedError("the upload may not open other files")


class _Unnamed:
    """The upload's bytes without its name.

    PyAV hands a file object's ``name`` to FFmpeg, which lets the extension pick a demuxer
    (``.m3u8`` is what turns on the HLS demuxer); without it only the content counts, and
    FFmpeg's error messages carry no file name.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


def _describe(container: InputContainer, head: bytes) -> VideoProbe:
    format_name = container.format.name
    if format_name in _IMAGE_DEMUXERS or format_name.endswith("_pipe"):
        # The image demuxers present a PNG/JPEG as a one-frame "video" stream.
        raise _reject(STILL_IMAGE, f"image demuxer {format_name}")
    video = _main_video_stream(container)
    if video is None:
        reason = AUDIO_ONLY if container.streams.audio else NOT_A_VIDEO
        raise _reject(reason, f"no video stream in {format_name}")
    if video.codec_context is None:  # PyAV leaves it unset when FFmpeg has no decoder
        raise _reject(UNDECODABLE, f"no decoder for video stream {video.index}")
    audio = container.streams.audio[0] if container.streams.audio else None

    scan = _scan_packets(container, video)
    if not scan.video_pts:
        raise _reject(TRUNCATED, "the video stream has no packets")
    if scan.first_frame is None:
        raise _reject(UNDECODABLE, f"no frame decoded from {_codec_name(video)}")
    declared = _declared_video_seconds(container, video)
    if declared is not None and _cut_short(scan.video_end, declared):
        raise _reject(TRUNCATED, f"video ends at {scan.video_end:.2f}s of {declared:.2f}s declared")

    video_codec = _codec_name(video)
    audio_codec = _codec_name(audio) if audio is not None else None
    audio_rate = _sample_rate(audio) if audio is not None else None
    declared_total = container.duration / av.time_base if container.duration else 0.0
    variable = _is_variable_frame_rate(scan.video_pts)
    codecs = {video_codec} if audio_codec is None else {video_codec, audio_codec}
    return VideoProbe(
        container=_container_name(format_name, container.metadata, head, codecs),
        video_codec=video_codec,
        width=video.width or scan.first_frame.width,
        height=video.height or scan.first_frame.height,
        # The longer of what the header says and what the packets reach, so a header that
        # understates the length cannot slip a long video past the length limit.
        duration_seconds=round(max(declared_total, scan.media_end), 3),
        frame_rate=round(_average_rate(video, scan.video_pts, variable), 3),
        rotation=_rotation(video, scan.first_frame),
        variable_frame_rate=variable,
        audio_codec=audio_codec,
        audio_sample_rate=audio_rate,
    )


def _main_video_stream(container: InputContainer) -> VideoStream | None:
    # Cover art in an .m4a/.mp3 is a "video" stream flagged as an attached picture.
    still = Disposition.attached_pic | Disposition.still_image
    candidates = [s for s in container.streams.video if not s.disposition & still]
    for stream in candidates:
        if stream.disposition & Disposition.default:
            return stream
    return candidates[0] if candidates else None


def _scan_packets(container: InputContainer, video: VideoStream) -> _Scan:
    scan = _Scan()
    start = container.start_time / av.time_base if container.start_time else 0.0
    tried = 0
    try:
        for packet in container.demux():
            if packet.size == 0:  # PyAV's end-of-stream marker, not data
                continue
            if packet.stream.type not in ("video", "audio"):
                continue  # subtitles, chapters, timecode tracks: not what we render
            if packet.is_corrupt:  # the demuxer read less than the index promised
                raise _reject(TRUNCATED, f"corrupt packet in stream {packet.stream_index}")
            stamp = packet.pts if packet.pts is not None else packet.dts
            is_video = packet.stream_index == video.index
            if stamp is not None:
                end = float((stamp + (packet.duration or 0)) * packet.time_base) - start
                scan.media_end = max(scan.media_end, end)
                if is_video:
                    scan.video_pts.append(stamp)
                    scan.video_end = max(scan.video_end, end)
            if is_video and scan.first_frame is None and tried < _FIRST_FRAME_PACKET_LIMIT:
                tried += 1
                scan.first_frame = _try_decode(video, packet)
    except av.error.FFmpegError as exc:
        raise _reject(TRUNCATED, "demux failed", exc) from None
    if scan.first_frame is None and scan.video_pts:
        scan.first_frame = _try_decode(video, None)  # drain a decoder that buffers frames
    return scan


def _try_decode(video: VideoStream, packet: Packet | None) -> VideoFrame | None:
    try:
        frames = video.decode(packet)
    except av.error.FFmpegError as exc:
        # One bad packet before the first keyframe is survivable; the caller gives up only
        # if no frame ever comes out.
        logger.info("media probe: video packet did not decode: %s", _exc_text(exc))
        return None
    return frames[0] if frames else None


def _declared_video_seconds(container: InputContainer, video: VideoStream) -> float | None:
    """How long the header says the video track is; None when it does not say.

    MP4/MOV and AVI declare per-track lengths; Matroska/WebM only the whole file's, and a
    live-recorded WebM (browser MediaRecorder, Loom-style tools) declares nothing at all.
    """
    candidates: list[float] = []
    if video.duration and video.time_base:
        candidates.append(float(video.duration * video.time_base))
    if video.frames and video.average_rate:
        # AVI keeps the frame count in its front header even when the index at the end is gone.
        candidates.append(float(video.frames / video.average_rate))
    if not candidates and container.duration:
        candidates.append(container.duration / av.time_base)
    return max(candidates) if candidates else None


def _cut_short(actual_end: float, declared: float) -> bool:
    gap = declared - actual_end
    return actual_end < declared * _TRUNCATED_SHARE and gap > _TRUNCATED_MIN_GAP_S


def _codec_name(stream: Stream) -> str:
    if stream.codec_context is None:  # no decoder in this FFmpeg build (stubs say never)
        return "unknown"  # type: ignore[unreachable]
    # canonical_name is the codec's name ("av1"); .name is the decoder's ("libdav1d").
    return stream.codec_context.codec.canonical_name


def _sample_rate(audio: AudioStream) -> int | None:
    if audio.codec_context is None:  # stubs say never; FFmpeg builds without a decoder disagree
        return None  # type: ignore[unreachable]
    return audio.codec_context.sample_rate or None


def _average_rate(video: VideoStream, video_pts: list[int], variable: bool) -> float:
    """Frames per second on average.

    The declared rate is exact (30000/1001) for constant-rate video, but Matroska declares its
    nominal rate even when frames were dropped, and a live-recorded WebM declares none; those
    get the rate the timestamps actually show.
    """
    if video.average_rate and not variable:
        return float(video.average_rate)
    stamps = sorted(set(video_pts))
    if len(stamps) >= 2 and video.time_base:
        span = float((stamps[-1] - stamps[0]) * video.time_base)
        if span > 0:
            return (len(stamps) - 1) / span
    return float(video.average_rate or video.guessed_rate or 0)


def _rotation(video: VideoStream, first_frame: VideoFrame) -> int:
    """Clockwise display rotation, snapped to 0/90/180/270.

    FFmpeg hands the container's display matrix (MP4/MOV ``tkhd``, Matroska projection) to the
    decoder, so it arrives on the first frame; PyAV reports it counter-clockwise. Files from old
    muxers may instead carry a clockwise ``rotate`` tag.
    """
    counter_clockwise = first_frame.rotation
    if counter_clockwise:
        return round(-counter_clockwise / 90) * 90 % 360
    tag = video.metadata.get("rotate", "")
    try:
        return round(float(tag) / 90) * 90 % 360
    except ValueError:
        return 0


def _is_variable_frame_rate(video_pts: list[int]) -> bool:
    """True when the gaps between frames differ substantially (packet timestamps, no decode)."""
    stamps = sorted(set(video_pts))  # sorted: B-frames arrive out of presentation order
    if len(stamps) < 3:
        return False
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    typical = statistics.median(gaps)
    # Matroska's 1 ms ticks make constant 30 fps alternate 33/34 ms: a one-tick wobble is
    # rounding, not a changing frame rate.
    tolerance = max(typical * _VFR_DEVIATION, 1)
    differing = sum(1 for gap in gaps if abs(gap - typical) > tolerance)
    return differing > len(gaps) * _VFR_SHARE


def _container_name(format_name: str, metadata: Mapping[str, str], head: bytes, codecs: set[str]) -> str:
    aliases = format_name.split(",")
    if "mov" in aliases and "mp4" in aliases:
        # One FFmpeg demuxer reads the whole ISO family; the ftyp major brand tells them apart.
        brand = metadata.get("major_brand", "").strip().lower()
        if brand in ("", "qt"):  # classic QuickTime files have no ftyp box at all
            return "mov"
        for family in ("3gp", "3g2", "mj2"):
            if brand.startswith(family):
                return family
        return "mp4"
    if "matroska" in aliases:
        # FFmpeg does not expose the EBML DocType, so read it from the header ourselves.
        doctype = _ebml_doctype(head)
        if doctype == "webm":
            return "webm"
        if doctype == "matroska":
            return "mkv"
        # Unreadable header: WebM allows only VP8/VP9/AV1 with Opus/Vorbis.
        return "webm" if codecs <= _WEBM_CODECS else "mkv"
    return aliases[0]


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string ("webm", "matroska") from a Matroska file's EBML header, if readable."""
    if not head.startswith(_EBML_MAGIC):
        return None
    try:
        size, pos = _ebml_vint(head, len(_EBML_MAGIC), keep_marker=False)
        end = min(len(head), pos + size)
        while pos < end:
            element_id, pos = _ebml_vint(head, pos, keep_marker=True)
            size, pos = _ebml_vint(head, pos, keep_marker=False)
            if element_id == _EBML_DOCTYPE_ID:
                return head[pos : pos + size].rstrip(b"\0").decode("ascii", "replace")
            pos += size
    except IndexError:
        return None
    return None


def _ebml_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """Decode an EBML variable-length integer at ``pos``; return (value, next position).

    Raises
    ------
    IndexError
        If the data ends inside the integer or its first byte is zero (invalid).
    """
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if length > 8:
        raise IndexError("invalid EBML vint")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if pos + length > len(data):
        raise IndexError("EBML vint runs past the data")
    return value, pos + length


def _looks_like_video_container(head: bytes) -> bool:
    if head[4:8] in _ISO_BMFF_BOXES:
        return True
    if head.startswith(_EBML_MAGIC):
        return True
    return head.startswith(b"RIFF") and head[8:12] == b"AVI "


def _reject(reason: str, cause: str, exc: BaseException | None = None) -> UploadRejectedError:
    # The seller sees only `reason`; FFmpeg's wording goes to the log for us.
    detail = f"{cause}: {_exc_text(exc)}" if exc is not None else cause
    logger.info("media probe rejected the upload (%s): %s", reason, detail)
    return UploadRejectedError(reason)


def _exc_text(exc: BaseException) -> str:
    # FFmpeg errors carry the file path, and uploads keep the seller's file name (personal
    # data, e.g. "pitch-for-jane-doe.mp4"): log the error text without it.
    text = exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else str(exc)
    return f"{type(exc).__name__}: {text}"
