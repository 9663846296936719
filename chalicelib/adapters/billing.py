"""Stripe, through stripe-python's ``StripeClient`` at a pinned API version.

The API key and the webhook signing secrets live in one Secrets Manager secret (JSON
``{"api_key": "sk_…", "webhook_secrets": ["whsec_…", …]}``), read on first use and cached for the
container. ``stripe_api_base`` (set only by the local stack) points the client at the Stripe
stand-in: the same calls, the same code path as in the cloud.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe

from chalicelib.adapters.aws_errors import translate_aws_errors
from chalicelib.domain.billing import CheckoutSession, Invoice, invoice_of
from chalicelib.domain.errors import ConfigurationError, NotFoundError, StorageError
from chalicelib.domain.models import Plan
from chalicelib.domain.plans import spec

logger = logging.getLogger(__name__)

#: The API version every request and every webhook endpoint uses: stripe-python 16.1.0's own.
STRIPE_API_VERSION = "2026-10-28.endive"
#: Stripe's default tolerance for a webhook's timestamp.
WEBHOOK_TOLERANCE_SECONDS = 300
#: A subscription in these statuses charges nothing more (cancelling it again is done).
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True)
class StripeSecret:
    api_key: str
    webhook_secrets: tuple[str, ...]


class StripeSecrets:
    """The Stripe secret (Secrets Manager), read once and cached (a failed read is retried).

    Raises
    ------
    StorageError
        The secret is missing, unreadable or malformed (on first use of a property).
    """

    def __init__(self, client: Any, secret_name: str) -> None:
        self._client = client
        self._name = secret_name
        self._lock = threading.Lock()
        self._secret: StripeSecret | None = None

    def get(self) -> StripeSecret:
        with self._lock:
            if self._secret is None:
                self._secret = self._read()
            return self._secret

    def _read(self) -> StripeSecret:
        with translate_aws_errors(
            f"secretsmanager.get_secret_value {self._name}",
            f"the Stripe secret {self._name!r} could not be read",
            not_found=lambda _: ConfigurationError(f"the Stripe secret {self._name!r} does not exist"),
        ):
            response = self._client.get_secret_value(SecretId=self._name)
        malformed = ConfigurationError(
            f"the Stripe secret {self._name!r} is malformed: expected a JSON object with 'api_key' "
            "and a non-empty list 'webhook_secrets'"
        )
        try:
            data = json.loads(response.get("SecretString") or "")
        except ValueError as exc:
            raise malformed from exc
        if not isinstance(data, dict):
            raise malformed
        key, hooks = data.get("api_key"), data.get("webhook_secrets")
        if not isinstance(key, str) or not key or not isinstance(hooks, list) or not hooks:
            raise malformed
        if not all(isinstance(h, str) and h for h in hooks):
            raise malformed
        return StripeSecret(api_key=key, webhook_secrets=tuple(hooks))


class SignatureError(Exception):
    """The webhook is not Stripe's: forged, stale, altered, or its header malformed."""


def verify_webhook(
    payload: bytes, header: str | None, secrets: tuple[str, ...], tolerance: int = WEBHOOK_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """Verify a webhook with stripe-python's own check, against any of the signing secrets.

    Several secrets are valid during a rotation; a header may carry several ``v1`` signatures
    (Stripe signs with every active secret): one match is enough.

    Raises
    ------
    SignatureError
        No secret verifies the header over these exact bytes within ``tolerance`` seconds.
    ValueError
        The verified body is not JSON.
    """
    if not header:
        raise SignatureError("the Stripe-Signature header is missing")
    last: Exception | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), header, secret, tolerance)
        except stripe.SignatureVerificationError as exc:
            last = exc
            continue
        except UnicodeDecodeError as exc:
            raise SignatureError("the body is not UTF-8") from exc
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("the webhook body is not a JSON object")
        return data
    raise SignatureError(getattr(last, "user_message", None) or str(last or "no signing secret"))


@contextmanager
def _stripe_errors(what: str, not_found: Callable[[], Exception] | None = None) -> Iterator[None]:
    """Stripe's errors as domain errors (logged with Stripe's request id, never the body)."""
    try:
        yield
    except stripe.AuthenticationError as exc:
        logger.error("Stripe refused the API key", extra={"operation": what})
        raise ConfigurationError("billing is not configured: Stripe refused the API key") from exc
    except stripe.InvalidRequestError as exc:
        if not_found is not None and exc.code == "resource_missing":
            raise not_found() from exc
        logger.error(
            "Stripe refused a request",
            extra={
                "operation": what,
                "stripe_code": exc.code,
                "param": exc.param,
                "request_id": exc.request_id,
            },
        )
        raise StorageError(
            f"billing failed: Stripe refused the request ({exc.user_message or exc.code})"
        ) from exc
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        logger.warning("Stripe could not be reached", extra={"operation": what})
        raise StorageError("billing is unavailable right now; try again shortly", retry_after=5) from exc
    except stripe.StripeError as exc:
        logger.error("Stripe failed", extra={"operation": what, "request_id": exc.request_id})
        raise StorageError("billing failed at Stripe; try again shortly", retry_after=5) from exc


