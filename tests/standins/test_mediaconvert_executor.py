"""The local MediaConvert's ffmpeg executor: its MP4 helpers on real files, and one small ladder and
window job run through boto3's ``mediaconvert`` client (the e2e tier covers whole campaigns)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3
import m3u8
import pytest
from botocore.exceptions import ClientError

from chalicelib.domain.media import hls
from chalicelib.domain.media.jobs import base_ladder_job, window_job
from chalicelib.domain.media.ladder import (
    AUDIO_SAMPLE_RATE,
    SEGMENT_SECONDS,
    Span,
    audio_segment_start,
    ladder_for,
)
from chalicelib.domain.media.wav import HEADER_PROBE_BYTES, splice, wav_bytes, wav_layout
from devstack.mediaconvert.executor import codec_string, split_fragments
from devstack.mediaconvert.server import JobError
from tailorcast_cli.samples import ffmpeg_exe, make_base_video
from tests.conftest import TEST_ENV

UPLOADS = TEST_ENV["TAILORCAST_UPLOADS_BUCKET"]
MEDIA = TEST_ENV["TAILORCAST_MEDIA_BUCKET"]
ROLE = "arn:aws:iam::123456789012:role/tailorcast-test-mediaconvert"
FRAGMENTED = "+frag_keyframe+empty_moov+default_base_moof"
BASE_SECONDS = 6.0


def _ffmpeg(*args: str) -> None:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *args], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()


def _boxes(data: bytes) -> list[bytes]:
    kinds, off = [], 0
    while off < len(data):
        kinds.append(data[off + 4 : off + 8])
        off += int.from_bytes(data[off : off + 4], "big")
    return kinds


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("executor")


@pytest.fixture(scope="module")
def fragmented_h264(media_dir: Path) -> Path:
    """1 s of High-profile H.264 at 30 fps with a keyframe every 10 frames, fragmented per GOP."""
    dest = media_dir / "high.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30:duration=1"),
        *("-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
        *("-g", "10", "-keyint_min", "10", "-sc_threshold", "0", "-threads", "1"),
        *("-movflags", FRAGMENTED, "-y", str(dest)),
    )
    return dest


# --------------------------------------------------------------------------- split_fragments


def test_split_fragments_cuts_init_and_one_fragment_per_gop(fragmented_h264: Path) -> None:
    import av

    data = fragmented_h264.read_bytes()
    init, fragments = split_fragments(data)
    assert _boxes(init) == [b"ftyp", b"moov"]
    assert len(fragments) == 3  # 30 frames, a GOP every 10
    for fragment in fragments:
        assert _boxes(fragment) == [b"moof", b"mdat"]
    # nothing lost or reordered: the file is init + fragments (+ the trailing index, not kept)
    rest = data[len(init) + sum(map(len, fragments)) :]
    assert data.startswith(init + b"".join(fragments)) and _boxes(rest) in ([], [b"mfra"])
    # each fragment is a self-contained GOP: init + that fragment decodes to its 10 frames
    for i, fragment in enumerate(fragments):
        piece = fragmented_h264.with_name(f"piece{i}.mp4")
        piece.write_bytes(init + fragment)
        with av.open(str(piece)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 10 and frames[0].key_frame, i


def test_split_fragments_rejects_a_malformed_box(fragmented_h264: Path) -> None:
    data = fragmented_h264.read_bytes()
    init, fragments = split_fragments(data)
    truncated = data[: len(init) + len(fragments[0]) // 2]  # the first moof+mdat cut short
    with pytest.raises(JobError, match="malformed MP4 box") as err:
        split_fragments(truncated)
    assert err.value.code == 1020
    tiny = init + (4).to_bytes(4, "big") + b"moof" + fragments[0][8:]  # a box smaller than its header
    with pytest.raises(JobError, match=rf"malformed MP4 box b'moof' at byte {len(init)}"):
        split_fragments(tiny)


def test_split_fragments_reads_64_bit_box_sizes() -> None:
    ftyp = (16).to_bytes(4, "big") + b"ftypisom" + bytes(4)
    moov = (1).to_bytes(4, "big") + b"moov" + (24).to_bytes(8, "big") + bytes(8)
    moof = (12).to_bytes(4, "big") + b"moof" + b"abcd"
    mdat = (1).to_bytes(4, "big") + b"mdat" + (20).to_bytes(8, "big") + b"DATA"
    init, fragments = split_fragments(ftyp + moov + moof + mdat)
    assert init == ftyp + moov and fragments == [moof + mdat]


# --------------------------------------------------------------------------- codec_string


def test_codec_string_of_high_profile_h264(fragmented_h264: Path) -> None:
    import av

    init, _ = split_fragments(fragmented_h264.read_bytes())
    codec = codec_string(init)
    assert codec.startswith("avc1.64")  # profile_idc 100 = High
    with av.open(str(fragmented_h264)) as container:
        assert container.streams.video[0].codec_context.profile == "High"
    level = int(codec[-2:], 16)
    assert 10 <= level <= 52  # a real level_idc (160x96@30 is level 1.x–2)


def test_codec_string_of_constrained_baseline(media_dir: Path) -> None:
    dest = media_dir / "baseline.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30:duration=0.2"),
        *("-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *("-movflags", FRAGMENTED, "-y", str(dest)),
    )
    init, _ = split_fragments(dest.read_bytes())
    assert codec_string(init).startswith("avc1.42")


def _aac_init(media_dir: Path, bitrate: str) -> bytes:
    dest = media_dir / f"aac{bitrate}.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.3", "-ac", "2"),
        *("-c:a", "aac", "-b:a", bitrate, "-movflags", FRAGMENTED, "-y", str(dest)),
    )
    init, fragments = split_fragments(dest.read_bytes())
    assert fragments
    return init


def test_codec_string_of_aac_lc(media_dir: Path) -> None:
    init = _aac_init(media_dir, "128k")
    assert codec_string(init) == "mp4a.40.2"
    # the object type is read from the AudioSpecificConfig, not assumed: patch it to 5 (SBR)
    asc = init.index(bytes([0x11, 0x90]))  # AAC LC (2), 48 kHz (index 3), 2 channels
    patched = init[:asc] + bytes([0x29]) + init[asc + 1 :]
    assert codec_string(patched) == "mp4a.40.5"


def test_codec_string_of_aac_lc_at_384_kbps(media_dir: Path) -> None:
    assert codec_string(_aac_init(media_dir, "384k")) == "mp4a.40.2"


def test_codec_string_refuses_an_init_without_a_codec() -> None:
    with pytest.raises(ValueError, match="neither avcC nor esds"):
        codec_string(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")


# --------------------------------------------------------------------------- through the API


def _client() -> Any:
    return boto3.client("mediaconvert", region_name="us-east-1")


def test_create_job_refuses_a_valid_but_unsupported_setting(mediaconvert: Any) -> None:
    request = base_ladder_job(
        source=f"s3://{UPLOADS}/a/in.mp4",
        destination=f"s3://{MEDIA}/a/base/main",
        pcm_destination=f"s3://{MEDIA}/a/base/audio",
        rungs=ladder_for(320, 180),
        fps=30,
        role=ROLE,
        metadata={"kind": "base"},
        token="refused-1",
    )
    h264 = request.settings["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"][
        "H264Settings"
    ]
    h264["Syntax"] = "RP2027"
    with pytest.raises(ClientError) as err:
        _client().create_job(**request.kwargs())
    error: Any = err.value.response
    assert error["Error"]["Code"] == "BadRequestException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "Settings.OutputGroups[0].Outputs[0].VideoDescription.CodecSettings.H264Settings.Syntax"
        in error["Error"]["Message"]
    )
    assert _client().list_jobs()["Jobs"] == []  # refused at CreateJob: no job exists


def _get(key: str) -> bytes:
    data: bytes = boto3.client("s3").get_object(Bucket=MEDIA, Key=key)["Body"].read()
    return data


def _keys(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=MEDIA, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


SOURCE_KEY = "acct/camp/base_video/upl/base.mp4"
BASE_PREFIX = "acct/camp/base/upl"
RENDER_PREFIX = "acct/camp/videos/pros/rnd"


@pytest.fixture(scope="module")
def base_source(media_dir: Path) -> Path:
    return make_base_video(media_dir / "base.mp4", seconds=BASE_SECONDS, width=320, height=180)


def _run_ladder(mediaconvert: Any, source: Path) -> tuple[hls.Master, hls.MediaPlaylist]:
    """Upload the source and run the base ladder job on the stand-in through boto3."""
    boto3.client("s3").upload_file(str(source), UPLOADS, SOURCE_KEY)
    client = _client()
    request = base_ladder_job(
        source=f"s3://{UPLOADS}/{SOURCE_KEY}",
        destination=f"s3://{MEDIA}/{BASE_PREFIX}/main",
        pcm_destination=f"s3://{MEDIA}/{BASE_PREFIX}/audio",
        rungs=ladder_for(320, 180),
        fps=30,
        role=ROLE,
        metadata={"kind": "base", "upload_id": "upl"},
        token="base-upl",
    )
    job_id = client.create_job(**request.kwargs())["Job"]["Id"]
    assert client.create_job(**request.kwargs())["Job"]["Id"] == job_id  # idempotent on the token
    job = mediaconvert.wait(job_id, 120)
    assert job["Status"] == "COMPLETE", job.get("ErrorMessage")
    assert job["UserMetadata"] == {"kind": "base", "upload_id": "upl"}
    master = hls.parse_master(_get(f"{BASE_PREFIX}/main.m3u8").decode())
    return master, hls.parse_media(_get(f"{BASE_PREFIX}/{master.audio_uri}").decode())


def _run_audio_window(mediaconvert: Any, span: Span, duration: float) -> hls.MediaPlaylist:
    """Splice one second of other sound into the base's WAV for ``span`` and re-encode the span."""
    wav = _get(f"{BASE_PREFIX}/audio.wav")
    layout = wav_layout(wav[:HEADER_PROBE_BYTES])
    first = span.start_seconds * AUDIO_SAMPLE_RATE
    span_pcm = wav[layout.data_offset + first * layout.frame_bytes :]
    other = bytes(range(256)) * (AUDIO_SAMPLE_RATE * 4 // 256)  # 1 s of a loud buzz
    spliced = splice(span_pcm, AUDIO_SAMPLE_RATE // 2, other, AUDIO_SAMPLE_RATE)
    key = f"{RENDER_PREFIX}/input/audio.wav"
    boto3.client("s3").put_object(Bucket=MEDIA, Key=key, Body=wav_bytes(spliced))
    request = window_job(
        source=f"s3://{UPLOADS}/{SOURCE_KEY}",
        destination=f"s3://{MEDIA}/{RENDER_PREFIX}/window/main",
        span=span,
        duration=duration,
        fps=30,
        audio=f"s3://{MEDIA}/{key}",
        rungs=ladder_for(320, 180),
        overlay=None,
        role=ROLE,
        metadata={"kind": "window", "render_id": "rnd"},
        token="rnd",
    )
    done = mediaconvert.wait(_client().create_job(**request.kwargs())["Job"]["Id"], 120)
    assert done["Status"] == "COMPLETE", done.get("ErrorMessage")
    assert not [k for k in _keys(f"{RENDER_PREFIX}/window/") if "_360p" in k]  # audio only
    return hls.parse_media(_get(f"{RENDER_PREFIX}/window/main_audio.m3u8").decode())


def test_ladder_job_then_an_audio_window_on_it(mediaconvert: Any, base_source: Path) -> None:
    parsed, base_audio = _run_ladder(mediaconvert, base_source)

    # the multivariant playlist: three video variants bound to one audio rendition group
    text = _get(f"{BASE_PREFIX}/main.m3u8").decode()
    m3u8.parse(text, strict=True)
    master = m3u8.loads(text)
    assert master.is_variant and len(master.playlists) == 3
    (group,) = [m for m in master.media if m.type == "AUDIO"]
    assert group.group_id == "audio" and group.uri == "main_audio.m3u8" and group.default == "YES"
    assert [p.stream_info.resolution for p in master.playlists] == [(640, 360), (854, 480), (1280, 720)]
    for variant in master.playlists:
        assert variant.stream_info.audio == "audio"
        assert variant.stream_info.codecs.startswith("avc1.") and variant.stream_info.codecs.endswith(
            ",mp4a.40.2"
        )
    assert [v.uri for v in parsed.variants] == ["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"]

    # the WAV the windows splice into, next to the ladder: the whole source, 48 kHz 16-bit stereo
    layout = wav_layout(_get(f"{BASE_PREFIX}/audio.wav")[:HEADER_PROBE_BYTES])
    assert (layout.channels, layout.sample_rate, layout.bits) == (2, AUDIO_SAMPLE_RATE, 16)
    assert abs(layout.data_bytes / layout.frame_bytes - BASE_SECONDS * AUDIO_SAMPLE_RATE) <= 1024

    # video: 2 s segments; audio: segment i starts at audio_segment_start(i), on the AAC grid
    segments = round(BASE_SECONDS / SEGMENT_SECONDS)
    for variant in parsed.variants:
        video = hls.parse_media(_get(f"{BASE_PREFIX}/{variant.uri}").decode())
        assert [d for _, d in video.segments] == [float(SEGMENT_SECONDS)] * segments
    elapsed = 0.0
    for i in range(1, segments + 1):
        elapsed += base_audio.segments[i - 1][1]
        assert abs(elapsed * AUDIO_SAMPLE_RATE - audio_segment_start(i)) <= 1, i
    # the encoder's flush may add one last AAC frame past the video's end, never more
    assert len(base_audio.segments) in (segments, segments + 1)
    assert BASE_SECONDS <= base_audio.duration < BASE_SECONDS + 2 * 1024 / AUDIO_SAMPLE_RATE

    # a window over the first two segments: its audio segments replace the base's one for one
    span = Span(0, 1)
    cut = _run_audio_window(mediaconvert, span, BASE_SECONDS)
    assert len(cut.segments) == span.count
    for i, (_, seconds) in enumerate(cut.segments):
        assert abs(seconds - base_audio.segments[span.first + i][1]) <= 1 / AUDIO_SAMPLE_RATE, i
    # and the app's splice accepts it
    text = hls.spliced_media(
        base_audio, BASE_PREFIX, cut, f"{RENDER_PREFIX}/window", span.first, RENDER_PREFIX
    )
    assert len(m3u8.loads(text).segments) == len(base_audio.segments)


def test_a_window_on_the_final_segment_matches_the_base(mediaconvert: Any, sample_video: Path) -> None:
    _, base_audio = _run_ladder(mediaconvert, sample_video)  # 2 s: one segment, the final one
    span = Span(0, 0)
    cut = _run_audio_window(mediaconvert, span, 2.0)
    assert len(cut.segments) == 1
    assert abs(cut.segments[0][1] - base_audio.segments[span.first][1]) <= 1 / AUDIO_SAMPLE_RATE
