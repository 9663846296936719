"""Outgoing webhooks: signatures, URL rules (SSRF), delivery attempts and idempotent publishing."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.adapters.webhooks import StepFunctionsEventPublisher, Urllib3WebhookSender, execution_name
from chalicelib.domain import webhooks
from chalicelib.domain.errors import (
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    StorageError,
    WebhookDeliveryError,
    error_from_dict,
    error_to_dict,
)
from chalicelib.domain.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.fakes import (
    FakeDeliveryQueue,
    FakeEventPublisher,
    FakeSecretSealer,
    FakeWebhookRepository,
    FakeWebhookSender,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = "whsec_test-secret"
ACCOUNT = "acct_a"
SEALER = FakeSecretSealer()


def _secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret (stored sealed)."""
    return webhooks.signing_secret(endpoint, SEALER)


# --------------------------------------------------------------------------- signatures


def test_signature_header_format_and_roundtrip() -> None:
    body = '{"id":"evt_1"}'
    header = webhooks.sign(SECRET, NOW, body)
    t, v1 = header.split(",")
    assert t == f"t={int(NOW.timestamp())}"
    assert v1.startswith("v1=") and len(v1) == 3 + 64
    assert webhooks.verify_signature(SECRET, header, body, NOW)
    assert webhooks.verify_signature(SECRET, header, body.encode(), NOW.timestamp() + 299)


def test_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"a":1}'
    expected = hmac.new(SECRET.encode(), f"1767225600.{body}".encode(), hashlib.sha256).hexdigest()
    assert webhooks.sign(SECRET, 1767225600, body) == f"t=1767225600,v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        pytest.param(SECRET, '{"id":"evt_2"}', NOW, id="tampered-body"),
        pytest.param("whsec_other", '{"id":"evt_1"}', NOW, id="wrong-secret"),
        pytest.param(SECRET, '{"id":"evt_1"}', NOW + timedelta(seconds=301), id="stale"),
        pytest.param(SECRET, '{"id":"evt_1"}', NOW - timedelta(seconds=301), id="from-the-future"),
    ],
)
def test_signature_refused(secret: str, body: str, now: datetime) -> None:
    header = webhooks.sign(SECRET, NOW, '{"id":"evt_1"}')
    assert not webhooks.verify_signature(secret, header, body, now)


def test_replayed_signature_with_a_new_timestamp_is_refused() -> None:
    header = webhooks.sign(SECRET, NOW, "{}")
    forged = header.replace(f"t={int(NOW.timestamp())}", f"t={int(NOW.timestamp()) + 600}")
    assert not webhooks.verify_signature(SECRET, forged, "{}", NOW + timedelta(seconds=600))


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=00", "t=1767225600", "t=,v1="])
def test_malformed_signature_headers_are_false(header: str | None) -> None:
    assert not webhooks.verify_signature(SECRET, header, "{}", NOW)


def test_any_of_several_v1_signatures_may_match() -> None:
    good = webhooks.sign(SECRET, NOW, "{}").split(",")[1]
    header = f"t={int(NOW.timestamp())},v1={'0' * 64},{good}"
    assert webhooks.verify_signature(SECRET, header, "{}", NOW)


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tailorcast",
        "https://hooks.example.com:8443/a/b?token=x",
        "https://HOOKS.Example.com./x",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://xn--bcher-kva.example/hook",
    ],
)
def test_urls_allowed_everywhere(url: str) -> None:
    assert webhooks.validate_url(url) == url
    assert webhooks.validate_url(url, allow_insecure_localhost=True) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("javascript:alert(1)", "https"),
        ("file:///etc/passwd", "https"),
        ("hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("https://user@hooks.example.com/x", "user name or password"),
        ("https://169.254.169.254/latest/meta-data/", "private"),
        ("https://10.0.0.1/x", "private"),
        ("https://172.16.5.4/x", "private"),
        ("https://192.168.1.10/x", "private"),
        ("https://100.64.0.1/x", "private"),
        ("https://0.0.0.0/x", "private"),
        ("https://224.0.0.251/x", "private"),
        ("https://[fe80::1]/x", "private"),
        ("https://[fc00::1]/x", "private"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://[::ffff:169.254.169.254]/x", "private"),
        ("https://127.0.0.1/x", "private"),
        ("https://[::1]/x", "private"),
        ("https://localhost/x", "localhost"),
        ("https://api.localhost/x", "localhost"),
        ("https://127.1/x", "invalid host"),
        ("https://2130706433/x", "fully qualified"),
        ("https://0x7f.0.0.1/x", "invalid host"),
        ("https://intranet/x", "fully qualified"),
        ("https://bad_host.example.com/x", "invalid host"),
        ("https://bücher.example/x", "invalid host"),
        ("https://hooks.example.com:99999/x", "port"),
        ("https://hooks.example.com:0/x", "port"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\nx", "control"),
        ("https:///x", "host"),
        ("https://hooks.example.com/" + "a" * 2030, "2048"),
    ],
)
def test_urls_refused(url: str, says: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhooks.validate_url(url)
    [issue] = caught.value.issues
    assert issue.loc == "body.url"
    assert says in issue.message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "http://localhost:9000/x", "http://[::1]:9000/x", "https://127.0.0.1/x"],
)
def test_loopback_only_when_insecure_localhost_is_allowed(url: str) -> None:
    assert webhooks.validate_url(url, allow_insecure_localhost=True) == url
    with pytest.raises(InvalidInputError):
        webhooks.validate_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/x", "https://169.254.169.254/x", "http://hooks.example.com/x", "http://8.8.8.8/x"],
)
def test_insecure_localhost_allows_nothing_else(url: str) -> None:
    with pytest.raises(InvalidInputError):
        webhooks.validate_url(url, allow_insecure_localhost=True)


