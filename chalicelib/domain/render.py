"""The render pipeline's use cases: a batch of prospects through voice, render and publish.

The state machine (``state_machines/render_campaign.asl.json``) calls one task per step; each
step here is idempotent, because Step Functions retries tasks and a batch can be resumed:

1. :func:`start_batch` (API) claims the campaign (one running batch at a time) and starts an
   execution.
2. :func:`prepare_batch` picks the prospects that need a render (pending, failed, or inputs
   changed), gives each a render version and id, and queues them; a large batch goes to S3 as a
   manifest for a Distributed Map.
3. Per prospect: :func:`begin_prospect` (``queued → synthesizing``, or stop when the batch was
   cancelled or failed past its tolerance), the voice function, :func:`render_prospect`
   (``→ rendering``; submits the MediaConvert job and waits for its callback), :func:`publish_prospect`
   (``→ completed``) — or :func:`fail_prospect` (``→ failed``, with the reason) from any step.
4. :func:`finalize_batch`: the batch's verdict, the campaign's counters, ``batch.completed``.

A prospect's status and its batch's counters move in one transaction
(:meth:`VideoRepository.move`), and only from the state a step expects, so a retried step never
counts twice. MediaConvert's completion comes back as an event (:func:`on_window_event`), which
resumes the waiting task through its token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain import media
from chalicelib.domain.errors import (
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    StorageError,
    TailorcastError,
)
from chalicelib.domain.media import MediaConfig
from chalicelib.domain.models import (
    ACTIVE_BATCH,
    BatchCounters,
    Campaign,
    NameCard,
    OverlayText,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RenderBatchStatus,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    VoiceStatus,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import (
    CampaignRepository,
    CounterMove,
    EventPublisher,
    LexiconRepository,
    MediaCodec,
    MediaJobs,
    ObjectStore,
    ProspectRepository,
    RenderBatchRepository,
    RenderOrchestrator,
    TaskCallbacks,
    VideoRepository,
)
from chalicelib.domain.speech.pronounce import normalize_key

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


# --------------------------------------------------------------------------- inputs


_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_ ]*)\}")


def prospect_values(prospect: Prospect) -> dict[str, str]:
    """What ``{variables}`` a prospect fills in: the standard fields and its custom fields."""
    values = {k: v for k, v in prospect.custom_fields.items()}
    values.update(
        first_name=prospect.first_name,
        last_name=prospect.last_name or "",
        company=prospect.company or "",
        title=prospect.title or "",
    )
    return values


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{variable}`` replaced (unknown or empty ones vanish), spaces tidied."""
    text = _VARIABLE.sub(lambda m: values.get(m.group(1).strip(), ""), template)
    return " ".join(text.split())


def overlay_for(card: NameCard | None, prospect: Prospect) -> OverlayText | None:
    """The prospect's name card, or ``None`` when the campaign has none or it renders empty."""
    if card is None:
        return None
    values = prospect_values(prospect)
    text = fill(card.text, values)[:80]
    if not text:
        return None
    subtitle = fill(card.subtitle, values)[:80] if card.subtitle else ""
    return OverlayText(text=text, subtitle=subtitle or None)


