"""CDK template assertions for ``TailorcastStack``.

The stack is synthesized once per stage for the whole module, against the real ``app.py``.
Chalice packages it with ``dependencies="app-only"``: ``chalice package`` still imports the app and
writes the real SAM template (functions, API, roles, S3 subscriptions all come from ``app.py``);
only the pip download of ``requirements.txt`` is skipped, which changes the code bundle's
contents and nothing in the template. State machines come from ASL files written here, so these
tests do not depend on what ``state_machines/`` holds today.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import state_machines
from chalicelib.adapters.analytics_schema import COLUMNS, glue_table_input
from chalicelib.adapters.dynamodb.schema import TTL_ATTRIBUTE, table_definition
from chalicelib.domain.account_deletion import account_prefixes
from chalicelib.domain.account_export import export_key
from chalicelib.domain.models import RenderBatch
from chalicelib.domain.render import manifest_key
from chalicelib.settings import Settings
from infrastructure.cdk.chalice_packaging import (
    APP_ONLY,
    PackagingError,
    missing_requirements,
    s3_event_type,
    stage_project,
    unresolvable_handlers,
)
from infrastructure.cdk.tailorcast_stack import PROJECT_DIR, TailorcastStack, distributed_maps
from state_machines import MissingPlaceholderError

pytestmark = pytest.mark.infra

# Two files, so "one state machine per file" is not satisfied by a single hard-coded machine.
# APIHandler is the Lambda every Chalice app with routes has.
ASL_FILES: dict[str, dict[str, Any]] = {
    "render_campaign": {
        "StartAt": "Render",
        "States": {
            "Render": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "${APIHandlerFunctionArn}",
                    "Payload": {"table": "${TableName}", "media": "${MediaBucket}"},
                },
                "End": True,
            }
        },
    },
    "import-prospects": {
        "StartAt": "Done",
        "States": {"Done": {"Type": "Pass", "Result": "${UploadsBucket}", "End": True}},
    },
}


@dataclass
class Synth:
    stack: TailorcastStack
    template: Template
    environ_before: dict[str, str]
    environ_after: dict[str, str]

    def ref(self, token: str) -> Any:
        """The CloudFormation expression a CDK token string resolves to."""
        return self.stack.resolve(token)

    def resources(self, resource_type: str) -> Mapping[str, Any]:
        return self.template.find_resources(resource_type)


def _public_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


# The CloudFront public key the watch page's cookies are checked with (`-c mediaPublicKeyPem=…`).
MEDIA_PUBLIC_KEY = _public_key_pem()


# The dev synth is given what `-c senderDomain=… -c appBaseUrl=… -c cognitoEmailViaSes=true` give;
# the prod synth none of it, so it takes them as stack parameters (and Cognito's own sender).
SENDER_DOMAIN = "mail.example.com"
APP_BASE_URL = "https://app.example.com"
DEV_PROPS: dict[str, Any] = {
    "sender_domain": SENDER_DOMAIN,
    "app_base_url": APP_BASE_URL,
    "cognito_email_via_ses": True,
}


def _synth(
    workdir: Path,
    stage: str,
    definitions_dir: Path,
    media_public_key_pem: str | None = MEDIA_PUBLIC_KEY,
    **props: Any,
) -> Synth:
    environ_before = dict(os.environ)
    # The Chalice construct writes its `chalice package` output under the working directory.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        app = cdk.App(outdir=str(workdir / "cdk.out"))
        stack = TailorcastStack(
            app,
            f"Tailorcast-{stage}",
            stage=stage,
            definitions_dir=definitions_dir,
            dependencies=APP_ONLY,
            media_public_key_pem=media_public_key_pem,
            **{**DEV_PROPS, **props},
        )
        # Also refuses a template whose resources depend on each other in a cycle.
        template = Template.from_stack(stack)
    return Synth(stack, template, environ_before, dict(os.environ))


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    definitions = tmp_path_factory.mktemp("asl")
    for name, definition in ASL_FILES.items():
        (definitions / f"{name}.asl.json").write_text(json.dumps(definition))
    return _synth(tmp_path_factory.mktemp("synth-dev"), "dev", definitions)


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # No public key given: the stack takes it as a parameter at deploy time.
    return _synth(
        tmp_path_factory.mktemp("synth-prod"),
        "prod",
        tmp_path_factory.mktemp("no-asl"),
        None,
        sender_domain=None,
        app_base_url=None,
        cognito_email_via_ses=False,
    )


def _only(resources: Mapping[str, Any]) -> tuple[str, Any]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def _chalice_functions(synth: Synth) -> Mapping[str, Any]:
    functions = synth.resources("AWS::Serverless::Function")
    assert "APIHandler" in functions
    return functions


def _role_statements(synth: Synth, role: str) -> list[dict[str, Any]]:
    """Every policy statement attached to a role of the template, by its logical id.

    CDK attaches a stack's own roles by ``Ref``; Chalice's roles are imported by ARN, so theirs
    name the role by a split of that ARN.
    """
    role_name = {
        "Fn::Select": [
            1,
            {
                "Fn::Split": [
                    "/",
                    {"Fn::Select": [5, {"Fn::Split": [":", {"Fn::GetAtt": [role, "Arn"]}]}]},
                ]
            },
        ]
    }
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"] or role_name in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _settings_environment(synth: Synth) -> dict[str, Any]:
    """The Settings values every function gets (the voice function's name aside)."""
    pool_id, _ = _only(synth.resources("AWS::Cognito::UserPool"))
    client_id, _ = _only(synth.resources("AWS::Cognito::UserPoolClient"))
    issuer_parts = [
        "https://cognito-idp.",
        {"Ref": "AWS::Region"},
        ".",
        {"Ref": "AWS::URLSuffix"},
        "/",
        {"Ref": pool_id},
    ]
    return {
        "TAILORCAST_STAGE": synth.stack.stage,
        "TAILORCAST_TABLE_NAME": synth.ref(synth.stack.table.table_name),
        "TAILORCAST_UPLOADS_BUCKET": synth.ref(synth.stack.uploads_bucket.bucket_name),
        "TAILORCAST_MEDIA_BUCKET": synth.ref(synth.stack.media_bucket.bucket_name),
        "TAILORCAST_AUTH_MODE": "cognito",
        "TAILORCAST_JWT_ISSUER": {"Fn::Join": ["", issuer_parts]},
        "TAILORCAST_JWKS_URL": {"Fn::Join": ["", [*issuer_parts, "/.well-known/jwks.json"]]},
        "TAILORCAST_JWT_AUDIENCE": {"Ref": client_id},
        "TAILORCAST_COGNITO_USER_POOL_ID": {"Ref": pool_id},
        "TAILORCAST_COGNITO_CLIENT_ID": {"Ref": client_id},
        "TAILORCAST_STRIPE_SECRET_NAME": f"tailorcast-{synth.stack.stage}-stripe",
        "TAILORCAST_NOTIFICATIONS_FROM_ADDRESS": synth.ref(synth.stack.notifications_from_address),
        "TAILORCAST_APP_BASE_URL": synth.ref(synth.stack.app_base_url),
        "TAILORCAST_MEDIACONVERT_ROLE_ARN": {"Fn::GetAtt": [_mediaconvert_role(synth), "Arn"]},
        "TAILORCAST_WATCH_SECRET_NAME": f"tailorcast-{synth.stack.stage}-watch",
        "TAILORCAST_SEALING_KEY_ID": {"Fn::GetAtt": [_sealing_key(synth)[0], "Arn"]},
        "TAILORCAST_MEDIA_KEY_PAIR_ID": {"Ref": _only(synth.resources("AWS::CloudFront::PublicKey"))[0]},
        "TAILORCAST_ANALYTICS_BUCKET": synth.ref(synth.stack.analytics_bucket.bucket_name),
        "TAILORCAST_EVENTS_STREAM_NAME": {"Ref": _only(synth.resources(FIREHOSE))[0]},
        "TAILORCAST_ANALYTICS_DATABASE": {"Ref": _only(synth.resources("AWS::Glue::Database"))[0]},
        "TAILORCAST_ANALYTICS_TABLE": {"Ref": _only(synth.resources("AWS::Glue::Table"))[0]},
        "TAILORCAST_ATHENA_WORKGROUP": {"Ref": _only(synth.resources("AWS::Athena::WorkGroup"))[0]},
        # The front door is where prospects watch and where media is fetched from.
        "TAILORCAST_WATCH_BASE_URL": _front_door_url(synth),
        "TAILORCAST_MEDIA_BASE_URL": _front_door_url(synth),
        "POWERTOOLS_SERVICE_NAME": "tailorcast",
        "POWERTOOLS_METRICS_NAMESPACE": "Tailorcast",
    }


FIREHOSE = "AWS::KinesisFirehose::DeliveryStream"


def _watch_secret(synth: Synth) -> tuple[str, Any]:
    return _only(
        {
            logical_id: secret
            for logical_id, secret in synth.resources("AWS::SecretsManager::Secret").items()
            if secret["Properties"]["Name"] == f"tailorcast-{synth.stack.stage}-watch"
        }
    )


def _stripe_secret(synth: Synth) -> tuple[str, Any]:
    return _only(
        {
            logical_id: secret
            for logical_id, secret in synth.resources("AWS::SecretsManager::Secret").items()
            if secret["Properties"]["Name"] == f"tailorcast-{synth.stack.stage}-stripe"
        }
    )


def _sealing_key(synth: Synth) -> tuple[str, Any]:
    return _only(synth.resources("AWS::KMS::Key"))


def _front_door(synth: Synth) -> tuple[str, Any]:
    return _only(synth.resources("AWS::CloudFront::Distribution"))


def _front_door_url(synth: Synth) -> dict[str, Any]:
    return {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [_front_door(synth)[0], "DomainName"]}]]}


def _voice_function(synth: Synth) -> tuple[str, Any]:
    return _only(
        {
            logical_id: function
            for logical_id, function in synth.resources("AWS::Lambda::Function").items()
            if function["Properties"].get("PackageType") == "Image"
        }
    )


