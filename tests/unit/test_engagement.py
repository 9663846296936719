"""Watch links and engagement beacons, on fakes: resolution, sessions, validation, bot flags,
counting and webhooks."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import engagement, watch
from chalicelib.domain.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    StorageError,
)
from chalicelib.domain.models import (
    Account,
    BaseVideo,
    Campaign,
    Ladder,
    Prospect,
    ProspectVideo,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    WatchPageSettings,
)
from tests import fakes

ACCOUNT, CAMPAIGN = "acct_1", "camp_1"
KEY = b"k" * 32
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
PERSON = engagement.Client(ip="203.0.113.77", user_agent=CHROME)
INTEGRITY = engagement.Integrity(after_send_seconds=60, rate_per_minute=5)


class World:
    def __init__(self) -> None:
        self.prospects = fakes.FakeProspectRepository()
        self.campaigns = fakes.FakeCampaignRepository()
        self.videos = fakes.FakeVideoRepository()
        self.sink = fakes.FakeEventSink()
        self.limiter = fakes.FakeRateLimiter()
        self.publisher = fakes.FakeEventPublisher()
        self.seq = itertools.count()  # every event sent gets a number of its own unless it names one
        ladder = Ladder(
            prefix=f"{ACCOUNT}/{CAMPAIGN}/base/upl_1",
            master="main.m3u8",
            audio_playlist="main_audio.m3u8",
            pcm="audio.wav",
            renditions=["main_360p.m3u8", "main_480p.m3u8", "main_720p.m3u8"],
            width=1280,
            height=720,
            fps=30,
            duration_seconds=20.0,
            segment_count=10,
        )
        self.campaign = self.campaigns.add(
            Campaign(
                account_id=ACCOUNT,
                campaign_id=CAMPAIGN,
                name="Q4",
                base_video=BaseVideo(
                    upload_id="upl_1", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
                ),
                watch_page=WatchPageSettings(
                    headline="{first_name}, a video for {company}",
                    cta_label="Pick a time",
                    cta_url="https://cal.example.com/grace",
                ),
            )
        )
        self.prospect = self.add_prospect("Ada", "ada@example.com")

    def add_prospect(self, first: str, email: str, status: VideoStatus = VideoStatus.COMPLETED) -> Prospect:
        p = self.prospects.add(
            Prospect(
                account_id=ACCOUNT,
                campaign_id=CAMPAIGN,
                prospect_id=f"pr_{first.lower()}",
                first_name=first,
                email=email,
                company="Analytical Engines",
            )
        )
        prefix = f"{ACCOUNT}/{CAMPAIGN}/videos/{p.prospect_id}/rnd_{first.lower()}"
        self.videos.save(
            ProspectVideo(
                account_id=ACCOUNT,
                campaign_id=CAMPAIGN,
                prospect_id=p.prospect_id,
                render_id=f"rnd_{first.lower()}",
                status=status,
                base_upload_id="upl_1",
                window=RenderWindow(start=1.0, end=2.0),
                first_segment=0,
                segment_count=1,
                prefix=prefix,
                master="master.m3u8" if status is VideoStatus.COMPLETED else None,
                poster="poster.jpg" if status is VideoStatus.COMPLETED else None,
            )
        )
        return p

    def found(self, token: str | None = None) -> watch.Watchable:
        return watch.resolve(
            token or self.prospect.watch_token,
            prospects=self.prospects,
            campaigns=self.campaigns,
            videos=self.videos,
            now=NOW,
        )

    def session(self, at: datetime = NOW, token: str | None = None) -> str:
        return watch.new_session(KEY, token or self.prospect.watch_token, at)

    def body(self, *events: dict[str, Any], session: str | None = None, at: datetime = NOW) -> bytes:
        numbered = [{"seq": next(self.seq), **e} for e in events]
        return json.dumps(
            {"session": session or self.session(at - timedelta(seconds=30)), "events": numbered}
        ).encode()

    def receive(
        self,
        raw: bytes,
        client: engagement.Client = PERSON,
        at: datetime = NOW,
        token: str | None = None,
    ) -> engagement.Recorded:
        """The beacon route's one domain call, as the API makes it."""
        return engagement.receive_beacons(
            token or self.prospect.watch_token,
            raw,
            client,
            session_key=lambda: KEY,
            sink=self.sink,
            limiter=self.limiter,
            integrity=INTEGRITY,
            prospects=self.prospects,
            campaigns=self.campaigns,
            videos=self.videos,
            events=self.publisher,
            now=at,
        )

    def send(
        self,
        *events: dict[str, Any],
        client: engagement.Client = PERSON,
        at: datetime = NOW,
        session: str | None = None,
    ) -> engagement.Recorded:
        return self.receive(self.body(*events, session=session, at=at), client=client, at=at)


