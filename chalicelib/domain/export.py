"""Export a campaign's prospects for mail merge: a CSV with each prospect's watch link and email
images, and HTML email snippets (the poster or the GIF, linked to the watch page).

Pure: prospects, their videos and the URL settings come in, bytes go out; the use cases at the
bottom read through the ports and store the file for a time-limited download.

**Spreadsheet formula injection** (OWASP "CSV Injection"). A prospect's fields come from a CSV
anyone could have filled in; a cell such as ``=HYPERLINK("http://evil","x")`` in the export would
run as a formula when the seller opens it in Excel, LibreOffice or Google Sheets (data
exfiltration through links, DDE command execution in old Excel). So every exported cell, headers
included, that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, or with one of
the first four (or their fullwidth forms ``＝＋－＠``, which some spreadsheets fold to ASCII)
after leading whitespace, gets a single quote ``'`` in front: spreadsheets then read it as text.
Every cell is also quoted, so a field holding a ``;`` cannot start a new cell in a spreadsheet
whose locale splits on ``;``. The rule has no exceptions: a phone number like ``+1 555 0100`` is
escaped too, as OWASP recommends (a spreadsheet would evaluate it as a formula anyway, and
telling harmless values from formulas is exactly the guess attackers exploit). The price: a
tool that reads the CSV as data shows the quote (``'+1 555 0100``, ``'@Home``); such values are
rare in names and emails.

**Encoding**: UTF-8 with a byte order mark (without it Excel reads UTF-8 as the ANSI code page,
and ``Zoë`` becomes ``ZoÃ«``) and CRLF line ends (RFC 4180), what spreadsheets and mail-merge
tools expect.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TextIO
from urllib.parse import quote, urlsplit

from chalicelib.domain import contact_fields
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.media import PREVIEW_GIF_WIDTH
from chalicelib.domain.models import Campaign, Prospect, ProspectVideo, VideoStatus, new_id, utcnow
from chalicelib.domain.ports import ObjectStore, ProspectRepository, VideoRepository

#: Prospect fields, then what the render made, in the column order mail-merge users expect: the
#: exported contact fields come from the prospect model (see :mod:`chalicelib.domain.contact_fields`).
PROSPECT_COLUMNS = contact_fields.EXPORT_COLUMNS
VIDEO_COLUMNS = ("watch_url", "poster_url", "gif_url", "video_status", "prospect_id")
FIXED_COLUMNS = PROSPECT_COLUMNS + VIDEO_COLUMNS

BOM = "\ufeff"
#: What a spreadsheet reads as the start of a formula, when first (after any whitespace).
FORMULA_TRIGGERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
#: Control characters that start a formula-injection payload when first (OWASP).
_LEADING_CONTROLS = frozenset("\t\r")
#: Invisible characters a payload may hide its trigger behind, besides ``str.isspace`` ones.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")

#: Whitespace and control characters: browsers drop them from URLs before reading the scheme.
_URL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
WATCH_PATH = "/w/"
#: An email snippet's picture fits this box (email bodies are about 600 px wide).
SNIPPET_MAX_WIDTH = 480
SNIPPET_MAX_HEIGHT = 480
_DEFAULT_ASPECT = (16, 9)
EXPORTS_PREFIX = "exports"  # in the private uploads bucket, outside ``uploads/`` (no ingest)


class ExportFormat(StrEnum):
    CSV = "csv"
    HTML = "html"


class SnippetImage(StrEnum):
    """The picture in an email snippet: the poster (a still with a play button: every client
    shows it) or the animated GIF (Outlook on Windows shows its first frame only)."""

    POSTER = "poster"
    GIF = "gif"


CONTENT_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.HTML: "text/html; charset=utf-8"}


# --------------------------------------------------------------------------- cells and URLs


def neutralize_formula(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: a leading ``'`` when it could start a formula.

    See the module's docstring for the rule and why phone numbers are not exempt.
    """
    if not value:
        return value
    if value[0] in _LEADING_CONTROLS:
        return "'" + value
    for char in value:
        if char.isspace() or char in _INVISIBLE:
            continue
        return "'" + value if char in FORMULA_TRIGGERS else value
    return value


