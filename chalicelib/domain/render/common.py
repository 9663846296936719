"""The render pipeline's shared vocabulary: its ports, constants and the moves every step shares.

:class:`RenderPorts` (everything a step touches), the statuses and counters a prospect's render moves
through, the failure tolerance, the webhook event names; :func:`_transition` (a prospect's status
and its batch's counters, moved together and only from an expected state), :func:`tolerance_exceeded`
(judged by both a batch and each prospect) and :func:`_publish` (queue a webhook event). Imports
nothing else from this package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import ConflictError, NotFoundError, StorageError
from chalicelib.domain.media import MediaConfig
from chalicelib.domain.models import ProspectVideo, RenderBatch, VideoStatus
from chalicelib.domain.ports import (
    AccountRepository,
    CampaignRepository,
    CounterMove,
    EventPublisher,
    LedgerMove,
    LexiconRepository,
    MediaCodec,
    MediaJobs,
    ObjectStore,
    ProspectRepository,
    RenderBatchRepository,
    RenderOrchestrator,
    TaskCallbacks,
    UsageLedger,
    VideoRepository,
)

logger = logging.getLogger(__name__)

#: Statuses of a prospect whose render is under way.
ACTIVE_VIDEO = frozenset({VideoStatus.QUEUED, VideoStatus.SYNTHESIZING, VideoStatus.RENDERING})
#: The batch counter each prospect status counts in (``pending`` = never started: cancelled).
COUNTER_OF = {
    VideoStatus.QUEUED: "queued",
    VideoStatus.SYNTHESIZING: "in_progress",
    VideoStatus.RENDERING: "in_progress",
    VideoStatus.COMPLETED: "completed",
    VideoStatus.FAILED: "failed",
    VideoStatus.PENDING: "cancelled",
}
#: The failure tolerance is judged only once this many prospects have finished, so that two
#: early failures do not stop a batch of a thousand.
MIN_FINISHED_FOR_TOLERANCE = 20
#: Error names the state machine reports, and how a seller reads them.
FAILURE_PREFIX = {
    "MediaConvertError": "rendering failed",
    "ThrottledError": "MediaConvert kept throttling the render, even after retries",
    "States.Timeout": "the render did not finish in time",
    "States.TaskFailed": "a step failed",
}
EVENT_VIDEO_COMPLETED = "video.completed"
EVENT_VIDEO_FAILED = "video.failed"
EVENT_BATCH_COMPLETED = "batch.completed"


@dataclass(frozen=True)
class RenderPorts:
    """Everything the pipeline touches, so each step takes one argument for the outside world."""

    campaigns: CampaignRepository
    prospects: ProspectRepository
    videos: VideoRepository
    batches: RenderBatchRepository
    lexicon: LexiconRepository
    media: ObjectStore
    uploads: ObjectStore
    jobs: MediaJobs
    codec: MediaCodec  # decodes the name audio, draws the card, pictures the result
    config: MediaConfig
    orchestrator: RenderOrchestrator
    callbacks: TaskCallbacks
    events: EventPublisher
    media_url: Callable[[str], str | None]  # media bucket key → the URL viewers fetch it from
    accounts: AccountRepository  # the plan and period a render is counted in
    ledger: UsageLedger  # the account's video ledger (read before a batch starts)


def _transition(
    ports: RenderPorts,
    seen: ProspectVideo,
    allowed: set[VideoStatus] | frozenset[VideoStatus],
    to: VideoStatus,
    **update: Any,
) -> ProspectVideo | None:
    """Move the prospect's render ``seen.render_id`` to ``to`` if it is in an ``allowed`` status,
    moving its batch's counters with it; ``None`` (nothing written) if it is not.

    ``seen`` is what the caller just read: the first attempt writes from it without reading again
    (the write is conditional on its version, so a stale ``seen`` only costs a retry that reads)."""
    current: ProspectVideo | None = seen if seen.status in allowed else None
    for _ in range(8):
        if current is None:
            try:
                current = ports.videos.get(seen.account_id, seen.campaign_id, seen.prospect_id)
            except NotFoundError:
                return None
        if current.render_id != seen.render_id or current.status not in allowed:
            return None
        ledger = _ledger_move(current, to)
        release = {"quota_period": None} if ledger is not None and ledger.kind == "release" else {}
        new = current.model_copy(update={"status": to, **update, **release})
        before, after = COUNTER_OF[current.status], COUNTER_OF[to]
        counters = (
            CounterMove(current.batch_id, {before: -1, after: 1})
            if current.batch_id and before != after
            else None
        )
        try:
            return ports.videos.move(new, counters, ledger)
        except ConflictError:
            current = None  # changed meanwhile (a progress event): read again
    raise ConflictError(f"the render of prospect {seen.prospect_id} is changing too often; retry")


def _ledger_move(current: ProspectVideo, to: VideoStatus) -> LedgerMove | None:
    """What a render's move does to the video ledger: a reserved render that completes commits
    its video, one that fails or is cancelled releases it; a render that cost nothing moves none."""
    if current.quota_period is None or current.status not in ACTIVE_VIDEO or to in ACTIVE_VIDEO:
        return None
    kind = "commit" if to is VideoStatus.COMPLETED else "release"
    return LedgerMove(current.account_id, current.quota_period, kind)


def tolerance_exceeded(batch: RenderBatch) -> bool:
    """More of the finished prospects failed than the batch tolerates (judged from a sample)."""
    c = batch.counters
    finished = c.completed + c.failed
    return finished >= min(MIN_FINISHED_FOR_TOLERANCE, batch.total or 1) and (
        c.failed * 100 > batch.tolerated_failure_percent * finished
    )


def _publish(
    ports: RenderPorts, account_id: str, event_type: str, event_id: str, data: dict[str, Any]
) -> None:
    """Queue the webhook deliveries. A failure to queue is raised, so the step is retried; the
    step's own work is already saved and the event id is stable, so the retry only re-queues."""
    try:
        ports.events.publish(account_id, event_type, event_id, data)
    except StorageError:
        logger.exception("could not queue webhook deliveries", extra={"event_type": event_type})
        raise