def _states_arn(resource: str) -> dict[str, Any]:
    """``arn:<partition>:states:<region>:<account>:<resource>`` as CloudFormation spells it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


# -- table ------------------------------------------------------------------------------------


def test_table_is_the_schema_definition(dev: Synth) -> None:
    # GIVEN the CreateTable arguments the app, moto and the local stack use
    expected = table_definition("tailorcast-dev")
    _, table = _only(dev.resources("AWS::DynamoDB::Table"))
    props = table["Properties"]

    # THEN every one of them is what CloudFormation creates (a key schema.py gains and the
    # stack does not map fails synth, so it cannot silently go missing here either)
    for key, value in expected.items():
        if key == "AttributeDefinitions":
            assert sorted(props[key], key=str) == sorted(value, key=str)
        else:
            assert props[key] == value, key
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_table_is_retained_in_prod_only(dev: Synth, prod: Synth) -> None:
    _, dev_table = _only(dev.resources("AWS::DynamoDB::Table"))
    _, prod_table = _only(prod.resources("AWS::DynamoDB::Table"))

    assert dev_table["DeletionPolicy"] == "Delete"
    assert prod_table["DeletionPolicy"] == "Retain"
    assert prod_table["UpdateReplacePolicy"] == "Retain"


# -- buckets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", ["uploads_bucket", "media_bucket", "analytics_bucket"])
def test_buckets_block_public_access_and_require_tls(dev: Synth, bucket: str) -> None:
    ref = dev.ref(getattr(dev.stack, bucket).bucket_name)
    logical_id = ref["Ref"]
    props = dev.resources("AWS::S3::Bucket")[logical_id]["Properties"]

    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    dev.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": ref,
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_uploads_bucket_takes_browser_posts_and_cleans_up(dev: Synth) -> None:
    logical_id = dev.ref(dev.stack.uploads_bucket.bucket_name)["Ref"]
    props = dev.resources("AWS::S3::Bucket")[logical_id]["Properties"]

    [cors] = props["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["POST"]
    assert cors["AllowedOrigins"]
    assert props["LifecycleConfiguration"]["Rules"] == [
        *CLEANUP_RULES,
        {"Id": "expire-exports", "Prefix": "exports/", "ExpirationInDays": 1, "Status": "Enabled"},
    ]
    for notifications in dev.resources("Custom::S3BucketNotifications").values():
        configuration = notifications["Properties"]["NotificationConfiguration"]
        assert "EventBridgeConfiguration" not in configuration


# Every bucket: parts of uploads never completed, and overwritten or deleted versions.
CLEANUP_RULES = [
    {
        "Id": "abort-incomplete-multipart-uploads",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        "Status": "Enabled",
    },
    {
        "Id": "expire-noncurrent-versions",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "Status": "Enabled",
    },
]


def test_media_bucket_has_no_browser_access(dev: Synth) -> None:
    logical_id = dev.ref(dev.stack.media_bucket.bucket_name)["Ref"]
    props = dev.resources("AWS::S3::Bucket")[logical_id]["Properties"]

    assert "CorsConfiguration" not in props
    assert "WebsiteConfiguration" not in props


# -- auth -------------------------------------------------------------------------------------


def test_user_pool_lets_people_sign_up_by_email_confirmed_by_a_code(dev: Synth, prod: Synth) -> None:
    _, pool = _only(dev.resources("AWS::Cognito::UserPool"))
    props = pool["Properties"]

    # The email is the username, one user whatever its case (never two accounts for one person) …
    assert props["UsernameAttributes"] == ["email"]
    assert props["UsernameConfiguration"] == {"CaseSensitive": False}
    assert {"Name": "email", "Required": True, "Mutable": True} in props["Schema"]
    # … anyone may sign up, and is confirmed by a code sent to that email …
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert props["AutoVerifiedAttributes"] == ["email"]
    template = props["VerificationMessageTemplate"]
    assert template["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert "{####}" in template["EmailMessage"]
    # … a changed email applies only once its own code is confirmed …
    assert props["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    # … a forgotten password is reset by email and by nothing else …
    assert props["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }
    # … and a password has 10 characters or more, with upper and lower case letters and digits.
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 10,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": False,
    }
    # prod's pool (its users) survives a stack deletion, by accident or not.
    _, prod_pool = _only(prod.resources("AWS::Cognito::UserPool"))
    assert prod_pool["DeletionPolicy"] == "Retain"
    assert prod_pool["Properties"]["DeletionProtection"] == "ACTIVE"
    assert props["DeletionProtection"] == "INACTIVE"


def test_app_client_is_public_and_signs_in_by_password_and_refresh_token_only(dev: Synth) -> None:
    pool_id, _ = _only(dev.resources("AWS::Cognito::UserPool"))
    _, client = _only(dev.resources("AWS::Cognito::UserPoolClient"))
    props = client["Properties"]

    assert props["UserPoolId"] == {"Ref": pool_id}
    # A public client (CLI, console): no secret to leak, no hosted UI or OAuth redirect flows.
    assert props.get("GenerateSecret", False) is False
    assert sorted(props["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is False
    assert "AllowedOAuthFlows" not in props
    assert "CallbackURLs" not in props
    # An hour's access token; a session lasts 30 days on its refresh token; logout revokes it.
    units = {"minutes": 60, "hours": 3600, "days": 86400}
    validity = props["TokenValidityUnits"]
    assert props["AccessTokenValidity"] * units[validity["AccessToken"]] == 3600
    assert props["IdTokenValidity"] * units[validity["IdToken"]] == 3600
    assert props["RefreshTokenValidity"] * units[validity["RefreshToken"]] == 30 * 86400
    assert props["EnableTokenRevocation"] is True
    # Sign-in and password reset do not tell an unknown email from a wrong password.
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    dev.template.has_output(
        "UserPoolClientId", {"Value": {"Ref": _only(dev.resources("AWS::Cognito::UserPoolClient"))[0]}}
    )


def test_cognito_sends_its_codes_through_the_sender_identity_only_when_asked(dev: Synth, prod: Synth) -> None:
    _, pool = _only(dev.resources("AWS::Cognito::UserPool"))
    configuration_set_id, _ = _only(dev.resources("AWS::SES::ConfigurationSet"))

    # -c cognitoEmailViaSes=true (dev here): through the stack's identity and configuration set …
    assert pool["Properties"]["EmailConfiguration"] == {
        "EmailSendingAccount": "DEVELOPER",
        "From": f"Tailorcast <no-reply@{SENDER_DOMAIN}>",
        "SourceArn": _arn("ses", f":identity/{SENDER_DOMAIN}"),
        "ConfigurationSet": {"Ref": configuration_set_id},
    }
    # … otherwise (prod here) Cognito's own sender, which needs no verified identity to deploy.
    _, prod_pool = _only(prod.resources("AWS::Cognito::UserPool"))
    assert "EmailConfiguration" not in prod_pool["Properties"]


# -- the Chalice application ------------------------------------------------------------------


def test_every_chalice_function_gets_the_settings_by_env(dev: Synth) -> None:
    voice_id, _ = _voice_function(dev)
    expected = {
        **_settings_environment(dev),
        "TAILORCAST_VOICE_FUNCTION_NAME": {"Ref": voice_id},
        # Spelled from the machine's name, not a Ref: the machine references these functions.
        "TAILORCAST_RENDER_STATE_MACHINE_ARN": _states_arn("stateMachine:tailorcast-dev-render_campaign"),
        "TAILORCAST_RENDER_CONCURRENCY": "40",
        "TAILORCAST_WEBHOOK_STATE_MACHINE_ARN": _states_arn("stateMachine:tailorcast-dev-deliver_webhook"),
        # Deterministic names, not Refs: the account's jobs are invoked by name (see below).
        "TAILORCAST_EXPORT_FUNCTION_NAME": "tailorcast-dev-ExportAccount",
        "TAILORCAST_DELETION_FUNCTION_NAME": "tailorcast-dev-DeleteAccount",
        "TAILORCAST_RETENTION_FUNCTION_NAME": "tailorcast-dev-TagLapsedMedia",
    }

    for name, function in _chalice_functions(dev).items():
        # The API alone serves the watch routes that check the front door's secret.
        only_api = (
            {"TAILORCAST_ORIGIN_VERIFY_SECRET": _origin_verify_value(dev)} if name == "APIHandler" else {}
        )
        assert function["Properties"]["Environment"]["Variables"] == expected | only_api, name
        assert function["Properties"]["Tracing"] == "Active", name
    # Every TAILORCAST_ variable is a field of the one Settings model (no typo goes unread).
    for variable in [*expected, "TAILORCAST_ORIGIN_VERIFY_SECRET"]:
        if variable.startswith("TAILORCAST_"):
            assert variable.removeprefix("TAILORCAST_").lower() in Settings.model_fields, variable


def test_lambda_roles_may_read_and_write_the_table_index_and_buckets(dev: Synth) -> None:
    table_arn = {"Fn::GetAtt": [dev.ref(dev.stack.table.table_name)["Ref"], "Arn"]}
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    assert roles

    for role in roles:
        statements = _role_statements(dev, role)
        assert any(
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}
            <= set(s["Action"])
            and s["Resource"] == [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}]
            for s in statements
        ), role
        for bucket in (dev.stack.uploads_bucket, dev.stack.media_bucket):
            bucket_arn = {"Fn::GetAtt": [dev.ref(bucket.bucket_name)["Ref"], "Arn"]}
            assert any(
                {"s3:GetObject*", "s3:PutObject", "s3:DeleteObject*"} <= set(s["Action"])
                and isinstance(s["Resource"], list)
                and bucket_arn in s["Resource"]
                for s in statements
            ), (role, bucket_arn)
        # …and submit MediaConvert jobs as the MediaConvert role, and only pass that role.
        assert any("mediaconvert:CreateJob" in s["Action"] for s in statements), role
        passes = [s for s in statements if s["Action"] == "iam:PassRole"]
        assert passes and all(
            s["Resource"] == {"Fn::GetAtt": [_mediaconvert_role(dev), "Arn"]} for s in passes
        ), role


def _mediaconvert_role(synth: Synth) -> str:
    roles = {
        rid: r
        for rid, r in synth.resources("AWS::IAM::Role").items()
        if any(
            st["Principal"].get("Service") == "mediaconvert.amazonaws.com"
            for st in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    }
    return _only(roles)[0]


def test_mediaconvert_role_reads_uploads_and_writes_media_only(dev: Synth) -> None:
    role = _mediaconvert_role(dev)
    statements = [
        st
        for policy in dev.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    uploads = {"Fn::GetAtt": [dev.ref(dev.stack.uploads_bucket.bucket_name)["Ref"], "Arn"]}
    media = {"Fn::GetAtt": [dev.ref(dev.stack.media_bucket.bucket_name)["Ref"], "Arn"]}
    writes = [st for st in statements if "s3:PutObject" in st["Action"]]
    assert writes and all(media in st["Resource"] and uploads not in st["Resource"] for st in writes)
    assert any("s3:GetObject*" in st["Action"] and uploads in st["Resource"] for st in statements)


# -- the voice function -----------------------------------------------------------------------


def test_voice_function_is_a_container_image_with_the_settings(dev: Synth) -> None:
    _, function = _voice_function(dev)
    props = function["Properties"]

    assert "ImageUri" in props["Code"]
    assert props["FunctionName"] == "tailorcast-dev-voice"
    assert props["MemorySize"] == 3008
    assert props["Timeout"] == 300
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    # The same settings as the Chalice functions, and its own name as a plain string (a Ref to
    # itself in its own environment would be a circular dependency).
    expected = {**_settings_environment(dev), "TAILORCAST_VOICE_FUNCTION_NAME": "tailorcast-dev-voice"}
    assert props["Environment"]["Variables"] == expected
    for variable in expected:
        if variable.startswith("TAILORCAST_"):
            assert variable.removeprefix("TAILORCAST_").lower() in Settings.model_fields, variable
    dev.template.has_output("VoiceFunctionName", {"Value": {"Ref": _voice_function(dev)[0]}})


def test_voice_function_reads_uploads_writes_media_and_table_and_may_use_polly(dev: Synth) -> None:
    _, function = _voice_function(dev)
    statements = _role_statements(dev, function["Properties"]["Role"]["Fn::GetAtt"][0])
    table_arn = {"Fn::GetAtt": [dev.ref(dev.stack.table.table_name)["Ref"], "Arn"]}
    uploads = {"Fn::GetAtt": [dev.ref(dev.stack.uploads_bucket.bucket_name)["Ref"], "Arn"]}
    media = {"Fn::GetAtt": [dev.ref(dev.stack.media_bucket.bucket_name)["Ref"], "Arn"]}

    assert any(
        {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= set(s["Action"])
        and table_arn in s["Resource"]
        for s in statements
    )
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert writes and all(media in s["Resource"] and uploads not in s["Resource"] for s in writes)
    assert any("s3:GetObject*" in s["Action"] and uploads in s["Resource"] for s in statements)
    assert {
        "Action": ["polly:SynthesizeSpeech", "polly:DescribeVoices"],
        "Effect": "Allow",
        "Resource": "*",
    } in statements


def test_chalice_functions_may_invoke_exactly_the_voice_function_and_the_account_jobs(dev: Synth) -> None:
    voice_id, _ = _voice_function(dev)
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    assert roles

    for role in roles:
        invokes = [s for s in _role_statements(dev, role) if "lambda:InvokeFunction" in str(s["Action"])]
        assert invokes == [
            {
                "Action": "lambda:InvokeFunction",
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [voice_id, "Arn"]},
            },
            # The API starts the export and the deletion (issue 18), by names it is told.
            {
                "Action": "lambda:InvokeFunction",
                "Effect": "Allow",
                "Resource": [
                    _arn("lambda", ":function:tailorcast-dev-ExportAccount"),
                    _arn("lambda", ":function:tailorcast-dev-DeleteAccount"),
                    _arn("lambda", ":function:tailorcast-dev-TagLapsedMedia"),
                ],
            },
        ], role


def test_voice_image_asset_stages_only_its_build_context(dev: Synth) -> None:
    # GIVEN the cloud assembly: synth stages the Docker build context, it builds nothing
    stage = cdk.Stage.of(dev.stack)
    assert stage is not None
    outdir = Path(stage.outdir)
    manifest = json.loads((outdir / f"{dev.stack.stack_name}.assets.json").read_text())
    [image] = manifest["dockerImages"].values()
    context = outdir / image["source"]["directory"]
    staged = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())

    # THEN the Dockerfile is there, with the code and pins it copies, and nothing else: no .venv,
    # .git, cdk.out, tests or bytecode (the fingerprint and the copy walk only these).
    assert image["source"]["dockerFile"] == "layers/voice/Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"
    assert {
        "layers/voice/Dockerfile",
        "layers/voice/requirements.txt",
        "layers/voice/runtime-client.txt",
        "chalicelib/tasks/voice.py",
    } <= set(staged)
    assert all(path.startswith(("chalicelib/", "layers/voice/")) for path in staged), staged
    assert not any("__pycache__" in path for path in staged)


def test_s3_subscriptions_of_the_app_are_wired_to_the_uploads_bucket(dev: Synth) -> None:
    uploads = dev.ref(dev.stack.uploads_bucket.bucket_name)
    configurations = [
        configuration
        for notifications in dev.resources("Custom::S3BucketNotifications").values()
        if notifications["Properties"]["BucketName"] == uploads
        for configuration in notifications["Properties"]["NotificationConfiguration"][
            "LambdaFunctionConfigurations"
        ]
    ]
    # app.py subscribes the upload ingest to the uploads bucket; chalice package cannot.
    assert dev.stack.s3_subscriptions

    for subscription in dev.stack.s3_subscriptions:
        function_arn = {"Fn::GetAtt": [subscription.function_logical_id, "Arn"]}
        for event in subscription.events:
            expected: dict[str, Any] = {"Events": [event], "LambdaFunctionArn": function_arn}
            if subscription.prefix:
                expected["Filter"] = {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": subscription.prefix}]}
                }
            assert expected in configurations
        dev.template.has_resource_properties(
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": function_arn,
                "Principal": "s3.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [uploads["Ref"], "Arn"]},
            },
        )


def test_synth_leaves_the_process_environment_alone(dev: Synth) -> None:
    # Chalice imports app.py with the stage's env (CDK tokens) in os.environ.
    assert dev.environ_after == dev.environ_before
    # ... and imports it from a staged copy that is gone after synth: none of it may linger.
    lingering = [
        name
        for name, module in sys.modules.items()
        if "tailorcast-chalice-" in str(getattr(module, "__file__", None))
    ]
    assert lingering == []


# -- state machines ---------------------------------------------------------------------------


def _render(value: Any) -> str:
    """A resolved DefinitionString with each CloudFormation expression as a readable marker."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    if "Ref" in value:
        return f"<Ref {value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<GetAtt {}.{}>".format(*value["Fn::GetAtt"])
    raise AssertionError(f"unexpected expression {value}")