def http_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host and nothing a browser would strip
    (whitespace, control characters: ``java\\tscript:`` runs as ``javascript:``), else ``None``."""
    if not url or _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed IPv6 host
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def watch_url(watch_base_url: str | None, watch_token: str) -> str | None:
    """The prospect's watch link, ``{watch_base_url}/w/{token}``; ``None`` without a usable base."""
    base = http_url(watch_base_url)
    if base is None or not watch_token:
        return None
    return f"{base.rstrip('/')}{WATCH_PATH}{quote(watch_token, safe='')}"


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class VideoLinks:
    """What an export needs of a prospect's current render."""

    status: VideoStatus
    poster_url: str | None = None
    gif_url: str | None = None
    has_poster: bool = False  # a completed render with a poster (whether or not it has a URL)
    has_gif: bool = False  # … with a GIF (renders made before GIFs existed have none)


def video_links(
    videos: Iterable[ProspectVideo], media_url: Callable[[str], str | None]
) -> dict[str, VideoLinks]:
    """Prospect id → its render's status and, once completed, its email images' URLs.

    Only these few strings are kept per prospect, so a 50,000-prospect campaign's videos are
    read as a stream, not held.
    """
    links: dict[str, VideoLinks] = {}
    for video in videos:
        if video.status is not VideoStatus.COMPLETED or video.prefix is None:
            links[video.prospect_id] = VideoLinks(video.status)
            continue
        poster = http_url(media_url(f"{video.prefix}/{video.poster}")) if video.poster else None
        gif = http_url(media_url(f"{video.prefix}/{video.gif}")) if video.gif else None
        links[video.prospect_id] = VideoLinks(
            video.status, poster, gif, has_poster=video.poster is not None, has_gif=video.gif is not None
        )
    return links


@dataclass(frozen=True, slots=True, init=False)
class ExportRow:
    """One prospect's row: its contact fields as text (``""`` when unset), then its video's links.

    Built with each of :data:`PROSPECT_COLUMNS` as a keyword (``first_name="Ann"``, …): the row
    holds whatever fields the prospect model exports, so adding one needs no change here.
    """

    prospect_id: str
    contact: Mapping[str, str]  # each of PROSPECT_COLUMNS → its text, in column order
    watch_url: str | None
    poster_url: str | None
    gif_url: str | None
    video_status: VideoStatus
    custom_fields: Mapping[str, str]

    def __init__(
        self,
        *,
        prospect_id: str,
        watch_url: str | None,
        poster_url: str | None,
        gif_url: str | None,
        video_status: VideoStatus,
        custom_fields: Mapping[str, str],
        **contact: str,
    ) -> None:
        if set(contact) != set(PROSPECT_COLUMNS):
            raise TypeError(
                f"an export row takes exactly these contact fields: {', '.join(PROSPECT_COLUMNS)}"
            )
        for name, value in (
            ("prospect_id", prospect_id),
            ("contact", {name: contact[name] for name in PROSPECT_COLUMNS}),
            ("watch_url", watch_url),
            ("poster_url", poster_url),
            ("gif_url", gif_url),
            ("video_status", video_status),
            ("custom_fields", custom_fields),
        ):
            object.__setattr__(self, name, value)

    @property
    def first_name(self) -> str:
        return self.contact["first_name"]

    @property
    def last_name(self) -> str:
        return self.contact["last_name"]

    @property
    def email(self) -> str:
        return self.contact["email"]

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def image_url(self, image: SnippetImage) -> str | None:
        """The snippet's picture; the poster stands in for a GIF the render never made."""
        return (self.gif_url or self.poster_url) if image is SnippetImage.GIF else self.poster_url


@dataclass
class Export:
    """Rows ready to write, the custom fields' columns, and what the seller should know."""

    rows: list[ExportRow]
    custom_columns: dict[str, str]  # custom field → its column (renamed if it clashes)
    warnings: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*FIXED_COLUMNS, *self.custom_columns.values()]


def export_row(prospect: Prospect, links: VideoLinks | None, watch_base_url: str | None) -> ExportRow:
    """One prospect's row; its video status is its render's (the render's own record), else the
    prospect's."""
    contact = {name: _text(getattr(prospect, name)) for name in PROSPECT_COLUMNS}
    return ExportRow(
        prospect_id=prospect.prospect_id,
        watch_url=watch_url(watch_base_url, prospect.watch_token),
        poster_url=links.poster_url if links else None,
        gif_url=links.gif_url if links else None,
        video_status=links.status if links else prospect.video_status,
        custom_fields=dict(prospect.custom_fields),
        **contact,
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)


