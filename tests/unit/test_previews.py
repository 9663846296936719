"""Name-card overlay and email previews (poster, animated WebP and GIF, MP4 download) on a real HLS
rendition.

The rendition is made once per module by imageio-ffmpeg's ffmpeg: 6 s of 1280x720 30 fps test
pattern in H.264 (with B-frames, as real renders have) plus a 440 Hz AAC tone, packaged as HLS
fMP4 with demuxed audio and 2 s segments, and read back through its playlists like the
Lambdas do.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg
import m3u8  # type: ignore[import-untyped]  # m3u8 ships no type hints
import pytest
from PIL import Image, ImageChops, ImageStat
from PIL.GifImagePlugin import GifImageFile
from PIL.WebPImagePlugin import WebPImageFile

from chalicelib.adapters.frames import PyAVMediaCodec
from chalicelib.domain import media
from chalicelib.domain.models import OverlayText, ProspectVideo, RenderWindow
from chalicelib.media.overlay import card_box, render_overlay
from chalicelib.media.previews import (
    animated_preview,
    encode_animation,
    mp4_download,
    poster_jpeg,
    preview_frames,
)
from tests import fakes

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 30, 6


@dataclass(frozen=True)
class Track:
    init: bytes
    segments: list[bytes]


@dataclass(frozen=True)
class Rendition:
    video: Track
    audio: Track


def _track(playlist: Path) -> Track:
    parsed = m3u8.load(str(playlist))
    base = playlist.parent
    return Track(
        init=(base / parsed.segment_map[0].uri).read_bytes(),
        segments=[(base / segment.uri).read_bytes() for segment in parsed.segments],
    )


@pytest.fixture(scope="module")
def rendition(tmp_path_factory: pytest.TempPathFactory) -> Rendition:
    out = tmp_path_factory.mktemp("hls")
    # fmt: off
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(SECONDS), "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4", "-hls_playlist_type", "vod",
        "-var_stream_map", "v:0 a:0", "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", str(out / "seg%v_%d.m4s"), str(out / "media%v.m3u8"),
    ]
    # fmt: on
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    video, audio = _track(out / "media0.m3u8"), _track(out / "media1.m3u8")
    assert len(video.segments) == SECONDS // 2
    return Rendition(video=video, audio=audio)


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _webp(data: bytes) -> WebPImageFile:
    image = _image(data)
    assert isinstance(image, WebPImageFile)
    return image


def _gif(data: bytes) -> GifImageFile:
    image = _image(data)
    assert isinstance(image, GifImageFile)
    return image


def _differs(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is not None


def _white_bbox(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the near-white, near-opaque pixels (the card's text)."""
    rgba = image.convert("RGBA")
    bright = rgba.convert("L").point(lambda v: 255 if v > 200 else 0)
    opaque = rgba.getchannel("A").point(lambda v: 255 if v > 200 else 0)
    return ImageChops.multiply(bright, opaque).getbbox()


# --- overlay -------------------------------------------------------------------------------


def test_overlay_is_a_transparent_png_but_for_the_card() -> None:
    image = _image(render_overlay("José Nguyễn", WIDTH, HEIGHT, subtitle="Acme Corp"))

    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.size == (WIDTH, HEIGHT)
    box = card_box(WIDTH, HEIGHT)
    outside = image.getchannel("A")
    outside.paste(0, box)
    assert outside.getbbox() is None  # fully transparent outside the card
    inset = (box[0] + 30, box[1] + 30, box[2] - 30, box[3] - 30)  # inside the rounded corners
    transparent = image.getchannel("A").crop(inset).point(lambda v: 255 if v == 0 else 0)
    assert transparent.getbbox() is None  # the panel fills the box
    text = _white_bbox(image)
    assert text is not None
    assert box[0] <= text[0] and text[2] <= box[2] and box[1] <= text[1] and text[3] <= box[3]