def test_one_state_machine_per_asl_file_with_every_placeholder_substituted(dev: Synth) -> None:
    machines = dev.resources("AWS::StepFunctions::StateMachine")
    by_name = {m["Properties"]["StateMachineName"]: m for m in machines.values()}
    assert set(by_name) == {f"tailorcast-dev-{name}" for name in ASL_FILES}

    markers = {
        "${APIHandlerFunctionArn}": "<GetAtt APIHandler.Arn>",
        "${TableName}": f"<Ref {dev.ref(dev.stack.table.table_name)['Ref']}>",
        "${MediaBucket}": f"<Ref {dev.ref(dev.stack.media_bucket.bucket_name)['Ref']}>",
        "${UploadsBucket}": f"<Ref {dev.ref(dev.stack.uploads_bucket.bucket_name)['Ref']}>",
    }
    for name, source in ASL_FILES.items():
        props = by_name[f"tailorcast-dev-{name}"]["Properties"]
        rendered = _render(props["DefinitionString"])
        assert "${" not in rendered
        expected = json.dumps(source)
        for placeholder, marker in markers.items():
            expected = expected.replace(placeholder, marker)
        assert json.loads(rendered) == json.loads(expected)
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
        [destination] = props["LoggingConfiguration"]["Destinations"]
        log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert dev.resources("AWS::Logs::LogGroup")[log_group]


def test_state_machine_may_invoke_and_touch_what_its_definition_names(dev: Synth) -> None:
    machine = next(
        m
        for m in dev.resources("AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == "tailorcast-dev-render_campaign"
    )
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in dev.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    function_arn = {"Fn::GetAtt": ["APIHandler", "Arn"]}
    assert {
        "Action": "lambda:InvokeFunction",
        "Effect": "Allow",
        "Resource": [function_arn, {"Fn::Join": ["", [function_arn, ":*"]]}],
    } in statements
    table_arn = {"Fn::GetAtt": [dev.ref(dev.stack.table.table_name)["Ref"], "Arn"]}
    assert any("dynamodb:PutItem" in s["Action"] and table_arn in s["Resource"] for s in statements)
    uploads_arn = {"Fn::GetAtt": [dev.ref(dev.stack.uploads_bucket.bucket_name)["Ref"], "Arn"]}
    resources = [s["Resource"] for s in statements if isinstance(s["Resource"], list)]
    assert not any(uploads_arn in resource for resource in resources)


def test_no_asl_files_means_no_state_machines(prod: Synth) -> None:
    assert prod.resources("AWS::StepFunctions::StateMachine") == {}


def test_unknown_placeholder_fails_synth(tmp_path: Path) -> None:
    definitions = tmp_path / "asl"
    definitions.mkdir()
    state = {"Type": "Pass", "Result": "${NoSuchFunctionArn}", "End": True}
    definition = {"StartAt": "A", "States": {"A": state}}
    (definitions / "broken.asl.json").write_text(json.dumps(definition))
    environ_before = dict(os.environ)

    with pytest.raises(MissingPlaceholderError, match="NoSuchFunctionArn"):
        _synth(tmp_path, "dev", definitions)
    assert dict(os.environ) == environ_before


# -- packaging helpers (no synth) -------------------------------------------------------------


def _bundle(path: Path, *dist_infos: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "")
        for dist_info in dist_infos:
            archive.writestr(f"{dist_info}/METADATA", "")
    return path


def test_missing_requirements_names_what_chalice_could_not_bundle(tmp_path: Path) -> None:
    # GIVEN a uv-exported requirements file and a bundle where av got no Lambda wheel
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# exported\n"
        "-e .\n"
        "av==18.1.0 \\\n    --hash=sha256:abc\n"
        "PyJWT[crypto]==2.15.1\n"
        "pydantic-core==2.50.4    # via pydantic\n"
        "colorama==0.4.6 ; sys_platform == 'win32'\n"
        "tomli==2.0.1 ; python_version < '3.11'\n"
    )
    installed = ["PyJWT-2.15.1.dist-info", "pydantic_core-2.50.4.dist-info"]
    bundle = _bundle(tmp_path / "deployment.zip", *installed)

    # THEN only av is reported: markers that exclude Lambda on 3.11 are skipped
    assert missing_requirements(requirements, bundle, "3.11") == ["av==18.1.0"]


def test_missing_requirements_notices_a_wrong_version(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("boto3==1.43.11\n")
    bundle = _bundle(tmp_path / "deployment.zip", "boto3-1.40.0.dist-info")

    assert missing_requirements(requirements, bundle, "3.11") == ["boto3==1.43.11"]


def test_stage_project_copies_what_chalice_packages_and_vendors_prebuilt(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "chalicelib" / "__pycache__").mkdir(parents=True)
    (project / ".chalice").mkdir()
    (project / "app.py").write_text("app = None\n")
    (project / "chalicelib" / "__init__.py").write_text("")
    (project / "chalicelib" / "__pycache__" / "x.pyc").write_text("")
    (project / ".chalice" / "config.json").write_text("{}")
    (project / "requirements.txt").write_text("boto3==1.43.11\n")
    (project / "README.md").write_text("")
    prebuilt = tmp_path / "site-packages"
    (prebuilt / "ulid").mkdir(parents=True)
    (prebuilt / "ulid" / "__init__.py").write_text("")

    staged = stage_project(project, tmp_path / "staged", prebuilt)

    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert files == [
        ".chalice/config.json",
        "app.py",
        "chalicelib/__init__.py",
        "vendor/ulid/__init__.py",
    ]


def test_stage_project_refuses_a_directory_that_is_not_a_chalice_project(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match=r"app\.py"):
        stage_project(tmp_path, tmp_path / "staged", None)


def test_unresolvable_handlers_finds_a_decorated_function_app_py_did_not_bind() -> None:
    # GIVEN handlers as Chalice writes them: `<module>.<function __name__>`
    def function(handler: str) -> dict[str, Any]:
        return {"Type": "AWS::Serverless::Function", "Properties": {"Handler": handler}}

    template = {
        "Resources": {
            "Bound": function("json.dumps"),
            "Unbound": function("json.on_upload"),
            "DefaultRole": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
    }

    assert unresolvable_handlers(template) == ["json.on_upload"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("s3:ObjectCreated:*", s3.EventType.OBJECT_CREATED),
        ("s3:ObjectCreated:Post", s3.EventType.OBJECT_CREATED_POST),
        ("s3:ObjectRemoved:DeleteMarkerCreated", s3.EventType.OBJECT_REMOVED_DELETE_MARKER_CREATED),
    ],
)
def test_s3_event_names_map_to_cdk_event_types(event: str, expected: s3.EventType) -> None:
    assert s3_event_type(event) is expected


def test_unknown_s3_event_name_is_an_error() -> None:
    with pytest.raises(PackagingError):
        s3_event_type("s3:ObjectExploded:*")


def test_mediaconvert_job_events_reach_their_function_by_eventbridge_rule(dev: Synth) -> None:
    functions = _chalice_functions(dev)
    patterns = [
        event["Properties"]["Pattern"]
        for fn in functions.values()
        for event in (fn["Properties"].get("Events") or {}).values()
        if event["Type"] == "CloudWatchEvent"
    ]
    assert {"source": ["aws.mediaconvert"], "detail-type": ["MediaConvert Job State Change"]} in patterns


# -- the render pipeline (the real state_machines/render_campaign.asl.json) -------------------

RENDER_MACHINE = "tailorcast-dev-render_campaign"
# The task Lambdas the render definition names, by their Chalice names (chalicelib/tasks/render.py).
RENDER_TASKS = (
    "prepare_batch",
    "begin_prospect",
    "render_prospect",
    "publish_prospect",
    "fail_prospect",
    "finalize_batch",
)


@pytest.fixture(scope="module")
def rendering(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    definitions = tmp_path_factory.mktemp("render-asl")
    shutil.copy(state_machines.DEFINITIONS_DIR / "render_campaign.asl.json", definitions)
    return _synth(tmp_path_factory.mktemp("synth-render"), "dev", definitions)


def _machine(synth: Synth, name: str) -> dict[str, Any]:
    [machine] = [
        m
        for m in synth.resources("AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == name
    ]
    return machine


def _machine_statements(synth: Synth, name: str) -> list[dict[str, Any]]:
    return _role_statements(synth, _machine(synth, name)["Properties"]["RoleArn"]["Fn::GetAtt"][0])


def _task_function_ids(synth: Synth) -> set[str]:
    """The logical ids the render definition's placeholders must resolve to."""
    # Chalice names a function's resource like state_machines.function_placeholder names its
    # placeholder, which is what the local stack substitutes: the same file works in both.
    chalice_ids = {state_machines.function_placeholder(n).removesuffix("FunctionArn") for n in RENDER_TASKS}
    assert chalice_ids <= set(_chalice_functions(synth))
    return {*chalice_ids, _voice_function(synth)[0]}


def _function_names(definition: Any) -> set[str]:
    """Every ``FunctionName`` a Task of a (rendered) definition invokes, nested states included."""
    if isinstance(definition, dict):
        found = {definition["FunctionName"]} if isinstance(definition.get("FunctionName"), str) else set()
        return found.union(*(_function_names(value) for value in definition.values()))
    if isinstance(definition, list):
        return set().union(*(_function_names(value) for value in definition))
    return set()


def test_render_state_machine_is_its_definition_with_every_placeholder_resolved(rendering: Synth) -> None:
    props = _machine(rendering, RENDER_MACHINE)["Properties"]

    # GIVEN the definition as CloudFormation will create it
    rendered = _render(props["DefinitionString"])

    # THEN nothing is left for Step Functions to choke on, and each Lambda task is one of ours
    assert "${" not in rendered
    definition = json.loads(rendered)
    assert distributed_maps(definition), "the render definition lost its Distributed Map"
    assert _function_names(definition) == {f"<GetAtt {i}.Arn>" for i in _task_function_ids(rendering)}
    # … and it is logged, without execution data, to its own group, and traced
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    [destination] = props["LoggingConfiguration"]["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert rendering.resources("AWS::Logs::LogGroup")[log_group]["Properties"]["LogGroupName"] == (
        f"/aws/vendedlogs/states/{RENDER_MACHINE}"
    )


def test_render_state_machine_may_invoke_exactly_its_tasks_and_the_voice_function(
    rendering: Synth,
) -> None:
    statements = _machine_statements(rendering, RENDER_MACHINE)

    [statement] = [s for s in statements if "lambda:InvokeFunction" in str(s["Action"])]
    assert statement["Action"] == "lambda:InvokeFunction"
    arns = [{"Fn::GetAtt": [i, "Arn"]} for i in _task_function_ids(rendering)]
    expected = arns + [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
    assert sorted(map(json.dumps, statement["Resource"])) == sorted(map(json.dumps, expected))
    # Not the API, the upload ingest or any other function of the app.
    assert "APIHandler" not in json.dumps(statement["Resource"])


def test_render_state_machine_may_run_its_distributed_map(rendering: Synth) -> None:
    statements = _machine_statements(rendering, RENDER_MACHINE)
    media_arn = {"Fn::GetAtt": [rendering.ref(rendering.stack.media_bucket.bucket_name)["Ref"], "Arn"]}

    # Child workflows are executions of the machine itself, run by its own role …
    assert {
        "Action": "states:StartExecution",
        "Effect": "Allow",
        "Resource": _states_arn(f"stateMachine:{RENDER_MACHINE}"),
    } in statements
    assert {
        "Action": ["states:DescribeExecution", "states:StopExecution"],
        "Effect": "Allow",
        "Resource": [
            _states_arn(f"execution:{RENDER_MACHINE}:*"),
            _states_arn(f"execution:{RENDER_MACHINE}/*"),
        ],
    } in statements
    # … and the ItemReader reads the manifests prepare_batch writes to the media bucket, and
    # nothing else of it (the machine names no bucket, so it gets no other S3 access).
    assert [s for s in statements if "s3:" in str(s["Action"])] == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [media_arn, "/*/batches/*/manifest.json"]]},
        }
    ]
    batch = RenderBatch(account_id="acct_1", campaign_id="camp_1", batch_id="bat_1")
    assert fnmatch.fnmatchcase(manifest_key(batch), "*/batches/*/manifest.json")
    # No Step Functions action on every resource.
    assert not [s for s in statements if "states:" in str(s["Action"]) and s["Resource"] == "*"]


