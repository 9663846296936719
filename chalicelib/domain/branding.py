"""Custom branding on watch pages (issue 18, item 3): a logo, an accent colour, the badge off.

An entitlement of the plans whose ``branding`` flag is on (Pro and Agency). Setting it on another
plan is refused with the plan that unlocks it; a branding set before a downgrade stays stored
(so an upgrade brings it back) but the watch page shows the default look, badge included, for as
long as the plan lacks the entitlement.

The branding lives on the account item (:class:`~chalicelib.domain.models.Branding`), which the
watch page reads anyway: showing it costs no extra read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.errors import FieldIssue, ForbiddenError, InvalidInputError
from chalicelib.domain.images import LOGO, check_upload
from chalicelib.domain.models import Account, AccountStatus, Branding, utcnow
from chalicelib.domain.plans import cheapest_with, spec
from chalicelib.domain.ports import AccountBrandingStore, ImageNormalizer, ObjectStore

#: WCAG 2.x AA for normal text: the CTA's white label must stand out this much from the accent.
MIN_CONTRAST = 4.5
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
#: Statuses whose plan still counts: a lapsed subscription (unpaid, cancelled) shows the default look.
_ENTITLED_STATUSES = frozenset({AccountStatus.ACTIVE, AccountStatus.PAST_DUE})


class BrandingNotInPlanError(ForbiddenError):
    """The account's plan does not include custom branding.

    Stand-in until the 402 ``PaymentRequiredError`` class lands (another helper adds it): this
    maps to 403 with code ``plan_upgrade_required`` and names the plan that unlocks branding.
    """

    code = "plan_upgrade_required"


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_color: str) -> float:
    """WCAG relative luminance of ``#rrggbb`` (0 black … 1 white)."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_with_white(hex_color: str) -> float:
    """The WCAG contrast ratio of white text on ``hex_color`` (1 … 21)."""
    return 1.05 / (relative_luminance(hex_color) + 0.05)


def normalize_accent(value: str) -> str:
    """``#RRGGBB`` (or ``RRGGBB``), lower-cased, that white text reads well on.

    Raises
    ------
    InvalidInputError
        Not a six-digit hex colour, or too light for white text (the message gives the ratio).
    """
    match = _HEX.match(value.strip())
    if not match:
        raise InvalidInputError(
            "the accent colour is invalid",
            [FieldIssue("body.accent_color", "must be a colour like #1a73e8 (#RRGGBB)")],
        )
    color = f"#{match.group(1).lower()}"
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        raise InvalidInputError(
            "the accent colour is too light",
            [
                FieldIssue(
                    "body.accent_color",
                    f"white text on {color} has a contrast of {ratio:.2f}:1; the call-to-action button "
                    f"needs at least {MIN_CONTRAST}:1, so pick a darker colour",
                )
            ],
        )
    return color