# --------------------------------------------------------------------------- endpoints


def test_register_defaults_to_every_event_with_a_fresh_secret() -> None:
    repo = FakeWebhookRepository()
    first = webhooks.register_endpoint(
        repo=repo, sealer=SEALER, account_id=ACCOUNT, url="https://hooks.example.com/a"
    )
    second = webhooks.register_endpoint(
        repo=repo,
        sealer=SEALER,
        account_id=ACCOUNT,
        url="https://hooks.example.com/b",
        events=["video.failed"] * 2,
    )
    assert first.endpoint.events == list(webhooks.EVENT_TYPES)
    assert second.endpoint.events == ["video.failed"]
    assert first.endpoint.endpoint_id.startswith("whk_") and first.endpoint.enabled
    assert first.secret.startswith("whsec_") and len(first.secret) >= 6 + 43
    assert first.secret != second.secret
    assert repo.get_endpoint(ACCOUNT, first.endpoint.endpoint_id) == first.endpoint
    assert first.secret not in repr(first)  # never in a log line


def test_the_secret_is_stored_sealed_to_its_endpoint() -> None:
    # GIVEN a registered endpoint
    repo = FakeWebhookRepository()
    registered = webhooks.register_endpoint(
        repo=repo, sealer=SEALER, account_id=ACCOUNT, url="https://hooks.example.com/a"
    )

    # THEN what is stored is not the secret, yet opens to it (and only as this endpoint's)
    stored = repo.get_endpoint(ACCOUNT, registered.endpoint.endpoint_id)
    assert registered.secret not in stored.model_dump_json()
    assert not stored.secret.startswith(webhooks.SECRET_PREFIX)
    assert webhooks.signing_secret(stored, SEALER) == registered.secret
    moved = stored.model_copy(update={"endpoint_id": "whk_other"})
    with pytest.raises(StorageError):
        webhooks.signing_secret(moved, SEALER)


def test_a_plaintext_secret_stored_by_an_older_version_still_signs() -> None:
    legacy = WebhookEndpoint(
        account_id=ACCOUNT,
        endpoint_id="whk_old",
        url="https://hooks.example.com/a",
        events=["video.failed"],
        secret=SECRET,
    )
    assert webhooks.signing_secret(legacy, SEALER) == SECRET


def test_registering_when_the_key_service_is_down_stores_nothing() -> None:
    repo, sealer = FakeWebhookRepository(), FakeSecretSealer()
    sealer.fail_with = StorageError("KMS is unavailable")
    with pytest.raises(StorageError):
        webhooks.register_endpoint(
            repo=repo, sealer=sealer, account_id=ACCOUNT, url="https://hooks.example.com/a"
        )
    assert repo.list_endpoints(ACCOUNT) == [] and repo.quotas.usage(ACCOUNT, "webhook_endpoints") == 0


