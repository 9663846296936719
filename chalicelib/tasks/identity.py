"""The user pool's post-confirmation trigger: the confirmed user's account, created once.

Cognito invokes it synchronously after ``ConfirmSignUp`` (and after a password reset, with another
``triggerSource``, which changes nothing here) and requires the event back.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import dependencies as deps
from chalicelib.domain.identity import NewIdentity, onboard
from chalicelib.observability import log_keys, logger

bp = Blueprint(__name__)

CONFIRM_SIGN_UP = "PostConfirmation_ConfirmSignUp"


class UserAttributes(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    sub: str = Field(min_length=1)
    email: str = Field(min_length=3)
    name: str | None = None
    company: str | None = Field(default=None, alias="custom:company")


class PostConfirmationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user_attributes: UserAttributes = Field(alias="userAttributes")


class PostConfirmationEvent(BaseModel):
    """Cognito's event (only what we read; the rest is returned untouched)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    trigger_source: str = Field(alias="triggerSource")
    request: PostConfirmationRequest


@bp.lambda_function(name="on_post_confirmation")
def on_post_confirmation(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = PostConfirmationEvent.model_validate(event)
    if parsed.trigger_source != CONFIRM_SIGN_UP:
        return event  # a confirmed password reset: the user already has their account
    attrs = parsed.request.user_attributes
    user, created = onboard(
        NewIdentity(subject=attrs.sub, email=attrs.email, name=attrs.name, company=attrs.company),
        deps.get_account_repo(),
        deps.get_team_repo(),
    )
    log_keys(account_id=user.account_id)
    logger.info("post-confirmation", extra={"created": created, "role": user.role.value})
    return event
