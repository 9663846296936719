"""No AWS exception leaves an adapter untranslated.

Every public method of every adapter that calls AWS is driven through the faults AWS answers with
(throttling, a 5xx, a network error, a failed condition, a missing resource, access denied), with
botocore's Stubber for the boto3 adapters and a failing DynamoDB client under PynamoDB for the
repositories, and must raise the domain error the one translation module picks. The API then
answers a transient storage fault with 503 and ``Retry-After``, never 500.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from chalice.test import Client

from chalicelib.adapters.analytics import AthenaAnalytics, FirehoseEventSink
from chalicelib.adapters.cdn import WatchSecrets
from chalicelib.adapters.mediaconvert import MediaConvertJobs
from chalicelib.adapters.s3 import S3ObjectStore
from chalicelib.adapters.secrets import KmsSecretSealer
from chalicelib.adapters.stepfunctions import StepFunctionsCallbacks, StepFunctionsOrchestrator
from chalicelib.adapters.voice.polly import PollySynthesizer
from chalicelib.adapters.voice_runner import LambdaVoiceRunner
from chalicelib.adapters.webhooks import StepFunctionsEventPublisher
from chalicelib.domain.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    StorageError,
    SynthesisError,
    TailorcastError,
    ThrottledError,
)
from chalicelib.domain.models import (
    Account,
    Campaign,
    CsvImport,
    OverlayText,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RenderWindow,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
)
from chalicelib.domain.ports import ProspectQuery, Quota
from chalicelib.domain.speech import Utterance
from chalicelib.domain.webhooks import ENDPOINT_QUOTA
from tests.functional.conftest import Tenant, call

REGION = "us-east-1"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:render"

#: The faults, as AWS answers them: (error code, HTTP status); ``network`` is no answer at all.
FAULTS: dict[str, tuple[str, int]] = {
    "throttling": ("ThrottlingException", 400),
    "5xx": ("InternalFailure", 500),
    "network": ("", 0),
    "conditional-check": ("ConditionalCheckFailedException", 400),
    "not-found": ("ResourceNotFoundException", 404),
    "access-denied": ("AccessDeniedException", 403),
}
#: What a fault becomes when the call site expects nothing more precise.
DEFAULT: dict[str, type[TailorcastError]] = {
    "throttling": ThrottledError,
    "5xx": StorageError,
    "network": StorageError,
    "conditional-check": StorageError,
    "not-found": StorageError,
    "access-denied": ConfigurationError,
}


@dataclass
class AdapterCall:
    """One public adapter method, called with a client whose ``operation`` fails."""

    name: str
    service: str
    operation: str
    call: Callable[[Any], Any]
    #: Faults where the method answers otherwise than :data:`DEFAULT` (``None``: it returns).
    expected: dict[str, type[TailorcastError] | None] = field(default_factory=dict)
    #: Every fault becomes this error class (a port that promises one class, e.g. speech).
    always: type[TailorcastError] | None = None
    #: The service's own code for a missing resource.
    not_found_code: str = "ResourceNotFoundException"


class _Job:
    def kwargs(self) -> dict[str, Any]:
        return {"Role": "arn:aws:iam::123456789012:role/mc", "Settings": {}}


_BATCH = SimpleNamespace(batch_id="bat_1", account_id="acct_a", campaign_id="camp_1")
_DELIVERY = SimpleNamespace(account_id="acct_a", endpoint_id="whk_1", delivery_id="dlv_1")
_SEALED = "kms1:" + base64.b64encode(b"blob").decode()
_OBJECT_NOT_FOUND: dict[str, type[TailorcastError] | None] = {"not-found": NotFoundError}

ADAPTER_CALLS = [
    AdapterCall("s3.head", "s3", "head_object", lambda c: S3ObjectStore(c, "b").head("k"), _OBJECT_NOT_FOUND),
    AdapterCall(
        "s3.download",
        "s3",
        "head_object",
        lambda c: S3ObjectStore(c, "b").download("k", Path(tempfile.gettempdir()) / "adapter-errors.bin"),
    ),
    AdapterCall("s3.read_prefix", "s3", "get_object", lambda c: S3ObjectStore(c, "b").read_prefix("k", 10)),
    AdapterCall(
        "s3.open_stream",
        "s3",
        "get_object",
        lambda c: S3ObjectStore(c, "b").open_stream("k"),
        _OBJECT_NOT_FOUND,
    ),
    AdapterCall(
        "s3.get_bytes", "s3", "get_object", lambda c: S3ObjectStore(c, "b").get_bytes("k"), _OBJECT_NOT_FOUND
    ),
    AdapterCall(
        "s3.put_bytes", "s3", "put_object", lambda c: S3ObjectStore(c, "b").put_bytes("k", b"x", "a/b")
    ),
    AdapterCall(
        "s3.copy", "s3", "copy_object", lambda c: S3ObjectStore(c, "b").copy("k", "k2"), _OBJECT_NOT_FOUND
    ),
    AdapterCall(
        "s3.delete_prefix", "s3", "list_objects_v2", lambda c: S3ObjectStore(c, "b").delete_prefix("p/")
    ),
    AdapterCall(
        "mediaconvert.submit",
        "mediaconvert",
        "create_job",
        lambda c: MediaConvertJobs(c).submit(cast(Any, _Job())),
    ),
    AdapterCall(
        "mediaconvert.status",
        "mediaconvert",
        "get_job",
        lambda c: MediaConvertJobs(c).status("job"),
        {"not-found": None},
        not_found_code="NotFoundException",
    ),
    AdapterCall(
        "sfn.start",
        "stepfunctions",
        "start_execution",
        lambda c: StepFunctionsOrchestrator(c, ARN).start(cast(Any, _BATCH), 1),
    ),
    AdapterCall(
        "sfn.stop",
        "stepfunctions",
        "stop_execution",
        lambda c: StepFunctionsOrchestrator(c, ARN).stop("arn", "x"),
    ),
    AdapterCall(
        "sfn.status",
        "stepfunctions",
        "describe_execution",
        lambda c: StepFunctionsOrchestrator(c, ARN).status("a"),
        {"not-found": None},
        not_found_code="ExecutionDoesNotExist",
    ),
    AdapterCall(
        "sfn.succeed",
        "stepfunctions",
        "send_task_success",
        lambda c: StepFunctionsCallbacks(c).succeed("t", {}),
    ),
    AdapterCall(
        "sfn.fail",
        "stepfunctions",
        "send_task_failure",
        lambda c: StepFunctionsCallbacks(c).fail("t", "E", "c"),
    ),
    AdapterCall(
        "webhooks.enqueue",
        "stepfunctions",
        "start_execution",
        lambda c: StepFunctionsEventPublisher(c, ARN, cast(Any, None)).enqueue(cast(Any, _DELIVERY)),
    ),
    AdapterCall(
        "kms.seal",
        "kms",
        "encrypt",
        lambda c: KmsSecretSealer(c, "alias/k").seal("s", {}),
    ),
    AdapterCall(
        "kms.open",
        "kms",
        "decrypt",
        lambda c: KmsSecretSealer(c, "alias/k").open(_SEALED, {}),
    ),
    AdapterCall("voice.call", "lambda", "invoke", lambda c: LambdaVoiceRunner(c, "voice").call("names", {})),
    AdapterCall(
        "voice.start", "lambda", "invoke", lambda c: LambdaVoiceRunner(c, "voice").start("names", {})
    ),
    AdapterCall(
        "watch_secrets.session_key",
        "secretsmanager",
        "get_secret_value",
        lambda c: WatchSecrets(c, "w").session_key,
    ),
    AdapterCall(
        "firehose.put",
        "firehose",
        "put_record_batch",
        lambda c: FirehoseEventSink(c, "s", attempts=1, sleep=lambda _: None).put([{"a": 1}]),
        # Throttled or failing batches are sent again, then reported as not stored.
        {"throttling": StorageError},
    ),
    AdapterCall(
        "athena.prospect",
        "athena",
        "start_query_execution",
        lambda c: AthenaAnalytics(c, database="d", table="t", workgroup="w").prospect(
            "acct_a", "camp_1", "pros_1", date(2026, 1, 1), date(2026, 1, 31)
        ),
    ),
    AdapterCall(
        "athena.campaign",
        "athena",
        "start_query_execution",
        lambda c: AthenaAnalytics(c, database="d", table="t", workgroup="w").campaign(
            "acct_a", "camp_1", date(2026, 1, 1), date(2026, 1, 31)
        ),
    ),
    AdapterCall(
        "athena.account",
        "athena",
        "start_query_execution",
        lambda c: AthenaAnalytics(c, database="d", table="t", workgroup="w").account(
            "acct_a", date(2026, 1, 1), date(2026, 1, 31)
        ),
    ),
    AdapterCall(
        "polly.voices",
        "polly",
        "describe_voices",
        lambda c: PollySynthesizer(c).voices(),
        always=SynthesisError,
    ),
    AdapterCall(
        "polly.synthesize",
        "polly",
        "synthesize_speech",
        lambda c: PollySynthesizer(c).synthesize(Utterance("Siobhan")),
        always=SynthesisError,
    ),
]


def _no_network(**_: Any) -> None:
    raise EndpointConnectionError(endpoint_url="https://aws.example")


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("adapter", ADAPTER_CALLS, ids=lambda a: a.name)
def test_boto3_adapters_translate_every_fault(adapter: AdapterCall, fault: str) -> None:
    # GIVEN a client whose call fails with the fault (retries off: one answer is the whole story)
    client = boto3.client(
        cast(Any, adapter.service),
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    code, status = FAULTS[fault]
    if fault == "not-found":
        code = adapter.not_found_code
    stubber = Stubber(client)
    if fault == "network":  # the request never gets an answer: nothing is stubbed, nothing is sent
        client.meta.events.register("before-send", _no_network)
    else:
        stubber.add_client_error(adapter.operation, code, "it went wrong", http_status_code=status)
        stubber.activate()
    expected = adapter.always or adapter.expected.get(fault, DEFAULT[fault])
    # WHEN the adapter's method runs THEN the domain error comes out, never botocore's
    try:
        if expected is None:
            assert adapter.call(client) is None
            return
        with pytest.raises(TailorcastError) as caught:
            adapter.call(client)
    finally:
        stubber.deactivate()
    assert type(caught.value) is expected, repr(caught.value)
    if expected in (ThrottledError, StorageError) and fault in ("throttling", "5xx", "network"):
        assert isinstance(caught.value, StorageError) and caught.value.retry_after, "transient: retry later"


# --------------------------------------------------------------------------- DynamoDB (PynamoDB)


def _aws_error(fault: str, operation: str) -> Exception:
    if fault == "network":
        return EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    code, status = FAULTS[fault]
    response: Any = {
        "Error": {"Code": code, "Message": "it went wrong"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.fixture
def failing_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, set[str] | None], None]:
    """Make DynamoDB fail with a fault: every call (``None``) or the named operations, under
    PynamoDB (which wraps it in ``PutError``, ``GetError`` …) and the bulk writer's boto3 client."""
    real = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore: what PynamoDB calls)

    def arm(fault: str, operations: set[str] | None = None) -> None:
        def failing(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            service = self.meta.service_model.service_name
            if service == "dynamodb" and (operations is None or operation in operations):
                raise _aws_error(fault, operation)
            return real(self, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", failing)

    return arm


def _campaign() -> Campaign:
    return Campaign(account_id="acct_a", campaign_id=new_id("camp"), name="Q4")


def _prospect() -> Prospect:
    return Prospect(
        account_id="acct_a",
        campaign_id="camp_1",
        prospect_id=new_id("pros"),
        first_name="Zoë",
        email="z@example.com",
    )


def _video() -> ProspectVideo:
    return ProspectVideo(
        account_id="acct_a",
        campaign_id="camp_1",
        prospect_id="pros_1",
        render_id="rnd_1",
        base_upload_id="upl_1",
        window=RenderWindow(start=4.6, end=5.9),
        overlay=OverlayText(text="Zoë"),
        first_segment=2,
        segment_count=1,
        prefix="acct_a/camp_1/videos/pros_1/rnd_1",
    )


def _endpoint() -> WebhookEndpoint:
    return WebhookEndpoint(
        account_id="acct_a",
        endpoint_id=new_id("whk"),
        url="https://hooks.example.com/h",
        events=["video.completed"],
        secret="kms1:c2VhbGVk",
    )


def _delivery() -> WebhookDelivery:
    return WebhookDelivery(
        account_id="acct_a",
        endpoint_id="whk_1",
        delivery_id=new_id("dlv"),
        event_id="evt_1",
        event_type="video.completed",
        payload="{}",
    )


def _unchanged(x: Any) -> Any:
    return x


QUOTA = Quota(name="things", limit=10)

#: Every public repository method, called with something valid: (repository getter, call).
REPOSITORY_CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "accounts.create": (
        "get_account_repo",
        lambda r: r.create(
            Account(account_id="acct_x", name="Acme"),
            User(account_id="acct_x", user_id="usr_1", subject="sub", email="a@example.com"),
        ),
    ),
    "accounts.get": ("get_account_repo", lambda r: r.get("acct_a")),
    "accounts.user_by_subject": ("get_account_repo", lambda r: r.user_by_subject("sub")),
    "accounts.login_of": ("get_account_repo", lambda r: r.login_of("sub")),
    "accounts.user_and_account": ("get_account_repo", lambda r: r.user_and_account("acct_a", "usr_1")),
    "accounts.principal_by_subject": ("get_account_repo", lambda r: r.principal_by_subject("sub")),
    "campaigns.add": ("get_campaign_repo", lambda r: r.add(_campaign())),
    "campaigns.get": ("get_campaign_repo", lambda r: r.get("acct_a", "camp_1")),
    "campaigns.list": ("get_campaign_repo", lambda r: r.list("acct_a", 10, None)),
    "campaigns.save": ("get_campaign_repo", lambda r: r.save(_campaign().model_copy(update={"version": 1}))),
    "campaigns.update": ("get_campaign_repo", lambda r: r.update("acct_a", "camp_1", _unchanged)),
    "campaigns.delete": ("get_campaign_repo", lambda r: r.delete("acct_a", "camp_1")),
    "prospects.add": ("get_prospect_repo", lambda r: r.add(_prospect())),
    "prospects.get": ("get_prospect_repo", lambda r: r.get("acct_a", "camp_1", "pros_1")),
    "prospects.get_by_watch_token": ("get_prospect_repo", lambda r: r.get_by_watch_token("tok")),
    "prospects.save": ("get_prospect_repo", lambda r: r.save(_prospect().model_copy(update={"version": 1}))),
    "prospects.update": ("get_prospect_repo", lambda r: r.update("acct_a", "camp_1", "pros_1", _unchanged)),
    "prospects.list": ("get_prospect_repo", lambda r: r.list("acct_a", "camp_1", 10, None)),
    "prospects.search": (
        "get_prospect_repo",
        lambda r: r.search("acct_a", "camp_1", ProspectQuery(), 10, None),
    ),
    "prospects.iter_campaign": ("get_prospect_repo", lambda r: list(r.iter_campaign("acct_a", "camp_1"))),
    "prospects.email_keys": ("get_prospect_repo", lambda r: r.email_keys("acct_a", "camp_1")),
    "prospects.count_by_status": ("get_prospect_repo", lambda r: r.count_by_status("acct_a", "camp_1")),
    "prospects.delete": ("get_prospect_repo", lambda r: r.delete("acct_a", "camp_1", "pros_1")),
    "prospects.delete_campaign": ("get_prospect_repo", lambda r: r.delete_campaign("acct_a", "camp_1")),
    "prospects.bulk_writer": ("get_prospect_repo", lambda r: _bulk_write(r)),
    "imports.add": (
        "get_import_repo",
        lambda r: r.add(
            CsvImport(account_id="acct_a", campaign_id="camp_1", import_id="imp_1", filename="a.csv", key="k")
        ),
    ),
    "imports.get": ("get_import_repo", lambda r: r.get("acct_a", "camp_1", "imp_1")),
    "imports.list": ("get_import_repo", lambda r: r.list("acct_a", "camp_1")),
    "batches.add": (
        "get_batch_repo",
        lambda r: r.add(RenderBatch(account_id="acct_a", campaign_id="camp_1", batch_id=new_id("bat"))),
    ),
    "batches.get": ("get_batch_repo", lambda r: r.get("acct_a", "camp_1", "bat_1")),
    "batches.list": ("get_batch_repo", lambda r: r.list("acct_a", "camp_1", 10, None)),
    "batches.update": ("get_batch_repo", lambda r: r.update("acct_a", "camp_1", "bat_1", _unchanged)),
    "videos.get": ("get_video_repo", lambda r: r.get("acct_a", "camp_1", "pros_1")),
    "videos.save": ("get_video_repo", lambda r: r.save(_video())),
    "videos.update": ("get_video_repo", lambda r: r.update("acct_a", "camp_1", "pros_1", _unchanged)),
    "videos.move": ("get_video_repo", lambda r: r.move(_video(), None)),
    "videos.delete": ("get_video_repo", lambda r: r.delete("acct_a", "camp_1", "pros_1")),
    "videos.list_campaign": ("get_video_repo", lambda r: list(r.list_campaign("acct_a", "camp_1"))),
    "lexicon.put": (
        "get_lexicon_repo",
        lambda r: r.put(
            PronunciationEntry(account_id="acct_a", key="zoe", name="Zoë", pronunciation="ZOH-ee")
        ),
    ),
    "lexicon.get": ("get_lexicon_repo", lambda r: r.get("acct_a", "zoe")),
    "lexicon.list": ("get_lexicon_repo", lambda r: r.list("acct_a")),
    "lexicon.delete": ("get_lexicon_repo", lambda r: r.delete("acct_a", "zoe")),
    "webhooks.add_endpoint": ("get_webhook_repo", lambda r: r.add_endpoint(_endpoint(), ENDPOINT_QUOTA)),
    "webhooks.get_endpoint": ("get_webhook_repo", lambda r: r.get_endpoint("acct_a", "whk_1")),
    "webhooks.list_endpoints": ("get_webhook_repo", lambda r: r.list_endpoints("acct_a")),
    "webhooks.delete_endpoint": (
        "get_webhook_repo",
        lambda r: r.delete_endpoint("acct_a", "whk_1", ENDPOINT_QUOTA),
    ),
    "webhooks.add_delivery": ("get_webhook_repo", lambda r: r.add_delivery(_delivery())),
    "webhooks.get_delivery": ("get_webhook_repo", lambda r: r.get_delivery("acct_a", "whk_1", "dlv_1")),
    "webhooks.save_delivery": (
        "get_webhook_repo",
        lambda r: r.save_delivery(_delivery().model_copy(update={"version": 1})),
    ),
    "webhooks.list_deliveries": ("get_webhook_repo", lambda r: r.list_deliveries("acct_a", "whk_1", 10)),
    "quotas.usage": ("get_quota_counter", lambda r: r.usage("acct_a", "things")),
    "quotas.reserve": ("get_quota_counter", lambda r: r.reserve("acct_a", QUOTA)),
    "quotas.release": ("get_quota_counter", lambda r: r.release("acct_a", "things")),
    "rate_limiter.hit": ("get_rate_limiter", lambda r: r.hit("k", 60)),
    "rate_limiter.claim": ("get_rate_limiter", lambda r: r.claim(["k"], 60)),
    "analytics_cache.get": ("get_analytics_cache", lambda r: r.get("acct_a", "k")),
    "analytics_cache.put": (
        "get_analytics_cache",
        lambda r: r.put("acct_a", "k", datetime.now(UTC), {"a": 1}, 60),
    ),
}
#: Where the repository answers a failed condition with its own error (a lost race, a taken id).
CONDITION_ERRORS: dict[str, type[TailorcastError] | None] = {
    "accounts.create": ConflictError,
    "campaigns.add": ConflictError,
    "campaigns.save": NotFoundError,  # lost the race to a delete (else a ConflictError)
    "campaigns.delete": NotFoundError,
    "prospects.add": ConflictError,
    "prospects.save": NotFoundError,  # lost the race to a delete (else a ConflictError)
    "prospects.delete": NotFoundError,
    "prospects.bulk_writer": ConflictError,
    "imports.add": ConflictError,
    "batches.add": ConflictError,
    "videos.save": ConflictError,
    "videos.move": ConflictError,
    "webhooks.save_delivery": NotFoundError,
    "quotas.reserve": ConflictError,
    "quotas.release": ConflictError,
    "rate_limiter.claim": None,  # a claim someone else holds: answered, not raised
}
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
#: The quota counters retry throttled moves themselves, then report the contention (409).
OVERRIDES: dict[tuple[str, str], type[TailorcastError] | None] = {
    (method, "throttling"): ConflictError
    for method in (
        "webhooks.add_endpoint",
        "webhooks.delete_endpoint",
        "quotas.reserve",
        "quotas.release",
        "campaigns.delete",  # counted out of the campaigns quota (issue 18)
    )
}

_FAULTS_FOR_DYNAMODB = ["throttling", "5xx", "network", "access-denied"]


def _bulk_write(repo: Any) -> int:
    with repo.bulk_writer("acct_a", "camp_1", "owner") as writer:
        writer.add(_prospect())
    return 0


@pytest.mark.parametrize("fault", _FAULTS_FOR_DYNAMODB)
@pytest.mark.parametrize("method", list(REPOSITORY_CALLS))
def test_repositories_translate_every_fault(
    aws: None, failing_dynamodb: Callable[[str, set[str] | None], None], method: str, fault: str
) -> None:
    from chalicelib import dependencies

    getter, run = REPOSITORY_CALLS[method]
    repo = getattr(dependencies, getter)()
    # GIVEN DynamoDB answering every call with the fault
    failing_dynamodb(fault, None)
    expected = OVERRIDES.get((method, fault), DEFAULT[fault])
    # WHEN the method runs THEN it raises the domain error (never PynamoDB's or botocore's)
    if expected is None:
        run(repo)
        return
    with pytest.raises(TailorcastError) as caught:
        run(repo)
    assert isinstance(caught.value, expected), (method, fault, repr(caught.value))
    if fault in ("throttling", "5xx", "network") and issubclass(expected, StorageError):
        assert isinstance(caught.value, StorageError) and caught.value.retry_after, "transient: retry later"


@pytest.mark.parametrize("method", list(CONDITION_ERRORS))
def test_repositories_answer_a_failed_condition_with_their_own_error(
    aws: None, failing_dynamodb: Callable[[str, set[str] | None], None], method: str
) -> None:
    from chalicelib import dependencies

    getter, run = REPOSITORY_CALLS[method]
    repo = getattr(dependencies, getter)()
    # GIVEN a write whose condition fails (the reads before and after it succeed)
    failing_dynamodb("conditional-check", _WRITES)
    expected = CONDITION_ERRORS[method]
    if expected is None:
        run(repo)
        return
    with pytest.raises(expected):
        run(repo)


def test_every_public_repository_method_is_driven() -> None:
    """A new repository method joins :data:`REPOSITORY_CALLS`, or this fails."""
    from chalicelib.adapters.dynamodb import quotas, repositories

    classes = {
        "accounts": repositories.DynamoAccountRepository,
        "campaigns": repositories.DynamoCampaignRepository,
        "prospects": repositories.DynamoProspectRepository,
        "imports": repositories.DynamoCsvImportRepository,
        "batches": repositories.DynamoRenderBatchRepository,
        "videos": repositories.DynamoVideoRepository,
        "lexicon": repositories.DynamoLexiconRepository,
        "webhooks": repositories.DynamoWebhookRepository,
        "quotas": quotas.DynamoQuotaCounter,
        "rate_limiter": repositories.DynamoRateLimiter,
        "analytics_cache": repositories.DynamoAnalyticsCache,
    }
    public = {
        f"{prefix}.{name}"
        for prefix, cls in classes.items()
        for name in vars(cls)
        if not name.startswith("_")
    }
    untested = public - set(REPOSITORY_CALLS) - UNDRIVEN
    assert not untested, f"add these to REPOSITORY_CALLS: {sorted(untested)}"


#: Public methods that this test does not drive, and why.
UNDRIVEN = {
    "imports.save",  # the same conditional put as imports.add
    "batches.save",  # the same conditional put as batches.add
    "batches.set_counters",  # an update like batches.update's
    "rate_limiter.release",  # best effort: logs and carries on
}


def test_every_public_boto3_adapter_method_is_driven() -> None:
    classes: dict[str, Any] = {
        "s3": S3ObjectStore,
        "mediaconvert": MediaConvertJobs,
        "sfn": StepFunctionsOrchestrator,
        "kms": KmsSecretSealer,
        "voice": LambdaVoiceRunner,
        "firehose": FirehoseEventSink,
        "polly": PollySynthesizer,
        "athena": AthenaAnalytics,
    }
    driven = {a.name for a in ADAPTER_CALLS}
    offline = {"s3.presign_post", "s3.presign_get", "s3.uri", "polly.name"}  # no request is sent
    for prefix, cls in classes.items():
        for name in vars(cls):
            if not name.startswith("_") and callable(getattr(cls, name)):
                assert f"{prefix}.{name}" in driven | offline, f"{prefix}.{name} is not driven"


# --------------------------------------------------------------------------- the API's answer


@pytest.mark.parametrize(
    ("fault", "code"),
    [("throttling", "throttled"), ("5xx", "storage_error"), ("network", "storage_error")],
)
def test_a_transient_storage_fault_is_503_with_retry_after(
    client: Client,
    new_tenant: Callable[[], Tenant],
    failing_dynamodb: Callable[[str, set[str] | None], None],
    fault: str,
    code: str,
) -> None:
    # GIVEN a seller, and DynamoDB failing to store anything (PynamoDB raises PutError)
    tenant = new_tenant()
    failing_dynamodb(fault, {"PutItem"})
    # WHEN they create a campaign
    response = call(client, "POST", "/campaigns", tenant, {"name": "Q4"})
    # THEN the API says: unavailable for now, try again after a while; never 500
    assert response.status_code == 503, response.body
    assert int(response.headers["Retry-After"]) > 0
    error = json.loads(response.body)["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "fields", "request_id"}
    assert "PutError" not in error["message"] and "Traceback" not in response.body.decode()


def test_a_read_failing_for_good_is_503_without_retry_after(
    client: Client, new_tenant: Callable[[], Tenant], failing_dynamodb: Callable[[str, set[str] | None], None]
) -> None:
    # GIVEN a seller whose function lost its DynamoDB permissions
    tenant = new_tenant()
    failing_dynamodb("access-denied", {"Query"})
    # WHEN they list campaigns THEN 503, and no promise that a retry helps
    response = call(client, "GET", "/campaigns", tenant)
    assert response.status_code == 503, response.body
    assert "Retry-After" not in response.headers
    assert json.loads(response.body)["error"]["code"] == "configuration_error"


@pytest.fixture(autouse=True)
def _fresh_adapters() -> Iterator[None]:
    yield
    from chalicelib import dependencies

    dependencies.reset()
