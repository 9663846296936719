"""The OpenAPI generator: every status an operation can answer is documented, with the error shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from chalicelib.api import openapi
from chalicelib.api._http import STATUS_BY_ERROR, RouteDoc
from chalicelib.api.openapi import build, error_statuses

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


class Thing(BaseModel):
    name: str


class ThingQuery(BaseModel):
    limit: int = 25


def _doc(**fields: Any) -> RouteDoc:
    base: dict[str, Any] = {
        "path": "/things",
        "method": "GET",
        "summary": "s",
        "public": False,
        "status": 200,
    }
    return RouteDoc(**{**base, **fields})


def _op(route: RouteDoc) -> dict[str, Any]:
    document = build([route])
    validate(document)  # type: ignore[arg-type]
    op: dict[str, Any] = document["paths"][route.path][route.method.lower()]
    return op


def test_every_mapped_domain_error_has_a_description() -> None:
    # GIVEN the one map from domain errors to HTTP
    # THEN each status it can produce is described in the document
    assert set(STATUS_BY_ERROR.values()) <= set(openapi.ERROR_DESCRIPTIONS)


def test_an_authenticated_list_answers_what_its_token_and_query_can_cause() -> None:
    # 402: an API key on a plan without API keys; 429: the plan's hourly rate
    assert error_statuses(_doc(query=ThingQuery, response=Thing)) == [400, 401, 402, 415, 422, 429, 503]


def test_a_public_route_without_input_answers_only_a_wrong_content_type() -> None:
    assert error_statuses(_doc(public=True)) == [415]


def test_a_json_body_can_be_malformed_too_large_or_invalid() -> None:
    statuses = error_statuses(_doc(path="/things/{thing_id}", method="PUT", body=Thing))
    assert statuses == [400, 401, 402, 404, 409, 413, 415, 422, 429, 503]


def test_routes_that_create_refuse_a_lapsed_account_with_402_and_public_ones_never() -> None:
    assert 402 in error_statuses(_doc(method="POST", body=Thing, creates=True))
    assert 402 not in error_statuses(_doc(method="POST", body=Thing, public=True, creates=False))
    assert 403 not in error_statuses(_doc(method="POST", body=Thing, creates=True))


def test_authenticated_answers_carry_the_rate_limit_headers() -> None:
    op = _op(_doc(method="POST", body=Thing, creates=True, status=201, response=Thing))
    for status in ("201", "402", "429"):
        assert set(op["responses"][status]["headers"]) >= {
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        }, status
    assert "Retry-After" in op["responses"]["429"]["headers"]
    assert "headers" not in _op(_doc(public=True))["responses"]["200"]


def test_a_read_without_ids_cannot_conflict_but_a_write_can() -> None:
    assert 409 not in error_statuses(_doc())
    assert 409 in error_statuses(_doc(method="POST", body=Thing))
    assert 409 in error_statuses(_doc(path="/things/{thing_id}"))  # its stored item may refuse


def test_errors_use_the_error_shape() -> None:
    op = _op(_doc(path="/things/{thing_id}", response=Thing))
    for status in ("401", "404", "409", "415", "503"):
        assert op["responses"][status]["content"] == {"application/json": {"schema": ERROR_REF}}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert "WWW-Authenticate" in op["responses"]["401"]["headers"]


def test_a_204_has_no_content() -> None:
    op = _op(_doc(path="/things/{thing_id}", method="DELETE", status=204))
    assert "content" not in op["responses"]["204"]


@pytest.mark.parametrize("operation", sorted(openapi.IF_MATCH))
def test_if_match_is_a_header_parameter_with_412_and_an_etag(operation: tuple[str, str]) -> None:
    method, path = operation
    op = _op(_doc(path=path, method=method, body=Thing, response=Thing))
    assert {"name": "If-Match", "in": "header"}.items() <= op["parameters"][-1].items()
    assert op["responses"]["412"]["content"] == {"application/json": {"schema": ERROR_REF}}
    assert "ETag" in op["responses"]["200"]["headers"]
    assert "412" not in _op(_doc(path=path, method="PUT", body=Thing))["responses"]


def test_if_match_takes_the_etags_the_api_sends() -> None:
    pattern = re.compile(openapi.ETAG_PATTERN)
    assert pattern.match('"3"') and pattern.match('W/"12"')
    assert not pattern.match("3") and not pattern.match('"3x"')


def test_the_beacon_route_documents_its_limits_and_retry_after() -> None:
    op = _op(
        _doc(
            path="/w/{token}/events",
            method="POST",
            public=True,
            status=204,
            raw_body=("text/plain", "application/json"),
        )
    )
    assert set(op["responses"]) == {"204", "400", "403", "404", "413", "415", "422", "429", "503"}
    assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert op["responses"]["403"]["description"] == "not sent through the watch site's public address"
    # The body is the BeaconBody JSON, as application/json or as sendBeacon's text/plain.
    content = op["requestBody"]["content"]
    assert content["text/plain"]["schema"]["contentSchema"] == {"$ref": "#/components/schemas/BeaconBody"}
    assert "security" not in op


def test_the_watch_page_and_its_404_are_html() -> None:
    op = _op(_doc(path="/w/{token}", public=True))
    assert set(op["responses"]["200"]["content"]) == {"text/html"}
    assert set(op["responses"]["404"]["content"]) == {"text/html"}
    assert op["responses"]["503"]["content"] == {"application/json": {"schema": ERROR_REF}}
    assert "401" not in op["responses"]


def test_the_assets_are_scripts_and_stylesheets() -> None:
    op = _op(_doc(path="/assets/{name}", public=True))
    assert set(op["responses"]["200"]["content"]) == {"text/javascript", "text/css"}
    assert set(op["responses"]) == {"200", "403", "404", "415"}


def test_the_tables_name_only_registered_operations() -> None:
    import app  # noqa: F401  (registers every route)
    from chalicelib.api._http import ROUTES

    registered = {(r.method, r.path) for r in ROUTES}
    named = set(openapi.IF_MATCH) | set(openapi.EXTRA_STATUSES) | set(openapi.MEDIA_TYPES)
    named |= set(openapi.RAW_BODY_MODELS)
    assert named <= registered
