"""The Stripe stand-in's HTTP side: Stripe's API subset, the hosted pages, signed webhooks.

API requests are what stripe-python sends: ``Authorization: Bearer sk_…``, form-encoded bodies in
Stripe's bracket notation (``metadata[account_id]=…``, ``line_items[0][price]=…``), an optional
``Idempotency-Key`` (a POST replayed with the same key and parameters answers the first response
again, with ``Idempotent-Replayed: true``; other parameters are an ``idempotency_error``). Errors
are Stripe's ``{"error": {"type", "code", "message", "param"}}`` with Stripe's status codes, so
stripe-python raises the same exception classes.

Hosted pages (plain HTML forms, no scripts or external assets): ``/checkout/{session}`` takes a
card number, expiry (MM/YY) and CVC; ``/portal/{session}`` changes the plan or the card, or
cancels at the period's end. ``POST /_local/advance`` (``days`` or ``seconds``; the API key) moves
the clock as a test clock does.

Webhooks go to the URL set by :meth:`StripeStandIn.set_webhook_url`, signed as Stripe signs them
(``Stripe-Signature: t=…,v1=…``, one ``v1`` per signing secret), retried on anything but a 2xx
with exponential backoff (``retry_base`` seconds, doubling, at most ``max_attempts``); pending
deliveries are part of the persisted state.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.stripe.engine import StripeEngine, StripeFailure, invalid, missing, sign

logger = logging.getLogger(__name__)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation to nested dicts and lists (``a[0][b]``, ``a[]``, ``m[k]``)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = re.match(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$", key)
        if m is None:
            raise invalid(f"Invalid parameter name: {key}.", key)
        path = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: Any = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":
                part = str(sum(1 for k in node if k.isdigit())) if isinstance(node, dict) else "0"
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise invalid(f"Invalid parameter name: {key}.", key)
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}}
label{{display:block;margin:.8rem 0 .2rem}} input,select{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1rem;font-size:1rem}} .error{{color:#b00020;font-weight:600}}
.notice{{color:#0a7d38}} .test{{background:#fff4d6;padding:.4rem;font-size:.85rem}} section{{margin:1.5rem 0}}
</style></head><body>
<p class="test">Test mode: the local Stripe stand-in. Use Stripe's test cards (4242 4242 4242 4242).</p>
{body}
</body></html>"""


def page(title: str, body: str) -> bytes:
    return PAGE.format(title=html.escape(title), body=body).encode()


def _esc(value: Any) -> str:
    return html.escape(str(value))


def card_fields() -> str:
    return (
        '<label for="cardnumber">Card number</label>'
        '<input id="cardnumber" name="cardnumber" inputmode="numeric" autocomplete="cc-number" required>'
        '<label for="exp-date">Expiry (MM / YY)</label>'
        '<input id="exp-date" name="exp-date" autocomplete="cc-exp" placeholder="MM / YY" required>'
        '<label for="cvc">CVC</label>'
        '<input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required>'
        '<label for="billingName">Name on card</label>'
        '<input id="billingName" name="billingName" autocomplete="cc-name">'
    )


