"""The local API serves requests on threads of one process; each must see its own request, as
each Lambda container does (Chalice keeps the current request in one attribute of the app)."""

from __future__ import annotations

import io
import threading

import pytest
from chalice.app import Blueprint, Chalice

from devstack.stack import _one_request_per_thread, read_chunked


def test_concurrent_requests_each_see_their_own() -> None:
    app = Chalice(app_name="threads")
    bp = Blueprint(__name__)
    app.register_blueprint(bp)
    _one_request_per_thread(app)
    _one_request_per_thread(app)  # idempotent

    both_set = threading.Barrier(2)
    seen: dict[str, object] = {}

    def serve(name: str) -> None:
        app.current_request = name  # type: ignore[assignment]
        both_set.wait()  # the other thread has set its request too
        seen[name] = bp.current_request

    threads = [threading.Thread(target=serve, args=(n,)) for n in ("tenant-a", "tenant-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"tenant-a": "tenant-a", "tenant-b": "tenant-b"}


@pytest.mark.parametrize(
    ("wire", "body"),
    [
        (b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n", b"Wikipedia"),
        (b"0\r\nX-Trailer: 1\r\n\r\n", b""),
        (b"zz\r\n", b""),
    ],
    ids=["chunks", "trailers", "malformed"],
)
def test_read_chunked(wire: bytes, body: bytes) -> None:
    stream = io.BytesIO(wire + b"GET /next HTTP/1.1\r\n")
    assert read_chunked(stream, 100) == body
    if body or wire.startswith(b"0"):
        assert stream.readline() == b"GET /next HTTP/1.1\r\n"  # nothing of the body is left


def test_read_chunked_stops_past_the_limit() -> None:
    assert read_chunked(io.BytesIO(b"a\r\n0123456789\r\n0\r\n\r\n"), 5) is None
