"""The prospect's side of the API: the watch page, its assets and its beacons (public), and the
seller's control over each watch link and its "sent" mark (authenticated).

CloudFront puts ``/w/*`` and ``/assets/*`` in front of these routes on the same domain as the
media, so the cookies the page sets reach the HLS requests (the local gateway does the same).

Those public routes answer only requests that came through that front door: it adds a secret
header (``X-Origin-Verify``, the ``origin_verify_secret`` setting) on its way to the API, and a
request without it, or with a wrong one, is refused with a 403 before anything in it is read. Only
then is ``CloudFront-Viewer-Address`` believed: called directly, the API would take any address a
caller wrote there (and its per-address beacon limit with it).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from chalice.app import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib import dependencies as deps
from chalicelib.adapters.cdn import ORIGIN_VERIFY_HEADER
from chalicelib.api._http import error_response, route
from chalicelib.api.prospects import ProspectId
from chalicelib.api.schemas import Strict
from chalicelib.domain import engagement, watch
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.errors import ForbiddenError, NotFoundError
from chalicelib.domain.models import Campaign, Prospect, utcnow
from chalicelib.settings import get_settings

bp = Blueprint(__name__)

BEACON_TYPES = ("text/plain", "application/json")
_HTML = "text/html; charset=utf-8"
#: The page may load its own assets and media, the seller's avatar from any https host, and hls.js
#: runs its transmuxer in a blob: worker. Nothing else, and it can't be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": _HTML,
    # Per viewer (cookies, a fresh session): never cached by CloudFront or the browser.
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to the CTA's site
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def _front_door() -> None:
    """Refuse a request that did not come through the front door: its secret header missing or
    wrong (compared in constant time). Nothing is checked when no secret is configured.

    Raises
    ------
    ForbiddenError
        The header is missing or wrong.
    """
    secret = get_settings().origin_verify_secret
    if secret is None:
        return
    given = bp.current_request.headers.get(ORIGIN_VERIFY_HEADER) or ""
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise ForbiddenError("this page is only served through its public address")


def _client(method: str) -> engagement.Client:
    request = bp.current_request
    headers = request.headers
    source = ((request.context or {}).get("identity") or {}).get("sourceIp")
    # The viewer's address is the front door's word, which only a configured secret (checked by
    # _front_door before this runs) tells from anybody's.
    trusted = get_settings().origin_verify_secret is not None
    viewer = headers.get("cloudfront-viewer-address") if trusted else None
    return engagement.Client(
        ip=engagement.viewer_ip(viewer, source),
        user_agent=headers.get("user-agent"),
        method=method,
    )


def _integrity() -> engagement.Integrity:
    s = get_settings()
    return engagement.Integrity(
        after_send_seconds=s.bot_after_send_seconds, rate_per_minute=s.beacon_rate_per_minute
    )


def _base_url() -> str:
    configured = get_settings().watch_base_url
    if configured:
        return configured.rstrip("/")
    host = bp.current_request.headers.get("host", "localhost")
    return f"https://{host}"


def _not_found(method: str) -> Response:
    from chalicelib.web import render_not_found

    body = "" if method == "HEAD" else render_not_found()
    return Response(body=body, status_code=404, headers=_PAGE_HEADERS)


def _resolve(token: str) -> watch.Watchable | None:
    try:
        return watch.resolve(
            token,
            prospects=deps.get_prospect_repo(),
            campaigns=deps.get_campaign_repo(),
            videos=deps.get_video_repo(),
        )
    except NotFoundError:
        return None


def _cookies(found: watch.Watchable, now: datetime) -> list[str]:
    """Signed cookies for the prospect's render and the campaign's shared base, and nothing else."""
    settings = get_settings()
    expires = now + timedelta(seconds=settings.watch_cookie_ttl_seconds)
    link_expiry = watch.link_expiry(found.prospect, found.campaign)
    if link_expiry is not None:
        expires = min(expires, link_expiry)
    media_base = (settings.media_base_url or _base_url()).rstrip("/")
    signer = deps.get_cookie_signer()
    return [
        str(cookie)
        for path in watch.media_paths(found.video)
        for cookie in signer.signed_cookies(media_base, path, expires, now=now)
    ]


@route(
    bp,
    "/w/{token}",
    "GET",
    summary="A prospect's watch page (HTML; a GET never counts as a view)",
    public=True,
)
def page(token: str) -> Response:
    from chalicelib.web import brand_css, render_watch_page, style_hash

    _front_door()
    now = utcnow()
    found = _resolve(token)
    if found is None:
        return _not_found("GET")
    account = deps.get_account_repo().get(found.prospect.account_id)
    session = watch.new_session(
        deps.get_watch_secrets().session_key.encode(), found.prospect.watch_token, now
    )
    built = watch.build_page(found, account, base_url=_base_url(), media_url=deps.media_url, session=session)
    html = render_watch_page(built)
    engagement.log_page_request(
        found, _client("GET"), deps.get_event_sink(), _integrity(), session.split(".")[0], now
    )
    headers: dict[str, str | list[str]] = {**_PAGE_HEADERS, "Set-Cookie": _cookies(found, now)}
    css = brand_css(built)
    if css is not None:  # the account's accent colour: this one inline style, allowed by its hash
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "style-src 'self'", f"style-src 'self' {style_hash(css)}", 1
        )
    return Response(body=html, status_code=200, headers=headers)


@route(bp, "/w/{token}", "HEAD", summary="The watch page's headers (logged as a bot hit)", public=True)
def page_head(token: str) -> Response:
    _front_door()
    now = utcnow()
    found = _resolve(token)
    if found is None:
        return _not_found("HEAD")
    engagement.log_page_request(found, _client("HEAD"), deps.get_event_sink(), _integrity(), None, now)
    return Response(body="", status_code=200, headers=_PAGE_HEADERS)


@route(
    bp,
    "/w/{token}/events",
    "POST",
    summary="The watch page player's engagement beacons (JSON, at most 4 KB, 20 events)",
    public=True,
    status=204,
    raw_body=BEACON_TYPES,
)
def beacons(token: str, raw: bytes) -> None:
    _front_door()
    engagement.receive_beacons(
        token,
        raw,
        _client("POST"),
        session_key=lambda: deps.get_watch_secrets().session_key.encode(),
        sink=deps.get_event_sink(),
        limiter=deps.get_rate_limiter(),
        integrity=_integrity(),
        prospects=deps.get_prospect_repo(),
        campaigns=deps.get_campaign_repo(),
        videos=deps.get_video_repo(),
        events=deps.get_event_publisher(),
    )


@route(
    bp, "/assets/{name}", "GET", summary="The watch page's static files (content-hashed names)", public=True
)
def asset(name: str) -> Response:
    from chalicelib.web import get_asset

    _front_door()
    found = get_asset(name)
    if found is None:
        return error_response(404, "not_found", "no such asset", request_id=None)
    return Response(
        body=found.body.decode(),  # only the built .js and .css exist: text, not API Gateway binary
        status_code=200,
        headers={
            "Content-Type": found.content_type,
            "Cache-Control": found.cache_control,
            "X-Content-Type-Options": "nosniff",
        },
    )


# --------------------------------------------------------------------------- the seller's side


class WatchLinkUpdate(Strict):
    expires_at: datetime | None = Field(default=None, description="the link stops working then; null: never")
    revoked: bool = Field(default=False, description="true turns the link off; false turns it back on")
    rotate: bool = Field(default=False, description="issue a new link; the old one stops working at once")


class WatchLinkOut(BaseModel):
    watch_url: str | None = Field(description="null when the watch site's URL is not configured")
    expires_at: datetime | None = Field(
        description="when the link stops working: its own expiry, else the campaign's link_ttl_days "
        "after the email was sent; null: never"
    )
    revoked_at: datetime | None
    live: bool = Field(description="whether the link opens the video now (not expired, not revoked)")

    @classmethod
    def of(cls, p: Prospect, campaign: Campaign) -> WatchLinkOut:
        base = get_settings().watch_base_url
        return cls(
            watch_url=watch.watch_url(base, p.watch_token) if base else None,
            expires_at=watch.link_expiry(p, campaign),
            revoked_at=p.watch_revoked_at,
            live=watch.link_is_live(p, campaign, utcnow()),
        )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/watch-link",
    "GET",
    summary="A prospect's watch link and its state",
    response=WatchLinkOut,
)
def get_watch_link(principal: Principal, campaign_id: str, prospect_id: str) -> WatchLinkOut:
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    return WatchLinkOut.of(
        deps.get_prospect_repo().get(principal.account_id, campaign_id, prospect_id), campaign
    )


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/{prospect_id}/watch-link",
    "PUT",
    summary="Set a watch link's expiry, revoke or restore it, or rotate it to a new URL",
    body=WatchLinkUpdate,
    response=WatchLinkOut,
)
def put_watch_link(
    principal: Principal, campaign_id: str, prospect_id: str, body: WatchLinkUpdate
) -> WatchLinkOut:
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    updated = watch.update_watch_link(
        deps.get_prospect_repo(),
        principal.account_id,
        campaign_id,
        prospect_id,
        expires_at=expires,
        revoked=body.revoked,
        rotate=body.rotate,
    )
    return WatchLinkOut.of(updated, campaign)


class MarkSent(Strict):
    prospect_ids: list[ProspectId] = Field(min_length=1, max_length=1000)
    sent_at: datetime | None = Field(default=None, description="when the emails went out (default: now)")


class MarkSentOut(BaseModel):
    marked: int
    not_found: list[str] = Field(description="ids that are not prospects of this campaign")


@route(
    bp,
    "/campaigns/{campaign_id}/prospects/sent",
    "POST",
    summary="Record that these prospects' emails were sent (the funnel's first step; scanner hits "
    "in the minute after are flagged)",
    body=MarkSent,
    response=MarkSentOut,
)
def mark_sent(principal: Principal, campaign_id: str, body: MarkSent) -> MarkSentOut:
    sent_at = body.sent_at or utcnow()
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    marked, missing = engagement.mark_sent(
        prospects=deps.get_prospect_repo(),
        videos=deps.get_video_repo(),
        sink=deps.get_event_sink(),
        account_id=principal.account_id,
        campaign_id=campaign_id,
        prospect_ids=list(dict.fromkeys(body.prospect_ids)),
        sent_at=sent_at,
    )
    return MarkSentOut(marked=marked, not_found=missing)
