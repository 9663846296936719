"""The watch page, its beacons and the seller's link controls, through the Chalice test client on
moto (Secrets Manager holds the signing secret; the event stream is recorded)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.models import (
    BaseVideo,
    Ladder,
    Prospect,
    ProspectVideo,
    RenderWindow,
    UploadStatus,
    VideoStatus,
    new_id,
)
from tests.functional.conftest import Tenant, call, get_json

BASE = "https://watch.example.test"
#: What the front door (CloudFront, the local gateway) adds to every request it sends the API.
ORIGIN_SECRET = "front-door-secret-0123456789abcdefghij"
FRONT_DOOR = {"X-Origin-Verify": ORIGIN_SECRET}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


class StreamReader:
    """The events as Firehose delivered them to S3 (moto's Firehose, a plain prefix), one JSON
    object per line: what the product wrote through its real Firehose adapter."""

    STREAM, BUCKET = "tailorcast-test-events", "tailorcast-test-analytics"

    def __init__(self) -> None:
        import boto3

        self._s3 = boto3.client("s3")
        self._skip = 0

    @classmethod
    def create(cls) -> StreamReader:
        import os

        import boto3

        boto3.client("s3").create_bucket(Bucket=cls.BUCKET)
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName=cls.STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{cls.BUCKET}",
                "Prefix": "events/",
            },
        )
        os.environ["TAILORCAST_EVENTS_STREAM_NAME"] = cls.STREAM
        return cls()

    def _all(self) -> list[dict[str, Any]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET, Prefix="events/")
        keys = sorted((o["LastModified"], o["Key"]) for page in pages for o in page.get("Contents", []))
        lines = []
        for _, key in keys:
            body = self._s3.get_object(Bucket=self.BUCKET, Key=key)["Body"].read().decode()
            lines += [json.loads(line) for line in body.splitlines() if line.strip()]
        # Objects are named by second and a random id: order the events by when they arrived
        # (stable, so one request's events keep their order).
        return sorted(lines, key=lambda e: e["ts"])

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._all()[self._skip :]

    def clear(self) -> None:
        self._skip = len(self._all())


@dataclass
class World:
    """Alice's campaign with one watchable prospect. Requests to the public routes go through the
    front door (they carry its secret header) unless ``via`` says otherwise."""

    client: Client
    alice: Tenant
    campaign_id: str
    prospect: Prospect
    sink: StreamReader
    seq: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    @property
    def page_path(self) -> str:
        return f"/w/{self.prospect.watch_token}"

    def public(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b"", via: Any = FRONT_DOOR
    ) -> Any:
        """A request to a public route, as the front door sends it (``via={}``: straight to the API)."""
        return self.client.http.request(method, path, headers={**headers, **via}, body=body)

    def open_page(self, token: str | None = None, agent: str = CHROME, method: str = "GET") -> Any:
        return self.public(
            method,
            f"/w/{token or self.prospect.watch_token}",
            {"User-Agent": agent, "CloudFront-Viewer-Address": "203.0.113.77:51234"},
        )

    def session(self) -> str:
        html = self.open_page().body.decode()
        data = json.loads(html.split('id="tc-page"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])
        return str(data["session"])

    def beacon(
        self,
        body: Any,
        agent: str = CHROME,
        token: str | None = None,
        ip: str = "203.0.113.77",
        via: Any = FRONT_DOOR,
    ) -> Any:
        """POST a beacon body: bytes as they are; a dict with each event numbered (``seq``) as the
        player numbers them, unless the event names its own."""
        if isinstance(body, bytes):
            raw = body
        else:
            events = [{"seq": next(self.seq), **e} for e in body.get("events", [])]
            raw = json.dumps({**body, "events": events} if "events" in body else body).encode()
        return self.public(
            "POST",
            f"/w/{token or self.prospect.watch_token}/events",
            {
                "Content-Type": "text/plain;charset=UTF-8",
                "User-Agent": agent,
                "CloudFront-Viewer-Address": f"{ip}:443",
            },
            raw,
            via,
        )

    def stored(self) -> Prospect:
        from chalicelib import dependencies

        return dependencies.get_prospect_repo().get(
            self.alice.account_id, self.campaign_id, self.prospect.prospect_id
        )


def _ready_campaign(account_id: str, campaign_id: str) -> None:
    from chalicelib import dependencies

    ladder = Ladder(
        prefix=f"{account_id}/{campaign_id}/base/upl_1",
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
    dependencies.get_campaign_repo().update(
        account_id,
        campaign_id,
        lambda c: c.model_copy(
            update={
                "base_video": BaseVideo(
                    upload_id="upl_1", key="k", filename="f.mp4", status=UploadStatus.READY, ladder=ladder
                )
            }
        ),
    )


def _prospect_with_video(account_id: str, campaign_id: str, first: str, email: str) -> Prospect:
    from chalicelib import dependencies

    prospect = dependencies.get_prospect_repo().add(
        Prospect(
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=new_id("pros"),
            first_name=first,
            email=email,
            company="Analytical Engines",
        )
    )
    render_id = new_id("rnd")
    dependencies.get_video_repo().save(
        ProspectVideo(
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=prospect.prospect_id,
            render_id=render_id,
            status=VideoStatus.COMPLETED,
            base_upload_id="upl_1",
            window=RenderWindow(start=0.5, end=1.5),
            first_segment=0,
            segment_count=1,
            prefix=f"{account_id}/{campaign_id}/videos/{prospect.prospect_id}/{render_id}",
            master="master.m3u8",
            poster="poster.jpg",
        )
    )
    return prospect


@pytest.fixture
def world(
    client: Client, new_tenant: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[World]:
    import boto3

    from chalicelib import dependencies
    from chalicelib.settings import get_settings
    from devstack.cdnkeys import CdnKeys

    monkeypatch.setenv("TAILORCAST_WATCH_BASE_URL", BASE)
    monkeypatch.setenv("TAILORCAST_MEDIA_BASE_URL", BASE)
    monkeypatch.setenv("TAILORCAST_BEACON_RATE_PER_MINUTE", "30")
    monkeypatch.setenv("TAILORCAST_EVENTS_STREAM_NAME", StreamReader.STREAM)
    monkeypatch.setenv("TAILORCAST_ORIGIN_VERIFY_SECRET", ORIGIN_SECRET)
    dependencies.reset()
    CdnKeys(tmp_path / "cdn").ensure_secret(boto3.client("secretsmanager"), get_settings().watch_secret_name)
    sink = StreamReader.create()
    alice = new_tenant("alice@a.io")
    campaign = json.loads(call(client, "POST", "/campaigns", alice, {"name": "Q4"}).body)
    _ready_campaign(alice.account_id, campaign["campaign_id"])
    response = call(
        client,
        "PATCH",
        f"/campaigns/{campaign['campaign_id']}",
        alice,
        {
            "watch_page": {
                "headline": "{first_name}, a video for {company} <3",
                "seller_name": "Grace <Hopper>",
                "cta_label": "Pick a time",
                "cta_url": "https://cal.example.com/grace",
            }
        },
    )
    assert response.status_code == 200, response.body
    prospect = _prospect_with_video(alice.account_id, campaign["campaign_id"], "Ada", "ada@example.com")
    yield World(client, alice, campaign["campaign_id"], prospect, sink)
    dependencies.reset()


# --------------------------------------------------------------------------- the page


def test_the_watch_page_shows_the_video_and_sets_path_scoped_cookies(world: World) -> None:
    before = world.stored()
    response = world.open_page()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    html = response.body.decode()
    assert "Ada, a video for Analytical Engines &lt;3" in html  # filled in and escaped
    assert "Grace &lt;Hopper&gt;" in html and "<Hopper>" not in html
    assert 'href="https://cal.example.com/grace"' in html and "Pick a time" in html
    assert f'content="{BASE}/w/{world.prospect.watch_token}"' in html  # og:url
    video = world.prospect.prospect_id
    assert f"/videos/{video}/" in html and "master.m3u8" in html

    cookies = response.headers["Set-Cookie"]
    assert isinstance(cookies, list) and len(cookies) == 6
    paths = sorted({c.split("Path=", 1)[1].split(";", 1)[0] for c in cookies})
    account, campaign = world.alice.account_id, world.campaign_id
    assert paths[0] == f"/{account}/{campaign}/base/upl_1/"
    assert paths[1].startswith(f"/{account}/{campaign}/videos/{video}/rnd_") and paths[1].endswith("/")
    assert all("HttpOnly" in c and "SameSite=Lax" in c and "Secure" in c for c in cookies)
    assert {c.split("=", 1)[0] for c in cookies} == {
        "CloudFront-Policy",
        "CloudFront-Signature",
        "CloudFront-Key-Pair-Id",
    }

    # A GET is logged, never counted: the prospect is exactly as it was.
    assert world.stored() == before
    (logged,) = world.sink.events
    assert (logged["type"], logged["method"], logged["bot"], logged["ip"]) == (
        "page_request",
        "GET",
        False,
        "203.0.113.0",
    )


def test_head_and_scanner_fetches_are_logged_as_bots(world: World) -> None:
    assert world.open_page(method="HEAD").status_code == 200
    assert world.open_page(agent="Mozilla/5.0 (compatible; Proofpoint URL Defense)").status_code == 200
    assert [e["bot_reason"] for e in world.sink.events] == ["head_request", "scanner_user_agent"]
    assert world.stored().video_view_count == 0


def test_unknown_expired_and_revoked_links_get_the_same_plain_404(world: World) -> None:
    unknown = world.open_page(token="A" * 22)
    assert unknown.status_code == 404 and "text/html" in unknown.headers["Content-Type"]
    path = f"/campaigns/{world.campaign_id}/prospects/{world.prospect.prospect_id}/watch-link"
    revoked = call(world.client, "PUT", path, world.alice, {"revoked": True})
    assert revoked.status_code == 200 and json.loads(revoked.body)["live"] is False
    gone = world.open_page()
    assert gone.status_code == 404 and gone.body == unknown.body
    assert "Set-Cookie" not in gone.headers
    restored = json.loads(call(world.client, "PUT", path, world.alice, {"revoked": False}).body)
    assert restored["live"] is True and world.open_page().status_code == 200
    # expiry: set in the future works; once past, the link is gone
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert json.loads(call(world.client, "PUT", path, world.alice, {"expires_at": soon}).body)["live"] is True
    past = call(world.client, "PUT", path, world.alice, {"expires_at": "2020-01-01T00:00:00Z"})
    assert (
        past.status_code == 422 and json.loads(past.body)["error"]["fields"][0]["field"] == "body.expires_at"
    )
    assert world.sink.events == [e for e in world.sink.events if e["type"] == "page_request"]


def test_rotating_a_link_gives_a_new_url_and_kills_the_old_one(world: World) -> None:
    path = f"/campaigns/{world.campaign_id}/prospects/{world.prospect.prospect_id}/watch-link"
    link = get_json(world.client, world.alice, path)
    assert link["watch_url"] == f"{BASE}/w/{world.prospect.watch_token}"
    rotated = json.loads(call(world.client, "PUT", path, world.alice, {"rotate": True}).body)
    new_token = rotated["watch_url"].rsplit("/", 1)[1]
    assert new_token != world.prospect.watch_token and len(new_token) >= 22
    assert world.open_page().status_code == 404
    assert world.open_page(token=new_token).status_code == 200


# --------------------------------------------------------------------------- beacons


def test_a_person_playing_counts_once_and_every_event_is_stored(world: World) -> None:
    session = world.session()
    world.sink.clear()
    events: list[dict[str, Any]] = [
        {"type": "page_view"},
        {"type": "play", "position": 0},
        {
            "type": "heartbeat",
            "position": 5.0,
            "ranges": [[0, 5.0]],
            "watched": 5.0,
            "quality": "720p",
            "speed": 1,
        },
        {"type": "quartile", "quartile": 25, "position": 5.0, "watched": 5.0},
        {"type": "quality_change", "quality": "360p", "position": 5.0},
        {"type": "cta_click"},
    ]
    response = world.beacon({"session": session, "events": events})
    assert response.status_code == 204, response.body
    assert [e["type"] for e in world.sink.events] == [e["type"] for e in events]
    assert {e["bot"] for e in world.sink.events} == {False}
    assert {(e["account_id"], e["campaign_id"], e["prospect_id"]) for e in world.sink.events} == {
        (world.alice.account_id, world.campaign_id, world.prospect.prospect_id)
    }
    stored = world.stored()
    assert stored.video_view_count == 1 and stored.video_viewed_at is not None
    assert stored.cta_click_count == 1
    campaign = get_json(world.client, world.alice, f"/campaigns/{world.campaign_id}")
    assert campaign["counters"]["views"] == 1


def test_bad_beacons_are_refused_with_what_was_wrong(world: World) -> None:
    session = world.session()
    world.sink.clear()
    cases = [
        (b"{not json", 400, None),
        (b'{"session": "' + b"x" * 5000 + b'"}', 413, None),
        ({"session": session, "events": [{"type": "teleport"}]}, 422, "body.events.0"),
        ({"session": session, "events": [{"type": "play", "position": 99.0}]}, 422, "body.events.0.position"),
        (
            {"session": session, "events": [{"type": "play", "account_id": "acct_x"}]},
            422,
            "body.events.0.account_id",
        ),
        ({"session": session + "x", "events": [{"type": "play"}]}, 422, "body.session"),
    ]
    for body, status, field in cases:
        response = world.beacon(body)
        assert response.status_code == status, (body, response.status_code, response.body)
        if field:
            fields = [f["field"] for f in json.loads(response.body)["error"]["fields"]]
            assert any(f.startswith(field) for f in fields), fields
    # a forged token, and a session from another prospect's page
    other = _prospect_with_video(world.alice.account_id, world.campaign_id, "Bo", "bo@example.com")
    assert world.beacon({"session": session, "events": [{"type": "play"}]}, token="B" * 22).status_code == 404
    assert (
        world.beacon({"session": session, "events": [{"type": "play"}]}, token=other.watch_token).status_code
        == 422
    )
    assert world.sink.events == []
    assert world.stored().video_view_count == 0


def test_a_flood_from_one_address_is_rejected(world: World) -> None:
    session = world.session()
    # The limit is per clock minute: start early in one, so the burst does not straddle two.
    second = datetime.now(UTC).second
    if second > 30:
        time.sleep(60.5 - second)
    codes = [
        world.beacon({"session": session, "events": [{"type": "page_view"}]}).status_code for _ in range(32)
    ]
    assert codes[:30] == [204] * 30 and codes[30:] == [429, 429]
    limited = world.beacon({"session": session, "events": [{"type": "page_view"}]})
    assert limited.headers["Retry-After"] == "60"
    assert (
        world.beacon({"session": session, "events": [{"type": "page_view"}]}, ip="198.51.100.9").status_code
        == 204
    )


def test_a_flood_of_invalid_bodies_is_limited_too(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain import engagement

    # One clock minute for the whole burst (the limit's window), whatever the wall clock does.
    minute = datetime.now(UTC).replace(second=1, microsecond=0)
    monkeypatch.setattr(engagement, "utcnow", lambda: minute)
    junk = [
        b"{not json",
        b"[" * 2000,
        json.dumps({"session": "a.1.b", "events": [{"type": "play"}]}).encode(),
    ]
    codes = [world.beacon(junk[i % 3], token="C" * 22 if i % 2 else None).status_code for i in range(32)]
    # Refused for what they are (malformed, too deep, no seq) until the limit, then before any of it.
    assert set(codes[:30]) == {400, 422} and codes[30:] == [429, 429]
    assert world.beacon(b"[" * 100_000).status_code == 429  # even one too large to read
    assert world.beacon(junk[0], ip="198.51.100.9").status_code == 400  # another address is not affected
    assert world.sink.events == []


def test_deeply_nested_bodies_are_refused_not_crashed_on(world: World) -> None:
    for token in (None, "D" * 22):  # a known link, and one that does not exist
        deep = world.beacon(b"[" * 2000, token=token)  # within the 4 KB limit
        assert deep.status_code == 400, deep.body
        assert "nested more than 5 levels" in json.loads(deep.body)["error"]["message"]
        huge = world.beacon(b"[" * 100_000, token=token)
        assert huge.status_code == 413, huge.body
        assert json.loads(huge.body)["error"]["code"] == "payload_too_large"


def test_events_without_a_sequence_number_are_refused_naming_it(world: World) -> None:
    session = world.session()
    world.sink.clear()
    response = world.beacon(json.dumps({"session": session, "events": [{"type": "play"}]}).encode())
    assert response.status_code == 422, response.body
    assert [f["field"] for f in json.loads(response.body)["error"]["fields"]] == ["body.events.0.seq"]
    assert world.sink.events == []


def test_a_replayed_beacon_body_counts_once_and_notifies_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import dependencies
    from tests.fakes import FakeEventPublisher

    # GIVEN the webhooks the API publishes are recorded, and a beacon body was captured on the wire
    published = FakeEventPublisher()
    # (cached like the real one: dependencies.reset() clears it)
    monkeypatch.setattr(dependencies, "get_event_publisher", functools.cache(lambda: published))
    session = world.session()
    world.sink.clear()
    raw = json.dumps(
        {"session": session, "events": [{"type": "play", "seq": 0}, {"type": "cta_click", "seq": 1}]}
    ).encode()
    # WHEN it is sent five times (from anywhere: the address doesn't matter)
    codes = [world.beacon(raw, ip=f"198.51.100.{i}").status_code for i in range(5)]
    # THEN every request is accepted, one play and one click count, and one webhook of each goes,
    # its id derived from the event's
    assert codes == [204] * 5
    stored = world.stored()
    assert (stored.video_view_count, stored.cta_click_count) == (1, 1)
    assert get_json(world.client, world.alice, f"/campaigns/{world.campaign_id}")["counters"]["views"] == 1
    events = world.sink.events
    assert [e["bot_reason"] for e in events] == [None, None] + ["replay"] * 8
    assert [(e.event_type, e.event_id) for e in published.events] == [
        ("video.played", f"evt_played_{events[0]['event_id']}"),
        ("cta.clicked", f"evt_cta_{events[1]['event_id']}"),
    ]


def test_requests_that_skip_the_front_door_are_refused(world: World) -> None:
    from chalicelib.web import asset_url

    session = world.session()
    world.sink.clear()
    before = world.stored()
    # GIVEN a caller that reaches the API directly, without the front door's header or with a guess
    for via in ({}, {"X-Origin-Verify": "guess"}, {"X-Origin-Verify": ORIGIN_SECRET[:-1]}):
        refused = [
            world.public("GET", world.page_path, {"User-Agent": CHROME}, via=via),
            world.public("HEAD", world.page_path, {"User-Agent": CHROME}, via=via),
            world.public("GET", asset_url("player.js"), {}, via=via),
            world.beacon({"session": session, "events": [{"type": "play"}]}, via=via),
        ]
        # THEN each route answers 403 in the API's error shape, and nothing is logged or counted
        assert [r.status_code for r in refused] == [403] * 4
        for response in (refused[0], refused[2], refused[3]):
            assert json.loads(response.body)["error"]["code"] == "forbidden"
            assert "Set-Cookie" not in response.headers
    # A rotating CloudFront-Viewer-Address buys nothing: past the per-address limit, all refused.
    codes = {
        world.beacon({"session": session, "events": [{"type": "play"}]}, ip=f"10.{i}.0.1", via={}).status_code
        for i in range(40)
    }
    assert codes == {403}
    assert world.sink.events == [] and world.stored() == before
    # The same requests through the front door work.
    assert world.beacon({"session": session, "events": [{"type": "play"}]}).status_code == 204
    assert world.stored().video_view_count == 1


def test_the_viewer_address_is_believed_only_with_a_front_door_secret(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import dependencies

    # Without a secret configured nothing is refused, and CloudFront-Viewer-Address is not believed
    # (anyone could have written it): the connection's own address is logged instead.
    monkeypatch.delenv("TAILORCAST_ORIGIN_VERIFY_SECRET")
    dependencies.reset()
    world.sink.clear()
    assert world.open_page().status_code == 200
    assert world.open_page(method="HEAD").status_code == 200
    assert world.sink.events[0]["ip"] != "203.0.113.0"


def test_scanner_beacons_are_stored_flagged_and_never_counted(world: World) -> None:
    session = world.session()
    response = world.beacon(
        {"session": session, "events": [{"type": "page_view"}, {"type": "play"}]},
        agent="Mimecast URL Protect",
    )
    assert response.status_code == 204
    flagged = [e for e in world.sink.events if e["type"] in ("page_view", "play")]
    assert [(e["bot"], e["bot_reason"]) for e in flagged] == [(True, "scanner_user_agent")] * 2
    assert world.stored().video_view_count == 0


def test_hits_right_after_sending_are_flagged(world: World) -> None:
    path = f"/campaigns/{world.campaign_id}/prospects/sent"
    marked = call(
        world.client, "POST", path, world.alice, {"prospect_ids": [world.prospect.prospect_id, "pros_nope"]}
    )
    assert marked.status_code == 200
    assert json.loads(marked.body) == {"marked": 1, "not_found": ["pros_nope"]}
    assert world.sink.events[-1]["type"] == "sent"
    world.open_page()
    assert world.sink.events[-1]["bot_reason"] == "too_soon_after_send"


def test_other_tenants_cannot_touch_links_or_marks(world: World, new_tenant: Any) -> None:
    mallory = new_tenant("mallory@m.io")
    link = f"/campaigns/{world.campaign_id}/prospects/{world.prospect.prospect_id}/watch-link"
    assert call(world.client, "GET", link, mallory).status_code == 404
    assert call(world.client, "PUT", link, mallory, {"rotate": True, "revoked": True}).status_code == 404
    sent = f"/campaigns/{world.campaign_id}/prospects/sent"
    assert (
        call(world.client, "POST", sent, mallory, {"prospect_ids": [world.prospect.prospect_id]}).status_code
        == 404
    )
    assert world.open_page().status_code == 200
    assert world.stored().email_sent_at is None


# --------------------------------------------------------------------------- assets


def test_assets_are_served_immutable_and_unknown_names_are_404(world: World) -> None:
    from chalicelib.web import asset_url

    url = asset_url("player.js")
    response = world.public("GET", url, {})
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert world.public("GET", "/assets/nope.js", {}).status_code == 404
    assert world.public("GET", "/assets/..%2F..%2Fapp.py", {}).status_code == 404


def test_a_placeholder_signing_key_makes_the_watch_routes_answer_503(world: World) -> None:
    import boto3

    from chalicelib import dependencies
    from chalicelib.adapters.cdn import COOKIE_KEY_PLACEHOLDER
    from chalicelib.settings import get_settings

    # GIVEN the watch secret as CDK creates it (the operator never stored the real key)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=get_settings().watch_secret_name,
        SecretString=json.dumps({"cookie_private_key": COOKIE_KEY_PLACEHOLDER, "session_key": "A" * 64}),
    )
    dependencies.reset()  # a fresh container

    # THEN the page and the beacons refuse with our error shape, saying nothing about the key
    for response in (
        world.open_page(),
        world.beacon({"session": "s.1.m", "events": [{"type": "page_view"}]}),
    ):
        assert response.status_code == 503, response.body
        error = json.loads(response.body)["error"]
        assert error["code"] == "configuration_error"
        assert "REPLACE-ME" not in response.body.decode() and "BEGIN" not in response.body.decode()