@pytest.mark.parametrize("events", [[], ["video.exploded"], ["webhook.test"]])
def test_register_refuses_unknown_or_no_events(events: list[str]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhooks.register_endpoint(
            repo=FakeWebhookRepository(),
            sealer=SEALER,
            account_id=ACCOUNT,
            url="https://hooks.example.com/a",
            events=events,
        )
    assert [i.loc for i in caught.value.issues] == ["body.events"]


def test_at_most_ten_endpoints_per_account() -> None:
    repo = FakeWebhookRepository()
    registered = [
        webhooks.register_endpoint(
            repo=repo, sealer=SEALER, account_id=ACCOUNT, url=f"https://hooks.example.com/{i}"
        )
        for i in range(webhooks.MAX_ENDPOINTS_PER_ACCOUNT)
    ]
    with pytest.raises(LimitExceededError, match="at most 10 webhook endpoints"):
        webhooks.register_endpoint(
            repo=repo, sealer=SEALER, account_id=ACCOUNT, url="https://hooks.example.com/one-too-many"
        )
    webhooks.register_endpoint(
        repo=repo, sealer=SEALER, account_id="acct_other", url="https://hooks.example.com/x"
    )  # per account
    # Deleting one makes room for one.
    webhooks.delete_endpoint(repo, ACCOUNT, registered[0].endpoint.endpoint_id)
    webhooks.register_endpoint(
        repo=repo, sealer=SEALER, account_id=ACCOUNT, url="https://hooks.example.com/again"
    )
    with pytest.raises(LimitExceededError):
        webhooks.register_endpoint(
            repo=repo, sealer=SEALER, account_id=ACCOUNT, url="https://hooks.example.com/one-too-many"
        )


# --------------------------------------------------------------------------- publishing


def _endpoint(repo: FakeWebhookRepository, events: list[str] | None = None, **kw: Any) -> WebhookEndpoint:
    endpoint = webhooks.register_endpoint(
        repo=repo,
        sealer=SEALER,
        account_id=kw.pop("account_id", ACCOUNT),
        url="https://hooks.example.com/h",
        events=events,
    ).endpoint
    if kw:
        endpoint = endpoint.model_copy(update=kw)
        repo.endpoints[(endpoint.account_id, endpoint.endpoint_id)] = endpoint
    return endpoint


def test_event_body_is_compact_json_with_the_documented_keys() -> None:
    body = webhooks.event_body("evt_1", "video.completed", ACCOUNT, {"prospect_id": "pros_1"}, NOW)
    assert json.loads(body) == {
        "id": "evt_1",
        "type": "video.completed",
        "created_at": "2026-11-20T12:00:00.000Z",
        "account_id": ACCOUNT,
        "data": {"prospect_id": "pros_1"},
    }
    assert list(json.loads(body)) == ["id", "type", "created_at", "account_id", "data"]
    assert ", " not in body


def test_event_body_refuses_what_is_not_json() -> None:
    with pytest.raises(InvalidInputError):
        webhooks.event_body("evt_1", "video.completed", ACCOUNT, {"x": object()}, NOW)
    with pytest.raises(InvalidInputError):
        webhooks.event_body("evt_1", "video.completed", ACCOUNT, {"x": "a" * 70_000}, NOW)


def test_publish_reaches_enabled_subscribed_endpoints_of_the_account_only() -> None:
    repo, queue = FakeWebhookRepository(), FakeDeliveryQueue()
    everything = _endpoint(repo)
    failures_only = _endpoint(repo, ["video.failed"])
    _endpoint(repo, enabled=False)
    _endpoint(repo, account_id="acct_other")

    queued = webhooks.publish(
        repo=repo,
        queue=queue,
        account_id=ACCOUNT,
        event_type="video.completed",
        event_id="evt_1",
        data={"prospect_id": "p"},
        now=NOW,
    )

    assert queued == 1
    [delivery] = repo.list_deliveries(ACCOUNT, everything.endpoint_id, 10).items
    assert queue.queued == [delivery.delivery_id]
    assert delivery.delivery_id.startswith("dlv_")
    assert (delivery.event_id, delivery.event_type, delivery.status) == (
        "evt_1",
        "video.completed",
        "pending",
    )
    assert json.loads(delivery.payload)["data"] == {"prospect_id": "p"}
    assert repo.list_deliveries(ACCOUNT, failures_only.endpoint_id, 10).items == []


def test_publish_is_idempotent_on_the_event_id() -> None:
    repo, queue = FakeWebhookRepository(), FakeDeliveryQueue()
    endpoint = _endpoint(repo)
    assert (
        webhooks.publish(
            repo=repo,
            queue=queue,
            account_id=ACCOUNT,
            event_type="batch.completed",
            event_id="evt_1",
            data={"n": 1},
            now=NOW,
        )
        == 1
    )
    # The same occurrence published again later (a retried task): nothing new, same body.
    later = NOW + timedelta(minutes=5)
    assert (
        webhooks.publish(
            repo=repo,
            queue=queue,
            account_id=ACCOUNT,
            event_type="batch.completed",
            event_id="evt_1",
            data={"n": 1},
            now=later,
        )
        == 0
    )
    [delivery] = repo.list_deliveries(ACCOUNT, endpoint.endpoint_id, 10).items
    assert json.loads(delivery.payload)["created_at"] == "2026-11-20T12:00:00.000Z"
    assert queue.queued == [delivery.delivery_id]
    # A different event is a different delivery.
    assert (
        webhooks.publish(
            repo=repo,
            queue=queue,
            account_id=ACCOUNT,
            event_type="batch.completed",
            event_id="evt_2",
            data={"n": 2},
            now=later,
        )
        == 1
    )


def test_publish_that_could_not_queue_can_be_retried_with_the_same_event_id() -> None:
    repo, queue = FakeWebhookRepository(), FakeDeliveryQueue()
    endpoint = _endpoint(repo)
    queue.refuse = "throttled"
    with pytest.raises(StorageError):
        webhooks.publish(
            repo=repo,
            queue=queue,
            account_id=ACCOUNT,
            event_type="video.failed",
            event_id="evt_1",
            data={},
            now=NOW,
        )
    queue.refuse = None
    webhooks.publish(
        repo=repo,
        queue=queue,
        account_id=ACCOUNT,
        event_type="video.failed",
        event_id="evt_1",
        data={},
        now=NOW,
    )
    [delivery] = repo.list_deliveries(ACCOUNT, endpoint.endpoint_id, 10).items
    assert queue.queued == [delivery.delivery_id]  # the stored delivery, queued once now


def test_publish_without_endpoints_queues_nothing() -> None:
    assert (
        webhooks.publish(
            repo=FakeWebhookRepository(),
            queue=FakeDeliveryQueue(),
            account_id=ACCOUNT,
            event_type="video.failed",
            event_id="e",
            data={},
        )
        == 0
    )


@pytest.mark.parametrize(
    ("event_type", "event_id"),
    [
        ("video.exploded", "evt_1"),
        ("webhook.test", "evt_1"),
        ("video.failed", ""),
        ("video.failed", "x" * 201),
    ],
)
def test_publish_refuses_bad_events(event_type: str, event_id: str) -> None:
    with pytest.raises(InvalidInputError):
        webhooks.publish(
            repo=FakeWebhookRepository(),
            queue=FakeDeliveryQueue(),
            account_id=ACCOUNT,
            event_type=event_type,
            event_id=event_id,
            data={},
        )


def test_send_test_targets_one_endpoint_whatever_it_subscribed_to() -> None:
    repo, queue = FakeWebhookRepository(), FakeDeliveryQueue()
    target = _endpoint(repo, ["batch.completed"])
    other = _endpoint(repo)
    delivery = webhooks.send_test(
        repo=repo, queue=queue, account_id=ACCOUNT, endpoint_id=target.endpoint_id, now=NOW
    )
    assert delivery.event_type == "webhook.test" and delivery.event_id.startswith("evt_")
    assert queue.queued == [delivery.delivery_id]
    assert json.loads(delivery.payload)["data"]["endpoint_id"] == target.endpoint_id
    assert repo.list_deliveries(ACCOUNT, other.endpoint_id, 10).items == []
    with pytest.raises(NotFoundError):
        webhooks.send_test(repo=repo, queue=queue, account_id="acct_other", endpoint_id=target.endpoint_id)
    disabled = _endpoint(repo, enabled=False)
    with pytest.raises(ConflictError):
        webhooks.send_test(repo=repo, queue=queue, account_id=ACCOUNT, endpoint_id=disabled.endpoint_id)


def test_fake_event_publisher_records_and_is_idempotent() -> None:
    publisher = FakeEventPublisher()
    assert publisher.publish(ACCOUNT, "video.completed", "evt_1", {"a": 1}) == 1
    assert publisher.publish(ACCOUNT, "video.completed", "evt_1", {"a": 1}) == 0
    assert [e.event_id for e in publisher.of_type("video.completed")] == ["evt_1"]
    with pytest.raises(InvalidInputError):
        publisher.publish(ACCOUNT, "video.done", "evt_2", {})


# --------------------------------------------------------------------------- delivering


def _queued(repo: FakeWebhookRepository, **endpoint_fields: Any) -> tuple[WebhookEndpoint, WebhookDelivery]:
    endpoint = _endpoint(repo, **endpoint_fields)
    delivery = webhooks.send_test(
        repo=repo, queue=FakeDeliveryQueue(), account_id=ACCOUNT, endpoint_id=endpoint.endpoint_id, now=NOW
    )
    return endpoint, delivery


def _deliver(
    repo: FakeWebhookRepository, sender: FakeWebhookSender, d: WebhookDelivery, now: datetime = NOW
) -> Any:
    return webhooks.deliver(
        repo=repo,
        http=sender,
        sealer=SEALER,
        account_id=d.account_id,
        endpoint_id=d.endpoint_id,
        delivery_id=d.delivery_id,
        now=now,
    )


def test_2xx_delivers_a_signed_request() -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender(204)
    endpoint, delivery = _queued(repo)

    done = _deliver(repo, sender, delivery)

    assert (done.status, done.attempts, done.last_status_code) == (DeliveryStatus.DELIVERED, 1, 204)
    assert done.delivered_at == NOW and done.last_error is None
    assert repo.get_delivery(ACCOUNT, endpoint.endpoint_id, delivery.delivery_id) == done
    [request] = sender.sent
    assert request.url == endpoint.url
    assert request.body == delivery.payload.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Tailorcast-Event-Id"] == delivery.event_id
    assert request.headers["Tailorcast-Event-Type"] == "webhook.test"
    assert request.headers["Tailorcast-Delivery-Id"] == delivery.delivery_id
    assert request.headers["Tailorcast-Delivery-Attempt"] == "1"
    assert webhooks.verify_signature(
        _secret(endpoint), request.headers["Tailorcast-Signature"], request.body, NOW
    )


@pytest.mark.parametrize(
    ("reply", "code", "error"),
    [
        (500, 500, "the endpoint answered HTTP 500"),
        (302, 302, "the endpoint answered HTTP 302"),
        (WebhookDeliveryError("the endpoint did not answer within 10 s"), None, "did not answer within 10 s"),
        (WebhookDeliveryError("could not connect to the endpoint: refused"), None, "could not connect"),
    ],
)
def test_a_failed_attempt_is_recorded_then_raised_for_retry(reply: Any, code: int | None, error: str) -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender(reply)
    endpoint, delivery = _queued(repo)

    with pytest.raises(WebhookDeliveryError, match=error):
        _deliver(repo, sender, delivery)

    stored = repo.get_delivery(ACCOUNT, endpoint.endpoint_id, delivery.delivery_id)
    assert (stored.status, stored.attempts, stored.last_status_code) == (DeliveryStatus.PENDING, 1, code)
    assert error in (stored.last_error or "") and stored.last_attempt_at == NOW


def test_retries_send_the_same_bytes_signed_at_their_own_time() -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender(503, 200)
    endpoint, delivery = _queued(repo)
    with pytest.raises(WebhookDeliveryError):
        _deliver(repo, sender, delivery)
    later = NOW + timedelta(hours=1)
    done = _deliver(repo, sender, delivery, later)
    assert (done.status, done.attempts) == (DeliveryStatus.DELIVERED, 2)
    first, second = sender.sent
    assert first.body == second.body
    assert second.headers["Tailorcast-Delivery-Attempt"] == "2"
    assert webhooks.verify_signature(
        _secret(endpoint), second.headers["Tailorcast-Signature"], second.body, later
    )
    assert not webhooks.verify_signature(
        _secret(endpoint), first.headers["Tailorcast-Signature"], first.body, later
    )


def test_an_endpoint_stored_with_a_plaintext_secret_is_signed_with_it() -> None:
    # GIVEN an endpoint an older version stored with its secret in plain text
    repo, sender = FakeWebhookRepository(), FakeWebhookSender(200)
    endpoint, delivery = _queued(repo)
    repo.endpoints[(ACCOUNT, endpoint.endpoint_id)] = endpoint.model_copy(update={"secret": SECRET})

    # WHEN a delivery is attempted
    _deliver(repo, sender, delivery)

    # THEN it is signed with that secret
    [request] = sender.sent
    assert webhooks.verify_signature(SECRET, request.headers["Tailorcast-Signature"], request.body, NOW)


def test_a_secret_that_cannot_be_opened_sends_nothing_and_is_retried() -> None:
    repo, sender, sealer = FakeWebhookRepository(), FakeWebhookSender(200), FakeSecretSealer()
    endpoint = webhooks.register_endpoint(
        repo=repo, sealer=sealer, account_id=ACCOUNT, url="https://hooks.example.com/h"
    ).endpoint
    delivery = webhooks.send_test(
        repo=repo, queue=FakeDeliveryQueue(), account_id=ACCOUNT, endpoint_id=endpoint.endpoint_id, now=NOW
    )
    sealer.fail_with = StorageError("KMS is throttling")

    with pytest.raises(WebhookDeliveryError, match="signing secret is unavailable"):
        webhooks.deliver(
            repo=repo,
            http=sender,
            sealer=sealer,
            account_id=ACCOUNT,
            endpoint_id=endpoint.endpoint_id,
            delivery_id=delivery.delivery_id,
            now=NOW,
        )

    stored = repo.get_delivery(ACCOUNT, endpoint.endpoint_id, delivery.delivery_id)
    assert (stored.status, stored.attempts) == (DeliveryStatus.PENDING, 0) and sender.sent == []
    sealer.fail_with = None
    done = webhooks.deliver(
        repo=repo,
        http=sender,
        sealer=sealer,
        account_id=ACCOUNT,
        endpoint_id=endpoint.endpoint_id,
        delivery_id=delivery.delivery_id,
        now=NOW,
    )
    assert done.status is DeliveryStatus.DELIVERED and done.attempts == 1


def test_a_delivered_delivery_is_never_sent_again() -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender(200, 200)
    _, delivery = _queued(repo)
    _deliver(repo, sender, delivery)
    again = _deliver(repo, sender, delivery)
    assert again.attempts == 1 and len(sender.sent) == 1


def test_disabled_endpoint_fails_the_delivery_without_sending_or_raising() -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender()
    endpoint, delivery = _queued(repo)
    repo.endpoints[(ACCOUNT, endpoint.endpoint_id)] = endpoint.model_copy(update={"enabled": False})
    done = _deliver(repo, sender, delivery)
    assert (done.status, done.attempts, done.last_error) == (
        DeliveryStatus.FAILED,
        0,
        "the endpoint is disabled",
    )
    assert sender.sent == []


def test_deleted_endpoint_fails_the_delivery_without_sending_or_raising() -> None:
    repo, sender = FakeWebhookRepository(), FakeWebhookSender()
    endpoint, delivery = _queued(repo)
    gone = webhooks.attempt_delivery(delivery, None, http=sender, sealer=SEALER, now=NOW)
    assert (gone.status, gone.last_error) == (DeliveryStatus.FAILED, "the endpoint was deleted")
    # Deleting the endpoint deletes its deliveries: the task then finds nothing to do.
    webhooks.delete_endpoint(repo, ACCOUNT, endpoint.endpoint_id)
    with pytest.raises(NotFoundError):
        _deliver(repo, sender, delivery)
    assert sender.sent == []


def test_give_up_marks_failed_and_keeps_the_last_attempts_error() -> None:
    repo = FakeWebhookRepository()
    endpoint, delivery = _queued(repo)
    with pytest.raises(WebhookDeliveryError):
        _deliver(repo, FakeWebhookSender(500), delivery)
    failed = webhooks.give_up(
        repo, ACCOUNT, endpoint.endpoint_id, delivery.delivery_id, "WebhookDeliveryError: x"
    )
    assert failed is not None
    assert (failed.status, failed.last_error) == (DeliveryStatus.FAILED, "the endpoint answered HTTP 500")
    # Nothing was attempted (e.g. the task crashed): the caught error is what is recorded.
    _, fresh = _queued(repo)
    failed = webhooks.give_up(repo, ACCOUNT, fresh.endpoint_id, fresh.delivery_id, "States.Timeout: too slow")
    assert failed is not None and failed.last_error == "States.Timeout: too slow"
    assert webhooks.give_up(repo, ACCOUNT, fresh.endpoint_id, "dlv_missing", "x") is None


def test_give_up_leaves_a_delivered_delivery_alone() -> None:
    repo = FakeWebhookRepository()
    _, delivery = _queued(repo)
    _deliver(repo, FakeWebhookSender(200), delivery)
    kept = webhooks.give_up(repo, ACCOUNT, delivery.endpoint_id, delivery.delivery_id, "late")
    assert kept is not None and kept.status is DeliveryStatus.DELIVERED


def test_webhook_delivery_error_crosses_a_lambda_boundary() -> None:
    error = error_from_dict(error_to_dict(WebhookDeliveryError("HTTP 500")))
    assert isinstance(error, WebhookDeliveryError) and error.message == "HTTP 500"


# --------------------------------------------------------------------------- the task Lambda


def _ctx() -> Any:
    from devstack.lambdas import LambdaContext

    return LambdaContext("tailorcast-test-deliver_webhook", "arn:aws:lambda:us-east-1:1:function:x")


def test_task_gives_up_with_the_caught_lambda_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import dependencies
    from chalicelib.tasks.webhooks import deliver_webhook

    repo = FakeWebhookRepository()
    monkeypatch.setattr(dependencies, "get_webhook_repo", lambda: repo)
    _, delivery = _queued(repo)
    cause = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 60 s"})
    ids = {"account_id": ACCOUNT, "endpoint_id": delivery.endpoint_id, "delivery_id": delivery.delivery_id}

    out = deliver_webhook(
        {"action": "give_up", **ids, "error": {"Error": "Sandbox.Timedout", "Cause": cause}}, _ctx()
    )

    assert out == {"delivery_id": delivery.delivery_id, "status": "failed", "attempts": 0}
    stored = repo.get_delivery(ACCOUNT, delivery.endpoint_id, delivery.delivery_id)
    assert stored.last_error == "Sandbox.Timedout: Task timed out after 60 s"


def test_task_delivers_and_reports_a_gone_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import dependencies
    from chalicelib.tasks.webhooks import deliver_webhook

    repo, sender = FakeWebhookRepository(), FakeWebhookSender(200)
    monkeypatch.setattr(dependencies, "get_webhook_repo", lambda: repo)
    monkeypatch.setattr(dependencies, "get_webhook_sender", lambda: sender)
    monkeypatch.setattr(dependencies, "get_secret_sealer", lambda: SEALER)
    endpoint, delivery = _queued(repo)
    ids = {"account_id": ACCOUNT, "endpoint_id": delivery.endpoint_id, "delivery_id": delivery.delivery_id}

    assert deliver_webhook(ids, _ctx())["status"] == "delivered"
    [request] = sender.sent  # signed with the endpoint's own secret, opened by the task
    signature = request.headers["Tailorcast-Signature"]
    assert webhooks.verify_signature(_secret(endpoint), signature, request.body, datetime.now(UTC))
    gone = deliver_webhook({**ids, "delivery_id": "dlv_nope"}, _ctx())
    assert gone == {"delivery_id": "dlv_nope", "status": "gone", "attempts": 0}


# --------------------------------------------------------------------------- adapters (no network)


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.1.2.3",),
        ("169.254.169.254",),
        ("127.0.0.1",),
        ("93.184.216.34", "192.168.0.1"),
        ("::ffff:127.0.0.1",),
    ],
)
def test_sender_refuses_hosts_that_resolve_to_private_addresses(addresses: tuple[str, ...]) -> None:
    sender = Urllib3WebhookSender(resolve=_resolver(*addresses))
    with pytest.raises(WebhookDeliveryError, match="may not be sent to"):
        sender.post("https://rebinding.example.com/x", b"{}", {})


