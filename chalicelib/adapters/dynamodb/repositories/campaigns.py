"""Campaigns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.adapters.dynamodb.mapping import ItemMapping, to_attribute
from chalicelib.adapters.dynamodb.models import (
    CampaignItem,
)
from chalicelib.adapters.dynamodb.quotas import counted_write
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _page,
    _storage_error,
    _stored,
    account_pk,
    translated,
)
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoredDataError,
    issues_from_validation,
)
from chalicelib.domain.models import (
    Campaign,
    CampaignCounters,
    CampaignVoice,
    NameCard,
    Page,
    VoiceStatus,
    WatchPageSettings,
)
from chalicelib.domain.ports import Quota

logger = logging.getLogger(__name__)

#: The account's campaign counter (``chalicelib.domain.usage.CAMPAIGNS``; adapters may not import
#: the domain's use cases, only its ports and models).
CAMPAIGNS_COUNTER = "campaigns"


# --------------------------------------------------------------------------- campaigns


def _stored_voice(item: CampaignItem) -> CampaignVoice:
    if not item.voice:
        return CampaignVoice()
    voice, reset = _stored(CampaignVoice, item.voice.as_dict(), "voice settings")
    if not reset:
        return voice
    error = f"the saved voice settings were invalid and were cleared ({', '.join(reset)}); set them again"
    return voice.model_copy(update={"status": VoiceStatus.NEEDS_ATTENTION, "error": error})


def _campaign_from_item(item: CampaignItem) -> Campaign:
    try:
        return _campaign_fields(item)
    except (ValidationError, StoredDataError) as exc:
        campaign_id = item.sk.removeprefix("CAMPAIGN#")
        logger.warning("a stored campaign cannot be read", extra={"campaign_id": campaign_id})
        raise StoredDataError(
            f"campaign {campaign_id!r} was saved in a form this version cannot read; delete it and "
            "create it again"
        ) from exc


def _stored_settings(item: CampaignItem) -> dict[str, Any]:
    """The settings read leniently (an invalid field is reset, not fatal) and the counters,
    which the item keeps flat so that they can be added to atomically."""
    return {
        "voice": _stored_voice(item),
        "name_card": _stored(NameCard, item.name_card.as_dict(), "name card")[0] if item.name_card else None,
        "watch_page": (
            _stored(WatchPageSettings, item.watch_page.as_dict(), "watch page settings")[0]
            if item.watch_page
            else WatchPageSettings()
        ),
        "counters": CampaignCounters(
            prospects=int(item.prospects),
            videos_rendered=int(item.videos_rendered),
            videos_failed=int(item.videos_failed),
            views=int(item.views),
        ),
    }


def _flat_settings(c: Campaign) -> dict[str, Any]:
    return {
        "voice": to_attribute(c.voice),
        "name_card": to_attribute(c.name_card),
        "watch_page": to_attribute(c.watch_page),
        **c.counters.model_dump(),
    }


CAMPAIGNS: ItemMapping[Campaign, CampaignItem] = ItemMapping(
    Campaign,
    CampaignItem,
    key=lambda c: (account_pk(c.account_id), f"CAMPAIGN#{c.campaign_id}"),
    ids=lambda item: {
        "account_id": item.pk.removeprefix("ACCOUNT#"),
        "campaign_id": item.sk.removeprefix("CAMPAIGN#"),
    },
    exclude=("voice", "name_card", "watch_page"),
    to_item_extra=_flat_settings,
    from_item_extra=_stored_settings,
)


def _campaign_fields(item: CampaignItem) -> Campaign:
    return CAMPAIGNS.from_item(item)


def _campaign_to_item(c: Campaign) -> CampaignItem:
    try:  # ``model_copy(update=…)`` skips validation: nothing invalid is stored, whatever the path
        Campaign.model_validate(c.model_dump())
    except ValidationError as exc:
        raise InvalidInputError("the campaign is invalid", issues_from_validation(exc, "campaign")) from exc
    return CAMPAIGNS.to_item(c)


@translated
class DynamoCampaignRepository:
    @staticmethod
    def _counter(account_id: str) -> Callable[[], int]:
        """Counts the stored campaigns: where the ``campaigns`` counter starts for an account
        whose campaigns predate it."""
        return lambda: CampaignItem.count(
            account_pk(account_id), CampaignItem.sk.startswith("CAMPAIGN#"), consistent_read=True
        )

    def add(self, campaign: Campaign, quota: Quota | None = None) -> Campaign:
        """Store a new campaign; with ``quota``, counted in the account's ``quota.name`` counter in
        the same transaction (refused at the plan's limit, however many requests race).

        Raises
        ------
        QuotaExceededError, LimitExceededError
            ``quota`` is reached (:meth:`Quota.exceeded`): nothing is stored.
        ConflictError
            The campaign id is taken.
        """
        item = _campaign_to_item(campaign.model_copy(update={"version": 0}))
        if quota is None:
            try:
                item.save()
            except PutError as exc:
                if _is_condition_failure(exc):
                    raise ConflictError(f"campaign {campaign.campaign_id!r} already exists") from exc
                raise _storage_error(exc, "DynamoCampaignRepository.add") from exc
            return _campaign_from_item(item)
        try:
            counted_write(
                campaign.account_id,
                quota,
                +1,
                lambda tx: tx.save(item, condition=CampaignItem.sk.does_not_exist()),
                self._counter(campaign.account_id),
            )
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"campaign {campaign.campaign_id!r} already exists") from exc
            raise _storage_error(exc, "DynamoCampaignRepository.add") from exc
        return _campaign_from_item(item)

    def get(self, account_id: str, campaign_id: str) -> Campaign:
        return _campaign_from_item(
            _get(CampaignItem, account_pk(account_id), f"CAMPAIGN#{campaign_id}", "campaign", campaign_id)
        )

    def list(self, account_id: str, limit: int, cursor: str | None) -> Page[Campaign]:
        return _page(CampaignItem, account_pk(account_id), "CAMPAIGN#", limit, cursor, _campaign_from_item)

    def save(self, campaign: Campaign) -> Campaign:
        item = _campaign_to_item(campaign)
        try:
            item.save()  # VersionAttribute adds `version = :read_version` as the condition
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise _storage_error(exc, "DynamoCampaignRepository.save") from exc
            self.get(campaign.account_id, campaign.campaign_id)  # NotFoundError if deleted
            raise ConflictError("the campaign was changed by someone else; reload it and try again") from exc
        return _campaign_from_item(item)

    def update(
        self, account_id: str, campaign_id: str, change: Callable[[Campaign], Campaign | None]
    ) -> Campaign:
        return optimistic_update(lambda: self.get(account_id, campaign_id), self.save, change)

    def delete(self, account_id: str, campaign_id: str) -> None:
        """Delete the campaign item and count it out of the ``campaigns`` counter, atomically.

        Raises
        ------
        NotFoundError
            There is no such campaign.
        """
        item = CampaignItem(account_pk(account_id), f"CAMPAIGN#{campaign_id}")
        try:
            counted_write(
                account_id,
                Quota(CAMPAIGNS_COUNTER, 0),
                -1,
                lambda tx: tx.delete(item, condition=CampaignItem.pk.exists(), add_version_condition=False),
                self._counter(account_id),
            )
        except TransactWriteError as exc:
            if _is_condition_failure(exc):
                raise NotFoundError("campaign", campaign_id) from exc
            raise _storage_error(exc, "DynamoCampaignRepository.delete") from exc
