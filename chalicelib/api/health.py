"""Public, unauthenticated endpoints: health and the API description."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api._http import route
from chalicelib.api.schemas import Health
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@route(bp, "/health", "GET", summary="Liveness check", public=True, response=Health)
def health() -> Health:
    return Health(status="ok", stage=get_settings().stage)


@route(bp, "/openapi.json", "GET", summary="This API's OpenAPI 3.1 document", public=True)
def openapi() -> Response:
    from chalicelib.api.openapi import document

    return Response(body=document(), headers={"Content-Type": "application/json"})
