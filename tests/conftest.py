"""Shared fixtures. Env is set before anything imports ``app`` (which validates settings)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests are deterministic: the same examples on every run and machine (a failure found is
# written down as an @example), and no example database is kept between runs.
hypothesis_settings.register_profile("tailorcast", derandomize=True, database=None)
hypothesis_settings.load_profile("tailorcast")

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TAILORCAST_STAGE": "test",
    "TAILORCAST_TABLE_NAME": "tailorcast-test",
    "TAILORCAST_UPLOADS_BUCKET": "tailorcast-test-uploads",
    "TAILORCAST_MEDIA_BUCKET": "tailorcast-test-media",
    "TAILORCAST_VOICE_FUNCTION_NAME": "tailorcast-test-voice",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(TEST_ENV)


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from devstack.issuer import LocalIssuer

    issuer = LocalIssuer(tmp_path_factory.mktemp("issuer"))
    os.environ.update(issuer.settings_env())
    return issuer


@pytest.fixture
def aws(issuer) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """moto in-process, with the table and buckets created from the cloud's definitions."""
    import boto3
    from moto import mock_aws

    from chalicelib import dependencies
    from chalicelib.adapters.dynamodb.schema import table_definition

    with mock_aws():
        dependencies.reset()
        boto3.client("dynamodb").create_table(**table_definition(TEST_ENV["TAILORCAST_TABLE_NAME"]))
        s3 = boto3.client("s3")
        for bucket in (TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], TEST_ENV["TAILORCAST_MEDIA_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        yield
        dependencies.reset()


@pytest.fixture
def sealing_key(aws: None) -> str:
    """The KMS key that seals stored secrets (webhook signing secrets), under the alias the
    settings name, in moto's KMS (the local stack makes the same; CDK a customer-managed key)."""
    import boto3

    from chalicelib.settings import get_settings

    kms = boto3.client("kms")
    key_id: str = kms.create_key(Description="tailorcast test sealing key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=get_settings().sealing_key_id, TargetKeyId=key_id)
    return key_id


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real H.264/AAC MP4 (2 s, 320x180), made once per session with ffmpeg."""
    from tailorcast_cli.samples import make_base_video

    return make_base_video(tmp_path_factory.mktemp("media") / "base.mp4", seconds=2.0, width=320, height=180)


@pytest.fixture
def mediaconvert(aws: None) -> Iterator[object]:
    """The local MediaConvert (real ffmpeg executor over moto's S3); events are collected in
    ``.events`` instead of being delivered, so tests hand them to the app themselves."""
    import boto3

    from chalicelib import dependencies
    from devstack.mediaconvert import MediaConvertStandIn
    from devstack.mediaconvert.executor import FfmpegExecutor

    events: list[dict[str, object]] = []
    standin = MediaConvertStandIn(
        FfmpegExecutor(lambda: boto3.client("s3"), preset="ultrafast"), events.append
    )
    standin.start()
    standin.events = events  # type: ignore[attr-defined]
    os.environ["AWS_ENDPOINT_URL_MEDIACONVERT"] = standin.url
    dependencies.reset()
    try:
        yield standin
    finally:
        standin.stop(drain=False)
        os.environ.pop("AWS_ENDPOINT_URL_MEDIACONVERT", None)
        dependencies.reset()


@pytest.fixture
def voice_function(aws: None) -> Iterator[object]:
    """The voice function registered with moto's Lambda and run in-process (as the local stack
    does), so the API's ``lambda.invoke`` reaches the real handler."""
    import json

    import boto3

    from chalicelib.tasks import voice
    from devstack import lambdas

    dispatcher = lambdas.Dispatcher()
    lambdas.install(dispatcher)
    role = boto3.client("iam").create_role(
        RoleName="voice-test",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    name = TEST_ENV["TAILORCAST_VOICE_FUNCTION_NAME"]
    arn = boto3.client("lambda").create_function(
        FunctionName=name,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tailorcast-voice:test"},
    )["FunctionArn"]
    dispatcher.register(name, arn, voice.handler)
    try:
        yield dispatcher
    finally:
        dispatcher.drain()
        dispatcher.shutdown()


# --- Test tiers ------------------------------------------------------------------------------------
# Every test carries exactly one tier marker, which `make unit|functional|e2e|infra` select on:
#   unit        pure Python and pip-installed libraries (DuckDB, PyAV, the ffmpeg imageio-ffmpeg ships)
#               with the fakes in tests/fakes.py; no AWS emulation, no Debian packages, no local stack;
#   functional  the Chalice test client, repositories and adapters over moto (in process), the AWS
#               stand-ins, and the engines Debian packages (flite, espeak-ng);
#   e2e         the whole local stack: moto server, real ffmpeg renders, Chromium;
#   infra       the CDK app synthesized and its template asserted.
# A test's folder gives its tier; a test under tests/unit or tests/tooling that asks for moto (the
# ``aws`` fixture, directly or through another fixture) is functional, whatever folder it sits in.
TIERS = ("unit", "functional", "e2e", "infra")
FOLDER_TIERS = {
    "unit": "unit",
    "tooling": "unit",
    "standins": "functional",
    "functional": "functional",
    "fuzz": "functional",
    "e2e": "e2e",
    "infrastructure": "infra",
}
MOTO_FIXTURES = frozenset({"aws"})


def tier_of(item: pytest.Item) -> str:
    """The one tier ``item`` belongs to (see the table above)."""
    explicit = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
    if explicit:
        return explicit[0]
    folder = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
    tier = FOLDER_TIERS.get(folder, "unit")
    if tier == "unit" and MOTO_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "functional"
    return tier


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if not any(mark.name == tier for mark in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_moto(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps the unit tier honest: a unit test that starts moto fails, saying how to file it."""
    if request.node.get_closest_marker("unit") is None:
        return
    from moto.core import models

    def refuse(self: object, reset: bool = True) -> None:
        raise RuntimeError(
            "a unit-tier test started moto: ask for the `aws` fixture or mark it functional "
            "(tests/conftest.py § Test tiers)"
        )

    monkeypatch.setattr(models.MockAWS, "start", refuse)