def darker(hex_color: str, factor: float = 0.8) -> str:
    """The hover shade of an accent: each channel scaled by ``factor``."""
    r, g, b = (round(int(hex_color[i : i + 2], 16) * factor) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def entitled(account: Account) -> bool:
    """Whether the account's current plan (and standing) shows custom branding."""
    return spec(account.plan).branding and account.status in _ENTITLED_STATUSES


def ensure_entitled(account: Account) -> None:
    """Refuse to change branding on a plan without it, naming the plan that unlocks it.

    Raises
    ------
    BrandingNotInPlanError
        The plan lacks the entitlement (or the subscription has lapsed).
    """
    if entitled(account):
        return
    unlock = cheapest_with("branding")
    title = spec(account.plan).title
    upgrade = f"upgrade to {unlock.title} (${unlock.monthly_price_usd}/mo) or above" if unlock else "upgrade"
    if spec(account.plan).branding:
        message = f"custom branding needs an active subscription: the {title} plan has lapsed; {upgrade}"
    else:
        message = f"custom branding is not included in the {title} plan: {upgrade} to use it"
    raise BrandingNotInPlanError(message)


@dataclass(frozen=True)
class WatchBrand:
    """What a watch page shows of the account's branding, resolved (``None`` fields: defaults)."""

    logo_url: str | None = None
    accent: str | None = None
    accent_dark: str | None = None
    show_badge: bool = True


DEFAULT_LOOK = WatchBrand()


def watch_brand(account: Account, media_url: Callable[[str], str | None]) -> WatchBrand:
    """The look of the account's watch pages: its branding when the plan includes it, else the
    default look with the badge."""
    branding = account.branding
    if branding is None or not entitled(account):
        return DEFAULT_LOOK
    accent = branding.accent_color
    return WatchBrand(
        logo_url=media_url(branding.logo_key) if branding.logo_key else None,
        accent=accent,
        accent_dark=darker(accent) if accent else None,
        show_badge=branding.show_badge,
    )


def logo_key(account_id: str, digest: str, extension: str) -> str:
    """The logo's media-bucket key: under the account's prefix, named by its content (the CDN
    caches images forever, so a new logo is a new key)."""
    return f"{account_id}/branding/logo-{digest}.{extension}"


def update_branding(
    store: AccountBrandingStore,
    accounts_get: Callable[[str], Account],
    account_id: str,
    *,
    accent_color: str | None,
    accent_given: bool,
    show_badge: bool | None,
) -> Branding:
    """Set the accent colour (``None`` with ``accent_given``: back to the default) and the badge.

    Raises
    ------
    BrandingNotInPlanError
        The plan lacks branding.
    InvalidInputError
        A bad or too light accent colour.
    """
    account = accounts_get(account_id)
    ensure_entitled(account)
    current = account.branding or Branding()
    changes: dict[str, object] = {"updated_at": utcnow()}
    if accent_given:
        changes["accent_color"] = normalize_accent(accent_color) if accent_color is not None else None
    if show_badge is not None:
        changes["show_badge"] = show_badge
    branding = current.model_copy(update=changes)
    store.set_branding(account_id, branding)
    return branding


def set_logo(
    store: AccountBrandingStore,
    accounts_get: Callable[[str], Account],
    media: ObjectStore,
    images: ImageNormalizer,
    account_id: str,
    data: bytes,
) -> Branding:
    """Validate, re-encode and store a logo, then point the branding at it (the old one is removed).

    Raises
    ------
    BrandingNotInPlanError
        The plan lacks branding (checked before the image is decoded).
    PayloadTooLargeError, InvalidInputError
        Over 5 MB, or not a usable PNG/JPEG/WebP image (the issue names ``logo``).
    """
    account = accounts_get(account_id)
    ensure_entitled(account)
    check_upload(data, LOGO)
    image = images.normalize(data, LOGO)
    key = logo_key(account_id, image.digest, LOGO.extension)
    media.put_bytes(key, image.data, image.content_type)
    current = account.branding or Branding()
    branding = current.model_copy(update={"logo_key": key, "updated_at": utcnow()})
    store.set_branding(account_id, branding)
    if current.logo_key and current.logo_key != key:
        media.delete_prefix(current.logo_key)
    return branding


def remove_logo(
    store: AccountBrandingStore, accounts_get: Callable[[str], Account], media: ObjectStore, account_id: str
) -> Branding | None:
    """Remove the logo (allowed on any plan: taking branding away is never refused)."""
    account = accounts_get(account_id)
    current = account.branding
    if current is None or current.logo_key is None:
        return current
    branding = current.model_copy(update={"logo_key": None, "updated_at": utcnow()})
    store.set_branding(account_id, branding)
    media.delete_prefix(current.logo_key)
    return branding


def clear_branding(
    store: AccountBrandingStore, accounts_get: Callable[[str], Account], media: ObjectStore, account_id: str
) -> None:
    """Back to the default look: the logo deleted, no accent, the badge on (allowed on any plan)."""
    account = accounts_get(account_id)
    store.set_branding(account_id, None)
    if account.branding is not None and account.branding.logo_key:
        media.delete_prefix(account.branding.logo_key)
