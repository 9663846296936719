"""A render batch's use cases: start, prepare, finalize, cancel, resume, and its progress.

A batch is one Step Functions execution over a campaign's prospects: :func:`start_batch` claims the
campaign and starts it, :func:`prepare_batch` queues the prospects that need a render,
:func:`finalize_batch` gives the verdict and frees the campaign; :func:`cancel_batch`,
:func:`resume_batch` and :func:`refresh_batch` are the seller's and the reconciler's handles on it,
:func:`progress` and :func:`batch_event` what the API and webhooks show. Imports :mod:`.common`,
:mod:`.inputs` and :mod:`.prospects` (a batch fails the prospects it left unfinished).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain import usage
from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    TailorcastError,
)
from chalicelib.domain.models import (
    ACTIVE_BATCH,
    Account,
    BatchCounters,
    Campaign,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RenderBatchStatus,
    VideoStatus,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import LedgerMove
from chalicelib.domain.render.common import (
    ACTIVE_VIDEO,
    EVENT_BATCH_COMPLETED,
    RenderPorts,
    _publish,
    _transition,
    tolerance_exceeded,
)
from chalicelib.domain.render.inputs import check_renderable, inputs_hash
from chalicelib.domain.render.prospects import fail_prospect


def start_batch(
    ports: RenderPorts,
    account_id: str,
    campaign_id: str,
    prospect_ids: list[str] | None = None,
    force: bool = False,
    tolerated_failure_percent: float | None = None,
    account: Account | None = None,
) -> RenderBatch:
    """Start rendering the whole campaign (``prospect_ids`` None) or the given prospects.

    Each video is reserved in the account's ledger when the batch queues it (:func:`prepare_batch`);
    here a batch is refused outright when the period's videos are all used or reserved, unless it
    forces re-renders (those of unchanged prospects cost nothing, so some may still go through).
    ``account`` is the caller's account when it has it already (the API reads it with the user).

    Raises
    ------
    QuotaExceededError
        (402) No video is left in the period (``used + reserved >= limit``): nothing is started.
    NotFoundError
        The campaign is not this account's.
    InvalidInputError
        A given prospect id is not in the campaign (the field names its position).
    ConflictError
        The campaign is not ready to render, or another batch is still running.
    StorageError
        Step Functions refused to start (the batch is marked failed and the campaign freed).
    """
    campaign = ports.campaigns.get(account_id, campaign_id)
    check_renderable(campaign)
    if not force:
        account = account if account is not None else ports.accounts.get(account_id)
        taken = ports.ledger.videos(account_id, usage.period_key(account)).taken
        if taken >= usage.video_limit(account):
            raise usage.videos_exceeded(account, taken)
    if prospect_ids is not None:
        issues = []
        for i, prospect_id in enumerate(prospect_ids):
            try:
                ports.prospects.get(account_id, campaign_id, prospect_id)
            except NotFoundError:
                issues.append(
                    FieldIssue(f"body.prospect_ids.{i}", f"no prospect {prospect_id!r} in this campaign")
                )
        if issues:
            raise InvalidInputError("unknown prospects", issues)
    batch = RenderBatch(
        account_id=account_id,
        campaign_id=campaign_id,
        batch_id=new_id("bat"),
        prospect_ids=list(dict.fromkeys(prospect_ids)) if prospect_ids is not None else None,
        force=force,
        **(
            {}
            if tolerated_failure_percent is None
            else {"tolerated_failure_percent": tolerated_failure_percent}
        ),
    )

    def claim(c: Campaign) -> Campaign | None:
        if c.active_batch_id is not None:
            raise ConflictError(
                f"render batch {c.active_batch_id} is still running for this campaign; "
                "wait for it, or cancel it first"
            )
        return c.model_copy(update={"active_batch_id": batch.batch_id})

    ports.campaigns.update(account_id, campaign_id, claim)
    try:
        batch = ports.batches.add(batch)
    except TailorcastError:
        _release(ports, batch)
        raise
    try:
        arn = ports.orchestrator.start(batch, attempt=1)
    except TailorcastError as exc:
        _set_batch(ports, batch, status=RenderBatchStatus.FAILED, error=str(exc), finished_at=utcnow())
        _release(ports, batch)
        raise
    return _running(ports, batch, execution_arn=arn, executions=1, started_at=utcnow())


def _set_batch(ports: RenderPorts, batch: RenderBatch, **update: Any) -> RenderBatch:
    def change(b: RenderBatch) -> RenderBatch:
        return b.model_copy(update={**update, "updated_at": utcnow()})

    return ports.batches.update(batch.account_id, batch.campaign_id, batch.batch_id, change)


def _running(ports: RenderPorts, batch: RenderBatch, **update: Any) -> RenderBatch:
    """Record a started execution. Only a batch still waiting for it becomes ``running``: a quick
    execution (nothing to render) may already have finalized it, and its verdict stands."""
    now = utcnow()

    def change(b: RenderBatch) -> RenderBatch:
        if b.status in (RenderBatchStatus.PENDING, RenderBatchStatus.INTERRUPTED):
            return b.model_copy(update={**update, "status": RenderBatchStatus.RUNNING, "updated_at": now})
        return b.model_copy(update={k: update[k] for k in ("execution_arn", "executions")})

    return ports.batches.update(batch.account_id, batch.campaign_id, batch.batch_id, change)


def _release(ports: RenderPorts, batch: RenderBatch) -> None:
    """Free the campaign for the next batch (if this batch still holds it)."""

    def change(c: Campaign) -> Campaign | None:
        return c.model_copy(update={"active_batch_id": None}) if c.active_batch_id == batch.batch_id else None

    with contextlib.suppress(NotFoundError):  # the campaign was deleted
        ports.campaigns.update(batch.account_id, batch.campaign_id, change)


@dataclass(frozen=True)
class PreparedBatch:
    total: int
    mode: str  # inline | distributed | empty
    items: list[dict[str, str]]  # inline: each prospect's ids; distributed: empty
    manifest_key: str | None
    concurrency: int

    def as_dict(self, bucket: str) -> dict[str, Any]:
        out: dict[str, Any] = {"total": self.total, "mode": self.mode, "concurrency": self.concurrency}
        if self.mode == "distributed":
            out["manifest"] = {"Bucket": bucket, "Key": self.manifest_key}
        else:
            out["items"] = self.items
        return out


def batch_videos(
    ports: RenderPorts,
    account_id: str,
    campaign_id: str,
    batch_id: str,
    statuses: set[VideoStatus] | frozenset[VideoStatus] | None = None,
) -> Iterator[ProspectVideo]:
    """The renders this batch made (or is making), optionally only those in ``statuses``."""
    for video in ports.videos.list_campaign(account_id, campaign_id):
        if video.batch_id == batch_id and (statuses is None or video.status in statuses):
            yield video


def manifest_key(batch: RenderBatch) -> str:
    return f"{batch.account_id}/{batch.campaign_id}/batches/{batch.batch_id}/manifest.json"


def prepare_batch(
    ports: RenderPorts, account_id: str, campaign_id: str, batch_id: str, inline_max: int, concurrency: int
) -> PreparedBatch:
    """Queue the batch's prospects (first run) or pick up its unfinished ones (a retry or resume).

    Prospects are skipped when their video is already rendered from the same inputs (unless the
    batch forces it) or is being rendered by another batch.
    """
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    if batch.status not in ACTIVE_BATCH:
        return PreparedBatch(0, "empty", [], None, concurrency)
    first = batch.prepared_at is None
    if first:
        videos = {v.prospect_id: v for v in ports.videos.list_campaign(account_id, campaign_id)}
        queued = _queue(ports, batch, videos)
        ports.batches.set_counters(account_id, campaign_id, batch_id, BatchCounters(queued=len(queued)))
    else:
        queued = []
        for video in batch_videos(ports, account_id, campaign_id, batch_id, ACTIVE_VIDEO):
            if video.status is VideoStatus.SYNTHESIZING:  # interrupted mid-voice: start it again
                video = _transition(ports, video, {VideoStatus.SYNTHESIZING}, VideoStatus.QUEUED) or video
            queued.append(video)
    items = [{"prospect_id": v.prospect_id, "render_id": v.render_id} for v in queued]
    mode = "empty" if not items else "distributed" if len(items) > inline_max else "inline"
    if first:
        # `skipped` was stored by _queue: `batch` here predates it, so it is not written back.
        _set_batch(ports, batch, total=len(items), prepared_at=utcnow(), mode=mode)
    if mode == "distributed":
        key = manifest_key(batch)
        ports.media.put_bytes(key, json.dumps(items).encode(), "application/json")
        return PreparedBatch(len(items), mode, [], key, concurrency)
    return PreparedBatch(len(items), mode, items, None, concurrency)


def _queue(ports: RenderPorts, batch: RenderBatch, videos: dict[str, ProspectVideo]) -> list[ProspectVideo]:
    """Queue each selected prospect that needs a render, reserving its video in the account's
    ledger in the same transaction (:class:`LedgerMove`). When the ledger is full the rest are
    refused: left exactly as they were (nothing lost), counted in the batch's ``refused`` with the
    reason, to be rendered by a later batch once the plan or the period allows. Re-renders of
    unchanged prospects (``force``) cost nothing and are queued whatever the ledger says."""
    campaign = ports.campaigns.get(batch.account_id, batch.campaign_id)
    account = ports.accounts.get(batch.account_id)
    period, limit = usage.period_key(account), usage.video_limit(account)
    lexicon = {e.key: e.pronunciation for e in ports.lexicon.list(batch.account_id)}
    queued: list[ProspectVideo] = []
    skipped = refused = 0
    refusal: QuotaExceededError | None = None
    for prospect in _selected(ports, batch):
        current = videos.get(prospect.prospect_id)
        digest = inputs_hash(campaign, prospect, lexicon)
        if current is not None and current.batch_id == batch.batch_id and current.status in ACTIVE_VIDEO:
            queued.append(current)  # queued by an earlier try of this step
            continue
        unchanged = (
            current is not None and current.status is VideoStatus.COMPLETED and current.inputs_hash == digest
        )
        if current is not None and (current.status in ACTIVE_VIDEO or (unchanged and not batch.force)):
            skipped += 1
            continue
        if refusal is not None and not unchanged:
            refused += 1
            continue
        video = ProspectVideo(
            account_id=batch.account_id,
            campaign_id=batch.campaign_id,
            prospect_id=prospect.prospect_id,
            render_id=new_id("rnd"),
            render_version=(current.render_version + 1) if current else 1,
            status=VideoStatus.QUEUED,
            batch_id=batch.batch_id,
            inputs_hash=digest,
            queued_at=utcnow(),
            quota_period=None if unchanged else period,
            version=current.version if current else 0,
        )
        ledger = None if unchanged else LedgerMove(batch.account_id, period, "reserve", limit)
        try:
            queued.append(ports.videos.move(video, None, ledger))
        except QuotaExceededError as exc:
            refusal = usage.videos_exceeded(account, exc.used)
            refused += 1
    if skipped or refused:
        _set_batch(
            ports,
            batch,
            skipped=skipped,
            refused=refused,
            refused_reason=refusal.message if refusal is not None else None,
        )
    return queued


def _selected(ports: RenderPorts, batch: RenderBatch) -> Iterator[Prospect]:
    if batch.prospect_ids is not None:
        for prospect_id in batch.prospect_ids:
            try:
                yield ports.prospects.get(batch.account_id, batch.campaign_id, prospect_id)
            except NotFoundError:
                continue  # deleted since the batch started
        return
    cursor: str | None = None
    while True:
        page = ports.prospects.list(batch.account_id, batch.campaign_id, 100, cursor)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor


def finalize_batch(
    ports: RenderPorts, account_id: str, campaign_id: str, batch_id: str, error: str | None = None
) -> RenderBatch:
    """Close the batch: its verdict, the campaign's counters, and ``batch.completed``."""
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    if batch.status in ACTIVE_BATCH:
        status, reason = RenderBatchStatus.COMPLETED, None
        if error:
            status, reason = RenderBatchStatus.FAILED, error
        elif tolerance_exceeded(batch):
            c = batch.counters
            status = RenderBatchStatus.FAILED
            reason = (
                f"stopped: {c.failed} of {c.completed + c.failed} finished prospects failed, "
                f"more than the {batch.tolerated_failure_percent:g}% this batch tolerates"
            )
        batch = _set_batch(ports, batch, status=status, error=reason, finished_at=utcnow())
        # A prospect the Map left unfinished (its own failure step failed, or the batch failed)
        # is failed here, never left "in progress" for ever.
        left = f"the render did not finish: {reason}" if reason else "the render did not finish"
        for video in batch_videos(ports, account_id, campaign_id, batch_id, ACTIVE_VIDEO):
            fail_prospect(ports, account_id, campaign_id, video.prospect_id, video.render_id, left)
        batch = ports.batches.get(account_id, campaign_id, batch_id)
    _release(ports, batch)
    _recount_campaign(ports, account_id, campaign_id)
    _publish(ports, account_id, EVENT_BATCH_COMPLETED, f"{batch_id}.{batch.status.value}", batch_event(batch))
    return batch


