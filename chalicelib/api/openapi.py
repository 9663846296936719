"""OpenAPI 3.1 document generated from the route registry and the pydantic models.

Every status an operation can answer is listed, each error with the one error shape
(``ErrorResponse``). Most follow from how the route is declared (:func:`error_statuses`): a JSON
body can be malformed (400), too large (413) or invalid (422); a token can be refused (401); a route
that starts new work refuses a lapsed account (402); an authenticated route counts against the plan's
hourly rate (429; ``X-RateLimit-*`` headers on every answer) and refuses an API key on a plan without
API keys (402); a path id can be unknown (404) or its item in a
state that refuses the call (409); the store behind an authenticated route can be down (503); and
Chalice refuses a Content-Type the route does not take (415) on any route. What a declaration does
not carry is in the tables below (``RouteDoc`` fields could carry it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api._http import ROUTES, ErrorResponse, RouteDoc
from chalicelib.domain.engagement import BeaconBody

_PARAM = re.compile(r"{([^}]+)}")
REF = "#/components/schemas/{model}"
_JSON = "application/json"
_HTML = "text/html"

#: What each error status means to a caller (the code in the body says which case it is).
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request: a body that is not a JSON object, or a value the operation cannot use",
    401: "missing, invalid or expired token or API key",
    402: "the plan does not allow this (a limit reached, a feature not in the plan) or the account has "
    "lapsed: error.quota, error.limit, error.used say which and how far; error.unlock names the plan "
    "that lifts it, or 'subscribe'",
    403: "refused here",
    404: "no such resource in your account",
    409: "the resource's state refuses this now (e.g. still rendering), or it changed concurrently",
    412: "If-Match names an older version: reload the resource and apply the change again",
    413: "the request body is over the operation's limit",
    415: "the Content-Type is not one the operation takes",
    422: "invalid values: error.fields names each one",
    429: "too many requests (the plan's hourly API requests, or the watch side's per-address limit): "
    "wait for Retry-After seconds",
    503: "a backing service is unavailable; retry with backoff",
}

# ---------------------------------------------------------------- facts a RouteDoc does not carry

Operation = tuple[str, str]  # (method, path), as registered

#: Operations that honour If-Match (an ETag from the resource's GET): 412 when it is stale.
IF_MATCH: frozenset[Operation] = frozenset(
    {
        ("PATCH", "/campaigns/{campaign_id}"),
        ("PATCH", "/campaigns/{campaign_id}/prospects/{prospect_id}"),
    }
)
#: The ETags the API sends (``"3"``; a proxy may weaken one to ``W/"3"``).
ETAG_PATTERN = r'^(W/)?"[0-9]+"$'
#: The JSON inside a body that a route reads as bytes: the beacons come as ``application/json``, or
#: as ``text/plain`` from ``navigator.sendBeacon`` (which avoids a CORS preflight).
RAW_BODY_MODELS: dict[Operation, type[BaseModel]] = {("POST", "/w/{token}/events"): BeaconBody}
#: Statuses the domain answers on an operation beyond what its declaration implies. The public
#: watch routes answer only what came through the front door (CloudFront; locally the gateway), which
#: adds an X-Origin-Verify header: without it, 403 (chalicelib.api.watch). All but the assets look
#: the token up in the table (503).
EXTRA_STATUSES: dict[Operation, tuple[int, ...]] = {
    ("GET", "/w/{token}"): (403, 503),
    ("HEAD", "/w/{token}"): (403, 503),
    ("POST", "/w/{token}/events"): (403, 413, 429, 503),  # at most 4 KB; limited per address
    ("GET", "/assets/{name}"): (403,),
    # Stripe's webhooks: a signature that does not verify (400); no secret to verify with (503).
    ("POST", "/webhooks/stripe"): (400, 503),
    ("GET", "/account/deletion"): (404,),  # no deletion was ever asked for
}
#: Sign-up and sign-in (public): Cognito's refusals as the identity adapter translates them: wrong
#: password or revoked token (401), email not confirmed (403), email taken or already confirmed
#: (409), too many attempts (429), the user pool unreachable (503).
AUTH_STATUSES = frozenset({401, 403, 409, 429, 503})
#: Authenticated routes that some roles may not use (owner or admin only): 403.
ROLE_PREFIXES = ("/team", "/billing", "/account", "/api-keys")
#: Where a status means something else than ERROR_DESCRIPTIONS says.
DESCRIPTIONS: dict[Operation, dict[int, str]] = {
    op: {403: "not sent through the watch site's public address"}
    for op, statuses in EXTRA_STATUSES.items()
    if 403 in statuses
}
#: Non-JSON answers: media types (without parameters) by status. The watch page and its 404 are
#: HTML; the assets are the built scripts and stylesheets (chalicelib.web.assets).
MEDIA_TYPES: dict[Operation, dict[int, tuple[str, ...]]] = {
    ("GET", "/w/{token}"): {200: (_HTML,), 404: (_HTML,)},
    ("HEAD", "/w/{token}"): {200: (_HTML,), 404: (_HTML,)},
    ("GET", "/assets/{name}"): {200: ("text/javascript", "text/css")},
}


#: On every answer to an authenticated request once the caller is known (the plan's hourly rate).
RATE_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {"description": "API requests an hour on the plan", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "left this hour", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {
        "description": "when the hour's count starts again (epoch seconds)",
        "schema": {"type": "integer"},
    },
}


def error_statuses(r: RouteDoc) -> list[int]:
    """Every error status ``r`` can answer, sorted."""
    op = (r.method, r.path)
    statuses = {415, *EXTRA_STATUSES.get(op, ())}  # Chalice checks any request's Content-Type
    has_ids = bool(_PARAM.search(r.path))
    if r.body is not None or r.raw_body:
        statuses |= {400, 413, 422}
    if r.query is not None:
        statuses |= {400, 422}
    if op in IF_MATCH:
        statuses |= {412, 422}  # a value that is not one of our ETags is a field error
    if has_ids:
        statuses.add(404)
    if r.creates:
        statuses.add(402)
    if r.public and r.path.startswith("/auth/"):
        statuses |= AUTH_STATUSES
    if not r.public:
        statuses |= {401, 402, 429, 503}
        if has_ids or r.method != "GET":
            statuses.add(409)
        if r.path.startswith(ROLE_PREFIXES):
            statuses.add(403)
    return sorted(statuses)


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return build(ROUTES)


def build(routes: Iterable[RouteDoc]) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    routes = list(routes)
    models: set[type[BaseModel]] = {ErrorResponse}
    for r in routes:
        # Query models too: their fields' enums (a status filter) become shared components.
        models.update(m for m in (r.body, r.response, r.query) if m is not None)
        if (r.method, r.path) in RAW_BODY_MODELS:
            models.add(RAW_BODY_MODELS[(r.method, r.path)])
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tailorcast API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a Cognito access token, or an API key (tc_live_…, Agency)",
                }
            },
        },
    }


def _operation(r: RouteDoc) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{r.method.lower()}_{_slug(r.path)}",
        "summary": r.summary,
        "responses": _responses(r),
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(r.path)
    ]
    if r.query is not None:
        for name, info in r.query.model_json_schema(ref_template=REF)["properties"].items():
            params.append({"name": name, "in": "query", "required": False, "schema": info})
    if (r.method, r.path) in IF_MATCH:
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "the ETag of the version you read; refuses the change (412) if it is older",
                "schema": {"type": "string", "pattern": ETAG_PATTERN},
            }
        )
    if params:
        op["parameters"] = params
    if r.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": REF.format(model=r.body.__name__)}}},
        }
    if r.raw_body:
        op["requestBody"] = {"required": True, "content": _raw_body_content(r)}
    if not r.public:
        op["security"] = [{"bearer": []}]
    return op


def _raw_body_content(r: RouteDoc) -> dict[str, Any]:
    model = RAW_BODY_MODELS.get((r.method, r.path))
    if model is None:
        return {t: {"schema": {"type": "string", "format": "binary"}} for t in r.raw_body}
    ref = {"$ref": REF.format(model=model.__name__)}
    return {
        t: {
            "schema": ref
            if t == _JSON
            else {"type": "string", "contentMediaType": _JSON, "contentSchema": ref}
        }
        for t in r.raw_body
    }


def _responses(r: RouteDoc) -> dict[str, Any]:
    op = (r.method, r.path)
    media = MEDIA_TYPES.get(op, {})
    ok: dict[str, Any] = {"description": "success"}
    if r.status != 204:
        if r.response is not None:
            ok["content"] = {_JSON: {"schema": {"$ref": REF.format(model=r.response.__name__)}}}
        elif r.status in media:
            ok["content"] = {t: {"schema": {"type": "string"}} for t in media[r.status]}
        else:
            ok["content"] = {_JSON: {"schema": {"type": "object"}}}
    if op in IF_MATCH or (r.method == "GET" and (("PATCH", r.path) in IF_MATCH)):
        ok["headers"] = {"ETag": {"description": "the version, for If-Match", "schema": {"type": "string"}}}
    if not r.public:
        ok["headers"] = {**ok.get("headers", {}), **RATE_HEADERS}
    responses: dict[str, Any] = {str(r.status): ok}
    for status in error_statuses(r):
        description = DESCRIPTIONS.get(op, {}).get(status, ERROR_DESCRIPTIONS[status])
        answer: dict[str, Any] = {"description": description}
        if status in media:
            answer["content"] = {t: {"schema": {"type": "string"}} for t in media[status]}
        else:
            answer["content"] = {_JSON: {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            answer["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before sending again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        if not r.public and status not in (401, 503):
            answer["headers"] = {**answer.get("headers", {}), **RATE_HEADERS}
        responses[str(status)] = answer
    return dict(sorted(responses.items()))


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
