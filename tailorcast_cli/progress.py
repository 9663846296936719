"""A render batch's live progress in the terminal (``tailorcast render … --watch``, the demo).

Everything shown comes from the API (``GET /campaigns/{id}/batches/{batch_id}``): the counters,
the percent and the ETA the server computes, so the CLI and the web app never disagree.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from rich import box
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from chalicelib.api.renders import BatchOut
from chalicelib.api.videos import VideoOut

#: A batch in these states may still change; any other state is final.
ACTIVE = frozenset({"pending", "running"})
#: Final states that mean the batch did not do what was asked (the CLI exits non-zero).
UNSUCCESSFUL = frozenset({"failed", "cancelled", "interrupted"})
COUNTERS = ("queued", "in_progress", "completed", "failed", "cancelled")


class BatchSource(Protocol):
    """What :func:`watch_batch` needs of :class:`tailorcast_cli.client.TailorcastClient`."""

    def batch(self, campaign_id: str, batch_id: str) -> BatchOut: ...


def eta_text(seconds: float | None) -> str:
    """The API's ``eta_seconds`` as ``1m05s`` / ``42s`` (``—`` when unknown)."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def counters_text(batch: BatchOut) -> str:
    """``queued 3 · in progress 2 · completed 10 · failed 1 · cancelled 0``"""
    c = batch.counters
    return " · ".join(f"{name.replace('_', ' ')} {getattr(c, name)}" for name in COUNTERS)


def watch_batch(
    client: BatchSource,
    campaign_id: str,
    batch_id: str,
    console: Console,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOut:
    """Show a live progress bar until the batch leaves ``pending``/``running``; return it then.

    The bar counts finished prospects (completed + failed) of the batch's total; the percent and
    ETA are the API's. Errors from the client (``ApiError``, ``httpx.HTTPError``) propagate.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[percent]:>5.1f}%"),
        TextColumn("ETA {task.fields[eta]}"),
    )
    bar = _BatchProgress(*columns, console=console, refresh_per_second=4)
    task = bar.add_task("", total=None, percent=0.0, eta="—")

    def show(batch: BatchOut) -> None:
        c = batch.counters
        bar.counters = counters_text(batch)
        bar.update(
            task,
            description=str(batch.status),
            # Before the batch is prepared its total is unknown: an indeterminate bar.
            total=batch.total or None,
            completed=c.completed + c.failed,
            percent=float(batch.percent or 0.0),
            eta=eta_text(batch.eta_seconds),
        )

    batch = client.batch(campaign_id, batch_id)  # an unknown batch fails before a bar is drawn
    show(batch)
    with bar:
        while batch.status in ACTIVE:
            sleep(interval)
            batch = client.batch(campaign_id, batch_id)
            show(batch)
        bar.refresh()
    return batch


class _BatchProgress(Progress):
    """The bar, with the batch's counters on a line of their own (they would not fit beside it
    in an 80-column terminal)."""

    counters = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text(self.counters, style="dim")


def summary_text(batch: BatchOut) -> str:
    """One line for a finished batch, e.g. ``batch bat_… completed: 198 completed, 2 failed``."""
    c = batch.counters
    colour = "green" if batch.status == "completed" and not c.failed else "yellow"
    if batch.status in UNSUCCESSFUL:
        colour = "red"
    parts = [f"{getattr(c, name)} {name.replace('_', ' ')}" for name in COUNTERS if getattr(c, name)]
    if batch.skipped:
        parts.append(f"{batch.skipped} skipped (already rendered from the same inputs)")
    counts = ", ".join(parts) or "nothing to do"
    text = f"[{colour}]batch {batch.batch_id} {batch.status}[/]: {counts}"
    if batch.error:
        text += f"\n[{colour}]{batch.error}[/]"
    return text


def failures_table(items: list[VideoOut]) -> Table:
    """The batch's failed prospects and why (``GET …/batches/{id}/prospects?status=failed``)."""
    table = Table(title=f"Failed prospects ({len(items)})", title_justify="left")
    table.add_column("prospect")
    table.add_column("reason", overflow="fold")
    for item in items:
        table.add_row(item.prospect_id, item.error or "—")
    return table


def batches_table(batches: list[BatchOut]) -> Table:
    """A campaign's batches, newest first (``tailorcast render list``); fits 80 columns."""
    table = Table(
        title="Render batches (times UTC; `render watch` shows a running one's ETA)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("batch", "status", "done", "failed", "started"):
        # Ids are copied from here: never truncated or wrapped.
        table.add_column(column, no_wrap=True, min_width=30 if column == "batch" else None)
    for b in batches:
        c = b.counters
        table.add_row(
            b.batch_id,
            b.status,
            f"{c.completed + c.failed}/{b.total}",
            str(c.failed),
            _time(b.started_at),
        )
    return table


def _time(value: datetime | None) -> str:
    # Timestamps from the API (UTC); to the minute is enough to tell batches apart.
    return value.isoformat().replace("T", " ")[5:16] if value else "—"