def test_a_state_machine_without_a_distributed_map_may_not_start_itself(dev: Synth) -> None:
    statements = _machine_statements(dev, RENDER_MACHINE)  # the stand-in definition of ASL_FILES

    assert not [s for s in statements if "states:" in str(s["Action"])]


def test_chalice_functions_control_the_render_state_machine_and_nothing_else(dev: Synth) -> None:
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    assert roles
    machine = _states_arn(f"stateMachine:{RENDER_MACHINE}")

    for role in roles:
        states = [s for s in _role_statements(dev, role) if "states:" in str(s["Action"])]
        assert states == [
            # the API starts a batch's execution …
            {"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine},
            # … reports and cancels it …
            {
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Effect": "Allow",
                "Resource": _states_arn(f"execution:{RENDER_MACHINE}:*"),
            },
            # … and media_job_events answers the task token a prospect's render waits on.
            {
                "Action": ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                "Effect": "Allow",
                "Resource": [machine, _states_arn(f"stateMachine:{RENDER_MACHINE}/*")],
            },
            # (and, apart from the render machine, publishing a webhook starts its delivery)
            {
                "Action": "states:StartExecution",
                "Effect": "Allow",
                "Resource": _states_arn("stateMachine:tailorcast-dev-deliver_webhook"),
            },
        ], role


def test_mediaconvert_job_events_still_reach_media_job_events(rendering: Synth) -> None:
    events = _chalice_functions(rendering)["MediaJobEvents"]["Properties"]["Events"].values()

    assert {
        "source": ["aws.mediaconvert"],
        "detail-type": ["MediaConvert Job State Change"],
    } in [event["Properties"]["Pattern"] for event in events if event["Type"] == "CloudWatchEvent"]


def test_distributed_maps_are_found_wherever_they_nest() -> None:
    def map_state(mode: str, states: dict[str, Any]) -> dict[str, Any]:
        processor = {"ProcessorConfig": {"Mode": mode}, "StartAt": "A", "States": states}
        return {"Type": "Map", "ItemProcessor": processor, "End": True}

    leaf = map_state("DISTRIBUTED", {"A": {"Type": "Pass", "End": True}})
    inline = map_state("INLINE", {"A": leaf})
    parallel = {"Type": "Parallel", "Branches": [{"StartAt": "A", "States": {"A": inline}}], "End": True}
    definition = {"StartAt": "P", "States": {"P": parallel, "I": map_state("INLINE", {})}}

    assert distributed_maps(definition) == [leaf]


# -- outgoing webhooks ------------------------------------------------------------------------

WEBHOOK_MACHINE = "tailorcast-dev-deliver_webhook"


@pytest.fixture(scope="module")
def delivering(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    definitions = tmp_path_factory.mktemp("webhook-asl")
    shutil.copy(state_machines.DEFINITIONS_DIR / "deliver_webhook.asl.json", definitions)
    return _synth(tmp_path_factory.mktemp("synth-webhooks"), "dev", definitions)


def test_chalice_functions_may_start_webhook_deliveries_and_nothing_more(dev: Synth) -> None:
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    assert roles
    machine = _states_arn(f"stateMachine:{WEBHOOK_MACHINE}")

    for role in roles:
        statements = _role_statements(dev, role)
        assert {"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine} in statements, role
        # Exactly that machine: no wildcard, and no other action on it.
        resources = [
            (s, s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]) for s in statements
        ]
        assert [s["Action"] for s, named in resources if machine in named] == ["states:StartExecution"], role
        assert not [s for s, named in resources if "states:" in str(s["Action"]) and "*" in named], role


def test_webhook_deliveries_run_on_the_machine_the_functions_are_told_about(delivering: Synth) -> None:
    # GIVEN the real deliver_webhook definition: the machine the stack builds …
    machine = _machine(delivering, WEBHOOK_MACHINE)
    # … is the one whose ARN (spelled from its name, so no circular reference) every function gets,
    for name, function in _chalice_functions(delivering).items():
        variables = function["Properties"]["Environment"]["Variables"]
        spelled = _states_arn(f"stateMachine:{WEBHOOK_MACHINE}")
        assert variables["TAILORCAST_WEBHOOK_STATE_MACHINE_ARN"] == spelled, name
        assert "TAILORCAST_WEBHOOK_ALLOW_INSECURE_LOCALHOST" not in variables, name  # https only in AWS
    # … its tasks invoke the deliver_webhook function, and it may invoke exactly that one.
    function_id = state_machines.function_placeholder("deliver_webhook").removesuffix("FunctionArn")
    assert function_id in _chalice_functions(delivering)
    definition = json.loads(_render(machine["Properties"]["DefinitionString"]))
    assert _function_names(definition) == {f"<GetAtt {function_id}.Arn>"}
    statements = _machine_statements(delivering, WEBHOOK_MACHINE)
    invokes = [s for s in statements if "lambda:InvokeFunction" in str(s["Action"])]
    function_arn = {"Fn::GetAtt": [function_id, "Arn"]}
    assert invokes == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [function_arn, {"Fn::Join": ["", [function_arn, ":*"]]}],
        }
    ]


# -- engagement analytics ---------------------------------------------------------------------


def _analytics_arn(synth: Synth) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.ref(synth.stack.analytics_bucket.bucket_name)["Ref"], "Arn"]}


def _arn(service: str, *resource: Any) -> dict[str, Any]:
    """``arn:<partition>:<service>:<region>:<account>:<resource…>`` as CloudFormation spells it."""
    prefix = ["arn:", {"Ref": "AWS::Partition"}, f":{service}:", {"Ref": "AWS::Region"}, ":"]
    return {"Fn::Join": ["", [*prefix, {"Ref": "AWS::AccountId"}, *resource]]}


def test_events_stream_writes_json_lines_where_the_events_table_reads_them(dev: Synth) -> None:
    _, stream = _only(dev.resources(FIREHOSE))
    props = stream["Properties"]
    destination = props["ExtendedS3DestinationConfiguration"]

    assert props["DeliveryStreamName"] == "tailorcast-dev-events"
    assert props["DeliveryStreamType"] == "DirectPut"
    assert destination["BucketARN"] == _analytics_arn(dev)
    assert destination["Prefix"] == "events/dt=!{timestamp:yyyy-MM-dd}/"
    assert destination["ErrorOutputPrefix"] == (
        "events-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    )
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 5}
    # Plain JSON lines: the table's OpenX JSON SerDe reads them as they are.
    assert destination["CompressionFormat"] == "UNCOMPRESSED"
    # A day's objects land exactly where partition projection looks for that day.
    _, table = _only(dev.resources("AWS::Glue::Table"))
    location = table["Properties"]["TableInput"]["Parameters"]["storage.location.template"]
    day = destination["Prefix"].replace("!{timestamp:yyyy-MM-dd}", "${dt}")
    assert location == {
        "Fn::Join": ["", ["s3://", dev.ref(dev.stack.analytics_bucket.bucket_name), f"/{day}"]]
    }


