"""Every error the domain can raise. The API maps them to HTTP in one place (``api/_http.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one input field (``loc`` is a dotted path, e.g. ``body.name``)."""

    loc: str
    message: str


def issues_from_validation(exc: ValidationError, prefix: str) -> list[FieldIssue]:
    """One :class:`FieldIssue` per pydantic error, located under ``prefix`` (``body``, ``query``)."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in (prefix, *err["loc"]))
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        issues.append(FieldIssue(loc, message))
    return issues


class TailorcastError(Exception):
    """Base of all domain errors; ``code`` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(TailorcastError):
    """The caller sent something malformed; ``issues`` names each bad field."""

    code = "invalid_input"

    def __init__(self, message: str, issues: list[FieldIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []

    def __str__(self) -> str:
        """The message and each field's problem: what a Step Functions Catch or a log shows."""
        details = "; ".join(f"{i.loc}: {i.message}" for i in self.issues)
        return f"{self.message} ({details})" if details else self.message


class AuthenticationError(TailorcastError):
    """No credentials, or credentials that do not verify (expired, wrong issuer, …)."""

    code = "unauthenticated"


class NotFoundError(TailorcastError):
    """The resource does not exist *for this tenant*. Never says whether it exists elsewhere."""

    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class ConflictError(TailorcastError):
    """The write lost a race (optimistic lock) or would break a uniqueness rule."""

    code = "conflict"


class CampaignBusyError(ConflictError):
    """Another import is adding prospects to the campaign right now."""


class LimitExceededError(TailorcastError):
    """A size, count or plan limit would be exceeded."""

    code = "limit_exceeded"


class UploadRejectedError(TailorcastError):
    """An uploaded object failed validation; ``reason`` is shown to the seller."""

    code = "upload_rejected"


class StorageError(TailorcastError):
    """A backing store failed in a way the caller cannot fix (logged with the cause).

    ``retry_after`` (seconds) is set when the fault is transient (a throttled or unreachable
    service): the API answers 503 with ``Retry-After``, and the state machines retry it.
    """

    code = "storage_error"

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(StorageError):
    """The deployment is not configured to do this (a placeholder signing key, a missing key).

    Logged with the details for the operator; the caller only learns that the service is
    unavailable (503), since nothing it sends can fix it.
    """

    code = "configuration_error"


class ThrottledError(StorageError):
    """A service is throttling us; retry later, with backoff and jitter."""

    code = "throttled"


class RateLimitedError(TailorcastError):
    """Too many requests from one source; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLargeError(TailorcastError):
    """The request body is over the limit of what the endpoint takes."""

    code = "payload_too_large"


class StoredDataError(ConflictError):
    """An item stored by an earlier version breaks today's rules: an error on that item only,
    repairable (PATCH) or deletable through the API."""

    code = "stored_data_invalid"


class ForbiddenError(TailorcastError):
    """The request may not be made this way (e.g. straight to the origin, past the front door)."""

    code = "forbidden"


class PaymentRequiredError(TailorcastError):
    """The plan (or the account's billing standing) does not allow this: HTTP 402.

    ``quota`` names what ran out (``videos``, ``campaigns``, ``api_keys``, ``account``), ``limit``
    and ``used`` say how far, and ``unlock`` says what lifts it: the cheapest plan that raises the
    limit (``basic``, ``pro``, ``agency``), ``subscribe`` for a lapsed account, or ``None`` when no
    plan raises it.
    """

    code = "payment_required"

    def __init__(
        self,
        message: str,
        *,
        quota: str | None = None,
        limit: int | None = None,
        used: int | None = None,
        unlock: str | None = None,
    ) -> None:
        super().__init__(message)
        self.quota = quota
        self.limit = limit
        self.used = used
        self.unlock = unlock


class QuotaExceededError(PaymentRequiredError):
    """A plan limit (videos this period, campaigns, …) is reached: nothing was created."""

    code = "quota_exceeded"


class PlanFeatureError(PaymentRequiredError):
    """The account's plan does not include the feature (API keys on a plan below Agency)."""

    code = "plan_feature_missing"


class AccountInactiveError(PaymentRequiredError):
    """The account has lapsed (trial ended, unpaid, cancelled, or past due beyond the grace): it
    reads its data and its watch links keep playing, but it creates nothing new until it subscribes."""

    code = "account_inactive"

    def __init__(self, message: str) -> None:
        super().__init__(message, quota="account", unlock="subscribe")


class PreconditionFailedError(ConflictError):
    """The caller's expected version (``If-Match``) is not the current one."""

    code = "precondition_failed"


class SynthesisError(TailorcastError):
    """A speech engine failed, or is not available here (not installed, no API key, refused)."""

    code = "synthesis_error"


class WebhookDeliveryError(TailorcastError):
    """A webhook endpoint did not accept an event (non-2xx, timeout, connection refused …).

    Raised by the delivery task so that Step Functions retries it by this error's name.
    """

    code = "webhook_delivery_failed"


class NotConfirmedError(ForbiddenError):
    """The user signed up but has not confirmed their email with the code sent to it."""

    code = "not_confirmed"


def error_to_dict(exc: TailorcastError) -> dict[str, object]:
    """A domain error as JSON, so it can cross a Lambda invocation intact (see :func:`error_from_dict`)."""
    out: dict[str, object] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, InvalidInputError):
        out["issues"] = [{"loc": i.loc, "message": i.message} for i in exc.issues]
    if isinstance(exc, NotFoundError):
        out["kind"], out["ident"] = exc.kind, exc.ident
    return out


def error_from_dict(data: dict[str, object]) -> TailorcastError:
    """The domain error :func:`error_to_dict` described (an unknown code becomes a StorageError)."""
    code, message = str(data.get("code")), str(data.get("message", ""))
    if code == InvalidInputError.code:
        raw = data.get("issues")
        issues = [FieldIssue(str(i["loc"]), str(i["message"])) for i in raw] if isinstance(raw, list) else []
        return InvalidInputError(message, issues)
    if code == NotFoundError.code:
        return NotFoundError(str(data.get("kind", "resource")), str(data.get("ident", "")))
    by_code: dict[str, type[TailorcastError]] = {
        cls.code: cls
        for cls in (
            ConflictError,
            PreconditionFailedError,
            LimitExceededError,
            UploadRejectedError,
            SynthesisError,
            WebhookDeliveryError,
        )
    }
    return by_code.get(code, StorageError)(message)
