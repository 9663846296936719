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

The package, by responsibility: :mod:`.common` (the ports, the constants, and the status move,
tolerance check and webhook queueing every step shares), :mod:`.inputs` (what a video is rendered
from), :mod:`.batches` (a batch's use cases) and :mod:`.prospects` (a prospect's steps and
MediaConvert's events). May import: the rest of the domain and the standard library only; inside
the package, ``common`` and ``inputs`` import no sibling, ``prospects`` imports those two, and
``batches`` all three. Callers use the names re-exported here.
"""

from __future__ import annotations

from chalicelib.domain.render.batches import (
    PreparedBatch,
    Progress,
    batch_event,
    batch_videos,
    cancel_batch,
    finalize_batch,
    manifest_key,
    prepare_batch,
    progress,
    refresh_batch,
    resume_batch,
    start_batch,
)
from chalicelib.domain.render.common import (
    ACTIVE_VIDEO,
    COUNTER_OF,
    EVENT_BATCH_COMPLETED,
    EVENT_VIDEO_COMPLETED,
    EVENT_VIDEO_FAILED,
    FAILURE_PREFIX,
    MIN_FINISHED_FOR_TOLERANCE,
    RenderPorts,
    tolerance_exceeded,
)
from chalicelib.domain.render.inputs import (
    check_renderable,
    fill,
    inputs_hash,
    overlay_for,
    prospect_values,
)
from chalicelib.domain.render.prospects import (
    RenderStep,
    begin_prospect,
    complete_render,
    fail_prospect,
    failure_reason,
    on_window_event,
    publish_prospect,
    reconcile_video,
    render_prospect,
    video_event,
    video_urls,
)

__all__ = [
    "ACTIVE_VIDEO",
    "COUNTER_OF",
    "EVENT_BATCH_COMPLETED",
    "EVENT_VIDEO_COMPLETED",
    "EVENT_VIDEO_FAILED",
    "FAILURE_PREFIX",
    "MIN_FINISHED_FOR_TOLERANCE",
    "PreparedBatch",
    "Progress",
    "RenderPorts",
    "RenderStep",
    "batch_event",
    "batch_videos",
    "begin_prospect",
    "cancel_batch",
    "check_renderable",
    "complete_render",
    "fail_prospect",
    "failure_reason",
    "fill",
    "finalize_batch",
    "inputs_hash",
    "manifest_key",
    "on_window_event",
    "overlay_for",
    "prepare_batch",
    "progress",
    "prospect_values",
    "publish_prospect",
    "reconcile_video",
    "refresh_batch",
    "render_prospect",
    "resume_batch",
    "start_batch",
    "tolerance_exceeded",
    "video_event",
    "video_urls",
]