@pytest.fixture
def world() -> World:
    return World()


# --------------------------------------------------------------------------- links


def test_a_live_link_resolves_to_its_prospect_campaign_and_video(world: World) -> None:
    found = world.found()
    assert found.prospect.prospect_id == world.prospect.prospect_id
    assert found.video.status is VideoStatus.COMPLETED
    assert watch.media_paths(found.video) == [
        f"{ACCOUNT}/{CAMPAIGN}/videos/pr_ada/rnd_ada/",
        f"{ACCOUNT}/{CAMPAIGN}/base/upl_1/",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"watch_revoked_at": NOW - timedelta(seconds=1)},
        {"watch_expires_at": NOW},
        {"watch_expires_at": NOW - timedelta(days=1)},
    ],
)
def test_revoked_or_expired_links_are_not_found(world: World, change: dict[str, Any]) -> None:
    world.prospects.update(
        ACCOUNT, CAMPAIGN, world.prospect.prospect_id, lambda p: p.model_copy(update=change)
    )
    with pytest.raises(NotFoundError):
        world.found()


def test_the_campaigns_link_lifetime_counts_from_sending(world: World) -> None:
    world.campaigns.update(
        ACCOUNT,
        CAMPAIGN,
        lambda c: c.model_copy(update={"watch_page": c.watch_page.model_copy(update={"link_ttl_days": 7})}),
    )
    p = world.prospect
    # Not marked sent: counted from when the prospect was added.
    assert watch.link_expiry(p, world.found().campaign) == p.created_at + timedelta(days=7)
    sent = NOW - timedelta(days=6, hours=23)
    world.prospects.update(
        ACCOUNT, CAMPAIGN, p.prospect_id, lambda q: q.model_copy(update={"email_sent_at": sent})
    )
    found = world.found()  # still live: an hour to go
    assert watch.link_expiry(found.prospect, found.campaign) == sent + timedelta(days=7)
    with pytest.raises(NotFoundError):
        watch.resolve(
            p.watch_token,
            prospects=world.prospects,
            campaigns=world.campaigns,
            videos=world.videos,
            now=NOW + timedelta(hours=2),
        )
    # An expiry set on the link itself wins over the campaign's.
    world.prospects.update(
        ACCOUNT,
        CAMPAIGN,
        p.prospect_id,
        lambda q: q.model_copy(update={"watch_expires_at": NOW + timedelta(days=30)}),
    )
    assert watch.resolve(
        p.watch_token,
        prospects=world.prospects,
        campaigns=world.campaigns,
        videos=world.videos,
        now=NOW + timedelta(hours=2),
    )


def test_unknown_tokens_and_unfinished_videos_are_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        world.found("x" * 22)
    pending = world.add_prospect("Bo", "bo@example.com", VideoStatus.RENDERING)
    with pytest.raises(NotFoundError):
        world.found(pending.watch_token)


def test_a_link_not_yet_expired_still_opens(world: World) -> None:
    world.prospects.update(
        ACCOUNT,
        CAMPAIGN,
        world.prospect.prospect_id,
        lambda p: p.model_copy(update={"watch_expires_at": NOW + timedelta(minutes=1)}),
    )
    assert world.found().prospect.prospect_id == world.prospect.prospect_id


