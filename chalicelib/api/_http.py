"""The HTTP edge: one route decorator that authenticates, parses, and maps errors.

Every view is registered through :func:`route`, so auth, body/query validation and the error
format are the same everywhere, and the OpenAPI document is generated from the same metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib import dependencies
from chalicelib.domain.accounts import ensure_can_create
from chalicelib.domain.api_keys import KEY_PREFIX
from chalicelib.domain.auth import Principal, authenticate
from chalicelib.domain.errors import (
    AccountInactiveError,
    AuthenticationError,
    ConflictError,
    FieldIssue,
    ForbiddenError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PreconditionFailedError,
    RateLimitedError,
    StorageError,
    SynthesisError,
    TailorcastError,
    UploadRejectedError,
    issues_from_validation,
)
from chalicelib.domain.json_input import MalformedJsonError, load_json
from chalicelib.domain.usage import (
    RATE_COUNTER_TTL_SECONDS,
    READS_BUCKET,
    RateStanding,
    rate_bucket,
    rate_key,
    rate_standing,
    rate_window,
)
from chalicelib.observability import log_keys, logger
from chalicelib.settings import get_settings

STATUS_BY_ERROR: dict[type[TailorcastError], int] = {
    AuthenticationError: 401,
    PaymentRequiredError: 402,
    AccountInactiveError: 402,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    PreconditionFailedError: 412,
    UploadRejectedError: 422,
    LimitExceededError: 422,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    StorageError: 503,
    SynthesisError: 503,
}


@dataclass(frozen=True)
class RouteDoc:
    """What the OpenAPI generator needs to know about one operation."""

    path: str
    method: str
    summary: str
    public: bool
    status: int
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    raw_body: tuple[str, ...] = ()  # content types of a non-JSON body (a file), if any
    creates: bool = False  # new work: refused (402) while the account is cancelled or lapsed


ROUTES: list[RouteDoc] = []


class ErrorField(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[ErrorField] = []
    request_id: str | None = None
    # A 402 (a plan's limit or entitlement, or a lapsed account) says which, how far, and what
    # lifts it: the cheapest plan that raises it (basic, pro, agency), or "subscribe".
    quota: str | None = None
    limit: int | None = None
    used: int | None = None
    unlock: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int,
    code: str,
    message: str,
    issues: list[FieldIssue] | None = None,
    request_id: str | None = None,
    retry_after: int | None = None,
    payment: PaymentRequiredError | None = None,
) -> Response:
    quota = (
        {"quota": payment.quota, "limit": payment.limit, "used": payment.used, "unlock": payment.unlock}
        if payment is not None
        else {}
    )
    body = ErrorResponse(
        error=ErrorBody(
            code=code,
            message=message,
            fields=[ErrorField(field=i.loc, message=i.message) for i in issues or []],
            request_id=request_id,
            **quota,
        )
    )
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    # The 402's fields appear on a 402 only: every other error keeps its four keys.
    dumped = body.model_dump_json(exclude=None if payment is not None else {"error": set(_PAYMENT_KEYS)})
    return Response(body=dumped, status_code=status, headers=headers)


_PAYMENT_KEYS = ("quota", "limit", "used", "unlock")


def _parse_body(raw: str | bytes | None, model: type[BaseModel]) -> BaseModel:
    if not raw:
        raise _MalformedBody("the request needs a JSON object body")
    try:
        data = load_json(raw, "body", label="request body")
    except MalformedJsonError as exc:
        raise _MalformedBody(exc.message) from exc
    except InvalidInputError as exc:
        raise InvalidInputError("the request body is invalid", exc.issues) from exc
    if not isinstance(data, dict):
        raise _MalformedBody("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError("the request body is invalid", issues_from_validation(exc, "body")) from exc


def _parse_query(params: dict[str, str] | None, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        raise InvalidInputError("the query string is invalid", issues_from_validation(exc, "query")) from exc


class _MalformedBody(Exception):
    pass


def route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    public: bool = False,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    raw_body: tuple[str, ...] = (),
    creates: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view.

    The view receives ``principal`` (unless ``public``), ``body`` and ``query`` models (when
    declared) and the URI parameters as keyword arguments, and returns a pydantic model, a
    :class:`chalice.Response`, or ``None`` (for 204). A view that takes a file instead of JSON
    names its content types in ``raw_body`` and receives the bytes as ``raw`` (API Gateway must
    list them as binary types, so that no byte is re-encoded on the way). A view that starts new
    work (a campaign, an upload, a render, an endpoint) says ``creates``: a cancelled or lapsed
    account is refused (402) before it runs, while it can still read, change and delete what it has.

    Every authenticated request counts against its plan's hourly rate (:func:`_admit`): 429
    with ``Retry-After`` past it, and ``X-RateLimit-Limit/Remaining/Reset`` on every answer once
    the caller is known.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handler(**uri_params: str) -> Response:
            request = bp.current_request
            rid = _request_id(request)
            rate: dict[str, str] = {}
            try:
                kwargs: dict[str, Any] = dict(uri_params)
                if not public:
                    kwargs["principal"] = _admit(
                        request.headers.get("authorization"), creates, rate, request.method
                    )
                if body is not None:
                    kwargs["body"] = _parse_body(request.raw_body, body)
                if raw_body:
                    raw = request.raw_body
                    kwargs["raw"] = raw.encode() if isinstance(raw, str) else (raw or b"")
                if query is not None:
                    kwargs["query"] = _parse_query(dict(request.query_params or {}), query)
                result = view(**kwargs)
            except _MalformedBody as exc:
                return _with(rate, error_response(400, "malformed_body", str(exc), request_id=rid))
            except InvalidInputError as exc:
                code = 422 if exc.issues else 400
                return _with(rate, error_response(code, exc.code, exc.message, exc.issues, rid))
            except TailorcastError as exc:
                status_code = _status_for(exc)
                retry = exc.retry_after if isinstance(exc, RateLimitedError | StorageError) else None
                payment = exc if isinstance(exc, PaymentRequiredError) else None
                answer = error_response(
                    status_code, exc.code, exc.message, request_id=rid, retry_after=retry, payment=payment
                )
                return _with(rate, answer)
            except Exception:
                logger.exception("unhandled error")
                return error_response(
                    500, "internal_error", "something went wrong on our side", request_id=rid
                )
            if isinstance(result, Response):
                return _with(rate, result)
            if result is None:
                return _with(rate, Response(body="", status_code=204))
            return _with(
                rate,
                Response(
                    body=result.model_dump_json(),
                    status_code=status,
                    headers={"Content-Type": "application/json"},
                ),
            )

        if raw_body:
            bp.route(path, methods=[method], content_types=list(raw_body))(handler)
        else:
            bp.route(path, methods=[method])(handler)
        ROUTES.append(
            RouteDoc(path, method, summary, public, status, body, query, response, raw_body, creates)
        )
        return handler

    return decorator


def _status_for(exc: TailorcastError) -> int:
    """The most specific mapped class in the error's hierarchy decides (412 before 409)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _request_id(request: Request) -> str | None:
    """API Gateway's request id, else the Lambda invocation's (what support will search logs for)."""
    rid = (request.context or {}).get("requestId") or getattr(request.lambda_context, "aws_request_id", None)
    return str(rid) if rid else None