def build_export(
    prospects: Iterable[Prospect],
    videos: Mapping[str, VideoLinks],
    *,
    watch_base_url: str | None,
    status: VideoStatus | None = None,
) -> Export:
    """The export of ``prospects`` (in their order), optionally only those whose video is in
    ``status``.

    Custom fields become extra columns after the fixed ones: the union over the prospects, in
    the order they first appear. One named like a fixed column (``email``, ``Watch_URL``) is
    renamed ``"<name> (custom)"``. Media cells stay empty for videos that are not completed.
    """
    rows: list[ExportRow] = []
    custom: dict[str, str] = {}
    taken = {c.casefold() for c in FIXED_COLUMNS}
    for prospect in prospects:
        row = export_row(prospect, videos.get(prospect.prospect_id), watch_base_url)
        if status is not None and row.video_status is not status:
            continue
        rows.append(row)
        for name in row.custom_fields:
            if name not in custom:
                custom[name] = _free_column(name, taken)
    return Export(rows, custom, _warnings(rows, videos, watch_base_url))


def _free_column(name: str, taken: set[str]) -> str:
    column, n = name, 1
    while column.casefold() in taken:
        column = f"{name} (custom)" if n == 1 else f"{name} (custom {n})"
        n += 1
    taken.add(column.casefold())
    return column


def _warnings(
    rows: list[ExportRow], videos: Mapping[str, VideoLinks], watch_base_url: str | None
) -> list[str]:
    warnings = []
    if not watch_base_url:
        warnings.append(
            "watch links are empty: no watch site is configured (TAILORCAST_WATCH_BASE_URL is not set)"
        )
    elif http_url(watch_base_url) is None:
        warnings.append(
            "watch links are empty: the configured watch site (TAILORCAST_WATCH_BASE_URL) is not an "
            "http(s) URL"
        )
    unfinished = sum(r.video_status is not VideoStatus.COMPLETED for r in rows)
    if unfinished:
        warnings.append(
            f"{unfinished} of {len(rows)} prospects have no finished video yet: their poster and GIF "
            "cells are empty (export with status=completed to leave them out)"
        )
    rendered = [(r, videos[r.prospect_id]) for r in rows if r.prospect_id in videos]
    unlinked = sum(links.has_poster and row.poster_url is None for row, links in rendered)
    if unlinked:
        warnings.append(
            f"poster and GIF links of {unlinked} finished videos are empty: no usable media site is "
            "configured (TAILORCAST_MEDIA_BASE_URL)"
        )
    no_gif = sum(links.has_poster and not links.has_gif for _, links in rendered)
    if no_gif:
        warnings.append(
            f"{no_gif} finished videos have no GIF (rendered before GIFs were made): render them "
            "again to add one"
        )
    return warnings


# --------------------------------------------------------------------------- CSV


def write_csv(export: Export, out: TextIO) -> int:
    """Write ``export`` as CSV to ``out`` (opened with ``newline=""``), row by row; returns the
    number of prospect rows. UTF-8 BOM, CRLF, every cell quoted and formula-neutralized."""
    out.write(BOM)
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralize_formula(column) for column in export.columns])
    fields = list(export.custom_columns)
    for row in export.rows:
        cells = [
            *row.contact.values(),
            row.watch_url or "",
            row.poster_url or "",
            row.gif_url or "",
            row.video_status.value,
            row.prospect_id,
            *(row.custom_fields.get(name, "") for name in fields),
        ]
        writer.writerow([neutralize_formula(cell) for cell in cells])
    return len(export.rows)


def csv_bytes(export: Export) -> bytes:
    buffer = io.BytesIO()
    with io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True) as text:
        write_csv(export, text)
        return buffer.getvalue()


# --------------------------------------------------------------------------- HTML


