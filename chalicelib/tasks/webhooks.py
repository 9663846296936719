"""Step Functions task of the ``deliver_webhook`` state machine: one attempt, or giving up.

``deliver`` raises ``WebhookDeliveryError`` when the endpoint did not take the event; the state
machine retries on that error name with backoff, then calls ``give_up`` (from its ``Catch``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import dependencies as deps
from chalicelib.domain import webhooks
from chalicelib.domain.errors import NotFoundError
from chalicelib.observability import log_keys, logger

bp = Blueprint(__name__)


class StepError(BaseModel):
    """What a ``Catch`` with ``ResultPath: $.error`` puts in the state."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    error: str = Field(default="", alias="Error")
    cause: str = Field(default="", alias="Cause")

    def describe(self) -> str:
        """The error in words: a Lambda's ``Cause`` is its JSON error payload; keep the message."""
        message = self.cause
        try:
            payload = json.loads(self.cause)
        except ValueError:
            pass
        else:
            if isinstance(payload, dict) and payload.get("errorMessage"):
                message = str(payload["errorMessage"])
        return f"{self.error}: {message}" if message else self.error


class DeliverWebhookInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["deliver", "give_up"] = "deliver"
    account_id: str = Field(min_length=1)
    endpoint_id: str = Field(min_length=1)
    delivery_id: str = Field(min_length=1)
    error: StepError | None = None


@bp.lambda_function(name="deliver_webhook")
def deliver_webhook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Attempt one delivery (``action: deliver``) or mark it failed (``action: give_up``).

    Returns ``{"delivery_id", "status", "attempts"}``; ``status`` is ``gone`` when the delivery
    no longer exists (its endpoint was deleted).

    Raises
    ------
    WebhookDeliveryError
        The attempt failed and was recorded; Step Functions retries on this error name.
    """
    request = DeliverWebhookInput.model_validate(event)
    log_keys(account_id=request.account_id, endpoint_id=request.endpoint_id, delivery_id=request.delivery_id)
    repo = deps.get_webhook_repo()
    if request.action == "give_up":
        why = request.error.describe() if request.error else "retries exhausted"
        delivery = webhooks.give_up(repo, request.account_id, request.endpoint_id, request.delivery_id, why)
        logger.warning("webhook delivery given up", extra={"reason": why[:200]})
    else:
        try:
            delivery = webhooks.deliver(
                repo=repo,
                http=deps.get_webhook_sender(),
                sealer=deps.get_secret_sealer(),
                account_id=request.account_id,
                endpoint_id=request.endpoint_id,
                delivery_id=request.delivery_id,
            )
        except NotFoundError:
            delivery = None
    if delivery is None:
        return {"delivery_id": request.delivery_id, "status": "gone", "attempts": 0}
    return {
        "delivery_id": delivery.delivery_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
    }
