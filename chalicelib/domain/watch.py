"""The prospect's side: resolving a watch link, the page it shows, and the link's life cycle.

A watch link is ``{watch_base_url}/w/{token}``: the token (128 random bits) is the only secret.
It can carry an expiry and be revoked or rotated by the seller; an unknown, expired or revoked
token is indistinguishable from one that never existed (a plain 404).

The page also hands the player a signed *session*: ``{session_id}.{issued_at_ms}.{mac}``. The
beacons carry it back, so the API knows when the page was served (and can tell impossible watch
times) without storing anything on a GET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import posixpath
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain import render
from chalicelib.domain.branding import watch_brand
from chalicelib.domain.errors import ConflictError, FieldIssue, InvalidInputError, NotFoundError
from chalicelib.domain.media import base_prefix
from chalicelib.domain.models import (
    Account,
    Campaign,
    Prospect,
    ProspectVideo,
    VideoStatus,
    new_watch_token,
    utcnow,
)
from chalicelib.domain.ports import (
    CampaignRepository,
    ProspectRepository,
    VideoRepository,
)
from chalicelib.domain.watch_page import (
    Brand,
    CallToAction,
    OpenGraph,
    PlayerVideo,
    Rendition,
    Seller,
    WatchPage,
)

#: A page left open longer than this still plays, but its beacons are flagged ``stale_session``.
SESSION_MAX_AGE = timedelta(hours=12)


def watch_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/w/{token}"


# --------------------------------------------------------------------------- resolving a link


@dataclass(frozen=True)
class Watchable:
    """What a live watch link resolves to."""

    prospect: Prospect
    campaign: Campaign
    video: ProspectVideo


def link_expiry(prospect: Prospect, campaign: Campaign) -> datetime | None:
    """When the prospect's link stops working (``None``: never): the expiry set on the link, else
    the campaign's ``link_ttl_days`` counted from when the email was sent (from when the prospect
    was added, while it is not marked sent)."""
    if prospect.watch_expires_at is not None:
        return prospect.watch_expires_at
    days = campaign.watch_page.link_ttl_days
    if not days:
        return None
    return (prospect.email_sent_at or prospect.created_at) + timedelta(days=days)


def link_is_live(prospect: Prospect, campaign: Campaign, now: datetime) -> bool:
    if prospect.watch_revoked_at is not None:
        return False
    expiry = link_expiry(prospect, campaign)
    return expiry is None or now < expiry


def resolve(
    token: str,
    *,
    prospects: ProspectRepository,
    campaigns: CampaignRepository,
    videos: VideoRepository,
    now: datetime | None = None,
) -> Watchable:
    """The prospect, campaign and *completed* video behind a live watch link.

    Raises
    ------
    NotFoundError
        The token is unknown, expired or revoked, or the prospect has no finished video yet (the
        same error for all: the page must not tell a guesser which).
    """
    now = now or utcnow()
    prospect = prospects.get_by_watch_token(token)
    if prospect.watch_revoked_at is not None:
        raise NotFoundError("watch link", "")
    try:
        campaign = campaigns.get(prospect.account_id, prospect.campaign_id)
        video = videos.get(prospect.account_id, prospect.campaign_id, prospect.prospect_id)
    except NotFoundError:
        raise NotFoundError("watch link", "") from None
    if not link_is_live(prospect, campaign, now):
        raise NotFoundError("watch link", "")
    if video.status is not VideoStatus.COMPLETED or not video.prefix or not video.master:
        raise NotFoundError("watch link", "")
    return Watchable(prospect, campaign, video)


def media_paths(video: ProspectVideo) -> list[str]:
    """The two media folders the viewer's cookies open: the prospect's render and the campaign's
    shared base ladder (its playlists point there for every segment that is not personalized)."""
    assert video.prefix is not None
    assert video.base_upload_id is not None
    return [
        f"{video.prefix}/",
        f"{base_prefix(video.account_id, video.campaign_id, video.base_upload_id)}/",
    ]


def video_duration(campaign: Campaign) -> float:
    """The video's length in seconds (every prospect's equals the base ladder's)."""
    base = campaign.base_video
    if base is not None and base.ladder is not None and base.ladder.duration_seconds > 0:
        return float(base.ladder.duration_seconds)
    if base is not None and base.probe is not None and base.probe.duration_seconds > 0:
        return float(base.probe.duration_seconds)
    return 1.0


_RUNG_HEIGHT = re.compile(r"(\d{3,4})p")


def _renditions(campaign: Campaign) -> list[Rendition]:
    ladder = campaign.base_video.ladder if campaign.base_video else None
    heights = sorted(
        {int(m.group(1)) for uri in (ladder.renditions if ladder else []) if (m := _RUNG_HEIGHT.search(uri))}
    )
    return [Rendition(label=f"{h}p", height=h) for h in heights]