def test_sender_reports_a_host_that_does_not_resolve() -> None:
    def fail(*_: Any, **__: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookDeliveryError, match="could not resolve"):
        Urllib3WebhookSender(resolve=fail).post("https://nowhere.example.com/x", b"{}", {})


def _publisher() -> tuple[StepFunctionsEventPublisher, Stubber, FakeWebhookRepository]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    repo = FakeWebhookRepository()
    return (
        StepFunctionsEventPublisher(client, "arn:aws:states:us-east-1:1:stateMachine:m", repo),
        Stubber(client),
        repo,
    )


def test_publisher_starts_one_named_execution_per_delivery() -> None:
    publisher, stub, repo = _publisher()
    endpoint = _endpoint(repo)
    with stub:
        stub.add_response(
            "start_execution",
            {"executionArn": "arn:x", "startDate": NOW},
            {
                "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m",
                "name": ANY,
                "input": ANY,
            },
        )
        assert publisher.publish(ACCOUNT, "video.completed", "evt_1", {}) == 1
        stub.assert_no_pending_responses()
    [delivery] = repo.list_deliveries(ACCOUNT, endpoint.endpoint_id, 10).items
    assert execution_name(delivery.delivery_id) == delivery.delivery_id


def test_publisher_treats_an_existing_execution_as_queued_and_other_errors_as_storage() -> None:
    publisher, stub, repo = _publisher()
    _, delivery = _queued(repo)
    with stub:
        stub.add_client_error("start_execution", "ExecutionAlreadyExists", "exists")
        assert publisher.enqueue(delivery) is False
        stub.add_client_error("start_execution", "StateMachineDoesNotExist", "nope")
        with pytest.raises(StorageError):
            publisher.enqueue(delivery)


