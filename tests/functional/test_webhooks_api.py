"""Webhook endpoints over HTTP (Chalice test client + moto), and the urllib3 sender on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.adapters.webhooks import Urllib3WebhookSender
from chalicelib.domain import webhooks
from chalicelib.domain.errors import LimitExceededError, WebhookDeliveryError
from tests.functional.conftest import call

HOOK = "https://hooks.example.com/tailorcast"


@pytest.fixture(autouse=True)
def _sealing_key(request: pytest.FixtureRequest) -> None:
    """Registering seals the signing secret with KMS: moto's needs the key the settings name."""
    if "client" in request.fixturenames:
        request.getfixturevalue("sealing_key")


def _json(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture
def machine(aws: None) -> tuple[Any, str]:
    """The deliveries state machine the settings name, in moto (a Pass state: nothing runs)."""
    import boto3

    from chalicelib.settings import get_settings

    arn = get_settings().webhook_state_machine_arn
    sfn = boto3.client("stepfunctions")
    created = sfn.create_state_machine(
        name=arn.rsplit(":", 1)[-1],
        definition=json.dumps({"StartAt": "Noop", "States": {"Noop": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/tailorcast-test",
    )["stateMachineArn"]
    assert created == arn
    return sfn, arn


def _create(client: Any, tenant: Any, **body: Any) -> Any:
    return call(client, "POST", "/webhooks", tenant, {"url": HOOK, **body})


def test_create_shows_the_secret_once(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    response = _create(client, me, description="CRM sync")
    assert response.status_code == 201
    created = _json(response)
    assert created["endpoint_id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert created["url"] == HOOK and created["description"] == "CRM sync" and created["enabled"] is True
    assert created["events"] == [
        "video.completed",
        "video.failed",
        "batch.completed",
        "video.played",
        "cta.clicked",
    ]

    got = call(client, "GET", f"/webhooks/{created['endpoint_id']}", me)
    listed = call(client, "GET", "/webhooks", me)
    for response in (got, listed):
        assert response.status_code == 200
        assert created["secret"] not in response.body.decode() and "secret" not in response.body.decode()
    assert _json(got) == {k: v for k, v in created.items() if k != "secret"}
    assert [e["endpoint_id"] for e in _json(listed)["items"]] == [created["endpoint_id"]]


def test_create_with_chosen_events(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    created = _json(_create(client, me, events=["video.failed", "batch.completed"]))
    assert created["events"] == ["video.failed", "batch.completed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/x"}, "body.url"),
        ({"url": "https://169.254.169.254/latest/meta-data/"}, "body.url"),
        ({"url": "https://10.0.0.1/x"}, "body.url"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "body.url"),
        ({"url": "https://hooks.example.com/" + "x" * 2048}, "body.url"),
        ({"url": ""}, "body.url"),
        ({}, "body.url"),
        ({"url": HOOK, "events": ["video.exploded"]}, "body.events.0"),
        ({"url": HOOK, "events": []}, "body.events"),
        ({"url": HOOK, "events": ["webhook.test"]}, "body.events.0"),
        ({"url": HOOK, "description": "x" * 201}, "body.description"),
        ({"url": HOOK, "secret": "mine"}, "body.secret"),
    ],
)
def test_validation_errors_name_the_field(client, new_tenant, body, field) -> None:  # type: ignore[no-untyped-def]
    response = call(client, "POST", "/webhooks", new_tenant(), body)
    assert response.status_code == 422, response.body
    error = _json(response)["error"]
    assert error["code"] == "invalid_input"
    assert [f["field"] for f in error["fields"]] == [field]


def test_eleventh_endpoint_is_refused(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    ids = [_json(_create(client, me, description=str(i)))["endpoint_id"] for i in range(10)]
    response = _create(client, me)
    assert response.status_code == 422
    assert _json(response)["error"]["code"] == "limit_exceeded"
    assert call(client, "DELETE", f"/webhooks/{ids[0]}", me).status_code == 204
    assert _create(client, me).status_code == 201  # the freed place
    assert _create(client, me).status_code == 422


def test_concurrent_registrations_store_exactly_ten(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    # The Chalice test client is not thread-safe (the app keeps the current request in one
    # attribute), so the race runs one level down: what POST /webhooks calls, with the real
    # adapters (DynamoDB through moto, answering one request at a time as DynamoDB applies each
    # atomically; KMS through moto), 16 at once.
    from chalicelib import dependencies as deps
    from devstack import dynamotx

    dynamotx.install()
    me = new_tenant()
    barrier = threading.Barrier(16)
    outcomes: list[object] = []

    def register(i: int) -> None:
        barrier.wait()
        try:
            outcome: object = webhooks.register_endpoint(
                repo=deps.get_webhook_repo(),
                sealer=deps.get_secret_sealer(),
                account_id=me.account_id,
                url=f"{HOOK}/{i}",
            )
        except Exception as exc:
            outcome = exc
        outcomes.append(outcome)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(isinstance(o, webhooks.Registered) for o in outcomes) == 10, outcomes
    assert sum(isinstance(o, LimitExceededError) for o in outcomes) == 6, outcomes
    listed = _json(call(client, "GET", "/webhooks", me))["items"]
    assert len(listed) == 10
    refused = _create(client, me)
    assert refused.status_code == 422 and _json(refused)["error"]["code"] == "limit_exceeded"
    assert call(client, "DELETE", f"/webhooks/{listed[0]['endpoint_id']}", me).status_code == 204
    assert _create(client, me).status_code == 201
    assert _create(client, me).status_code == 422


def _stored_item(account_id: str, endpoint_id: str) -> dict[str, Any]:
    import boto3

    from tests.conftest import TEST_ENV

    key = {"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": f"WEBHOOK#{endpoint_id}"}}
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=TEST_ENV["TAILORCAST_TABLE_NAME"], Key=key
    )["Item"]
    return item


def test_the_stored_endpoint_holds_no_plaintext_secret(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    created = _json(_create(client, me))

    item = _stored_item(me.account_id, created["endpoint_id"])

    assert created["secret"] not in json.dumps(item)
    assert item["secret"]["S"].startswith("kms1:") and "whsec_" not in json.dumps(item)


def test_delete(client, new_tenant, machine) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    endpoint_id = _json(_create(client, me))["endpoint_id"]
    assert call(client, "POST", f"/webhooks/{endpoint_id}/test", me).status_code == 202
    response = call(client, "DELETE", f"/webhooks/{endpoint_id}", me)
    assert response.status_code == 204 and response.body == b""
    for method, path in (
        ("GET", f"/webhooks/{endpoint_id}"),
        ("DELETE", f"/webhooks/{endpoint_id}"),
        ("GET", f"/webhooks/{endpoint_id}/deliveries"),
        ("POST", f"/webhooks/{endpoint_id}/test"),
    ):
        assert call(client, method, path, me).status_code == 404, (method, path)
    assert _json(call(client, "GET", "/webhooks", me))["items"] == []


def test_test_event_is_queued_as_a_named_execution(client, new_tenant, machine) -> None:  # type: ignore[no-untyped-def]
    sfn, arn = machine
    me = new_tenant()
    endpoint_id = _json(_create(client, me, events=["batch.completed"]))["endpoint_id"]

    response = call(client, "POST", f"/webhooks/{endpoint_id}/test", me)

    assert response.status_code == 202
    queued = _json(response)
    assert queued["delivery_id"].startswith("dlv_") and queued["event_id"].startswith("evt_")
    assert queued["event_type"] == "webhook.test" and queued["status"] == "pending"
    [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == queued["delivery_id"]
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "account_id": me.account_id,
        "endpoint_id": endpoint_id,
        "delivery_id": queued["delivery_id"],
    }
    [delivery] = _json(call(client, "GET", f"/webhooks/{endpoint_id}/deliveries", me))["items"]
    assert delivery["delivery_id"] == queued["delivery_id"] and delivery["attempts"] == 0
    event = json.loads(delivery["payload"])
    assert (event["id"], event["type"], event["account_id"]) == (
        queued["event_id"],
        "webhook.test",
        me.account_id,
    )


def test_test_event_when_deliveries_cannot_be_queued_is_503(client, new_tenant) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()  # no state machine in this world
    endpoint_id = _json(_create(client, me))["endpoint_id"]
    response = call(client, "POST", f"/webhooks/{endpoint_id}/test", me)
    assert response.status_code == 503
    assert _json(response)["error"]["code"] == "storage_error"


def test_deliveries_newest_first_with_a_limit(client, new_tenant, machine) -> None:  # type: ignore[no-untyped-def]
    me = new_tenant()
    endpoint_id = _json(_create(client, me))["endpoint_id"]
    sent = [_json(call(client, "POST", f"/webhooks/{endpoint_id}/test", me))["delivery_id"] for _ in range(3)]
    first = _json(call(client, "GET", f"/webhooks/{endpoint_id}/deliveries?limit=2", me))
    assert [d["delivery_id"] for d in first["items"]] == sent[::-1][:2]
    rest = _json(
        call(client, "GET", f"/webhooks/{endpoint_id}/deliveries?limit=2&cursor={first['cursor']}", me)
    )
    assert [d["delivery_id"] for d in rest["items"]] == [sent[0]] and rest["cursor"] is None
    bad = call(client, "GET", f"/webhooks/{endpoint_id}/deliveries?limit=0", me)
    assert bad.status_code == 422 and _json(bad)["error"]["fields"][0]["field"] == "query.limit"


def test_another_account_gets_404_for_every_route_with_an_id(client, new_tenant, machine) -> None:  # type: ignore[no-untyped-def]
    sfn, arn = machine
    alice, mallory = new_tenant("alice@a.io"), new_tenant("mallory@m.io")
    endpoint_id = _json(_create(client, alice))["endpoint_id"]

    for method, path in (
        ("GET", f"/webhooks/{endpoint_id}"),
        ("GET", f"/webhooks/{endpoint_id}/deliveries"),
        ("POST", f"/webhooks/{endpoint_id}/test"),
        ("DELETE", f"/webhooks/{endpoint_id}"),
    ):
        response = call(client, method, path, mallory)
        assert response.status_code == 404, (method, path, response.body)
        assert _json(response)["error"]["code"] == "not_found"

    assert _json(call(client, "GET", "/webhooks", mallory))["items"] == []
    assert call(client, "GET", f"/webhooks/{endpoint_id}", alice).status_code == 200
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []  # nothing was sent for Mallory


# --------------------------------------------------------------------------- the sender, on loopback


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        time.sleep(self.delay)
        self.send_response(self.status)
        if self.status in (301, 302, 307):
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the sender gave up waiting (the timeout test)
            self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_sender_posts_the_body_and_headers(receiver) -> None:  # type: ignore[no-untyped-def]
    address, handler = receiver
    status = Urllib3WebhookSender(allow_loopback=True).post(
        f"http://{address}/hook?x=1", b'{"a":1}', {"Tailorcast-Signature": "t=1,v1=00"}
    )
    assert status == 200
    [seen] = handler.seen
    assert seen["path"] == "/hook?x=1" and seen["body"] == b'{"a":1}'
    assert seen["headers"]["Tailorcast-Signature"] == "t=1,v1=00"
    assert seen["headers"]["Host"] == address


@pytest.mark.parametrize("status", [500, 302])
def test_sender_returns_other_statuses_and_never_follows_redirects(receiver, status) -> None:  # type: ignore[no-untyped-def]
    address, handler = receiver
    handler.status = status
    assert Urllib3WebhookSender(allow_loopback=True).post(f"http://{address}/", b"{}", {}) == status
    assert len(handler.seen) == 1


def test_sender_times_out(receiver) -> None:  # type: ignore[no-untyped-def]
    address, handler = receiver
    handler.delay = 2.0
    sender = Urllib3WebhookSender(allow_loopback=True, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(WebhookDeliveryError, match=r"did not answer within 0\.3 s"):
        sender.post(f"http://{address}/", b"{}", {})
    assert time.monotonic() - started < 1.5


def test_sender_reports_a_refused_connection_and_a_failed_tls_handshake() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    sender = Urllib3WebhookSender(allow_loopback=True, timeout=2)
    with pytest.raises(WebhookDeliveryError, match="could not connect"):
        sender.post(f"http://127.0.0.1:{closed_port}/", b"{}", {})

    # A server that answers a TLS handshake in plain text: https is really TLS, and it fails.
    plain = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = plain.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with plain, pytest.raises(WebhookDeliveryError, match="could not connect"):
        sender.post(f"https://127.0.0.1:{plain.getsockname()[1]}/", b"{}", {})
    thread.join(timeout=5)


def test_sender_refuses_loopback_unless_allowed(receiver) -> None:  # type: ignore[no-untyped-def]
    address, handler = receiver
    with pytest.raises(WebhookDeliveryError, match="may not be sent to"):
        Urllib3WebhookSender().post(f"http://{address}/", b"{}", {})
    with pytest.raises(WebhookDeliveryError, match="may not be sent to"):
        Urllib3WebhookSender().post(f"http://localhost:{address.rsplit(':', 1)[1]}/", b"{}", {})
    assert handler.seen == []


def test_the_delivery_task_signs_with_the_secret_shown_at_registration(  # type: ignore[no-untyped-def]
    client, new_tenant, machine, receiver, monkeypatch
) -> None:
    from chalicelib import dependencies

    # GIVEN an endpoint on this machine (as the local stack allows), registered over the API
    monkeypatch.setenv("TAILORCAST_WEBHOOK_ALLOW_INSECURE_LOCALHOST", "true")
    dependencies.reset()
    address, handler = receiver
    me = new_tenant()
    created = _json(call(client, "POST", "/webhooks", me, {"url": f"http://{address}/hook"}))

    def deliver_a_test_event() -> dict[str, Any]:
        queued = _json(call(client, "POST", f"/webhooks/{created['endpoint_id']}/test", me))
        ids = {"account_id": me.account_id, "endpoint_id": created["endpoint_id"]}
        outcome: dict[str, Any] = client.lambda_.invoke(
            "deliver_webhook", {**ids, "delivery_id": queued["delivery_id"]}
        ).payload
        return outcome

    # WHEN the delivery task runs (it opens the sealed secret with KMS)
    assert deliver_a_test_event()["status"] == "delivered"

    # THEN the receiver verifies the request with the secret it was shown
    request = handler.seen[-1]
    header = request["headers"]["Tailorcast-Signature"]
    assert webhooks.verify_signature(created["secret"], header, request["body"], time.time())

    # AND an endpoint an older version stored with a plaintext secret is still signed with it
    import boto3

    from tests.conftest import TEST_ENV

    legacy = "whsec_stored-in-plain-text-by-an-older-version"
    boto3.client("dynamodb").update_item(
        TableName=TEST_ENV["TAILORCAST_TABLE_NAME"],
        Key={"pk": {"S": f"ACCOUNT#{me.account_id}"}, "sk": {"S": f"WEBHOOK#{created['endpoint_id']}"}},
        UpdateExpression="SET secret = :s",
        ExpressionAttributeValues={":s": {"S": legacy}},
    )
    assert deliver_a_test_event()["status"] == "delivered"
    request = handler.seen[-1]
    assert webhooks.verify_signature(
        legacy, request["headers"]["Tailorcast-Signature"], request["body"], time.time()
    )
