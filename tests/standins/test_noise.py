"""What a user of the local stack reads: no third-party notices, no metric dumps, no echoed credentials.

The stack tests start the whole local stack once (in this process, as ``tailorcast up`` and the demo
do) and are marked ``e2e``; the others exercise one piece directly.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import stack as stack_module

ROOT = Path(__file__).resolve().parents[2]

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJub2lzZS10ZXN0In0.c2lnbmF0dXJl"  # a made-up bearer token
MOTO_ASL_LOGGER = "moto.stepfunctions.parser.asl.parse.preprocessor"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    """The local stack, and every log message any logger passed on while it started."""
    from chalicelib import dependencies

    saved = dict(os.environ)
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    local = stack_module.LocalStack(tmp_path_factory.mktemp("noise") / "state", verbose=False)
    try:
        local.start()
    finally:
        root.removeHandler(records)
    try:
        yield local, [r.getMessage() for r in records.records]
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        dependencies.reset()


def _assert_not_found_without_echo(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"]
    assert body["error"]["request_id"]
    assert TOKEN not in response.text
    assert "Bearer" not in response.text


# --------------------------------------------------------------------------- the whole stack


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/no/such/route", "/v1/campaigns/x/nothing?a=1", "/"])
def test_an_unknown_api_route_answers_404_in_the_api_error_format(started: Any, path: str) -> None:
    # GIVEN the local stack and a request with a bearer token to a path no route matches
    local, _ = started
    # WHEN it reaches the API
    response = httpx.get(local.endpoints.api + path, headers={"Authorization": f"Bearer {TOKEN}"})
    # THEN a 404 in the API's error shape, which does not echo the token
    _assert_not_found_without_echo(response)


@pytest.mark.e2e
def test_an_unknown_route_with_a_body_keeps_the_connection_usable(started: Any) -> None:
    local, _ = started
    with httpx.Client(base_url=local.endpoints.api) as client:
        response = client.post(
            "/no/such/route", headers={"Authorization": f"Bearer {TOKEN}"}, content=json.dumps({"a": "b"})
        )
        _assert_not_found_without_echo(response)
        # the body was read: the next request on the same connection is answered as itself
        assert client.get("/openapi.json").status_code == 200


@pytest.mark.e2e
def test_the_front_door_never_echoes_a_bearer_token(started: Any) -> None:
    local, _ = started
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # /w/* goes to the API: its 404
    _assert_not_found_without_echo(httpx.get(local.endpoints.media + "/w/no/such/route", headers=headers))
    # anything else is a media key: CloudFront's signed-cookie refusal, which names no credential
    media = httpx.get(local.endpoints.media + "/no/such/route", headers=headers)
    assert media.status_code == 403
    assert TOKEN not in media.text


@pytest.mark.e2e
def test_the_stack_starts_without_moto_tolerated_failure_notice(started: Any) -> None:
    _, messages = started
    assert not [m for m in messages if "ToleratedFailurePercentage" in m]


@pytest.mark.e2e
def test_a_hundred_requests_print_no_metric_dump(started: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN metrics off (the local default) and Powertools' limit of 100 values per metric
    local, _ = started
    capsys.readouterr()
    # WHEN the API answers more requests than that
    with httpx.Client(base_url=local.endpoints.api) as client:
        for _ in range(105):
            assert client.get("/openapi.json").status_code == 200
    # THEN no CloudWatch EMF line reaches stdout
    assert '"_aws"' not in capsys.readouterr().out


# --------------------------------------------------------------------------- pieces


def test_metrics_are_published_only_when_verbose(tmp_path: Path) -> None:
    quiet = stack_module.LocalStack(tmp_path / "a", verbose=False).settings_env("http://x:1", "http://y:2")
    loud = stack_module.LocalStack(tmp_path / "b", verbose=True).settings_env("http://x:1", "http://y:2")
    assert quiet["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert loud["POWERTOOLS_METRICS_DISABLED"] == "false"


def test_verbose_follows_logging_when_not_given(tmp_path: Path) -> None:
    devstack_logger = logging.getLogger("devstack")
    level = devstack_logger.level
    try:
        devstack_logger.setLevel(logging.INFO)  # what the CLI's -v gives
        assert stack_module.LocalStack(tmp_path / "a").verbose
        devstack_logger.setLevel(logging.WARNING)
        assert not stack_module.LocalStack(tmp_path / "b").verbose
    finally:
        devstack_logger.setLevel(level)


def test_only_the_tolerated_failure_notice_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    stack_module._quiet_third_party_notices()
    stack_module._quiet_third_party_notices()  # idempotent: one filter
    moto_asl = logging.getLogger(MOTO_ASL_LOGGER)
    assert sum(isinstance(f, stack_module._DropMessage) for f in moto_asl.filters) == 1
    with caplog.at_level(logging.WARNING, logger=MOTO_ASL_LOGGER):
        moto_asl.warning(
            "ToleratedFailurePercentage declarations currently have no effect on the program evaluation."
        )
        moto_asl.warning("ToleratedFailureCountPath declarations currently have no effect on the program.")
    assert [r.getMessage()[:25] for r in caplog.records] == ["ToleratedFailureCountPath"]


def test_powertools_empty_metrics_warning_is_silenced() -> None:
    stack_module._quiet_third_party_notices()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        stack_module._quiet_third_party_notices()  # the filter goes in front of "default"
        warnings.warn(
            "No application metrics to publish. The cold-start metric may be published", stacklevel=1
        )
        warnings.warn("another warning", stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning"]


def test_the_athena_stand_in_keeps_no_duckdb_object_past_a_query(tmp_path: Path) -> None:
    # GIVEN a process whose Athena stand-in answered a query and is still referenced at exit (a
    # stack never stopped, or one kept for its state): what DuckDB's bindings report as leaks
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path

            import boto3
            from moto import mock_aws

            from devstack.athena import AthenaStandIn

            with mock_aws():
                s3 = boto3.client("s3", region_name="us-east-1")
                s3.create_bucket(Bucket="results")
                glue = boto3.client("glue", region_name="us-east-1")
                standin = AthenaStandIn(lambda: s3, lambda: glue, Path(sys.argv[1]))
                standin.start()
                athena = boto3.client("athena", region_name="us-east-1", endpoint_url=standin.url)
                query = athena.start_query_execution(
                    QueryString="SELECT 1 AS one, DATE '2026-01-01' AS d",
                    ResultConfiguration={"OutputLocation": "s3://results/out/"},
                )["QueryExecutionId"]
                print(standin.wait(query))
                sys.modules["_kept_standin"] = standin  # outlives every module
            """
        )
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    # WHEN the process exits
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN the query ran and nothing was reported at exit
    assert done.stdout.strip() == "SUCCEEDED", done.stderr
    assert "leaked" not in done.stderr
    assert done.returncode == 0