def build_page(
    found: Watchable,
    account: Account,
    *,
    base_url: str,
    media_url: Callable[[str], str | None],
    session: str,
) -> WatchPage:
    """The page's view model: headline and CTA from the campaign, seller from the account."""
    prospect, campaign, video = found.prospect, found.campaign, found.video
    settings = campaign.watch_page
    assert video.prefix is not None
    assert video.master is not None
    headline = render.fill(settings.headline, render.prospect_values(prospect)) or prospect.first_name
    seller_name = settings.seller_name or account.name
    master_url = media_url(posixpath.join(video.prefix, video.master))
    if master_url is None:
        raise ConflictError("the media base URL is not configured")
    poster_url = media_url(posixpath.join(video.prefix, video.poster)) if video.poster else None
    page_url = watch_url(base_url, prospect.watch_token)
    size = _poster_size(campaign)
    look = watch_brand(account, media_url)
    return WatchPage(
        title=f"{headline} · {seller_name}",
        headline=headline,
        prospect_first_name=prospect.first_name,
        seller=Seller(name=seller_name, avatar_url=settings.seller_avatar_url),
        cta=CallToAction(label=settings.cta_label, url=settings.cta_url) if settings.cta_url else None,
        video=PlayerVideo(
            master_url=master_url,
            poster_url=poster_url,
            duration=video_duration(campaign),
            renditions=_renditions(campaign),
        ),
        beacon_url=f"{page_url}/events",
        session=session,
        og=OpenGraph(
            title=headline,
            description=f"A personal video from {seller_name}",
            url=page_url,
            image=poster_url,
            image_width=size[0] if size else None,
            image_height=size[1] if size else None,
        ),
        brand=Brand(
            logo_url=look.logo_url,
            accent=look.accent,
            accent_dark=look.accent_dark,
            show_badge=look.show_badge,
        ),
    )


def _poster_size(campaign: Campaign) -> tuple[int, int] | None:
    ladder = campaign.base_video.ladder if campaign.base_video else None
    if ladder is None or not ladder.width or not ladder.height:
        return None
    height = min(ladder.height, 720)  # the poster comes from the best rung up to 720p
    return round(ladder.width * height / ladder.height), height


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    session_id: str
    issued_at_ms: int


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_session(key: bytes, watch_token: str, now: datetime | None = None) -> str:
    """A signed session token for one view of one watch link (no state is stored)."""
    issued = int((now or utcnow()).timestamp() * 1000)
    sid = secrets.token_urlsafe(12)
    body = f"{sid}.{issued}"
    return f"{body}.{_mac(key, f'{body}.{watch_token}')}"


def verify_session(key: bytes, token: object, watch_token: str) -> Session:
    """The session a beacon carries, if we signed it for this watch link.

    Raises
    ------
    InvalidInputError
        The token is missing, malformed, or not signed by us for this link.
    """
    bad = InvalidInputError(
        "the beacon's session is not valid",
        [FieldIssue("body.session", "is not a session this watch page issued")],
    )
    if not isinstance(token, str) or len(token) > 200 or token.count(".") != 2:
        raise bad
    sid, issued, mac = token.split(".")
    if not hmac.compare_digest(_mac(key, f"{sid}.{issued}.{watch_token}"), mac) or not issued.isdigit():
        raise bad
    return Session(sid, int(issued))


# --------------------------------------------------------------------------- the link's life cycle


def update_watch_link(
    prospects: ProspectRepository,
    account_id: str,
    campaign_id: str,
    prospect_id: str,
    *,
    expires_at: datetime | None,
    revoked: bool,
    rotate: bool,
    now: datetime | None = None,
) -> Prospect:
    """Set a prospect's watch link's expiry (``None``: never), revoke or restore it, and
    optionally rotate its token (the old link stops working at once; views keep their history).

    Raises
    ------
    InvalidInputError
        ``expires_at`` is in the past.
    NotFoundError
        No such prospect for this account.
    """
    now = now or utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidInputError(
            "the watch link's expiry must be in the future",
            [FieldIssue("body.expires_at", "must be in the future")],
        )

    def change(p: Prospect) -> Prospect:
        update: dict[str, object] = {"watch_expires_at": expires_at}
        if revoked and p.watch_revoked_at is None:
            update["watch_revoked_at"] = now
        elif not revoked:
            update["watch_revoked_at"] = None
        if rotate:
            update["watch_token"] = new_watch_token()
        return p.model_copy(update=update)

    return prospects.update(account_id, campaign_id, prospect_id, change)
