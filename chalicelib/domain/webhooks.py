"""Outgoing webhooks: endpoints an account registers, signed events, and their deliveries.

Pure: no boto3, pynamodb, chalice or HTTP client here. Events are queued per endpoint as a
:class:`~chalicelib.domain.models.WebhookDelivery` whose body is built once, so every attempt
(Step Functions retries them for about an hour and a half) sends the same bytes, re-signed with
the attempt's time.

Wire format (what a receiver sees)::

    POST <url>
    Content-Type: application/json
    Tailorcast-Event-Id: evt_…            (the same for every attempt: deduplicate on it)
    Tailorcast-Event-Type: video.completed
    Tailorcast-Delivery-Id: dlv_…
    Tailorcast-Delivery-Attempt: 1
    Tailorcast-Signature: t=1767225600,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

    {"id": "evt_…", "type": "video.completed", "created_at": "…Z", "account_id": "acct_…", "data": {…}}

Signing secrets are stored sealed (:class:`~chalicelib.domain.ports.SecretSealer`: KMS), bound to
their account and endpoint; the seller sees one once, when the endpoint is registered. Endpoints
are counted per account in a counter moved in the same transaction as each endpoint, so
concurrent registrations cannot pass :data:`MAX_ENDPOINTS_PER_ACCOUNT`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    StorageError,
    WebhookDeliveryError,
)
from chalicelib.domain.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import DeliveryQueue, Quota, SecretSealer, WebhookRepository, WebhookSender

#: The events an endpoint may subscribe to.
EventType = Literal["video.completed", "video.failed", "batch.completed", "video.played", "cta.clicked"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
#: Sent only by ``POST /webhooks/{id}/test``, to that one endpoint, whatever it subscribed to.
TEST_EVENT_TYPE = "webhook.test"

MAX_ENDPOINTS_PER_ACCOUNT = 10
#: The account's count of endpoints (its counter is moved with every endpoint added or deleted).
ENDPOINT_QUOTA = Quota(
    "webhook_endpoints",
    MAX_ENDPOINTS_PER_ACCOUNT,
    f"an account can have at most {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints; delete one first",
)
#: Every signing secret starts so; a stored one that does is plaintext written before secrets
#: were sealed (sealed values never start so), and is used as it is.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: The ``purpose`` a sealed signing secret is bound to (IAM grants on the key are scoped to it).
SECRET_PURPOSE = "webhook-signing-secret"  # noqa: S105 - a label, not a secret
MAX_URL_LENGTH = 2048
MAX_EVENT_ID_LENGTH = 200
MAX_BODY_BYTES = 64 * 1024
#: How long delivery records are kept (the table's TTL removes them afterwards).
DELIVERY_RETENTION = timedelta(days=30)
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_ERROR_LENGTH = 500

SIGNATURE_HEADER = "Tailorcast-Signature"
EVENT_ID_HEADER = "Tailorcast-Event-Id"
EVENT_TYPE_HEADER = "Tailorcast-Event-Type"
DELIVERY_ID_HEADER = "Tailorcast-Delivery-Id"
ATTEMPT_HEADER = "Tailorcast-Delivery-Attempt"
USER_AGENT = "Tailorcast-Webhooks/1.0"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_URL_FIELD = "body.url"


# --------------------------------------------------------------------------- URLs


def address_allowed(address: str, allow_loopback: bool = False) -> bool:
    """Whether a webhook may be sent to this IP address (the SSRF rule).

    Only globally routable unicast addresses are allowed: private (10/8, 172.16/12, 192.168/16,
    fc00::/7), loopback, link-local (169.254/16 — the cloud metadata service — and fe80::/10),
    carrier-grade NAT, multicast, reserved and unspecified ones are refused. Loopback is allowed
    only with ``allow_loopback`` (the local stack). An IPv4-mapped IPv6 address is judged as
    the IPv4 address it carries. Anything that is not an IP address is refused.
    """
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def _is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _refuse(reason: str) -> InvalidInputError:
    return InvalidInputError("the webhook URL is not allowed", [FieldIssue(_URL_FIELD, reason)])


def validate_url(url: str, allow_insecure_localhost: bool = False) -> str:
    """Check a webhook URL and return it.

    Parameters
    ----------
    url
        What the seller typed.
    allow_insecure_localhost
        Also accept ``http://`` and loopback hosts (``localhost``, ``127.0.0.1``, ``[::1]``): the
        local stack, where receivers run on the developer's machine. Never set in the cloud.

    Raises
    ------
    InvalidInputError
        With a ``body.url`` issue saying why: not https, credentials in the URL, a host that is
        an IP address in a private, loopback, link-local or multicast range, a host that is not a
        fully qualified domain name, a malformed port, or over 2048 characters.
    """
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise _refuse("must not contain spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _refuse("must be an https:// URL")
    if "@" in parts.netloc:
        raise _refuse("must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise _refuse("must not have a #fragment")
    host = parts.hostname
    if not host:
        raise _refuse("must name a host")
    try:
        port = parts.port
    except ValueError:
        raise _refuse("has an invalid port") from None
    if port == 0:
        raise _refuse("has an invalid port")

    loopback = _check_host(host, allow_insecure_localhost)
    if scheme == "http" and not (allow_insecure_localhost and loopback):
        raise _refuse("must be an https:// URL")
    return url


def _check_host(host: str, allow_loopback: bool) -> bool:
    """Refuse a host that is not allowed; return whether it is a loopback host."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if not address_allowed(host, allow_loopback):
            raise _refuse("must not point at a private, loopback, link-local or multicast address")
        return ipaddress.ip_address(host).is_loopback
    if _is_localhost(host):
        if not allow_loopback:
            raise _refuse("must not point at localhost")
        return True
    labels = host.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise _refuse("has an invalid host name (use the xn-- form of an international name)")
    if len(labels) < 2:
        raise _refuse("must use a fully qualified host name")
    if labels[-1].isdigit():
        # "127.1", "2130706433.0" … resolve to IP addresses though they are not written as one.
        raise _refuse("has an invalid host name")
    return False


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Registered:
    """A new endpoint as stored (its ``secret`` sealed) and its signing secret, to show once."""

    endpoint: WebhookEndpoint
    secret: str = field(repr=False)