def inputs_hash(campaign: Campaign, prospect: Prospect, lexicon: Mapping[str, str]) -> str:
    """A digest of everything a prospect's video is rendered from: the base, the voice set-up,
    the names and how they are pronounced, the card. Equal digests → the same video."""
    voice = campaign.voice
    names = [prospect.first_name, prospect.last_name or "", prospect.company or ""]
    keys = {normalize_key(n) for n in names if n} | {normalize_key(w) for n in names for w in n.split() if w}
    parts = {
        "base": campaign.base_video.upload_id if campaign.base_video else None,
        "engine": voice.engine.value,
        "voice_id": voice.voice_id,
        "slots": [s.model_dump(mode="json") for s in voice.slots],
        "prepared_at": voice.prepared_at.isoformat() if voice.prepared_at else None,
        "names": names,
        "pronunciation": prospect.pronunciation,
        "lexicon": {k: lexicon[k] for k in sorted(keys) if k in lexicon},
        "card": (o.model_dump(mode="json") if (o := overlay_for(campaign.name_card, prospect)) else None),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def check_renderable(campaign: Campaign) -> None:
    """Raise ``ConflictError`` saying what the seller must do first, if anything."""
    base = campaign.base_video
    if base is None or base.status is not UploadStatus.READY:
        state = "no base video yet" if base is None else f"the base video is {base.status.value}"
        raise ConflictError(
            f"the campaign cannot render: {state}; upload a base video and wait until it is ready"
        )
    voice = campaign.voice
    if voice.status is not VoiceStatus.READY:
        why = voice.error or f"the voice is {voice.status.value}"
        raise ConflictError(f"the campaign cannot render yet: {why}")
    if voice.prepared_upload_id is not None and voice.prepared_upload_id != base.upload_id:
        # The slots are times in the audio the voice was prepared on: a replaced base video's
        # names sit elsewhere, until the voice is prepared again (it starts when the base is ready).
        raise ConflictError(
            "the campaign cannot render yet: the voice is not prepared for the new base video yet "
            "(it starts once the video is ready; POST …/voice/align prepares it now)"
        )


# --------------------------------------------------------------------------- batches


def start_batch(
    ports: RenderPorts,
    account_id: str,
    campaign_id: str,
    prospect_ids: list[str] | None = None,
    force: bool = False,
    tolerated_failure_percent: float | None = None,
) -> RenderBatch:
    """Start rendering the whole campaign (``prospect_ids`` None) or the given prospects.

    Raises
    ------
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
    campaign = ports.campaigns.get(batch.account_id, batch.campaign_id)
    lexicon = {e.key: e.pronunciation for e in ports.lexicon.list(batch.account_id)}
    queued: list[ProspectVideo] = []
    skipped = 0
    for prospect in _selected(ports, batch):
        current = videos.get(prospect.prospect_id)
        digest = inputs_hash(campaign, prospect, lexicon)
        if current is not None and current.batch_id == batch.batch_id and current.status in ACTIVE_VIDEO:
            queued.append(current)  # queued by an earlier try of this step
            continue
        if current is not None and (
            current.status in ACTIVE_VIDEO
            or (current.status is VideoStatus.COMPLETED and current.inputs_hash == digest and not batch.force)
        ):
            skipped += 1
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
            version=current.version if current else 0,
        )
        queued.append(ports.videos.save(video))
    if skipped:
        _set_batch(ports, batch, skipped=skipped)
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


def tolerance_exceeded(batch: RenderBatch) -> bool:
    """More of the finished prospects failed than the batch tolerates (judged from a sample)."""
    c = batch.counters
    finished = c.completed + c.failed
    return finished >= min(MIN_FINISHED_FOR_TOLERANCE, batch.total or 1) and (
        c.failed * 100 > batch.tolerated_failure_percent * finished
    )


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
        **batch.counters.model_dump(),
        "error": batch.error,
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


# --------------------------------------------------------------------------- per prospect


def _transition(
    ports: RenderPorts,
    seen: ProspectVideo,
    allowed: set[VideoStatus] | frozenset[VideoStatus],
    to: VideoStatus,
    **update: Any,
) -> ProspectVideo | None:
    """Move the prospect's render ``seen.render_id`` to ``to`` if it is in an ``allowed`` status,
    moving its batch's counters with it; ``None`` (nothing written) if it is not."""
    for _ in range(8):
        try:
            current = ports.videos.get(seen.account_id, seen.campaign_id, seen.prospect_id)
        except NotFoundError:
            return None
        if current.render_id != seen.render_id or current.status not in allowed:
            return None
        new = current.model_copy(update={"status": to, **update})
        before, after = COUNTER_OF[current.status], COUNTER_OF[to]
        counters = (
            CounterMove(current.batch_id, {before: -1, after: 1})
            if current.batch_id and before != after
            else None
        )
        try:
            return ports.videos.move(new, counters)
        except ConflictError:
            continue  # changed meanwhile (a progress event): read again
    raise ConflictError(f"the render of prospect {seen.prospect_id} is changing too often; retry")


def _video(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str
) -> ProspectVideo:
    video = ports.videos.get(account_id, campaign_id, prospect_id)
    if video.render_id != render_id:
        raise ConflictError(
            f"render {render_id} of prospect {prospect_id} was superseded by {video.render_id}"
        )
    return video


def begin_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, batch_id: str, render_id: str
) -> bool:
    """``queued → synthesizing``; ``False`` if the prospect must not be rendered now (the batch was
    cancelled or exceeded its failure tolerance, or the render is done or superseded)."""
    try:
        video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    except (ConflictError, NotFoundError):
        return False
    if video.status not in ACTIVE_VIDEO:
        return False
    batch = ports.batches.get(account_id, campaign_id, batch_id)
    stop = None
    if batch.status is RenderBatchStatus.CANCELLED:
        stop = "not rendered: the batch was cancelled"
    elif tolerance_exceeded(batch):
        stop = "not rendered: the batch stopped after too many failures"
    if stop is not None:
        _transition(ports, video, {VideoStatus.QUEUED}, VideoStatus.PENDING, error=stop)
        return False
    if video.status is VideoStatus.QUEUED:
        _transition(ports, video, {VideoStatus.QUEUED}, VideoStatus.SYNTHESIZING, synthesizing_at=utcnow())
    return True


