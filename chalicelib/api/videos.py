"""A prospect's personalized video: render status, and the MP4 download (built on demand)."""

from __future__ import annotations

import tempfile
from datetime import datetime

from chalice.app import Blueprint
from pydantic import BaseModel

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.domain import media
from chalicelib.domain.auth import Principal
from chalicelib.domain.models import OverlayText, ProspectVideo, RenderWindow, VideoStatus
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class VideoOut(BaseModel):
    prospect_id: str
    render_id: str
    status: VideoStatus
    progress: int
    window: RenderWindow
    overlay: OverlayText | None
    segments_rendered: int
    new_bytes: int
    playlist_key: str | None
    poster_key: str | None
    preview_key: str | None
    error: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, v: ProspectVideo) -> VideoOut:
        def key(name: str | None) -> str | None:
            return f"{v.prefix}/{name}" if name else None

        return cls(
            prospect_id=v.prospect_id,
            render_id=v.render_id,
            status=v.status,
            progress=v.progress,
            window=v.window,
            overlay=v.overlay,
            segments_rendered=v.segment_count,
            new_bytes=v.new_bytes,
            playlist_key=key(v.master),
            poster_key=key(v.poster),
            preview_key=key(v.preview),
            error=v.error,
            created_at=v.created_at,
            completed_at=v.completed_at,
        )


class DownloadOut(BaseModel):
    url: str
    expires_in: int


def _video(principal: Principal, campaign_id: str, prospect_id: str) -> ProspectVideo:
    # The campaign lookup is under the caller's account: another tenant's ids are simply not found.
    deps.get_campaign_repo().get(principal.account_id, campaign_id)
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
    video = media.reconcile_video(video, deps.get_video_repo(), deps.get_media_store(), deps.get_media_jobs())
    return VideoOut.of(video)


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
        key = media.build_download(video, store, tmp)
    ttl = get_settings().download_url_ttl_seconds
    return DownloadOut(url=store.presign_get(key, ttl, filename=f"{prospect_id}.mp4"), expires_in=ttl)
