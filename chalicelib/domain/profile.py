"""A user's profile (name, company, phone, avatar) and notification preferences (issue 18, item 6).

Each user edits only their own (the API passes the caller's ids); the avatar is an uploaded image,
decoded and re-encoded (``domain/images.py``) and stored under the account's media prefix.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib.domain.account_records import NotificationPreferences, UserProfile
from chalicelib.domain.errors import InvalidInputError, issues_from_validation
from chalicelib.domain.images import AVATAR, check_upload
from chalicelib.domain.models import utcnow
from chalicelib.domain.ports import ImageNormalizer, ObjectStore, ProfileRepository


def avatar_key(account_id: str, user_id: str, digest: str) -> str:
    """The avatar's media-bucket key: under the account's prefix, named by its content (the CDN
    keeps an image forever, so a new avatar is a new key)."""
    return f"{account_id}/profiles/{user_id}/avatar-{digest}.{AVATAR.extension}"


def update_profile(
    profiles: ProfileRepository, account_id: str, user_id: str, changes: dict[str, Any]
) -> UserProfile:
    """Apply a partial change (``full_name``, ``company``, ``phone``; ``None`` clears a field).

    Raises
    ------
    InvalidInputError
        A field breaks its rule (the phone is not a full international number, a name too long…).
    """
    current = profiles.get(account_id, user_id)
    try:
        updated = UserProfile.model_validate({**current.model_dump(), **changes, "updated_at": utcnow()})
    except ValidationError as exc:
        raise InvalidInputError("the profile is invalid", issues_from_validation(exc, "body")) from exc
    return profiles.save(updated)


def update_notifications(
    profiles: ProfileRepository, account_id: str, user_id: str, changes: dict[str, bool]
) -> NotificationPreferences:
    """Turn email kinds on or off; kinds left out keep their setting."""
    current = profiles.get(account_id, user_id)
    prefs = current.notifications.model_copy(update=changes)
    profiles.save(current.model_copy(update={"notifications": prefs, "updated_at": utcnow()}))
    return prefs


def set_avatar(
    profiles: ProfileRepository,
    media: ObjectStore,
    images: ImageNormalizer,
    account_id: str,
    user_id: str,
    data: bytes,
) -> UserProfile:
    """Validate, re-encode and store the user's avatar; the previous one is removed.

    Raises
    ------
    PayloadTooLargeError
        Over 5 MB.
    InvalidInputError
        Not a usable PNG/JPEG/WebP image (the issue names ``avatar``).
    """
    check_upload(data, AVATAR)
    image = images.normalize(data, AVATAR)
    key = avatar_key(account_id, user_id, image.digest)
    media.put_bytes(key, image.data, image.content_type)
    current = profiles.get(account_id, user_id)
    saved = profiles.save(current.model_copy(update={"avatar_key": key, "updated_at": utcnow()}))
    if current.avatar_key and current.avatar_key != key:
        media.delete_prefix(current.avatar_key)
    return saved


def remove_avatar(
    profiles: ProfileRepository, media: ObjectStore, account_id: str, user_id: str
) -> UserProfile:
    current = profiles.get(account_id, user_id)
    if current.avatar_key is None:
        return current
    saved = profiles.save(current.model_copy(update={"avatar_key": None, "updated_at": utcnow()}))
    media.delete_prefix(current.avatar_key)
    return saved
