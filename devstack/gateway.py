"""The local stand-in for CloudFront: the one front door for everything a prospect sees.

* ``/w/*`` and ``/assets/*`` go to the API (the Chalice local server), as CloudFront's API
  behaviours would: method, path, query and body as sent, the headers their origin request policy
  forwards (:data:`FORWARDED_HEADERS`; no cookies) plus ``CloudFront-Viewer-Address`` and
  ``X-Forwarded-For``, and the origin's custom headers (``X-Origin-Verify``: the secret that tells
  the API a request came through the front door).
  ``/w/*`` is never cached; ``/assets/*`` is cached as long as the API's ``Cache-Control`` allows.
* Everything else is an object of the media bucket, its key the path. Posters and previews
  (:data:`PUBLIC_SUFFIXES`) are public; everything else needs CloudFront signed cookies (custom
  policy) that verify with the public key of the configured key pair, checked as CloudFront checks
  them (:class:`CookieVerifier`).
* Objects are cached in memory by key, never by cookie, like CloudFront's edge cache: a base
  segment shared by every prospect of a campaign is read from S3 once. Responses say
  ``X-Cache: Hit from gateway`` or ``Miss from gateway``; :attr:`MediaGateway.hits`,
  :attr:`~MediaGateway.misses` and :attr:`~MediaGateway.origin_reads` count them per key.

Loopback only. Media is read-only (GET and HEAD).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import logging
import re
import threading
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.http import http_date, unquote_etag
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from chalicelib.adapters.cdn import KEY_PAIR_ID_COOKIE, POLICY_COOKIE, SIGNATURE_COOKIE

logger = logging.getLogger("devstack.gateway")

#: Path prefixes served by the API (CloudFront behaviours ``/w/*`` and ``/assets/*``).
API_PREFIXES = ("/w/", "/assets/")
#: Posters and previews: linked from emails and unfurled by LinkedIn or Slack, so no cookie.
PUBLIC_SUFFIXES = (".jpg", ".gif", ".webp", ".png")
#: Segments and init segments never change once written (each render has its own prefix).
SEGMENT_SUFFIXES = (".m4s", ".mp4", ".ts", ".aac")
IMMUTABLE_SUFFIXES = SEGMENT_SUFFIXES + PUBLIC_SUFFIXES
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: Playlists (and anything else) may be rewritten: browsers and the edge keep them 5 s.
SHORT_TTL_SECONDS = 5
SHORT_CACHE_CONTROL = f"public, max-age={SHORT_TTL_SECONDS}"
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
#: The viewer headers the API behaviours' origin request policy forwards, as the CDK stack's
#: ``API_FORWARDED_HEADERS`` lists them (CloudFront drops the others, cookies included);
#: ``CloudFront-Viewer-Address`` is added below. Keep the two lists the same.
FORWARDED_HEADERS = ("User-Agent", "Accept", "Accept-Language", "Content-Type")
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)
HIT = "Hit from gateway"
MISS = "Miss from gateway"


# --------------------------------------------------------------------------- signed cookies


def _cf_b64decode(text: str) -> bytes:
    """CloudFront's url-safe base64 (``+``→``-``, ``=``→``_``, ``/``→``~``) back to bytes."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"), validate=True)


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL
    )


def wildcard_match(pattern: str, value: str) -> bool:
    """CloudFront's policy ``Resource`` matching: ``*`` is any characters, ``?`` exactly one."""
    return _wildcard(pattern).fullmatch(value) is not None


@dataclass(frozen=True)
class Denial:
    """Why a request was refused: CloudFront's error code and message, and our own reason."""

    code: str
    message: str
    reason: str


def _access_denied(reason: str) -> Denial:
    return Denial("AccessDenied", "Access denied", reason)


