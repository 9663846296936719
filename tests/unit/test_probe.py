"""PyAVMediaProbe against real (tiny) media files that ffmpeg makes at test time.

Fixtures are 1-3 s at 160x120 so the whole module stays fast; they come from
``tailorcast_cli.samples`` (imageio-ffmpeg's static ffmpeg), so nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.probe import PyAVMediaProbe
from chalicelib.domain.errors import UploadRejectedError
from chalicelib.domain.models import VideoProbe
from chalicelib.domain.uploads import check_video
from tailorcast_cli import samples

FAST_MP4 = ("-movflags", "+faststart")


@pytest.fixture
def probe() -> PyAVMediaProbe:
    return PyAVMediaProbe()


def require_encoder(*names: str) -> str:
    """The first of ``names`` this ffmpeg build can encode with; skip the test if none."""
    available = samples.available_encoders()
    for name in names:
        if name in available:
            return name
    pytest.skip(f"this ffmpeg build has none of the encoders {', '.join(names)}")


def rejection(probe: PyAVMediaProbe, path: Path) -> str:
    with pytest.raises(UploadRejectedError) as caught:
        probe.probe(path)
    return caught.value.message


# --- accepted videos -----------------------------------------------------------------------


def test_h264_mp4_reports_every_field(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    clip = samples.make_video(tmp_path / "clip.mp4", seconds=2, output_args=FAST_MP4)

    result = probe.probe(clip)

    assert result.container == "mp4"
    assert result.video_codec == "h264"
    assert (result.width, result.height) == (160, 120)
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert result.frame_rate == pytest.approx(25.0)
    assert result.rotation == 0
    assert result.variable_frame_rate is False
    assert result.audio_codec == "aac"
    assert result.audio_sample_rate == 48_000


def test_quicktime_is_reported_as_mov(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN a QuickTime file (ftyp major brand "qt  "), read by the same demuxer as MP4
    clip = samples.make_video(tmp_path / "clip.mov", seconds=1)

    result = probe.probe(clip)

    assert (result.container, result.video_codec) == ("mov", "h264")
    assert result.duration_seconds == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("encoder", "audio_encoder", "codec", "audio_codec"),
    [("libvpx-vp9", "libopus", "vp9", "opus"), ("libvpx", "libvorbis", "vp8", "vorbis")],
)
def test_webm(
    probe: PyAVMediaProbe,
    tmp_path: Path,
    encoder: str,
    audio_encoder: str,
    codec: str,
    audio_codec: str,
) -> None:
    require_encoder(encoder)
    require_encoder(audio_encoder)
    clip = samples.make_video(tmp_path / "clip.webm", seconds=1, vcodec=encoder, acodec=audio_encoder)

    result = probe.probe(clip)

    assert (result.container, result.video_codec, result.audio_codec) == (
        "webm",
        codec,
        audio_codec,
    )
    assert result.duration_seconds == pytest.approx(1.0, abs=0.1)
    assert result.frame_rate == pytest.approx(25.0)


def test_mkv_with_av1(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    encoder = require_encoder("libsvtav1", "libaom-av1", "librav1e")
    # GIVEN AV1 + Opus, which WebM also allows: only the EBML DocType says "matroska"
    clip = samples.make_video(tmp_path / "clip.mkv", seconds=1, vcodec=encoder, acodec="libopus")

    result = probe.probe(clip)

    assert (result.container, result.video_codec, result.audio_codec) == ("mkv", "av1", "opus")
    assert (result.width, result.height) == (160, 120)


def test_mkv_with_h264_and_30_fps_is_constant_rate(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # Matroska's 1 ms timestamps make 30 fps frames alternate 33/34 ms; that is not VFR.
    clip = samples.make_video(tmp_path / "clip.mkv", seconds=1, fps=30)

    result = probe.probe(clip)

    assert (result.container, result.video_codec) == ("mkv", "h264")
    assert result.frame_rate == pytest.approx(30.0)
    assert result.variable_frame_rate is False


def test_avi(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    clip = samples.make_video(tmp_path / "clip.avi", seconds=2, acodec="libmp3lame")

    result = probe.probe(clip)

    assert (result.container, result.video_codec, result.audio_codec) == ("avi", "h264", "mp3")
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)


def test_live_recorded_webm_without_declared_duration(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN a WebM as browser recorders (Loom-style tools) write it: no duration in the header
    require_encoder("libvpx-vp9")
    clip = samples.make_video(
        tmp_path / "recording.webm",
        seconds=2,
        vcodec="libvpx-vp9",
        acodec="libopus",
        output_args=("-live", "1"),
    )

    result = probe.probe(clip)

    # THEN the length comes from the packets themselves
    assert result.container == "webm"
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_phone_rotation(probe: PyAVMediaProbe, tmp_path: Path, degrees: int) -> None:
    # GIVEN a phone-style clip: landscape frames plus a display matrix saying "turn 90 clockwise"
    clip = samples.make_video(tmp_path / "portrait.mp4", seconds=1, rotation=degrees)

    result = probe.probe(clip)

    assert result.rotation == degrees
    # the stored frame size is reported, not the displayed one
    assert (result.width, result.height) == (160, 120)


def test_variable_frame_rate(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN 25 fps for the first second, then every other frame dropped (12.5 fps)
    clip = samples.make_video(tmp_path / "vfr.mp4", seconds=2, vfr=True)

    result = probe.probe(clip)

    assert result.variable_frame_rate is True
    assert 15.0 < result.frame_rate < 22.0
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)


# --- rejected files ------------------------------------------------------------------------


def test_mp4_cut_before_its_moov_atom(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN an MP4 with its index (moov) at the end, and an upload that stopped halfway
    whole = samples.make_video(tmp_path / "whole.mp4", seconds=2)
    cut = samples.truncate_copy(whole, tmp_path / "cut.mp4", 0.5)
    assert probe.probe(whole).container == "mp4"  # the uncut file is fine

    assert "damaged or truncated" in rejection(probe, cut)


@pytest.mark.parametrize(
    ("name", "vcodec", "acodec", "output_args"),
    [
        ("faststart.mp4", "libx264", "aac", FAST_MP4),
        ("clip.webm", "libvpx-vp9", "libopus", ()),
    ],
)
def test_file_cut_after_its_header(
    probe: PyAVMediaProbe,
    tmp_path: Path,
    name: str,
    vcodec: str,
    acodec: str,
    output_args: tuple[str, ...],
) -> None:
    # GIVEN a header that declares 3 s, but only the first 40% of the data arrived
    require_encoder(vcodec)
    whole = samples.make_video(
        tmp_path / name, seconds=3, vcodec=vcodec, acodec=acodec, output_args=output_args
    )
    cut = samples.truncate_copy(whole, tmp_path / f"cut-{name}", 0.4)

    assert "damaged or truncated" in rejection(probe, cut)


def test_video_data_that_does_not_decode(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN an intact MP4 index whose media data has been zeroed out
    whole = samples.make_video(tmp_path / "whole.mp4", seconds=1, output_args=FAST_MP4)
    data = bytearray(whole.read_bytes())
    payload = data.index(b"mdat") + 4
    data[payload:] = bytes(len(data) - payload)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))

    assert rejection(probe, broken) == "the video track could not be decoded"


def test_text_file_named_mp4(probe: PyAVMediaProbe, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("Hi Sam, here is the script for the video.\n" * 20)

    with caplog.at_level(logging.INFO, logger="chalicelib.adapters.probe"):
        message = rejection(probe, fake)

    assert message == "this file is not a video"
    # the seller gets plain words; FFmpeg's wording goes only to our log
    assert "InvalidData" not in message
    assert "InvalidDataError" in caplog.text
    assert "notes.mp4" not in caplog.text  # file names can be personal data


def test_empty_file(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")

    assert rejection(probe, empty) == "the file is empty"


@pytest.mark.parametrize("name", ["frame.png", "frame.jpg", "frame-png.mp4"])
def test_still_image(probe: PyAVMediaProbe, tmp_path: Path, name: str) -> None:
    image = tmp_path / name
    if name.endswith(".mp4"):  # a PNG renamed to .mp4: detected from content, not the name
        samples.make_still_image(tmp_path / "frame.png").rename(image)
    else:
        samples.make_still_image(image)

    assert "still image" in rejection(probe, image)


def test_audio_only_m4a(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    audio = samples.make_audio(tmp_path / "voice.m4a", seconds=1)

    assert "no video track" in rejection(probe, audio)


def test_missing_file_is_not_blamed_on_the_seller(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe.probe(tmp_path / "never-downloaded.mp4")


# --- files that name other files ----------------------------------------------------------


class FifoTripwire:
    """A named pipe that records whether anything opened it for reading.

    Opening a FIFO for reading blocks until a writer comes, so a thread waits as the writer:
    when a reader arrives the thread records it, then closes its end, which hands the reader an
    immediate end of file instead of a hang. The reader cannot get past its first read before
    the record is made, so a probe that opened the pipe has always been recorded by the time it
    returns.
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.opened = threading.Event()
        self._closing = False
        self._writer = threading.Thread(target=self._serve, daemon=True)
        self._writer.start()

    def _serve(self) -> None:
        while True:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until someone opens it to read
            if self._closing:
                os.close(fd)
                return
            self.opened.set()
            os.close(fd)

    def close(self) -> None:
        self._closing = True
        release = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return
        try:
            self._writer.join(timeout=5)
        finally:
            os.close(release)