def register_endpoint(
    *,
    repo: WebhookRepository,
    sealer: SecretSealer,
    account_id: str,
    url: str,
    events: Sequence[str] | None = None,
    description: str = "",
    allow_insecure_localhost: bool = False,
    now: datetime | None = None,
) -> Registered:
    """Register an endpoint with a fresh signing secret, stored sealed.

    ``events`` defaults to every event type; duplicates are dropped. The count of the account's
    endpoints is checked and moved in the same write as the endpoint is stored.

    Raises
    ------
    InvalidInputError
        The URL is not allowed (see :func:`validate_url`) or an event type is unknown.
    LimitExceededError
        The account already has :data:`MAX_ENDPOINTS_PER_ACCOUNT` endpoints.
    StorageError
        The secret could not be sealed, or the endpoint stored.
    """
    validate_url(url, allow_insecure_localhost)
    chosen = list(dict.fromkeys(events)) if events is not None else list(EVENT_TYPES)
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if not chosen or unknown:
        issue = f"unknown event types {unknown}" if unknown else "choose at least one event type"
        raise InvalidInputError(
            "the event types are invalid",
            [FieldIssue("body.events", f"{issue}; choose from {', '.join(EVENT_TYPES)}")],
        )
    endpoint_id = new_id("whk")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        account_id=account_id,
        endpoint_id=endpoint_id,
        url=url,
        description=description,
        events=chosen,
        secret=sealer.seal(secret, secret_context(account_id, endpoint_id)),
        created_at=now or utcnow(),
    )
    return Registered(repo.add_endpoint(endpoint, ENDPOINT_QUOTA), secret)


def delete_endpoint(repo: WebhookRepository, account_id: str, endpoint_id: str) -> None:
    """Delete the endpoint and its deliveries; its place under the account's limit is freed.

    Raises
    ------
    NotFoundError
        No such endpoint for this account.
    """
    repo.delete_endpoint(account_id, endpoint_id, ENDPOINT_QUOTA)


def new_secret() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def secret_context(account_id: str, endpoint_id: str) -> Mapping[str, str]:
    """What a sealed signing secret is bound to: opening it under another endpoint fails."""
    return {"purpose": SECRET_PURPOSE, "account_id": account_id, "endpoint_id": endpoint_id}


def signing_secret(endpoint: WebhookEndpoint, sealer: SecretSealer) -> str:
    """The endpoint's signing secret, opened (or as it is, if stored before secrets were sealed).

    Raises
    ------
    StorageError
        The sealed secret could not be opened (the key service failed, or it was tampered with).
    """
    if endpoint.secret.startswith(SECRET_PREFIX):
        return endpoint.secret
    return sealer.open(endpoint.secret, secret_context(endpoint.account_id, endpoint.endpoint_id))


# --------------------------------------------------------------------------- signatures


def _unix(moment: datetime | float) -> int:
    return int(moment.timestamp()) if isinstance(moment, datetime) else int(moment)


