"""HLS playlists: read the ladder's, write a prospect's. Pure (text in, text out; ``m3u8`` parses).

A prospect's video is a set of small playlists. Its media playlists list the base's shared
segments, except the few that its window job re-encoded; its multivariant playlist points at the
base's own video playlists for every rendition the window did not touch. URIs are relative, so
the same objects play from the CloudFront domain, the local gateway, or a downloaded folder.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import m3u8

from chalicelib.domain.errors import TailorcastError

#: A window segment may differ from the base segment it replaces by less than this (seconds).
#: Audio segments are cut on the same AAC grid, video on the same frame grid: they match to the
#: microsecond the playlists print, so this only absorbs the 6-decimal rounding.
DURATION_TOLERANCE = 0.0005


class PlaylistError(TailorcastError):
    """A playlist is not what the ladder or the window job should have written."""

    code = "playlist_error"


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int | None
    codecs: str
    resolution: tuple[int, int]
    frame_rate: float | None


@dataclass(frozen=True)
class Master:
    audio_group: str
    audio_uri: str
    audio_channels: str | None
    variants: list[Variant]


def parse_master(text: str) -> Master:
    """Read a ladder's multivariant playlist (one audio rendition group, video variants)."""
    playlist = m3u8.loads(text)
    if not playlist.is_variant:
        raise PlaylistError("expected a multivariant playlist")
    audio = [m for m in playlist.media if m.type == "AUDIO" and m.uri]
    if len(audio) != 1:
        raise PlaylistError(f"expected one audio rendition, found {len(audio)}")
    variants = []
    for p in playlist.playlists:
        info = p.stream_info
        if info.resolution is None or not info.codecs:
            raise PlaylistError(f"variant {p.uri} lacks RESOLUTION or CODECS")
        if info.audio != audio[0].group_id:
            raise PlaylistError(f"variant {p.uri} is not bound to the audio group")
        variants.append(
            Variant(
                uri=p.uri,
                bandwidth=int(info.bandwidth),
                average_bandwidth=int(info.average_bandwidth) if info.average_bandwidth else None,
                codecs=info.codecs,
                resolution=info.resolution,
                frame_rate=float(info.frame_rate) if info.frame_rate else None,
            )
        )
    return Master(audio[0].group_id, audio[0].uri, audio[0].channels, variants)


@dataclass(frozen=True)
class MediaPlaylist:
    map_uri: str
    segments: list[tuple[str, float]]
    target_duration: int

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.segments)


def parse_media(text: str) -> MediaPlaylist:
    playlist = m3u8.loads(text)
    if playlist.is_variant or not playlist.segments:
        raise PlaylistError("expected a media playlist with segments")
    if not playlist.is_endlist:
        raise PlaylistError("expected a complete (VOD) playlist")
    maps = {m.uri for m in playlist.segment_map}
    if len(maps) != 1:
        raise PlaylistError("expected one EXT-X-MAP")
    return MediaPlaylist(
        map_uri=maps.pop(),
        segments=[(s.uri, float(s.duration)) for s in playlist.segments],
        target_duration=int(playlist.target_duration or 0),
    )


def relative(from_dir: str, to_key: str) -> str:
    """URI of object ``to_key`` as seen from a playlist stored under ``from_dir`` (both keys)."""
    return posixpath.relpath(to_key, from_dir)


