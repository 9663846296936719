"""A local stand-in for Stripe: the API subset Tailorcast calls, hosted checkout and portal pages
taking Stripe's test cards, signed webhooks with retries, and a clock that moves (test clocks).

The product reaches it only through stripe-python with its base URL pointed here
(``TAILORCAST_STRIPE_API_BASE``). ``engine`` holds the objects and rules, ``server`` the HTTP side.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from devstack.stripe.engine import API_VERSION, CARDS, StripeEngine, sign
from devstack.stripe.server import StripeStandIn, decode_form

__all__ = [
    "API_VERSION",
    "CARDS",
    "StripeEngine",
    "StripeStandIn",
    "decode_form",
    "plan_prices",
    "sign",
    "stand_in",
]


def plan_prices() -> list[tuple[str, str, int]]:
    """The paid plans as prices: (lookup key, name, cents a month), from the plans table."""
    from chalicelib.domain.plans import PAID_PLANS

    return [(s.lookup_key, s.title, s.monthly_price_usd * 100) for s in PAID_PLANS]


def stand_in(state_dir: Path, host: str = "127.0.0.1", **kwargs: object) -> StripeStandIn:
    """The stand-in with its keys kept in ``state_dir/keys.json`` (made once: a restarted stack
    keeps its customers, and the app's secret keeps matching)."""
    from devstack.private import private_dir, write_private

    private_dir(state_dir)
    keys_path = state_dir / "keys.json"
    if keys_path.exists():
        keys = json.loads(keys_path.read_text())
    else:
        keys = {
            "api_key": f"sk_test_{secrets.token_urlsafe(24)}",
            "webhook_secrets": [f"whsec_{secrets.token_urlsafe(24)}"],
        }
        write_private(keys_path, json.dumps(keys))
    return StripeStandIn(
        state_dir,
        keys["api_key"],
        keys["webhook_secrets"],
        plan_prices(),
        host=host,
        **kwargs,  # type: ignore[arg-type]
    )
