"""Render batches and their counters."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.models import (
    BatchCountersItem,
    RenderBatchItem,
)
from chalicelib.adapters.dynamodb.repositories._common import (
    _get,
    _is_condition_failure,
    _page,
    _split_campaign_pk,
    _storage_error,
    _version,
    campaign_pk,
    translated,
)
from chalicelib.domain.concurrency import optimistic_update
from chalicelib.domain.errors import (
    ConflictError,
)
from chalicelib.domain.models import (
    BatchCounters,
    Page,
    RenderBatch,
)

logger = logging.getLogger(__name__)


def _batch_from_item(item: RenderBatchItem, counters: BatchCounters | None = None) -> RenderBatch:
    account_id, campaign_id = _split_campaign_pk(item.pk)
    return RenderBatch.model_validate(
        {
            **item.data.as_dict(),
            "account_id": account_id,
            "campaign_id": campaign_id,
            "batch_id": item.sk.removeprefix("BATCH#"),
            "counters": counters or BatchCounters(),
            "version": int(item.version or 0),
        }
    )


def _counters_from_item(item: BatchCountersItem | None) -> BatchCounters:
    if item is None:
        return BatchCounters()
    return BatchCounters(
        queued=int(item.queued or 0),
        in_progress=int(item.in_progress or 0),
        completed=int(item.completed or 0),
        failed=int(item.failed or 0),
        cancelled=int(item.cancelled or 0),
    )


COUNTER_NAMES = tuple(BatchCounters.model_fields)


@translated
class DynamoRenderBatchRepository:
    def add(self, batch: RenderBatch) -> RenderBatch:
        return self.save(batch.model_copy(update={"version": 0}))

    def get(self, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
        pk = campaign_pk(account_id, campaign_id)
        item = _get(RenderBatchItem, pk, f"BATCH#{batch_id}", "render batch", batch_id)
        return _batch_from_item(item, self._counters(pk, batch_id))

    def _counters(self, pk: str, batch_id: str) -> BatchCounters:
        try:
            return _counters_from_item(
                BatchCountersItem.get(pk, f"BATCHCOUNT#{batch_id}", consistent_read=True)
            )
        except BatchCountersItem.DoesNotExist:
            return BatchCounters()

    def list(self, account_id: str, campaign_id: str, limit: int, cursor: str | None) -> Page[RenderBatch]:
        pk = campaign_pk(account_id, campaign_id)
        page = _page(RenderBatchItem, pk, "BATCH#", limit, cursor, _batch_from_item)
        items = [b.model_copy(update={"counters": self._counters(pk, b.batch_id)}) for b in page.items]
        return Page(items=items, cursor=page.cursor)

    def save(self, batch: RenderBatch) -> RenderBatch:
        data = batch.model_dump(
            mode="json", exclude={"account_id", "campaign_id", "batch_id", "counters", "version"}
        )
        record = RenderBatchItem(
            campaign_pk(batch.account_id, batch.campaign_id),
            f"BATCH#{batch.batch_id}",
            status=batch.status.value,
            data=data,
            **_version(batch.version),
        )
        try:
            record.save()
        except PutError as exc:
            if _is_condition_failure(exc):
                raise ConflictError(f"render batch {batch.batch_id!r} was changed concurrently") from exc
            raise _storage_error(exc, "DynamoRenderBatchRepository.save") from exc
        return _batch_from_item(record, batch.counters)

    def update(
        self,
        account_id: str,
        campaign_id: str,
        batch_id: str,
        change: Callable[[RenderBatch], RenderBatch | None],
    ) -> RenderBatch:
        return optimistic_update(lambda: self.get(account_id, campaign_id, batch_id), self.save, change)

    def set_counters(self, account_id: str, campaign_id: str, batch_id: str, counters: BatchCounters) -> None:
        BatchCountersItem(
            campaign_pk(account_id, campaign_id), f"BATCHCOUNT#{batch_id}", **counters.model_dump()
        ).save()
