"""The render pipeline end to end on the local stack: the real state machine (moto's ASL
interpreter), the voice function, MediaConvert's stand-in running ffmpeg, and the video decoded.

Faults are injected where they happen in AWS: a voice function invocation that fails, a
MediaConvert job that ends in ERROR, CreateJob throttled (once, and for good).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from chalicelib import dependencies as deps
from chalicelib.domain.errors import SynthesisError
from chalicelib.domain.models import Prospect, new_id
from devstack.lambdas import LambdaFault
from devstack.mediaconvert import Fault
from tests.e2e.conftest import decode_playlist

pytestmark = pytest.mark.e2e

NAMES = ("Priya", "Maria", "Emily", "Omar", "Lena", "Tom", "Ana", "Noor")


def _prospects(account_id: str, campaign_id: str, names: tuple[str, ...]) -> dict[str, str]:
    ids = {}
    for name in names:
        prospect = deps.get_prospect_repo().add(
            Prospect(
                account_id=account_id,
                campaign_id=campaign_id,
                prospect_id=new_id("pros"),
                first_name=name,
                company="Acme",
                email=f"{name.lower()}@acme.example",
            )
        )
        ids[name] = prospect.prospect_id
    return ids


def _jobs_by_prospect(stack: Any) -> dict[str, int]:
    mc = boto3.client("mediaconvert", endpoint_url=stack.endpoints.mediaconvert, region_name="us-east-1")
    counts: dict[str, int] = {}
    for page in mc.get_paginator("list_jobs").paginate():
        for job in page["Jobs"]:
            prospect = job.get("UserMetadata", {}).get("prospect_id")
            if prospect:
                counts[prospect] = counts.get(prospect, 0) + 1
    return counts


def test_faults_fail_only_their_prospects_and_a_rerun_completes_them(stack: Any, seller: Any) -> None:
    client, account_id, cid = seller
    assert client.wait_for_voice(cid).status == "ready"
    ids = _prospects(account_id, cid, NAMES)
    by_id = {v: k for k, v in ids.items()}
    voice_fn = stack.settings.voice_function_name
    # GIVEN three faults: the voice function fails for Noor, Lena's job ends in ERROR, Tom's
    # submissions are throttled for good; Ana's first submission is throttled once.
    voice_fault = stack.dispatcher.inject(
        LambdaFault(voice_fn, {"prospect_id": ids["Noor"]}, SynthesisError("the voice engine crashed"))
    )
    stack.mediaconvert.inject(
        Fault({"prospect_id": ids["Lena"]}, "error", message="injected: the encoder crashed")
    )
    stack.mediaconvert.inject(Fault({"prospect_id": ids["Tom"]}, "throttle"))
    once = stack.mediaconvert.inject(Fault({"prospect_id": ids["Ana"]}, "throttle", times=1))

    # WHEN the campaign is rendered
    batch = client.start_batch(cid, tolerated_failure_percent=50)
    batch = client.wait_for_batch(cid, batch.batch_id, timeout=600)

    # THEN exactly those three failed, each with its reason, and the others completed and play
    assert batch.status == "completed", batch
    assert batch.counters.model_dump() == {
        "queued": 0,
        "in_progress": 0,
        "completed": 5,
        "failed": 3,
        "cancelled": 0,
    }
    assert (batch.total, batch.percent) == (8, 100.0)
    videos = {by_id[v.prospect_id]: v for v in client.batch_prospects(cid, batch.batch_id)}
    failed = {name: v.error for name, v in videos.items() if v.status == "failed"}
    assert set(failed) == {"Noor", "Lena", "Tom"}, failed
    assert "the voice engine crashed" in failed["Noor"]
    assert failed["Lena"].startswith("rendering failed") and "encoder crashed" in failed["Lena"]
    assert "throttl" in failed["Tom"].lower()
    assert once.hits == 1  # Ana was throttled, retried, and rendered
    for name, video in videos.items():
        if name in failed:
            assert video.failed_at and video.playlist_url is None
            continue
        assert video.status == "completed", video
        assert video.queued_at < video.synthesizing_at < video.rendering_at < video.completed_at
        assert decode_playlist(stack, video.playlist_url) is None, name
    jobs = _jobs_by_prospect(stack)
    assert {by_id[p]: n for p, n in jobs.items()} == {
        "Priya": 1,
        "Maria": 1,
        "Emily": 1,
        "Omar": 1,
        "Ana": 1,
        "Lena": 1,
    }  # one job per render; Tom's were refused; Noor never reached MediaConvert

    # WHEN the faults are healed and the campaign is rendered again
    stack.dispatcher.faults.remove(voice_fault)
    stack.mediaconvert.faults.clear()
    again = client.start_batch(cid)
    again = client.wait_for_batch(cid, again.batch_id, timeout=600)

    # THEN only the failed three are rendered, the rest are untouched
    assert again.status == "completed", again
    assert (again.total, again.skipped) == (3, 5)
    assert again.counters.completed == 3
    rerun = {by_id[v.prospect_id]: v for v in client.batch_prospects(cid, again.batch_id)}
    assert set(rerun) == {"Noor", "Lena", "Tom"}
    for name, video in rerun.items():
        assert video.status == "completed" and video.render_version == 2, video
        assert decode_playlist(stack, video.playlist_url) is None, name
    for name in set(NAMES) - set(rerun):
        now = client.video(cid, ids[name])
        assert (now.render_id, now.completed_at) == (
            videos[name].render_id,
            videos[name].completed_at,
        )
    jobs_after = _jobs_by_prospect(stack)
    assert sum(jobs_after.values()) == sum(jobs.values()) + 3


def test_large_batch_goes_through_a_distributed_map(stack: Any, seller: Any, monkeypatch: Any) -> None:
    client, account_id, cid = seller
    assert client.wait_for_voice(cid).status == "ready"
    ids = _prospects(account_id, cid, ("Priya", "Maria", "Emily"))
    # GIVEN a stack that reads batches of more than two prospects from an S3 manifest
    monkeypatch.setenv("TAILORCAST_RENDER_INLINE_MAX", "2")
    deps.reset()
    batch = client.start_batch(cid)
    batch = client.wait_for_batch(cid, batch.batch_id, timeout=600)
    assert (batch.status, batch.mode, batch.counters.completed) == ("completed", "distributed", 3)
    manifest = stack.client("s3").get_object(
        Bucket=stack.settings.media_bucket,
        Key=f"{account_id}/{cid}/batches/{batch.batch_id}/manifest.json",
    )
    assert {item["prospect_id"] for item in json.loads(manifest["Body"].read())} == set(ids.values())


def test_cancel_stops_new_work_and_keeps_finished_videos(stack: Any, seller: Any, monkeypatch: Any) -> None:
    client, account_id, cid = seller
    assert client.wait_for_voice(cid).status == "ready"
    _prospects(account_id, cid, NAMES)
    # GIVEN two prospects rendering at a time, so that some are still queued when it is cancelled
    monkeypatch.setenv("TAILORCAST_RENDER_CONCURRENCY", "2")
    deps.reset()
    batch = client.start_batch(cid)
    # WHEN the batch is cancelled once the first video is done
    while client.batch(cid, batch.batch_id).counters.completed < 1:
        time.sleep(0.1)
    cancelled = client.cancel_batch(cid, batch.batch_id)
    assert cancelled.status == "cancelled"
    # Renders already submitted finish and publish by themselves.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        videos = client.batch_prospects(cid, batch.batch_id)
        if not any(v.status in ("synthesizing", "rendering", "queued") for v in videos):
            break
        time.sleep(0.5)
    statuses = [v.status for v in videos]
    # THEN nothing is left in progress, finished videos stay, and not every prospect was rendered
    assert set(statuses) <= {"completed", "pending"}, statuses
    assert 1 <= statuses.count("completed") < len(NAMES)
    for v in videos:
        if v.status == "pending":
            assert "cancelled" in v.error
        else:
            assert decode_playlist(stack, v.playlist_url) is None
    assert client.campaign(cid).active_batch_id is None