def _mac(secret: str, timestamp: int, body: str | bytes) -> str:
    raw = body.encode() if isinstance(body, str) else body
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: datetime | int, body: str | bytes) -> str:
    """The ``Tailorcast-Signature`` header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.

    The MAC covers ``f"{t}.{body}"``, so a captured request cannot be replayed with another
    timestamp, nor its body altered.
    """
    t = _unix(timestamp)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: str | bytes,
    now: datetime | float,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does with ``Tailorcast-Signature``: ``True`` only if one of its ``v1``
    signatures is the body's MAC under ``secret`` and ``t`` is within ``tolerance`` seconds of
    ``now``. Compares in constant time; a malformed header is simply ``False``.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates or abs(_unix(now) - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    # Check every candidate (no early exit), each in constant time.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


# --------------------------------------------------------------------------- publishing


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(
    event_id: str, event_type: str, account_id: str, data: dict[str, Any], created_at: datetime
) -> str:
    """The JSON body of an event: ``{"id", "type", "created_at", "account_id", "data"}``.

    Raises
    ------
    InvalidInputError
        If ``data`` is not JSON-serializable or the body would exceed 64 KiB.
    """
    try:
        body = json.dumps(
            {
                "id": event_id,
                "type": event_type,
                "created_at": _iso(created_at),
                "account_id": account_id,
                "data": data,
            },
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the event's data is not JSON: {exc}") from exc
    if len(body.encode()) > MAX_BODY_BYTES:
        raise InvalidInputError(f"the event's body is over {MAX_BODY_BYTES} bytes")
    return body


@dataclass(frozen=True)
class Queued:
    delivery: WebhookDelivery
    created: bool  # False: this event had already been queued to this endpoint


def _check_event(event_type: str, event_id: str, allowed: Sequence[str]) -> None:
    if event_type not in allowed:
        raise InvalidInputError(f"unknown event type {event_type!r}; known: {', '.join(allowed)}")
    if not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH or not event_id.isprintable():
        raise InvalidInputError(f"an event id must be 1-{MAX_EVENT_ID_LENGTH} printable characters")


def _queue(
    repo: WebhookRepository,
    queue: DeliveryQueue,
    endpoints: Sequence[WebhookEndpoint],
    event_type: str,
    event_id: str,
    data: dict[str, Any],
    now: datetime,
) -> list[Queued]:
    """Store one delivery per endpoint (unless already stored for this event) and queue each.

    Every endpoint is tried even if one fails, so a retry only has the failed ones left to do.
    """
    if not endpoints:
        return []
    body = event_body(event_id, event_type, endpoints[0].account_id, data, now)
    done: list[Queued] = []
    failures: list[str] = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            account_id=endpoint.account_id,
            endpoint_id=endpoint.endpoint_id,
            delivery_id=new_id("dlv"),
            event_id=event_id,
            event_type=event_type,
            payload=body,
            created_at=now,
        )
        try:
            stored, created = repo.add_delivery(delivery)
            if stored.status is DeliveryStatus.PENDING:
                # Queued again even when it existed: the earlier publish may have stored it and
                # then failed to queue it. The queue is idempotent on the delivery.
                queue.enqueue(stored)
        except StorageError as exc:
            failures.append(f"{endpoint.endpoint_id}: {exc.message}")
            continue
        done.append(Queued(stored, created))
    if failures:
        raise StorageError(f"could not queue {len(failures)} webhook deliveries: {'; '.join(failures)}")
    return done


def publish(
    *,
    repo: WebhookRepository,
    queue: DeliveryQueue,
    account_id: str,
    event_type: str,
    event_id: str,
    data: dict[str, Any],
    now: datetime | None = None,
) -> int:
    """Queue an event to every enabled endpoint of the account subscribed to its type.

    Idempotent on ``event_id``: publishing it again queues nothing new and returns 0 for every
    endpoint it already reached (the first publish's body, ``created_at`` included, is kept).

    Returns
    -------
    int
        How many deliveries were queued by this call.

    Raises
    ------
    InvalidInputError
        Unknown event type, bad event id, or data that is not JSON.
    StorageError
        Some deliveries could not be queued; publishing again with the same ``event_id``
        queues only what is missing.
    """
    _check_event(event_type, event_id, EVENT_TYPES)
    endpoints = [e for e in repo.list_endpoints(account_id) if e.enabled and event_type in e.events]
    queued = _queue(repo, queue, endpoints, event_type, event_id, data, now or utcnow())
    return sum(1 for q in queued if q.created)


def send_test(
    *,
    repo: WebhookRepository,
    queue: DeliveryQueue,
    account_id: str,
    endpoint_id: str,
    now: datetime | None = None,
) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint (whatever types it subscribed to).

    Raises
    ------
    NotFoundError
        No such endpoint for this account.
    ConflictError
        The endpoint is disabled.
    StorageError
        The delivery could not be queued.
    """
    endpoint = repo.get_endpoint(account_id, endpoint_id)
    if not endpoint.enabled:
        raise ConflictError("this webhook endpoint is disabled")
    moment = now or utcnow()
    event_id = new_id("evt")
    data = {"endpoint_id": endpoint_id, "message": "This is a test event from Tailorcast."}
    [queued] = _queue(repo, queue, [endpoint], TEST_EVENT_TYPE, event_id, data, moment)
    return queued.delivery


# --------------------------------------------------------------------------- delivering


def delivery_headers(delivery: WebhookDelivery, secret: str, attempt: int, now: datetime) -> dict[str, str]:
    """Headers of one attempt; the signature is made at ``now`` so that a retry an hour later
    still passes a receiver's five-minute timestamp check."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
        DELIVERY_ID_HEADER: delivery.delivery_id,
        ATTEMPT_HEADER: str(attempt),
        SIGNATURE_HEADER: sign(secret, now, delivery.payload),
    }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def attempt_delivery(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint | None,
    *,
    http: WebhookSender,
    sealer: SecretSealer,
    now: datetime,
) -> WebhookDelivery:
    """POST the delivery once and return it with the attempt recorded (it does not raise).

    A 2xx makes it ``delivered``; any other status, a timeout or a connection error leaves it
    ``pending`` with ``last_error`` saying what happened (to be retried). A deleted (``None``)
    or disabled endpoint makes it ``failed`` without sending anything. A signing secret that
    cannot be opened (the key service is down) leaves it ``pending`` without sending, and
    without counting an attempt.
    """
    if endpoint is None or not endpoint.enabled:
        why = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        return delivery.model_copy(update={"status": DeliveryStatus.FAILED, "last_error": why})
    try:
        secret = signing_secret(endpoint, sealer)
    except StorageError as exc:
        why = f"the signing secret is unavailable: {exc.message}"
        return delivery.model_copy(update={"last_error": _clip(why)})
    attempt = delivery.attempts + 1
    headers = delivery_headers(delivery, secret, attempt, now)
    recorded: dict[str, Any] = {"attempts": attempt, "last_attempt_at": now}
    try:
        status = http.post(endpoint.url, delivery.payload.encode(), headers)
    except WebhookDeliveryError as exc:
        return delivery.model_copy(
            update={**recorded, "last_status_code": None, "last_error": _clip(exc.message)}
        )
    recorded["last_status_code"] = status
    if 200 <= status < 300:
        return delivery.model_copy(
            update={**recorded, "status": DeliveryStatus.DELIVERED, "last_error": None, "delivered_at": now}
        )
    return delivery.model_copy(update={**recorded, "last_error": f"the endpoint answered HTTP {status}"})