def spliced_media(
    base: MediaPlaylist,
    base_dir: str,
    window: MediaPlaylist,
    window_dir: str,
    first: int,
    here: str,
) -> str:
    """The base rendition with segments ``first``… replaced by the window's, written for ``here``.

    The base's init segment serves the window's segments too (same codec configuration), so the
    playlist keeps one ``EXT-X-MAP`` and needs no discontinuity.
    """
    last = first + len(window.segments)
    if first < 0 or last > len(base.segments):
        raise PlaylistError(
            f"window segments {first}..{last - 1} fall outside the base's {len(base.segments)} segments"
        )
    for i, (_, seconds) in enumerate(window.segments):
        expected = base.segments[first + i][1]
        if abs(seconds - expected) > DURATION_TOLERANCE:
            raise PlaylistError(
                f"window segment {i} lasts {seconds:.6f} s where the base's segment {first + i} "
                f"lasts {expected:.6f} s"
            )
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(base.target_duration, window.target_duration)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{relative(here, posixpath.join(base_dir, base.map_uri))}"',
    ]
    for i, (uri, seconds) in enumerate(base.segments):
        if first <= i < last:
            uri, seconds = window.segments[i - first]
            key = posixpath.join(window_dir, uri)
        else:
            key = posixpath.join(base_dir, uri)
        lines += [f"#EXTINF:{seconds:.6f},", relative(here, key)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def grown_media(
    base: MediaPlaylist,
    base_dir: str,
    window: MediaPlaylist,
    window_dir: str,
    first: int,
    replaces: int,
    extension: float,
    here: str,
    *,
    tolerance: float = DURATION_TOLERANCE,
) -> str:
    """The base rendition with segments ``first``..``first + replaces - 1`` replaced by the
    window's, which play ``extension`` s longer (a grown window, issue 17), written for ``here``.

    The window's segments start on the base's timeline, so they follow the base's earlier
    segments seamlessly. The base segments after them still carry base timestamps, ``extension``
    behind the prospect's timeline, so an ``EXT-X-DISCONTINUITY`` precedes the first of them (as
    server-side ad insertion marks a return to the main content) and the player maps them onto
    the playlist's timeline there; every rendition of a prospect marks it before the same base
    segment, so audio and video stay together. A VOD playlist has no earlier discontinuities, so
    ``EXT-X-DISCONTINUITY-SEQUENCE`` is 0.

    Raises
    ------
    PlaylistError
        The window lies outside the base, or its segments do not add up to the replaced
        segments plus ``extension`` (within ``tolerance``).
    """
    last = first + replaces
    if first < 0 or replaces < 1 or last > len(base.segments):
        raise PlaylistError(
            f"window segments {first}..{last - 1} fall outside the base's {len(base.segments)} segments"
        )
    expected = sum(s for _, s in base.segments[first:last]) + extension
    if abs(window.duration - expected) > tolerance:
        raise PlaylistError(
            f"the window's segments last {window.duration:.6f} s where the {replaces} base segments "
            f"they replace, grown by {extension:.6f} s, last {expected:.6f} s"
        )
    entries: list[tuple[str, float, bool]] = [
        (posixpath.join(base_dir, uri), s, False) for uri, s in base.segments[:first]
    ]
    entries += [(posixpath.join(window_dir, uri), s, False) for uri, s in window.segments]
    entries += [
        (posixpath.join(base_dir, uri), s, i == last) for i, (uri, s) in enumerate(base.segments) if i >= last
    ]
    target = max(base.target_duration, window.target_duration, *(round(s) for _, s, _ in entries))
    init = f'#EXT-X-MAP:URI="{relative(here, posixpath.join(base_dir, base.map_uri))}"'
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        init,
    ]
    for key, seconds, discontinuity in entries:
        if discontinuity:
            lines += ["#EXT-X-DISCONTINUITY", init]  # the same init: repeated for players that reset
        lines += [f"#EXTINF:{seconds:.6f},", relative(here, key)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def prospect_master(base: Master, base_dir: str, here: str, replaced: dict[str, str]) -> str:
    """The base's multivariant playlist for a prospect: ``replaced`` maps a base playlist URI
    (a variant's or the audio rendition's) to the prospect's own playlist key."""

    def uri(base_uri: str) -> str:
        key = replaced.get(base_uri) or posixpath.join(base_dir, base_uri)
        return relative(here, key)

    channels = f',CHANNELS="{base.audio_channels}"' if base.audio_channels else ""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{base.audio_group}",NAME="Audio",LANGUAGE="und",'
        f'AUTOSELECT=YES,DEFAULT=YES{channels},URI="{uri(base.audio_uri)}"',
    ]
    for v in base.variants:
        average = f",AVERAGE-BANDWIDTH={v.average_bandwidth}" if v.average_bandwidth else ""
        rate = f",FRAME-RATE={v.frame_rate:.3f}" if v.frame_rate else ""
        lines.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth}{average},CODECS="{v.codecs}",'
            f'RESOLUTION={v.resolution[0]}x{v.resolution[1]}{rate},AUDIO="{base.audio_group}"'
        )
        lines.append(uri(v.uri))
    return "\n".join(lines) + "\n"
