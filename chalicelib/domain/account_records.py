"""Entities of a user's profile and settings and of the account's own jobs (issue 18, item 6).

Kept apart from ``models.py`` so the ports can name them without a cycle; the rules that use them
are in ``profile.py``, ``notifications.py``, ``account_export.py`` and ``account_deletion.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import Field, field_validator

from chalicelib.domain.models import Entity, utcnow

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalize_phone(value: str) -> str:
    """A phone number in E.164 (``+14155550123``) from how people write it.

    Spaces, dots, dashes, slashes and parentheses are dropped and an international ``00`` prefix
    becomes ``+``; what is left must be ``+`` and 8 to 15 digits, the first not 0. A number without
    its country code is refused (we cannot guess the country).

    Raises
    ------
    ValueError
        With a message that says what shape is expected (pydantic reports it on the field).
    """
    compact = re.sub(r"[\s().\-/]", "", value.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        raise ValueError("must start with + and the country code, e.g. +14155550123")
    if not _E164.match(compact):
        raise ValueError("must be + and the country code followed by 8 to 15 digits in all (E.164)")
    return compact


class NotificationPreferences(Entity):
    """Which emails the user gets; every kind is on until the user turns it off."""

    batch_rendered: bool = True
    trial_ending: bool = True
    payment_failed: bool = True
    weekly_digest: bool = True


class UserProfile(Entity):
    """A user's profile and notification preferences (one item per user, beside the user)."""

    account_id: str
    user_id: str
    full_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)  # E.164 once validated (at most 16)
    avatar_key: str | None = Field(default=None, max_length=1024)  # media bucket (a public image)
    notifications: NotificationPreferences = Field(default_factory=NotificationPreferences)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value is not None else None


class JobKind(StrEnum):
    EXPORT = "export"
    DELETION = "deletion"


class JobStatus(StrEnum):
    PENDING = "pending"  # recorded, the task not yet running
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # a retry (the same request again) carries on where it stopped


class AccountJob(Entity):
    """An asynchronous job on the whole account: an export (many, by id) or the deletion (one).

    ``step`` is where a deletion stands (each step is idempotent, so a retried task carries on);
    ``key`` is the finished export's object in the private uploads bucket.
    """

    account_id: str
    job_id: str
    kind: JobKind
    status: JobStatus = JobStatus.PENDING
    requested_by: str  # the user id
    step: str | None = None
    key: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