def deliver(
    *,
    repo: WebhookRepository,
    http: WebhookSender,
    sealer: SecretSealer,
    account_id: str,
    endpoint_id: str,
    delivery_id: str,
    now: datetime | None = None,
) -> WebhookDelivery:
    """One attempt of a stored delivery, recorded before the outcome is reported.

    A delivery that is no longer pending (already delivered, or failed) is returned untouched,
    so a task retried after it succeeded never sends twice.

    Raises
    ------
    WebhookDeliveryError
        The endpoint did not accept it, or its signing secret could not be opened (saved
        first); Step Functions retries.
    NotFoundError
        The delivery no longer exists (its endpoint was deleted).
    """
    delivery = repo.get_delivery(account_id, endpoint_id, delivery_id)
    if delivery.status is not DeliveryStatus.PENDING:
        return delivery
    try:
        endpoint: WebhookEndpoint | None = repo.get_endpoint(account_id, endpoint_id)
    except NotFoundError:
        endpoint = None
    saved = repo.save_delivery(
        attempt_delivery(delivery, endpoint, http=http, sealer=sealer, now=now or utcnow())
    )
    if saved.status is DeliveryStatus.PENDING:
        raise WebhookDeliveryError(saved.last_error or "the endpoint did not accept the event")
    return saved


def give_up(
    repo: WebhookRepository, account_id: str, endpoint_id: str, delivery_id: str, error: str
) -> WebhookDelivery | None:
    """Mark a delivery ``failed`` once retries are exhausted (or the task failed otherwise).

    ``error`` is what ended the retries; the last attempt's own error is kept when there is
    one, since it says more (``HTTP 500``) than the retry machinery does. Returns ``None`` if
    the delivery is gone; a delivery already delivered is left as it is.
    """
    try:
        delivery = repo.get_delivery(account_id, endpoint_id, delivery_id)
    except NotFoundError:
        return None
    if delivery.status is not DeliveryStatus.PENDING:
        return delivery
    last_error = delivery.last_error or _clip(error) or "delivery failed"
    try:
        return repo.save_delivery(
            delivery.model_copy(update={"status": DeliveryStatus.FAILED, "last_error": last_error})
        )
    except NotFoundError:
        return None