def test_execution_names_are_deterministic_and_valid() -> None:
    assert execution_name("dlv_01jd4k0000000000000000000") == "dlv_01jd4k0000000000000000000"
    odd = execution_name("dlv with spaces/" + "x" * 100)
    assert odd == execution_name("dlv with spaces/" + "x" * 100) and len(odd) <= 80 and odd.isalnum()


# --------------------------------------------------------------------------- the state machine


def test_state_machine_retries_with_backoff_then_gives_up() -> None:
    import state_machines

    path = state_machines.definition_files()["deliver_webhook"]
    placeholder = state_machines.function_placeholder("deliver_webhook")
    assert state_machines.placeholders(path.read_text()) == {placeholder}
    definition = state_machines.load_definition(path, {placeholder: "arn:fn"})
    deliver = definition["States"][definition["StartAt"]]
    assert deliver["Parameters"]["FunctionName"] == "arn:fn"
    retry = next(r for r in deliver["Retry"] if r["ErrorEquals"] == ["WebhookDeliveryError"])
    assert {k: retry[k] for k in ("IntervalSeconds", "BackoffRate", "MaxAttempts", "MaxDelaySeconds")} == {
        "IntervalSeconds": 5,
        "BackoffRate": 3,
        "MaxAttempts": 7,
        "MaxDelaySeconds": 3600,
    }
    assert retry["JitterStrategy"] == "FULL"
    waits = [min(5 * 3**i, 3600) for i in range(7)]
    assert 1.4 * 3600 < sum(waits) < 1.6 * 3600  # at most about an hour and a half of retrying
    lambda_errors = next(r for r in deliver["Retry"] if "Lambda.ServiceException" in r["ErrorEquals"])
    assert set(lambda_errors["ErrorEquals"]) == {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }
    assert lambda_errors["JitterStrategy"] == "FULL" and lambda_errors["BackoffRate"] > 1
    [catch] = deliver["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
    give_up = definition["States"][catch["Next"]]
    assert give_up["Parameters"]["Payload"]["action"] == "give_up"
    assert give_up["Parameters"]["Payload"]["error.$"] == "$.error"
    assert give_up["Parameters"]["FunctionName"] == "arn:fn"
    assert definition["States"][give_up["Next"]]["Type"] == "Fail"


def test_the_app_defines_the_task_the_state_machine_names() -> None:
    import app

    assert "deliver_webhook" in {f.name for f in app.app.pure_lambda_functions}


def test_adapters_and_fakes_implement_the_ports() -> None:
    # Checked by mypy (structural typing); at run time it only proves they construct.
    from chalicelib.adapters.dynamodb.quotas import DynamoQuotaCounter
    from chalicelib.adapters.dynamodb.repositories import DynamoWebhookRepository
    from chalicelib.adapters.secrets import KmsSecretSealer
    from chalicelib.domain.ports import (
        DeliveryQueue,
        EventPublisher,
        QuotaCounter,
        SecretSealer,
        WebhookRepository,
        WebhookSender,
    )
    from tests.fakes import FakeQuotaCounter

    client = boto3.client("stepfunctions", region_name="us-east-1")
    repos: list[WebhookRepository] = [FakeWebhookRepository(), DynamoWebhookRepository()]
    real = StepFunctionsEventPublisher(client, "arn:aws:states:us-east-1:1:stateMachine:m", repos[0])
    publishers: list[EventPublisher] = [FakeEventPublisher(), real]
    queues: list[DeliveryQueue] = [FakeDeliveryQueue(), real]
    senders: list[WebhookSender] = [FakeWebhookSender(), Urllib3WebhookSender()]
    kms = boto3.client("kms", region_name="us-east-1")
    sealers: list[SecretSealer] = [FakeSecretSealer(), KmsSecretSealer(kms, "alias/k")]
    counters: list[QuotaCounter] = [FakeQuotaCounter(), DynamoQuotaCounter()]
    assert all([repos, publishers, queues, senders, sealers, counters])


# --------------------------------------------------------------------------- the KMS sealer (moto)


@pytest.fixture
def kms_sealer() -> Any:
    from moto import mock_aws

    from chalicelib.adapters.secrets import KmsSecretSealer

    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/sealing", TargetKeyId=key_id)
        yield KmsSecretSealer(kms, "alias/sealing")


@pytest.mark.functional  # moto's KMS
def test_kms_seals_without_the_plaintext_and_opens_only_in_the_same_context(kms_sealer: Any) -> None:
    context = webhooks.secret_context(ACCOUNT, "whk_1")
    sealed = kms_sealer.seal(SECRET, context)
    assert sealed.startswith("kms1:") and SECRET not in sealed and "test-secret" not in sealed
    assert kms_sealer.seal(SECRET, context) != sealed  # a fresh nonce each time
    assert kms_sealer.open(sealed, context) == SECRET
    with pytest.raises(StorageError, match="not valid for this item"):
        kms_sealer.open(sealed, webhooks.secret_context("acct_other", "whk_1"))


@pytest.mark.functional  # moto's KMS
@pytest.mark.parametrize("sealed", ["whsec_plain", "kms1:not base64!", "kms1:" + "QUJD" * 20])
def test_kms_refuses_what_it_did_not_seal(kms_sealer: Any, sealed: str) -> None:
    with pytest.raises(StorageError):
        kms_sealer.open(sealed, webhooks.secret_context(ACCOUNT, "whk_1"))


@pytest.mark.functional  # moto's KMS
def test_kms_without_its_key_is_a_configuration_error() -> None:
    from moto import mock_aws

    from chalicelib.adapters.secrets import KmsSecretSealer
    from chalicelib.domain.errors import ConfigurationError

    with mock_aws():
        sealer = KmsSecretSealer(boto3.client("kms", region_name="us-east-1"), "alias/missing")
        with pytest.raises(ConfigurationError, match="encryption key is unavailable"):
            sealer.seal(SECRET, webhooks.secret_context(ACCOUNT, "whk_1"))