@pytest.mark.parametrize("name", ["José", "Zoë", "Nguyễn", "Łukasz", "O'Brien", "山田", "Ma\u0301rta"])
def test_unicode_names_render(name: str) -> None:
    # 山田: DejaVu has no CJK glyphs, so it draws placeholder boxes, but it must not fail.
    image = _image(render_overlay(name, 640, 360))
    assert _white_bbox(image) is not None


def test_long_name_shrinks_and_stays_inside_the_card() -> None:
    name = "Wolfeschlegelsteinhausenbergerdorff " * 6
    box = card_box(WIDTH, HEIGHT)

    text = _white_bbox(_image(render_overlay(name, WIDTH, HEIGHT, subtitle="A company " * 20)))

    assert text is not None
    assert box[0] < text[0] and text[2] < box[2]
    assert text[2] - text[0] <= WIDTH * 0.8


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_blank_overlay_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        render_overlay(text, WIDTH, HEIGHT)


def test_overlay_is_deterministic_and_scales_with_the_frame() -> None:
    first = render_overlay("Zoë O'Brien", WIDTH, HEIGHT, subtitle="Initech")
    assert render_overlay("Zoë O'Brien", WIDTH, HEIGHT, subtitle="Initech") == first
    small, large = card_box(640, 360), card_box(1920, 1080)
    assert large == pytest.approx(tuple(3 * v for v in small), abs=2)
    with pytest.raises(ValueError, match="too small"):
        render_overlay("Ann", 16, 16)


# --- poster --------------------------------------------------------------------------------


def test_poster_is_a_progressive_jpeg_of_the_frame(rendition: Rendition) -> None:
    poster = _image(poster_jpeg(rendition.video.init, rendition.video.segments, at_seconds=0.5))

    assert poster.format == "JPEG"
    assert poster.size == (WIDTH, HEIGHT)
    assert poster.info.get("progressive")


def test_poster_downscales_to_max_width(rendition: Rendition) -> None:
    data = poster_jpeg(rendition.video.init, rendition.video.segments, at_seconds=1.0, max_width=640)
    assert _image(data).size == (640, 360)


def test_overlay_changes_the_card_region_of_the_poster(rendition: Rendition) -> None:
    video = rendition.video
    overlay = render_overlay("Łukasz Nowak", WIDTH, HEIGHT, subtitle="Globex")
    plain = _image(poster_jpeg(video.init, video.segments, at_seconds=1.0, play_button=False))
    carded = _image(
        poster_jpeg(video.init, video.segments, at_seconds=1.0, overlay_png=overlay, play_button=False)
    )
    box = card_box(WIDTH, HEIGHT)

    assert _differs(plain.crop(box), carded.crop(box))
    assert not _differs(plain.crop((0, 0, WIDTH, box[1] - 8)), carded.crop((0, 0, WIDTH, box[1] - 8)))


def test_overlay_of_another_size_is_scaled_to_the_frame(rendition: Rendition) -> None:
    video = rendition.video
    overlay = render_overlay("Ann", 640, 360)
    plain = _image(poster_jpeg(video.init, video.segments, at_seconds=1.0, play_button=False))
    carded = _image(
        poster_jpeg(video.init, video.segments, at_seconds=1.0, overlay_png=overlay, play_button=False)
    )
    assert _differs(plain.crop(card_box(WIDTH, HEIGHT)), carded.crop(card_box(WIDTH, HEIGHT)))