@pytest.fixture
def tripwire(tmp_path: Path) -> Iterator[FifoTripwire]:
    wire = FifoTripwire(tmp_path / "secret.ts")
    yield wire
    wire.close()


# An upload is saved under the seller's file name, so ".m3u8" is the seller's to choose.
REFERRING_UPLOADS = {
    "hls playlist, file URL": (
        "pitch.m3u8",
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\nfile://{target}\n#EXT-X-ENDLIST\n",
    ),
    "hls playlist, relative path": (
        "pitch.m3u8",
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n{name}\n#EXT-X-ENDLIST\n",
    ),
    "concat script, absolute path": ("pitch.mp4", "ffconcat version 1.0\nfile '{target}'\n"),
    "concat script, relative path": ("pitch.mp4", "ffconcat version 1.0\nfile '{name}'\n"),
}


@pytest.mark.parametrize(("upload_name", "text"), REFERRING_UPLOADS.values(), ids=REFERRING_UPLOADS.keys())
def test_a_file_naming_other_files_is_refused_before_they_are_opened(
    probe: PyAVMediaProbe, tmp_path: Path, tripwire: FifoTripwire, upload_name: str, text: str
) -> None:
    # GIVEN an upload that is a playlist or concat script naming a local file
    upload = tmp_path / upload_name
    upload.write_text(text.format(target=tripwire.path, name=tripwire.path.name))

    # WHEN it is probed THEN it is not a video...
    assert rejection(probe, upload) == "this file is not a video"
    # ...and the file it names was never opened
    assert not tripwire.opened.is_set()


