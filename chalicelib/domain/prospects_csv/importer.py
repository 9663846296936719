"""Importing an opened prospects CSV: every good, new row handed to a writer, and the tally of
what happened (counts, row errors, warnings); or a preview of all that with nothing written.

Prospects leave through the :class:`~chalicelib.domain.ports.ProspectWriter` port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from chalicelib.domain.errors import UploadRejectedError
from chalicelib.domain.models import Prospect, RowError
from chalicelib.domain.prospects_csv.limits import MAX_ROWS, MAX_STORED_ERRORS
from chalicelib.domain.prospects_csv.rows import ProspectsCsv, read_prospects_csv

if TYPE_CHECKING:
    from chalicelib.domain.ports import ProspectWriter


@dataclass
class ImportTally:
    """What an import did so far (kept up to date while it runs, so a failure can record it)."""

    total_rows: int = 0
    imported: int = 0  # prospects stored (a writer's ``written``)
    duplicates: int = 0
    failed: int = 0
    over_limit: int = 0  # good rows not imported because the plan's limit was reached
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0  # all row errors, stored or not
    last_row: int = 1


def import_prospects(
    source: ProspectsCsv,
    account_id: str,
    campaign_id: str,
    writer: ProspectWriter,
    *,
    tally: ImportTally | None = None,
    max_rows: int = MAX_ROWS,
    max_prospects: int | None = None,
    max_errors: int = MAX_STORED_ERRORS,
    on_progress: Callable[[ImportTally], None] | None = None,
    progress_every: int = 2_000,
) -> ImportTally:
    """Validate every row of ``source`` and hand each good, new one to ``writer``.

    Good rows are imported even when others fail. A row whose email (compared case-insensitively)
    is already in the file or in the campaign (``writer.existing``) is a duplicate: counted, not
    written, nothing changed, so importing the same file twice only adds duplicates. Rows after
    ``max_rows`` are counted as failed with one error saying so; so are good rows past
    ``max_prospects`` (the plan's limit on the campaign, prospects already there included).
    Pass ``tally`` to keep the counts reached if a write fails midway; ``on_progress`` is called
    every ``progress_every`` rows.

    Raises
    ------
    UploadRejectedError
        If the file has a header but no prospect rows.
    StorageError
        If the writer could not store a batch (``tally.imported`` counts what was stored).
    """
    tally = tally if tally is not None else ImportTally()
    seen = writer.existing
    room = None if max_prospects is None else max(0, max_prospects - len(seen))
    queued = 0
    records = source.records()
    for row, cells in records:
        tally.last_row = row
        tally.total_rows += 1
        if tally.total_rows > max_rows:
            rest = sum(1 for _ in records)
            tally.total_rows += rest
            tally.failed += rest + 1
            tally.error_count += 1
            skipped = f"rows {row:,} to {source.row:,} were" if rest else f"row {row:,} was"
            tally.errors.append(
                RowError(
                    row=row,
                    field=None,
                    message=f"a file may hold at most {max_rows:,} prospects: {skipped} not imported",
                )
            )
            source.warnings.append(
                f"the file has {tally.total_rows:,} rows, over the {max_rows:,}-row limit: "
                f"only the first {max_rows:,} were imported; split the file and upload the rest"
            )
            break
        found = source.prospect(row, cells, account_id, campaign_id)
        if isinstance(found, list):
            tally.failed += 1
            tally.error_count += len(found)
            room_left = max_errors - len(tally.errors)
            if room_left > 0:
                tally.errors.extend(found[:room_left])
        else:
            key = found.email_key
            if key in seen:
                tally.duplicates += 1
            elif room is not None and queued >= room:
                tally.failed += 1
                tally.over_limit += 1
                if tally.over_limit == 1:
                    tally.error_count += 1
                    tally.errors.append(
                        RowError(
                            row=row,
                            field=None,
                            message=f"the plan allows {max_prospects:,} prospects per campaign: this row "
                            "and the valid rows after it were not imported",
                        )
                    )
            else:
                seen.add(key)
                writer.add(found)
                queued += 1
        if on_progress is not None and tally.total_rows % progress_every == 0:
            tally.imported = writer.written
            on_progress(tally)
    writer.flush()
    tally.imported = writer.written
    source.finish()
    if tally.over_limit and max_prospects is not None:
        source.warnings.append(
            f"{tally.over_limit:,} valid prospects were not imported: the plan allows {max_prospects:,} "
            f"per campaign; {_more_room(max_prospects)} or split them over campaigns"
        )
    if tally.error_count > len(tally.errors):
        source.warnings.append(
            f"{tally.error_count:,} problems were found; only the first {len(tally.errors):,} are listed"
        )
    if tally.total_rows == 0:
        raise UploadRejectedError("the file has column names but no prospects")
    return tally


@dataclass
class Preview:
    """What importing a file would do, with nothing written (see :func:`preview_prospects`)."""

    encoding: str
    delimiter: str
    mapping: dict[str, str]
    total_rows: int
    valid: int  # good rows that would be imported (new, within the limits)
    duplicates: int
    failed: int
    errors: list[RowError]
    warnings: list[str]
    prospects: list[Prospect]  # the first ``sample`` (None: all) of the ``valid`` rows, normalized


class _Sampler:
    """A writer that writes nothing: it counts and keeps the first ``sample`` prospects (or all)."""

    def __init__(self, existing: set[str], sample: int | None) -> None:
        self.existing = existing
        self.written = 0
        self.sample = sample
        self.kept: list[Prospect] = []

    def add(self, prospect: Prospect) -> None:
        self.written += 1
        if self.sample is None or len(self.kept) < self.sample:
            self.kept.append(prospect)

    def flush(self) -> None:
        return None


def preview_prospects(
    stream: IO[bytes],
    *,
    account_id: str = "preview",
    campaign_id: str = "preview",
    mapping: dict[str, str] | None = None,
    existing: set[str] | frozenset[str] = frozenset(),
    sample: int | None = 20,
    max_rows: int = MAX_ROWS,
    max_prospects: int | None = None,
    max_errors: int = MAX_STORED_ERRORS,
) -> Preview:
    """Read a whole file exactly as an import would (same mapping, checks and duplicates against
    ``existing`` emails) and say what it would do, writing nothing.

    Raises
    ------
    UploadRejectedError, InvalidInputError
        As :func:`read_prospects_csv` and :func:`import_prospects` do.
    """
    source = read_prospects_csv(stream, mapping)
    sampler = _Sampler(set(existing), sample)
    tally = import_prospects(
        source,
        account_id,
        campaign_id,
        sampler,
        max_rows=max_rows,
        max_prospects=max_prospects,
        max_errors=max_errors,
    )
    return Preview(
        encoding=source.encoding,
        delimiter=source.delimiter,
        mapping=source.mapping.as_dict(),
        total_rows=tally.total_rows,
        valid=tally.imported,
        duplicates=tally.duplicates,
        failed=tally.failed,
        errors=tally.errors,
        warnings=source.warnings,
        prospects=sampler.kept,
    )


def _more_room(limit: int) -> str:
    """What lifts a limit of ``limit`` prospects per campaign: the cheapest plan with more."""
    from chalicelib.domain.plans import PAID_PLANS

    for plan in PAID_PLANS:
        more = plan.prospects_per_campaign
        if more is None:
            return f"upgrade to {plan.title} (no limit)"
        if more > limit:
            return f"upgrade to {plan.title} ({more:,} per campaign)"
    return "ask us for a larger plan"
