"""``tailorcast billing …`` (the API's billing routes) and ``tailorcast stripe …`` (the local
Stripe stand-in: move its clock, fill its hosted checkout page as a browser would)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urljoin

import httpx
import typer
from rich.console import Console

if TYPE_CHECKING:
    from tailorcast_cli.client import TailorcastClient

billing_app = typer.Typer(help="The account's plan and billing (Stripe).", no_args_is_help=True)
stripe_app = typer.Typer(help="The local Stripe stand-in (local stack only).", no_args_is_help=True)
err = Console(stderr=True)

Token = Annotated[
    str | None,
    typer.Option(envvar="TAILORCAST_TOKEN", help="Bearer token (default: the `tailorcast login` session)"),
]
T = TypeVar("T")
StateDir = Annotated[
    Path, typer.Option("--state-dir", envvar="TAILORCAST_STATE_DIR", help="Where local state lives.")
]
DEFAULT_STATE_DIR = Path(".tailorcast")


def _stack(state_dir: Path) -> dict[str, Any]:
    from tailorcast_cli.main import _running_stack

    return _running_stack(state_dir)


def _client(state_dir: Path, token: str | None) -> TailorcastClient:
    from tailorcast_cli.main import _render_client

    return _render_client(state_dir, token)


def _api(call: Callable[[], T]) -> T:
    from tailorcast_cli.main import _api as api_call

    return api_call(call)


@billing_app.command("subscribe")
def subscribe(
    plan: Annotated[str, typer.Option(help="basic, pro or agency")],
    token: Token = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Open Stripe Checkout for a plan and print its URL (for a browser, or `tailorcast stripe pay`)."""
    client = _client(state_dir, token)
    print(_api(lambda: client.checkout(plan)))


@billing_app.command("portal")
def portal(token: Token = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Print the billing portal's URL: change the plan or the card, or cancel."""
    client = _client(state_dir, token)
    print(_api(client.billing_portal))


@billing_app.command("status")
def status(token: Token = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """The plan, its status and period, the card and recent invoices (JSON)."""
    client = _client(state_dir, token)
    print(_api(client.billing).model_dump_json(indent=2))


@billing_app.command("usage")
def usage(token: Token = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """What the plan allows and what is used this period: videos, campaigns, seats, API requests (JSON)."""
    client = _client(state_dir, token)
    print(_api(client.usage).model_dump_json(indent=2))


def _stripe_keys(state_dir: Path) -> tuple[str, str]:
    info = _stack(state_dir)
    url = info.get("stripe")
    if not url:
        err.print("[red]error:[/] this local stack runs no Stripe stand-in")
        raise typer.Exit(2)
    keys = json.loads((state_dir / "stripe" / "keys.json").read_text())
    return str(url), str(keys["api_key"])


@stripe_app.command("advance")
def advance(
    days: Annotated[float, typer.Option(help="How many days to move the stand-in's clock forward")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Move the Stripe stand-in's clock: renewals, failed payments and retries fall due (with webhooks)."""
    url, key = _stripe_keys(state_dir)
    response = httpx.post(
        f"{url}/_local/advance", data={"days": str(days)}, headers={"Authorization": f"Bearer {key}"}
    )
    if response.status_code != 200:
        err.print(f"[red]error:[/] {response.json()['error']['message']}")
        raise typer.Exit(1)
    now = datetime.fromtimestamp(int(response.json()["frozen_time"]), UTC)
    print(f"the Stripe stand-in's clock is now {now:%Y-%m-%d %H:%M} UTC")


class _FormReader(HTMLParser):
    """The page's first form: its action and its input names."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.inputs: list[str] = []
        self.error: str | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("name"):
            self.inputs.append(str(a["name"]))
        elif tag == "p" and a.get("class") == "error":
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        self._in_error = self._in_error and tag != "p"

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error = (self.error or "") + data


def pay_checkout(
    url: str, card: str, exp: str = "12 / 34", cvc: str = "123", name: str = "Test Buyer"
) -> httpx.Response:
    """Fill the hosted checkout page's form and post it exactly as a browser does (the answer
    is the redirect to the success URL, or the page with the decline)."""
    page = httpx.get(url, timeout=30)
    page.raise_for_status()
    form = _FormReader()
    form.feed(page.text)
    if form.action is None:
        raise ValueError(f"the page at {url} has no form (the checkout is {page.status_code})")
    values = {"cardnumber": card, "exp-date": exp, "cvc": cvc, "billingName": name}
    missing = [n for n in form.inputs if n not in values]
    if missing:
        raise ValueError(
            f"the checkout form asks for fields this command does not fill: {', '.join(missing)}"
        )
    return httpx.post(urljoin(url, form.action), data={n: values[n] for n in form.inputs}, timeout=30)


def subscribe_with_test_card(
    client: TailorcastClient, plan: str, card: str = "4242 4242 4242 4242", timeout: float = 60
) -> None:
    """Subscribe the client's account to ``plan`` as a seller would on the local stack: the
    checkout page paid with a Stripe test card, then Stripe's signed webhook changes the plan
    (waited for, up to ``timeout`` seconds)."""
    paid = pay_checkout(client.checkout(plan), card)
    if paid.status_code != 303:
        raise RuntimeError(f"the local checkout refused the card ({paid.status_code})")
    deadline = time.monotonic() + timeout
    while client.me().account.plan != plan:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Stripe's webhook did not move the account to {plan} in {timeout:g} s")
        time.sleep(0.25)


@stripe_app.command("pay")
def pay(
    url: Annotated[str, typer.Argument(help="The checkout URL (`tailorcast billing subscribe`)")],
    card: Annotated[
        str, typer.Option(help="A Stripe test card: 4242…, 4000 0000 0000 0002, 4000 0000 0000 0341")
    ],
    exp: Annotated[str, typer.Option(help="MM / YY")] = "12 / 34",
    cvc: Annotated[str, typer.Option()] = "123",
) -> None:
    """Pay a local checkout with a test card, as the browser would post the hosted page's form."""
    response = pay_checkout(url, card, exp, cvc)
    if response.status_code == 303:
        print(response.headers["location"])
        return
    reader = _FormReader()
    reader.feed(response.text)
    message = reader.error or re.sub(r"<[^>]+>", " ", response.text)[:200]
    err.print(f"[red]payment failed:[/] {message.strip()}")
    raise typer.Exit(1)
