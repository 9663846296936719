"""Outgoing webhooks end to end: the API queues a delivery, the real ``deliver_webhook`` ASL runs
on moto's Step Functions, its task Lambda POSTs to a receiver on 127.0.0.1, signed, and retries."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import state_machines
from chalicelib.domain.webhooks import verify_signature
from tailorcast_cli.client import TailorcastClient
from tests.e2e.conftest import local_stack

pytestmark = pytest.mark.e2e


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next scripted status."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
            status = state.statuses.pop(0) if state.statuses else state.default
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/tailorcast"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _signed_in(stack: Any) -> TailorcastClient:
    from tests.e2e.conftest import signed_up

    return TailorcastClient(
        stack.endpoints.api, signed_up(stack, f"hooks-{uuid.uuid4().hex[:8]}@example.com").access_token
    )


def _execution(stack: Any, delivery_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The delivery's execution (named after it), once it has finished."""
    sfn = stack.client("stepfunctions")
    arn = (
        stack.state_machine_arns["deliver_webhook"].replace(":stateMachine:", ":execution:")
        + f":{delivery_id}"
    )
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def test_a_test_event_arrives_signed(stack, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in(stack)
    endpoint = client.create_webhook(receiver.url, description="local receiver")

    queued = client.send_test_event(endpoint.endpoint_id)

    [request] = receiver.wait_for(1)
    assert request.path == "/hooks/tailorcast"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Tailorcast-Event-Type"] == "webhook.test"
    assert request.headers["Tailorcast-Event-Id"] == queued.event_id
    assert request.headers["Tailorcast-Delivery-Id"] == queued.delivery_id
    assert request.headers["Tailorcast-Delivery-Attempt"] == "1"
    assert verify_signature(
        endpoint.secret, request.headers["Tailorcast-Signature"], request.body, time.time()
    )
    assert not verify_signature(
        "whsec_wrong", request.headers["Tailorcast-Signature"], request.body, time.time()
    )
    event = json.loads(request.body)
    assert event["id"] == queued.event_id and event["type"] == "webhook.test"
    assert event["account_id"] == client.me().account.account_id
    assert event["data"]["endpoint_id"] == endpoint.endpoint_id

    delivery = client.wait_for_delivery(endpoint.endpoint_id, queued.delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.payload.encode() == request.body
    assert _execution(stack, queued.delivery_id)["status"] == "SUCCEEDED"
    assert stack.dispatcher.dead_letters == []


def test_a_failed_attempt_is_retried_by_the_state_machine(stack, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a receiver that fails once (the product's retry policy: the first retry comes after a
    # wait drawn from 0-5 s)
    receiver.statuses = [500]
    client = _signed_in(stack)
    endpoint = client.create_webhook(receiver.url)

    queued = client.send_test_event(endpoint.endpoint_id)

    first, second = receiver.wait_for(2, timeout=60)
    delivery = client.wait_for_delivery(endpoint.endpoint_id, queued.delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.last_error is None
    # The same bytes both times, each attempt signed on its own.
    assert first.body == second.body
    assert [r.headers["Tailorcast-Delivery-Attempt"] for r in (first, second)] == ["1", "2"]
    for r in (first, second):
        assert verify_signature(endpoint.secret, r.headers["Tailorcast-Signature"], r.body, time.time())
    assert second.at - first.at <= 5.5
    assert _execution(stack, queued.delivery_id)["status"] == "SUCCEEDED"
    assert len(receiver.wait_for(3, timeout=1)) == 2  # nothing sent after it was delivered


# --------------------------------------------------------------------------- giving up


@pytest.fixture
def quick_retry_stack(tmp_path: Path) -> Iterator[Any]:
    """The local stack with the product's deliver_webhook definition, retry waits shortened.

    Everything else is the product's file as is (states, Catch, the give-up task, the Fail), so
    giving up runs end to end in seconds instead of the ~1.5 h the real waits add up to. The
    product file itself is untouched; the test's copy replaces it under the same name.
    """
    definition = json.loads((state_machines.DEFINITIONS_DIR / "deliver_webhook.asl.json").read_text())
    [retrier] = [
        r for r in definition["States"]["Deliver"]["Retry"] if r["ErrorEquals"] == ["WebhookDeliveryError"]
    ]
    retrier.update({"IntervalSeconds": 1, "MaxAttempts": 2, "MaxDelaySeconds": 1})
    quick = tmp_path / "deliver_webhook.asl.json"
    quick.write_text(json.dumps(definition))

    with local_stack(tmp_path / "state", {"deliver_webhook": quick}) as local:
        yield local


def test_a_receiver_that_always_fails_ends_failed(quick_retry_stack, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    stack = quick_retry_stack
    receiver.default = 503
    client = _signed_in(stack)
    endpoint = client.create_webhook(receiver.url, events=["video.failed"])

    queued = client.send_test_event(endpoint.endpoint_id)

    delivery = client.wait_for_delivery(endpoint.endpoint_id, queued.delivery_id, timeout=60)
    assert delivery is not None
    # The first attempt and both retries, then the Catch's give-up task marked it failed.
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert delivery.last_error == "the endpoint answered HTTP 503"
    assert [r.headers["Tailorcast-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    execution = _execution(stack, queued.delivery_id)
    assert (execution["status"], execution.get("error")) == ("FAILED", "WebhookDeliveryFailed")
    assert stack.dispatcher.dead_letters == []
