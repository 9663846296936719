"""The Cognito stand-in (``devstack/cognito.py``) on moto in-process: codes are emailed (never
returned), checked as Cognito checks them, the post-confirmation trigger runs once, password
reset works by code, and the pool survives a reset of moto (a restart)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack import cognito, lambdas, outbox

SENDER = "Tailorcast <no-reply@tailorcast.local>"
PASSWORD = "Str0ng-Password"
FUNCTION = "tailorcast-test-on_post_confirmation"


class Env:
    def __init__(self, idp: Any, client_id: str, pool_id: str, box: outbox.Outbox, events: list[Any]) -> None:
        self.idp, self.client_id, self.pool_id, self.outbox, self.events = (
            idp,
            client_id,
            pool_id,
            box,
            events,
        )

    def code(self, email: str) -> str:
        message = self.outbox.latest(email)
        assert message is not None, "no email"
        code = message.code()
        assert code is not None, message.body
        return code


def _make_pool(idp: Any) -> tuple[str, str]:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
    pool = idp.create_user_pool(
        PoolName="users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireSymbols": False}},
        LambdaConfig={"PostConfirmation": arn},
    )["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="public", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    return pool, client


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    events: list[Any] = []
    dispatcher = lambdas.Dispatcher(processes=0)
    stand_in = cognito.CognitoStandIn(tmp_path / "cognito.json", sender=SENDER)
    box = outbox.Outbox(tmp_path / "outbox.json", "123456789012", "us-east-1")
    with mock_aws():
        lambdas.install(dispatcher)
        cognito.install(stand_in)
        outbox.install(box)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "")
        boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=role,
            Handler="app.h",
            Code={"ZipFile": buf.getvalue()},
        )

        def trigger(event: Any, context: Any) -> Any:
            events.append(event)
            return event

        dispatcher.register(FUNCTION, f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}", trigger)
        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress="no-reply@tailorcast.local"
        )
        idp = boto3.client("cognito-idp", region_name="us-east-1")
        pool, client = _make_pool(idp)
        try:
            yield Env(idp, client, pool, box, events)
        finally:
            cognito.uninstall()
            outbox.uninstall()
            dispatcher.shutdown()


def _error(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_sign_up_emails_a_code_and_returns_none(env: Env) -> None:
    reply = env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    assert "x-moto-forgot-password-confirmation-code" not in reply["ResponseMetadata"]["HTTPHeaders"]
    message = env.outbox.latest("a@example.com")
    assert message is not None and message.sender == SENDER and message.to == ["a@example.com"]
    assert len(env.code("a@example.com")) == 6
    assert env.code("a@example.com") not in json.dumps(reply)


def test_a_wrong_code_is_refused_and_the_right_one_runs_the_trigger_once(env: Env) -> None:
    sub = env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)["UserSub"]
    code = env.code("a@example.com")
    wrong = "000000" if code != "000000" else "111111"
    confirm = env.idp.confirm_sign_up
    assert _error(
        lambda: confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=wrong)
    ) == ("CodeMismatchException")
    assert env.events == []
    assert _error(
        lambda: env.idp.initiate_auth(
            ClientId=env.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "a@example.com", "PASSWORD": PASSWORD},
        )
    ) == ("UserNotConfirmedException")

    confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code)

    assert len(env.events) == 1
    event = env.events[0]
    assert event["triggerSource"] == "PostConfirmation_ConfirmSignUp" and event["userPoolId"] == env.pool_id
    assert event["request"]["userAttributes"]["sub"] == sub
    assert event["request"]["userAttributes"]["email"] == "a@example.com"
    # The code is spent; confirming again is refused and runs nothing.
    assert _error(
        lambda: confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code)
    ) == ("NotAuthorizedException")
    assert len(env.events) == 1


def test_resend_replaces_the_code_and_repeated_wrong_codes_lock_it(env: Env) -> None:
    env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    first = env.code("a@example.com")
    env.idp.resend_confirmation_code(ClientId=env.client_id, Username="a@example.com")
    second = env.code("a@example.com")
    confirm = env.idp.confirm_sign_up
    if first != second:
        assert _error(
            lambda: confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=first)
        ) == ("CodeMismatchException")
    for _ in range(cognito.MAX_CODE_FAILURES):
        _error(lambda: confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode="abcdef"))
    assert _error(
        lambda: confirm(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=second)
    ) == ("LimitExceededException")


def test_an_expired_code_is_refused(env: Env) -> None:
    env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    code = env.code("a@example.com")
    assert cognito._active is not None
    for pending in cognito._active.codes.values():
        pending.expires_at -= cognito.CODE_TTL_SECONDS + 1  # a day has passed
    assert _error(
        lambda: env.idp.confirm_sign_up(
            ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code
        )
    ) == ("ExpiredCodeException")


def test_a_failing_trigger_is_reported_as_cognito_reports_it(env: Env) -> None:
    assert lambdas._active is not None
    fault = lambdas._active.inject(
        lambdas.LambdaFault(FUNCTION, {}, RuntimeError("table unavailable"), times=1)
    )
    env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    code = env.code("a@example.com")
    assert _error(
        lambda: env.idp.confirm_sign_up(
            ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code
        )
    ) == ("UserLambdaValidationException")
    assert fault.hits == 1


def _log_in(env: Env, password: str) -> dict[str, Any]:
    result: dict[str, Any] = env.idp.initiate_auth(
        ClientId=env.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "a@example.com", "PASSWORD": password},
    )["AuthenticationResult"]
    return result


def _signed_up(env: Env) -> None:
    env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    env.idp.confirm_sign_up(
        ClientId=env.client_id, Username="a@example.com", ConfirmationCode=env.code("a@example.com")
    )


def test_password_reset_by_emailed_code(env: Env) -> None:
    _signed_up(env)
    reply = env.idp.forgot_password(ClientId=env.client_id, Username="a@example.com")
    assert "x-moto-forgot-password-confirmation-code" not in reply["ResponseMetadata"]["HTTPHeaders"]
    code = env.code("a@example.com")
    reset = env.idp.confirm_forgot_password
    assert _error(
        lambda: reset(
            ClientId=env.client_id,
            Username="a@example.com",
            ConfirmationCode="999999x",
            Password="N3w-Password",
        )
    ) == ("CodeMismatchException")
    assert _error(
        lambda: reset(
            ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code, Password="weak"
        )
    ) == ("InvalidPasswordException")
    reset(ClientId=env.client_id, Username="a@example.com", ConfirmationCode=code, Password="N3w-Password")
    assert _error(lambda: _log_in(env, PASSWORD)) == "NotAuthorizedException"
    assert _log_in(env, "N3w-Password")["AccessToken"]
    assert len(env.events) == 1  # the reset ran no sign-up trigger


def test_users_and_sign_ins_survive_a_restart(env: Env) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    _signed_up(env)
    tokens = _log_in(env, PASSWORD)
    assert cognito._active is not None and outbox._active is not None
    state_path, outbox_path = cognito._active.state_path, outbox._active.state_path

    moto_api_backend.reset()  # what stopping the stack does to moto's state

    restored = cognito.CognitoStandIn(state_path, sender=SENDER)
    cognito.install(restored)
    assert restored.restore() == 1
    box = outbox.Outbox(outbox_path, "123456789012", "us-east-1")
    assert box.restore() == 1
    pools = env.idp.list_user_pools(MaxResults=10)["UserPools"]
    assert [p["Id"] for p in pools] == [env.pool_id]
    refreshed = env.idp.initiate_auth(
        ClientId=env.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
    )["AuthenticationResult"]
    assert refreshed["AccessToken"]
    env.idp.global_sign_out(AccessToken=tokens["AccessToken"])  # the old access token is known too
    assert _error(
        lambda: env.idp.initiate_auth(
            ClientId=env.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]},
        )
    ) == ("NotAuthorizedException")
    assert _error(
        lambda: env.idp.sign_up(ClientId=env.client_id, Username="a@example.com", Password=PASSWORD)
    ) == ("UsernameExistsException")
