"""What happens when an upload lands in the uploads bucket (S3 event → this module).

The S3 event is only a hint: the key is parsed, the campaign re-read under the tenant in the
key, and the object itself measured and probed. Duplicate deliveries (S3 is at-least-once) and
out-of-date uploads are harmless.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chalicelib.domain import media, prospects_csv
from chalicelib.domain import uploads as rules
from chalicelib.domain.errors import (
    CampaignBusyError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TailorcastError,
    UploadRejectedError,
)
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CsvImport,
    CsvImportStatus,
    UploadKind,
    UploadStatus,
    VideoProbe,
    utcnow,
)
from chalicelib.domain.ports import (
    AccountRepository,
    CampaignRepository,
    CsvImportRepository,
    MediaProbe,
    ObjectStore,
    ProspectRepository,
    ProspectWriter,
)

logger = logging.getLogger(__name__)

CSV_SNIFF_BYTES = 64 * 1024
#: Seconds to wait, in turn, while another import of the same campaign finishes (a 50,000-row
#: import takes well under a minute); then the upload is rejected with the reason.
HOLD_WAITS: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 30, 30)


@dataclass(frozen=True)
class IngestLimits:
    max_video_bytes: int
    max_video_seconds: float
    max_csv_bytes: int


@dataclass(frozen=True)
class IngestOutcome:
    """What the handler did with one object (returned for logs and tests)."""

    key: str
    kind: UploadKind | None
    status: str
    reason: str | None = None


#: Submits the ladder job for a campaign whose base video just validated; returns the job id.
LadderStarter = Callable[[Campaign], str]


def ingest_upload(
    key: str,
    *,
    accounts: AccountRepository,
    campaigns: CampaignRepository,
    imports: CsvImportRepository,
    prospects: ProspectRepository,
    store: ObjectStore,
    probe: MediaProbe,
    limits: IngestLimits,
    start_ladder: LadderStarter,
) -> IngestOutcome:
    """Validate one uploaded object and record the verdict on its campaign or import.

    A prospects CSV is imported into ``prospects`` (see :func:`_ingest_csv`).

    A valid base video goes on to the ladder encode (status ``processing``); if that cannot
    even be submitted, or anything unexpected breaks, the base ends ``failed`` with a reason,
    never stuck in ``processing``. A pending replacement of a ready base goes the same way, but
    its verdicts stay on ``pending_base_video``: the working base and the campaign's status change
    only when the replacement's ladder is ready (see :mod:`chalicelib.domain.media`).
    """
    try:
        parsed = rules.UploadKey.parse(key)
    except InvalidInputError:
        logger.warning("ignoring object that is not a Tailorcast upload")
        return IngestOutcome(key, None, "ignored", "not an upload key")
    try:
        if parsed.kind is UploadKind.BASE_VIDEO:
            return _ingest_video(
                parsed,
                campaigns=campaigns,
                store=store,
                probe=probe,
                limits=limits,
                start_ladder=start_ladder,
            )
        if parsed.kind is UploadKind.VOICE_SAMPLE:
            # Checked (size, sound, length) when the seller names it as the campaign's sample.
            campaigns.get(parsed.account_id, parsed.campaign_id)
            return IngestOutcome(key, parsed.kind, "received")
        return _ingest_csv(
            parsed,
            accounts=accounts,
            campaigns=campaigns,
            imports=imports,
            prospects=prospects,
            store=store,
            limits=limits,
        )
    except NotFoundError:
        # Campaign deleted (or never requested this upload) before the event arrived.
        logger.info("upload for a missing campaign or import ignored")
        return IngestOutcome(key, parsed.kind, "ignored", "no matching campaign or import")


def _ingest_video(
    key: rules.UploadKey,
    *,
    campaigns: CampaignRepository,
    store: ObjectStore,
    probe: MediaProbe,
    limits: IngestLimits,
    start_ladder: LadderStarter,
) -> IngestOutcome:
    # The upload is the campaign's base video or its pending replacement (see Campaign).
    upload = campaigns.get(key.account_id, key.campaign_id).base_upload(key.upload_id)
    if upload is None:
        return IngestOutcome(key.key, key.kind, "ignored", "superseded by a newer upload")
    if upload.status is not UploadStatus.AWAITING_UPLOAD:
        return IngestOutcome(key.key, key.kind, "ignored", "already validated")  # duplicate delivery

    size: int | None = None
    found: VideoProbe | None = None
    try:
        size = store.head(key.key).size
        rules.check_stored_size(size, limits.max_video_bytes)
        with tempfile.TemporaryDirectory(prefix="tc-ingest-") as tmp:
            local = store.download(key.key, Path(tmp) / key.filename)
            found = probe.probe(local)
        rules.check_video(found, limits.max_video_seconds)
    except UploadRejectedError as exc:
        verdict = _set_base_video(campaigns, key, UploadStatus.REJECTED, size, found, exc.message)
        return IngestOutcome(key.key, key.kind, verdict, exc.message)
    except Exception:
        logger.exception("unexpected failure while validating the base video")
        verdict = _set_base_video(
            campaigns,
            key,
            UploadStatus.FAILED,
            size,
            found,
            "we could not process this video; please upload it again",
        )
        return IngestOutcome(key.key, key.kind, verdict, "internal error")
    verdict = _set_base_video(campaigns, key, UploadStatus.PROCESSING, size, found, None)
    if verdict != UploadStatus.PROCESSING.value:
        return IngestOutcome(key.key, key.kind, verdict)
    try:
        job_id = start_ladder(campaigns.get(key.account_id, key.campaign_id))
    except Exception as exc:
        logger.exception("the ladder job could not be submitted")
        reason = exc.message if isinstance(exc, TailorcastError) else "the encoder is unavailable"
        media.fail_base(
            campaigns, key.account_id, key.campaign_id, key.upload_id, f"encoding failed: {reason}"
        )
        return IngestOutcome(key.key, key.kind, UploadStatus.FAILED.value, reason)
    _record_job(campaigns, key, job_id)
    return IngestOutcome(key.key, key.kind, verdict)


def _record_job(campaigns: CampaignRepository, key: rules.UploadKey, job_id: str) -> None:
    def change(c: Campaign) -> Campaign | None:
        video = c.base_upload(key.upload_id)
        if video is None or video.job_id:
            return None
        return c.with_base_upload(video.model_copy(update={"job_id": job_id}))

    campaigns.update(key.account_id, key.campaign_id, change)


def _set_base_video(
    campaigns: CampaignRepository,
    key: rules.UploadKey,
    status: UploadStatus,
    size: int | None,
    probe: VideoProbe | None,
    reason: str | None,
) -> str:
    applied = status.value

    def change(c: Campaign) -> Campaign | None:
        nonlocal applied
        if c.base_upload(key.upload_id) is None:
            applied = "ignored"  # a newer upload was requested while we were probing
            return None
        video = BaseVideo(
            upload_id=key.upload_id,
            key=key.key,
            filename=key.filename,
            status=status,
            size_bytes=size,
            probe=probe,
            reason=reason,
        )
        # The working base makes the campaign a draft again; a pending replacement leaves the
        # campaign, and the base it renders from, as they are.
        return c.with_base_upload(video).model_copy(update={"updated_at": utcnow()})

    campaigns.update(key.account_id, key.campaign_id, change)
    return applied


def _claim_csv(
    key: rules.UploadKey, *, imports: CsvImportRepository, store: ObjectStore, limits: IngestLimits
) -> CsvImport | IngestOutcome:
    """The import marked ``processing`` (its size checked and its start seen to be text), or what
    happened instead: rejected (recorded on the import), or ignored as a duplicate delivery."""
    record = imports.get(key.account_id, key.campaign_id, key.upload_id)
    if record.status is not CsvImportStatus.AWAITING_UPLOAD:
        return IngestOutcome(key.key, key.kind, "ignored", "already received")
    size = store.head(key.key).size
    try:
        rules.check_stored_size(size, limits.max_csv_bytes)
        prospects_csv.check_text(store.read_prefix(key.key, CSV_SNIFF_BYTES))  # says what it is
        return imports.save(
            record.model_copy(update={"status": CsvImportStatus.PROCESSING, "size_bytes": size})
        )
    except UploadRejectedError as exc:
        imports.save(
            record.model_copy(
                update={
                    "status": CsvImportStatus.REJECTED,
                    "size_bytes": size,
                    "reason": exc.message,
                    "completed_at": utcnow(),
                }
            )
        )
        return IngestOutcome(key.key, key.kind, CsvImportStatus.REJECTED.value, exc.message)
    except ConflictError:
        return IngestOutcome(key.key, key.kind, "ignored", "already received")  # a twin delivery won


def _ingest_csv(
    key: rules.UploadKey,
    *,
    accounts: AccountRepository,
    campaigns: CampaignRepository,
    imports: CsvImportRepository,
    prospects: ProspectRepository,
    store: ObjectStore,
    limits: IngestLimits,
) -> IngestOutcome:
    """Check an uploaded prospects CSV, import its rows, and record the outcome on the import.

    The import is claimed (``processing``, version-checked) before any row is read, so a
    duplicate S3 delivery changes nothing. A file unusable as a whole ends ``rejected`` with the
    reason; otherwise ``completed`` with its counts, row errors and warnings, and the campaign's
    prospect counter grows by the rows imported. Progress is saved every 2,000 rows.
    """
    claimed = _claim_csv(key, imports=imports, store=store, limits=limits)
    if isinstance(claimed, IngestOutcome):
        return claimed
    record = claimed
    tally = prospects_csv.ImportTally()
    parsed: prospects_csv.ProspectsCsv | None = None

    def outcome(**extra: object) -> dict[str, object]:
        update: dict[str, object] = {
            "total_rows": tally.total_rows,
            "imported": tally.imported,
            "duplicates": tally.duplicates,
            "failed": tally.failed,
            "errors": list(tally.errors),
        }
        if parsed is not None:
            update.update(
                encoding=parsed.encoding,
                delimiter=parsed.delimiter,
                mapping=parsed.mapping.as_dict(),
                warnings=list(parsed.warnings),
            )
        return {**update, **extra}

    def save_progress(_: prospects_csv.ImportTally) -> None:
        nonlocal record
        record = imports.save(record.model_copy(update=outcome()))

    status, reason = CsvImportStatus.COMPLETED, None
    limit = accounts.get(key.account_id).prospects_per_campaign
    writer: ProspectWriter | None = None
    try:
        for wait in (*HOLD_WAITS, None):
            try:
                with store.open_stream(key.key) as body:
                    parsed = prospects_csv.read_prospects_csv(body, record.requested_mapping)
                    with prospects.bulk_writer(key.account_id, key.campaign_id, key.upload_id) as writer:
                        prospects_csv.import_prospects(
                            parsed,
                            key.account_id,
                            key.campaign_id,
                            writer,
                            tally=tally,
                            max_prospects=limit,
                            on_progress=save_progress,
                        )
                break
            except CampaignBusyError:
                if wait is None:
                    raise
                logger.info("another import holds the campaign; waiting", extra={"seconds": wait})
                time.sleep(wait)
    except (UploadRejectedError, InvalidInputError) as exc:
        status, reason = CsvImportStatus.REJECTED, exc.message
    except CampaignBusyError as exc:  # another import held the campaign for too long
        status, reason = CsvImportStatus.REJECTED, exc.message
    except Exception:
        # What was imported stays imported (and counted); importing the file again adds the rest.
        logger.exception("the prospects import stopped", extra={"row": tally.last_row})
        status = CsvImportStatus.FAILED
        reason = (
            f"the import stopped at row {tally.last_row:,} because of a problem on our side; upload the "
            "file again to import the rest (prospects already imported are skipped as duplicates)"
        )
    if writer is not None:
        tally.imported = writer.written
    if tally.imported:

        def count_imported(c: Campaign) -> Campaign:
            counters = c.counters.model_copy(update={"prospects": c.counters.prospects + tally.imported})
            return c.model_copy(update={"counters": counters, "updated_at": utcnow()})

        campaigns.update(key.account_id, key.campaign_id, count_imported)
    imports.save(record.model_copy(update=outcome(status=status, reason=reason, completed_at=utcnow())))
    return IngestOutcome(key.key, key.kind, status.value, reason)