def test_a_playlist_does_not_reveal_the_length_of_the_file_it_names(
    probe: PyAVMediaProbe, tmp_path: Path
) -> None:
    # GIVEN a 3 s video on the probe's machine, and an uploaded playlist naming it
    local = samples.make_video(tmp_path / "someone-else.ts", seconds=3)
    playlist = tmp_path / "pitch.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\nfile://{local}\n#EXT-X-ENDLIST\n")

    # THEN the probe refuses the playlist itself instead of describing the video it names
    assert rejection(probe, playlist) == "this file is not a video"


@pytest.mark.parametrize(
    ("upload_name", "text"),
    [
        # an SDP session description makes FFmpeg listen for RTP on the network
        (
            "call.mp4",
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
        ),
        ("captions.mp4", "1\n00:00:00,000 --> 00:00:02,000\nHi Sam\n"),
        ("frames-%03d.png", "not an image"),
    ],
)
def test_other_demuxers_are_not_used(
    probe: PyAVMediaProbe, tmp_path: Path, upload_name: str, text: str
) -> None:
    upload = tmp_path / upload_name
    upload.write_text(text)

    assert rejection(probe, upload) == "this file is not a video"


def test_a_video_named_like_a_playlist_is_still_probed(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # The demuxer is chosen from the bytes, never from the seller's file name.
    clip = samples.make_video(tmp_path / "clip.mp4", seconds=1).rename(tmp_path / "clip.m3u8")

    assert probe.probe(clip).container == "mp4"


# --- with the domain rules -----------------------------------------------------------------


def test_probe_result_feeds_the_length_limit(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    clip = samples.make_video(tmp_path / "clip.mp4", seconds=2)
    result: VideoProbe = probe.probe(clip)

    with pytest.raises(UploadRejectedError) as caught:
        check_video(result, max_seconds=1.0)

    assert caught.value.message == "the video is 2 s long, over the 1 s limit"


def test_unsupported_container_is_left_to_the_domain(probe: PyAVMediaProbe, tmp_path: Path) -> None:
    # GIVEN a video in a container the product does not take (FLV): the probe describes it...
    clip = samples.make_video(tmp_path / "clip.flv", seconds=1, acodec="aac")
    result = probe.probe(clip)
    assert (result.container, result.video_codec) == ("flv", "h264")

    # ...and the domain rule refuses it by name
    with pytest.raises(UploadRejectedError, match="flv files are not supported"):
        check_video(result, max_seconds=60)
