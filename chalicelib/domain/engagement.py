"""Engagement beacons: validate, attach who and where, flag bots, send to the event stream.

Honest numbers are the point. Email security scanners (Safe Links, Proofpoint, Mimecast …) open
every link; link unfurlers and scripts fetch pages; some run the page's JavaScript. So:

* a GET or HEAD of the watch page is *logged* (``page_request``) but never counts as a view and
  changes nothing;
* a view is a ``play`` beacon from the player, with heartbeats carrying what was watched;
* every event is kept, and the ones that can't be a person are flagged ``bot`` with a reason:
  a HEAD request, a scanner's or crawler's user agent, a hit seconds after the email was sent,
  a watch time the clock makes impossible, a page left open for half a day. Analytics leaves them
  out and shows their count (``get_without_play``, a page fetched with no play after it, is
  decided there, since a GET cannot know what follows it);
* what can't be trusted at all is refused: a forged session, a malformed, oversized or too deeply
  nested body, a position past the end of the video, a flood from one address (counted before
  anything else is looked at, so that a flood of junk is as cheap to refuse as any other);
* each event carries its number in the page's session (``seq``, set by the player), and a
  (session, seq) counts once: a replayed event (a captured body sent again, a retry that already
  went through) is kept flagged ``replay`` and never counts or notifies twice. The claim is one
  conditional write per event, so concurrent replays count once too, and each event's id (and the
  webhook ids derived from it) is a function of its (session, seq).

A person's first play and every CTA click also move the prospect's counters and fire the
account's webhooks (``video.played``, ``cta.clicked``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from chalicelib.domain.errors import (
    FieldIssue,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    StorageError,
    issues_from_validation,
)
from chalicelib.domain.json_input import load_json
from chalicelib.domain.models import Campaign, Prospect, new_id, utcnow
from chalicelib.domain.ports import (
    CampaignRepository,
    EventPublisher,
    EventSink,
    ProspectRepository,
    RateLimiter,
    VideoRepository,
)
from chalicelib.domain.watch import (
    SESSION_MAX_AGE,
    Session,
    Watchable,
    resolve,
    verify_session,
    video_duration,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
#: The deepest a valid body nests: object > events > event > ranges > [start, end].
MAX_DEPTH = 5
MAX_EVENTS = 20
#: An event's number in its page session; a page sends a few thousand at most (a heartbeat per 5 s).
MAX_SEQ = 10**6
#: A (session, seq) is remembered while its session can still count: past SESSION_MAX_AGE its
#: beacons are flagged ``stale_session`` whatever they claim.
CLAIM_TTL_SECONDS = int(SESSION_MAX_AGE.total_seconds()) + 3600
#: The bot reason of an event whose (session, seq) was already received.
REPLAY = "replay"
MAX_USER_AGENT = 512
#: The player's speed menu tops out at 2x; watch time beyond that since the page loaded is fiction.
MAX_SPEED = 2.0
#: Slack for clock granularity and buffered heartbeats.
TIMING_SLACK_SECONDS = 5.0
#: Positions may overshoot the duration by a frame or two (players report the end loosely).
POSITION_SLACK_SECONDS = 1.0

EVENT_VIDEO_PLAYED = "video.played"
EVENT_CTA_CLICKED = "cta.clicked"

Quality = Literal["auto", "240p", "360p", "480p", "540p", "720p", "1080p"]
_Seconds = Annotated[float, Field(ge=0, le=24 * 3600, allow_inf_nan=False)]


class _Beacon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, le=MAX_SEQ, description="the event's number in its page session (0, 1, 2 …)")
    t: int | None = Field(default=None, ge=0, le=10**14, description="client time, epoch ms")


class PageView(_Beacon):
    type: Literal["page_view"]


class Play(_Beacon):
    type: Literal["play"]
    position: _Seconds = 0.0


class Range(BaseModel):
    start: _Seconds
    end: _Seconds


def _ranges(value: Any) -> Any:
    if isinstance(value, list):
        return [
            {"start": r[0], "end": r[1]} if isinstance(r, list | tuple) and len(r) == 2 else r for r in value
        ]
    return value


class _Watching(_Beacon):
    position: _Seconds = 0.0
    watched: _Seconds | None = None
    ranges: list[Range] = Field(default_factory=list, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _pairs(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ranges" in data:
            data = {**data, "ranges": _ranges(data["ranges"])}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> _Watching:
        for i, r in enumerate(self.ranges):
            if r.end < r.start:
                raise ValueError(f"ranges[{i}] ends before it starts")
        return self


class Heartbeat(_Watching):
    type: Literal["heartbeat"]
    quality: Quality | None = None
    speed: float | None = Field(default=None, ge=0.25, le=MAX_SPEED)


class Ended(_Watching):
    type: Literal["ended"]


class Quartile(_Beacon):
    type: Literal["quartile"]
    quartile: Literal[25, 50, 75, 100]
    position: _Seconds = 0.0
    watched: _Seconds | None = None


class Pause(_Beacon):
    type: Literal["pause"]
    position: _Seconds = 0.0


class CtaClick(_Beacon):
    type: Literal["cta_click"]


class QualityChange(_Beacon):
    type: Literal["quality_change"]
    quality: Quality
    position: _Seconds = 0.0


Beacon = Annotated[
    PageView | Play | Heartbeat | Ended | Quartile | Pause | CtaClick | QualityChange,
    Field(discriminator="type"),
]


class BeaconBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session: str = Field(max_length=200)
    events: list[Beacon] = Field(min_length=1, max_length=MAX_EVENTS)


_BODY = TypeAdapter(BeaconBody)
_UNION_TAG = re.compile(
    r"(\.events\.\d+)\.(?:page_view|play|heartbeat|ended|quartile|pause|cta_click|quality_change)(?=\.|$)"
)


def parse_body(raw: bytes) -> BeaconBody:
    """The beacon body, validated.

    Raises
    ------
    PayloadTooLargeError
        Over :data:`MAX_BODY_BYTES`.
    InvalidInputError
        Not JSON, nested deeper than :data:`MAX_DEPTH`, not text (a lone surrogate), or a field is
        wrong (named in the issues, e.g. ``body.events.0.position``; ``body.events.0.seq`` when an
        event has no number).
    """
    # Size and depth are checked on the raw bytes before parsing: a few thousand "[" fit in 4 KB
    # and would exhaust the parser's recursion.
    data = load_json(raw, "body", label="beacon body", max_bytes=MAX_BODY_BYTES, max_depth=MAX_DEPTH)
    if not isinstance(data, dict):
        raise InvalidInputError("the beacon body must be a JSON object")
    try:
        return _BODY.validate_python(data)
    except ValidationError as exc:
        # pydantic names the union member in the path (events.0.heartbeat.speed); the sender
        # knows the field as events.0.speed.
        issues = [
            FieldIssue(_UNION_TAG.sub(r"\1", i.loc), i.message) for i in issues_from_validation(exc, "body")
        ]
        raise InvalidInputError("the beacon is invalid", issues) from exc


# --------------------------------------------------------------------------- who is asking


@dataclass(frozen=True)
class Client:
    """The requester as the edge saw it."""

    ip: str | None
    user_agent: str | None
    method: str = "POST"


def truncate_ip(value: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48: enough to spot a flood, not enough to identify a person."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def viewer_ip(viewer_address: str | None, source_ip: str | None) -> str | None:
    """The viewer's address: CloudFront's ``CloudFront-Viewer-Address`` (``ip:port``, set by the
    edge and not forgeable through it) when present, else the connection's source."""
    if viewer_address:
        host, _, port = viewer_address.rpartition(":")
        return (host if port.isdigit() and host else viewer_address).strip("[]")
    return source_ip