def _dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeBilling:
    """:class:`~chalicelib.domain.ports.BillingGateway` and
    :class:`~chalicelib.domain.ports.SubscriptionCanceller` on stripe-python.

    Parameters
    ----------
    secrets
        Where the API key comes from (read on the first call).
    api_base
        Stripe's API base URL; None for Stripe's own.
    """

    def __init__(self, secrets: StripeSecrets, api_base: str | None = None) -> None:
        self._secrets = secrets
        self._api_base = api_base
        self._lock = threading.Lock()
        self._client: stripe.StripeClient | None = None
        self._prices: dict[Plan, str] = {}

    @property
    def client(self) -> stripe.StripeClient:
        with self._lock:
            if self._client is None:
                base = {"api": self._api_base} if self._api_base else None
                self._client = stripe.StripeClient(
                    self._secrets.get().api_key,
                    stripe_version=STRIPE_API_VERSION,
                    base_addresses=base,  # type: ignore[arg-type]
                    max_network_retries=2,
                )
            return self._client

    def create_customer(self, account_id: str, *, email: str, name: str, idempotency_key: str) -> str:
        with _stripe_errors("customers.create"):
            customer = self.client.v1.customers.create(
                params={"email": email, "name": name, "metadata": {"account_id": account_id}},
                options={"idempotency_key": idempotency_key},
            )
        return str(customer.id)

    def customer_account_id(self, customer_id: str) -> str | None:
        with _stripe_errors("customers.retrieve", not_found=lambda: NotFoundError("customer", customer_id)):
            customer = _dict(self.client.v1.customers.retrieve(customer_id))
        if customer.get("deleted"):
            return None
        value = (customer.get("metadata") or {}).get("account_id")
        return value if isinstance(value, str) and value else None

    def price_for(self, plan: Plan) -> str:
        if plan not in self._prices:
            key = spec(plan).lookup_key
            with _stripe_errors("prices.list"):
                page = self.client.v1.prices.list(params={"lookup_keys": [key], "active": True, "limit": 1})
            if not page.data:
                raise ConfigurationError(f"billing is not configured: Stripe has no active price {key!r}")
            self._prices[plan] = str(page.data[0].id)
        return self._prices[plan]

    def create_checkout(
        self,
        *,
        customer_id: str,
        account_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
    ) -> CheckoutSession:
        with _stripe_errors("checkout.sessions.create"):
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": account_id,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "subscription_data": {"metadata": {"account_id": account_id}},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "expires_at": int(expires_at.timestamp()),
                },
                options={"idempotency_key": idempotency_key},
            )
        return _session(_dict(session))

    def checkout_session(self, session_id: str) -> CheckoutSession:
        with _stripe_errors(
            "checkout.sessions.retrieve", not_found=lambda: NotFoundError("checkout session", session_id)
        ):
            return _session(_dict(self.client.v1.checkout.sessions.retrieve(session_id)))

    def expire_checkout(self, session_id: str) -> bool:
        session = self.checkout_session(session_id)
        if session.status == "open":
            try:
                with _stripe_errors("checkout.sessions.expire"):
                    self.client.v1.checkout.sessions.expire(session_id)
                return True
            except StorageError:
                session = self.checkout_session(session_id)  # paid between the two calls?
                if session.status == "open":
                    raise
        return session.status == "expired"

    def create_portal(self, customer_id: str, return_url: str) -> str:
        with _stripe_errors("billing_portal.sessions.create"):
            portal = self.client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        return str(portal.url)

    def subscription_json(self, subscription_id: str) -> Mapping[str, Any]:
        with _stripe_errors(
            "subscriptions.retrieve", not_found=lambda: NotFoundError("subscription", subscription_id)
        ):
            return _dict(self.client.v1.subscriptions.retrieve(subscription_id))

    def cancel(self, subscription_id: str) -> None:
        """:class:`~chalicelib.domain.ports.SubscriptionCanceller`: end the subscription now
        (``DELETE /v1/subscriptions/{id}``, no proration). One already ended, or that Stripe does
        not have, is done: it charges nothing more.

        Raises
        ------
        StorageError
            Stripe refused for another reason or could not be reached (the caller retries).
        """
        try:
            self.client.v1.subscriptions.cancel(subscription_id)
            return
        except stripe.InvalidRequestError as exc:
            refused: stripe.InvalidRequestError = exc
        except stripe.StripeError:
            with _stripe_errors("subscriptions.cancel"):
                raise
        # Stripe refuses to cancel one it does not have, or one that has ended: both are done.
        if refused.code != "resource_missing":
            try:
                status = self.subscription_json(subscription_id).get("status")
            except NotFoundError:
                status = None
            if status is not None and status not in ENDED_STATUSES:
                with _stripe_errors("subscriptions.cancel"):
                    raise refused
        logger.info("the subscription was cancelled already", extra={"stripe_code": refused.code})

    def default_card(self, customer_id: str, subscription_id: str | None) -> tuple[str, str] | None:
        payment_method: str | None = None
        if subscription_id:
            sub = self.subscription_json(subscription_id)
            payment_method = _ref(sub.get("default_payment_method"))
        if payment_method is None:
            with _stripe_errors("customers.retrieve"):
                customer = _dict(self.client.v1.customers.retrieve(customer_id))
            payment_method = _ref((customer.get("invoice_settings") or {}).get("default_payment_method"))
        if payment_method is None:
            return None
        with _stripe_errors("payment_methods.retrieve"):
            pm = _dict(self.client.v1.payment_methods.retrieve(payment_method))
        card = pm.get("card") or {}
        brand, last4 = card.get("brand"), card.get("last4")
        return (str(brand), str(last4)) if brand and last4 else None

    def recent_invoices(self, customer_id: str, limit: int) -> list[Invoice]:
        with _stripe_errors("invoices.list"):
            page = self.client.v1.invoices.list(params={"customer": customer_id, "limit": limit})
        return [invoice_of(_dict(i)) for i in page.data]


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _session(obj: Mapping[str, Any]) -> CheckoutSession:
    return CheckoutSession(
        session_id=str(obj["id"]),
        url=str(obj.get("url") or ""),
        status=str(obj.get("status") or ""),
        subscription_id=_ref(obj.get("subscription")),
        customer_id=_ref(obj.get("customer")),
        client_reference_id=obj.get("client_reference_id"),
    )