def _recount_campaign(ports: RenderPorts, account_id: str, campaign_id: str) -> None:
    done = failed = 0
    for video in ports.videos.list_campaign(account_id, campaign_id):
        done += video.status is VideoStatus.COMPLETED
        failed += video.status is VideoStatus.FAILED

    def change(c: Campaign) -> Campaign | None:
        if (c.counters.videos_rendered, c.counters.videos_failed) == (done, failed):
            return None
        counters = c.counters.model_copy(update={"videos_rendered": done, "videos_failed": failed})
        return c.model_copy(update={"counters": counters})

    with contextlib.suppress(NotFoundError):
        ports.campaigns.update(account_id, campaign_id, change)


def cancel_batch(ports: RenderPorts, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
    """Stop new work: the execution stops, prospects not yet rendering go back to ``pending``.
    Renders already submitted finish and publish; completed videos stay.

    Raises
    ------
    ConflictError
        The batch has already finished.
    """
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    if batch.status not in ACTIVE_BATCH:
        raise ConflictError(f"the batch is already {batch.status.value}")
    batch = _set_batch(ports, batch, status=RenderBatchStatus.CANCELLED, finished_at=utcnow())
    if batch.execution_arn:
        ports.orchestrator.stop(batch.execution_arn, "cancelled by the seller")
    not_started = {VideoStatus.QUEUED, VideoStatus.SYNTHESIZING}
    for video in batch_videos(ports, account_id, campaign_id, batch_id, not_started):
        _transition(
            ports, video, not_started, VideoStatus.PENDING, error="not rendered: the batch was cancelled"
        )
    _release(ports, batch)
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    _publish(ports, account_id, EVENT_BATCH_COMPLETED, f"{batch_id}.cancelled", batch_event(batch))
    return batch


def resume_batch(ports: RenderPorts, account_id: str, campaign_id: str, batch_id: str) -> RenderBatch:
    """Start a new execution for a batch whose orchestration stopped before it finished.

    Raises
    ------
    ConflictError
        The batch finished, or its execution is still running.
    """
    batch = refresh_batch(ports, ports.batches.get(account_id, campaign_id, batch_id))
    if batch.status is not RenderBatchStatus.INTERRUPTED:
        state = "still running" if batch.status in ACTIVE_BATCH else f"already {batch.status.value}"
        raise ConflictError(f"only an interrupted batch can be resumed; this one is {state}")
    attempt = batch.executions + 1
    arn = ports.orchestrator.start(batch, attempt=attempt)
    return _running(ports, batch, execution_arn=arn, executions=attempt, error=None)


def refresh_batch(ports: RenderPorts, batch: RenderBatch) -> RenderBatch:
    """A running batch whose execution is gone or ended without finishing it is ``interrupted``."""
    if batch.status is not RenderBatchStatus.RUNNING or batch.execution_arn is None:
        return batch
    state = ports.orchestrator.status(batch.execution_arn)
    if state == "RUNNING":
        return batch
    why = (
        "its execution is gone (the stack was restarted)"
        if state is None
        else f"its execution {state.lower()}"
    )
    return _set_batch(
        ports,
        batch,
        status=RenderBatchStatus.INTERRUPTED,
        error=f"the batch stopped before finishing: {why}; resume it",
    )


@dataclass(frozen=True)
class Progress:
    percent: float
    finished: int
    remaining: int
    eta_seconds: float | None


def progress(batch: RenderBatch, now: datetime | None = None) -> Progress:
    """Percent of the batch's prospects finished (completed or failed), and an ETA from the rate
    so far. A prospect still rendering counts as not finished: the figure never gets stuck."""
    c = batch.counters
    finished = c.completed + c.failed
    remaining = max(0, batch.total - finished - c.cancelled)
    if batch.total == 0:  # nothing to render, or not prepared yet (just started): not "done"
        percent = 100.0 if batch.prepared_at is not None else 0.0
    else:
        percent = round(100.0 * (finished + c.cancelled) / batch.total, 1)
    eta: float | None = None
    if batch.status is RenderBatchStatus.RUNNING and batch.started_at and finished and remaining:
        elapsed = ((now or utcnow()) - batch.started_at).total_seconds()
        eta = round(elapsed / finished * remaining, 1)
    elif remaining == 0 and batch.status not in ACTIVE_BATCH:
        eta = 0.0
    return Progress(percent, finished, remaining, eta)


def batch_event(batch: RenderBatch) -> dict[str, Any]:
    return {
        "campaign_id": batch.campaign_id,
        "batch_id": batch.batch_id,
        "status": batch.status.value,
        "total": batch.total,
        "skipped": batch.skipped,
        "refused": batch.refused,
        "refused_reason": batch.refused_reason,
        **batch.counters.model_dump(),
        "error": batch.error,
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }
