"""The signed-in user's profile, avatar and notification preferences (issue 18, item 6).

Each route acts on the caller's own user only: the ids come from the verified token, never from
the request, so no user can read or change another's profile.
"""

from __future__ import annotations

from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import profile
from chalicelib.domain.account_records import NotificationPreferences, UserProfile
from chalicelib.domain.auth import Principal
from chalicelib.domain.images import IMAGE_CONTENT_TYPES

bp = Blueprint(__name__)


class ProfileUpdate(Strict):
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(
        default=None,
        max_length=40,
        description="an international number; spaces, dashes, dots and parentheses are ignored and it "
        "is stored in E.164 (+14155550123). null clears it",
    )


class ProfileOut(BaseModel):
    user_id: str
    email: str
    role: str
    full_name: str | None
    company: str | None
    phone: str | None = Field(description="E.164")
    avatar_url: str | None = Field(description="null when no avatar, or no media base URL configured")
    updated_at: datetime

    @classmethod
    def of(cls, p: UserProfile, principal: Principal) -> ProfileOut:
        return cls(
            user_id=principal.user_id,
            email=principal.email,
            role=principal.role.value,
            full_name=p.full_name,
            company=p.company,
            phone=p.phone,
            avatar_url=deps.media_url(p.avatar_key) if p.avatar_key else None,
            updated_at=p.updated_at,
        )


class NotificationsUpdate(Strict):
    batch_rendered: bool | None = Field(default=None, description="a render batch has finished")
    trial_ending: bool | None = Field(default=None, description="the trial ends in a few days (owners)")
    payment_failed: bool | None = Field(default=None, description="a renewal payment failed (owners)")
    weekly_digest: bool | None = Field(
        default=None, description="the week's views, plays and CTA clicks, on Mondays (owners)"
    )


@route(bp, "/me/profile", "GET", summary="The signed-in user's profile", response=ProfileOut)
def get_profile(principal: Principal) -> ProfileOut:
    return ProfileOut.of(deps.get_profile_repo().get(principal.account_id, principal.user_id), principal)


@route(
    bp,
    "/me/profile",
    "PATCH",
    summary="Change the signed-in user's name, company or phone (null clears a field)",
    body=ProfileUpdate,
    response=ProfileOut,
)
def patch_profile(principal: Principal, body: ProfileUpdate) -> ProfileOut:
    updated = profile.update_profile(
        deps.get_profile_repo(), principal.account_id, principal.user_id, body.model_dump(exclude_unset=True)
    )
    return ProfileOut.of(updated, principal)


@route(
    bp,
    "/me/profile/avatar",
    "PUT",
    summary="Upload the signed-in user's avatar: the image file as the body (PNG, JPEG or WebP, at most "
    "5 MB); it is decoded, scaled to fit 512x512 and stored re-encoded",
    response=ProfileOut,
    raw_body=IMAGE_CONTENT_TYPES,
)
def put_avatar(principal: Principal, raw: bytes) -> ProfileOut:
    updated = profile.set_avatar(
        deps.get_profile_repo(),
        deps.get_media_store(),
        deps.get_image_normalizer(),
        principal.account_id,
        principal.user_id,
        raw,
    )
    return ProfileOut.of(updated, principal)


@route(bp, "/me/profile/avatar", "DELETE", summary="Remove the signed-in user's avatar", status=204)
def delete_avatar(principal: Principal) -> None:
    profile.remove_avatar(
        deps.get_profile_repo(), deps.get_media_store(), principal.account_id, principal.user_id
    )


@route(
    bp,
    "/me/notifications",
    "GET",
    summary="Which emails the signed-in user gets (each on until turned off)",
    response=NotificationPreferences,
)
def get_notifications(principal: Principal) -> NotificationPreferences:
    return deps.get_profile_repo().get(principal.account_id, principal.user_id).notifications


@route(
    bp,
    "/me/notifications",
    "PATCH",
    summary="Turn email kinds on or off (kinds left out keep their setting)",
    body=NotificationsUpdate,
    response=NotificationPreferences,
)
def patch_notifications(principal: Principal, body: NotificationsUpdate) -> NotificationPreferences:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return profile.update_notifications(
        deps.get_profile_repo(), principal.account_id, principal.user_id, changes
    )