def test_rotating_a_link_retires_the_old_token_and_revoking_restoring_works(world: World) -> None:
    old = world.prospect.watch_token
    rotated = watch.update_watch_link(
        world.prospects, ACCOUNT, CAMPAIGN, world.prospect.prospect_id,
        expires_at=None, revoked=False, rotate=True, now=NOW,
    )  # fmt: skip
    assert rotated.watch_token != old and len(rotated.watch_token) >= 22
    with pytest.raises(NotFoundError):
        world.found(old)
    assert world.found(rotated.watch_token).prospect.prospect_id == world.prospect.prospect_id
    revoked = watch.update_watch_link(
        world.prospects, ACCOUNT, CAMPAIGN, world.prospect.prospect_id,
        expires_at=None, revoked=True, rotate=False, now=NOW,
    )  # fmt: skip
    assert revoked.watch_revoked_at == NOW and not watch.link_is_live(revoked, world.campaign, NOW)
    restored = watch.update_watch_link(
        world.prospects, ACCOUNT, CAMPAIGN, world.prospect.prospect_id,
        expires_at=NOW + timedelta(days=3), revoked=False, rotate=False, now=NOW,
    )  # fmt: skip
    assert restored.watch_revoked_at is None and watch.link_is_live(restored, world.campaign, NOW)


def test_an_expiry_in_the_past_is_refused_with_its_field(world: World) -> None:
    with pytest.raises(InvalidInputError) as err:
        watch.update_watch_link(
            world.prospects, ACCOUNT, CAMPAIGN, world.prospect.prospect_id,
            expires_at=NOW - timedelta(hours=1), revoked=False, rotate=False, now=NOW,
        )  # fmt: skip
    assert [i.loc for i in err.value.issues] == ["body.expires_at"]


def test_the_page_fills_the_headline_and_links_the_cta_and_media(world: World) -> None:
    account = Account(account_id=ACCOUNT, name="Grace at Hopper & Co")
    page = watch.build_page(
        world.found(),
        account,
        base_url="https://watch.example.com/",
        media_url=lambda key: f"https://cdn.example.com/{key}",
        session="s.1.m",
    )
    assert page.headline == "Ada, a video for Analytical Engines"
    assert page.seller.name == "Grace at Hopper & Co" and page.seller.initials == "GA"
    assert page.cta is not None and page.cta.url == "https://cal.example.com/grace"
    assert (
        page.video.master_url
        == f"https://cdn.example.com/{ACCOUNT}/{CAMPAIGN}/videos/pr_ada/rnd_ada/master.m3u8"
    )
    assert page.video.poster_url == page.og.image
    assert page.og.image is not None and page.og.image.endswith("/poster.jpg")
    assert [r.label for r in page.video.renditions] == ["360p", "480p", "720p"]
    assert page.video.duration == 20.0
    assert page.og.url == f"https://watch.example.com/w/{world.prospect.watch_token}"
    assert page.beacon_url == page.og.url + "/events"
    assert (page.og.image_width, page.og.image_height) == (1280, 720)


def test_headline_templates_only_take_known_variables() -> None:
    with pytest.raises(ValueError, match=r"unknown variable \{email\}"):
        WatchPageSettings(headline="Hi {email}")
    with pytest.raises(ValueError, match="http"):
        WatchPageSettings(cta_url="javascript:alert(1)")


# --------------------------------------------------------------------------- sessions


def test_sessions_are_bound_to_their_link_and_signed(world: World) -> None:
    token = world.session()
    session = watch.verify_session(KEY, token, world.prospect.watch_token)
    assert session.issued_at_ms == int(NOW.timestamp() * 1000)
    other = world.add_prospect("Bo", "bo@example.com")
    for forged, link in [
        (token, other.watch_token),  # another prospect's page session
        (token[:-2] + "xx", world.prospect.watch_token),  # tampered MAC
        (token.replace(".", "-"), world.prospect.watch_token),
        (watch.new_session(b"other key", world.prospect.watch_token, NOW), world.prospect.watch_token),
        (12, world.prospect.watch_token),
    ]:
        with pytest.raises(InvalidInputError):
            watch.verify_session(KEY, forged, link)


# --------------------------------------------------------------------------- validation


def _body(*events: dict[str, Any], session: str = "s.1.m") -> bytes:
    return json.dumps(
        {"session": session, "events": [{"seq": i, **e} for i, e in enumerate(events)]}
    ).encode()


