"""Outgoing webhooks: the HTTP sender (urllib3) and the publisher that queues deliveries on the
``deliver_webhook`` state machine (Step Functions retries each one with backoff)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from chalicelib.adapters.aws_errors import translate_aws_errors
from chalicelib.domain import webhooks
from chalicelib.domain.errors import WebhookDeliveryError
from chalicelib.domain.models import WebhookDelivery
from chalicelib.domain.ports import WebhookRepository

logger = logging.getLogger(__name__)

Resolver = Callable[..., list[tuple[Any, ...]]]
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class Urllib3WebhookSender:
    """POSTs one webhook; no redirects, no retries (Step Functions retries), 10 s in all.

    The host is resolved here and the connection made to the address that was checked, with the
    host name kept for TLS (SNI and certificate) and the ``Host`` header. So a host name that
    resolves to a private, loopback or link-local address (DNS rebinding, the Lambda runtime API
    on 127.0.0.1, 169.254.169.254) is refused at send time too, not only when it is registered.

    Parameters
    ----------
    allow_loopback
        Allow loopback addresses (the local stack's receivers). Never in the cloud.
    timeout
        Seconds for connecting and reading the response headers, together.
    resolve
        ``socket.getaddrinfo``; tests pass their own.
    """

    def __init__(
        self,
        allow_loopback: bool = False,
        timeout: float = 10.0,
        resolve: Resolver = socket.getaddrinfo,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        self._resolve = resolve

    def _address(self, host: str, port: int) -> str:
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise WebhookDeliveryError(f"could not resolve {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if not webhooks.address_allowed(a, self._allow_loopback)]
        if refused or not addresses:
            # Every address must be public: otherwise which one gets used is up to the resolver.
            raise WebhookDeliveryError(f"{host!r} resolves to an address webhooks may not be sent to")
        return addresses[0]

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; return the status code. See :class:`~chalicelib.domain.ports.WebhookSender`.

        Raises
        ------
        WebhookDeliveryError
            Timed out, could not connect (TLS failures included), or the host is not allowed.
        """
        parts = urlsplit(url)
        secure = parts.scheme.lower() == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        address = self._address(host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = host if ":" not in host else f"[{host}]"
        if parts.port:
            host_header += f":{parts.port}"
        timeout = urllib3.Timeout(total=self._timeout)
        pool: urllib3.HTTPConnectionPool
        if secure:
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                assert_hostname=host,
                server_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            status = int(response.status)
            response.release_conn()  # the body is not read: only the status matters
        except NewConnectionError as exc:  # a ConnectTimeoutError subclass, but a refusal
            raise WebhookDeliveryError(f"could not connect to the endpoint: {_reason(exc)}") from exc
        except Urllib3Timeout as exc:
            raise WebhookDeliveryError(f"the endpoint did not answer within {self._timeout:g} s") from exc
        except Urllib3Error as exc:
            raise WebhookDeliveryError(f"could not connect to the endpoint: {_reason(exc)}") from exc
        finally:
            pool.close()
        return status


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1][:200] or type(exc).__name__


def execution_name(delivery_id: str) -> str:
    """The delivery's execution name: deterministic, so queuing it twice starts it once."""
    if _EXECUTION_NAME.match(delivery_id):
        return delivery_id
    return hashlib.sha256(delivery_id.encode()).hexdigest()[:64]


class StepFunctionsEventPublisher:
    """:class:`~chalicelib.domain.ports.EventPublisher` and ``DeliveryQueue`` on Step Functions.

    Each delivery is one execution of the ``deliver_webhook`` state machine, named after the
    delivery, with ``{"account_id", "endpoint_id", "delivery_id"}`` as input.
    """

    def __init__(self, sfn_client: Any, state_machine_arn: str, repo: WebhookRepository) -> None:
        self._sfn = sfn_client
        self._arn = state_machine_arn
        self._repo = repo

    def publish(self, account_id: str, event_type: str, event_id: str, data: dict[str, Any]) -> int:
        """Queue the event to the account's subscribed endpoints; see :func:`webhooks.publish`."""
        return webhooks.publish(
            repo=self._repo,
            queue=self,
            account_id=account_id,
            event_type=event_type,
            event_id=event_id,
            data=data,
        )

    def send_test(self, account_id: str, endpoint_id: str) -> WebhookDelivery:
        """Queue a ``webhook.test`` event to one endpoint; see :func:`webhooks.send_test`."""
        return webhooks.send_test(repo=self._repo, queue=self, account_id=account_id, endpoint_id=endpoint_id)

    def enqueue(self, delivery: WebhookDelivery) -> bool:
        """Start the delivery's execution; ``False`` if it already exists.

        Raises
        ------
        StorageError
            Step Functions refused or could not be reached.
        """
        payload = {
            "account_id": delivery.account_id,
            "endpoint_id": delivery.endpoint_id,
            "delivery_id": delivery.delivery_id,
        }
        with translate_aws_errors(
            f"stepfunctions.start_execution {delivery.delivery_id}",
            "the webhook delivery could not be queued; try again shortly",
            tolerate=("ExecutionAlreadyExists",),
        ) as call:
            self._sfn.start_execution(
                stateMachineArn=self._arn,
                name=execution_name(delivery.delivery_id),
                input=json.dumps(payload, separators=(",", ":")),
            )
        return call.tolerated is None