def test_play_button_is_drawn_in_the_centre(rendition: Rendition) -> None:
    video = rendition.video
    plain = _image(poster_jpeg(video.init, video.segments, at_seconds=1.0, play_button=False))
    button = _image(poster_jpeg(video.init, video.segments, at_seconds=1.0))
    centre = (WIDTH // 2 - 40, HEIGHT // 2 - 40, WIDTH // 2 + 40, HEIGHT // 2 + 40)
    assert _differs(plain.crop(centre), button.crop(centre))
    assert not _differs(plain.crop((0, 0, 200, 200)), button.crop((0, 0, 200, 200)))


def test_at_seconds_selects_the_frame(rendition: Rendition) -> None:
    video = rendition.video
    early = _image(poster_jpeg(video.init, video.segments, at_seconds=0.5))
    late = _image(poster_jpeg(video.init, video.segments, at_seconds=4.5))
    assert _differs(early, late)


def test_poster_times_are_on_the_absolute_timeline(rendition: Rendition) -> None:
    # GIVEN only the third segment (4-6 s), as a caller fetching just what it needs would
    video = rendition.video
    whole = _image(poster_jpeg(video.init, video.segments, at_seconds=4.5))
    tail = _image(poster_jpeg(video.init, video.segments[2:], at_seconds=4.5))
    also_tail = _image(poster_jpeg(video.init, video.segments[1:], at_seconds=4.5))

    assert not _differs(whole, tail)  # the very same frame
    assert not _differs(whole, also_tail)
    with pytest.raises(ValueError, match="segments start at"):
        poster_jpeg(video.init, video.segments[2:], at_seconds=0.5)


@pytest.mark.parametrize(
    ("segments", "at", "message"),
    [
        ([], 1.0, "at least one video segment"),
        ([b""], 1.0, "at least one video segment"),
        ([b"not an mp4 fragment at all" * 10], 1.0, "video"),
        (None, 60.0, "end before"),
    ],
)
def test_poster_refuses_bad_input(
    rendition: Rendition, segments: list[bytes] | None, at: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        poster_jpeg(
            rendition.video.init, rendition.video.segments if segments is None else segments, at_seconds=at
        )


def test_poster_refuses_an_undecodable_init(rendition: Rendition) -> None:
    with pytest.raises(ValueError, match="video"):
        poster_jpeg(b"\x00" * 64, rendition.video.segments, at_seconds=1.0)
    with pytest.raises(ValueError, match="overlay_png"):
        poster_jpeg(rendition.video.init, rendition.video.segments, at_seconds=1.0, overlay_png=b"nope")


# --- animated preview ----------------------------------------------------------------------


def test_animated_preview_is_a_looping_webp(rendition: Rendition) -> None:
    overlay = render_overlay("Zoë", WIDTH, HEIGHT)
    data = animated_preview(
        rendition.video.init, rendition.video.segments, start_seconds=1.0, overlay_png=overlay
    )

    image = _webp(data)
    assert image.format == "WEBP"
    assert image.is_animated
    assert image.n_frames == 24  # 3 s at 8 fps
    assert image.info["loop"] == 0
    assert image.size == (480, 270)
    assert len(data) < 1_000_000
    image.seek(0)
    first = image.convert("RGB")
    image.seek(image.n_frames - 1)
    assert _differs(first, image.convert("RGB"))  # it moves


def test_animated_preview_ends_with_the_video(rendition: Rendition) -> None:
    data = animated_preview(rendition.video.init, rendition.video.segments, start_seconds=5.0, seconds=3.0)
    assert 8 <= _webp(data).n_frames <= 9  # only ~1 s of video is left


def test_tight_budget_steps_down_until_it_fits(rendition: Rendition) -> None:
    video = rendition.video
    full = animated_preview(video.init, video.segments, start_seconds=0.0)
    budget = len(full) // 3

    data = animated_preview(video.init, video.segments, start_seconds=0.0, max_bytes=budget)

    assert len(data) <= budget
    image = _webp(data)
    assert image.is_animated
    assert image.size[0] <= 480


def test_impossible_budget_is_refused(rendition: Rendition) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        animated_preview(rendition.video.init, rendition.video.segments, start_seconds=0.0, max_bytes=2_000)


# --- animated GIF (email clients without WebP) ---------------------------------------------


def test_animated_gif_is_a_looping_gif_within_its_budget(rendition: Rendition) -> None:
    overlay = render_overlay("Zoë", WIDTH, HEIGHT)
    frames = preview_frames(
        rendition.video.init, rendition.video.segments, start_seconds=1.0, overlay_png=overlay
    )

    data = encode_animation(frames, image_format="gif", width=400, max_bytes=1_500_000)

    image = _gif(data)
    assert data.startswith(b"GIF89a")
    assert image.is_animated
    assert image.n_frames == 24  # 3 s at 8 fps: every frame of the moving pattern kept
    assert image.info["loop"] == 0  # loops forever
    assert image.info["duration"] in (120, 130)  # 125 ms, in the GIF's centiseconds
    assert image.size == (400, 225)
    assert len(data) <= 1_500_000
    image.seek(0)
    first = image.convert("RGB")
    image.seek(image.n_frames - 1)
    assert _differs(first, image.convert("RGB"))  # it moves


def test_gif_and_webp_show_the_same_frames(rendition: Rendition) -> None:
    # GIVEN one set of frames (one decode)
    frames = preview_frames(rendition.video.init, rendition.video.segments, start_seconds=2.0)
    # WHEN it is encoded in both formats
    webp = _webp(encode_animation(frames, image_format="webp"))
    gif = _gif(encode_animation(frames, image_format="gif", width=400))
    # THEN both have every frame, and the GIF's first frame is the WebP's, within palette error
    assert webp.n_frames == gif.n_frames == len(frames.images) == 24
    webp.seek(0)
    gif.seek(0)
    reference = webp.convert("RGB").resize(gif.size, Image.Resampling.BOX)
    error = ImageStat.Stat(ImageChops.difference(reference, gif.convert("RGB"))).mean
    assert max(error) < 6, error  # the frame 2.5 s later differs by about 11
    # AND the same frames from the wrong place differ by far more (the comparison can fail)
    elsewhere = _gif(
        encode_animation(
            preview_frames(rendition.video.init, rendition.video.segments, start_seconds=4.5),
            image_format="gif",
            width=400,
        )
    )
    elsewhere.seek(0)
    far = ImageStat.Stat(ImageChops.difference(reference, elsewhere.convert("RGB"))).mean
    assert max(far) > 2 * max(error), (far, error)


def test_animated_preview_makes_a_gif_on_request(rendition: Rendition) -> None:
    data = animated_preview(
        rendition.video.init, rendition.video.segments, start_seconds=0.0, width=320, image_format="gif"
    )
    image = _gif(data)
    assert image.size == (320, 180) and image.n_frames == 24


def test_tight_gif_budget_steps_down_until_it_fits(rendition: Rendition) -> None:
    frames = preview_frames(rendition.video.init, rendition.video.segments, start_seconds=0.0)
    full = encode_animation(frames, image_format="gif", width=400)
    budget = len(full) // 4

    data = encode_animation(frames, image_format="gif", width=400, max_bytes=budget)

    assert len(data) <= budget
    image = _gif(data)
    assert image.is_animated and image.info["loop"] == 0
    assert image.size[0] <= 400


def test_impossible_gif_budget_is_refused(rendition: Rendition) -> None:
    frames = preview_frames(rendition.video.init, rendition.video.segments, start_seconds=0.0)
    with pytest.raises(ValueError, match=r"gif preview needs .* over max_bytes=2000"):
        encode_animation(frames, image_format="gif", max_bytes=2_000)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"image_format": "png"}, "image_format"),
        ({"width": 80}, "width"),
        ({"max_bytes": 0}, "max_bytes"),
    ],
)
def test_encode_animation_refuses_bad_arguments(
    rendition: Rendition, kwargs: dict[str, object], says: str
) -> None:
    frames = preview_frames(rendition.video.init, rendition.video.segments, start_seconds=0.0, seconds=0.5)
    with pytest.raises(ValueError, match=says):
        encode_animation(frames, **kwargs)  # type: ignore[arg-type]