#: User agents of email security scanners, link unfurlers, crawlers and scripts (case-insensitive).
#: Safe Links and several gateways disguise themselves as browsers; the timing rules catch those.
SCANNER_AGENTS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scan|preview|headless|phantomjs|puppeteer|playwright|selenium|"
    r"proofpoint|urldefense|mimecast|barracuda|safelinks|safe ?links|symantec|messagelabs|"
    r"forcepoint|ironport|cisco|fortiguard|fortinet|sophos|zscaler|trend ?micro|avanan|"
    r"checkpoint|check point|vade|hornetsecurity|spamtitan|appriver|zix|abnormal|area ?1|"
    r"google-safety|googleimageproxy|yahoomailproxy|microsoft office|ms-office|outlook-|"
    r"bingpreview|skypeuripreview|slack|discord|telegram|whatsapp|facebookexternalhit|linkedin|"
    r"twitter|embedly|iframely|python|curl/|wget|httpie|go-http|java/|okhttp|libwww|"
    r"apache-httpclient|axios|node-fetch|undici|postman|insomnia",
    re.IGNORECASE,
)


def bot_reason_for_request(
    client: Client, prospect: Prospect, now: datetime, after_send_seconds: int
) -> str | None:
    """Why a request can't be a person (``None``: it may be), from what any request shows."""
    if client.method == "HEAD":
        return "head_request"
    agent = (client.user_agent or "").strip()
    if not agent:
        return "missing_user_agent"
    if SCANNER_AGENTS.search(agent):
        return "scanner_user_agent"
    sent = prospect.email_sent_at
    if sent is not None and 0 <= (now - sent).total_seconds() < after_send_seconds:
        return "too_soon_after_send"
    return None