def test_beacon_bodies_are_validated_with_the_field_named() -> None:
    with pytest.raises(PayloadTooLargeError):
        engagement.parse_body(b"{" + b" " * 5000 + b"}")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        engagement.parse_body(b"{nope")
    for bad, where in [
        (_body({"type": "teleport"}), "body.events.0"),
        (_body({"type": "quartile", "quartile": 33}), "body.events.0.quartile"),
        (_body({"type": "heartbeat", "ranges": [[5, 2]]}), "body.events.0"),
        (_body({"type": "heartbeat", "speed": 16}), "body.events.0.speed"),
        (_body({"type": "play", "position": -1}), "body.events.0.position"),
        (_body({"type": "play", "account_id": "acct_other"}), "body.events.0.account_id"),
        (json.dumps({"session": "s", "events": [{"type": "page_view"}] * 21}).encode(), "body.events"),
        (json.dumps({"session": "s", "events": []}).encode(), "body.events"),
    ]:
        with pytest.raises(InvalidInputError) as err:
            engagement.parse_body(bad)
        assert any(i.loc.startswith(where) for i in err.value.issues), (bad, err.value.issues)


def test_positions_past_the_end_of_the_video_are_refused(world: World) -> None:
    with pytest.raises(InvalidInputError) as err:
        world.send({"type": "heartbeat", "position": 45.0, "ranges": [[40, 45]]})
    assert {i.loc for i in err.value.issues} == {"body.events.0.position", "body.events.0.ranges"}
    assert world.sink.events == []


def test_a_forged_session_is_refused_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(InvalidInputError):
        world.send({"type": "play"}, session=watch.new_session(b"forger", world.prospect.watch_token, NOW))
    assert world.sink.events == []


def test_a_flood_from_one_address_is_refused_after_the_limit(world: World) -> None:
    for _ in range(INTEGRITY.rate_per_minute):
        world.send({"type": "page_view"})
    with pytest.raises(RateLimitedError):
        world.send({"type": "page_view"})
    assert len(world.sink.events) == INTEGRITY.rate_per_minute
    # another address is not affected, and the next minute starts afresh
    world.send({"type": "page_view"}, client=engagement.Client(ip="198.51.100.1", user_agent=CHROME))
    world.send({"type": "page_view"}, at=NOW + timedelta(minutes=1))


def test_a_flood_of_invalid_bodies_is_limited_before_any_lookup(world: World) -> None:
    # GIVEN a repository that counts its watch-token lookups (the GSI query in DynamoDB)
    lookups: list[str] = []
    by_token = world.prospects.get_by_watch_token

    def counted(token: str) -> Prospect:
        lookups.append(token)
        return by_token(token)

    world.prospects.get_by_watch_token = counted  # type: ignore[method-assign]
    junk = [b"{nope", b"[" * 2000, _body({"type": "play"}, session="forged.1.mac")]
    # WHEN one address sends junk: malformed, too deep, a forged session on an unknown token
    for i in range(INTEGRITY.rate_per_minute):
        with pytest.raises((InvalidInputError, NotFoundError)):
            world.receive(junk[i % len(junk)], token="wt_unknown" if i % 3 == 2 else None)
    # THEN the next one is refused by the limit, whatever it holds, and nothing is looked up
    before = len(lookups)
    for raw in junk:
        with pytest.raises(RateLimitedError):
            world.receive(raw, token="wt_unknown")
        with pytest.raises(RateLimitedError):
            world.receive(b"x" * (engagement.MAX_BODY_BYTES + 1))
    assert len(lookups) == before
    assert world.sink.events == []


def test_each_event_must_carry_its_sequence_number() -> None:
    raw = json.dumps({"session": "s.1.m", "events": [{"type": "page_view", "seq": 0}, {"type": "play"}]})
    with pytest.raises(InvalidInputError) as err:
        engagement.parse_body(raw.encode())
    assert [(i.loc, i.message) for i in err.value.issues] == [("body.events.1.seq", "Field required")]
    for bad in (-1, engagement.MAX_SEQ + 1, "one", 1.5):
        with pytest.raises(InvalidInputError) as err:
            engagement.parse_body(_body({"type": "play", "seq": bad}))
        assert [i.loc for i in err.value.issues] == ["body.events.0.seq"], bad