def test_publish_previews_writes_poster_webp_and_gif(rendition: Rendition) -> None:
    # GIVEN a base ladder of one 720p rung in the media store, and a prospect's submitted render
    store = fakes.FakeObjectStore("tailorcast-test-media")
    base = media.base_prefix("acct_1", "camp_1", "upl_1")
    store.put_bytes(
        f"{base}/main.m3u8",
        (
            b"#EXTM3U\n#EXT-X-VERSION:7\n"
            b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
            b'CHANNELS="2",URI="main_audio.m3u8"\n'
            b'#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",'
            b'AUDIO="aac"\nmain_720p.m3u8\n'
        ),
        "application/vnd.apple.mpegurl",
    )
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2", "#EXT-X-PLAYLIST-TYPE:VOD"]
    lines.append('#EXT-X-MAP:URI="main_720p_init.mp4"')
    store.put_bytes(f"{base}/main_720p_init.mp4", rendition.video.init, "video/mp4")
    for i, segment in enumerate(rendition.video.segments, start=1):
        lines += ["#EXTINF:2.0,", f"main_720p_{i:05d}.mp4"]
        store.put_bytes(f"{base}/main_720p_{i:05d}.mp4", segment, "video/mp4")
    lines.append("#EXT-X-ENDLIST")
    store.put_bytes(f"{base}/main_720p.m3u8", "\n".join(lines).encode(), "application/vnd.apple.mpegurl")
    prefix = media.render_prefix("acct_1", "camp_1", "pros_1", "rnd_1")
    video = ProspectVideo(
        account_id="acct_1",
        campaign_id="camp_1",
        prospect_id="pros_1",
        render_id="rnd_1",
        base_upload_id="upl_1",
        window=RenderWindow(start=1.0, end=1.8),
        first_segment=0,
        segment_count=2,
        prefix=prefix,
    )

    # WHEN the previews are published
    fields = media.publish_previews(video, store, codec=PyAVMediaCodec())

    # THEN the poster, the WebP and the GIF are in the render's prefix, with their content types
    assert fields == {"poster": "poster.jpg", "preview": "preview.webp", "gif": "preview.gif"}
    assert store.content_types[f"{prefix}/preview.gif"] == "image/gif"
    assert store.content_types[f"{prefix}/preview.webp"] == "image/webp"
    assert store.content_types[f"{prefix}/poster.jpg"] == "image/jpeg"
    gif_bytes = store.objects[f"{prefix}/preview.gif"]
    gif = _gif(gif_bytes)
    assert gif.size == (media.PREVIEW_GIF_WIDTH, 225) and gif.n_frames == 24 and gif.info["loop"] == 0
    assert len(gif_bytes) <= media.PREVIEW_GIF_MAX_BYTES
    assert _webp(store.objects[f"{prefix}/preview.webp"]).n_frames == gif.n_frames


