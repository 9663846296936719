"""AWS errors translated to domain errors, in one place.

Every adapter that calls AWS (boto3 directly, or DynamoDB through PynamoDB) wraps the call in
:func:`translate_aws_errors`, so the same fault means the same domain error everywhere:

=====================  ==============================================  ===========================
fault                  what AWS raises                                 domain error
=====================  ==============================================  ===========================
throttled              a code in :data:`THROTTLING_CODES`              ``ThrottledError`` (retry)
transient              a 5xx, a code in :data:`TRANSIENT_CODES`, a     ``StorageError`` (retry)
                       network error (no connection, read timeout …)
conflict               a failed condition (optimistic lock, unique)    the call site's, else
                                                                       ``StorageError``
not found              a code in :data:`NOT_FOUND_CODES`               the call site's, else
                                                                       ``StorageError``
denied                 access denied, bad or no credentials            ``ConfigurationError``
refused                anything else (validation, a missing resource)  ``StorageError``
=====================  ==============================================  ===========================

Retryable errors carry ``retry_after`` (seconds), which the API sends as ``Retry-After`` with its
503; the state machines retry them by class name (``ThrottledError``, ``StorageError``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.domain.errors import (
    ConfigurationError,
    StorageError,
    TailorcastError,
    ThrottledError,
)

logger = logging.getLogger(__name__)

#: What any AWS service answers when it throttles a caller (one list for every service).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "ProvisionedThroughputExceeded",  # a transaction's cancellation reason
        "ThrottlingError",  # a transaction's cancellation reason
        "LimitExceededException",  # Firehose, Athena, KMS: the request rate, not a quota
        "SlowDown",  # S3
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
    }
)
#: Faults on AWS's side that a retry fixes (5xx answers carry one of these, or none we know).
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailureException",
        "ServiceException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "TransactionConflict",  # a transaction's cancellation reason: another one held the item
        "TransactionInProgressException",
    }
)
#: A write's condition failed: the optimistic lock, or a uniqueness rule.
CONDITION_CODES = frozenset(
    {"ConditionalCheckFailedException", "ConditionalCheckFailed", "TransactionCanceledException"}
)
NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NoSuchKey",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
        "ExecutionDoesNotExist",
    }
)
#: Nothing a retry fixes: the caller is not allowed, or not who it says it is.
DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
#: Everything an AWS SDK call can raise: botocore's two roots and PynamoDB's (which wraps them).
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, PynamoDBException)
#: Seconds a caller should wait before trying a retryable fault again (the API's ``Retry-After``).
RETRY_AFTER = {"throttled": 5, "transient": 2}


class Fault(StrEnum):
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    DENIED = "denied"
    REFUSED = "refused"


@dataclass(frozen=True)
class AwsFault:
    """What went wrong with one AWS call, whichever SDK layer raised it.

    ``code`` is AWS's error code (``ThrottlingException``) or, for a botocore error without one,
    the exception's class name (``EndpointConnectionError``); ``message`` is AWS's message, if any.
    """

    kind: Fault
    code: str
    message: str = ""
    status: int | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in (Fault.THROTTLED, Fault.TRANSIENT)

    @property
    def detail(self) -> str:
        """AWS's message, or its code when it gave none (for messages that quote the cause)."""
        return self.message or self.code


def error_code(exc: BaseException) -> str:
    """AWS's error code for ``exc`` (``""`` when it has none), looking through PynamoDB's wrapper."""
    if isinstance(exc, PynamoDBException):
        return str(exc.cause_response_code or "")
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "")
    return ""


def error_message(exc: BaseException) -> str:
    """AWS's error message for ``exc`` (``""`` when it has none)."""
    if isinstance(exc, PynamoDBException):
        return str(exc.cause_response_message or "")
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or "")
    return ""


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None


def _kind_of_code(code: str, status: int | None) -> Fault:
    if code in THROTTLING_CODES or status == 429:
        return Fault.THROTTLED
    if code in CONDITION_CODES:
        return Fault.CONFLICT
    if code in NOT_FOUND_CODES:
        return Fault.NOT_FOUND
    if code in DENIED_CODES or status == 403:
        return Fault.DENIED
    if code in TRANSIENT_CODES or (status is not None and status >= 500):
        return Fault.TRANSIENT
    return Fault.REFUSED


def _botocore_kind(exc: BotoCoreError) -> Fault:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return Fault.DENIED
    # No connection, a read or connect timeout, a dropped connection: the network, not the request.
    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionClosedError):
        return Fault.TRANSIENT
    return Fault.REFUSED  # a malformed request (ParamValidationError, …): retrying will not help


def classify(exc: BaseException) -> AwsFault | None:
    """The fault behind an AWS SDK exception; ``None`` for anything that is not one."""
    if isinstance(exc, PynamoDBException):
        cause = exc.cause
        if isinstance(cause, BotoCoreError):
            return AwsFault(_botocore_kind(cause), type(cause).__name__, str(cause))
        code, status = error_code(exc), _status(cause) if cause is not None else None
        if isinstance(exc, TransactWriteError) and code == "TransactionCanceledException":
            # A transaction is cancelled for a failed condition *or* for a conflict or throttling
            # on one of its items; the reasons say which (a condition failure wins).
            reasons = [r.code for r in getattr(exc.cause, "cancellation_reasons", None) or [] if r and r.code]
            if reasons and "ConditionalCheckFailed" not in reasons:
                kinds = {_kind_of_code(r, None) for r in reasons if r != "None"}
                for kind in (Fault.THROTTLED, Fault.TRANSIENT):
                    if kind in kinds:
                        return AwsFault(kind, code, error_message(exc), status)
        if not code:  # PynamoDB's own (DoesNotExist, a table it does not know, …)
            return AwsFault(Fault.REFUSED, type(exc).__name__, str(exc.msg or ""))
        return AwsFault(_kind_of_code(code, status), code, error_message(exc), status)
    if isinstance(exc, ClientError):
        code, status = error_code(exc), _status(exc)
        return AwsFault(_kind_of_code(code, status), code or str(status or ""), error_message(exc), status)
    if isinstance(exc, BotoCoreError):
        return AwsFault(_botocore_kind(exc), type(exc).__name__, str(exc))
    return None


