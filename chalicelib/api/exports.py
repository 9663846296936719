"""Export for mail merge: a campaign's prospects with their watch links and email images (CSV), or
each prospect's email snippet (HTML); and one prospect's snippet as JSON.

An export is written to the private uploads bucket and handed out as a time-limited link (like
the MP4 download), never as the response body: API Gateway and Lambda cap a response at 6 MB, and
a 50,000-prospect CSV is about 20 MB.
"""

from __future__ import annotations

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import Strict
from chalicelib.domain import export
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.export import ExportFormat, SnippetImage
from chalicelib.domain.models import VideoStatus
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class ExportCreate(Strict):
    format: ExportFormat = Field(
        default=ExportFormat.CSV,
        description="csv: one row per prospect for a mail-merge tool; html: each prospect's email snippet",
    )
    status: VideoStatus | None = Field(
        default=None,
        description="only prospects whose video is in this status (e.g. completed); all when absent",
    )
    image: SnippetImage = Field(
        default=SnippetImage.POSTER, description="html: the picture in each snippet, the poster or the GIF"
    )


class ExportOut(BaseModel):
    url: str = Field(description="a time-limited link to the file (no Authorization header)")
    expires_in: int
    filename: str
    format: ExportFormat
    rows: int = Field(description="prospects in the file")
    columns: list[str] = Field(description="the CSV's columns (empty for html)")
    size_bytes: int
    warnings: list[str] = Field(description="what is missing from the file and why")


class SnippetQuery(Strict):
    image: SnippetImage = SnippetImage.POSTER


class SnippetOut(BaseModel):
    prospect_id: str
    html: str | None = Field(description="the picture linked to the watch page; null with neither")
    watch_url: str | None
    poster_url: str | None
    gif_url: str | None
    video_status: VideoStatus
    warnings: list[str]


def _ports() -> export.ExportPorts:
    return export.ExportPorts(
        prospects=deps.get_prospect_repo(),
        videos=deps.get_video_repo(),
        files=deps.get_upload_store(),
        media_url=deps.media_url,
    )


@route(
    bp,
    "/campaigns/{campaign_id}/exports",
    "POST",
    summary="Export the campaign's prospects for mail merge (CSV) or their email snippets (HTML)",
    status=201,
    body=ExportCreate,
    response=ExportOut,
)
def create(principal: Principal, campaign_id: str, body: ExportCreate) -> ExportOut:
    # The campaign lookup is under the caller's account: another tenant's ids are simply not found.
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    settings = get_settings()
    done = export.export_campaign(
        _ports(),
        campaign,
        fmt=body.format,
        status=body.status,
        image=body.image,
        watch_base_url=settings.watch_base_url,
        url_ttl_seconds=settings.download_url_ttl_seconds,
    )
    return ExportOut(
        url=done.url,
        expires_in=done.expires_in,
        filename=done.filename,
        format=done.format,
        rows=done.rows,
        columns=done.columns,
        size_bytes=done.size_bytes,
        warnings=done.warnings,
    )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/snippet",
    "GET",
    summary="A prospect's email snippet (the poster or GIF linked to the watch page) and links",
    query=SnippetQuery,
    response=SnippetOut,
)
def snippet(principal: Principal, campaign_id: str, prospect_id: str, query: SnippetQuery) -> SnippetOut:
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    found = export.prospect_snippet(
        _ports(), campaign, prospect_id, image=query.image, watch_base_url=get_settings().watch_base_url
    )
    return SnippetOut(
        prospect_id=found.prospect_id,
        html=found.html,
        watch_url=found.watch_url,
        poster_url=found.poster_url,
        gif_url=found.gif_url,
        video_status=found.video_status,
        warnings=found.warnings,
    )