class CookieVerifier:
    """Checks CloudFront signed cookies (custom policy) for one trusted key pair."""

    def __init__(
        self, key_pair_id: str, public_key: rsa.RSAPublicKey, clock: Callable[[], float] = time.time
    ) -> None:
        self.key_pair_id = key_pair_id
        self._public_key = public_key
        self._clock = clock

    def check(self, cookies: Mapping[str, str], url: str, client_ip: str) -> Denial | None:
        """``None`` when ``cookies`` grant ``url`` to ``client_ip`` now, else why not."""
        key_pair_id = cookies.get(KEY_PAIR_ID_COOKIE)
        if not key_pair_id:
            return Denial("MissingKey", "Missing Key-Pair-Id query parameter or cookie value", "missing_key")
        encoded_policy, encoded_signature = cookies.get(POLICY_COOKIE), cookies.get(SIGNATURE_COOKIE)
        if not encoded_policy or not encoded_signature:
            return _access_denied("missing_policy_or_signature")
        if key_pair_id != self.key_pair_id:
            return _access_denied("unknown_key_pair_id")
        try:
            policy, signature = _cf_b64decode(encoded_policy), _cf_b64decode(encoded_signature)
        except (binascii.Error, ValueError):
            return _access_denied("malformed_encoding")
        try:
            self._public_key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        except InvalidSignature:
            return _access_denied("bad_signature")
        statement = _statement(policy)
        if statement is None:
            return _access_denied("malformed_policy")
        resource, condition = statement
        now = self._clock()
        if now >= condition["DateLessThan"]:
            return _access_denied("expired")
        if "DateGreaterThan" in condition and now <= condition["DateGreaterThan"]:
            return _access_denied("not_yet_valid")
        if "IpAddress" in condition and not _ip_in(client_ip, condition["IpAddress"]):
            return _access_denied("ip_address")
        if resource is not None and not wildcard_match(resource, url):
            return _access_denied("resource_mismatch")
        return None