def _timing_reason(beacon: BaseModel, session: Session, now_ms: int) -> str | None:
    """Whether the beacon claims more watching than the time since the page was served allows."""
    elapsed = (now_ms - session.issued_at_ms) / 1000
    if elapsed < -TIMING_SLACK_SECONDS:
        return "impossible_timing"  # a session from the future
    if elapsed > SESSION_MAX_AGE.total_seconds():
        return "stale_session"
    budget = max(elapsed, 0) * MAX_SPEED + TIMING_SLACK_SECONDS
    watched = getattr(beacon, "watched", None)
    ranges = getattr(beacon, "ranges", None) or []
    if watched is not None and watched > budget:
        return "impossible_timing"
    if sum(r.end - r.start for r in ranges) > budget:
        return "impossible_timing"
    return None


# --------------------------------------------------------------------------- the record


def event_record(
    kind: str,
    found: Watchable,
    *,
    now: datetime,
    client: Client,
    session_id: str | None,
    bot_reason: str | None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One event as the stream stores it (the columns of ``analytics_schema.COLUMNS``)."""
    p = found.prospect
    record: dict[str, Any] = {
        "event_id": new_id("ev"),
        "type": kind,
        "ts": int(now.timestamp() * 1000),
        "client_ts": None,
        "account_id": p.account_id,
        "campaign_id": p.campaign_id,
        "prospect_id": p.prospect_id,
        "render_id": found.video.render_id,
        "variant": p.variant,
        "session_id": session_id,
        "position": None,
        "duration": video_duration(found.campaign),
        "watched": None,
        "ranges": None,
        "quartile": None,
        "quality": None,
        "speed": None,
        "method": None,
        "user_agent": (client.user_agent or "")[:MAX_USER_AGENT] or None,
        "ip": truncate_ip(client.ip),
        "bot": bot_reason is not None,
        "bot_reason": bot_reason,
    }
    record.update(fields or {})
    return record


def beacon_event_id(prospect_id: str, session_id: str, seq: int) -> str:
    """The id of a beacon's event: the same for the same (session, seq), so a retried or replayed
    request names the same event (and the webhooks derived from it) rather than a new one."""
    digest = hashlib.sha256(f"{prospect_id}\x00{session_id}\x00{seq}".encode()).digest()
    return "ev_" + base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def _beacon_fields(beacon: BaseModel) -> dict[str, Any]:
    data = beacon.model_dump(exclude={"type", "t", "seq"}, exclude_none=True)
    fields: dict[str, Any] = {"client_ts": getattr(beacon, "t", None)}
    if "ranges" in data:
        fields["ranges"] = [[r["start"], r["end"]] for r in data.pop("ranges")] or None
    fields.update(data)
    return fields


# --------------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class Integrity:
    after_send_seconds: int
    rate_per_minute: int


def log_page_request(
    found: Watchable,
    client: Client,
    sink: EventSink,
    integrity: Integrity,
    session_id: str | None,
    now: datetime,
) -> None:
    """Log a GET/HEAD of the watch page. Never a view, never a change; a failure to log is only
    logged (the page must still open)."""
    reason = bot_reason_for_request(client, found.prospect, now, integrity.after_send_seconds)
    record = event_record(
        "page_request",
        found,
        now=now,
        client=client,
        session_id=session_id,
        bot_reason=reason,
        fields={"method": client.method},
    )
    try:
        sink.put([record])
    except StorageError:
        logger.exception("could not log a watch page request")


@dataclass(frozen=True)
class Recorded:
    stored: int
    flagged: int  # replays included
    replayed: int = 0


def admit(client: Client, limiter: RateLimiter, integrity: Integrity, now: datetime) -> None:
    """Count one beacon request against its (truncated) address, before anything about it is read.

    Raises
    ------
    RateLimitedError
        The address sent more than ``integrity.rate_per_minute`` beacon requests this minute.
    StorageError
        The counter could not be updated.
    """
    ip = truncate_ip(client.ip)
    minute = int(now.timestamp()) // 60
    if limiter.hit(f"beacon#{ip or 'unknown'}#{minute}", ttl_seconds=120) > integrity.rate_per_minute:
        raise RateLimitedError("too many beacons from this address; slow down", retry_after=60)


def receive_beacons(
    token: str,
    raw: bytes,
    client: Client,
    *,
    session_key: Callable[[], bytes],
    sink: EventSink,
    limiter: RateLimiter,
    integrity: Integrity,
    prospects: ProspectRepository,
    campaigns: CampaignRepository,
    videos: VideoRepository,
    events: EventPublisher,
    now: datetime | None = None,
) -> Recorded:
    """One beacon request, cheapest refusal first: the address's rate limit (every request
    counts, valid or not), then the body, then the watch link (a lookup), then the session and
    the events (:func:`record_beacons`). ``session_key`` is asked for only then (it is a secret
    to read).

    Raises
    ------
    RateLimitedError
        Too many requests from this address this minute (nothing else was looked at).
    PayloadTooLargeError
        The body is over :data:`MAX_BODY_BYTES`.
    InvalidInputError
        The body is malformed or invalid, the session forged, or a position past the end.
    NotFoundError
        The watch link is unknown, expired or revoked.
    StorageError
        The events could not be stored (nothing counted; a retry is not taken for a replay).
    """
    now = now or utcnow()
    admit(client, limiter, integrity, now)
    body = parse_body(raw)
    found = resolve(token, prospects=prospects, campaigns=campaigns, videos=videos, now=now)
    return record_beacons(
        found,
        body,
        client,
        session_key=session_key(),
        sink=sink,
        limiter=limiter,
        integrity=integrity,
        prospects=prospects,
        campaigns=campaigns,
        events=events,
        now=now,
    )


def record_beacons(
    found: Watchable,
    body: BeaconBody,
    client: Client,
    *,
    session_key: bytes,
    sink: EventSink,
    limiter: RateLimiter,
    integrity: Integrity,
    prospects: ProspectRepository,
    campaigns: CampaignRepository,
    events: EventPublisher,
    now: datetime | None = None,
) -> Recorded:
    """Validate one beacon body against its video, claim each event's (session, seq), flag what
    can't be human or was received before, store every event, then move the prospect's
    engagement and fire the webhooks for what a person did. (The rate limit is :func:`admit`'s.)

    Raises
    ------
    InvalidInputError
        Forged session, or a position past the end of the video (the field is named).
    StorageError
        The claims or the events could not be stored (nothing counted; this request's claims are
        released, so a retry counts).
    """
    now = now or utcnow()
    session = verify_session(session_key, body.session, found.prospect.watch_token)
    duration = video_duration(found.campaign)
    issues = [
        FieldIssue(f"body.events.{i}.position", f"is past the end of the video ({duration:.1f} s)")
        for i, beacon in enumerate(body.events)
        if getattr(beacon, "position", 0.0) > duration + POSITION_SLACK_SECONDS
    ]
    issues += [
        FieldIssue(f"body.events.{i}.ranges", f"goes past the end of the video ({duration:.1f} s)")
        for i, beacon in enumerate(body.events)
        if any(r.end > duration + POSITION_SLACK_SECONDS for r in getattr(beacon, "ranges", None) or [])
    ]
    if issues:
        raise InvalidInputError("the beacon is invalid", issues)

    keys = [f"beacon#{session.session_id}#{beacon.seq}" for beacon in body.events]
    firsts = limiter.claim(keys, ttl_seconds=CLAIM_TTL_SECONDS)
    request_reason = bot_reason_for_request(client, found.prospect, now, integrity.after_send_seconds)
    now_ms = int(now.timestamp() * 1000)
    records = []
    for beacon, first in zip(body.events, firsts, strict=True):
        if first:
            reason = request_reason or _timing_reason(beacon, session, now_ms)
            event_id = beacon_event_id(found.prospect.prospect_id, session.session_id, beacon.seq)
        else:
            # Kept as what was sent, under an id of its own: the original holds the stable one.
            reason, event_id = REPLAY, new_id("ev")
        records.append(
            event_record(
                beacon.type,
                found,
                now=now,
                client=client,
                session_id=session.session_id,
                bot_reason=reason,
                fields={"event_id": event_id, **_beacon_fields(beacon)},
            )
        )
    try:
        sink.put(records)
    except StorageError:
        limiter.release([key for key, first in zip(keys, firsts, strict=True) if first])
        raise
    human = [r for r in records if not r["bot"]]
    _count_engagement(found, human, prospects, campaigns, events, now)
    return Recorded(stored=len(records), flagged=len(records) - len(human), replayed=firsts.count(False))


def _count_engagement(
    found: Watchable,
    human: Sequence[dict[str, Any]],
    prospects: ProspectRepository,
    campaigns: CampaignRepository,
    events: EventPublisher,
    now: datetime,
) -> None:
    """A person's plays and CTA clicks move the prospect (and the campaign's unique viewers) and
    fire webhooks. Failures here are logged, never lost events: the stream already has them."""
    play_ids = [r["event_id"] for r in human if r["type"] == "play"]
    plays = len(play_ids)
    clicks = [r for r in human if r["type"] == "cta_click"]
    if not plays and not clicks:
        return
    p = found.prospect
    first_play = False

    def change(current: Prospect) -> Prospect:
        nonlocal first_play
        update: dict[str, Any] = {}
        if plays:
            first_play = current.video_viewed_at is None
            update["video_view_count"] = current.video_view_count + plays
            if first_play:
                update["video_viewed_at"] = now
        if clicks:
            update["cta_click_count"] = current.cta_click_count + len(clicks)
            if current.cta_clicked_at is None:
                update["cta_clicked_at"] = now
        return current.model_copy(update=update)

    try:
        updated = prospects.update(p.account_id, p.campaign_id, p.prospect_id, change)
    except Exception:
        logger.exception("could not count engagement", extra={"prospect_id": p.prospect_id})
        return
    data = {
        "campaign_id": p.campaign_id,
        "prospect_id": p.prospect_id,
        "email": str(p.email),
        "first_name": p.first_name,
        "last_name": p.last_name,
        "company": p.company,
        "variant": p.variant,
        "view_count": updated.video_view_count,
        "cta_click_count": updated.cta_click_count,
    }
    try:
        if first_play:
            _add_campaign_view(campaigns, p)
            # Ids from the events' (session, seq): whatever retries or races, one id per event.
            events.publish(
                p.account_id,
                EVENT_VIDEO_PLAYED,
                f"evt_played_{play_ids[0]}",
                data | {"played_at": now.isoformat()},
            )
        for click in clicks:
            events.publish(
                p.account_id,
                EVENT_CTA_CLICKED,
                f"evt_cta_{click['event_id']}",
                data | {"clicked_at": now.isoformat(), "cta_url": found.campaign.watch_page.cta_url},
            )
    except Exception:
        logger.exception("could not fire engagement webhooks", extra={"prospect_id": p.prospect_id})


def _add_campaign_view(campaigns: CampaignRepository, p: Prospect) -> None:
    def change(c: Campaign) -> Campaign:
        return c.model_copy(
            update={"counters": c.counters.model_copy(update={"views": c.counters.views + 1})}
        )

    campaigns.update(p.account_id, p.campaign_id, change)


def mark_sent(
    *,
    prospects: ProspectRepository,
    videos: VideoRepository,
    sink: EventSink,
    account_id: str,
    campaign_id: str,
    prospect_ids: Sequence[str],
    sent_at: datetime,
) -> tuple[int, list[str]]:
    """Set ``email_sent_at`` on each prospect and log a ``sent`` event each (the funnel's first
    step). Returns how many were marked and the ids that are not prospects of the campaign.

    Raises
    ------
    StorageError
        The events could not be stored (the prospects are marked; sending again is harmless).
    """
    marked: list[Prospect] = []
    missing: list[str] = []
    for pid in prospect_ids:
        try:
            marked.append(
                prospects.update(
                    account_id, campaign_id, pid, lambda p: p.model_copy(update={"email_sent_at": sent_at})
                )
            )
        except NotFoundError:
            missing.append(pid)
    render_ids: dict[str, str | None] = {}
    for p in marked:
        try:
            render_ids[p.prospect_id] = videos.get(account_id, campaign_id, p.prospect_id).render_id
        except NotFoundError:
            render_ids[p.prospect_id] = None
    for start in range(0, len(marked), 500):
        sink.put(sent_records(marked[start : start + 500], render_ids))
    return len(marked), missing


def sent_records(prospects: Sequence[Prospect], render_ids: dict[str, str | None]) -> list[dict[str, Any]]:
    """``sent`` events (the funnel's first step) for prospects whose emails went out."""
    out = []
    for p in prospects:
        assert p.email_sent_at is not None
        out.append(
            {
                "event_id": new_id("ev"),
                "type": "sent",
                "ts": int(p.email_sent_at.timestamp() * 1000),
                "account_id": p.account_id,
                "campaign_id": p.campaign_id,
                "prospect_id": p.prospect_id,
                "render_id": render_ids.get(p.prospect_id),
                "variant": p.variant,
                "bot": False,
                "bot_reason": None,
            }
        )
    return out
