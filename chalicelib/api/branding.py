"""Custom branding of the account's watch pages (issue 18, item 3): Pro and Agency plans.

Reading it is open to every plan (the console shows what would apply); setting it on a plan
without branding is refused with the plan that unlocks it; removing it is always allowed.
"""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import branding
from chalicelib.domain.auth import Principal
from chalicelib.domain.images import IMAGE_CONTENT_TYPES
from chalicelib.domain.models import Account
from chalicelib.domain.plans import cheapest_with

bp = Blueprint(__name__)


class BrandingUpdate(Strict):
    accent_color: str | None = Field(
        default=None,
        max_length=7,
        description="#RRGGBB for the call-to-action button; white text must reach a 4.5:1 contrast on it. "
        "null: back to the default",
    )
    show_badge: bool | None = Field(default=None, description='show the "made with Tailorcast" badge')


class BrandingOut(BaseModel):
    entitled: bool = Field(description="the plan shows this branding on watch pages now")
    unlocked_by: str | None = Field(description="the cheapest plan with branding, when this one lacks it")
    logo_url: str | None
    accent_color: str | None
    show_badge: bool
    updated_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> BrandingOut:
        b = account.branding
        entitled = branding.entitled(account)
        unlock = cheapest_with("branding")
        return cls(
            entitled=entitled,
            unlocked_by=None if entitled or unlock is None else unlock.plan.value,
            logo_url=deps.media_url(b.logo_key) if b and b.logo_key else None,
            accent_color=b.accent_color if b else None,
            show_badge=b.show_badge if b else True,
            updated_at=b.updated_at if b else None,
        )


def _account(account_id: str) -> Account:
    return deps.get_account_repo().get(account_id)


@route(
    bp,
    "/account/branding",
    "GET",
    summary="The watch pages' branding and whether the plan shows it",
    response=BrandingOut,
)
def get_branding(principal: Principal) -> BrandingOut:
    return BrandingOut.of(_account(principal.account_id))


@route(
    bp,
    "/account/branding",
    "PUT",
    summary="Set the accent colour and the badge (Pro and Agency plans)",
    body=BrandingUpdate,
    response=BrandingOut,
)
def put_branding(principal: Principal, body: BrandingUpdate) -> BrandingOut:
    given = body.model_fields_set
    branding.update_branding(
        deps.get_branding_store(),
        _account,
        principal.account_id,
        accent_color=body.accent_color,
        accent_given="accent_color" in given,
        show_badge=body.show_badge,
    )
    return BrandingOut.of(_account(principal.account_id))


@route(
    bp,
    "/account/branding",
    "DELETE",
    summary="Back to the default look (logo removed, default colour, badge shown)",
    status=204,
)
def delete_branding(principal: Principal) -> None:
    branding.clear_branding(deps.get_branding_store(), _account, deps.get_media_store(), principal.account_id)


@route(
    bp,
    "/account/branding/logo",
    "PUT",
    summary="Upload the watch pages' logo: the image file as the body (PNG, JPEG or WebP, at most 5 MB; "
    "Pro and Agency plans); it is decoded, scaled to fit 1200x400 and stored as PNG",
    response=BrandingOut,
    raw_body=IMAGE_CONTENT_TYPES,
)
def put_logo(principal: Principal, raw: bytes) -> BrandingOut:
    branding.set_logo(
        deps.get_branding_store(),
        _account,
        deps.get_media_store(),
        deps.get_image_normalizer(),
        principal.account_id,
        raw,
    )
    return BrandingOut.of(_account(principal.account_id))


@route(bp, "/account/branding/logo", "DELETE", summary="Remove the watch pages' logo", status=204)
def delete_logo(principal: Principal) -> None:
    branding.remove_logo(deps.get_branding_store(), _account, deps.get_media_store(), principal.account_id)