# --- MP4 download --------------------------------------------------------------------------


def test_mp4_download_remuxes_both_tracks(rendition: Rendition, tmp_path: Path) -> None:
    video, audio = rendition.video, rendition.audio
    dest = tmp_path / "download.mp4"

    result = mp4_download(video.init, iter(video.segments), audio.init, iter(audio.segments), dest)

    assert result == dest
    assert [p.name for p in tmp_path.iterdir()] == ["download.mp4"]  # no temporary files left
    head = dest.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart
    with av.open(str(dest)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(SECONDS, abs=0.1)
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(dest)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert frames == FPS * SECONDS
    assert samples / 48_000 == pytest.approx(SECONDS, abs=0.1)


def _earliest(source: str | io.BytesIO) -> dict[str, float]:
    """Each track's earliest presentation time, in seconds, by track type."""
    earliest: dict[str, float] = {}
    with av.open(source, "r") as container:
        for packet in container.demux():
            if packet.pts is not None:
                seconds = float(packet.pts * packet.time_base)
                kind = packet.stream.type
                earliest[kind] = min(seconds, earliest.get(kind, seconds))
    return earliest


def test_mp4_download_keeps_the_tracks_timestamps(rendition: Rendition, tmp_path: Path) -> None:
    video, audio = rendition.video, rendition.audio
    dest = mp4_download(video.init, video.segments, audio.init, audio.segments, tmp_path / "out.mp4")

    source = _earliest(io.BytesIO(video.init + b"".join(video.segments)))
    source |= _earliest(io.BytesIO(audio.init + b"".join(audio.segments)))
    remuxed = _earliest(str(dest))

    assert source["video"] > 0 and source["audio"] > 0  # encoder delay: a start offset to keep
    # The MP4 edit list stores a track's start in milliseconds, hence the tolerance.
    assert remuxed == pytest.approx(source, abs=0.001)


def test_mp4_download_refuses_missing_segments(rendition: Rendition, tmp_path: Path) -> None:
    video, audio = rendition.video, rendition.audio
    with pytest.raises(ValueError, match="no audio segments"):
        mp4_download(video.init, iter(video.segments), audio.init, iter([]), tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="video init"):
        mp4_download(b"", video.segments, audio.init, audio.segments, tmp_path / "b.mp4")
    with pytest.raises(ValueError, match="no packets"):
        mp4_download(video.init, [b"garbage" * 100], audio.init, audio.segments, tmp_path / "c.mp4")
    assert list(tmp_path.iterdir()) == []


class _CountingCodec(fakes.FakeMediaCodec):
    def __init__(self) -> None:
        self.encoded = 0

    def previews(self, init: bytes, segments: Any, **kwargs: Any) -> tuple[bytes, bytes]:
        self.encoded += 1
        return super().previews(init, segments, **kwargs)


def _two_prospects(store: fakes.FakeObjectStore, overlay: OverlayText | None) -> list[ProspectVideo]:
    base = media.base_prefix("acct_1", "camp_1", "upl_1")
    store.put_bytes(
        f"{base}/main.m3u8",
        b'#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",URI="main_audio.m3u8"\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aac"\n'
        b"main_720p.m3u8\n",
        "application/vnd.apple.mpegurl",
    )
    playlist = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="init.mp4"\n'
    playlist += "".join(f"#EXTINF:2.0,\nseg{i}.mp4\n" for i in range(3)) + "#EXT-X-ENDLIST\n"
    for folder in [base] + [
        media.render_prefix("acct_1", "camp_1", p, "rnd_1") for p in ("pros_1", "pros_2")
    ]:
        store.put_bytes(f"{folder}/main_720p.m3u8", playlist.encode(), "application/vnd.apple.mpegurl")
        store.put_bytes(f"{folder}/init.mp4", b"init", "video/mp4")
        for i in range(3):
            store.put_bytes(f"{folder}/seg{i}.mp4", f"{folder}/{i}".encode(), "video/mp4")
    return [
        ProspectVideo(
            account_id="acct_1",
            campaign_id="camp_1",
            prospect_id=p,
            render_id="rnd_1",
            base_upload_id="upl_1",
            window=RenderWindow(start=1.0, end=1.8),
            first_segment=0,
            segment_count=2,
            prefix=media.render_prefix("acct_1", "camp_1", p, "rnd_1"),
            overlay=overlay,
        )
        for p in ("pros_1", "pros_2")
    ]


def test_without_a_name_card_the_previews_are_encoded_once_and_copied_to_each_prospect() -> None:
    # GIVEN two prospects of one campaign whose renders change only the sound
    store, codec = fakes.FakeObjectStore(), _CountingCodec()
    videos = _two_prospects(store, overlay=None)

    # WHEN both are published
    for video in videos:
        assert media.publish_previews(video, store, codec=codec) == {
            "poster": "poster.jpg",
            "preview": "preview.webp",
            "gif": "preview.gif",
        }

    # THEN the pictures were made once, from the base, and each prospect has its own copies
    assert codec.encoded == 1
    for name in ("poster.jpg", "preview.webp", "preview.gif"):
        one, two = (store.objects[f"{v.prefix}/{name}"] for v in videos)
        assert one == two
    assert store.content_types[f"{videos[1].prefix}/preview.gif"] == "image/gif"
    shared = [k for k in store.objects if "/previews/" in k]
    assert len(shared) == 3 and all(
        k.startswith(media.base_prefix("acct_1", "camp_1", "upl_1")) for k in shared
    )


def test_with_a_name_card_each_prospect_gets_its_own_previews() -> None:
    store, codec = fakes.FakeObjectStore(), _CountingCodec()
    videos = _two_prospects(store, overlay=OverlayText(text="Priya"))

    for video in videos:
        media.publish_previews(video, store, codec=codec)

    assert codec.encoded == 2  # read through each prospect's own playlist (its card is in the picture)
    assert not [k for k in store.objects if "/previews/" in k]
