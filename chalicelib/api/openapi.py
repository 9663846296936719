"""OpenAPI 3.1 document generated from the route registry and the pydantic models."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api._http import ROUTES, ErrorResponse

_PARAM = re.compile(r"{([^}]+)}")
REF = "#/components/schemas/{model}"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorResponse}
    for r in ROUTES:
        # Query models too: their fields' enums (a status filter) become shared components.
        models.update(m for m in (r.body, r.response, r.query) if m is not None)
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in ROUTES:
        op: dict[str, Any] = {
            "operationId": f"{r.method.lower()}_{_slug(r.path)}",
            "summary": r.summary,
            "responses": _responses(r.status, r.response, r.public),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(r.path)
        ]
        if r.query is not None:
            for name, info in r.query.model_json_schema(ref_template=REF)["properties"].items():
                params.append({"name": name, "in": "query", "required": False, "schema": info})
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=r.body.__name__)}}},
            }
        if r.raw_body:
            op["requestBody"] = {
                "required": True,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in r.raw_body},
            }
        if not r.public:
            op["security"] = [{"bearer": []}]
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tailorcast API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _responses(status: int, model: type[BaseModel] | None, public: bool) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}}
    ok: dict[str, Any] = {"description": "success"}
    if model is not None:
        ok["content"] = {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
    responses: dict[str, Any] = {str(status): ok}
    if not public:
        responses["401"] = {"description": "missing, invalid or expired token", **error}
        responses["404"] = {"description": "no such resource in your account", **error}
    responses["400"] = {"description": "malformed request", **error}
    responses["422"] = {"description": "invalid field values", **error}
    return responses


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
