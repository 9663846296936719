"""What every benchmark shares: the quiet environment, the local stack, machine facts, the JSON
result, and the baseline most of them are measured against (a full ladder re-encode per prospect).

A benchmark returns its figures as a :data:`Result` (a JSON-able dict, ``benchmark`` first); the
``tailorcast bench …`` commands print it with :func:`emit`. Benchmarks import this module, never
each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.stack import LocalStack

if TYPE_CHECKING:
    from chalicelib.domain.models import Campaign
    from devstack.mediaconvert import MediaConvertStandIn
    from tailorcast_cli.client import TailorcastClient

#: A benchmark's figures: JSON-able, printed as they are.
Result = dict[str, Any]
#: Where a benchmark says what it is doing (the CLI prints it dimmed on stderr).
Progress = Callable[[str], None]


def silent(_: str) -> None:
    """A :data:`Progress` that says nothing (the default)."""


# --------------------------------------------------------------------------- environment


@contextlib.contextmanager
def quiet_environment() -> Iterator[None]:
    """The benchmarks' environment: the process's, Powertools quiet, restored (and the cached
    adapters dropped) afterwards."""
    saved = dict(os.environ)
    # Powertools logs to stdout; `--json` must print nothing but the result there.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from chalicelib import dependencies

        dependencies.reset()


class BenchStack(LocalStack):
    """The local stack, with the MediaConvert stand-in's worker count chosen (``stack.py`` fixes 2
    unless told)."""

    def __init__(self, state_dir: Path, workers: int | None = None) -> None:
        super().__init__(state_dir)
        self.mediaconvert_workers = workers

    def _start_mediaconvert(self) -> str:
        if self.mediaconvert_workers is None:
            return super()._start_mediaconvert()
        from devstack.mediaconvert import MediaConvertStandIn
        from devstack.mediaconvert.executor import FfmpegExecutor
        from devstack.stack import ACCOUNT_ID, REGION

        self.mediaconvert = MediaConvertStandIn(
            FfmpegExecutor(lambda: self.client("s3")),
            self._deliver_event,
            region=REGION,
            account_id=ACCOUNT_ID,
            host=self.host,
            workers=self.mediaconvert_workers,
        )
        self.mediaconvert.start()
        return str(self.mediaconvert.url)


@contextlib.contextmanager
def local_stack(state_dir: Path) -> Iterator[BenchStack]:
    """The local stack started in this process for the ``with`` block, in the quiet environment.

    The stack logs (Powertools) to stdout, which ``--json`` keeps for the result: it goes to
    stderr meanwhile.
    """
    with quiet_environment(), contextlib.redirect_stdout(sys.stderr):
        stack = BenchStack(state_dir)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def api_client(stack: LocalStack, timeout: float = 30.0) -> TailorcastClient:
    """A client of ``stack``'s API, signed in as the demo's seller (made on first use)."""
    from tailorcast_cli.client import TailorcastClient
    from tailorcast_cli.demo import demo_token

    assert stack.endpoints is not None, "the stack is not started"
    return TailorcastClient(stack.endpoints.api, demo_token(stack), timeout=timeout)


def drop_cached_connections() -> None:
    """Forget every PynamoDB model's connection to a previous stack's moto server.

    ``models.bind`` (run by ``dependencies.reset``) drops those of ``models.ALL_MODELS`` only, and
    ``BatchCountersItem`` is not in it: after an in-process restart it kept calling the old port.
    """
    from chalicelib.adapters.dynamodb.models import TableItem

    pending: list[type[TableItem]] = [TableItem]
    while pending:
        model = pending.pop()
        model._connection = None
        pending.extend(model.__subclasses__())


# --------------------------------------------------------------------------- facts and the result


def measured_at() -> str:
    """Now, UTC, to the second (every result's ``measured_at``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine(*, os_platform: bool = False, ffmpeg: bool = False, python: bool = False) -> dict[str, Any]:
    """The machine's facts a result names: always its CPUs, and those asked for, in this order."""
    facts: dict[str, Any] = {"cpus": os.cpu_count()}
    if os_platform:
        facts["platform"] = platform.platform()
    if ffmpeg:
        facts["ffmpeg"] = ffmpeg_version()
    if python:
        facts["python"] = platform.python_version()
    return facts


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (other work on the machine skews timings)."""
    return [round(x, 2) for x in os.getloadavg()]


def emit(result: Result, *, as_json: bool = False, out: Path | None = None) -> None:
    """Print ``result`` (one line with ``as_json``, else indented); also write it to ``out``."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=None if as_json else 2))


def ffmpeg(args: list[str]) -> None:
    """Run the bundled ffmpeg quietly; a failure raises."""
    from tailorcast_cli.samples import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", *args], check=True)


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version``."""
    from tailorcast_cli.samples import ffmpeg_exe

    done = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=False)
    return done.stdout.split("\n", 1)[0]


# --------------------------------------------------------------------------- the naive baseline


class FullReencode:
    """What peers do per prospect, on a MediaConvert stand-in: a full ladder job from the whole
    base video with the prospect's audio laid in (and the card burnt in for the overlay case).

    The render bench subclasses it (its own renders use the same stand-in and helpers); the
    campaign bench times it on its stack's stand-in.
    """

    def __init__(self, workdir: Path, progress: Progress, standin: MediaConvertStandIn | None = None) -> None:
        self.workdir = workdir
        self.say = progress
        self.events: list[dict[str, Any]] = []
        if standin is not None:
            self.standin = standin

    standin: MediaConvertStandIn

    def wait_job(self, job_id: str) -> None:
        """Wait for a job to finish; a failed job fails the benchmark."""
        job = self.standin.wait(job_id, timeout=3600)
        if job["Status"] != "COMPLETE":
            raise RuntimeError(f"job {job_id} ended {job['Status']}: {job.get('ErrorMessage')}")

    def add_prospect(self, campaign: Campaign, index: int, seconds: float) -> tuple[str, str]:
        """A prospect of ``campaign`` and ``seconds`` of speech-like audio for its name:
        (prospect id, the audio's media key)."""
        from chalicelib import dependencies as deps
        from chalicelib.domain.models import Prospect, new_id
        from tailorcast_cli.samples import speechlike

        prospect = deps.get_prospect_repo().add(
            Prospect(
                account_id=campaign.account_id,
                campaign_id=campaign.campaign_id,
                prospect_id=new_id("pros"),
                first_name=f"P{index}",
                email=f"p{index}-{new_id('x')}@example.com",
                company="Acme",
            )
        )
        wav = self.workdir / f"name-{index}-{seconds:.2f}.wav"
        if not wav.exists():
            pitch = 100 + (index * 37) % 140
            ffmpeg(["-f", "lavfi", "-i", speechlike(seconds, pitch), "-c:a", "pcm_s16le", "-y", str(wav)])
        key = f"{campaign.account_id}/{campaign.campaign_id}/voice/{prospect.prospect_id}.wav"
        deps.get_media_store().put_bytes(key, wav.read_bytes(), "audio/wav")
        return prospect.prospect_id, key

    def full_reencode(
        self, campaign: Campaign, index: int, window: tuple[float, float], overlay: bool
    ) -> dict[str, Any]:
        """A full ladder for one new prospect: the whole audio with the name laid in, the card
        burnt in; its ``seconds`` and the ``bytes`` it stored."""
        from chalicelib import dependencies as deps
        from chalicelib.domain.media import base_prefix, jobs, wav
        from chalicelib.domain.media import ladder as lad
        from chalicelib.media import audio
        from chalicelib.media.overlay import render_overlay

        base = campaign.base_video
        assert base is not None, "the campaign has no base video"
        assert base.ladder is not None, "the base video has no ladder yet"
        store = deps.get_media_store()
        prospect_id, audio_key = self.add_prospect(campaign, 1000 + index, (window[1] - window[0]) * 0.9)
        prefix = f"{campaign.account_id}/{campaign.campaign_id}/naive/{prospect_id}"
        t0 = time.perf_counter()
        pcm_key = f"{base_prefix(campaign.account_id, campaign.campaign_id, base.upload_id)}/audio.wav"
        whole = store.get_bytes(pcm_key)
        layout = wav.wav_layout(whole[: wav.HEADER_PROBE_BYTES])
        pcm = whole[layout.data_offset : layout.data_offset + layout.data_bytes]
        rate = lad.AUDIO_SAMPLE_RATE
        replacement = audio.decode_pcm(store.get_bytes(audio_key))
        spliced = wav.splice(pcm, round(window[0] * rate), replacement, round((window[1] - window[0]) * rate))
        store.put_bytes(f"{prefix}/input/audio.wav", wav.wav_bytes(spliced), "audio/wav")
        request = jobs.base_ladder_job(
            source=deps.get_upload_store().uri(base.key),
            destination=store.uri(f"{prefix}/main"),
            pcm_destination=store.uri(f"{prefix}/pcm"),
            rungs=lad.ladder_for(base.ladder.width, base.ladder.height),
            fps=base.ladder.fps,
            role=deps.media_config().role_arn,
            metadata={"kind": "bench-naive"},
            token=f"naive-{prospect_id}",
        )
        settings = request.settings
        settings["OutputGroups"] = settings["OutputGroups"][:1]  # the ladder only: no WAV for peers
        selector = settings["Inputs"][0]["AudioSelectors"]["Audio Selector 1"]
        selector["ExternalAudioFileInput"] = store.uri(f"{prefix}/input/audio.wav")
        if overlay:
            png = render_overlay(
                f"Prospect {index}", base.ladder.width, base.ladder.height, subtitle="Acme Corp"
            )
            store.put_bytes(f"{prefix}/input/overlay.png", png, "image/png")
            start = lad.timecode(round(window[0] * base.ladder.fps) / base.ladder.fps, base.ladder.fps)
            settings["Inputs"][0]["ImageInserter"] = {
                "InsertableImages": [
                    {
                        "ImageInserterInput": store.uri(f"{prefix}/input/overlay.png"),
                        "Layer": 1,
                        "ImageX": 0,
                        "ImageY": 0,
                        "Opacity": 100,
                        "StartTime": start,
                        "Duration": round((window[1] - window[0]) * 1000),
                    }
                ]
            }
        job_id = deps.get_media_jobs().submit(request)
        self.wait_job(job_id)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "bytes": self.stored_bytes(f"{prefix}/main")}

    def stored_bytes(self, prefix: str) -> int:
        """Bytes under ``prefix`` in the media bucket, WAVs (the engine's own inputs) left out."""
        from chalicelib import dependencies as deps

        store = deps.get_media_store()
        total = 0
        for page in store._s3.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
            total += sum(o["Size"] for o in page.get("Contents", []) if not o["Key"].endswith(".wav"))
        return total
