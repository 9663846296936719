"""The local stack end to end: real moto server, real HTTP, real ffmpeg-made video."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tailorcast_cli.client import TailorcastClient

pytestmark = pytest.mark.e2e


def _signed_in(stack) -> TailorcastClient:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import signed_up_on_agency

    return TailorcastClient(
        stack.endpoints.api,
        signed_up_on_agency(stack, f"e2e-{uuid.uuid4().hex[:8]}@example.com").access_token,
    )


def test_s3_upload_reaches_its_handler_through_the_stack(stack, sample_video: Path) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(stack)
    campaign = client.create_campaign("e2e")
    # The handler is never called here: the presigned POST lands in moto S3, whose bucket
    # notification (configured from the app's @on_s3_event) invokes the Lambda asynchronously.
    client.upload(campaign.campaign_id, "base_video", sample_video, "video/mp4")
    done = client.wait_for_base_video(campaign.campaign_id, timeout=60)
    # …then the ladder job runs on the local MediaConvert and its COMPLETE event (EventBridge
    # pattern matched) makes the base ready.
    assert done.base_video is not None
    assert done.base_video.status == "ready", done.base_video
    assert done.status == "ready" and done.base_video.ladder is not None
    assert done.base_video.ladder.segment_count == 1
    assert done.base_video.probe is not None and done.base_video.probe.video_codec == "h264"
    assert stack.dispatcher.dead_letters == []


def test_rejected_upload_through_the_stack(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(stack)
    campaign = client.create_campaign("e2e")
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"<html>not a video</html>")
    client.upload(campaign.campaign_id, "base_video", fake, "video/mp4")
    done = client.wait_for_base_video(campaign.campaign_id, timeout=30)
    assert done.base_video is not None
    assert done.base_video.status == "rejected"
    assert done.base_video.reason == "this file is not a video"


def _run(stack, payload: dict) -> dict:  # type: ignore[no-untyped-def,type-arg]
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arns["smoke"],
        name=f"smoke-{uuid.uuid4().hex[:12]}",
        input=json.dumps(payload),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("execution did not finish")


def test_step_functions_runs_our_lambda_in_process(stack) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(stack)
    campaign = client.create_campaign("from the state machine")
    account_id = client.me().account.account_id
    result = _run(stack, {"account_id": account_id, "campaign_id": campaign.campaign_id})
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["loaded"]["campaign"]["name"] == "from the state machine"

    # The task's domain error reaches Step Functions by name and the Catch routes it.
    missing = _run(stack, {"account_id": account_id, "campaign_id": "camp_01aaaaaaaaaaaaaaaaaaaaaaaa"})
    assert missing["status"] == "FAILED"
    assert missing.get("error") == "CampaignMissing"


def test_a_chunked_body_is_read_whole_and_the_connection_stays_in_step(stack) -> None:  # type: ignore[no-untyped-def]
    import http.client
    from urllib.parse import urlsplit

    from tests.e2e.conftest import signed_up_on_agency

    token = signed_up_on_agency(stack, "chunked@example.com").access_token
    where = urlsplit(stack.endpoints.api)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = [b'{"pronunc', b'iation": "NEEV"}']
    conn.request("PUT", "/pronunciations/Niamh", body=iter(body), headers=headers, encode_chunked=True)
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    assert json.loads(answer.read())["pronunciation"] == "NEEV"
    # The same connection answers the next request: no chunk was taken for a request line
    conn.request("GET", "/pronunciations", headers=headers)
    following = conn.getresponse()
    assert following.status == 200
    assert [p["name"] for p in json.loads(following.read())["items"]] == ["Niamh"]


def test_a_refused_head_request_leaves_no_body_on_the_connection(stack) -> None:  # type: ignore[no-untyped-def]
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(stack.endpoints.api)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    # Chalice refuses the content type before any view runs (415), with a JSON error...
    conn.request("HEAD", "/w/not-a-token", headers={"Content-Type": "multipart/form-data"})
    refused = conn.getresponse()
    assert refused.status == 415
    assert refused.read() == b""
    # ...whose bytes must not be read as the next response on the same connection
    conn.request("GET", "/health")
    following = conn.getresponse()
    assert following.status == 200 and json.loads(following.read())["status"] == "ok"