@dataclass(frozen=True)
class RenderStep:
    account_id: str
    campaign_id: str
    prospect_id: str
    render_id: str
    window: RenderWindow
    audio_key: str
    task_token: str


def render_prospect(ports: RenderPorts, step: RenderStep) -> str:
    """Submit the prospect's window job (once per render) and leave the task waiting on its
    token; MediaConvert's completion event resumes it. Returns what was done.

    A resumed batch reaches here for renders already submitted: the new token replaces the old
    and, if the job finished meanwhile (its event lost), the task is resumed at once.

    Raises
    ------
    ConflictError
        The render was superseded or is not at this step.
    InvalidInputError, ConflictError
        From :func:`media.prepare_window` (bad window or audio, base not ready).
    ThrottledError, StorageError
        MediaConvert refused or could not be reached (Step Functions retries).
    """
    video = _video(ports, step.account_id, step.campaign_id, step.prospect_id, step.render_id)
    if video.status is VideoStatus.COMPLETED:
        ports.callbacks.succeed(step.task_token, {"job_id": video.job_id, "already": "completed"})
        return "already completed"
    if video.status is VideoStatus.SYNTHESIZING:
        campaign = ports.campaigns.get(step.account_id, step.campaign_id)
        prospect = ports.prospects.get(step.account_id, step.campaign_id, step.prospect_id)
        prepared = _window_job(ports, step, campaign, overlay_for(campaign.name_card, prospect))
        # The token is stored before the job exists, so its completion always finds it.
        moved = _transition(
            ports,
            video,
            {VideoStatus.SYNTHESIZING},
            VideoStatus.RENDERING,
            task_token=step.task_token,
            rendering_at=utcnow(),
            progress=0,
            job_id=None,
            **prepared.fields,
        )
        if moved is None:
            raise ConflictError(f"the render of prospect {step.prospect_id} is no longer waiting to render")
        job_id = ports.jobs.submit(prepared.job)
        _set_job(ports, moved, job_id)
        return "submitted"
    if video.status is not VideoStatus.RENDERING:
        raise ConflictError(
            f"the render of prospect {step.prospect_id} is {video.status.value}, not rendering"
        )
    video = ports.videos.update(
        step.account_id,
        step.campaign_id,
        step.prospect_id,
        lambda v: (
            v.model_copy(update={"task_token": step.task_token}) if v.render_id == step.render_id else None
        ),
    )
    found = ports.jobs.status(video.job_id) if video.job_id else None
    if found is None:  # never submitted, or the service lost it: submit again, same token
        campaign = ports.campaigns.get(step.account_id, step.campaign_id)
        prepared = _window_job(ports, step, campaign, video.overlay)  # the card chosen at first
        _set_job(ports, video, ports.jobs.submit(prepared.job))
        return "resubmitted"
    if found.status == "COMPLETE":
        ports.callbacks.succeed(step.task_token, {"job_id": video.job_id})
        return "job already complete"
    if found.status in ("ERROR", "CANCELED"):
        reason = (
            media.service_error(found.error_message, found.error_code)
            if found.status == "ERROR"
            else "cancelled"
        )
        ports.callbacks.fail(step.task_token, "MediaConvertError", reason)
        return "job already failed"
    return "waiting"


