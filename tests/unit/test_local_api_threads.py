"""The local API serves requests on threads of one process; each must see its own request, as
each Lambda container does (Chalice keeps the current request in one attribute of the app)."""

from __future__ import annotations

import threading

from chalice.app import Blueprint, Chalice

from devstack.stack import _one_request_per_thread


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
