"""The media engine end to end on the local stack: real uploads, real MediaConvert-API jobs run by
ffmpeg, real EventBridge-style events, and every output decoded and compared with the base.

What "identical" means here, precisely:

* video frames after a prospect's re-encoded span are the base's own segments, so they decode to
  the same pixels (compared by per-frame MD5);
* audio outside the re-encoded span decodes to the same samples as the base, except the single
  AAC frame (1024 samples, 21 ms) right after the span, whose decode overlaps the span's last
  frame (MDCT overlap-add). Inside the span only the window carries the new audio.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import httpx
import m3u8  # type: ignore[import-untyped]
import numpy as np
import pytest
from PIL import Image

from chalicelib import dependencies as deps
from chalicelib.domain.media.ladder import AAC_FRAME_SAMPLES, SEGMENT_SECONDS, audio_segment_start
from chalicelib.domain.models import Prospect, new_id
from tailorcast_cli.client import TailorcastClient
from tailorcast_cli.samples import ffmpeg_exe, make_base_video, speechlike

pytestmark = pytest.mark.e2e

RATE = 48_000
FPS = 30
BASE_SECONDS = 10.0


def _ffmpeg(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, check=False)


def _decode_errors(playlist: Path, *maps: str) -> str:
    mapping = [a for m in maps for a in ("-map", m)]
    done = _ffmpeg("-v", "error", "-i", str(playlist), *mapping, "-f", "null", "-")
    return done.stderr.decode() + ("" if done.returncode == 0 else f" (exit {done.returncode})")


def _pcm(playlist: Path) -> np.ndarray:
    out = _ffmpeg("-v", "error", "-i", str(playlist), "-f", "f32le", "-ac", "2", "-ar", str(RATE), "-")
    assert out.returncode == 0, out.stderr
    return np.frombuffer(out.stdout, dtype="<f4").reshape(-1, 2)


def _frames(playlist: Path) -> list[str]:
    out = _ffmpeg("-v", "error", "-i", str(playlist), "-map", "0:v:0", "-f", "framemd5", "-")
    assert out.returncode == 0, out.stderr
    return [
        line.rsplit(",", 1)[-1].strip()
        for line in out.stdout.decode().splitlines()
        if not line.startswith("#")
    ]


def _name_audio(dest: Path, seconds: float, pitch: float) -> bytes:
    """A different 'voice' per prospect: speech-like sound at another pitch, as a WAV."""
    done = _ffmpeg(
        "-v", "error", "-f", "lavfi", "-i", speechlike(seconds, pitch), "-c:a", "pcm_s16le", "-y", str(dest)
    )
    assert done.returncode == 0, done.stderr
    return dest.read_bytes()


def _check_strict_hls(path: Path) -> m3u8.M3U8:
    text = path.read_text()
    m3u8.parse(text, strict=True)  # raises on any line it does not understand
    return m3u8.loads(text)


@pytest.fixture
def seller(stack: Any, tmp_path: Path) -> tuple[TailorcastClient, str, str]:
    from tests.e2e.conftest import signed_up_on_agency

    client = TailorcastClient(
        stack.endpoints.api, signed_up_on_agency(stack, "seller@example.com").access_token
    )
    account = client.me().account
    campaign = client.create_campaign("Q4", "", "Hi {first_name}")
    base = make_base_video(tmp_path / "base.mp4", seconds=BASE_SECONDS)
    client.upload(campaign.campaign_id, "base_video", base, "video/mp4")
    done = client.wait_for_base_video(campaign.campaign_id)
    assert done.base_video is not None
    assert done.base_video.status == "ready", done.base_video
    assert done.status == "ready"
    return client, account.account_id, campaign.campaign_id


def test_base_ladder_and_personalized_renders(stack: Any, seller: Any, tmp_path: Path) -> None:
    client, account_id, cid = seller
    settings = stack.settings
    base_video = client.campaign(cid).base_video
    assert base_video is not None and base_video.ladder is not None
    ladder = base_video.ladder
    assert ladder.renditions == ["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"]
    assert ladder.segment_count == BASE_SECONDS / SEGMENT_SECONDS

    # Three prospects, three different name recordings: at the very start, in the final segment,
    # and mid-video with a name card.
    media = boto3.client("s3")
    renders: dict[str, dict[str, Any]] = {
        "start": {"window": {"start": 0.3, "end": 1.3}, "seconds": 0.9, "pitch": 220.0, "overlay": None},
        "end": {"window": {"start": 8.9, "end": 9.95}, "seconds": 1.0, "pitch": 300.0, "overlay": None},
        "middle": {
            "window": {"start": 4.6, "end": 5.9},
            "seconds": 1.2,
            "pitch": 95.0,
            "overlay": {"text": "Zoë O'Brien", "subtitle": "Acme Corp"},
        },
    }
    lam = boto3.client("lambda")
    for name, spec in renders.items():
        prospect = deps.get_prospect_repo().add(
            Prospect(
                account_id=account_id,
                campaign_id=cid,
                prospect_id=new_id("pros"),
                first_name=name,
                email=f"{name}@example.com",
            )
        )
        key = f"{account_id}/{cid}/voice/{prospect.prospect_id}.wav"
        media.put_object(
            Bucket=settings.media_bucket,
            Key=key,
            Body=_name_audio(tmp_path / f"{name}.wav", spec["seconds"], spec["pitch"]),
        )
        payload = {
            "account_id": account_id,
            "campaign_id": cid,
            "prospect_id": prospect.prospect_id,
            "window": spec["window"],
            "audio_key": key,
            "overlay": spec["overlay"],
        }
        reply = lam.invoke(
            FunctionName=f"tailorcast-{settings.stage}-render_window", Payload=json.dumps(payload)
        )
        assert reply.get("FunctionError") is None, reply["Payload"].read()
        spec["prospect_id"] = prospect.prospect_id
    for spec in renders.values():
        spec["video"] = client.wait_for_video(cid, spec["prospect_id"])
        assert spec["video"].status == "completed", spec["video"]

    root = stack.export_media(f"{account_id}/{cid}/", tmp_path / "media")
    base_dir = root / ladder.prefix

    # --- strict HLS, and the tags hls.js and Safari rely on -------------------------------------
    playlists = sorted(root.rglob("*.m3u8"))
    assert len(playlists) >= 5 + 3 + 4  # base (master + 3 video + audio), 3 prospect masters…
    for path in playlists:
        parsed = _check_strict_hls(path)
        if parsed.is_variant:
            groups = [m for m in parsed.media if m.type == "AUDIO"]
            assert groups and groups[0].uri and groups[0].group_id and groups[0].default == "YES", path
            for variant in parsed.playlists:
                info = variant.stream_info
                assert info.bandwidth > 0 and "mp4a.40.2" in info.codecs, path
                if info.codecs == "mp4a.40.2":  # an audio-only window job's own master
                    assert "window" in path.parts and len(parsed.playlists) == 1
                    continue
                assert (
                    info.resolution and info.codecs.startswith("avc1.") and info.audio == groups[0].group_id
                )
        else:
            assert parsed.segment_map and parsed.segment_map[0].uri, path
            assert parsed.target_duration >= max(s.duration for s in parsed.segments) - 0.5, path
            assert parsed.is_endlist and parsed.playlist_type == "vod"

    # --- every playlist decodes without a single error -------------------------------------------
    for path in playlists:
        parsed = m3u8.loads(path.read_text())
        if parsed.is_variant:
            # ffmpeg's HLS demuxer prints parser noise when it opens several fMP4 variants at once
            # (it does so for Apple's own fMP4 example too), so a master is decoded one variant at a
            # time: the master itself, cut down to that variant.
            for i in range(len(parsed.playlists)):
                single = path.with_name(f".{path.stem}-variant{i}.m3u8")
                lines = path.read_text().splitlines()
                keep = [n for n, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF")]
                drop = {n for j, n in enumerate(keep) if j != i} | {
                    n + 1 for j, n in enumerate(keep) if j != i
                }
                single.write_text("\n".join(line for n, line in enumerate(lines) if n not in drop) + "\n")
                assert _decode_errors(single) == "", (path, i)
        else:
            assert _decode_errors(path) == "", path

    base_audio = _pcm(base_dir / "main_audio.m3u8")
    base_frames = {r: _frames(base_dir / r) for r in ladder.renditions}
    for name, spec in renders.items():
        video = spec["video"]
        here = root / video.playlist_key.rsplit("/", 1)[0]
        first = int(video.window.start // SEGMENT_SECONDS)
        last = first + video.segments_rendered - 1

        # Durations match the base within one frame (audio: to the sample).
        audio = _pcm(here / "main_audio.m3u8")
        assert len(audio) == len(base_audio), name
        for rendition in ladder.renditions:
            playlist = here / rendition if spec["overlay"] else base_dir / rendition
            frames = _frames(playlist)
            assert abs(len(frames) - len(base_frames[rendition])) <= 1, (name, rendition)
            # Frames after the window's span are the base's, bit for bit once decoded.
            after = (last + 1) * SEGMENT_SECONDS * FPS
            assert frames[after:] == base_frames[rendition][after:], (name, rendition)
            before = first * SEGMENT_SECONDS * FPS
            assert frames[:before] == base_frames[rendition][:before], (name, rendition)
            if spec["overlay"]:
                inside = round(video.window.start * FPS) + 10
                assert frames[inside] != base_frames[rendition][inside]  # the name card is there

        # Audio outside the span is sample-identical to the base decode.
        lo, hi = audio_segment_start(first), audio_segment_start(last + 1) + AAC_FRAME_SAMPLES
        assert np.array_equal(audio[:lo], base_audio[:lo]), name
        assert np.array_equal(audio[hi:], base_audio[hi:]), name
        # …and inside the window it is the prospect's recording, not the seller's placeholder.
        w0, w1 = (round(getattr(video.window, k) * RATE) for k in ("start", "end"))
        mid = slice(w0 + 2400, w1 - 2400)
        assert np.abs(audio[mid] - base_audio[mid]).mean() > 0.01, name
        spectrum = np.abs(np.fft.rfft(audio[mid, 0]))
        peak = np.fft.rfftfreq(len(audio[mid]), 1 / RATE)[spectrum.argmax()]
        assert abs(peak - spec["pitch"]) < 45, (name, peak)  # the recording glides ±35 Hz
        # No gap and no click at the splice points: no sample-to-sample jump bigger than the
        # program's own.
        typical = np.abs(np.diff(base_audio[:, 0])).max()
        for at in (lo, audio_segment_start(last + 1)):
            if at < 480:
                continue  # the start of the stream is not a splice
            jump = np.abs(np.diff(audio[at - 480 : at + 480, 0])).max()
            assert jump <= typical * 1.5 + 1e-3, (name, at, jump, typical)

        # Storage: only the re-encoded segments and a few playlists are new.
        assert 0 < video.new_bytes < (200_000 if spec["overlay"] is None else 2_000_000), video

        # Previews for email.
        poster = Image.open(io.BytesIO((here / "poster.jpg").read_bytes()))
        assert poster.format == "JPEG" and poster.size[0] <= 1280
        preview_bytes = (here / "preview.webp").read_bytes()
        preview = Image.open(io.BytesIO(preview_bytes))
        assert (
            preview.format == "WEBP"
            and getattr(preview, "n_frames", 1) > 10
            and len(preview_bytes) < 1_000_000
        )
        gif_bytes = (here / "preview.gif").read_bytes()
        gif = Image.open(io.BytesIO(gif_bytes))
        assert gif.format == "GIF" and getattr(gif, "n_frames", 1) == getattr(preview, "n_frames", 1)
        assert gif.size[0] == 400 and gif.info["loop"] == 0 and len(gif_bytes) <= 1_500_000
        assert video.gif_key == f"{video.playlist_key.rsplit('/', 1)[0]}/preview.gif"

    # The poster of the prospect with a card shows it; its region differs from the base picture.
    card = Image.open(root / renders["middle"]["video"].poster_key).convert("L").resize((320, 180))
    plain = Image.open(root / renders["start"]["video"].poster_key).convert("L").resize((320, 180))
    assert card.tobytes() != plain.tobytes()

    # The MP4 download, built on demand from the playlists, plays from start to end.
    link = client.download_link(cid, renders["middle"]["prospect_id"])
    mp4 = tmp_path / "download.mp4"
    mp4.write_bytes(httpx.get(link.url, timeout=60).content)
    assert _decode_errors(mp4) == ""
    downloaded = _frames(mp4)
    assert abs(len(downloaded) - len(base_frames["main_720p.m3u8"])) <= 1
    assert downloaded[-30:] == base_frames["main_720p.m3u8"][-30:]
    assert len(_pcm(mp4)) == pytest.approx(len(base_audio), abs=RATE // FPS)


def test_bad_windows_are_refused_before_any_encode_and_nothing_changes(
    stack: Any, seller: Any, tmp_path: Path
) -> None:
    _, account_id, cid = seller
    settings = stack.settings
    prospect = deps.get_prospect_repo().add(
        Prospect(
            account_id=account_id,
            campaign_id=cid,
            prospect_id=new_id("pros"),
            first_name="X",
            email="x@e.com",
        )
    )
    key = f"{account_id}/{cid}/voice/x.wav"
    boto3.client("s3").put_object(
        Bucket=settings.media_bucket, Key=key, Body=_name_audio(tmp_path / "x.wav", 0.8, 200)
    )
    before = {
        o["Key"]: o["ETag"]
        for o in boto3.client("s3").list_objects_v2(Bucket=settings.media_bucket)["Contents"]
    }
    mediaconvert = boto3.client("mediaconvert")
    jobs_before = len(mediaconvert.list_jobs(MaxResults=20)["Jobs"])
    lam = boto3.client("lambda")
    cases = {
        "past the end": ({"start": 9.5, "end": 10.8}, key, "window.end"),
        "longer than 30 s": ({"start": 0.0, "end": 31.0}, key, "window"),
        "negative": ({"start": -1.0, "end": 0.5}, key, "window.start"),
        "audio longer than the window": ({"start": 2.0, "end": 2.3}, key, "longer than"),
        "audio that is not audio": (
            {"start": 2.0, "end": 3.0},
            f"{account_id}/{cid}/voice/missing.wav",
            "not found",
        ),
    }
    for label, (window, audio_key, says) in cases.items():
        payload = {
            "account_id": account_id,
            "campaign_id": cid,
            "prospect_id": prospect.prospect_id,
            "window": window,
            "audio_key": audio_key,
        }
        reply = lam.invoke(
            FunctionName=f"tailorcast-{settings.stage}-render_window", Payload=json.dumps(payload)
        )
        body = json.loads(reply["Payload"].read())
        assert reply.get("FunctionError"), label
        assert body["errorType"] in ("InvalidInputError", "NotFoundError"), (label, body)
        text = body["errorMessage"] + json.dumps(body)
        assert says in text, (label, body)
    after = {
        o["Key"]: o["ETag"]
        for o in boto3.client("s3").list_objects_v2(Bucket=settings.media_bucket)["Contents"]
    }
    assert after == before  # nothing written, nothing encoded
    assert len(mediaconvert.list_jobs(MaxResults=20)["Jobs"]) == jobs_before