Message = str | Callable[[AwsFault], str]
ErrorFactory = Callable[[AwsFault], TailorcastError]


def _text(message: Message, fault: AwsFault) -> str:
    return message(fault) if callable(message) else message


def translate(
    exc: BaseException,
    operation: str,
    message: Message,
    *,
    throttled: Message | None = None,
    unreachable: Message | None = None,
    denied: Message | None = None,
    not_found: ErrorFactory | None = None,
    conflict: ErrorFactory | None = None,
    otherwise: ErrorFactory | None = None,
) -> TailorcastError:
    """The domain error for ``exc``, an AWS SDK exception raised by ``operation`` (logged here).

    Parameters
    ----------
    exc
        What the SDK raised (:data:`AWS_ERRORS`).
    operation
        The call, for the log (``s3.get_object``, ``dynamodb.put campaign``).
    message
        The domain error's message, for the faults the other arguments do not name.
    throttled, unreachable, denied
        The message when AWS throttles, is unreachable or failing (transient), or refuses access.
    not_found, conflict
        The error for a missing resource or a failed condition, where the call site expects one;
        without them either is a ``StorageError``.
    otherwise
        The error for any fault, instead of the defaults (a service whose callers expect another
        error class, e.g. speech synthesis); ``not_found``/``conflict`` still come first.
    """
    fault = classify(exc)
    if fault is None:  # pragma: no cover - only AWS_ERRORS reach here
        raise TypeError(f"not an AWS error: {exc!r}") from exc
    extra = {"aws_operation": operation, "aws_error_code": fault.code, "aws_fault": fault.kind.value}
    if fault.kind is Fault.NOT_FOUND and not_found is not None:
        return not_found(fault)
    if fault.kind is Fault.CONFLICT and conflict is not None:
        return conflict(fault)
    if fault.retryable:
        logger.warning("%s failed (%s), a retry may succeed", operation, fault.code, extra=extra)
    else:
        logger.error("%s failed (%s)", operation, fault.code, exc_info=exc, extra=extra)
    if otherwise is not None:
        return otherwise(fault)
    if fault.kind is Fault.THROTTLED:
        return ThrottledError(_text(throttled or message, fault), retry_after=RETRY_AFTER["throttled"])
    if fault.kind is Fault.TRANSIENT:
        return StorageError(_text(unreachable or message, fault), retry_after=RETRY_AFTER["transient"])
    if fault.kind is Fault.DENIED:
        return ConfigurationError(_text(denied or message, fault))
    return StorageError(_text(message, fault))


@dataclass
class AwsCall:
    """What :func:`translate_aws_errors` yields: the tolerated fault, if one was swallowed."""

    tolerated: AwsFault | None = field(default=None)


@contextmanager
def translate_aws_errors(
    operation: str,
    message: Message,
    *,
    tolerate: Collection[str] = (),
    throttled: Message | None = None,
    unreachable: Message | None = None,
    denied: Message | None = None,
    not_found: ErrorFactory | None = None,
    conflict: ErrorFactory | None = None,
    otherwise: ErrorFactory | None = None,
) -> Iterator[AwsCall]:
    """Run the block, raising an AWS SDK exception as the domain error :func:`translate` picks.

    Domain errors raised in the block pass through untouched. An AWS error whose code is in
    ``tolerate`` is swallowed instead, and recorded on the yielded :class:`AwsCall` (an execution
    that already exists, a task token that has expired): the block stops there, so anything it was
    to assign is left unset.

    Examples
    --------
    >>> with translate_aws_errors("s3.get_object", "could not read the upload",
    ...                           not_found=lambda _: NotFoundError("object", key)):
    ...     obj = s3.get_object(Bucket=bucket, Key=key)
    """
    call = AwsCall()
    try:
        yield call
    except TailorcastError:
        raise
    except AWS_ERRORS as exc:
        code = error_code(exc)
        if code and code in tolerate:
            call.tolerated = classify(exc)
            return
        raise translate(
            exc,
            operation,
            message,
            throttled=throttled,
            unreachable=unreachable,
            denied=denied,
            not_found=not_found,
            conflict=conflict,
            otherwise=otherwise,
        ) from exc


C = TypeVar("C", bound=type)


def translated_methods(service: str, message: str, **options: Any) -> Callable[[C], C]:
    """A class decorator: every public method (and generator) translates AWS errors it lets out.

    The safety net under an adapter's own, more precise, :func:`translate_aws_errors` blocks: a
    read that fails (``GetError``, ``QueryError`` while a page is iterated) becomes a
    ``StorageError``/``ThrottledError`` rather than leaving the adapter raw.
    """

    def wrap(operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with translate_aws_errors(operation, message, **options):
                    yield from method(*args, **kwargs)

            return generator

        @functools.wraps(method)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with translate_aws_errors(operation, message, **options):
                return method(*args, **kwargs)

        return plain

    def decorate(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            setattr(cls, name, wrap(f"{service} {cls.__name__}.{name}", member))
        return cls

    return decorate
