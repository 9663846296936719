"""Billing: subscribe through Stripe Checkout, manage in the billing portal, Stripe's webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from chalice.app import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.adapters.billing import SignatureError, verify_webhook
from chalicelib.api._http import error_response, route
from chalicelib.api.schemas import Strict
from chalicelib.domain import billing, billing_followups
from chalicelib.domain.auth import Principal
from chalicelib.domain.errors import ConfigurationError, ForbiddenError
from chalicelib.domain.models import AccountStatus, Plan, Role
from chalicelib.observability import logger
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class CheckoutIn(Strict):
    plan: Literal["basic", "pro", "agency"] = Field(description="the paid plan to subscribe to")


class UrlOut(BaseModel):
    url: str = Field(description="where to send the seller's browser (Stripe's hosted page)")


class InvoiceOut(BaseModel):
    invoice_id: str
    status: str
    amount_due: int = Field(description="in the currency's smallest unit (cents)")
    amount_paid: int
    currency: str
    created: datetime
    hosted_invoice_url: str | None


class BillingOut(BaseModel):
    plan: Plan
    status: AccountStatus
    period_start: datetime | None
    period_end: datetime | None
    trial_ends_at: datetime | None
    past_due_since: datetime | None
    cancel_at_period_end: bool
    card_brand: str | None
    card_last4: str | None
    invoices: list[InvoiceOut]


class WebhookAck(BaseModel):
    received: bool = True
    event_id: str
    handled: bool = Field(description="false for event types the product ignores and for duplicates")


def _ports() -> billing.BillingPorts:
    return billing.BillingPorts(
        accounts=deps.get_account_repo(), billing=deps.get_billing_repo(), stripe=deps.get_billing_gateway()
    )


def _webhook_ports() -> billing_followups.WebhookPorts:
    return billing_followups.WebhookPorts(
        billing=_ports(), notifications=deps.notification_ports, tasks=deps.get_task_starter()
    )


def _console_url(path: str) -> str:
    settings = get_settings()
    base = settings.app_base_url or settings.watch_base_url
    if not base:
        raise ConfigurationError("billing is not configured: TAILORCAST_APP_BASE_URL is not set")
    return f"{base.rstrip('/')}{path}"


def _owner(principal: Principal) -> None:
    if principal.role is not Role.OWNER:
        raise ForbiddenError("only the account's owner manages its billing")


@route(
    bp,
    "/billing/checkout",
    "POST",
    summary="Open Stripe Checkout to subscribe to a paid plan (409 when already subscribed)",
    body=CheckoutIn,
    response=UrlOut,
)
def checkout(principal: Principal, body: CheckoutIn) -> UrlOut:
    _owner(principal)
    account = deps.get_account_repo().get(principal.account_id)
    url = billing.start_checkout(
        _ports(),
        account,
        principal.email,
        Plan(body.plan),
        success_url=_console_url("/billing?checkout=success"),
        cancel_url=_console_url("/billing?checkout=cancelled"),
    )
    return UrlOut(url=url)


@route(
    bp,
    "/billing/portal",
    "POST",
    summary="Open Stripe's billing portal: change the plan or the card, or cancel",
    response=UrlOut,
)
def portal(principal: Principal) -> UrlOut:
    _owner(principal)
    account = deps.get_account_repo().get(principal.account_id)
    return UrlOut(url=billing.open_portal(_ports(), account, _console_url("/billing")))


@route(
    bp,
    "/billing",
    "GET",
    summary="The plan, its status and period, the card and recent invoices",
    response=BillingOut,
)
def show(principal: Principal) -> BillingOut:
    account = deps.get_account_repo().get(principal.account_id)
    s = billing.summary(_ports(), account)
    return BillingOut(
        plan=s.plan,
        status=s.status,
        period_start=s.period_start,
        period_end=s.period_end,
        trial_ends_at=s.trial_ends_at,
        past_due_since=s.past_due_since,
        cancel_at_period_end=s.cancel_at_period_end,
        card_brand=s.card_brand,
        card_last4=s.card_last4,
        invoices=[InvoiceOut(**vars(i)) for i in s.invoices],
    )


@route(
    bp,
    "/webhooks/stripe",
    "POST",
    summary="Stripe's webhook (signed with Stripe-Signature; no bearer token)",
    public=True,
    response=WebhookAck,
)
def stripe_webhook() -> Response | WebhookAck:
    request = bp.current_request
    raw = request.raw_body
    payload = raw.encode() if isinstance(raw, str) else (raw or b"")
    header = request.headers.get("stripe-signature")
    secrets = deps.get_stripe_secrets().get().webhook_secrets
    try:
        data = verify_webhook(payload, header, secrets)
        event = billing.parse_event(data)
    except SignatureError as exc:
        logger.warning("a Stripe webhook failed verification", extra={"reason": str(exc)})
        return error_response(400, "invalid_signature", f"the Stripe-Signature does not verify: {exc}")
    except (ValueError, billing.StripeObjectError) as exc:
        message = exc.message if isinstance(exc, billing.StripeObjectError) else "the body is not JSON"
        return error_response(400, "malformed_body", message)
    # A StorageError here is a 503: the claim is released and Stripe retries the event later.
    outcome = billing_followups.handle_webhook_event(_webhook_ports(), event)
    return WebhookAck(event_id=event.event_id, handled=outcome.applied)
