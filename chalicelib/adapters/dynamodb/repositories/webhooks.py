"""Webhook endpoints (counted against the plan's quota), deliveries and event claims."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.mapping import ItemMapping
from chalicelib.adapters.dynamodb.models import (
    TableItem,
    WebhookDeliveryItem,
    WebhookEndpointItem,
    WebhookEventClaimItem,
)
from chalicelib.adapters.dynamodb.quotas import counted_write
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _page,
    _storage_error,
    _tx_connection,
    account_pk,
    translated,
)
from chalicelib.domain.errors import (
    ConflictError,
    NotFoundError,
)
from chalicelib.domain.models import (
    Page,
    WebhookDelivery,
    WebhookEndpoint,
)
from chalicelib.domain.ports import (
    Quota,
)
from chalicelib.domain.webhooks import DELIVERY_RETENTION as WEBHOOK_DELIVERY_RETENTION

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- webhooks


#: Endpoints are read by name; they are written with their quota (``add_endpoint``).
ENDPOINTS: ItemMapping[WebhookEndpoint, WebhookEndpointItem] = ItemMapping(
    WebhookEndpoint,
    WebhookEndpointItem,
    key=lambda e: (account_pk(e.account_id), f"WEBHOOK#{e.endpoint_id}"),
    ids=lambda item: {
        "account_id": item.pk.removeprefix("ACCOUNT#"),
        "endpoint_id": item.sk.removeprefix("WEBHOOK#"),
    },
)


def _endpoint_from_item(item: WebhookEndpointItem) -> WebhookEndpoint:
    return ENDPOINTS.from_item(item)


def _delivery_sk(endpoint_id: str, delivery_id: str) -> str:
    return f"DELIVERY#{endpoint_id}#{delivery_id}"


def _event_claim_sk(endpoint_id: str, event_id: str) -> str:
    # Hashed: event ids are the publisher's strings, of any shape; sort keys have a size limit.
    return f"WHEVENT#{endpoint_id}#{hashlib.sha256(event_id.encode()).hexdigest()}"


def _delivery_ids(item: WebhookDeliveryItem) -> dict[str, Any]:
    endpoint_id, delivery_id = item.sk.removeprefix("DELIVERY#").split("#", 1)
    return {
        "account_id": item.pk.removeprefix("ACCOUNT#"),
        "endpoint_id": endpoint_id,
        "delivery_id": delivery_id,
    }


#: A delivery expires (DynamoDB's TTL) a retention period after it was created.
DELIVERIES: ItemMapping[WebhookDelivery, WebhookDeliveryItem] = ItemMapping(
    WebhookDelivery,
    WebhookDeliveryItem,
    key=lambda d: (account_pk(d.account_id), _delivery_sk(d.endpoint_id, d.delivery_id)),
    ids=_delivery_ids,
    to_item_extra=lambda d: {"expires_at": d.created_at + WEBHOOK_DELIVERY_RETENTION},
)


def _delivery_from_item(item: WebhookDeliveryItem) -> WebhookDelivery:
    return DELIVERIES.from_item(item)


def _delivery_to_item(d: WebhookDelivery) -> WebhookDeliveryItem:
    return DELIVERIES.to_item(d)


@translated
class DynamoWebhookRepository:
    """Endpoints and deliveries in the account's partition (see ``WebhookRepository``); each
    endpoint is counted in the account's quota counter in the transaction that adds or deletes it."""

    @staticmethod
    def _counter(account_id: str) -> Callable[[], int]:
        """Counts the stored endpoints: where a counter starts for an account that had endpoints
        before they were counted."""
        return lambda: WebhookEndpointItem.count(
            account_pk(account_id), WebhookEndpointItem.sk.startswith("WEBHOOK#"), consistent_read=True
        )

    def add_endpoint(self, endpoint: WebhookEndpoint, quota: Quota) -> WebhookEndpoint:
        item = WebhookEndpointItem(
            account_pk(endpoint.account_id),
            f"WEBHOOK#{endpoint.endpoint_id}",
            url=endpoint.url,
            description=endpoint.description,
            events=list(endpoint.events),
            secret=endpoint.secret,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
        )
        try:
            counted_write(
                endpoint.account_id,
                quota,
                +1,
                lambda tx: tx.save(item, condition=WebhookEndpointItem.sk.does_not_exist()),
                self._counter(endpoint.account_id),
            )
        except TransactWriteError as exc:  # the endpoint's own condition: its id is taken
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "add webhook endpoint") from exc
            raise ConflictError(f"webhook endpoint {endpoint.endpoint_id!r} already exists") from exc
        return _endpoint_from_item(item)

    def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint:
        return _endpoint_from_item(
            _get(
                WebhookEndpointItem,
                account_pk(account_id),
                f"WEBHOOK#{endpoint_id}",
                "webhook endpoint",
                endpoint_id,
            )
        )

    def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        query = WebhookEndpointItem.query(
            account_pk(account_id),
            WebhookEndpointItem.sk.startswith("WEBHOOK#"),
            consistent_read=True,
            scan_index_forward=False,
        )
        try:
            return [_endpoint_from_item(i) for i in query]
        except PynamoDBException as exc:  # publishing reads this: its callers expect StorageError
            raise _storage_error(
                exc, "list webhook endpoints", "the webhook endpoints could not be read; try again shortly"
            ) from exc

    def delete_endpoint(self, account_id: str, endpoint_id: str, quota: Quota) -> None:
        pk = account_pk(account_id)
        stored = WebhookEndpointItem(pk, f"WEBHOOK#{endpoint_id}")
        try:
            counted_write(
                account_id,
                quota,
                -1,
                lambda tx: tx.delete(stored, condition=WebhookEndpointItem.sk.exists()),
                self._counter(account_id),
            )
        except TransactWriteError as exc:  # the endpoint's own condition: it does not exist
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "delete webhook endpoint") from exc
            raise NotFoundError("webhook endpoint", endpoint_id) from exc
        # Its deliveries and event claims go with it (an attempt in flight then finds nothing).
        with TableItem.batch_write() as batch:
            for prefix in (f"DELIVERY#{endpoint_id}#", f"WHEVENT#{endpoint_id}#"):
                query = TableItem.query(
                    pk,
                    TableItem.sk.startswith(prefix),
                    consistent_read=True,
                    attributes_to_get=["pk", "sk"],
                )
                for item in query:
                    batch.delete(item)

    def add_delivery(self, delivery: WebhookDelivery) -> tuple[WebhookDelivery, bool]:
        item = _delivery_to_item(delivery)
        claim = WebhookEventClaimItem(
            account_pk(delivery.account_id),
            _event_claim_sk(delivery.endpoint_id, delivery.event_id),
            delivery_id=delivery.delivery_id,
            expires_at=delivery.created_at + WEBHOOK_DELIVERY_RETENTION,
        )
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(claim, condition=WebhookEventClaimItem.sk.does_not_exist())
                tx.save(item, condition=WebhookDeliveryItem.sk.does_not_exist())
        except TransactWriteError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(
                    exc,
                    f"add webhook delivery {delivery.delivery_id}",
                    "the webhook delivery could not be stored; try again shortly",
                ) from exc
            # The event already reached this endpoint: hand back that delivery, not a second one.
            existing = _get(WebhookEventClaimItem, claim.pk, claim.sk, "webhook delivery", delivery.event_id)
            return self.get_delivery(delivery.account_id, delivery.endpoint_id, existing.delivery_id), False
        return _delivery_from_item(item), True

    def get_delivery(self, account_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        return _delivery_from_item(
            _get(
                WebhookDeliveryItem,
                account_pk(account_id),
                _delivery_sk(endpoint_id, delivery_id),
                "webhook delivery",
                delivery_id,
            )
        )

    def save_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        item = _delivery_to_item(delivery)
        try:
            item.save(condition=WebhookDeliveryItem.sk.exists())
        except PutError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("webhook delivery", delivery.delivery_id) from exc
            raise _storage_error(exc, "DynamoWebhookRepository.save_delivery") from exc
        return _delivery_from_item(item)

    def list_deliveries(
        self, account_id: str, endpoint_id: str, limit: int, cursor: str | None = None
    ) -> Page[WebhookDelivery]:
        return _page(
            WebhookDeliveryItem,
            account_pk(account_id),
            f"DELIVERY#{endpoint_id}#",
            limit,
            cursor,
            _delivery_from_item,
        )
