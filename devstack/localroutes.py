"""Routes the stack serves beside moto on its AWS endpoint, for what moto only serves by ``Host``.

* ``GET /_tailorcast/cognito/{pool id}/.well-known/jwks.json``: the user pool's public keys, where
  ``jwt.PyJWKClient`` (urllib, a plain URL) fetches them: the API's ``TAILORCAST_JWKS_URL``. moto
  serves the same document only to requests whose ``Host`` is Cognito's.
* ``GET /_tailorcast/outbox`` and ``/_tailorcast/outbox/{message id}``: the local outbox (the emails
  SES has sent), for the CLI and for tests in another process.

No S3 bucket can be named ``_tailorcast`` (underscores are not allowed), so path-style S3 requests
never reach these routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from devstack.cognito import jwks_document
from devstack.outbox import Outbox

PREFIX = "/_tailorcast/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def jwks_path(pool_id: str) -> str:
    return f"{PREFIX}cognito/{pool_id}/.well-known/jwks.json"


class LocalRoutes:
    """WSGI middleware: answers the routes above, passes everything else to ``app`` (moto)."""

    def __init__(self, app: WSGIApp, outbox: Outbox, pool_ids: Callable[[], set[str]]) -> None:
        self.app = app
        self.outbox = outbox
        self.pool_ids = pool_ids

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _reply(start_response, 405, {"message": "only GET"})
        parts = path[len(PREFIX) :].strip("/").split("/")
        if parts[0] == "cognito" and len(parts) == 4 and parts[2:] == [".well-known", "jwks.json"]:
            if parts[1] not in self.pool_ids():
                return _reply(start_response, 404, {"message": f"no user pool {parts[1]}"})
            return _reply(start_response, 200, jwks_document())
        if parts[0] == "outbox" and len(parts) == 1:
            return _reply(start_response, 200, [m.to_json() for m in self.outbox.messages()])
        if parts[0] == "outbox" and len(parts) == 2:
            found = self.outbox.get(parts[1])
            if found is None:
                return _reply(start_response, 404, {"message": f"no message {parts[1]}"})
            return _reply(start_response, 200, found.to_json())
        return _reply(start_response, 404, {"message": "not found"})


def _reply(start_response: Callable[..., Any], status: int, body: Any) -> list[bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]
