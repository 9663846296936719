"""A prospect's personalized video: render status, and the MP4 download (built on demand)."""

from __future__ import annotations

import tempfile
from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.domain import media, render
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.models import OverlayText, ProspectVideo, RenderWindow, VideoStatus
from chalicelib.domain.render import RenderPorts
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class VideoOut(BaseModel):
    prospect_id: str
    render_id: str
    render_version: int
    batch_id: str | None
    status: VideoStatus
    progress: int
    window: RenderWindow | None
    overlay: OverlayText | None
    segments_rendered: int | None
    new_bytes: int
    playlist_key: str | None
    poster_key: str | None
    preview_key: str | None = Field(description="animated WebP")
    gif_key: str | None = Field(description="the same animation as a GIF, for email clients without WebP")
    playlist_url: str | None
    poster_url: str | None
    preview_url: str | None
    gif_url: str | None
    error: str | None
    created_at: datetime
    queued_at: datetime | None
    synthesizing_at: datetime | None
    rendering_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, v: ProspectVideo, ports: RenderPorts | None = None) -> VideoOut:
        def key(name: str | None) -> str | None:
            return f"{v.prefix}/{name}" if name and v.prefix else None

        urls = render.video_urls(ports or deps.render_ports(), v)
        return cls(
            **v.model_dump(
                include={
                    "prospect_id",
                    "render_id",
                    "render_version",
                    "batch_id",
                    "status",
                    "progress",
                    "window",
                    "overlay",
                    "new_bytes",
                    "error",
                    "created_at",
                    "queued_at",
                    "synthesizing_at",
                    "rendering_at",
                    "completed_at",
                    "failed_at",
                }
            ),
            segments_rendered=v.segment_count,
            playlist_key=key(v.master),
            poster_key=key(v.poster),
            preview_key=key(v.preview),
            gif_key=key(v.gif),
            **urls,
        )


class DownloadOut(BaseModel):
    url: str
    expires_in: int


def _video(principal: Principal, campaign_id: str, prospect_id: str) -> ProspectVideo:
    # The campaign lookup is under the caller's account: another tenant's ids are simply not found.
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    return deps.get_video_repo().get(principal.account_id, campaign_id, prospect_id)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/video",
    "GET",
    summary="A prospect's personalized video: status and objects",
    response=VideoOut,
)
def get(principal: Principal, campaign_id: str, prospect_id: str) -> VideoOut:
    video = _video(principal, campaign_id, prospect_id)
    ports = deps.render_ports()
    return VideoOut.of(render.reconcile_video(ports, video), ports)


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/video/download",
    "POST",
    summary="A time-limited link to the video as one MP4 (built from the playlists on first use)",
    response=DownloadOut,
)
def download(principal: Principal, campaign_id: str, prospect_id: str) -> DownloadOut:
    video = _video(principal, campaign_id, prospect_id)
    store = deps.get_media_store()
    with tempfile.TemporaryDirectory(prefix="tc-download-") as tmp:
        key = media.build_download(video, store, tmp, codec=deps.get_media_codec())
    ttl = get_settings().download_url_ttl_seconds
    return DownloadOut(url=store.presign_get(key, ttl, filename=f"{prospect_id}.mp4"), expires_in=ttl)
