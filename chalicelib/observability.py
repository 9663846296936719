"""Logging, tracing and metrics in one place (Powertools), wired into Chalice as middleware.

Log keys are structured (``account_id``, ``campaign_id``, ``route``); whole events and personal
data (names, emails, tokens) are never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from chalice.app import Chalice, ConvertToMiddleware, Request, Response

SERVICE = "tailorcast"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Tailorcast", service=SERVICE)

__all__ = ["MetricUnit", "logger", "metrics", "register", "tracer"]


def register(app: Chalice) -> None:
    """Attach Powertools to every Lambda the app defines (API, S3 events, pure Lambdas)."""
    app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
    app.register_middleware(ConvertToMiddleware(tracer.capture_lambda_handler))
    app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
    app.register_middleware(_http_access_log, "http")


def _http_access_log(event: Request, get_response: Callable[[Request], Response]) -> Response:
    route = event.context.get("resourcePath", "?")
    logger.append_keys(route=route, method=event.method)
    response = get_response(event)
    status = response.status_code
    logger.info("request handled", extra={"status": status})
    # Disabled (POWERTOOLS_METRICS_DISABLED), Powertools still keeps every value added and prints
    # them all as one EMF line once a metric holds 100 of them: add none.
    if not is_metrics_disabled():
        metrics.add_metric(name=f"Http{status // 100}xx", unit=MetricUnit.Count, value=1)
    return response


def log_keys(**keys: Any) -> None:
    """Add structured keys (ids only) to every later log line of this invocation."""
    logger.append_keys(**{k: v for k, v in keys.items() if v is not None})
