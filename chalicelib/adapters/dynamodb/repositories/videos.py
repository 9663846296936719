"""Prospect videos, moved between statuses together with the campaign's counters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import (
    BatchCountersItem,
    ProspectItem,
    VideoItem,
)
from chalicelib.adapters.dynamodb.quotas import ATTEMPTS, RETRYABLE, add_ledger_move, ledger_full, pause
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _ProspectGone,
    _split_campaign_pk,
    _storage_error,
    _tx_connection,
    _version,
    campaign_pk,
    translated,
)
from chalicelib.adapters.dynamodb.repositories.prospects import status_key
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import (
    ConflictError,
)
from chalicelib.domain.models import (
    ProspectVideo,
    VideoStatus,
)
from chalicelib.domain.ports import (
    CounterMove,
    LedgerMove,
)

logger = logging.getLogger(__name__)


class _Contended(Exception):
    """The transaction was cancelled by an overlapping one (or throttled): worth another try."""


# --------------------------------------------------------------------------- prospect videos


def _video_from_item(item: VideoItem) -> ProspectVideo:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return ProspectVideo.model_validate(
        {
            **item.data.as_dict(),
            "account_id": account_id,
            "campaign_id": campaign_id,
            "prospect_id": item.sk.removeprefix("VIDEO#"),
            "version": int(item.version or 0),
        }
    )


def _video_status_actions(video: ProspectVideo) -> list[Any]:
    actions = [
        ProspectItem.video_status.set(video.status.value),
        ProspectItem.status_key.set(status_key(video.status, video.prospect_id)),
    ]
    if video.error:
        actions.append(ProspectItem.video_error.set(video.error))
    else:
        actions.append(ProspectItem.video_error.remove())
    if video.status is VideoStatus.COMPLETED and video.completed_at is not None:
        actions.append(ProspectItem.video_generated_at.set(video.completed_at))
    return actions


@translated
class DynamoVideoRepository:
    def get(self, account_id: str, campaign_id: str, prospect_id: str) -> ProspectVideo:
        return _video_from_item(
            _get(
                VideoItem, campaign_pk(account_id, campaign_id), f"VIDEO#{prospect_id}", "video", prospect_id
            )
        )

    @staticmethod
    def _record(video: ProspectVideo) -> VideoItem:
        data = video.model_dump(mode="json", exclude={"account_id", "campaign_id", "prospect_id", "version"})
        return VideoItem(
            campaign_pk(video.account_id, video.campaign_id),
            f"VIDEO#{video.prospect_id}",
            render_id=video.render_id,
            status=video.status.value,
            data=data,
            **_version(video.version),
        )

    def save(self, video: ProspectVideo) -> ProspectVideo:
        return self.move(video, None)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        prospect_id: str,
        change: Callable[[ProspectVideo], ProspectVideo | None],
    ) -> ProspectVideo:
        return optimistic_update(lambda: self.get(account_id, campaign_id, prospect_id), self.save, change)

    def move(
        self, video: ProspectVideo, counters: CounterMove | None, ledger: LedgerMove | None = None
    ) -> ProspectVideo:
        """Store the video, its batch's counter move, its ledger move and its status on the
        prospect, in one transaction (the prospect's copy is what lists filter and sort by). A
        prospect deleted meanwhile is left alone."""
        record = self._record(video)
        with_prospect = True
        attempt = 0
        while True:
            try:
                self._transact(record, video, counters, ledger, with_prospect=with_prospect)
                break
            except _ProspectGone:
                with_prospect = False  # deleted meanwhile: the video alone (no attempt spent)
            except _Contended:
                attempt += 1
                # Renders of one account queued at once all move its ledger item: DynamoDB cancels
                # overlapping transactions (TransactionConflict); the losers try again.
                if attempt >= ATTEMPTS:
                    raise ConflictError("the account's video ledger is busy; try again") from None
                pause(attempt)
        return _video_from_item(record)

    @staticmethod
    def _transact(
        record: VideoItem,
        video: ProspectVideo,
        counters: CounterMove | None,
        ledger: LedgerMove | None,
        *,
        with_prospect: bool,
    ) -> None:
        pk = record.pk
        ledger_at: int | None = None
        try:
            with TransactWrite(connection=_tx_connection()) as tx:
                tx.save(record)
                if counters is not None:
                    tally = BatchCountersItem(pk, f"BATCHCOUNT#{counters.batch_id}")
                    actions = [
                        getattr(BatchCountersItem, name).add(delta) for name, delta in counters.deltas.items()
                    ]
                    tx.update(tally, actions=actions)
                if ledger is not None:
                    ledger_at = 2 if counters is not None else 1
                    add_ledger_move(tx, ledger)
                if with_prospect:  # last, so its cancellation reason is the last one
                    tx.update(
                        ProspectItem(pk, f"PROSPECT#{video.prospect_id}"),
                        actions=_video_status_actions(video),
                        condition=ProspectItem.sk.exists(),
                        add_version_condition=False,  # a status is not an edit of the prospect
                    )
        except TransactWriteError as exc:
            reasons = [r.code if r and r.code != "None" else None for r in exc.cancellation_reasons or []]
            if any(code in RETRYABLE for code in reasons):
                raise _Contended from exc
            logger.info("video move cancelled", extra={"reasons": reasons})
            full = (
                ledger_at is not None
                and len(reasons) > ledger_at
                and reasons[ledger_at] == "ConditionalCheckFailed"
            )
            if ledger is not None and full and reasons[0] is None:
                raise ledger_full(ledger) from exc
            others_fine = not any(code is not None for code in reasons[:-1])
            if with_prospect and reasons and reasons[-1] == "ConditionalCheckFailed" and others_fine:
                raise _ProspectGone from exc
            if _is_condition_failure(exc):
                raise ConflictError(
                    f"the video of prospect {video.prospect_id!r} was changed concurrently"
                ) from exc
            raise _storage_error(exc, "DynamoVideoRepository._transact") from exc

    def delete(self, account_id: str, campaign_id: str, prospect_id: str) -> None:
        VideoItem(campaign_pk(account_id, campaign_id), f"VIDEO#{prospect_id}").delete(
            add_version_condition=False
        )

    def list_campaign(self, account_id: str, campaign_id: str) -> Iterator[ProspectVideo]:
        query = VideoItem.query(
            campaign_pk(account_id, campaign_id), VideoItem.sk.startswith("VIDEO#"), consistent_read=True
        )
        for item in query:
            yield _video_from_item(item)
