"""The Stripe stand-in's state: objects shaped as Stripe's API version 2026-10-28.endive answers
them (stripe-python 16.1.0's pinned version), the test cards, the clock, and the webhook queue.

Rules that Stripe leaves to its dashboard settings, fixed here:

* **Cards** (Stripe's documented test numbers): ``4242 4242 4242 4242`` (Visa) and
  ``5555 5555 5555 4444`` (Mastercard) succeed; ``4000 0000 0000 0002`` is declined
  (``card_declined`` / ``generic_decline``), ``4000 0000 0000 9995`` too (``insufficient_funds``);
  ``4000 0000 0000 0341`` attaches and pays the first invoice at checkout, then every renewal
  charge fails (``card_declined``). Any other number that passes the Luhn check is a Visa that
  succeeds; one that does not is ``incorrect_number``. A past expiry is ``expired_card``.
* **Renewals**: at ``current_period_end`` a subscription is invoiced for the next period. Paid:
  ``invoice.paid`` and ``customer.subscription.updated`` (the new period). Failed: the period
  still advances, the invoice stays open, the subscription turns ``past_due`` and
  ``invoice.payment_failed`` is sent; the charge is retried 3, 5 and 7 days after the first
  failure (Stripe's default schedule's shape), and when the last retry fails the subscription turns
  ``unpaid`` (the "mark the subscription as unpaid" setting; its invoices stay open).
* **Cancellation** at period end ends the subscription then (``customer.subscription.deleted``);
  ``DELETE /v1/subscriptions/{id}`` ends it at once.
* **Plan changes** take effect at once without proration invoices.
* **Trials** (``subscription_data[trial_period_days]``): ``customer.subscription.trial_will_end``
  three days before ``trial_end``, then the first invoice.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.private import write_private

logger = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
DAY = 86_400
MONTH_DAYS = 30  # a month's period, as the stand-in bills it
RETRY_DAYS = (3, 5, 7)  # after the first failed renewal charge
TRIAL_WARNING_DAYS = 3

CARDS: dict[str, tuple[str, str | None, str | None]] = {
    # number: (brand, decline code at checkout, decline code on renewal)
    "4242424242424242": ("visa", None, None),
    "5555555555554444": ("mastercard", None, None),
    "4000000000000002": ("visa", "generic_decline", "generic_decline"),
    "4000000000009995": ("visa", "insufficient_funds", "insufficient_funds"),
    "4000000000000341": ("visa", None, "generic_decline"),
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "incorrect_number": "Your card number is incorrect.",
    "expired_card": "Your card has expired.",
    "invalid_expiry": "Your card's expiration date is invalid.",
    "invalid_cvc": "Your card's security code is invalid.",
}


class StripeFailure(Exception):
    """A Stripe error response: ``status`` and the body's ``error`` object."""

    def __init__(self, status: int, type_: str, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        self.body.update(extra)


def missing(kind: str, ident: str, param: str = "id") -> StripeFailure:
    return StripeFailure(
        404, "invalid_request_error", f"No such {kind}: '{ident}'", "resource_missing", param=param
    )


def invalid(message: str, param: str | None = None) -> StripeFailure:
    extra = {"param": param} if param else {}
    return StripeFailure(400, "invalid_request_error", message, "parameter_invalid", **extra)


@dataclass(frozen=True)
class CardResult:
    ok: bool
    brand: str
    last4: str
    decline_code: str | None = None

    @property
    def message(self) -> str:
        return DECLINE_MESSAGES.get(self.decline_code or "", "Your card was declined.")


def luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_card(number: str, exp: str, cvc: str, now: int) -> CardResult:
    """The card as Stripe would see it at checkout (the hosted page's fields)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    last4 = digits[-4:] if len(digits) >= 4 else digits
    if not 12 <= len(digits) <= 19 or not luhn(digits):
        return CardResult(False, "unknown", last4, "incorrect_number")
    brand, decline, _ = CARDS.get(digits, ("visa", None, None))
    month, _, year = exp.replace(" ", "").partition("/")
    if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12):
        return CardResult(False, brand, last4, "invalid_expiry")
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    today = datetime.fromtimestamp(now, UTC)
    if (full_year, int(month)) < (today.year, today.month):
        return CardResult(False, brand, last4, "expired_card")
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        return CardResult(False, brand, last4, "invalid_cvc")
    if decline:
        return CardResult(False, brand, last4, decline)
    return CardResult(True, brand, last4)


def sign(payload: str, secrets_: list[str], timestamp: int) -> str:
    """Stripe's ``Stripe-Signature``: ``t=…`` and one ``v1=`` HMAC-SHA256 of ``"t.payload"`` per
    active signing secret (several during a rotation)."""
    signed = f"{timestamp}.{payload}".encode()
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        parts.append("v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API shows it (internal fields start with ``_``)."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


class StripeEngine:
    """Everything the stand-in knows, persisted to ``state_path`` (JSON) after every change.

    Parameters
    ----------
    state_path
        Where the state lives across restarts.
    base_url
        Called for the stand-in's own URL (hosted pages' links).
    plans
        ``(lookup_key, product name, unit_amount in cents)`` of the prices made at the first start.
    """

    def __init__(
        self,
        state_path: Path,
        base_url: Callable[[], str],
        plans: list[tuple[str, str, int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self._path = state_path
        self._base_url = base_url
        self._clock = clock
        self.state: dict[str, Any] = self._load()
        for lookup_key, name, amount in plans:
            if not any(p.get("lookup_key") == lookup_key for p in self.state["prices"].values()):
                product = self._add("products", "prod", {"object": "product", "name": name, "active": True})
                self._add(
                    "prices",
                    "price",
                    {
                        "object": "price",
                        "active": True,
                        "billing_scheme": "per_unit",
                        "currency": "usd",
                        "lookup_key": lookup_key,
                        "metadata": {},
                        "nickname": name,
                        "product": product["id"],
                        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
                        "tax_behavior": "unspecified",
                        "type": "recurring",
                        "unit_amount": amount,
                        "unit_amount_decimal": str(amount),
                    },
                )
        self.save()

    # ------------------------------------------------------------------ state

    def _load(self) -> dict[str, Any]:
        empty: dict[str, Any] = {
            "clock_offset": 0,
            "webhook_url": None,
            "idempotency": {},
            "deliveries": [],
        }
        for kind in (
            "customers", "products", "prices", "checkout_sessions", "subscriptions", "invoices",
            "payment_methods", "events", "portal_sessions",
        ):  # fmt: skip
            empty[kind] = {}
        if self._path.exists():
            loaded = json.loads(self._path.read_text())
            empty.update(loaded)
        return empty

    def save(self) -> None:
        with self.lock:
            write_private(self._path, json.dumps(self.state))

    def now(self) -> int:
        return int(self._clock()) + int(self.state["clock_offset"])

    @property
    def base_url(self) -> str:
        return self._base_url().rstrip("/")

    def _add(self, kind: str, prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{secrets.token_hex(12)}", "created": self.now(), "livemode": False, **fields}
        self.state[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, ident: str, label: str) -> dict[str, Any]:
        obj = self.state[kind].get(ident)
        if obj is None:
            raise missing(label, ident)
        return obj  # type: ignore[no-any-return]

    def show(self, obj: dict[str, Any]) -> dict[str, Any]:
        return _public(obj)

    # ------------------------------------------------------------------ events and webhooks

    def emit(self, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": _public(obj)}
        if previous:
            data["previous_attributes"] = previous
        event = self._add(
            "events",
            "evt",
            {
                "object": "event",
                "api_version": API_VERSION,
                "data": data,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": type_,
            },
        )
        if self.state["webhook_url"]:
            self.state["deliveries"].append({"event": event["id"], "attempt": 0, "due": time.time()})
        return event

    # ------------------------------------------------------------------ customers

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._add(
            "customers",
            "cus",
            {
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "description": params.get("description"),
                "metadata": _metadata(params.get("metadata")),
                "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
                "currency": None,
                "delinquent": False,
                "balance": 0,
            },
        )

    def update_customer(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self.get("customers", ident, "customer")
        for key in ("email", "name", "description"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"] = {**customer["metadata"], **_metadata(params["metadata"])}
            customer["metadata"] = {k: v for k, v in customer["metadata"].items() if v != ""}
        settings = params.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            self.get("payment_methods", settings["default_payment_method"], "PaymentMethod")
            customer["invoice_settings"]["default_payment_method"] = settings["default_payment_method"]
        self.emit("customer.updated", customer)
        return customer

    # ------------------------------------------------------------------ checkout

    def create_checkout(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "subscription":
            raise invalid("This stand-in supports only mode=subscription.", "mode")
        customer = params.get("customer")
        if not customer:
            raise invalid("Missing required param: customer.", "customer")
        self.get("customers", customer, "customer")
        items = params.get("line_items")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise invalid("line_items must hold exactly one recurring price.", "line_items")
        price_id = items[0].get("price")
        if not price_id:
            raise invalid("Missing required param: line_items[0][price].", "line_items[0][price]")
        self.get("prices", price_id, "price")
        for url in ("success_url", "cancel_url"):
            if not str(params.get(url) or "").startswith(("http://", "https://")):
                raise invalid(f"Not a valid URL: {url}.", url)
        now = self.now()
        expires_at = int(params.get("expires_at") or now + DAY)
        if not now + 1800 - 60 <= expires_at <= now + DAY:
            raise invalid("expires_at must be between 30 minutes and 24 hours from now.", "expires_at")
        sub_data = params.get("subscription_data") or {}
        session = self._add(
            "checkout_sessions",
            "cs_test",
            {
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "customer": customer,
                "client_reference_id": params.get("client_reference_id"),
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "expires_at": expires_at,
                "metadata": _metadata(params.get("metadata")),
                "subscription": None,
                "invoice": None,
                "currency": "usd",
                "amount_total": self.state["prices"][price_id]["unit_amount"],
                "_price": price_id,
                "_quantity": int(items[0].get("quantity") or 1),
                "_subscription_metadata": _metadata(sub_data.get("metadata")),
                "_trial_days": int(sub_data.get("trial_period_days") or 0),
            },
        )
        session["url"] = f"{self.base_url}/checkout/{session['id']}"
        return session

    def session(self, ident: str) -> dict[str, Any]:
        session = self.get("checkout_sessions", ident, "checkout.session")
        if session["status"] == "open" and session["expires_at"] <= self.now():
            session["status"] = "expired"
            self.emit("checkout.session.expired", session)
        return session

    def expire_checkout(self, ident: str) -> dict[str, Any]:
        session = self.session(ident)
        if session["status"] != "open":
            raise StripeFailure(
                400,
                "invalid_request_error",
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
                f'Session has a status of "{session["status"]}".',
            )
        session["status"] = "expired"
        self.emit("checkout.session.expired", session)
        return session

    def pay_checkout(
        self, ident: str, number: str, exp: str, cvc: str, name: str
    ) -> tuple[dict[str, Any], CardResult]:
        """The hosted page's form, submitted: the card is checked, the subscription made and paid."""
        session = self.session(ident)
        if session["status"] != "open":
            raise invalid(f"This Checkout Session is {session['status']}.")
        card = check_card(number, exp, cvc, self.now())
        if not card.ok:
            return session, card
        digits = "".join(ch for ch in number if ch.isdigit())
        customer = self.get("customers", session["customer"], "customer")
        month, _, year = exp.replace(" ", "").partition("/")
        pm = self._add(
            "payment_methods",
            "pm",
            {
                "object": "payment_method",
                "type": "card",
                "customer": customer["id"],
                "billing_details": {"name": name or None, "email": customer.get("email")},
                "card": {
                    "brand": card.brand,
                    "last4": card.last4,
                    "exp_month": int(month),
                    "exp_year": int(year) + (2000 if len(year) == 2 else 0),
                    "funding": "credit",
                    "country": "US",
                },
                "_number": digits,
            },
        )
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        sub = self._create_subscription(session, pm["id"])
        session.update(status="complete", payment_status="paid", subscription=sub["id"])
        session["invoice"] = sub["latest_invoice"]
        self.emit("checkout.session.completed", session)
        return session, card

    # ------------------------------------------------------------------ subscriptions

    def _create_subscription(self, session: dict[str, Any], pm: str) -> dict[str, Any]:
        now = self.now()
        price = self.state["prices"][session["_price"]]
        trial_days = session["_trial_days"]
        end = now + (trial_days or MONTH_DAYS) * DAY
        sub = self._add(
            "subscriptions",
            "sub",
            {
                "object": "subscription",
                "customer": session["customer"],
                "status": "trialing" if trial_days else "active",
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "collection_method": "charge_automatically",
                "currency": "usd",
                "default_payment_method": pm,
                "latest_invoice": None,
                "metadata": dict(session["_subscription_metadata"]),
                "billing_cycle_anchor": now,
                "start_date": now,
                "trial_start": now if trial_days else None,
                "trial_end": end if trial_days else None,
                "items": {"object": "list", "data": [], "has_more": False, "total_count": 1, "url": ""},
                "_retries": [],
                "_trial_warned": False,
            },
        )
        sub["items"]["url"] = f"/v1/subscription_items?subscription={sub['id']}"
        sub["items"]["data"].append(
            {
                "id": f"si_{secrets.token_hex(12)}",
                "object": "subscription_item",
                "created": now,
                "metadata": {},
                "price": _public(price),
                "quantity": session["_quantity"],
                "subscription": sub["id"],
                "current_period_start": now,
                "current_period_end": end,
            }
        )
        self.emit("customer.subscription.created", sub)
        invoice = self._invoice(sub, now, end, "subscription_create", amount=0 if trial_days else None)
        self._settle(invoice, paid=True)
        sub["latest_invoice"] = invoice["id"]
        self.emit("invoice.paid", invoice)
        return sub

    def _item(self, sub: dict[str, Any]) -> dict[str, Any]:
        return sub["items"]["data"][0]  # type: ignore[no-any-return]

    def _invoice(
        self, sub: dict[str, Any], start: int, end: int, reason: str, amount: int | None = None
    ) -> dict[str, Any]:
        item = self._item(sub)
        total = item["price"]["unit_amount"] * item["quantity"] if amount is None else amount
        invoice = self._add(
            "invoices",
            "in",
            {
                "object": "invoice",
                "customer": sub["customer"],
                "status": "open",
                "billing_reason": reason,
                "collection_method": "charge_automatically",
                "currency": "usd",
                "amount_due": total,
                "amount_paid": 0,
                "amount_remaining": total,
                "subtotal": total,
                "total": total,
                "attempt_count": 0,
                "attempted": False,
                "next_payment_attempt": None,
                "period_start": start,
                "period_end": end,
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {"subscription": sub["id"], "metadata": dict(sub["metadata"])},
                },
                "lines": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": f"il_{secrets.token_hex(12)}",
                            "object": "line_item",
                            "amount": total,
                            "currency": "usd",
                            "description": f"1 × {item['price'].get('nickname') or 'plan'}",
                            "period": {"start": start, "end": end},
                            "pricing": {
                                "type": "price_details",
                                "price_details": {"price": item["price"]["id"]},
                            },
                            "quantity": item["quantity"],
                        }
                    ],
                    "url": "",
                },
            },
        )
        invoice["hosted_invoice_url"] = f"{self.base_url}/invoice/{invoice['id']}"
        self.emit("invoice.created", invoice)
        return invoice

    def _settle(self, invoice: dict[str, Any], paid: bool) -> None:
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if paid:
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                next_payment_attempt=None,
            )
            invoice["status_transitions"] = {"paid_at": self.now()}

    def _charge_ok(self, sub: dict[str, Any]) -> bool:
        pm = self.state["payment_methods"].get(sub.get("default_payment_method") or "")
        if pm is None:
            customer = self.state["customers"].get(sub["customer"], {})
            pm = self.state["payment_methods"].get(
                (customer.get("invoice_settings") or {}).get("default_payment_method") or ""
            )
        if pm is None:
            return False
        _, _, renewal_decline = CARDS.get(pm["_number"], ("visa", None, None))
        return renewal_decline is None

    def update_subscription(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        sub = self.get("subscriptions", ident, "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid(
                "A canceled subscription can only update its cancellation_details and metadata.", "id"
            )
        previous: dict[str, Any] = {}
        items = params.get("items")
        if items is not None:
            if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
                raise invalid("items must hold exactly one item.", "items")
            new_price = items[0].get("price")
            item = self._item(sub)
            if items[0].get("id") not in (None, item["id"]):
                raise missing("subscription_item", str(items[0].get("id")), "items[0][id]")
            if new_price:
                price = self.get("prices", new_price, "price")
                previous["items"] = copy.deepcopy(sub["items"])
                item["price"] = _public(price)
        if "cancel_at_period_end" in params:
            flag = _bool(params["cancel_at_period_end"])
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = flag
            sub["cancel_at"] = self._item(sub)["current_period_end"] if flag else None
            sub["canceled_at"] = self.now() if flag else None
        if "default_payment_method" in params:
            pm = self.get("payment_methods", params["default_payment_method"], "PaymentMethod")
            previous["default_payment_method"] = sub["default_payment_method"]
            sub["default_payment_method"] = pm["id"]
        if "metadata" in params:
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"] = {**sub["metadata"], **_metadata(params["metadata"])}
        self.emit("customer.subscription.updated", sub, previous)
        return sub

    def cancel_subscription(self, ident: str) -> dict[str, Any]:
        sub = self.get("subscriptions", ident, "subscription")
        if sub["status"] == "canceled":
            raise invalid(f"This subscription is already canceled: {ident}.", "id")
        self._end(sub)
        return sub

    def _end(self, sub: dict[str, Any]) -> None:
        now = self.now()
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        self.emit("customer.subscription.deleted", sub)

    def change_card(self, sub_id: str, number: str, exp: str, cvc: str, name: str) -> CardResult:
        """The portal's "update payment method": the new card pays from now on (and the open
        invoice of a past-due subscription is retried with it at once)."""
        sub = self.get("subscriptions", sub_id, "subscription")
        card = check_card(number, exp, cvc, self.now())
        if not card.ok:
            return card
        month, _, year = exp.replace(" ", "").partition("/")
        pm = self._add(
            "payment_methods",
            "pm",
            {
                "object": "payment_method",
                "type": "card",
                "customer": sub["customer"],
                "billing_details": {"name": name or None},
                "card": {
                    "brand": card.brand,
                    "last4": card.last4,
                    "exp_month": int(month),
                    "exp_year": int(year) + (2000 if len(year) == 2 else 0),
                    "funding": "credit",
                    "country": "US",
                },
                "_number": "".join(ch for ch in number if ch.isdigit()),
            },
        )
        self.state["customers"][sub["customer"]]["invoice_settings"]["default_payment_method"] = pm["id"]
        self.update_subscription(sub_id, {"default_payment_method": pm["id"]})
        if sub["status"] in ("past_due", "unpaid"):
            self._retry(sub)
        return card

    # ------------------------------------------------------------------ time

    def advance(self, seconds: int) -> int:
        """Move the clock forward (as a test clock does) and run what falls due, in time order."""
        if seconds <= 0:
            raise invalid("The clock only moves forward.", "seconds")
        target = self.now() + seconds
        while True:
            due = self._next_due(target)
            if due is None:
                break
            when, sub, what = due
            self.state["clock_offset"] += max(0, when - self.now())
            what(sub)
        self.state["clock_offset"] += max(0, target - self.now())
        return self.now()

    def _next_due(self, target: int) -> tuple[int, dict[str, Any], Callable[[dict[str, Any]], None]] | None:
        best: tuple[int, dict[str, Any], Callable[[dict[str, Any]], None]] | None = None
        for sub in self.state["subscriptions"].values():
            if sub["status"] in ("canceled", "incomplete_expired"):
                continue
            candidates: list[tuple[int, Callable[[dict[str, Any]], None]]] = []
            end = self._item(sub)["current_period_end"]
            if sub["status"] == "trialing" and not sub["_trial_warned"]:
                candidates.append((sub["trial_end"] - TRIAL_WARNING_DAYS * DAY, self._warn_trial))
            if sub["status"] != "unpaid":
                candidates.append((end, self._renew))
            if sub["_retries"]:
                candidates.append((sub["_retries"][0], self._retry))
            for when, action in candidates:
                if when <= target and (best is None or when < best[0]):
                    best = (when, sub, action)
        return best

    def _warn_trial(self, sub: dict[str, Any]) -> None:
        sub["_trial_warned"] = True
        self.emit("customer.subscription.trial_will_end", sub)

    def _renew(self, sub: dict[str, Any]) -> None:
        item = self._item(sub)
        if sub["cancel_at_period_end"]:
            self._end(sub)
            return
        previous = {"items": copy.deepcopy(sub["items"]), "status": sub["status"]}
        start = item["current_period_end"]
        end = start + MONTH_DAYS * DAY
        item["current_period_start"], item["current_period_end"] = start, end
        invoice = self._invoice(sub, start, end, "subscription_cycle")
        sub["latest_invoice"] = invoice["id"]
        if sub["status"] == "trialing":
            sub["status"] = "active"
        if self._charge_ok(sub) and sub["status"] != "past_due":
            self._settle(invoice, paid=True)
            self.emit("invoice.paid", invoice)
            self.emit("customer.subscription.updated", sub, previous)
            return
        self._settle(invoice, paid=False)
        if not sub["_retries"]:
            sub["_retries"] = [start + d * DAY for d in RETRY_DAYS]
        invoice["next_payment_attempt"] = sub["_retries"][0]
        sub["status"] = "past_due"
        self.emit("invoice.payment_failed", invoice)
        self.emit("customer.subscription.updated", sub, previous)

    def _retry(self, sub: dict[str, Any]) -> None:
        if sub["_retries"]:
            sub["_retries"].pop(0)
        open_invoices = [
            i for i in self.state["invoices"].values()
            if i["status"] == "open" and i["parent"]["subscription_details"]["subscription"] == sub["id"]
        ]  # fmt: skip
        previous = {"status": sub["status"]}
        if self._charge_ok(sub):
            for invoice in open_invoices:
                self._settle(invoice, paid=True)
                self.emit("invoice.paid", invoice)
            sub["_retries"] = []
            sub["status"] = "active"
            self.emit("customer.subscription.updated", sub, previous)
            return
        for invoice in open_invoices:
            self._settle(invoice, paid=False)
            invoice["next_payment_attempt"] = sub["_retries"][0] if sub["_retries"] else None
            self.emit("invoice.payment_failed", invoice)
        if not sub["_retries"] and sub["status"] != "unpaid":
            sub["status"] = "unpaid"
            self.emit("customer.subscription.updated", sub, previous)

    # ------------------------------------------------------------------ portal

    def create_portal(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if not customer:
            raise invalid("Missing required param: customer.", "customer")
        self.get("customers", customer, "customer")
        session = self._add(
            "portal_sessions",
            "bps",
            {
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": params.get("return_url"),
                "configuration": "bpc_local",
                "flow": None,
                "locale": None,
                "on_behalf_of": None,
                "_expires": self.now() + 3600,
            },
        )
        session["url"] = f"{self.base_url}/portal/{session['id']}"
        return session

    def portal(self, ident: str) -> dict[str, Any]:
        session = self.get("portal_sessions", ident, "billing_portal.session")
        if session["_expires"] <= self.now():
            raise invalid("This portal session has expired; open the portal again from the app.")
        return session

    def live_subscription(self, customer: str) -> dict[str, Any] | None:
        subs = [
            s for s in self.state["subscriptions"].values()
            if s["customer"] == customer and s["status"] not in ("canceled", "incomplete_expired")
        ]  # fmt: skip
        return max(subs, key=lambda s: s["created"]) if subs else None

    # ------------------------------------------------------------------ lists

    def listing(
        self, kind: str, url: str, params: dict[str, Any], match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        try:
            limit = int(params.get("limit") or 10)
        except ValueError as exc:
            raise invalid("Invalid integer: limit.", "limit") from exc
        if not 1 <= limit <= 100:
            raise invalid("limit must be between 1 and 100.", "limit")
        objs = sorted(
            (o for o in self.state[kind].values() if match(o)),
            key=lambda o: (o["created"], o["id"]),
            reverse=True,
        )
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in objs]
            if after not in ids:
                raise missing(kind.rstrip("s"), after, "starting_after")
            objs = objs[ids.index(after) + 1 :]
        page = objs[:limit]
        return {
            "object": "list",
            "url": url,
            "has_more": len(objs) > limit,
            "data": [_public(o) for o in page],
        }

    # ------------------------------------------------------------------ webhooks

    def set_webhook_url(self, url: str | None) -> None:
        with self.lock:
            self.state["webhook_url"] = url
            self.save()

    def due_deliveries(self, now: float) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(d) for d in self.state["deliveries"] if d["due"] <= now]


def _metadata(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid hash: metadata.", "metadata")
    return {str(k): str(v) for k, v in value.items()}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid("Invalid boolean.", "cancel_at_period_end")