def normalize_framework_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Give Chalice's own errors (415 unsupported media type, 405, …) our error shape.

    Those are produced before any view runs, so the route decorator never sees them.
    """
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", str(body["Code"])).lower()
        return error_response(response.status_code, code, str(body["Message"]), request_id=_request_id(event))
    return response


def _admit(authorization: str | None, creates: bool, rate: dict[str, str], method: str = "GET") -> Principal:
    """The caller, let in: authenticated, counted against the plan's hourly rate (its headers
    put in ``rate``, for every answer from here on), and allowed to create if ``creates``.

    Raises
    ------
    AuthenticationError, PlanFeatureError
        From authentication.
    RateLimitedError
        The plan's requests for this hour are used.
    AccountInactiveError
        ``creates`` on a lapsed account.
    """
    principal, standing = _authenticate_and_count(authorization, method)
    log_keys(account_id=principal.account_id)
    if standing is not None:
        rate.update(_rate_headers(standing))
        if standing.exceeded:
            what = "reads" if standing.bucket == READS_BUCKET else "API requests (changes and API-key calls)"
            raise RateLimitedError(
                f"this account's plan allows {standing.limit:,} {what} an hour and they are "
                "used; wait for the next hour or upgrade for more",
                retry_after=max(1, standing.reset - int(time.time())),
            )
    if creates:
        assert principal.account is not None
        ensure_can_create(principal.account)
    return dataclasses.replace(principal, rate=standing)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """A few threads for the rate-limit counter's write (created on first use, per container)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rate")
        return _pool


def _authenticate_and_count(
    authorization: str | None, method: str = "GET"
) -> tuple[Principal, RateStanding | None]:
    """The caller, and the request counted against its account's hourly rate limit.

    The count is ONE DynamoDB round trip: an atomic ``UpdateItem ADD`` on the window's counter
    item (``RATE#api#{account}#{window start}``, deleted by TTL after the window), returning the
    new count. It needs only the account id, so it is sent as soon as authentication knows it
    (from the login's claim or the API key's item) and runs beside the read of the user and the
    account, which then gives the limit: the plan is read with the account in the same
    ``BatchGetItem`` authentication already makes (``AccountRepository.user_and_account``), so it
    costs no round trip of its own and is always the account's current plan, whatever changed it
    (a webhook, a downgrade). One round trip added, and none of it waited for in sequence.
    ``None`` when the plan limits are switched off (the benchmark's baseline only).
    """
    if not get_settings().enforce_plan_limits:
        return _principal(authorization, None), None
    start, end = rate_window()
    hit: Future[int] | None = None
    token = (authorization or "").partition(" ")[2].strip()
    bucket = rate_bucket(method, api_key=token.startswith(KEY_PREFIX))

    def count(account_id: str) -> None:
        nonlocal hit
        limiter = dependencies.get_rate_limiter()
        hit = _background().submit(limiter.hit, rate_key(account_id, start, bucket), RATE_COUNTER_TTL_SECONDS)

    try:
        principal = _principal(authorization, count)
    finally:
        if hit is not None and not hit.done():
            hit.result()  # never leave the write behind the answer (nor its error unseen)
    if hit is None:
        return principal, None
    assert principal.account is not None
    return principal, rate_standing(principal.account, hit.result(), end, bucket)


def _principal(authorization: str | None, on_account: Callable[[str], None] | None) -> Principal:
    return authenticate(
        authorization,
        dependencies.get_token_verifier(),
        dependencies.get_account_repo(),
        dependencies.get_api_key_repo(),
        on_account=on_account,
    )


def _rate_headers(standing: RateStanding) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(standing.limit),
        "X-RateLimit-Remaining": str(standing.remaining),
        "X-RateLimit-Reset": str(standing.reset),  # epoch seconds, as GitHub's API
    }


def _with(headers: dict[str, str], response: Response) -> Response:
    if headers:
        response.headers = {**(response.headers or {}), **headers}
    return response
