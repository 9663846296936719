"""Outgoing webhooks: register endpoints, see their deliveries, send a test event."""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import PageQuery, Strict
from chalicelib.domain import webhooks
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class WebhookCreate(Strict):
    url: str = Field(
        min_length=1,
        max_length=webhooks.MAX_URL_LENGTH,
        description="an https:// URL on a public host; it receives a signed POST per event",
    )
    events: list[webhooks.EventType] | None = Field(
        default=None, min_length=1, description="the event types to receive; all of them if left out"
    )
    description: str = Field(default="", max_length=200)


class WebhookOut(BaseModel):
    endpoint_id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> WebhookOut:
        return cls.model_validate(e.model_dump(exclude={"account_id", "secret"}))


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="verifies the Tailorcast-Signature header; shown only in this response, keep it"
    )

    @classmethod
    def registered(cls, registered: webhooks.Registered) -> WebhookCreated:
        # The secret itself, not the sealed form that was stored.
        stored = registered.endpoint.model_dump(exclude={"account_id", "secret"})
        return cls.model_validate({**stored, "secret": registered.secret})


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookDeliveryOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    payload: str = Field(description="the exact body sent (what the signature covers)")
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: WebhookDelivery) -> WebhookDeliveryOut:
        return cls.model_validate(d.model_dump(exclude={"account_id", "endpoint_id"}))


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]
    cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class WebhookTestOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus


@route(
    bp,
    "/webhooks",
    "POST",
    creates=True,
    summary="Register a webhook endpoint (the response shows its signing secret, once)",
    status=201,
    body=WebhookCreate,
    response=WebhookCreated,
)
def create(principal: Principal, body: WebhookCreate) -> WebhookCreated:
    registered = webhooks.register_endpoint(
        repo=deps.get_webhook_repo(),
        sealer=deps.get_secret_sealer(),
        account_id=principal.account_id,
        url=body.url,
        events=body.events,
        description=body.description,
        allow_insecure_localhost=get_settings().webhook_allow_insecure_localhost,
    )
    return WebhookCreated.registered(registered)


@route(bp, "/webhooks", "GET", summary="The account's webhook endpoints, newest first", response=WebhookList)
def list_(principal: Principal) -> WebhookList:
    endpoints = deps.get_webhook_repo().list_endpoints(principal.account_id)
    return WebhookList(items=[WebhookOut.of(e) for e in endpoints])


@route(bp, "/webhooks/{endpoint_id}", "GET", summary="Get a webhook endpoint", response=WebhookOut)
def get(principal: Principal, endpoint_id: str) -> WebhookOut:
    return WebhookOut.of(deps.get_webhook_repo().get_endpoint(principal.account_id, endpoint_id))


@route(
    bp,
    "/webhooks/{endpoint_id}",
    "DELETE",
    summary="Delete a webhook endpoint and its delivery history",
    status=204,
)
def delete(principal: Principal, endpoint_id: str) -> None:
    webhooks.delete_endpoint(deps.get_webhook_repo(), principal.account_id, endpoint_id)


@route(
    bp,
    "/webhooks/{endpoint_id}/deliveries",
    "GET",
    summary="An endpoint's deliveries, newest first",
    query=PageQuery,
    response=WebhookDeliveryPage,
)
def deliveries(principal: Principal, endpoint_id: str, query: PageQuery) -> WebhookDeliveryPage:
    repo = deps.get_webhook_repo()
    repo.get_endpoint(principal.account_id, endpoint_id)  # NotFoundError for another tenant's
    page = repo.list_deliveries(principal.account_id, endpoint_id, query.limit, query.cursor)
    return WebhookDeliveryPage(items=[WebhookDeliveryOut.of(d) for d in page.items], cursor=page.cursor)


@route(
    bp,
    "/webhooks/{endpoint_id}/test",
    "POST",
    summary="Send a webhook.test event to this endpoint (delivered and retried like any event)",
    status=202,
    response=WebhookTestOut,
)
def send_test(principal: Principal, endpoint_id: str) -> WebhookTestOut:
    delivery = deps.get_event_publisher().send_test(principal.account_id, endpoint_id)
    return WebhookTestOut.model_validate(delivery.model_dump(include=set(WebhookTestOut.model_fields)))