def test_events_stream_writes_as_its_own_role_to_its_own_prefixes(dev: Synth) -> None:
    _, stream = _only(dev.resources(FIREHOSE))
    role_id = stream["Properties"]["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    role = dev.resources("AWS::IAM::Role")[role_id]["Properties"]
    statements = [st for policy in role["Policies"] for st in policy["PolicyDocument"]["Statement"]]
    bucket = _analytics_arn(dev)

    [assume] = role["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "firehose.amazonaws.com"}
    [writes] = [st for st in statements if "s3:PutObject" in st["Action"]]
    assert writes["Resource"] == [
        {"Fn::Join": ["", [bucket, "/events/*"]]},
        {"Fn::Join": ["", [bucket, "/events-errors/*"]]},
    ]
    # Nothing else is attached to it.
    assert not [
        p for p in dev.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]


def test_analytics_bucket_expires_athena_results(dev: Synth) -> None:
    logical_id = dev.ref(dev.stack.analytics_bucket.bucket_name)["Ref"]
    props = dev.resources("AWS::S3::Bucket")[logical_id]["Properties"]

    rules = props["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-athena-results",
        "Prefix": "athena-results/",
        "ExpirationInDays": 7,
        "Status": "Enabled",
    } in rules
    # Raw events (and undelivered records) are kept a year, no less (docs/retention.md).
    assert [rule["ExpirationInDays"] for rule in rules if rule.get("Prefix", "").startswith("events")] == [
        365,
        365,
    ]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]


def test_events_table_is_the_shared_definition_with_partition_projection(dev: Synth) -> None:
    database_id, database = _only(dev.resources("AWS::Glue::Database"))
    _, table = _only(dev.resources("AWS::Glue::Table"))
    table_input = table["Properties"]["TableInput"]

    assert database["Properties"]["DatabaseInput"]["Name"] == "tailorcast_dev"
    assert table["Properties"]["DatabaseName"] == {"Ref": database_id}
    # The very definition the local stack gives moto's Glue …
    assert table_input == dev.stack.resolve(
        glue_table_input(dev.stack.analytics_bucket.bucket_name, "events")
    )
    # … which projects the dt partition rather than registering it …
    parameters = table_input["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.range"].endswith(",NOW")
    assert table_input["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    # … and has the contract's columns, read from JSON lines.
    columns = table_input["StorageDescriptor"]["Columns"]
    assert [(column["Name"], column["Type"]) for column in columns] == list(COLUMNS)
    serde = table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde == "org.openx.data.jsonserde.JsonSerDe"


def test_athena_workgroup_enforces_its_result_location_and_a_scan_cutoff(dev: Synth) -> None:
    _, workgroup = _only(dev.resources("AWS::Athena::WorkGroup"))
    props = workgroup["Properties"]
    configuration = props["WorkGroupConfiguration"]

    assert props["Name"] == "tailorcast-dev"
    assert configuration["EnforceWorkGroupConfiguration"] is True
    bucket = dev.ref(dev.stack.analytics_bucket.bucket_name)
    assert configuration["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Join": ["", ["s3://", bucket, "/athena-results/"]]
    }
    assert 0 < configuration["BytesScannedCutoffPerQuery"] <= 100 * 1024**3


def test_api_role_may_put_events_query_them_and_read_the_watch_secret_and_no_more(dev: Synth) -> None:
    role = _chalice_functions(dev)["APIHandler"]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _role_statements(dev, role)
    stream_id, _ = _only(dev.resources(FIREHOSE))
    workgroup_id, _ = _only(dev.resources("AWS::Athena::WorkGroup"))
    database_id, _ = _only(dev.resources("AWS::Glue::Database"))
    table_id, _ = _only(dev.resources("AWS::Glue::Table"))
    secret_id, _ = _watch_secret(dev)
    bucket = _analytics_arn(dev)

    def on(service: str) -> list[dict[str, Any]]:
        return [s for s in statements if f'"{service}:' in json.dumps(s["Action"])]

    # Events go on exactly that stream …
    assert on("firehose") == [
        {
            "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [stream_id, "Arn"]},
        }
    ]
    # … queries run in exactly that workgroup, over exactly that table …
    assert on("athena") == [
        {
            "Action": [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            "Effect": "Allow",
            "Resource": _arn("athena", ":workgroup/", {"Ref": workgroup_id}),
        }
    ]
    assert on("glue") == [
        {
            "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            "Effect": "Allow",
            "Resource": [
                _arn("glue", ":catalog"),
                _arn("glue", ":database/", {"Ref": database_id}),
                _arn("glue", ":table/", {"Ref": database_id}, "/", {"Ref": table_id}),
            ],
        }
    ]
    # … reading the events and reading/writing the results (Athena uses S3 as its caller) …
    analytics = [s for s in on("s3") if json.dumps(bucket) in json.dumps(s["Resource"])]
    assert {json.dumps(s["Resource"]): s["Action"] for s in analytics} == {
        json.dumps(bucket): ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
        json.dumps({"Fn::Join": ["", [bucket, "/events/*"]]}): "s3:GetObject",
        json.dumps({"Fn::Join": ["", [bucket, "/athena-results/*"]]}): [
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        ],
    }
    # … and the watch page reads its signing keys (and billing the Stripe secret, nothing else).
    assert on("secretsmanager") == [
        {
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Effect": "Allow",
            "Resource": {"Ref": secret_id},
        },
        {
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Effect": "Allow",
            "Resource": {"Ref": _stripe_secret(dev)[0]},
        },
    ]


# -- secrets stored in the table: the sealing key ----------------------------------------------


def test_stored_secrets_are_sealed_with_a_rotated_customer_managed_key(dev: Synth, prod: Synth) -> None:
    _, key = _sealing_key(dev)
    props = key["Properties"]
    assert props["EnableKeyRotation"] is True
    assert props.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert props.get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    assert props["PendingWindowInDays"] == 30
    _, prod_key = _sealing_key(prod)
    assert prod_key["DeletionPolicy"] == "Retain"  # losing it would lose every sealed secret
    assert dev.stack.resolve(dev.stack.sealing_key.key_arn) == {"Fn::GetAtt": [_sealing_key(dev)[0], "Arn"]}


def test_only_the_chalice_functions_may_seal_and_open_and_only_webhook_secrets(dev: Synth) -> None:
    key_id, _ = _sealing_key(dev)
    grant = {
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "webhook-signing-secret"}},
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
    }

    def kms_statements(role: str) -> list[dict[str, Any]]:
        return [s for s in _role_statements(dev, role) if '"kms:' in json.dumps(s["Action"])]

    # The API registers endpoints (seal), the deliver_webhook task signs with them (open).
    for name in ("APIHandler", "DeliverWebhook"):
        role = _chalice_functions(dev)[name]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert kms_statements(role) == [grant], name
    # The voice function and the state machines touch no key.
    _, voice = _voice_function(dev)
    assert kms_statements(voice["Properties"]["Role"]["Fn::GetAtt"][0]) == []
    for machine in dev.resources("AWS::StepFunctions::StateMachine").values():
        assert kms_statements(machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]) == []


# -- the watch page's delivery: secret, signing key, front door -------------------------------


def test_watch_secret_generates_the_session_key_beside_a_cookie_key_placeholder(
    dev: Synth, prod: Synth
) -> None:
    _, secret = _watch_secret(dev)
    props = secret["Properties"]
    generated = props["GenerateSecretString"]

    assert props["Name"] == "tailorcast-dev-watch"
    assert generated["GenerateStringKey"] == "session_key"
    template = json.loads(generated["SecretStringTemplate"])
    assert set(template) == {"cookie_private_key"}
    assert "BEGIN" not in template["cookie_private_key"]  # a placeholder, never a key in a template
    # At least 256 bits, and letters and digits only (valid base64 as it stands).
    assert generated["PasswordLength"] >= 43
    assert generated["ExcludePunctuation"] is True
    assert generated["IncludeSpace"] is False
    _, prod_secret = _watch_secret(prod)
    assert prod_secret["DeletionPolicy"] == "Retain"


def test_media_public_key_comes_from_context_or_a_stack_parameter(dev: Synth, prod: Synth) -> None:
    key_id, key = _only(dev.resources("AWS::CloudFront::PublicKey"))
    _, group = _only(dev.resources("AWS::CloudFront::KeyGroup"))

    assert key["Properties"]["PublicKeyConfig"]["EncodedKey"] == MEDIA_PUBLIC_KEY
    assert group["Properties"]["KeyGroupConfig"]["Items"] == [{"Ref": key_id}]
    _, prod_key = _only(prod.resources("AWS::CloudFront::PublicKey"))
    assert prod_key["Properties"]["PublicKeyConfig"]["EncodedKey"] == {"Ref": "MediaPublicKeyPem"}
    prod.template.has_parameter("MediaPublicKeyPem", {"Type": "String"})


def _behaviors(synth: Synth) -> dict[str, Any]:
    """The front door's cache behaviors by path pattern, in CloudFront's order; ``*`` last."""
    config = _front_door(synth)[1]["Properties"]["DistributionConfig"]
    behaviors = {behavior["PathPattern"]: behavior for behavior in config.get("CacheBehaviors", [])}
    return {**behaviors, "*": config["DefaultCacheBehavior"]}


