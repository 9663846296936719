"""The one place AWS errors become domain errors (``chalicelib/adapters/aws_errors.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from pynamodb.exceptions import (
    CancellationReason,
    DeleteError,
    GetError,
    PutError,
    QueryError,
    ScanError,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from chalicelib.adapters.aws_errors import (
    RETRY_AFTER,
    THROTTLING_CODES,
    Fault,
    classify,
    translate_aws_errors,
    translated_methods,
)
from chalicelib.domain.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    TailorcastError,
    ThrottledError,
)


def client_error(
    code: str, status: int = 400, message: str = "it went wrong", op: str = "PutItem"
) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


NETWORK_ERRORS = [
    EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ConnectionClosedError(endpoint_url="https://states.amazonaws.com"),
]
PYNAMODB_ERRORS = [PutError, UpdateError, DeleteError, GetError, QueryError, ScanError, TransactWriteError]


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize("code", sorted(THROTTLING_CODES))
def test_every_throttling_code_is_throttled(code: str) -> None:
    fault = classify(client_error(code))
    assert fault is not None and fault.kind is Fault.THROTTLED and fault.retryable


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("InternalServerError", 500, Fault.TRANSIENT),
        ("ServiceUnavailable", 503, Fault.TRANSIENT),
        ("SomethingNew", 502, Fault.TRANSIENT),  # any 5xx, code known or not
        ("ConditionalCheckFailedException", 400, Fault.CONFLICT),
        ("NoSuchKey", 404, Fault.NOT_FOUND),
        ("ResourceNotFoundException", 400, Fault.NOT_FOUND),
        ("AccessDenied", 403, Fault.DENIED),
        ("AccessDeniedException", 400, Fault.DENIED),
        ("UnrecognizedClientException", 400, Fault.DENIED),
        ("ValidationException", 400, Fault.REFUSED),
    ],
)
def test_client_errors_are_classified_by_code_and_status(code: str, status: int, kind: Fault) -> None:
    fault = classify(client_error(code, status))
    assert fault is not None
    assert (fault.kind, fault.code, fault.status) == (kind, code, status)


@pytest.mark.parametrize("exc", NETWORK_ERRORS, ids=lambda e: type(e).__name__)
def test_network_errors_are_transient(exc: Exception) -> None:
    fault = classify(exc)
    assert fault is not None and fault.kind is Fault.TRANSIENT and fault.code == type(exc).__name__


def test_missing_credentials_are_denied_and_a_malformed_request_refused() -> None:
    assert (fault := classify(NoCredentialsError())) is not None and fault.kind is Fault.DENIED
    assert (fault := classify(ParamValidationError(report="bad"))) is not None and fault.kind is Fault.REFUSED


@pytest.mark.parametrize("error_class", PYNAMODB_ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        (client_error("ProvisionedThroughputExceededException"), Fault.THROTTLED),
        (client_error("InternalServerError", 500), Fault.TRANSIENT),
        (EndpointConnectionError(endpoint_url="http://localhost"), Fault.TRANSIENT),
        (client_error("AccessDeniedException"), Fault.DENIED),
    ],
)
def test_pynamodb_errors_are_classified_by_their_cause(
    error_class: type, cause: Exception, kind: Fault
) -> None:
    fault = classify(error_class("Failed", cause))
    assert fault is not None and fault.kind is kind


def test_a_cancelled_transaction_is_a_conflict_unless_only_contention_cancelled_it() -> None:
    def cancelled(*reasons: str) -> TransactWriteError:
        cause = VerboseClientError(
            {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
            "TransactWriteItems",
            cancellation_reasons=[CancellationReason(code=r) for r in reasons],
        )
        return TransactWriteError("Failed to write transaction items", cause=cause)

    assert (f := classify(cancelled("None", "ConditionalCheckFailed"))) and f.kind is Fault.CONFLICT
    assert (f := classify(cancelled("TransactionConflict", "None"))) and f.kind is Fault.TRANSIENT
    assert (f := classify(cancelled("ThrottlingError"))) and f.kind is Fault.THROTTLED
    assert (
        f := classify(cancelled("ConditionalCheckFailed", "ThrottlingError"))
    ) and f.kind is Fault.CONFLICT


def test_anything_else_is_not_an_aws_error() -> None:
    assert classify(ValueError("nope")) is None


# --------------------------------------------------------------------------- translate_aws_errors


def raised_by(exc: Exception, **options: Any) -> TailorcastError:
    with pytest.raises(TailorcastError) as caught, translate_aws_errors("test.op", "it failed", **options):
        raise exc
    assert caught.value.__cause__ is exc  # the AWS error stays attached for the log
    return caught.value


def test_throttling_is_a_retryable_throttled_error() -> None:
    error = raised_by(client_error("ThrottlingException"), throttled="slow down")
    assert type(error) is ThrottledError and error.message == "slow down"
    assert error.retry_after == RETRY_AFTER["throttled"]


@pytest.mark.parametrize(
    "exc",
    [
        client_error("InternalError", 500),
        *NETWORK_ERRORS,
        PutError("Failed", client_error("InternalServerError", 500)),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_faults_are_retryable_storage_errors(exc: Exception) -> None:
    error = raised_by(exc, unreachable="try again")
    assert type(error) is StorageError and error.message == "try again"
    assert error.retry_after == RETRY_AFTER["transient"]


def test_access_denied_is_a_configuration_error_without_retry() -> None:
    error = raised_by(client_error("AccessDenied", 403))
    assert type(error) is ConfigurationError and error.message == "it failed" and error.retry_after is None


def test_not_found_and_conflict_are_the_call_sites_errors_where_it_expects_them() -> None:
    missing = raised_by(client_error("NoSuchKey", 404), not_found=lambda _: NotFoundError("object", "k"))
    assert isinstance(missing, NotFoundError) and missing.ident == "k"
    conflict = raised_by(
        PutError("Failed", client_error("ConditionalCheckFailedException")),
        conflict=lambda _: ConflictError("changed"),
    )
    assert type(conflict) is ConflictError
    # Unexpected, they are storage errors that no retry fixes.
    for exc in (client_error("NoSuchKey", 404), client_error("ConditionalCheckFailedException")):
        error = raised_by(exc)
        assert type(error) is StorageError and error.retry_after is None


def test_messages_may_quote_aws() -> None:
    error = raised_by(client_error("ValidationException", message="bad name"))
    assert error.message == "it failed"
    with (
        pytest.raises(StorageError, match="refused: bad name"),
        translate_aws_errors("test.op", lambda fault: f"refused: {fault.detail}"),
    ):
        raise client_error("ValidationException", message="bad name")


def test_otherwise_picks_the_error_class_for_every_fault() -> None:
    error = raised_by(client_error("ThrottlingException"), otherwise=lambda f: InvalidInputError(f.code))
    assert type(error) is InvalidInputError and error.message == "ThrottlingException"


def fail(exc: Exception) -> None:
    """Raise ``exc`` (a function, so that the type checker does not take the block to end here)."""
    raise exc


def test_tolerated_codes_are_swallowed_and_reported() -> None:
    with translate_aws_errors("test.op", "it failed", tolerate=("ExecutionAlreadyExists",)) as call:
        fail(client_error("ExecutionAlreadyExists"))
    assert call.tolerated is not None and call.tolerated.code == "ExecutionAlreadyExists"
    with translate_aws_errors("test.op", "it failed", tolerate=("ExecutionAlreadyExists",)) as call:
        pass
    assert call.tolerated is None


def test_domain_errors_and_other_exceptions_pass_through() -> None:
    with pytest.raises(NotFoundError), translate_aws_errors("test.op", "it failed"):
        raise NotFoundError("campaign", "c")
    with pytest.raises(KeyError), translate_aws_errors("test.op", "it failed"):
        raise KeyError("x")


# --------------------------------------------------------------------------- translated_methods


def test_translated_methods_wraps_public_methods_and_generators() -> None:
    @translated_methods("test", "the store failed", unreachable="the store is down")
    class Store:
        def get(self) -> None:
            raise GetError("Failed", client_error("InternalServerError", 500))

        def scan(self) -> Any:
            yield 1
            raise ScanError("Failed", client_error("ProvisionedThroughputExceededException"))

        def _private(self) -> None:
            raise GetError("Failed", client_error("InternalServerError", 500))

    store = Store()
    with pytest.raises(StorageError, match="the store is down"):
        store.get()
    items = store.scan()
    assert next(items) == 1
    with pytest.raises(ThrottledError):
        next(items)
    with pytest.raises(GetError):  # private helpers are the public methods' business
        store._private()
