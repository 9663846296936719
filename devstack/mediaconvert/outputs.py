"""What a job reads and writes besides ffmpeg's own output: the input's probe, the fMP4 boxes
of a rendition, its HLS playlists and the multivariant playlist, as MediaConvert writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib.domain.media.ladder import frame_rate_for
from devstack.mediaconvert.plan import Plan, VideoOut
from devstack.mediaconvert.server import JobError


@dataclass(frozen=True)
class SourceInfo:
    duration: float
    fps: int
    has_audio: bool


def probe_source(path: Path) -> SourceInfo:
    """What the job needs to know of its input (MediaConvert's PROBING phase)."""
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise JobError(1010, f"the input could not be read: {exc}") from exc
    with container:
        if not container.streams.video:
            raise JobError(1030, "the input has no video track")
        video = container.streams.video[0]
        rate = float(video.average_rate or video.guessed_rate or 30)
        if container.duration:
            duration = container.duration / 1_000_000
        elif video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        else:
            raise JobError(1010, "the input's duration is unknown")
        has_audio = bool(container.streams.audio)
    return SourceInfo(duration, frame_rate_for(rate), has_audio)


@dataclass(frozen=True)
class Rendition:
    playlist: Path
    init: Path
    segments: list[Path]
    durations: list[float]
    width: int
    height: int
    fps: int
    codecs: str
    audio_group: str | None

    @property
    def duration(self) -> float:
        return sum(self.durations)

    def peak_bitrate(self) -> int:
        return max(
            (
                round(s.stat().st_size * 8 / d)
                for s, d in zip(self.segments, self.durations, strict=True)
                if d > 0
            ),
            default=0,
        )

    def average_bitrate(self) -> int:
        total = sum(s.stat().st_size for s in self.segments)
        return round(total * 8 / self.duration) if self.duration else 0


def collect_renditions(out: Path, name: str, plan: Plan) -> list[Rendition]:
    import m3u8

    renditions = []
    outputs: list[tuple[str, VideoOut | None]] = [(v.modifier, v) for v in plan.videos]
    outputs.append((plan.audio.modifier, None))
    for modifier, video in outputs:
        playlist = out / f"{name}{modifier}.m3u8"
        parsed = m3u8.load(str(playlist))
        init = out / parsed.segment_map[0].uri
        renditions.append(
            Rendition(
                playlist=playlist,
                init=init,
                segments=[out / s.uri for s in parsed.segments],
                durations=[float(s.duration) for s in parsed.segments],
                width=video.width if video else 0,
                height=video.height if video else 0,
                fps=video.fps if video else 0,
                codecs=codec_string(init.read_bytes()),
                audio_group=None if video else plan.audio.group,
            )
        )
    return renditions


def split_fragments(data: bytes) -> tuple[bytes, list[bytes]]:
    """Cut a fragmented MP4 into its init (``ftyp`` + ``moov``) and one ``moof``+``mdat`` per fragment.

    Only top-level box headers are read (size, type); nothing inside a box is touched.
    """
    init, fragments = bytearray(), []
    off = 0
    while off + 8 <= len(data):
        size, kind = int.from_bytes(data[off : off + 4], "big"), data[off + 4 : off + 8]
        if size == 1:
            size = int.from_bytes(data[off + 8 : off + 16], "big")
        if size < 8 or off + size > len(data):
            raise JobError(1020, f"malformed MP4 box {kind!r} at byte {off}")
        box = data[off : off + size]
        if kind in (b"ftyp", b"moov"):
            init += box
        elif kind == b"moof":
            fragments.append(bytearray(box))
        elif kind == b"mdat" and fragments:
            fragments[-1] += box
        off += size
    return bytes(init), [bytes(f) for f in fragments]


def write_rendition(
    out: Path, stem: str, init: bytes, fragments: list[bytes], durations: list[float], plan: Plan
) -> None:
    """Write one rendition the way the ladder's muxer does: an init, numbered segments, a VOD playlist."""
    (out / f"{stem}_init.mp4").write_bytes(init)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{plan.segment_seconds}"]
    lines += ["#EXT-X-MEDIA-SEQUENCE:1", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    lines.append(f'#EXT-X-MAP:URI="{stem}_init.mp4"')
    for n, (fragment, seconds) in enumerate(zip(fragments, durations, strict=True)):
        segment = f"{stem}_{n + 1:05d}.mp4"
        (out / segment).write_bytes(fragment)
        lines += [f"#EXTINF:{seconds:.6f},", segment]
    lines.append("#EXT-X-ENDLIST")
    (out / f"{stem}.m3u8").write_text("\n".join(lines) + "\n")


def codec_string(init: bytes) -> str:
    """RFC 6381 codec of an init segment: ``avc1.PPCCLL`` from avcC, ``mp4a.40.N`` from esds."""
    at = init.find(b"avcC")
    if at >= 0:
        profile, compat, level = init[at + 5], init[at + 6], init[at + 7]
        return f"avc1.{profile:02x}{compat:02x}{level:02x}"
    at = init.find(b"esds")
    if at >= 0:
        return f"mp4a.40.{_aac_object_type(init, at + 8)}"  # after the box type and version/flags
    raise ValueError("init segment has neither avcC nor esds")


def _aac_object_type(data: bytes, pos: int) -> int:
    """The AudioSpecificConfig's object type, reached by walking the MPEG-4 descriptors of an
    ``esds`` payload at ``pos``: ES_Descriptor (3) → DecoderConfigDescriptor (4) →
    DecoderSpecificInfo (5), whose first 5 bits are the object type (2 = AAC-LC)."""

    def header(p: int) -> tuple[int, int, int]:
        tag, p = data[p], p + 1
        size = 0
        for _ in range(4):  # expandable size: 7 bits per byte, high bit = more
            byte, p = data[p], p + 1
            size = (size << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        return tag, size, p

    tag, _, p = header(pos)
    if tag != 0x03:
        raise ValueError("esds does not start with an ES_Descriptor")
    flags = data[p + 2]
    p += 3  # ES_ID, flags
    if flags & 0x80:
        p += 2  # dependsOn_ES_ID
    if flags & 0x40:
        p += 1 + data[p]  # URL
    if flags & 0x20:
        p += 2  # OCR_ES_ID
    tag, _, p = header(p)
    if tag != 0x04:
        raise ValueError("esds has no DecoderConfigDescriptor")
    p += 13  # objectTypeIndication, streamType, bufferSizeDB, maxBitrate, avgBitrate
    tag, _, p = header(p)
    if tag != 0x05:
        raise ValueError("esds has no DecoderSpecificInfo")
    return int(data[p] >> 3)


def write_master(out: Path, name: str, plan: Plan, renditions: list[Rendition]) -> Path:
    """The multivariant playlist MediaConvert writes for a CMAF group with HLS on."""
    audio = next(r for r in renditions if r.audio_group)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    lines.append(
        f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{audio.audio_group}",NAME="Audio",LANGUAGE="und",'
        f'AUTOSELECT=YES,DEFAULT=YES,CHANNELS="{plan.audio.channels}",URI="{audio.playlist.name}"'
    )
    for r in sorted((r for r in renditions if r.width), key=lambda r: r.height):
        peak = r.peak_bitrate() + audio.peak_bitrate()
        average = r.average_bitrate() + audio.average_bitrate()
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f'CODECS="{r.codecs},{audio.codecs}",RESOLUTION={r.width}x{r.height},'
            f'FRAME-RATE={r.fps:.3f},AUDIO="{audio.audio_group}"'
        )
        lines.append(r.playlist.name)
    if not any(r.width for r in renditions):  # audio-only job: the audio is the one variant
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={audio.peak_bitrate()},AVERAGE-BANDWIDTH={audio.average_bitrate()},"
            f'CODECS="{audio.codecs}"'
        )
        lines.append(audio.playlist.name)
    master = out / f"{name}.m3u8"
    master.write_text("\n".join(lines) + "\n")
    return master