def test_a_replayed_body_is_stored_flagged_and_counts_once(world: World) -> None:
    # GIVEN one captured body: a play and a CTA click
    raw = world.body({"type": "play", "position": 0}, {"type": "cta_click"})
    # WHEN it is sent five times
    done = [world.receive(raw) for _ in range(5)]
    # THEN the first counts and the four replays are kept, flagged, and change nothing
    assert [(d.stored, d.flagged, d.replayed) for d in done] == [(2, 0, 0)] + [(2, 2, 2)] * 4
    p = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    assert (p.video_view_count, p.cta_click_count) == (1, 1)
    assert world.campaigns.get(ACCOUNT, CAMPAIGN).counters.views == 1
    assert len(world.publisher.of_type("video.played")) == 1
    assert len(world.publisher.of_type("cta.clicked")) == 1
    assert [e["bot_reason"] for e in world.sink.events] == [None, None] + ["replay"] * 8
    assert len({e["event_id"] for e in world.sink.events}) == 10


def test_a_sequence_number_counts_once_within_a_body_and_across_requests(world: World) -> None:
    session = world.session(NOW - timedelta(seconds=30))
    world.send({"type": "cta_click", "seq": 7}, {"type": "cta_click", "seq": 7}, session=session)
    world.send({"type": "cta_click", "seq": 7}, {"type": "cta_click", "seq": 8}, session=session)
    assert [e["bot_reason"] for e in world.sink.events] == [None, "replay", "replay", None]
    assert world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id).cta_click_count == 2
    # the same number in another page session is another event
    world.send({"type": "cta_click", "seq": 7})
    assert world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id).cta_click_count == 3


def test_concurrent_replays_count_once(world: World) -> None:
    raw = world.body({"type": "play"}, {"type": "cta_click"})
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def replay(i: int) -> None:
        barrier.wait()
        try:  # from eight addresses, so that the rate limit is not what stops them
            world.receive(raw, client=engagement.Client(ip=f"198.51.{i}.1", user_agent=CHROME))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    p = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    assert (p.video_view_count, p.cta_click_count) == (1, 1)
    assert sum(1 for e in world.sink.events if e["bot_reason"] == "replay") == 14


def test_event_and_webhook_ids_are_a_function_of_session_and_seq(world: World) -> None:
    session = world.session(NOW - timedelta(seconds=30))
    sid = session.split(".")[0]
    raw = world.body({"type": "play", "seq": 0}, {"type": "cta_click", "seq": 1}, session=session)
    # GIVEN the event stream is down: nothing is stored or counted, and the claims are released
    world.sink.refuse = "outage"
    with pytest.raises(StorageError):
        world.receive(raw)
    assert world.publisher.events == []
    # WHEN the player's request is retried
    world.sink.refuse = None
    world.receive(raw)
    # THEN it counts (it is not a replay), under ids derived from (session, seq)
    play_id = engagement.beacon_event_id(world.prospect.prospect_id, sid, 0)
    click_id = engagement.beacon_event_id(world.prospect.prospect_id, sid, 1)
    assert [(e["event_id"], e["bot"]) for e in world.sink.events] == [(play_id, False), (click_id, False)]
    assert [(e.event_type, e.event_id) for e in world.publisher.events] == [
        ("video.played", f"evt_played_{play_id}"),
        ("cta.clicked", f"evt_cta_{click_id}"),
    ]
    assert play_id.startswith("ev_") and len(play_id) == len("ev_") + 26
    assert engagement.beacon_event_id(world.prospect.prospect_id, sid, 2) != play_id


def test_nesting_is_refused_before_parsing() -> None:
    # A few thousand brackets fit in the size limit and would exhaust json's recursion.
    for raw in (b"[" * 2000, b'{"session": "s", "events": ' + b"[" * 2000 + b"]" * 2000 + b"}", b"{" * 3000):
        with pytest.raises(InvalidInputError, match="nested more than 5 levels"):
            engagement.parse_body(raw)
    with pytest.raises(PayloadTooLargeError):
        engagement.parse_body(b"[" * 100_000)
    # Brackets inside strings are text, and the deepest valid body (ranges of pairs) passes.
    engagement.parse_body(
        json.dumps(
            {"session": '[[[[[[{{{{{\\"', "events": [{"type": "heartbeat", "seq": 0, "ranges": [[0, 1]]}]}
        ).encode()
    )


def test_a_session_that_is_not_text_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError) as err:
        engagement.parse_body(b'{"session": "a\\ud800.1.m", "events": [{"type": "play", "seq": 0}]}')
    assert [i.loc for i in err.value.issues] == ["body.session"]