def _window_job(
    ports: RenderPorts, step: RenderStep, campaign: Campaign, overlay: OverlayText | None
) -> media.PreparedWindow:
    request = media.RenderRequest(
        account_id=step.account_id,
        campaign_id=step.campaign_id,
        prospect_id=step.prospect_id,
        window=step.window,
        audio_key=step.audio_key,
        overlay=overlay,
    )
    return media.prepare_window(
        request,
        step.render_id,
        campaign,
        media=ports.media,
        uploads=ports.uploads,
        config=ports.config,
        codec=ports.codec,
    )


def _set_job(ports: RenderPorts, video: ProspectVideo, job_id: str) -> None:
    ports.videos.update(
        video.account_id,
        video.campaign_id,
        video.prospect_id,
        lambda v: v.model_copy(update={"job_id": job_id}) if v.render_id == video.render_id else None,
    )


def publish_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str
) -> ProspectVideo:
    """``rendering → completed``: the prospect's playlists, poster and preview, then ``video.completed``.

    Raises
    ------
    ConflictError
        The render was superseded, or is neither rendering nor completed.
    """
    video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    if video.status is VideoStatus.RENDERING:
        video = complete_render(ports, video)  # may come back failed: a step failed it meanwhile
    if video.status is not VideoStatus.COMPLETED:
        raise ConflictError(
            f"the render of prospect {prospect_id} is {video.status.value}; nothing to publish"
        )
    _publish(ports, account_id, EVENT_VIDEO_COMPLETED, f"{render_id}.completed", video_event(ports, video))
    return video


def complete_render(ports: RenderPorts, video: ProspectVideo) -> ProspectVideo:
    update = media.publish_render(video, ports.media, codec=ports.codec)
    done = _transition(
        ports,
        video,
        {VideoStatus.RENDERING},
        VideoStatus.COMPLETED,
        **update,
        completed_at=utcnow(),
        task_token=None,
        error=None,
    )
    return done or ports.videos.get(video.account_id, video.campaign_id, video.prospect_id)


def failure_reason(error: str, cause: str | None) -> str:
    """A seller-readable reason from a Step Functions error name and cause (a Lambda's cause is
    its JSON error payload)."""
    message = cause or ""
    try:
        payload = json.loads(message)
        if isinstance(payload, dict) and payload.get("errorMessage"):
            message = str(payload["errorMessage"])
    except ValueError:
        pass
    prefix = FAILURE_PREFIX.get(error)
    if prefix and message:
        return f"{prefix}: {message}"
    return prefix or message or error


def fail_prospect(
    ports: RenderPorts, account_id: str, campaign_id: str, prospect_id: str, render_id: str, reason: str
) -> ProspectVideo | None:
    """Any step → ``failed`` with the reason, then ``video.failed``. Nothing if already final."""
    try:
        video = _video(ports, account_id, campaign_id, prospect_id, render_id)
    except (ConflictError, NotFoundError):
        return None
    if video.status in ACTIVE_VIDEO:
        # The job's own error, recorded when its event arrived, says more than the task's cause.
        why = video.error if video.status is VideoStatus.RENDERING and video.error else reason
        video = _transition(
            ports, video, ACTIVE_VIDEO, VideoStatus.FAILED, error=why, failed_at=utcnow(), task_token=None
        ) or ports.videos.get(account_id, campaign_id, prospect_id)
    if video.status is VideoStatus.FAILED:
        _publish(ports, account_id, EVENT_VIDEO_FAILED, f"{render_id}.failed", video_event(ports, video))
    return video


