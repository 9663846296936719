"""``tailorcast bench render``: segment-level personalization against a full re-encode per prospect.

Both ways run in one process on the same machine, side by side, through the same code the
product runs: the domain's render use case, the MediaConvert API (the local stand-in, called with
boto3), the same ffmpeg settings. AWS storage is moto, in memory.

* **ours**: the render task's :func:`chalicelib.tasks.media.submit_render` (span audio, name
  card) → the window job (only the segments the window touches) → the prospect's playlists.
  Email previews are timed separately: they are a by-product both approaches need.
* **naive** (what peers do): a full ladder job per prospect, from the whole base video with the
  prospect's audio laid in (and the card burnt in for the overlay case).

The naive render is the same work for every prospect, so it is measured on a sample of them
(``--naive``, default 2); ours is measured on every prospect (``--prospects``, default 20).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import FullReencode, Progress, Result, machine, measured_at, silent

BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TAILORCAST_STAGE": "bench",
    "TAILORCAST_TABLE_NAME": "tailorcast-bench",
    "TAILORCAST_UPLOADS_BUCKET": "tailorcast-bench-uploads",
    "TAILORCAST_MEDIA_BUCKET": "tailorcast-bench-media",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}
TARGETS = {
    "audio_only_ratio": 100.0,
    "audio_only_new_bytes": 100_000,
    "overlay_ratio": 25.0,
    "ladder_realtime": 2.5,
}
AUDIO_WINDOW = (0.45, 1.25)  # "Hi {first_name}, …": the name right after the greeting
OVERLAY_WINDOW = (0.3, 1.9)  # the name card for the first seconds, inside the first segment


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 4),
        "p50": round(statistics.median(ordered), 4),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
    }


@contextmanager
def _environment() -> Iterator[None]:
    saved = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_MEDIACONVERT"):
        os.environ.pop(name, None)
    os.environ.update(BENCH_ENV)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_render_bench(
    prospects: int = 20,
    naive: int = 2,
    seconds: float = 120.0,
    workdir: Path | None = None,
    progress: Progress = silent,
) -> Result:
    """Run the benchmark (see the module's docstring) and return its figures as a JSON-able dict."""
    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp, _environment():
        return _Bench(Path(workdir or tmp), progress).run(prospects, naive, seconds)


class _Bench(FullReencode):
    def run(self, prospects: int, naive: int, seconds: float) -> dict[str, Any]:
        import boto3
        from moto import mock_aws

        from chalicelib import dependencies as deps
        from chalicelib.adapters.dynamodb.schema import table_definition
        from devstack.mediaconvert import MediaConvertStandIn
        from devstack.mediaconvert.executor import FfmpegExecutor

        self.workdir.mkdir(parents=True, exist_ok=True)
        with mock_aws():
            deps.reset()
            boto3.client("dynamodb").create_table(**table_definition(BENCH_ENV["TAILORCAST_TABLE_NAME"]))
            for bucket in (BENCH_ENV["TAILORCAST_UPLOADS_BUCKET"], BENCH_ENV["TAILORCAST_MEDIA_BUCKET"]):
                boto3.client("s3").create_bucket(Bucket=bucket)
            standin = MediaConvertStandIn(
                FfmpegExecutor(lambda: boto3.client("s3")), self.events.append, workers=1
            )
            standin.start()
            os.environ["AWS_ENDPOINT_URL_MEDIACONVERT"] = standin.url
            deps.reset()
            self.standin = standin
            try:
                return self._measure(prospects, naive, seconds)
            finally:
                standin.stop(drain=False)
                deps.reset()

    # ------------------------------------------------------------------ steps

    def _deliver(self, job_id: str) -> None:
        from chalicelib import dependencies as deps
        from chalicelib.domain import media, render

        for event in [e for e in self.events if e["detail"]["jobId"] == job_id]:
            media.on_job_event(
                media.JobEvent.from_detail(event["detail"]),
                campaigns=deps.get_campaign_repo(),
                media=deps.get_media_store(),
                on_window=lambda e: render.on_window_event(deps.render_ports(), e),
            )

    def _measure(self, prospects: int, naive: int, seconds: float) -> dict[str, Any]:
        from chalicelib import dependencies as deps
        from chalicelib.adapters.probe import PyAVMediaProbe
        from chalicelib.domain import media
        from chalicelib.domain.accounts import create_account
        from chalicelib.domain.campaigns import create_campaign
        from chalicelib.domain.models import BaseVideo, UploadStatus, new_id
        from tailorcast_cli.samples import make_base_video

        source = self.workdir / f"base-{int(seconds)}s-720p.mp4"
        if not source.exists():
            self.say(f"generating a {seconds:.0f} s 720p base video with speech-like audio")
            make_base_video(source, seconds=seconds)
        account, _ = create_account(deps.get_account_repo(), "bench@example.com", "Bench", "bench")
        campaign = create_campaign(deps.get_campaign_repo(), account.account_id, "bench")
        upload_id = new_id("upl")
        key = f"uploads/{account.account_id}/{campaign.campaign_id}/base_video/{upload_id}/{source.name}"
        deps.get_upload_store()._s3.upload_file(str(source), deps.get_upload_store().bucket, key)
        probe = PyAVMediaProbe().probe(source)
        campaign = deps.get_campaign_repo().update(
            account.account_id,
            campaign.campaign_id,
            lambda c: c.model_copy(
                update={
                    "base_video": BaseVideo(
                        upload_id=upload_id,
                        key=key,
                        filename=source.name,
                        status=UploadStatus.PROCESSING,
                        size_bytes=source.stat().st_size,
                        probe=probe,
                    )
                }
            ),
        )

        self.say("encoding the base ladder once")
        started = time.perf_counter()
        job_id = media.start_base_ladder(
            campaign,
            uploads=deps.get_upload_store(),
            media=deps.get_media_store(),
            media_jobs=deps.get_media_jobs(),
            config=deps.media_config(),
        )
        self.wait_job(job_id)
        ladder_seconds = time.perf_counter() - started
        self._deliver(job_id)
        campaign = deps.get_campaign_repo().get(account.account_id, campaign.campaign_id)
        if campaign.base_video is None or campaign.base_video.ladder is None:
            raise RuntimeError(f"the base ladder did not become ready: {campaign.base_video}")
        ladder = campaign.base_video.ladder
        base_bytes = self.stored_bytes(ladder.prefix + "/")

        results: dict[str, Any] = {}
        for case, window, overlay in (
            ("audio_only", AUDIO_WINDOW, False),
            ("overlay", OVERLAY_WINDOW, True),
        ):
            ours = [self._ours(campaign, i, window, overlay) for i in range(prospects)]
            self.say(f"{case}: {prospects} prospects rendered segment-level; now {naive} full re-encodes")
            peers = [self.full_reencode(campaign, i, window, overlay) for i in range(naive)]
            render = [o["render_seconds"] for o in ours]
            naive_seconds = [p["seconds"] for p in peers]
            results[case] = {
                "window_seconds": list(window),
                "segments_reencoded": ours[0]["segments"],
                "rungs_reencoded": len(ladder.renditions) if overlay else 0,
                "ours": {
                    "prospects": prospects,
                    "render_seconds": _summary(render),
                    "phases_mean_seconds": {
                        phase: round(statistics.fmean(o[phase] for o in ours), 4)
                        for phase in ("prepare_seconds", "encode_seconds", "publish_seconds")
                    },
                    "previews_seconds": _summary([o["previews_seconds"] for o in ours]),
                    "new_bytes_per_prospect": _summary([float(o["new_bytes"]) for o in ours]),
                },
                "naive_full_reencode": {
                    "prospects_measured": naive,
                    "render_seconds": _summary(naive_seconds),
                    "new_bytes_per_prospect": _summary([float(p["bytes"]) for p in peers]),
                },
                "ratio_render": round(statistics.fmean(naive_seconds) / statistics.fmean(render), 1),
                "ratio_storage": round(
                    statistics.fmean(p["bytes"] for p in peers)
                    / statistics.fmean(o["new_bytes"] for o in ours),
                    1,
                ),
            }
        audio, card = results["audio_only"], results["overlay"]
        realtime = round(seconds / ladder_seconds, 2)
        return {
            "benchmark": "render",
            "measured_at": measured_at(),
            "machine": machine(os_platform=True, ffmpeg=True),
            "baseline": "a full HLS ladder re-encode per prospect (naive peers), same machine and run",
            "base": {
                "seconds": seconds,
                "source": f"{ladder.width}x{ladder.height} {ladder.fps} fps H.264/AAC, speech-like audio",
                "renditions": ladder.renditions,
                "ladder_seconds": round(ladder_seconds, 2),
                "ladder_realtime_factor": realtime,
                "ladder_bytes": base_bytes,
            },
            **results,
            "targets": TARGETS,
            "met": {
                "audio_only_ratio": audio["ratio_render"] >= TARGETS["audio_only_ratio"],
                "audio_only_new_bytes": audio["ours"]["new_bytes_per_prospect"]["max"]
                <= TARGETS["audio_only_new_bytes"],
                "overlay_ratio": card["ratio_render"] >= TARGETS["overlay_ratio"],
                "ladder_realtime": realtime >= TARGETS["ladder_realtime"],
            },
        }

    def _ours(self, campaign: Any, index: int, window: tuple[float, float], overlay: bool) -> dict[str, Any]:
        from chalicelib import dependencies as deps
        from chalicelib.domain import media
        from chalicelib.domain.models import OverlayText, RenderWindow
        from chalicelib.tasks.media import submit_render

        prospect_id, audio_key = self.add_prospect(campaign, index, (window[1] - window[0]) * 0.9)
        t0 = time.perf_counter()
        video = submit_render(
            media.RenderRequest(
                account_id=campaign.account_id,
                campaign_id=campaign.campaign_id,
                prospect_id=prospect_id,
                window=RenderWindow(start=window[0], end=window[1]),
                audio_key=audio_key,
                overlay=OverlayText(text=f"Prospect {index}", subtitle="Acme Corp") if overlay else None,
            )
        )
        t1 = time.perf_counter()
        assert video.job_id is not None
        self.wait_job(video.job_id)
        t2 = time.perf_counter()
        fields = media.publish_playlists(video, deps.get_media_store())
        t3 = time.perf_counter()
        media.publish_previews(video, deps.get_media_store(), codec=deps.get_media_codec())
        t4 = time.perf_counter()
        return {
            "prepare_seconds": t1 - t0,
            "encode_seconds": t2 - t1,
            "publish_seconds": t3 - t2,
            "render_seconds": t3 - t0,
            "previews_seconds": t4 - t3,
            "new_bytes": fields["new_bytes"],
            "segments": video.segment_count,
        }