class StripeStandIn:
    """The server. ``start()`` binds ``host:port`` (0: any free port); ``url`` is its base URL.

    Parameters
    ----------
    state_dir
        Where ``stripe.json`` (every object, the clock, pending webhooks) is kept.
    api_key, webhook_secrets
        The secret key clients must send, and the signing secrets (all sign every webhook).
    plans
        The prices made at the first start: ``(lookup_key, name, unit_amount)``.
    """

    def __init__(
        self,
        state_dir: Path,
        api_key: str,
        webhook_secrets: list[str],
        plans: list[tuple[str, str, int]],
        host: str = "127.0.0.1",
        port: int = 0,
        retry_base: float = 1.0,
        max_attempts: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.webhook_secrets = list(webhook_secrets)
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        state_dir.mkdir(parents=True, exist_ok=True)
        self.engine = StripeEngine(state_dir / "stripe.json", lambda: self.url, plans, clock=clock)
        #: Every delivery attempt: (event id, HTTP status or 0 for no answer). For tests and `-v`.
        self.attempts: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        for target, name in (
            (self._server.serve_forever, "stripe-http"),
            (self._deliver_loop, "stripe-webhooks"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.url

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.engine.save()

    def set_webhook_url(self, url: str | None) -> None:
        self.engine.set_webhook_url(url)
        self._wake.set()

    def advance(self, seconds: int) -> int:
        with self.engine.lock:
            now = self.engine.advance(seconds)
            self.engine.save()
        self._wake.set()
        return now

    # ------------------------------------------------------------------ webhooks

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            for delivery in self.engine.due_deliveries(time.time()):
                if self._stop.is_set():
                    return
                self._deliver(delivery)
            self._wake.wait(timeout=0.2)
            self._wake.clear()

    def _deliver(self, delivery: dict[str, Any]) -> None:
        engine = self.engine
        with engine.lock:
            event = engine.state["events"].get(delivery["event"])
            url = engine.state["webhook_url"]
            payload = json.dumps(event, indent=2) if event else None
            timestamp = engine.now()
        status = 0
        if payload is not None and url:
            request = urllib.request.Request(  # noqa: S310 - the local API's http:// URL
                url,
                data=payload.encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, self.webhook_secrets, timestamp),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local API
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError):
                status = 0
        self.attempts.append((delivery["event"], status))
        with engine.lock:
            pending = engine.state["deliveries"]
            current = next((d for d in pending if d["event"] == delivery["event"]), None)
            if current is None:
                return
            if payload is None or 200 <= status < 300:
                pending.remove(current)
                if event is not None:
                    event["pending_webhooks"] = 0
            else:
                current["attempt"] += 1
                if current["attempt"] >= self.max_attempts:
                    logger.warning(
                        "webhook %s abandoned after %d attempts", delivery["event"], current["attempt"]
                    )
                    pending.remove(current)
                else:
                    current["due"] = time.time() + self.retry_base * 2 ** (current["attempt"] - 1)
            engine.save()

    def wait_delivered(self, timeout: float = 30.0) -> bool:
        """True once no webhook is waiting (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.lock:
                if not self.engine.state["deliveries"]:
                    return True
            time.sleep(0.05)
        return False


class _Handler(BaseHTTPRequestHandler):
    standin: StripeStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stripe stand-in: " + format, *args)

    # ------------------------------------------------------------------ plumbing

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        extra = {"Request-Id": f"req_{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:14]}"}  # noqa: S324
        extra.update(headers or {})
        self._send(status, json.dumps(data).encode(), "application/json", extra)

    def _html(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/html; charset=utf-8", {"Cache-Control": "no-store"})

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        raw = self._body() if method in ("POST", "DELETE") else b""
        try:
            if path.startswith("/v1/") or path.startswith("/_local/"):
                self._api(method, path, parts.query, raw)
            elif path.startswith("/checkout/"):
                self._checkout_page(method, path.removeprefix("/checkout/"), raw)
            elif path.startswith("/portal/"):
                self._portal_page(method, path.removeprefix("/portal/"), raw)
            elif path.startswith("/invoice/"):
                self._invoice_page(path.removeprefix("/invoice/"))
            else:
                self._json(
                    404,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": f"Unrecognized request URL ({method}: {path}).",
                        }
                    },
                )
        except StripeFailure as exc:
            if path.startswith(("/checkout/", "/portal/", "/invoice/")):
                self._html(exc.status, page("Error", f'<p class="error">{_esc(exc.body["message"])}</p>'))
            else:
                self._json(exc.status, {"error": exc.body})

    # ------------------------------------------------------------------ the API

    def _api(self, method: str, path: str, query: str, raw: bytes) -> None:
        s = self.standin
        auth = self.headers.get("Authorization") or ""
        key = auth.removeprefix("Bearer ").strip()
        if key != s.api_key:
            shown = (key[:8] + "*" * 8 + key[-4:]) if len(key) > 12 else "(none)"
            raise StripeFailure(401, "invalid_request_error", f"Invalid API Key provided: {shown}")
        try:
            params = decode_form(
                parse_qsl(raw.decode() if method != "GET" else query, keep_blank_values=True)
            )
        except UnicodeDecodeError as exc:
            raise invalid("The request body is not UTF-8.") from exc
        idem = self.headers.get("Idempotency-Key") if method == "POST" else None
        engine = s.engine
        with engine.lock:
            if idem:
                fingerprint = hashlib.sha256(
                    f"{method} {path} {sorted(params.items())!r}".encode()
                ).hexdigest()
                seen = engine.state["idempotency"].get(idem)
                if seen is not None:
                    if seen["fingerprint"] != fingerprint:
                        raise StripeFailure(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters "
                            f"they were first used with. Try using a key other than '{idem}' if you "
                            "meant to execute a different request.",
                        )
                    self._json(
                        seen["status"], seen["body"], {"Idempotent-Replayed": "true", "Idempotency-Key": idem}
                    )
                    return
            try:
                status, body = 200, self._route(method, path, params)
            except StripeFailure as exc:
                if exc.status >= 500 or not idem:
                    raise
                status, body = exc.status, {"error": exc.body}
            if idem:
                engine.state["idempotency"][idem] = {
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": body,
                }
            if method != "GET":
                engine.save()
        s._wake.set()
        self._json(status, body, {"Idempotency-Key": idem} if idem else None)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - Stripe's URL table
        e = self.standin.engine
        segs = path.strip("/").split("/")[1:]  # drop "v1"
        route = (method, *segs)
        match route:
            case ("POST", "advance") if path.startswith("/_local/"):
                days, seconds = params.get("days"), params.get("seconds")
                try:
                    total = int(float(days) * 86_400) if days else int(seconds or 0)
                except ValueError as exc:
                    raise invalid("days and seconds must be numbers.", "days") from exc
                now = e.advance(total)
                return {"object": "test_helpers.clock", "frozen_time": now, "status": "ready"}
            case ("POST", "customers"):
                return e.show(e.create_customer(params))
            case ("GET", "customers", ident):
                return e.show(e.get("customers", ident, "customer"))
            case ("POST", "customers", ident):
                return e.show(e.update_customer(ident, params))
            case ("GET", "prices"):
                keys = params.get("lookup_keys")
                keys = keys if isinstance(keys, list) else ([keys] if keys else None)
                active = params.get("active")
                return e.listing(
                    "prices",
                    "/v1/prices",
                    params,
                    lambda p: (
                        (keys is None or p.get("lookup_key") in keys)
                        and (active is None or str(p["active"]).lower() == str(active).lower())
                    ),
                )
            case ("GET", "prices", ident):
                return e.show(e.get("prices", ident, "price"))
            case ("POST", "checkout", "sessions"):
                return e.show(e.create_checkout(params))
            case ("GET", "checkout", "sessions", ident):
                return e.show(e.session(ident))
            case ("POST", "checkout", "sessions", ident, "expire"):
                return e.show(e.expire_checkout(ident))
            case ("GET", "subscriptions"):
                customer, status = params.get("customer"), params.get("status")
                return e.listing(
                    "subscriptions",
                    "/v1/subscriptions",
                    params,
                    lambda x: (
                        (customer is None or x["customer"] == customer)
                        and (
                            x["status"] == status
                            if status not in (None, "all")
                            else status == "all" or x["status"] != "canceled"
                        )
                    ),
                )
            case ("GET", "subscriptions", ident):
                return e.show(e.get("subscriptions", ident, "subscription"))
            case ("POST", "subscriptions", ident):
                return e.show(e.update_subscription(ident, params))
            case ("DELETE", "subscriptions", ident):
                return e.show(e.cancel_subscription(ident))
            case ("POST", "billing_portal", "sessions"):
                return e.show(e.create_portal(params))
            case ("GET", "invoices"):
                customer, sub = params.get("customer"), params.get("subscription")
                return e.listing(
                    "invoices",
                    "/v1/invoices",
                    params,
                    lambda i: (
                        (customer is None or i["customer"] == customer)
                        and (sub is None or i["parent"]["subscription_details"]["subscription"] == sub)
                    ),
                )
            case ("GET", "invoices", ident):
                return e.show(e.get("invoices", ident, "invoice"))
            case ("GET", "payment_methods", ident):
                return e.show(e.get("payment_methods", ident, "PaymentMethod"))
            case ("GET", "events"):
                type_ = params.get("type")
                return e.listing(
                    "events", "/v1/events", params, lambda ev: type_ is None or ev["type"] == type_
                )
            case ("GET", "events", ident):
                return e.show(e.get("events", ident, "event"))
        raise StripeFailure(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    # ------------------------------------------------------------------ hosted pages

    def _form(self, raw: bytes) -> dict[str, str]:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    def _checkout_page(self, method: str, ident: str, raw: bytes) -> None:
        e = self.standin.engine
        with e.lock:
            session = e.session(ident)
            price = e.state["prices"][session["_price"]]
            error = ""
            if method == "POST":
                form = self._form(raw)
                if session["status"] == "open":
                    session, card = e.pay_checkout(
                        ident, form.get("cardnumber", ""), form.get("exp-date", ""), form.get("cvc", ""),
                        form.get("billingName", ""),
                    )  # fmt: skip
                    e.save()
                    self.standin._wake.set()
                    if card.ok:
                        self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", ident))
                        return
                    error = (
                        f'<p class="error" role="alert" id="error">{_esc(card.message)} '
                        f"(decline code: {_esc(card.decline_code)})</p>"
                    )
            status = session["status"]
        amount = f"${price['unit_amount'] / 100:.2f} per month"
        if status != "open":
            body = f'<h1>{_esc(price["nickname"])}</h1><p id="status">This checkout is {_esc(status)}.</p>'
            self._html(200 if status == "complete" else 410, page("Checkout", body))
            return
        body = (
            f"<h1>Subscribe to {_esc(price['nickname'])}</h1><p>{_esc(amount)}</p>{error}"
            f'<form method="post" action="/checkout/{_esc(ident)}">{card_fields()}'
            '<button type="submit">Subscribe</button></form>'
            f'<p><a href="{_esc(session["cancel_url"])}">Cancel and go back</a></p>'
        )
        self._html(402 if error else 200, page("Checkout", body))

    def _portal_page(self, method: str, rest: str, raw: bytes) -> None:
        e = self.standin.engine
        ident, _, action = rest.partition("/")
        notice, error = "", ""
        with e.lock:
            session = e.portal(ident)
            sub = e.live_subscription(session["customer"])
            if method == "POST":
                if sub is None:
                    raise invalid("This customer has no subscription to change.")
                form = self._form(raw)
                if action == "plan":
                    price_id = form.get("price", "")
                    e.get("prices", price_id, "price")
                    e.update_subscription(
                        sub["id"], {"items": [{"id": sub["items"]["data"][0]["id"], "price": price_id}]}
                    )
                    notice = "Your plan has been updated."
                elif action == "card":
                    card = e.change_card(
                        sub["id"], form.get("cardnumber", ""), form.get("exp-date", ""), form.get("cvc", ""),
                        form.get("billingName", ""),
                    )  # fmt: skip
                    if card.ok:
                        notice = "Your payment method has been updated."
                    else:
                        error = f"{card.message} (decline code: {card.decline_code})"
                elif action == "cancel":
                    e.update_subscription(sub["id"], {"cancel_at_period_end": "true"})
                    notice = "Your plan will be canceled at the end of the billing period."
                elif action == "renew":
                    e.update_subscription(sub["id"], {"cancel_at_period_end": "false"})
                    notice = "Your plan will renew."
                else:
                    raise missing("portal action", action)
                e.save()
                self.standin._wake.set()
            body = self._portal_body(session, sub, notice, error)
        self._html(402 if error else 200, page("Billing", body))

    def _portal_body(
        self, session: dict[str, Any], sub: dict[str, Any] | None, notice: str, error: str
    ) -> str:
        e = self.standin.engine
        ident = _esc(session["id"])
        parts = ["<h1>Billing</h1>"]
        if notice:
            parts.append(f'<p class="notice" role="status" id="notice">{_esc(notice)}</p>')
        if error:
            parts.append(f'<p class="error" role="alert" id="error">{_esc(error)}</p>')
        if sub is None:
            parts.append("<p>No current subscription.</p>")
        else:
            item = sub["items"]["data"][0]
            end = time.strftime("%Y-%m-%d", time.gmtime(item["current_period_end"]))
            renews = f"cancels on {end}" if sub["cancel_at_period_end"] else f"renews on {end}"
            parts.append(
                f'<p id="current">Current plan: <strong>{_esc(item["price"]["nickname"])}</strong> '
                f"({_esc(sub['status'])}; {renews})</p>"
            )
            options = "".join(
                f'<option value="{_esc(p["id"])}"{" selected" if p["id"] == item["price"]["id"] else ""}>'
                f"{_esc(p['nickname'])} (${p['unit_amount'] / 100:.2f}/month)</option>"
                for p in sorted(e.state["prices"].values(), key=lambda p: p["unit_amount"])
                if p["active"]
            )
            parts.append(
                f'<section><h2>Change plan</h2><form method="post" action="/portal/{ident}/plan">'
                f'<label for="price">Plan</label><select id="price" name="price">{options}</select>'
                '<button type="submit">Update plan</button></form></section>'
            )
            parts.append(
                f'<section><h2>Payment method</h2><form method="post" action="/portal/{ident}/card">'
                f'{card_fields()}<button type="submit">Update card</button></form></section>'
            )
            action, label = (
                ("renew", "Renew plan") if sub["cancel_at_period_end"] else ("cancel", "Cancel plan")
            )
            parts.append(
                f'<section><form method="post" action="/portal/{ident}/{action}">'
                f'<button type="submit">{label}</button></form></section>'
            )
        if session.get("return_url"):
            parts.append(f'<p><a href="{_esc(session["return_url"])}">Return to Tailorcast</a></p>')
        return "".join(parts)

    def _invoice_page(self, ident: str) -> None:
        e = self.standin.engine
        with e.lock:
            invoice = e.get("invoices", ident, "invoice")
            body = (
                f"<h1>Invoice {_esc(invoice['id'])}</h1><p>Status: {_esc(invoice['status'])}</p>"
                f"<p>Amount due: ${invoice['amount_due'] / 100:.2f}</p>"
            )
        self._html(200, page("Invoice", body))