def _origin(synth: Synth, behavior: Mapping[str, Any]) -> dict[str, Any]:
    config = _front_door(synth)[1]["Properties"]["DistributionConfig"]
    [origin] = [o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"]]
    return origin


def _cache_policy(synth: Synth, behavior: Mapping[str, Any]) -> dict[str, Any]:
    policy = synth.resources("AWS::CloudFront::CachePolicy")[behavior["CachePolicyId"]["Ref"]]
    return policy["Properties"]["CachePolicyConfig"]


def _assert_no_viewer_state_in_cache_key(cache: Mapping[str, Any]) -> None:
    # No cookie, query string or header: a shared base segment is cached once for every prospect.
    parameters = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert parameters["CookiesConfig"] == {"CookieBehavior": "none"}
    assert parameters["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
    assert parameters["HeadersConfig"] == {"HeaderBehavior": "none"}


def _cache_control(synth: Synth, behavior: Mapping[str, Any]) -> str:
    policy = synth.resources("AWS::CloudFront::ResponseHeadersPolicy")[
        behavior["ResponseHeadersPolicyId"]["Ref"]
    ]
    [header] = policy["Properties"]["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]["Items"]
    assert header["Header"] == "Cache-Control"
    assert header["Override"] is True
    return str(header["Value"])


YEAR = 365 * 24 * 3600


def test_front_door_serves_media_to_signed_cookies_from_a_long_cookie_free_cache(dev: Synth) -> None:
    media = _behaviors(dev)["*"]
    key_group_id, _ = _only(dev.resources("AWS::CloudFront::KeyGroup"))

    assert media["TrustedKeyGroups"] == [{"Ref": key_group_id}]
    assert media["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(media["AllowedMethods"]) <= {"GET", "HEAD", "OPTIONS"}
    origin = _origin(dev, media)
    media_bucket = dev.ref(dev.stack.media_bucket.bucket_name)["Ref"]
    assert origin["DomainName"] == {"Fn::GetAtt": [media_bucket, "RegionalDomainName"]}
    assert "OriginAccessControlId" in origin
    cache = _cache_policy(dev, media)
    assert cache["DefaultTTL"] == cache["MaxTTL"] == YEAR
    _assert_no_viewer_state_in_cache_key(cache)
    assert _cache_control(dev, media) == "public, max-age=31536000, immutable"


def test_front_door_serves_playlists_to_signed_cookies_for_five_seconds(dev: Synth) -> None:
    behaviors = _behaviors(dev)
    playlists = behaviors["*.m3u8"]

    assert playlists["TrustedKeyGroups"] == behaviors["*"]["TrustedKeyGroups"]
    assert playlists["TargetOriginId"] == behaviors["*"]["TargetOriginId"]
    cache = _cache_policy(dev, playlists)
    assert cache["MaxTTL"] <= 5
    assert cache["DefaultTTL"] == 5
    _assert_no_viewer_state_in_cache_key(cache)
    assert _cache_control(dev, playlists) == "public, max-age=5"


@pytest.mark.parametrize("pattern", ["*.jpg", "*.gif", "*.webp", "*.png"])
def test_front_door_serves_posters_and_previews_without_cookies(dev: Synth, pattern: str) -> None:
    behaviors = _behaviors(dev)
    images = behaviors[pattern]

    # Email clients load them with no cookie at all.
    assert not images.get("TrustedKeyGroups")
    assert images["TargetOriginId"] == behaviors["*"]["TargetOriginId"]
    cache = _cache_policy(dev, images)
    assert cache["DefaultTTL"] == YEAR
    _assert_no_viewer_state_in_cache_key(cache)
    assert _cache_control(dev, images) == "public, max-age=31536000, immutable"


def test_front_door_sends_watch_pages_and_beacons_to_the_api_uncached(dev: Synth) -> None:
    behaviors = _behaviors(dev)
    watch = behaviors["/w/*"]
    api = dev.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]

    # The API paths come first, so no media pattern (say *.png) can shadow a watch URL.
    assert list(behaviors)[:2] == ["/w/*", "/assets/*"]
    origin = _origin(dev, watch)
    assert origin["DomainName"] == {
        "Fn::Join": [
            "",
            [{"Ref": "RestAPI"}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}],
        ]
    }
    assert origin["OriginPath"] == f"/{api['StageName']}"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # A regional API: an edge-optimized one would put AWS's own CloudFront between ours and it.
    assert api["EndpointConfiguration"] == "REGIONAL"
    assert {"GET", "HEAD", "POST"} <= set(watch["AllowedMethods"])
    assert watch["CachePolicyId"] == cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id
    request = dev.resources("AWS::CloudFront::OriginRequestPolicy")[watch["OriginRequestPolicyId"]["Ref"]]
    config = request["Properties"]["OriginRequestPolicyConfig"]
    assert config["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    headers = set(config["HeadersConfig"]["Headers"])
    assert {"CloudFront-Viewer-Address", "User-Agent", "Accept-Language", "Content-Type"} <= headers
    assert "host" not in {header.lower() for header in headers}  # API Gateway refuses a foreign Host
    assert config["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert config["CookiesConfig"] == {"CookieBehavior": "none"}


def _origin_verify_value(synth: Synth) -> Any:
    """A dynamic reference to the generated origin-verify secret (resolved at deploy time)."""
    secret_id, _ = _only(
        {
            logical_id: secret
            for logical_id, secret in synth.resources("AWS::SecretsManager::Secret").items()
            if secret["Properties"]["Name"] == f"tailorcast-{synth.stack.stage}-origin-verify"
        }
    )
    return {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret_id}, ":SecretString:::}}"]]}


def test_front_door_proves_itself_to_the_api_with_a_generated_secret(dev: Synth) -> None:
    behaviors = _behaviors(dev)
    secret_id = _origin_verify_value(dev)["Fn::Join"][1][1]["Ref"]
    generated = dev.resources("AWS::SecretsManager::Secret")[secret_id]["Properties"]["GenerateSecretString"]

    # The secret is generated (at least 32 letters and digits), never written in the template …
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True
    assert set(generated) <= {"PasswordLength", "ExcludePunctuation", "IncludeSpace"}
    # … and CloudFront adds it, resolved at deploy time, to every request for the API's paths …
    for pattern in ("/w/*", "/assets/*"):
        headers = _origin(dev, behaviors[pattern])["OriginCustomHeaders"]
        assert headers == [{"HeaderName": "X-Origin-Verify", "HeaderValue": _origin_verify_value(dev)}]
    # … but never to the media bucket's.
    assert "OriginCustomHeaders" not in _origin(dev, behaviors["*"])
    # A viewer can't send its own: the header is not one the API behaviours forward.
    request = dev.resources("AWS::CloudFront::OriginRequestPolicy")[
        behaviors["/w/*"]["OriginRequestPolicyId"]["Ref"]
    ]
    forwarded = request["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"]
    assert "x-origin-verify" not in {h.lower() for h in forwarded}
    # The API expects the same value; no other function is given it.
    functions = _chalice_functions(dev)
    assert functions["APIHandler"]["Properties"]["Environment"]["Variables"][
        "TAILORCAST_ORIGIN_VERIFY_SECRET"
    ] == _origin_verify_value(dev)
    assert [
        name
        for name, function in functions.items()
        if "TAILORCAST_ORIGIN_VERIFY_SECRET" in function["Properties"]["Environment"]["Variables"]
    ] == ["APIHandler"]


def test_front_door_caches_the_watch_page_assets_from_the_api(dev: Synth) -> None:
    behaviors = _behaviors(dev)
    assets = behaviors["/assets/*"]

    assert assets["TargetOriginId"] == behaviors["/w/*"]["TargetOriginId"]
    assert set(assets["AllowedMethods"]) == {"GET", "HEAD"}
    cache = _cache_policy(dev, assets)
    assert cache["DefaultTTL"] == YEAR
    _assert_no_viewer_state_in_cache_key(cache)


def test_media_bucket_lets_only_the_front_door_read_it(dev: Synth) -> None:
    media = dev.ref(dev.stack.media_bucket.bucket_name)
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in dev.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == media
    ]
    distribution_id, _ = _front_door(dev)
    distribution_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cloudfront::",
                {"Ref": "AWS::AccountId"},
                ":distribution/",
                {"Ref": distribution_id},
            ],
        ]
    }

    assert [s for s in policy["Statement"] if s["Effect"] == "Allow"] == [
        {
            "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [media["Ref"], "Arn"]}, "/*"]]},
        }
    ]
    _, access_control = _only(dev.resources("AWS::CloudFront::OriginAccessControl"))
    config = access_control["Properties"]["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"]) == ("s3", "always")


def _dependencies(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Each resource's logical id → the resources it needs first (Ref, GetAtt, Sub, DependsOn)."""
    resources = template["Resources"]

    def referenced(value: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "Ref":
                    found.add(item)
                elif key == "Fn::GetAtt":
                    found.add(item[0])
                elif key == "Fn::Sub":
                    text, variables = (item, {}) if isinstance(item, str) else item
                    names = {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                    found |= (names - set(variables)) | referenced(variables)
                else:
                    found |= referenced(item)
        elif isinstance(value, list):
            for item in value:
                found |= referenced(item)
        return found

    graph = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        needs = referenced(resource.get("Properties", {})) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        graph[logical_id] = needs & set(resources)
    return graph


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for needed in graph[pending.pop()] - seen:
            seen.add(needed)
            pending.append(needed)
    return seen


def test_the_api_function_learns_the_front_door_url_without_a_dependency_cycle(dev: Synth) -> None:
    graph = _dependencies(dev.template.to_json())
    distribution_id, _ = _front_door(dev)
    api_handler = _chalice_functions(dev)["APIHandler"]["Properties"]

    # The API function is told the front door's URL, so it comes after the distribution …
    assert api_handler["Environment"]["Variables"]["TAILORCAST_WATCH_BASE_URL"] == _front_door_url(dev)
    assert distribution_id in _reachable(graph, "APIHandler")
    # … while the distribution routes /w/* to the REST API, which names the function by a spelled
    # ARN rather than referencing it.
    assert "RestAPI" in _reachable(graph, distribution_id)
    assert "APIHandler" not in _reachable(graph, distribution_id)
    assert api_handler["FunctionName"] == "tailorcast-dev-APIHandler"
    paths = dev.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    uris = {
        json.dumps(operation["x-amazon-apigateway-integration"]["uri"])
        for path in paths.values()
        for operation in path.values()
        if isinstance(operation, dict) and "uri" in operation.get("x-amazon-apigateway-integration", {})
    }
    assert uris == {
        json.dumps(
            {
                "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:tailorcast-dev-APIHandler"
                "/invocations"
            }
        )
    }
    # API Gateway may still invoke it.
    permission = dev.resources("AWS::Lambda::Permission")["APIHandlerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "APIHandler"}
    assert permission["Principal"] == "apigateway.amazonaws.com"


class _RecordingApp:
    """Stands in for the Chalice construct: records the property overrides it is given."""

    def __init__(self) -> None:
        self.overrides: dict[str, dict[str, Any]] = {}

    def get_resource(self, logical_id: str) -> Any:
        overrides = self.overrides.setdefault(logical_id, {})
        return SimpleNamespace(add_property_override=overrides.__setitem__)


def _sam_template(definition_body: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "Other": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": definition_body}},
        }
    }


def test_api_integrations_are_rewritten_to_name_only_the_functions_they_invoke() -> None:
    app = _RecordingApp()
    uri = {"Fn::Sub": "arn:${AWS::Partition}:apigateway:x/functions/${APIHandler.Arn}/invocations"}

    TailorcastStack._call_api_functions_by_name(
        cast(Any, SimpleNamespace(stage="dev")), cast(Any, app), _sam_template({"uri": uri})
    )

    spelled = (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:tailorcast-dev-APIHandler"
    )
    assert app.overrides == {
        "RestAPI": {
            "DefinitionBody": {
                "uri": {"Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:x/functions/{spelled}/invocations"}
            }
        },
        "APIHandler": {"FunctionName": "tailorcast-dev-APIHandler"},
    }


@pytest.mark.parametrize(
    ("stage", "body", "error"),
    [
        # a reference the rewrite cannot spell from a name would keep the cycle
        ("dev", {"uri": {"Fn::GetAtt": ["APIHandler", "Arn"]}}, "other than by ARN"),
        ("dev", {"uri": {"Fn::Sub": "${APIHandler}"}}, "other than by ARN"),
        # Lambda names are at most 64 characters
        ("s" * 60, {"uri": {"Fn::Sub": "${APIHandler.Arn}"}}, "over 64 characters"),
    ],
)
def test_api_references_the_stack_cannot_spell_fail_synth(stage: str, body: Any, error: str) -> None:
    app = _RecordingApp()

    with pytest.raises(PackagingError, match=error):
        TailorcastStack._call_api_functions_by_name(
            cast(Any, SimpleNamespace(stage=stage)), cast(Any, app), _sam_template(body)
        )
    assert app.overrides == {}


def test_front_door_url_is_an_output(dev: Synth) -> None:
    dev.template.has_output("FrontDoorUrl", {"Value": _front_door_url(dev)})


def test_an_unknown_api_path_answers_404_in_the_api_error_shape_and_echoes_nothing(dev: Synth) -> None:
    # API Gateway's own answer is 403, and with a bearer header it quotes the header back.
    responses = dev.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]["GatewayResponses"]
    assert set(responses) == {"MISSING_AUTHENTICATION_TOKEN", "INCOMPLETE_SIGNATURE"}
    for response in responses.values():
        assert response["StatusCode"] == "404"
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body == {
            "error": {
                "code": "not_found",
                "message": "no API route matches this path",
                "fields": [],
                "request_id": "$context.requestId",
            }
        }
        assert "$input" not in response["ResponseTemplates"]["application/json"]
        assert "Authorization" not in json.dumps(response)


# -- identity: the post-confirmation trigger --------------------------------------------------

# A Chalice project beside the real one: the trigger's wiring and the Stripe route's lack of an
# authorizer are checked on an app that has them whatever app.py holds today.
_ACCOUNTS_APP = """
from chalice import Chalice

app = Chalice(app_name="tailorcast")


@app.route("/me")
def me():
    return {}


@app.route("/webhooks/stripe", methods=["POST"])
def stripe_webhook():
    return {}
"""
_TRIGGER = """

@app.lambda_function(name="on_post_confirmation")
def on_post_confirmation(event, context):
    return event
"""
TRIGGER_FUNCTION = "OnPostConfirmation"


def _accounts_project(root: Path, *, trigger: bool) -> Path:
    (root / "app.py").write_text(_ACCOUNTS_APP + (_TRIGGER if trigger else ""))
    (root / "chalicelib").mkdir()
    (root / "chalicelib" / "__init__.py").write_text("")
    (root / ".chalice").mkdir()
    shutil.copy(PROJECT_DIR / ".chalice" / "config.json", root / ".chalice" / "config.json")
    # The voice function's image is staged from the project too.
    (root / "layers" / "voice").mkdir(parents=True)
    for name in ("Dockerfile", "Dockerfile.dockerignore"):
        shutil.copy(PROJECT_DIR / "layers" / "voice" / name, root / "layers" / "voice" / name)
    return root


def _synth_project(tmp_path_factory: pytest.TempPathFactory, *, trigger: bool) -> Synth:
    project = _accounts_project(tmp_path_factory.mktemp("accounts-app"), trigger=trigger)
    workdir = tmp_path_factory.mktemp("synth-accounts")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        app = cdk.App(outdir=str(workdir / "cdk.out"))
        stack = TailorcastStack(
            app,
            "Tailorcast-dev",
            stage="dev",
            project_dir=project,
            definitions_dir=tmp_path_factory.mktemp("no-asl"),
            dependencies=APP_ONLY,
            media_public_key_pem=MEDIA_PUBLIC_KEY,
            **DEV_PROPS,
        )
        template = Template.from_stack(stack)
    return Synth(stack, template, {}, {})


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth_project(tmp_path_factory, trigger=True)


@pytest.fixture(scope="module")
def no_trigger(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth_project(tmp_path_factory, trigger=False)


def _synth_errors(synth: Synth, pattern: str) -> list[str]:
    """The synth's error annotations (which ``cdk synth``/``deploy`` refuse) that match ``pattern``.

    Read from the constructs' metadata: ``Annotations.from_stack(...).find_error`` fails to load
    jsii's ``MetadataEntry`` type (``Unknown interface``) whenever there is an error to return.
    """
    return [
        str(entry.data)
        for construct in synth.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:error" and re.search(pattern, str(entry.data))
    ]


def _trigger_errors(synth: Synth) -> list[str]:
    return _synth_errors(synth, "on_post_confirmation")


def test_post_confirmation_function_is_the_pools_trigger_and_cognito_may_invoke_it(accounts: Synth) -> None:
    pool_id, pool = _only(accounts.resources("AWS::Cognito::UserPool"))
    function = _chalice_functions(accounts)[TRIGGER_FUNCTION]["Properties"]

    # The function has a name of its own, and the pool names it by an ARN spelled from it …
    assert function["FunctionName"] == "tailorcast-dev-OnPostConfirmation"
    assert function["Handler"] == "app.on_post_confirmation"
    assert pool["Properties"]["LambdaConfig"] == {
        "PostConfirmation": _arn("lambda", ":function:tailorcast-dev-OnPostConfirmation")
    }
    # … since the function is told the pool (a reference back would be a cycle, which
    # Template.from_stack refuses) …
    assert function["Environment"]["Variables"]["TAILORCAST_COGNITO_USER_POOL_ID"] == {"Ref": pool_id}
    graph = _dependencies(accounts.template.to_json())
    assert TRIGGER_FUNCTION not in _reachable(graph, pool_id)
    # … and Cognito may invoke it for this pool only, in this account.
    [permission] = [
        p["Properties"]
        for p in accounts.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
    ]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [TRIGGER_FUNCTION, "Arn"]},
        "Principal": "cognito-idp.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": {"Fn::GetAtt": [pool_id, "Arn"]},
    }
    assert _trigger_errors(accounts) == []
    assert accounts.stack.post_confirmation_function_id == TRIGGER_FUNCTION


def test_without_the_post_confirmation_function_the_synth_is_an_error(no_trigger: Synth) -> None:
    # Sign-ups would confirm and make no account: `cdk synth`/`cdk deploy` refuse such a stack.
    _, pool = _only(no_trigger.resources("AWS::Cognito::UserPool"))

    assert "LambdaConfig" not in pool["Properties"]
    assert not [
        p
        for p in no_trigger.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
    ]
    assert len(_trigger_errors(no_trigger)) == 1


def test_the_apps_own_post_confirmation_function_is_wired_or_the_synth_is_an_error(dev: Synth) -> None:
    # app.py gains on_post_confirmation with the identity work of issue 18; until then the stack
    # must say it is not deployable rather than deploy a pool whose sign-ups make no account.
    _, pool = _only(dev.resources("AWS::Cognito::UserPool"))
    if TRIGGER_FUNCTION in _chalice_functions(dev):
        assert pool["Properties"]["LambdaConfig"] == {
            "PostConfirmation": _arn("lambda", ":function:tailorcast-dev-OnPostConfirmation")
        }
        assert _trigger_errors(dev) == []
    else:
        assert "LambdaConfig" not in pool["Properties"]
        assert len(_trigger_errors(dev)) == 1


def test_chalice_functions_may_delete_users_of_the_pool_and_do_nothing_else_in_cognito(dev: Synth) -> None:
    pool_id, _ = _only(dev.resources("AWS::Cognito::UserPool"))
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    assert roles

    for role in roles:
        cognito = [s for s in _role_statements(dev, role) if '"cognito-idp:' in json.dumps(s["Action"])]
        # Account deletion and member removal; sign-up, sign-in and sign-out are public calls.
        assert cognito == [
            {
                "Action": "cognito-idp:AdminDeleteUser",
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [pool_id, "Arn"]},
            }
        ], role
    _, voice = _voice_function(dev)
    assert "cognito-idp" not in json.dumps(
        _role_statements(dev, voice["Properties"]["Role"]["Fn::GetAtt"][0])
    )


# -- billing: the Stripe secret and its webhook route -----------------------------------------


def test_stripe_secret_is_created_holding_a_placeholder_the_operator_replaces(
    dev: Synth, prod: Synth
) -> None:
    _, secret = _stripe_secret(dev)
    props = secret["Properties"]

    # The shape the app reads, with no key in it: no Stripe call works and every webhook is refused
    # until the operator stores the real one (README § Stripe secret).
    value = json.loads(props["SecretString"])
    assert set(value) == {"api_key", "webhook_secrets"}
    assert value["webhook_secrets"] == []
    assert not value["api_key"].startswith(("sk_", "rk_"))
    assert "GenerateSecretString" not in props
    _, prod_secret = _stripe_secret(prod)
    assert prod_secret["DeletionPolicy"] == "Retain"
    dev.template.has_output("StripeSecretName", {"Value": "tailorcast-dev-stripe"})


def test_only_the_chalice_functions_may_read_the_stripe_secret_and_only_read_it(dev: Synth) -> None:
    secret_id, _ = _stripe_secret(dev)
    read = {
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Effect": "Allow",
        "Resource": {"Ref": secret_id},
    }

    def naming_the_secret(role: str) -> list[dict[str, Any]]:
        return [s for s in _role_statements(dev, role) if {"Ref": secret_id} in _as_list(s["Resource"])]

    # The API (checkout, portal, the webhook route) and the tasks share Chalice's one role.
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    for role in roles:
        assert naming_the_secret(role) == [read], role
    _, voice = _voice_function(dev)
    assert naming_the_secret(voice["Properties"]["Role"]["Fn::GetAtt"][0]) == []
    for machine in dev.resources("AWS::StepFunctions::StateMachine").values():
        assert naming_the_secret(machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]) == []
    assert not [
        s
        for role in roles
        for s in _role_statements(dev, role)
        if "secretsmanager:" in json.dumps(s["Action"]) and s["Resource"] == "*"
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _operations(synth: Synth) -> dict[tuple[str, str], Any]:
    paths = synth.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    return {
        (path, method): operation
        for path, methods in paths.items()
        for method, operation in methods.items()
        if isinstance(operation, dict)
    }


def test_stripe_webhook_route_reaches_the_api_function_with_no_authorizer(accounts: Synth) -> None:
    body = accounts.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]["DefinitionBody"]
    operation = _operations(accounts)[("/webhooks/stripe", "post")]

    # Stripe signs its requests; it sends no bearer token. No authorizer may stand in front.
    assert "security" not in operation
    assert "securityDefinitions" not in body
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"  # the raw body and headers reach the function
    assert "tailorcast-dev-APIHandler" in json.dumps(integration["uri"])


def test_no_route_of_the_app_is_behind_an_api_gateway_authorizer(dev: Synth) -> None:
    # The API verifies tokens itself (one code path with the local stack); the Stripe webhook and
    # the watch page must reach it without one.
    body = dev.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]["DefinitionBody"]

    assert "securityDefinitions" not in body
    assert [key for key, operation in _operations(dev).items() if "security" in operation] == []


# -- email (SES) ------------------------------------------------------------------------------


def test_sender_domain_is_an_ses_identity_using_a_configuration_set(dev: Synth, prod: Synth) -> None:
    configuration_set_id, configuration_set = _only(dev.resources("AWS::SES::ConfigurationSet"))
    _, identity = _only(dev.resources("AWS::SES::EmailIdentity"))

    assert identity["Properties"]["EmailIdentity"] == SENDER_DOMAIN
    # Every message sent from the identity uses the set, without the app naming it.
    assert identity["Properties"]["ConfigurationSetAttributes"] == {
        "ConfigurationSetName": {"Ref": configuration_set_id}
    }
    props = configuration_set["Properties"]
    assert props["Name"] == "tailorcast-dev"
    assert props["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    assert props["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    # Without -c senderDomain the domain is a stack parameter.
    _, prod_identity = _only(prod.resources("AWS::SES::EmailIdentity"))
    assert prod_identity["Properties"]["EmailIdentity"] == {"Ref": "SenderDomain"}
    prod.template.has_parameter("SenderDomain", {"Type": "String"})
    prod.template.has_parameter("AppBaseUrl", {"Type": "String"})


def test_chalice_functions_may_send_email_from_the_sender_address_only(dev: Synth) -> None:
    configuration_set_id, _ = _only(dev.resources("AWS::SES::ConfigurationSet"))
    grant = {
        "Action": "ses:SendEmail",
        "Condition": {"StringEquals": {"ses:FromAddress": f"no-reply@{SENDER_DOMAIN}"}},
        "Effect": "Allow",
        "Resource": [
            _arn("ses", f":identity/{SENDER_DOMAIN}"),
            _arn("ses", ":configuration-set/", {"Ref": configuration_set_id}),
        ],
    }

    def ses_statements(role: str) -> list[dict[str, Any]]:
        return [s for s in _role_statements(dev, role) if '"ses:' in json.dumps(s["Action"])]

    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _chalice_functions(dev).values()}
    for role in roles:
        assert ses_statements(role) == [grant], role
    _, voice = _voice_function(dev)
    assert ses_statements(voice["Properties"]["Role"]["Fn::GetAtt"][0]) == []


def test_functions_are_told_the_sender_and_the_consoles_url(dev: Synth, prod: Synth) -> None:
    for name, function in _chalice_functions(dev).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert (
            variables["TAILORCAST_NOTIFICATIONS_FROM_ADDRESS"] == f"Tailorcast <no-reply@{SENDER_DOMAIN}>"
        ), name
        assert variables["TAILORCAST_APP_BASE_URL"] == APP_BASE_URL, name
        assert variables["TAILORCAST_STRIPE_SECRET_NAME"] == "tailorcast-dev-stripe", name
        assert variables["TAILORCAST_AUTH_MODE"] == "cognito", name
    variables = _chalice_functions(prod)["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["TAILORCAST_APP_BASE_URL"] == {"Ref": "AppBaseUrl"}
    assert variables["TAILORCAST_NOTIFICATIONS_FROM_ADDRESS"] == {
        "Fn::Join": ["", ["Tailorcast <no-reply@", {"Ref": "SenderDomain"}, ">"]]
    }


# -- retention (docs/retention.md) ------------------------------------------------------------


def _bucket_rules(synth: Synth, bucket: s3.IBucket) -> list[dict[str, Any]]:
    logical_id = synth.ref(bucket.bucket_name)["Ref"]
    rules: list[dict[str, Any]] = synth.resources("AWS::S3::Bucket")[logical_id]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    return rules


def test_a_lapsed_accounts_media_expires_after_two_years_and_no_other_media_does(dev: Synth) -> None:
    rules = _bucket_rules(dev, dev.stack.media_bucket)

    assert rules == [
        *CLEANUP_RULES,
        {
            "Id": "expire-lapsed-accounts-media",
            "TagFilters": [{"Key": "lapsed", "Value": "true"}],
            "ExpirationInDays": 730,
            "Status": "Enabled",
        },
    ]


def test_raw_events_expire_after_a_year_and_aggregates_after_five(dev: Synth) -> None:
    rules = {rule["Id"]: rule for rule in _bucket_rules(dev, dev.stack.analytics_bucket)}

    assert [rules[rule["Id"]] for rule in CLEANUP_RULES] == CLEANUP_RULES
    expiring = {
        rule.get("Prefix"): rule["ExpirationInDays"] for rule in rules.values() if "ExpirationInDays" in rule
    }
    assert expiring == {
        "events/": 365,  # where Firehose writes the events (the events table's location)
        "events-errors/": 365,  # records Firehose could not deliver: raw events too
        "aggregates/": 5 * 365,
        "athena-results/": 7,
    }
    # The rule's prefix is the events table's own location: nothing raw escapes it.
    _, table = _only(dev.resources("AWS::Glue::Table"))
    location = table["Properties"]["TableInput"]["StorageDescriptor"]["Location"]
    assert location == {
        "Fn::Join": ["", ["s3://", dev.ref(dev.stack.analytics_bucket.bucket_name), "/events/"]]
    }


def test_every_log_group_keeps_its_logs_90_days(dev: Synth, prod: Synth) -> None:
    for synth in (dev, prod):
        groups = synth.resources("AWS::Logs::LogGroup")
        assert groups
        assert {name: group["Properties"].get("RetentionInDays") for name, group in groups.items()} == {
            name: 90 for name in groups
        }
        # prod keeps them when the stack goes (up to their 90 days).
        if synth is prod:
            assert {group["DeletionPolicy"] for group in groups.values()} == {"Retain"}


def test_every_function_logs_to_a_log_group_of_the_stack(dev: Synth) -> None:
    groups = dev.resources("AWS::Logs::LogGroup")
    functions = {
        **_chalice_functions(dev),
        **{k: v for k, v in dev.resources("AWS::Lambda::Function").items() if k == _voice_function(dev)[0]},
    }

    for name, function in functions.items():
        # Lambda's own /aws/lambda/<name> group would be created on first use, kept forever.
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == 90, name
    chalice_groups = {
        fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for fn in _chalice_functions(dev).values()
    }
    assert len(chalice_groups) == len(_chalice_functions(dev))  # one each
    assert (
        groups[_chalice_functions(dev)["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]][
            "Properties"
        ]["LogGroupName"]
        == "/tailorcast/dev/lambda/APIHandler"
    )


def test_state_machines_and_the_events_stream_log_to_90_day_groups(dev: Synth) -> None:
    groups = dev.resources("AWS::Logs::LogGroup")
    names = {
        group["Properties"]["LogGroupName"]: group["Properties"]["RetentionInDays"]
        for group in groups.values()
    }

    for machine in dev.resources("AWS::StepFunctions::StateMachine").values():
        [destination] = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
        assert groups[group]["Properties"]["RetentionInDays"] == 90
    assert names["/aws/kinesisfirehose/tailorcast-dev-events"] == 90


def test_api_access_logs_go_to_a_90_day_group_without_paths_or_addresses(dev: Synth) -> None:
    api = dev.resources("AWS::Serverless::Api")["RestAPI"]
    setting = api["Properties"]["AccessLogSetting"]
    group = setting["DestinationArn"]["Fn::GetAtt"][0]

    assert dev.resources("AWS::Logs::LogGroup")[group]["Properties"] == {
        "LogGroupName": "/tailorcast/dev/api-access",
        "RetentionInDays": 90,
    }
    fields = json.loads(setting["Format"])
    assert {"request_id", "method", "resource", "status"} <= set(fields)
    # Watch tokens are path values and addresses are personal data: the resource's template only.
    assert fields["resource"] == "$context.resourcePath"
    assert "$context.path" not in setting["Format"]
    assert "sourceIp" not in setting["Format"]
    # API Gateway writes them as the account's CloudWatch role, set before the API's stage.
    account_id, account = _only(dev.resources("AWS::ApiGateway::Account"))
    assert account_id in _as_list(api["DependsOn"])
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = dev.resources("AWS::IAM::Role")[role_id]
    assert role["DeletionPolicy"] == "Retain"  # another stage in the account may be using it
    [assume] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "apigateway.amazonaws.com"}


# -- the account's background jobs (issue 18, item 6) -----------------------------------------

# Logical id → (handler, the setting the API reads its name from).
ACCOUNT_JOBS = {
    "ExportAccount": ("chalicelib.tasks.account_jobs.export_account", "TAILORCAST_EXPORT_FUNCTION_NAME"),
    "DeleteAccount": ("chalicelib.tasks.account_jobs.delete_account", "TAILORCAST_DELETION_FUNCTION_NAME"),
    "TagLapsedMedia": (
        "chalicelib.tasks.account_jobs.tag_lapsed_media",
        "TAILORCAST_RETENTION_FUNCTION_NAME",
    ),
}
DIGEST_FUNCTION = "WeeklyDigest"
ACCOUNT = "acct_01HZZZZZZZZZZZZZZZZZZZZZZZ"


def _task_failures(synth: Synth) -> tuple[str, Any]:
    return _only(synth.resources("AWS::SQS::Queue"))


def _function_role(synth: Synth, function_id: str) -> str:
    role: str = _chalice_functions(synth)[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def _object_patterns(statements: list[dict[str, Any]], action: str, bucket_arn: Any) -> list[str]:
    """The key patterns of ``bucket_arn`` the statements allow ``action`` on (``*`` = any key)."""
    patterns = []
    for statement in statements:
        if statement["Effect"] != "Allow" or not any(
            fnmatch.fnmatchcase(action, allowed) for allowed in _as_list(statement["Action"])
        ):
            continue
        for resource in _as_list(statement["Resource"]):
            parts = resource.get("Fn::Join", [None, []])[1] if isinstance(resource, dict) else []
            if len(parts) == 2 and parts[0] == bucket_arn and parts[1].startswith("/"):
                patterns.append(parts[1][1:])
    return patterns


def _allows_key(statements: list[dict[str, Any]], action: str, bucket_arn: Any, key: str) -> bool:
    return any(
        fnmatch.fnmatchcase(key, pattern) for pattern in _object_patterns(statements, action, bucket_arn)
    )


def _allows_on(statements: list[dict[str, Any]], action: str, resource: Any) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, allowed) for allowed in _as_list(statement["Action"]))
        and resource in _as_list(statement["Resource"])
        for statement in statements
    )


def test_account_jobs_have_the_names_every_function_is_told_without_a_dependency_cycle(dev: Synth) -> None:
    functions = _chalice_functions(dev)
    graph = _dependencies(dev.template.to_json())

    for function_id, (handler, variable) in ACCOUNT_JOBS.items():
        props = functions[function_id]["Properties"]
        # The name LambdaTaskStarter invokes (Settings.export_function_name / deletion_function_name) …
        assert props["Handler"] == handler
        assert props["FunctionName"] == f"tailorcast-dev-{function_id}"
        assert variable.removeprefix("TAILORCAST_").lower() in Settings.model_fields
        for name, function in functions.items():
            assert function["Properties"]["Environment"]["Variables"][variable] == props["FunctionName"], name
        # … spelled, so neither the API nor the other job depends on the function it starts.
        for other in ("APIHandler", *ACCOUNT_JOBS):
            assert function_id not in _reachable(graph, other), (other, function_id)


def test_background_tasks_are_sized_for_their_work(dev: Synth) -> None:
    functions = _chalice_functions(dev)
    sizes = {
        name: (function["Properties"]["Timeout"], function["Properties"]["MemorySize"])
        for name, function in functions.items()
    }

    # 15 minutes each (Lambda's longest): the deletion pages through the table and both buckets,
    # the export zips the whole account in memory, the digest walks every account.
    assert sizes["DeleteAccount"] == (900, 512)
    assert sizes["TagLapsedMedia"] == (900, 512)
    assert sizes["ExportAccount"] == (900, 2048)
    assert sizes[DIGEST_FUNCTION] == (900, 512)
    # Nothing else changes: the API still answers within API Gateway's 29 s.
    assert sizes["APIHandler"] == (60, 128)


def test_failed_asynchronous_runs_land_on_an_encrypted_tls_only_queue_kept_14_days(
    dev: Synth, prod: Synth
) -> None:
    queue_id, queue = _task_failures(dev)
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}

    assert queue["Properties"] == {
        "QueueName": "tailorcast-dev-task-failures",
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    }
    assert _task_failures(prod)[1]["DeletionPolicy"] == "Retain"
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in dev.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": queue_arn,
    } in policy

    # Each asynchronous task (the two the API starts, the scheduled digest): two retries within six
    # hours, then the queue.
    configs = {
        config["Properties"]["FunctionName"]["Ref"]: config
        for config in dev.resources("AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(configs) == {*ACCOUNT_JOBS, DIGEST_FUNCTION}
    # Lambda checks the role may send to the destination when the configuration is made.
    [sending_policy] = [
        policy_id
        for policy_id, policy in dev.resources("AWS::IAM::Policy").items()
        if {
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            "Effect": "Allow",
            "Resource": queue_arn,
        }
        in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    for function_id, config in configs.items():
        assert config["Properties"] == {
            "FunctionName": {"Ref": function_id},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        }
        assert sending_policy in _as_list(config["DependsOn"]), function_id
        statements = _role_statements(dev, _function_role(dev, function_id))
        assert _allows_on(statements, "sqs:SendMessage", queue_arn), function_id
    _, voice = _voice_function(dev)
    assert "sqs:" not in json.dumps(_role_statements(dev, voice["Properties"]["Role"]["Fn::GetAtt"][0]))

    # Someone hears of it: an alarm on the first message, and where to find the queue.
    _, alarm = _only(dev.resources("AWS::CloudWatch::Alarm"))
    assert alarm["Properties"]["Namespace"] == "AWS/SQS"
    assert alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    ]
    assert alarm["Properties"]["Threshold"] == 1
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    dev.template.has_output("TaskFailuresQueueUrl", {"Value": {"Ref": queue_id}})


def test_weekly_digest_runs_mondays_at_eight_utc_on_an_eventbridge_schedule(dev: Synth) -> None:
    props = _chalice_functions(dev)[DIGEST_FUNCTION]["Properties"]

    assert props["Handler"] == "chalicelib.tasks.notifications.weekly_digest"
    # SAM makes the Schedule event an EventBridge rule (and the permission to invoke the function).
    assert props["Events"] == {
        "WeeklyDigestEvent": {"Type": "Schedule", "Properties": {"Schedule": "cron(0 8 ? * MON *)"}}
    }


def test_the_deletion_may_list_and_delete_under_every_prefix_of_the_account_in_every_bucket(
    dev: Synth,
) -> None:
    statements = _role_statements(dev, _function_role(dev, "DeleteAccount"))
    prefixes = account_prefixes(ACCOUNT)
    buckets = {dev.stack.uploads_bucket: prefixes.uploads, dev.stack.media_bucket: prefixes.media}

    for bucket, bucket_prefixes in buckets.items():
        bucket_arn = {"Fn::GetAtt": [dev.ref(bucket.bucket_name)["Ref"], "Arn"]}
        # list_objects_v2 is s3:ListBucket on the bucket; delete_objects is s3:DeleteObject per key.
        assert _allows_on(statements, "s3:ListBucket", bucket_arn), bucket_arn
        assert bucket_prefixes
        for prefix in bucket_prefixes:
            assert _allows_key(statements, "s3:DeleteObject", bucket_arn, f"{prefix}a/b.mp4"), prefix
    # …and delete its logins, and cancel its subscription with the Stripe key.
    pool_id, _ = _only(dev.resources("AWS::Cognito::UserPool"))
    assert _allows_on(statements, "cognito-idp:AdminDeleteUser", {"Fn::GetAtt": [pool_id, "Arn"]})
    assert _allows_on(statements, "secretsmanager:GetSecretValue", {"Ref": _stripe_secret(dev)[0]})


def test_the_export_writes_its_zip_to_the_uploads_bucket_where_ingest_does_not_listen(dev: Synth) -> None:
    key = export_key(ACCOUNT, "exp_1")
    uploads_arn = {"Fn::GetAtt": [dev.ref(dev.stack.uploads_bucket.bucket_name)["Ref"], "Arn"]}

    assert key.startswith("account-exports/")
    assert _allows_key(
        _role_statements(dev, _function_role(dev, "ExportAccount")), "s3:PutObject", uploads_arn, key
    )
    # The API signs the download link with its own credentials: it must be able to read the key.
    assert _allows_key(
        _role_statements(dev, _function_role(dev, "APIHandler")), "s3:GetObject", uploads_arn, key
    )
    # Writing the zip starts no ingest.
    [notifications] = dev.resources("Custom::S3BucketNotifications").values()
    for configuration in notifications["Properties"]["NotificationConfiguration"][
        "LambdaFunctionConfigurations"
    ]:
        rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        prefix = next(rule["Value"] for rule in rules if rule["Name"] == "prefix")
        assert not key.startswith(prefix), configuration


# The routes of issue 18: accounts, team, billing, plans, profile, branding, the account's data.
ISSUE_18_ROUTES = {
    *[(f"/auth/{action}", "post") for action in ("signup", "confirm", "resend-code", "login", "refresh")],
    *[(f"/auth/{action}", "post") for action in ("logout", "forgot-password", "reset-password")],
    ("/team", "get"),
    ("/team/invites", "post"),
    ("/team/invites/{invite_id}", "delete"),
    ("/team/members/{user_id}", "delete"),
    ("/billing", "get"),
    ("/billing/checkout", "post"),
    ("/billing/portal", "post"),
    ("/webhooks/stripe", "post"),
    ("/api-keys", "get"),
    ("/api-keys", "post"),
    ("/api-keys/{key_id}", "delete"),
    ("/me/usage", "get"),
    ("/me/password", "post"),
    ("/me/profile", "get"),
    ("/me/profile", "patch"),
    ("/me/profile/avatar", "put"),
    ("/me/profile/avatar", "delete"),
    ("/me/notifications", "get"),
    ("/me/notifications", "patch"),
    ("/account/branding", "get"),
    ("/account/branding", "put"),
    ("/account/branding", "delete"),
    ("/account/branding/logo", "put"),
    ("/account/branding/logo", "delete"),
    ("/account/export", "post"),
    ("/account/exports/{export_id}", "get"),
    ("/account/deletion", "post"),
    ("/account/deletion", "get"),
}


def test_every_route_of_the_app_reaches_the_api_function_through_the_proxy_integration(dev: Synth) -> None:
    operations = _operations(dev)
    assert sorted(ISSUE_18_ROUTES - set(operations)) == []
    for route, operation in operations.items():
        integration = operation["x-amazon-apigateway-integration"]
        # The raw body, headers and path reach the function (the Stripe signature is over the body).
        assert integration["type"] == "aws_proxy", route
        assert integration["httpMethod"] == "POST", route
        assert "function:tailorcast-dev-APIHandler/invocations" in json.dumps(integration["uri"]), route
        assert "security" not in operation, route


def test_without_the_account_jobs_the_synth_is_an_error(accounts: Synth) -> None:
    # POST /account/export and /account/deletion would answer 202 and start nothing.
    for task in ("export_account", "delete_account"):
        assert len(_synth_errors(accounts, task)) == 1, task
    assert accounts.resources("AWS::Lambda::EventInvokeConfig") == {}
    assert accounts.stack.background_task_ids == {}


def test_the_apps_own_account_jobs_are_wired_without_errors(dev: Synth) -> None:
    assert dev.stack.background_task_ids == {
        "export_account": "ExportAccount",
        "delete_account": "DeleteAccount",
        "tag_lapsed_media": "TagLapsedMedia",
        "weekly_digest": DIGEST_FUNCTION,
    }
    for task in ("export_account", "delete_account"):
        assert _synth_errors(dev, task) == []


def test_the_app_may_tag_and_untag_media_for_the_lapsed_accounts_rule(dev: Synth) -> None:
    # The lifecycle rule expires media tagged lapsed=true; tagging it (and untagging it when the
    # account pays again) is the app's, on any key of the media bucket.
    media_arn = {"Fn::GetAtt": [dev.ref(dev.stack.media_bucket.bucket_name)["Ref"], "Arn"]}
    statements = _role_statements(dev, _function_role(dev, "APIHandler"))

    for action in ("s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectTagging"):
        assert _allows_key(statements, action, media_arn, f"{ACCOUNT}/c/v/master.m3u8"), action
