"""The local front door (``devstack/gateway.py``): CloudFront's behaviour over moto's S3 and the API.

The gateway runs in this process against in-process moto S3 and a tiny stand-in API server.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from chalicelib.adapters.cdn import CookieSigner, SetCookie
from devstack.gateway import (
    IMMUTABLE_CACHE_CONTROL,
    SHORT_CACHE_CONTROL,
    CachedObject,
    MediaGateway,
    ObjectCache,
    wildcard_match,
)

BUCKET = "tailorcast-test-media"
KEY_PAIR_ID = "KTESTGATEWAY"
ORIGIN_SECRET = "gateway-origin-secret-0123456789abcdef"
BASE = "acct/camp/base/upl-1/"
P1 = "acct/camp/videos/p-1/r-1/"
P2 = "acct/camp/videos/p-2/r-2/"
SEGMENT = f"{BASE}main_720p_00001.m4s"
OBJECTS = {
    f"{P1}master.m3u8": (b"#EXTM3U\n#p1\n", "application/vnd.apple.mpegurl"),
    f"{P2}master.m3u8": (b"#EXTM3U\n#p2\n", "application/vnd.apple.mpegurl"),
    f"{P1}poster.jpg": (b"\xff\xd8jpeg", "image/jpeg"),
    SEGMENT: (bytes(range(256)) * 40, "video/iso.segment"),
    f"{BASE}init_720p.mp4": (b"init", "video/mp4"),
}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


class Upstream:
    """A stand-in API: records each request, answers as told by the path."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cookies = ["a=1; Path=/x", "b=2; Path=/y"]  # what the page sets
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        seen = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode(),
            "headers": dict(request.headers),
            "body": request.get_data().decode(),
        }
        self.requests.append(seen)
        if request.path.startswith("/assets/"):
            response = Response(
                f"asset {request.path}",
                content_type="text/css",
                headers={"Cache-Control": "public, max-age=60"},
            )
        elif request.path.endswith("/events"):
            response = Response(status=204)
        else:
            response = Response(json.dumps(seen), content_type="application/json")
            for cookie in self.cookies:
                response.headers.add("Set-Cookie", cookie)
        return response(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Front:
    gateway: MediaGateway
    upstream: Upstream
    s3_gets: list[str]
    clock: Clock


@pytest.fixture(scope="module")
def front(key: rsa.RSAPrivateKey) -> Iterator[Front]:
    """One gateway, S3 and API for the module (servers take a while to stop); reset per test."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for name, (body, content_type) in OBJECTS.items():
            s3.put_object(Bucket=BUCKET, Key=name, Body=body, ContentType=content_type)
        # Every S3 read the gateway makes, counted at the client (independently of its counters).
        s3_gets: list[str] = []
        s3.meta.events.register(
            "before-call.s3.GetObject", lambda params, **_: s3_gets.append(params["url_path"])
        )
        clock = Clock()
        gw = MediaGateway(
            lambda: s3,
            BUCKET,
            key_pair_id=KEY_PAIR_ID,
            public_key=key.public_key(),
            origin_headers={"X-Origin-Verify": ORIGIN_SECRET},
            clock=clock,
        )
        upstream = Upstream()
        gw.start()
        try:
            yield Front(gw, upstream, s3_gets, clock)
        finally:
            gw.stop()
            upstream.stop()


@pytest.fixture
def gateway(front: Front) -> MediaGateway:
    front.gateway.invalidate()
    front.gateway.reset_stats()
    front.gateway.set_api_url(front.upstream.url)
    front.upstream.requests.clear()
    front.upstream.cookies = ["a=1; Path=/x", "b=2; Path=/y"]
    front.s3_gets.clear()
    front.clock.now = time.time()
    return front.gateway


@pytest.fixture
def upstream(front: Front, gateway: MediaGateway) -> Upstream:
    return front.upstream


@pytest.fixture
def s3_gets(front: Front, gateway: MediaGateway) -> list[str]:
    return front.s3_gets


def _cookies(
    gateway: MediaGateway, pem: str, prefix: str, *, expires_in: float = 3600, key_pair_id: str = KEY_PAIR_ID
) -> list[SetCookie]:
    expires = datetime.now(UTC) + timedelta(seconds=expires_in)
    return CookieSigner(key_pair_id, pem).signed_cookies(gateway.url, prefix, expires)


def _header(cookies: list[SetCookie]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in cookies)}


def _get(
    gateway: MediaGateway, path: str, cookies: list[SetCookie] | None = None, **kw: Any
) -> httpx.Response:
    headers = {**(_header(cookies) if cookies else {}), **kw.pop("headers", {})}
    return httpx.request(kw.pop("method", "GET"), f"{gateway.url}/{path}", headers=headers, timeout=10, **kw)


# --------------------------------------------------------------------------- media: who may read


def test_a_poster_is_public_and_embeddable_anywhere(gateway: MediaGateway) -> None:
    reply = _get(gateway, f"{P1}poster.jpg")
    assert reply.status_code == 200 and reply.content == OBJECTS[f"{P1}poster.jpg"][0]
    assert reply.headers["content-type"] == "image/jpeg"
    assert reply.headers["cache-control"] == IMMUTABLE_CACHE_CONTROL
    assert reply.headers["access-control-allow-origin"] == "*"


def test_a_playlist_without_cookies_is_refused_as_cloudfront_refuses_it(gateway: MediaGateway) -> None:
    reply = _get(gateway, f"{P1}master.m3u8")
    assert reply.status_code == 403
    assert "<Code>MissingKey</Code>" in reply.text
    assert "Missing Key-Pair-Id query parameter or cookie value" in reply.text


def test_the_prospects_cookies_open_their_playlist(gateway: MediaGateway, pem: str) -> None:
    reply = _get(gateway, f"{P1}master.m3u8", _cookies(gateway, pem, P1))
    assert reply.status_code == 200 and reply.content == b"#EXTM3U\n#p1\n"
    assert reply.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert reply.headers["cache-control"] == SHORT_CACHE_CONTROL
    # same origin as the watch page: no CORS for protected media
    assert "access-control-allow-origin" not in reply.headers


def test_one_prospects_cookies_do_not_open_anothers_video(gateway: MediaGateway, pem: str) -> None:
    reply = _get(gateway, f"{P2}master.m3u8", _cookies(gateway, pem, P1))
    assert reply.status_code == 403 and "<Message>Access denied</Message>" in reply.text
    assert gateway.denials == {"resource_mismatch": 1}


def test_expired_cookies_are_refused(gateway: MediaGateway, pem: str) -> None:
    reply = _get(gateway, f"{P1}master.m3u8", _cookies(gateway, pem, P1, expires_in=-60))
    assert reply.status_code == 403 and "Access denied" in reply.text
    assert gateway.denials == {"expired": 1}


def test_a_tampered_signature_or_policy_is_refused(gateway: MediaGateway, pem: str) -> None:
    cookies = {c.name: c.value for c in _cookies(gateway, pem, P1)}
    signature = bytearray(cookies["CloudFront-Signature"].encode())
    signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
    forged = {**cookies, "CloudFront-Signature": signature.decode()}
    # a policy widened to the whole bucket, with the original signature
    wider = base64.b64encode(
        json.dumps(
            {
                "Statement": [
                    {
                        "Resource": f"{gateway.url}/*",
                        "Condition": {"DateLessThan": {"AWS:EpochTime": int(time.time()) + 3600}},
                    }
                ]
            },
            separators=(",", ":"),
        ).encode()
    ).decode()
    widened = {**cookies, "CloudFront-Policy": wider.replace("+", "-").replace("=", "_").replace("/", "~")}
    for jar in (forged, widened):
        header = "; ".join(f"{k}={v}" for k, v in jar.items())
        reply = httpx.get(f"{gateway.url}/{P2}master.m3u8", headers={"Cookie": header}, timeout=10)
        assert reply.status_code == 403 and "Access denied" in reply.text
    assert gateway.denials == {"bad_signature": 2}


def test_cookies_for_another_key_pair_are_refused(gateway: MediaGateway, pem: str) -> None:
    # GIVEN cookies naming a key pair the distribution does not trust
    reply = _get(gateway, f"{P1}master.m3u8", _cookies(gateway, pem, P1, key_pair_id="KOTHER"))
    assert reply.status_code == 403 and "Access denied" in reply.text
    # AND cookies naming the trusted id but signed with another key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    reply = _get(gateway, f"{P1}master.m3u8", _cookies(gateway, other_pem, P1))
    assert reply.status_code == 403
    assert gateway.denials == {"unknown_key_pair_id": 1, "bad_signature": 1}


def _custom_cookies(gateway: MediaGateway, key: rsa.RSAPrivateKey, **conditions: Any) -> dict[str, str]:
    def sign(message: bytes) -> bytes:
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's algorithm

    signer = CloudFrontSigner(KEY_PAIR_ID, sign)
    policy = signer.build_policy(f"{gateway.url}/{P1}*", datetime.now(UTC) + timedelta(hours=1), **conditions)
    query = signer.generate_presigned_url("http://x/", policy=policy).split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return {
        "CloudFront-Policy": params["Policy"],
        "CloudFront-Signature": params["Signature"],
        "CloudFront-Key-Pair-Id": params["Key-Pair-Id"],
    }


def test_date_greater_than_and_ip_address_conditions_are_honoured(
    gateway: MediaGateway, key: rsa.RSAPrivateKey
) -> None:
    url = f"{gateway.url}/{P1}master.m3u8"
    cases = {
        "not_yet_valid": (
            _custom_cookies(gateway, key, date_greater_than=datetime.now(UTC) + timedelta(hours=1)),
            403,
        ),
        "ip_address": (_custom_cookies(gateway, key, ip_address="203.0.113.0/24"), 403),
        "ok": (
            _custom_cookies(
                gateway,
                key,
                ip_address="127.0.0.1",
                date_greater_than=datetime.now(UTC) - timedelta(minutes=1),
            ),
            200,
        ),
    }
    for name, (jar, status) in cases.items():
        header = "; ".join(f"{k}={v}" for k, v in jar.items())
        assert httpx.get(url, headers={"Cookie": header}, timeout=10).status_code == status, name
    assert gateway.denials == {"not_yet_valid": 1, "ip_address": 1}


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("http://h/a/*", "http://h/a/b/c.m3u8", True),
        ("http://h/a/*", "http://h/ab/c.m3u8", False),
        ("http://h/a/?.ts", "http://h/a/1.ts", True),
        ("http://h/a/?.ts", "http://h/a/12.ts", False),
        ("http*://h/a.ts", "https://h/a.ts", True),
        ("http://h/a.b", "http://h/aXb", False),  # '.' is literal
        ("http://h/a/*", "http://h/a/x?y=1", True),
    ],
)
def test_resources_match_with_cloudfront_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value) is matches


# --------------------------------------------------------------------------- media: the edge cache


def test_the_shared_base_segment_is_read_from_s3_once_for_every_prospect(
    gateway: MediaGateway, pem: str, s3_gets: list[str]
) -> None:
    # GIVEN two prospects' browsers, each holding the campaign's base-folder cookies
    first, second = _cookies(gateway, pem, BASE), _cookies(gateway, pem, BASE, expires_in=7200)
    assert _header(first) != _header(second)

    # WHEN both fetch the same base segment
    one = _get(gateway, SEGMENT, first)
    two = _get(gateway, SEGMENT, second)

    # THEN S3 was read once, the second was served from the cache, and both got the bytes
    assert one.status_code == two.status_code == 200
    assert one.content == two.content == OBJECTS[SEGMENT][0]
    assert one.headers["x-cache"] == "Miss from gateway" and two.headers["x-cache"] == "Hit from gateway"
    assert one.headers["cache-control"] == two.headers["cache-control"] == IMMUTABLE_CACHE_CONTROL
    assert len(s3_gets) == 1 and s3_gets[0].endswith(SEGMENT)
    assert gateway.origin_reads[SEGMENT] == 1
    assert (gateway.misses[SEGMENT], gateway.hits[SEGMENT]) == (1, 1)


def test_concurrent_misses_collapse_into_one_s3_read(
    gateway: MediaGateway, pem: str, s3_gets: list[str]
) -> None:
    cookies = _cookies(gateway, pem, BASE)
    replies: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda: replies.append(_get(gateway, SEGMENT, cookies))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in replies] == [200] * 8
    assert len(s3_gets) == 1 and gateway.origin_reads[SEGMENT] == 1


def test_a_playlist_is_cached_five_seconds_only(
    gateway: MediaGateway, pem: str, s3_gets: list[str], front: Front
) -> None:
    cookies = _cookies(gateway, pem, P1)
    clock = front.clock
    assert _get(gateway, f"{P1}master.m3u8", cookies).headers["x-cache"] == "Miss from gateway"
    clock.now += 4
    assert _get(gateway, f"{P1}master.m3u8", cookies).headers["x-cache"] == "Hit from gateway"
    clock.now += 2
    assert _get(gateway, f"{P1}master.m3u8", cookies).headers["x-cache"] == "Miss from gateway"
    assert len(s3_gets) == 2


def test_the_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used() -> None:
    cache = ObjectCache(max_bytes=100, max_object_bytes=60)

    def entry(size: int) -> CachedObject:
        return CachedObject(body=b"x" * size, headers=[], stored_at=0.0, expires_at=None)

    assert cache.put("a", entry(40)) and cache.put("b", entry(40))
    assert cache.get("a") is not None  # a is now the most recently used
    assert cache.put("c", entry(40))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.size_bytes == 80
    assert not cache.put("huge", entry(61))  # never cached: over the per-object bound
    assert "huge" not in cache and cache.size_bytes == 80


def test_cookies_never_split_the_cache_and_are_not_needed_for_a_hit(gateway: MediaGateway, pem: str) -> None:
    assert _get(gateway, SEGMENT, _cookies(gateway, pem, BASE)).status_code == 200
    # a cached object is still protected
    assert _get(gateway, SEGMENT).status_code == 403


def test_head_ranges_and_conditional_requests(gateway: MediaGateway, pem: str) -> None:
    cookies = _cookies(gateway, pem, BASE)
    body = OBJECTS[SEGMENT][0]

    head = _get(gateway, SEGMENT, cookies, method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(body))

    # a range of a cached object is cut from the cache …
    part = _get(gateway, SEGMENT, cookies, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == body[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(body)}"
    assert part.headers["x-cache"] == "Hit from gateway"
    # … and of an uncached one asked of S3, as CloudFront forwards it
    init = _get(gateway, f"{BASE}init_720p.mp4", cookies, headers={"Range": "bytes=1-2"})
    assert init.status_code == 206 and init.content == b"ni"
    assert _get(gateway, SEGMENT, cookies, headers={"Range": "bytes=999999-"}).status_code == 416

    etag = head.headers["etag"]
    assert _get(gateway, SEGMENT, cookies, headers={"If-None-Match": etag}).status_code == 304


def test_missing_objects_traversal_and_writes(gateway: MediaGateway, pem: str) -> None:
    cookies = _cookies(gateway, pem, P1)
    assert _get(gateway, f"{P1}nope.m3u8", cookies).status_code == 404
    assert _get(gateway, f"{P1}nope.jpg").status_code == 404
    assert _get(gateway, f"{P1}poster.jpg", method="PUT", content=b"x").status_code == 405
    # raw request lines: an HTTP client would normalise the dots away
    host, port = gateway.url.removeprefix("http://").split(":")
    for path in (f"/{P1}../../p-2/r-2/master.m3u8", "/acct/../acct/camp/videos/p-1/r-1/poster.jpg"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path, headers=_header(cookies))
        assert conn.getresponse().status == 404, path
        conn.close()


# --------------------------------------------------------------------------- a browser's view


def test_a_browser_holding_the_watch_pages_cookies_plays_its_video_and_nothing_else(
    gateway: MediaGateway, pem: str, upstream: Upstream
) -> None:
    # GIVEN a watch page (the stand-in API) setting the prospect's two cookie sets
    cookies = _cookies(gateway, pem, P1) + _cookies(gateway, pem, BASE)
    upstream.cookies = [str(c) for c in cookies]
    with httpx.Client(base_url=gateway.url, timeout=10) as browser:
        assert browser.get("/w/tok").status_code == 200
        # THEN its cookie jar (which honours Path, as a browser does) opens both folders
        assert browser.get(f"/{P1}master.m3u8").status_code == 200
        assert browser.get(f"/{SEGMENT}").status_code == 200
        # and nothing beyond them
        assert browser.get(f"/{P2}master.m3u8").status_code == 403


# --------------------------------------------------------------------------- the API origin


def test_the_watch_page_is_proxied_with_viewer_headers_and_every_set_cookie(
    gateway: MediaGateway, upstream: Upstream
) -> None:
    reply = httpx.get(
        f"{gateway.url}/w/tok123?utm_source=mail&x=%2F",
        headers={
            "User-Agent": "Mozilla/5.0 (iPhone) test",
            "Accept-Language": "fr",
            "X-Forwarded-For": "198.51.100.7",
            "X-Internal-Secret": "no",
            "Cookie": "crm_session=abc",
        },
        timeout=10,
    )
    assert reply.status_code == 200 and reply.headers["x-cache"] == "Miss from gateway"
    assert reply.headers.get_list("set-cookie") == ["a=1; Path=/x", "b=2; Path=/y"]
    seen = upstream.requests[-1]
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/w/tok123", "utm_source=mail&x=%2F")
    headers = seen["headers"]
    assert headers["User-Agent"] == "Mozilla/5.0 (iPhone) test" and headers["Accept-Language"] == "fr"
    ip, _, port = headers["Cloudfront-Viewer-Address"].rpartition(":")
    assert ip == "127.0.0.1" and port.isdigit() and int(port) > 0
    assert headers["X-Forwarded-For"] == "198.51.100.7, 127.0.0.1"
    # not in the origin request policy (neither are cookies: the media's are not the API's business)
    assert "X-Internal-Secret" not in headers and "Cookie" not in headers


def test_every_api_request_carries_the_origin_secret_over_any_the_viewer_sent(
    gateway: MediaGateway, upstream: Upstream
) -> None:
    forged = {"X-Origin-Verify": "guessed", "CloudFront-Viewer-Address": "192.0.2.1:1"}
    httpx.get(f"{gateway.url}/w/tok", headers=forged, timeout=10)
    httpx.head(f"{gateway.url}/w/tok", headers=forged, timeout=10)
    httpx.post(f"{gateway.url}/w/tok/events", content=b"{}", headers=forged, timeout=10)
    httpx.get(f"{gateway.url}/assets/watch.0123456789.css", headers=forged, timeout=10)
    assert len(upstream.requests) == 4
    for seen in upstream.requests:
        assert seen["headers"]["X-Origin-Verify"] == ORIGIN_SECRET, seen["path"]
        assert seen["headers"]["Cloudfront-Viewer-Address"].startswith("127.0.0.1:"), seen["path"]


def test_the_watch_page_is_never_cached(gateway: MediaGateway, upstream: Upstream) -> None:
    for _ in range(2):
        assert httpx.get(f"{gateway.url}/w/tok", timeout=10).headers["x-cache"] == "Miss from gateway"
    assert len(upstream.requests) == 2


def test_beacons_are_posted_through_with_their_body(gateway: MediaGateway, upstream: Upstream) -> None:
    body = json.dumps({"session": "s", "events": [{"type": "play", "position": 0.0}]})
    reply = httpx.post(
        f"{gateway.url}/w/tok/events",
        content=body,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
        timeout=10,
    )
    assert reply.status_code == 204
    seen = upstream.requests[-1]
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/w/tok/events", body)
    assert seen["headers"]["Content-Type"] == "text/plain;charset=UTF-8"


def test_head_of_the_watch_page_reaches_the_api(gateway: MediaGateway, upstream: Upstream) -> None:
    reply = httpx.head(f"{gateway.url}/w/tok", timeout=10)
    assert reply.status_code == 200 and reply.content == b""
    assert upstream.requests[-1]["method"] == "HEAD"


def test_assets_are_cached_as_the_api_says(gateway: MediaGateway, upstream: Upstream) -> None:
    first = httpx.get(f"{gateway.url}/assets/watch.abc123.css", timeout=10)
    second = httpx.get(f"{gateway.url}/assets/watch.abc123.css", timeout=10)
    assert first.text == second.text == "asset /assets/watch.abc123.css"
    assert first.headers["content-type"] == second.headers["content-type"] == "text/css"
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("Miss from gateway", "Hit from gateway")
    assert len(upstream.requests) == 1


def test_before_the_api_is_up_the_front_door_says_so(gateway: MediaGateway) -> None:
    gateway._api_url = None
    assert httpx.get(f"{gateway.url}/w/tok", timeout=10).status_code == 503