def test_ips_are_truncated() -> None:
    assert engagement.truncate_ip("203.0.113.77") == "203.0.113.0"
    assert engagement.truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert engagement.truncate_ip("::ffff:192.0.2.9") == "192.0.2.0"
    assert engagement.truncate_ip("not an ip") is None
    assert engagement.viewer_ip("198.51.100.7:443", "10.0.0.1") == "198.51.100.7"
    assert engagement.viewer_ip("[2001:db8::1]:5000", None) == "2001:db8::1"
    assert engagement.viewer_ip(None, "10.0.0.1") == "10.0.0.1"


# --------------------------------------------------------------------------- bots


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        (CHROME, None),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", None),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "scanner_user_agent"),
        ("Mimecast URL Protect", "scanner_user_agent"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) HeadlessChrome/120.0 Safari/537.36",
            "scanner_user_agent",
        ),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "scanner_user_agent"),
        ("LinkedInBot/1.0", "scanner_user_agent"),
        ("curl/8.5.0", "scanner_user_agent"),
        ("python-requests/2.32", "scanner_user_agent"),
        ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)", "scanner_user_agent"),
        ("", "missing_user_agent"),
    ],
)
def test_scanner_user_agents_are_flagged(world: World, agent: str, reason: str | None) -> None:
    client = engagement.Client(ip="203.0.113.1", user_agent=agent)
    assert engagement.bot_reason_for_request(client, world.prospect, NOW, 60) == reason


def test_head_requests_and_hits_right_after_sending_are_flagged(world: World) -> None:
    head = engagement.Client(ip="203.0.113.1", user_agent=CHROME, method="HEAD")
    assert engagement.bot_reason_for_request(head, world.prospect, NOW, 60) == "head_request"
    sent = world.prospect.model_copy(update={"email_sent_at": NOW - timedelta(seconds=4)})
    assert engagement.bot_reason_for_request(PERSON, sent, NOW, 60) == "too_soon_after_send"
    later = world.prospect.model_copy(update={"email_sent_at": NOW - timedelta(minutes=5)})
    assert engagement.bot_reason_for_request(PERSON, later, NOW, 60) is None


def test_impossible_watch_times_are_flagged_not_dropped(world: World) -> None:
    # The page was served 10 s ago: at most 2x speed, 20 s (+5 s slack) can have been watched.
    session = world.session(NOW - timedelta(seconds=10))
    done = world.send(
        {"type": "quartile", "quartile": 100, "position": 19.9, "watched": 19.9},
        {"type": "heartbeat", "position": 19.9, "ranges": [[0, 19.9]], "watched": 19.9},
        session=session,
    )
    assert (done.stored, done.flagged) == (2, 0)
    done = world.send(
        {"type": "heartbeat", "position": 19.0, "ranges": [[0, 19.0]], "watched": 60.0},
        session=world.session(NOW),
    )
    assert (done.stored, done.flagged) == (1, 1)
    assert world.sink.events[-1]["bot_reason"] == "impossible_timing"
    stale = world.session(NOW - timedelta(hours=13))
    world.send({"type": "page_view"}, session=stale)
    assert world.sink.events[-1]["bot_reason"] == "stale_session"


# --------------------------------------------------------------------------- records and counting


def test_records_carry_who_where_and_what(world: World) -> None:
    world.send(
        {"type": "heartbeat", "t": 1763812800000, "position": 6.5, "ranges": [[1.5, 6.5]], "watched": 5.0,
         "quality": "720p", "speed": 1.5},
    )  # fmt: skip
    (record,) = world.sink.events
    assert record | {"event_id": "x"} == {
        "event_id": "x",
        "type": "heartbeat",
        "ts": int(NOW.timestamp() * 1000),
        "client_ts": 1763812800000,
        "account_id": ACCOUNT,
        "campaign_id": CAMPAIGN,
        "prospect_id": "pr_ada",
        "render_id": "rnd_ada",
        "variant": "default",
        "session_id": record["session_id"],
        "position": 6.5,
        "duration": 20.0,
        "watched": 5.0,
        "ranges": [[1.5, 6.5]],
        "quartile": None,
        "quality": "720p",
        "speed": 1.5,
        "method": None,
        "user_agent": CHROME,
        "ip": "203.0.113.0",
        "bot": False,
        "bot_reason": None,
    }
    assert record["event_id"].startswith("ev_") and record["session_id"]