def snippet_size(
    aspect: tuple[int, int] | None, image: SnippetImage = SnippetImage.POSTER
) -> tuple[int, int]:
    """The picture's width and height in an email: the video's aspect (16:9 when unknown) fitted
    in 480 × 480 px, and a GIF no wider than it was made (upscaled, it would blur)."""
    width, height = aspect if aspect and aspect[0] > 0 and aspect[1] > 0 else _DEFAULT_ASPECT
    max_width = min(SNIPPET_MAX_WIDTH, PREVIEW_GIF_WIDTH) if image is SnippetImage.GIF else SNIPPET_MAX_WIDTH
    scale = min(max_width / width, SNIPPET_MAX_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def email_snippet(
    row: ExportRow, *, image: SnippetImage = SnippetImage.POSTER, size: tuple[int, int] | None = None
) -> str | None:
    """An HTML fragment for an email: the prospect's poster (or GIF) linked to their watch page.

    Email clients drop ``<style>`` blocks and scripts, so styles are inline; ``width`` and
    ``height`` attributes size the picture in Outlook, which ignores CSS sizes; ``max-width``
    keeps it inside narrow phone screens. Every value is HTML-escaped, and only absolute http(s)
    URLs are used in ``href`` and ``src`` (``javascript:``, ``data:``… are dropped). Without a
    picture (video not finished) the link is text; without a link the picture stands alone;
    with neither, ``None``.
    """
    href = http_url(row.watch_url)
    src = http_url(row.image_url(image))
    name = row.display_name or row.email
    if src is not None:
        width, height = size or snippet_size(None, image)
        alt = f"A video for {name}: click to play" if href else f"A video for {name}"
        picture = (
            f'<img src="{_attr(src)}" alt="{_attr(alt)}" width="{width}" height="{height}" '
            f'style="display:block;width:{width}px;max-width:100%;height:auto;border:0;outline:none;'
            'text-decoration:none;">'
        )
        if href is None:
            return picture
        return (
            f'<a href="{_attr(href)}" target="_blank" rel="noopener" '
            f'style="display:inline-block;text-decoration:none;border:0;">{picture}</a>'
        )
    if href is not None:
        return (
            f'<a href="{_attr(href)}" target="_blank" rel="noopener" '
            'style="color:#1a73e8;text-decoration:underline;">'
            f"{html.escape(f'Watch the video made for {name}', quote=False)}</a>"
        )
    return None


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def write_html(
    export: Export,
    out: TextIO,
    *,
    title: str,
    image: SnippetImage = SnippetImage.POSTER,
    size: tuple[int, int] | None = None,
) -> int:
    """A standalone page with each prospect's snippet, shown and as source to paste; returns the
    number of prospects. A Content-Security-Policy forbids scripts, even if escaping failed."""
    out.write(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src http: https:; style-src 'unsafe-inline'\">\n"
        f"<title>{html.escape(title)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;margin:24px;">\n'
        f'<h1 style="font-size:20px;">{html.escape(title)}</h1>\n'
    )
    for warning in export.warnings:
        out.write(f'<p style="color:#a15c00;">{html.escape(warning)}</p>\n')
    for row in export.rows:
        snippet = email_snippet(row, image=image, size=size)
        heading = f"{row.display_name} <{row.email}>"
        out.write(
            '<section style="margin:32px 0;">\n'
            f'<h2 style="font-size:16px;">{html.escape(heading)}</h2>\n'
            f'<p style="color:#555;">video: {html.escape(row.video_status.value)}</p>\n'
        )
        if snippet is None:
            out.write("<p>nothing to show yet</p>\n")
        else:
            out.write(
                f"<div>{snippet}</div>\n"
                f'<pre style="white-space:pre-wrap;font-size:12px;background:#f4f4f4;padding:8px;">'
                f"{html.escape(snippet)}</pre>\n"
            )
        out.write("</section>\n")
    out.write("</body></html>\n")
    return len(export.rows)


def html_bytes(
    export: Export,
    *,
    title: str,
    image: SnippetImage = SnippetImage.POSTER,
    size: tuple[int, int] | None = None,
) -> bytes:
    text = io.StringIO()
    write_html(export, text, title=title, image=image, size=size)
    return text.getvalue().encode()


# --------------------------------------------------------------------------- use cases


@dataclass(frozen=True)
class ExportPorts:
    prospects: ProspectRepository
    videos: VideoRepository
    files: ObjectStore  # private: exports hold personal data (the uploads bucket)
    media_url: Callable[[str], str | None]  # media key → the URL viewers fetch it from


@dataclass(frozen=True)
class ExportFile:
    key: str
    url: str
    expires_in: int
    filename: str
    format: ExportFormat
    rows: int
    columns: list[str]
    size_bytes: int
    warnings: list[str]


def export_campaign(
    ports: ExportPorts,
    campaign: Campaign,
    *,
    fmt: ExportFormat = ExportFormat.CSV,
    status: VideoStatus | None = None,
    image: SnippetImage = SnippetImage.POSTER,
    watch_base_url: str | None,
    url_ttl_seconds: int,
    now: datetime | None = None,
) -> ExportFile:
    """Export the campaign's prospects (oldest first) to a file in the private store, and a
    time-limited link to download it.

    The file goes to storage rather than into the HTTP response: an API Gateway/Lambda response
    is capped at 6 MB, and 50,000 prospects make a CSV of about 20 MB.

    Raises
    ------
    StorageError
        If the file cannot be stored.
    """
    videos = video_links(
        ports.videos.list_campaign(campaign.account_id, campaign.campaign_id), ports.media_url
    )
    export = build_export(
        ports.prospects.iter_campaign(campaign.account_id, campaign.campaign_id),
        videos,
        watch_base_url=watch_base_url,
        status=status,
    )
    stamp = (now or utcnow()).strftime("%Y%m%d-%H%M%S")
    kind = "prospects" if fmt is ExportFormat.CSV else "snippets"
    filename = f"{_slug(campaign.name)}-{kind}-{stamp}.{fmt.value}"
    if fmt is ExportFormat.CSV:
        data = csv_bytes(export)
    else:
        title = f"{campaign.name}: video snippets"
        data = html_bytes(export, title=title, image=image, size=snippet_size_for(campaign, image))
    key = f"{EXPORTS_PREFIX}/{campaign.account_id}/{campaign.campaign_id}/{new_id('exp')}/{filename}"
    ports.files.put_bytes(key, data, CONTENT_TYPES[fmt])
    return ExportFile(
        key=key,
        url=ports.files.presign_get(key, url_ttl_seconds, filename=filename),
        expires_in=url_ttl_seconds,
        filename=filename,
        format=fmt,
        rows=len(export.rows),
        columns=export.columns if fmt is ExportFormat.CSV else [],
        size_bytes=len(data),
        warnings=export.warnings,
    )


@dataclass(frozen=True)
class Snippet:
    prospect_id: str
    html: str | None
    watch_url: str | None
    poster_url: str | None
    gif_url: str | None
    video_status: VideoStatus
    warnings: list[str]


def prospect_snippet(
    ports: ExportPorts,
    campaign: Campaign,
    prospect_id: str,
    *,
    image: SnippetImage = SnippetImage.POSTER,
    watch_base_url: str | None,
) -> Snippet:
    """One prospect's email snippet and links.

    Raises
    ------
    NotFoundError
        If the campaign has no such prospect.
    """
    prospect = ports.prospects.get(campaign.account_id, campaign.campaign_id, prospect_id)
    try:
        videos = video_links(
            [ports.videos.get(campaign.account_id, campaign.campaign_id, prospect_id)], ports.media_url
        )
    except NotFoundError:
        videos = {}
    export = build_export([prospect], videos, watch_base_url=watch_base_url)
    [row] = export.rows
    return Snippet(
        prospect_id=prospect_id,
        html=email_snippet(row, image=image, size=snippet_size_for(campaign, image)),
        watch_url=row.watch_url,
        poster_url=row.poster_url,
        gif_url=row.gif_url,
        video_status=row.video_status,
        warnings=export.warnings,
    )


def export_prefix(account_id: str, campaign_id: str) -> str:
    """Where a campaign's exports are kept (deleted with the campaign)."""
    return f"{EXPORTS_PREFIX}/{account_id}/{campaign_id}/"


def snippet_size_for(campaign: Campaign, image: SnippetImage) -> tuple[int, int]:
    """:func:`snippet_size` for the campaign's base video (as displayed)."""
    ladder = campaign.base_video.ladder if campaign.base_video else None
    return snippet_size((ladder.width, ladder.height) if ladder else None, image)


def _slug(name: str) -> str:
    """A file name part safe in a Content-Disposition header: ASCII letters, digits, dashes."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60].strip("-")
    return slug or "campaign"
