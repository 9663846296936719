"""`tailorcast up` as a user runs it: state survives a clean restart and a hard kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from tailorcast_cli.client import TailorcastClient

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "tailorcast")


@contextmanager
def running_stack(state_dir: Path, stop: signal.Signals = signal.SIGINT) -> Iterator[dict]:  # type: ignore[type-arg]
    proc = subprocess.Popen(
        [
            CLI,
            "up",
            "--state-dir",
            str(state_dir),
            "--aws-port",
            "0",
            "--api-port",
            "0",
            "--gateway-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack_file = state_dir / "stack.json"
    deadline = time.monotonic() + 90
    # A killed stack leaves its stack.json behind; wait for the one this process writes.
    while not (stack_file.exists() and json.loads(stack_file.read_text())["pid"] == proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"stack did not start: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.1)
    info = json.loads(stack_file.read_text())
    try:
        yield info
    finally:
        proc.send_signal(stop)
        output, _ = proc.communicate(timeout=60)
        if stop == signal.SIGINT:
            assert proc.returncode == 0, output
            assert "state saved" in output
            assert not stack_file.exists()


def _account(state_dir: Path) -> str:
    done = subprocess.run(
        [CLI, "account", "create", "--email", "owner@restart.io", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "created account acct_" in done.stderr
    token = done.stdout.strip()
    # Off the trial (1 campaign, 5 videos), as a seller would: the local checkout paid with 4242….
    from tailorcast_cli.billing import subscribe_with_test_card

    api = TailorcastClient(json.loads((state_dir / "stack.json").read_text())["api"], token)
    subscribe_with_test_card(api, "agency")
    return token


def test_state_survives_restart_and_kill(tmp_path: Path, sample_video: Path) -> None:
    state = tmp_path / "state"
    with running_stack(state) as info:
        token = _account(state)
        api = TailorcastClient(info["api"], token)
        campaign = api.create_campaign("kept across restarts", script="Hi {first_name}")
        api.upload(campaign.campaign_id, "base_video", sample_video, "video/mp4")
        validated = api.wait_for_base_video(campaign.campaign_id)
        assert validated.base_video is not None and validated.base_video.status == "ready"
        # A ready base starts the voice preparation; its outcome is state too. The sample's sound is
        # synthetic, so the aligner (rightly) finds no speech following the script.
        voice = api.wait_for_voice(campaign.campaign_id)
        assert voice.status == "needs_attention" and "script" in (voice.error or ""), voice
        validated = api.campaign(campaign.campaign_id)
        assert validated.base_video is not None and validated.base_video.ladder is not None
        key = validated.base_video.key
        ladder = validated.base_video.ladder

    with running_stack(state, stop=signal.SIGKILL) as info:
        api = TailorcastClient(info["api"], token)  # same token: the signing key is state too
        again = api.campaign(campaign.campaign_id)
        assert again == validated
        s3 = boto3.client("s3", endpoint_url=info["aws"], region_name="us-east-1")
        head = s3.head_object(Bucket=info["env"]["TAILORCAST_UPLOADS_BUCKET"], Key=key)
        assert head["ContentLength"] == sample_video.stat().st_size
        # The encoded ladder survives too (media bucket).
        master = s3.get_object(
            Bucket=info["env"]["TAILORCAST_MEDIA_BUCKET"], Key=f"{ladder.prefix}/main.m3u8"
        )
        assert b"#EXT-X-STREAM-INF" in master["Body"].read()
        # Written just before a hard kill: only the journal has it.
        second = api.create_campaign("written before a kill -9")

    with running_stack(state) as info:
        api = TailorcastClient(info["api"], token)
        names = {c["name"] for c in api._call("GET", "/campaigns")["items"]}
        assert names == {"kept across restarts", "written before a kill -9"}
        assert api.campaign(second.campaign_id).version == 1
        assert os.path.exists(state / "dynamodb" / "snapshot.json")


FIRST_NAMES = ("Priya", "Maria", "Emily", "Omar", "Lena", "Tom", "Ana", "Noor", "Mia", "Sam")


def test_a_batch_killed_midway_keeps_its_finished_videos_and_resumes(tmp_path: Path) -> None:
    from devstack.cdnkeys import campaign_folder
    from tailorcast_cli.demo import SCRIPT, SELLER_RECORDING, decode_check
    from tailorcast_cli.samples import make_base_video
    from tests.e2e.conftest import front_door_cookies

    def decode(info: dict, url: str) -> str | None:  # type: ignore[type-arg]
        # the restarted stack signs nothing for us: sign with the key it keeps in its state dir
        key_pair_id = info["env"]["TAILORCAST_MEDIA_KEY_PAIR_ID"]
        return decode_check(
            url, front_door_cookies(state, info["media"], key_pair_id, [campaign_folder(url)])
        )

    state = tmp_path / "state"
    base = make_base_video(tmp_path / "base.mp4", seconds=7.0, width=640, height=360, audio=SELLER_RECORDING)
    csv_file = tmp_path / "prospects.csv"
    csv_file.write_text(
        "First Name,Email,Company\n"
        + "".join(f"{name},{name.lower()}@acme.example,Acme\n" for name in FIRST_NAMES)
    )
    with running_stack(state, stop=signal.SIGKILL) as info:
        token = _account(state)
        api = TailorcastClient(info["api"], token)
        cid = api.create_campaign("killed mid-batch", script=SCRIPT).campaign_id
        api.update_voice(cid, placeholders={"first_name": "John"})
        api.upload(cid, "base_video", base, "video/mp4")
        ticket = api.upload(cid, "prospects_csv", csv_file, "text/csv")
        assert api.wait_for_import(cid, ticket.upload_id).imported == len(FIRST_NAMES)
        ready = api.wait_for_base_video(cid).base_video
        assert ready is not None and ready.status == "ready"
        assert api.wait_for_voice(cid).status == "ready"
        batch_id = api.start_batch(cid).batch_id
        # WHEN the stack is killed (SIGKILL) once some, but not all, videos are done
        deadline = time.monotonic() + 300
        while api.batch(cid, batch_id).counters.completed < 1:
            assert time.monotonic() < deadline, "no video finished in time"
            time.sleep(0.05)
        finished = {v.prospect_id: v for v in api.batch_prospects(cid, batch_id, status="completed")}
        assert 1 <= len(finished) < len(FIRST_NAMES)

    with running_stack(state) as info:
        api = TailorcastClient(info["api"], token)
        # THEN the batch says it was interrupted, and every finished video is still there and plays
        assert api.batch(cid, batch_id).status == "interrupted"
        for prospect_id, before in finished.items():
            now = api.video(cid, prospect_id)
            assert (now.status, now.render_id) == ("completed", before.render_id)
            assert now.playlist_url is not None and decode(info, now.playlist_url) is None
        # WHEN it is resumed, THEN it finishes the rest without redoing the finished ones
        assert api.resume_batch(cid, batch_id).status == "running"
        done = api.wait_for_batch(cid, batch_id, timeout=600)
        assert done.status == "completed", done
        assert done.counters.completed == len(FIRST_NAMES)
        assert done.executions == 2
        videos = api.batch_prospects(cid, batch_id)
        assert len(videos) == len(FIRST_NAMES)
        for video in videos:
            assert video.status == "completed", video
            if video.prospect_id in finished:
                assert video.completed_at == finished[video.prospect_id].completed_at
            assert video.playlist_url is not None and decode(info, video.playlist_url) is None
