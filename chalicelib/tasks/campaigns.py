"""Step Functions task: load a campaign snapshot into the execution state.

The first state of a render batch; also what the local stack's smoke state machine runs.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib import dependencies as deps
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.observability import log_keys

bp = Blueprint(__name__)


class LoadCampaignInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: str
    campaign_id: str


@bp.lambda_function(name="load_campaign")
def load_campaign(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Return ``{"campaign": …}`` for ``{"account_id", "campaign_id"}``.

    A missing campaign raises ``NotFoundError``; Step Functions sees it as the error name
    ``NotFoundError`` and can Catch it.
    """
    request = LoadCampaignInput.model_validate(event)
    log_keys(account_id=request.account_id, campaign_id=request.campaign_id)
    campaign = owned_campaign(deps.get_campaign_repo(), request.account_id, request.campaign_id)
    # The snapshot is the campaign as the API shows it: everything but the owning account's id.
    return {"campaign": campaign.model_dump(mode="json", exclude={"account_id"})}