def _statement(policy: bytes) -> tuple[str | None, dict[str, Any]] | None:
    """The custom policy's one statement: its resource (absent = any) and its conditions."""
    try:
        doc = json.loads(policy)
        statements = doc["Statement"]
        if not isinstance(statements, list) or len(statements) != 1:
            return None
        statement = statements[0]
        resource = statement.get("Resource")
        raw = statement["Condition"]
        condition: dict[str, Any] = {"DateLessThan": int(raw["DateLessThan"]["AWS:EpochTime"])}
        if "DateGreaterThan" in raw:
            condition["DateGreaterThan"] = int(raw["DateGreaterThan"]["AWS:EpochTime"])
        if "IpAddress" in raw:
            condition["IpAddress"] = str(raw["IpAddress"]["AWS:SourceIp"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if resource is not None and not isinstance(resource, str):
        return None
    return resource, condition


def _ip_in(client_ip: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(client_ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


# --------------------------------------------------------------------------- the edge cache


@dataclass
class CachedObject:
    body: bytes
    headers: list[tuple[str, str]]  # the origin's headers worth replaying (type, ETag, …)
    stored_at: float
    expires_at: float | None  # None: until evicted (immutable)
    status: int = 200
    etag: str | None = None
    cache_control: str | None = None


@dataclass
class ObjectCache:
    """An LRU of whole objects bounded by their total size (thread-safe)."""

    max_bytes: int
    max_object_bytes: int
    clock: Callable[[], float] = time.time
    _entries: OrderedDict[str, CachedObject] = field(default_factory=OrderedDict)
    _size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> CachedObject | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at is not None and self.clock() >= entry.expires_at:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedObject) -> bool:
        """Keep ``entry`` (evicting the least recently used); ``False`` when it is too big to keep."""
        size = len(entry.body)
        if size > self.max_object_bytes or size > self.max_bytes:
            return False
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._size += size
            while self._size > self.max_bytes:
                self._drop(next(iter(self._entries)))
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _drop(self, key: str) -> None:
        self._size -= len(self._entries.pop(key).body)


# --------------------------------------------------------------------------- the gateway


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("gateway %s %s %s", self.command, self.path, code)


def _error_xml(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )


def _max_age(cache_control: str | None) -> int | None:
    """Seconds a shared cache may keep a response, from its ``Cache-Control`` (None: not at all)."""
    if not cache_control:
        return None
    directives = {}
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.lower()] = value.strip('"')
    if {"no-store", "no-cache", "private"} & directives.keys():
        return None
    for name in ("s-maxage", "max-age"):
        if directives.get(name, "").isdigit():
            seconds = int(directives[name])
            return seconds if seconds > 0 else None
    return None


class MediaGateway:
    """The front door: start with :meth:`start`; tell it the API's URL with :meth:`set_api_url`.

    Parameters
    ----------
    s3
        Builds the S3 client on first use (the endpoint is configured by then).
    bucket
        The media bucket.
    key_pair_id, public_key
        The trusted CloudFront key pair the signed cookies must verify with.
    api_url
        The API origin (``/w/*``, ``/assets/*``), if already known.
    origin_headers
        Added to every request sent to the API origin, over any the viewer sent (CloudFront's
        origin custom headers): the stack's ``X-Origin-Verify`` secret.
    cache_bytes
        The edge cache's size; objects over an eighth of it are never cached.
    """

    def __init__(
        self,
        s3: Callable[[], Any],
        bucket: str,
        *,
        key_pair_id: str,
        public_key: rsa.RSAPublicKey,
        api_url: str | None = None,
        origin_headers: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3_factory, self._bucket = s3, bucket
        self._s3: Any = None
        self._api_url = api_url.rstrip("/") if api_url else None
        self._origin_headers = dict(origin_headers or {})
        self._clock = clock
        self.verifier = CookieVerifier(key_pair_id, public_key, clock)
        self.cache = ObjectCache(cache_bytes, max(1, cache_bytes // 8), clock)
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.origin_reads: Counter[str] = Counter()  # S3 requests and API requests, per key / path
        self.denials: Counter[str] = Counter()  # 403s by reason (``expired``, ``bad_signature`` …)
        self._stats_lock = threading.Lock()
        # One miss per key goes to the origin; concurrent misses for it wait and then hit (CloudFront
        # collapses requests the same way). Striped, so unrelated keys rarely wait on each other.
        self._fill_locks = [threading.Lock() for _ in range(64)]
        self._http = urllib3.PoolManager(maxsize=16, retries=False)
        self._server: BaseWSGIServer = make_server(
            host, port, self._wsgi, threaded=True, request_handler=_Quiet
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="media-gateway", daemon=True)

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self._server.server_port}"

    def set_api_url(self, url: str) -> None:
        """Where ``/w/*`` and ``/assets/*`` go (the API starts after the gateway)."""
        self._api_url = url.rstrip("/")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.clear()

    def invalidate(self) -> None:
        """Forget every cached object (CloudFront's ``/*`` invalidation)."""
        self.cache.clear()

    def reset_stats(self) -> None:
        with self._stats_lock:
            for counter in (self.hits, self.misses, self.origin_reads, self.denials):
                counter.clear()

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._stats_lock:
            counter[key] += 1

    # ------------------------------------------------------------------ routing

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        raw = urlsplit(environ.get("RAW_URI") or request.full_path)
        target = raw.path + (f"?{raw.query}" if raw.query else "")
        try:
            if request.path.startswith(API_PREFIXES):
                response = self._proxy(request, target)
            else:
                response = self._media(request, target)
        except Exception:
            logger.exception("gateway: %s %s failed", request.method, request.path)
            response = Response("bad gateway\n", status=502, content_type="text/plain")
        return response(environ, start_response)

    # ------------------------------------------------------------------ media

    def _media(self, request: Request, target: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed\n", status=405, headers={"Allow": "GET, HEAD"})
        key = request.path.lstrip("/")
        if not key or ".." in key.split("/"):
            return Response("not found\n", status=404)
        public = key.endswith(PUBLIC_SUFFIXES)
        if not public:
            denial = self.verifier.check(
                request.cookies, f"{request.scheme}://{request.host}{target}", request.remote_addr or ""
            )
            if denial is not None:
                self._count(self.denials, denial.reason)
                logger.debug("gateway: %s denied (%s)", key, denial.reason)
                return Response(
                    _error_xml(denial.code, denial.message),
                    status=403,
                    content_type="text/xml",
                    headers={"X-Cache": "Error from gateway"},
                )
        response = self._serve_object(request, key)
        if public:
            # Posters and previews may be embedded anywhere; protected media is same-origin only.
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    def _serve_object(self, request: Request, key: str) -> Response:
        immutable = key.endswith(IMMUTABLE_SUFFIXES)
        cache_control = IMMUTABLE_CACHE_CONTROL if immutable else SHORT_CACHE_CONTROL
        entry = self.cache.get(key)
        if entry is None and request.range is not None:
            # Not cached: the edge forwards a ranged request as it is, and keeps nothing.
            self._count(self.misses, key)
            return self._ranged_from_origin(request, key, cache_control)
        x_cache = HIT
        if entry is None:
            with self._fill_locks[zlib.crc32(key.encode()) % len(self._fill_locks)]:
                entry = self.cache.get(key)
                if entry is None:
                    x_cache = MISS
                    entry = self._fetch(key, None if immutable else SHORT_TTL_SECONDS)
                    if entry is None:
                        self._count(self.misses, key)
                        return Response("not found\n", status=404)
                    self.cache.put(key, entry)
        self._count(self.hits if x_cache == HIT else self.misses, key)
        headers = [*entry.headers, ("Cache-Control", cache_control), ("Accept-Ranges", "bytes")]
        headers.append(("X-Cache", x_cache))
        if x_cache == HIT:
            headers.append(("Age", str(max(0, int(self._clock() - entry.stored_at)))))
        if entry.etag and request.if_none_match.contains_weak(unquote_etag(entry.etag)[0]):
            return Response(status=304, headers=[h for h in headers if h[0] != "Content-Type"])
        body, status = entry.body, 200
        if request.range is not None and len(request.range.ranges) == 1:
            span = request.range.range_for_length(len(body))
            if span is None:
                return Response(
                    "range not satisfiable\n",
                    status=416,
                    headers=[("Content-Range", f"bytes */{len(body)}"), ("X-Cache", x_cache)],
                )
            start, stop = span
            headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{len(body)}"))
            body, status = body[start:stop], 206
        return Response(body, status=status, headers=headers)

    def _s3_client(self) -> Any:
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3

    def _fetch(self, key: str, ttl: int | None) -> CachedObject | None:
        self._count(self.origin_reads, key)
        try:
            obj = self._s3_client().get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        body = obj["Body"].read()
        now = self._clock()
        headers = [("Content-Type", obj.get("ContentType") or "application/octet-stream")]
        etag = obj.get("ETag")
        if etag:
            headers.append(("ETag", etag))
        if obj.get("LastModified") is not None:
            headers.append(("Last-Modified", http_date(obj["LastModified"])))
        return CachedObject(
            body=body,
            headers=headers,
            stored_at=now,
            expires_at=None if ttl is None else now + ttl,
            etag=etag,
        )

    def _ranged_from_origin(self, request: Request, key: str, cache_control: str) -> Response:
        self._count(self.origin_reads, key)
        try:
            obj = self._s3_client().get_object(Bucket=self._bucket, Key=key, Range=request.headers["Range"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return Response("not found\n", status=404)
            if code == "InvalidRange":
                return Response("range not satisfiable\n", status=416)
            raise
        headers = [
            ("Cache-Control", cache_control),
            ("Accept-Ranges", "bytes"),
            ("X-Cache", MISS),
        ]
        if obj.get("ETag"):
            headers.append(("ETag", obj["ETag"]))
        if "ContentRange" in obj:
            headers.append(("Content-Range", obj["ContentRange"]))
        return Response(
            obj["Body"].read(),
            status=206 if "ContentRange" in obj else 200,
            content_type=obj.get("ContentType") or "application/octet-stream",
            headers=headers,
        )

    # ------------------------------------------------------------------ the API origin

    def _proxy(self, request: Request, target: str) -> Response:
        if not self._api_url:
            return Response("the API is not up yet\n", status=503, headers={"Retry-After": "1"})
        cache_key = f"api:{target}"
        cacheable = request.method in ("GET", "HEAD") and request.path.startswith("/assets/")
        if cacheable and (entry := self.cache.get(cache_key)) is not None:
            self._count(self.hits, cache_key)
            age = str(max(0, int(self._clock() - entry.stored_at)))
            return Response(
                entry.body, status=entry.status, headers=[*entry.headers, ("X-Cache", HIT), ("Age", age)]
            )
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        client_ip = request.remote_addr or ""
        client_port = request.environ.get("REMOTE_PORT", 0)
        forwarded_for = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip
        headers["CloudFront-Viewer-Address"] = f"{client_ip}:{client_port}"
        headers["Via"] = "1.1 gateway (tailorcast-local)"  # CloudFront always adds its own
        headers.update(self._origin_headers)
        body = request.get_data() if request.method not in ("GET", "HEAD") else None
        self._count(self.origin_reads, cache_key)
        try:
            upstream = self._http.request(
                request.method,
                self._api_url + target,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                decode_content=False,
                timeout=urllib3.Timeout(connect=5, read=120),
            )
        except urllib3.exceptions.HTTPError:
            logger.exception("gateway: the API did not answer %s %s", request.method, target)
            return Response("bad gateway\n", status=502, content_type="text/plain")
        out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP]
        self._count(self.misses, cache_key)
        response = Response(upstream.data, status=upstream.status, headers=[*out, ("X-Cache", MISS)])
        if "content-type" not in {k.lower() for k, _ in out}:
            del response.headers["Content-Type"]  # werkzeug's default is not the origin's answer
        ttl = _max_age(upstream.headers.get("Cache-Control"))
        if (
            cacheable
            and request.method == "GET"
            and upstream.status == 200
            and ttl is not None
            and "set-cookie" not in {k.lower() for k, _ in out}
        ):
            now = self._clock()
            self.cache.put(
                cache_key,
                CachedObject(body=upstream.data, headers=out, stored_at=now, expires_at=now + ttl),
            )
        return response