def on_window_event(ports: RenderPorts, event: media.JobEvent) -> str:
    """A window job's state change: progress; or completion/failure, handed to the waiting task
    (or, with no live task — a direct render, a cancelled batch — finished here)."""
    m = event.metadata
    current = ports.videos.get(m["account_id"], m["campaign_id"], m["prospect_id"])
    if current.render_id != m["render_id"] or current.status is not VideoStatus.RENDERING:
        return "ignored"  # superseded by a newer render, or a duplicate event
    if event.status in ("PROGRESSING", "STATUS_UPDATE"):
        if event.percent is None or event.percent <= current.progress:
            return "ignored"
        percent = int(event.percent)

        def change(v: ProspectVideo) -> ProspectVideo | None:
            if (
                v.render_id != current.render_id
                or v.status is not VideoStatus.RENDERING
                or percent <= v.progress
            ):
                return None
            return v.model_copy(update={"progress": percent, "job_id": v.job_id or event.job_id})

        ports.videos.update(current.account_id, current.campaign_id, current.prospect_id, change)
        return "progress"
    waiting = _waiting_task(ports, current)
    if event.status == "COMPLETE":
        if waiting and ports.callbacks.succeed(waiting, {"job_id": event.job_id}):
            return "resumed"
        try:
            done = complete_render(ports, current)
        except (TailorcastError, UnicodeDecodeError, ValueError) as exc:
            logger.exception("publishing the render failed")
            fail_prospect(
                ports,
                current.account_id,
                current.campaign_id,
                current.prospect_id,
                current.render_id,
                f"publishing failed: {exc}",
            )
            return "failed"
        if done.status is not VideoStatus.COMPLETED:
            return "ignored"  # failed meanwhile (a step, or finalize): not ours to announce
        event_id = f"{current.render_id}.completed"
        _publish(ports, current.account_id, EVENT_VIDEO_COMPLETED, event_id, video_event(ports, done))
        return "completed"
    if event.status in ("ERROR", "CANCELED"):
        reason = event.error or "the render was cancelled"
        if waiting:
            ports.videos.update(
                current.account_id,
                current.campaign_id,
                current.prospect_id,
                lambda v: (
                    v.model_copy(update={"error": f"rendering failed: {reason}"})
                    if v.render_id == current.render_id and v.status is VideoStatus.RENDERING
                    else None
                ),
            )
        if waiting and ports.callbacks.fail(waiting, "MediaConvertError", reason):
            return "resumed"
        fail_prospect(
            ports,
            current.account_id,
            current.campaign_id,
            current.prospect_id,
            current.render_id,
            f"rendering failed: {reason}",
        )
        return "failed"
    return "ignored"


def _waiting_task(ports: RenderPorts, video: ProspectVideo) -> str | None:
    """The token of the task waiting for this render, if its batch is still running it. A
    cancelled batch's execution is stopped: its renders in flight are finished here instead."""
    if not video.task_token or video.batch_id is None:
        return None
    try:
        batch = ports.batches.get(video.account_id, video.campaign_id, video.batch_id)
    except NotFoundError:
        return None
    return video.task_token if batch.status in ACTIVE_BATCH else None


def reconcile_video(ports: RenderPorts, video: ProspectVideo) -> ProspectVideo:
    """A render quiet for too long is checked with MediaConvert (its event may have been lost)."""
    if video.status is not VideoStatus.RENDERING or (video.rendering_at is None and video.job_id is None):
        return video
    event = media.lost_event(
        video.job_id,
        video.rendering_at or video.created_at,
        media.window_metadata(video.account_id, video.campaign_id, video.prospect_id, video.render_id),
        ports.jobs,
    )
    if event is None:
        return video
    on_window_event(ports, event)
    return ports.videos.get(video.account_id, video.campaign_id, video.prospect_id)


def video_urls(ports: RenderPorts, video: ProspectVideo) -> dict[str, str | None]:
    def url(name: str | None) -> str | None:
        return ports.media_url(f"{video.prefix}/{name}") if name and video.prefix else None

    return {
        "playlist_url": url(video.master),
        "poster_url": url(video.poster),
        "preview_url": url(video.preview),
        "gif_url": url(video.gif),
    }


def video_event(ports: RenderPorts, video: ProspectVideo) -> dict[str, Any]:
    return {
        "campaign_id": video.campaign_id,
        "prospect_id": video.prospect_id,
        "batch_id": video.batch_id,
        "render_id": video.render_id,
        "render_version": video.render_version,
        "status": video.status.value,
        "error": video.error,
        **video_urls(ports, video),
        "completed_at": video.completed_at.isoformat() if video.completed_at else None,
        "failed_at": video.failed_at.isoformat() if video.failed_at else None,
    }


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
