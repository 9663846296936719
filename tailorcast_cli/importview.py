"""A prospects CSV in the terminal: ``tailorcast prospects preview`` and ``prospects import``.

The preview is the product's own import logic run on the file (locally, or through
``POST /campaigns/{id}/imports/preview`` to count duplicates against a campaign); an import's
progress and outcome come from ``GET /campaigns/{id}/imports/{import_id}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from chalicelib.api.schemas import CsvImportOut, ImportPreviewOut, PreviewProspect
from chalicelib.domain import prospects_csv
from chalicelib.domain.models import Prospect, RowError

#: An import in these states is finished.
FINAL = frozenset({"completed", "rejected", "failed"})
#: Columns of the preview's sample table (every field is in ``--json``).
SAMPLE_COLUMNS = ("first_name", "last_name", "email", "company", "title")
SHOWN_ERRORS = 20


class ImportSource(Protocol):
    """What :func:`watch_import` needs of :class:`tailorcast_cli.client.TailorcastClient`."""

    def csv_import(self, campaign_id: str, import_id: str) -> CsvImportOut: ...


def parse_map_options(options: list[str]) -> dict[str, str] | None:
    """``["E-mail=email", "Firma=company"]`` → a mapping override (the last ``=`` splits).

    Raises
    ------
    ValueError
        If an option has no ``=`` or an empty side.
    """
    if not options:
        return None
    mapping: dict[str, str] = {}
    for option in options:
        column, sep, target = option.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValueError(f'--map takes "COLUMN=FIELD", got "{option}"')
        mapping[column.strip()] = target.strip()
    return mapping


def prospect_row(prospect: Prospect) -> PreviewProspect:
    """A normalized prospect as the preview shows it (no ids, no status), as the API does."""
    return PreviewProspect.model_validate(prospect.model_dump(include=set(PreviewProspect.model_fields)))


def local_preview(path: Path, mapping: dict[str, str] | None, sample: int | None) -> ImportPreviewOut:
    """Preview ``path`` with the import's own code, offline: no campaign, so duplicates are only
    those within the file and no plan limit applies.

    Raises
    ------
    UploadRejectedError, InvalidInputError
        The file is unusable as a whole, or ``mapping`` is invalid.
    """
    with path.open("rb") as fh:
        preview = prospects_csv.preview_prospects(fh, mapping=mapping, sample=sample)
    return ImportPreviewOut(
        encoding=preview.encoding,
        delimiter=preview.delimiter,
        mapping=preview.mapping,
        total_rows=preview.total_rows,
        valid=preview.valid,
        duplicates=preview.duplicates,
        failed=preview.failed,
        errors=list(preview.errors),
        warnings=list(preview.warnings),
        prospects=[prospect_row(p) for p in preview.prospects],
    )


def _delimiter_name(delimiter: str | None) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}.get(delimiter or "", repr(delimiter))


def mapping_table(mapping: dict[str, str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="Columns", title_justify="left")
    table.add_column("column in the file")
    table.add_column("becomes")
    for column, target in mapping.items():
        shown = {"custom": "custom field {" + column + "}", "ignore": "ignored"}.get(target, target)
        table.add_row(column, Text(shown, style="dim" if target in ("custom", "ignore") else "bold"))
    return table


def errors_table(errors: list[RowError], total_failed: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"Rows not imported ({total_failed:,})", title_justify="left")
    table.add_column("row", justify="right")
    table.add_column("field")
    table.add_column("why")
    for error in errors[:SHOWN_ERRORS]:
        table.add_row(str(error.row), error.field or "—", error.message)
    if len(errors) > SHOWN_ERRORS:
        table.add_row("…", "", f"and {len(errors) - SHOWN_ERRORS:,} more (--json lists them all)")
    return table


def counts_text(data: ImportPreviewOut | CsvImportOut, valid_label: str) -> Text:
    valid = data.valid if isinstance(data, ImportPreviewOut) else data.imported
    text = Text()
    text.append(f"{data.total_rows:,} rows", style="bold")
    text.append(f" · {valid_label} {valid:,}", style="green")
    text.append(f" · duplicates {data.duplicates:,}")
    text.append(f" · not imported {data.failed:,}", style="red" if data.failed else "")
    text.append(f"   ({data.encoding}, {_delimiter_name(data.delimiter)}-separated)", style="dim")
    return text


def preview_view(data: ImportPreviewOut) -> RenderableType:
    parts: list[RenderableType] = [counts_text(data, "would import"), mapping_table(data.mapping)]
    if data.errors:
        parts.append(errors_table(data.errors, data.failed))
    for warning in data.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    if data.prospects:
        sample = Table(
            box=box.SIMPLE_HEAD, title="First prospects, as they will be stored", title_justify="left"
        )
        for name in SAMPLE_COLUMNS:
            sample.add_column(name)
        for row in data.prospects[:10]:
            sample.add_row(*(str(getattr(row, name) or "") for name in SAMPLE_COLUMNS))
        parts.append(sample)
    return Group(*parts)


def import_view(record: CsvImportOut) -> RenderableType:
    status = record.status
    style = {"completed": "green", "rejected": "red", "failed": "red"}.get(status, "yellow")
    head = Text(f"import {record.import_id}: ", style="bold")
    head.append(status, style=style)
    if record.reason:
        head.append(f" — {record.reason}")
    parts: list[RenderableType] = [head, counts_text(record, "imported")]
    if record.mapping:
        parts.append(mapping_table(record.mapping))
    if record.errors:
        parts.append(errors_table(record.errors, record.failed))
    for warning in record.warnings or []:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def watch_import(
    client: ImportSource,
    campaign_id: str,
    import_id: str,
    total_rows: int | None,
    console: Console,
    *,
    interval: float = 0.3,
    timeout: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CsvImportOut:
    """Follow an import with a progress bar over the file's rows until it finishes; returns it.

    Raises
    ------
    TimeoutError
        If it has not finished after ``timeout`` seconds.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    waited = 0.0
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("importing", total=total_rows, counts="")
        while True:
            record = client.csv_import(campaign_id, import_id)
            counts = (
                f"imported {record.imported:,} · duplicates {record.duplicates:,} · failed {record.failed:,}"
            )
            done = record.status in FINAL
            bar.update(
                task,
                completed=record.total_rows if not done or total_rows is None else total_rows,
                counts=counts,
                description=record.status.replace("_", " "),
            )
            if done:
                return record
            if waited >= timeout:
                raise TimeoutError(f"the import is still {record.status} after {timeout:.0f} s")
            sleep(interval)
            waited += interval