def test_a_persons_first_play_counts_once_and_fires_one_webhook(world: World) -> None:
    world.send({"type": "page_view"}, {"type": "play", "position": 0})
    world.send({"type": "play", "position": 4.0})  # a second play (after a pause) in a later session
    p = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    assert p.video_view_count == 2 and p.video_viewed_at == NOW
    assert world.campaigns.get(ACCOUNT, CAMPAIGN).counters.views == 1
    (played,) = world.publisher.of_type("video.played")
    assert played.data["prospect_id"] == "pr_ada" and played.data["email"] == "ada@example.com"


def test_cta_clicks_count_and_fire_webhooks(world: World) -> None:
    world.send({"type": "cta_click"})
    world.send({"type": "cta_click"})
    p = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    assert p.cta_click_count == 2 and p.cta_clicked_at == NOW
    clicks = world.publisher.of_type("cta.clicked")
    assert len(clicks) == 2 and clicks[0].data["cta_url"] == "https://cal.example.com/grace"


def test_bots_never_count_or_notify(world: World) -> None:
    scanner = engagement.Client(ip="192.0.2.10", user_agent="Mimecast URL Protect")
    done = world.send({"type": "page_view"}, {"type": "play"}, {"type": "cta_click"}, client=scanner)
    assert (done.stored, done.flagged) == (3, 3)
    assert {e["bot_reason"] for e in world.sink.events} == {"scanner_user_agent"}
    p = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    assert (p.video_view_count, p.video_viewed_at, p.cta_click_count) == (0, None, 0)
    assert world.publisher.events == []


def test_page_requests_are_logged_without_counting(world: World) -> None:
    before = world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id)
    getter = engagement.Client(ip="203.0.113.77", user_agent=CHROME, method="GET")
    engagement.log_page_request(world.found(), getter, world.sink, INTEGRITY, "sid", NOW)
    head = engagement.Client(ip="192.0.2.1", user_agent=CHROME, method="HEAD")
    engagement.log_page_request(world.found(), head, world.sink, INTEGRITY, None, NOW)
    assert [(e["type"], e["method"], e["bot_reason"]) for e in world.sink.events] == [
        ("page_request", "GET", None),
        ("page_request", "HEAD", "head_request"),
    ]
    assert world.prospects.get(ACCOUNT, CAMPAIGN, world.prospect.prospect_id) == before
    world.sink.refuse = "outage"
    engagement.log_page_request(
        world.found(), getter, world.sink, INTEGRITY, "sid", NOW
    )  # the page still opens


def test_marking_prospects_sent_logs_sent_events(world: World) -> None:
    bo = world.add_prospect("Bo", "bo@example.com")
    marked, missing = engagement.mark_sent(
        prospects=world.prospects,
        videos=world.videos,
        sink=world.sink,
        account_id=ACCOUNT,
        campaign_id=CAMPAIGN,
        prospect_ids=["pr_ada", bo.prospect_id, "pr_nope"],
        sent_at=NOW,
    )
    assert (marked, missing) == (2, ["pr_nope"])
    assert [(e["type"], e["prospect_id"], e["ts"]) for e in world.sink.events] == [
        ("sent", "pr_ada", int(NOW.timestamp() * 1000)),
        ("sent", bo.prospect_id, int(NOW.timestamp() * 1000)),
    ]
    assert world.prospects.get(ACCOUNT, CAMPAIGN, "pr_ada").email_sent_at == NOW


def test_every_beacon_type_records_exactly_the_tables_columns(world: World) -> None:
    from chalicelib.adapters.analytics_schema import COLUMNS

    world.send(
        {"type": "page_view"},
        {"type": "play", "position": 1.0},
        {
            "type": "heartbeat",
            "position": 3.0,
            "ranges": [[1, 3]],
            "watched": 2.0,
            "quality": "auto",
            "speed": 1,
        },
        {"type": "quartile", "quartile": 25, "position": 5.0, "watched": 4.0},
        {"type": "pause", "position": 5.0},
        {"type": "ended", "position": 20.0, "ranges": [[5, 20]], "watched": 19.0},
        {"type": "quality_change", "quality": "480p", "position": 6.0},
        {"type": "cta_click"},
    )
    columns = [name for name, _ in COLUMNS]
    assert len(world.sink.events) == 8
    for record in world.sink.events:
        assert list(record) == columns, record["type"]
