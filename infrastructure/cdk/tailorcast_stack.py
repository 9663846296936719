"""One CloudFormation stack per stage: data, auth, the Chalice app, the voice function, the state
machines, the front door (CloudFront), the engagement analytics (Firehose, Glue, Athena), billing
(the Stripe secret), email (SES), the account's background jobs (export, deletion, the weekly
digest) and retention (lifecycle rules, log retention).

Nothing here restates the application's shape: the table comes from
``chalicelib.adapters.dynamodb.schema.table_definition``, the Lambdas, API and S3 subscriptions
from ``app.py`` (through ``chalice package``), the voice function's image from
``layers/voice/Dockerfile``, the state machines from ``state_machines/*.asl.json`` through the
same loader the local stack uses, and the events table from
``chalicelib.adapters.analytics_schema.glue_table_input``.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import (
    Annotations,
    ArnFormat,
    CfnOutput,
    CfnParameter,
    CfnResource,
    Duration,
    IgnoreMode,
    RemovalPolicy,
    SecretValue,
    Stack,
    Token,
)
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from chalice.cdk import Chalice
from chalice.utils import to_cfn_resource_name
from constructs import Construct

import state_machines
from chalicelib.adapters import analytics_schema
from chalicelib.adapters.cdn import COOKIE_KEY_PLACEHOLDER, ORIGIN_VERIFY_HEADER
from chalicelib.adapters.dynamodb import schema
from chalicelib.domain.account_deletion import DELETION_TASK
from chalicelib.domain.account_export import EXPORT_TASK
from chalicelib.domain.media_retention import MEDIA_RETENTION_TASK
from chalicelib.domain.webhooks import SECRET_PURPOSE as WEBHOOK_SECRET_PURPOSE
from infrastructure.cdk.chalice_packaging import (
    APP_ONLY,
    REQUIREMENTS,
    Dependencies,
    PackagingError,
    S3Subscription,
    captured_s3_subscriptions,
    isolated_app_import,
    missing_requirements,
    s3_event_type,
    stage_project,
    unresolvable_handlers,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROD_STAGE = "prod"
# Chalice needs a region only to spell service principals; they are the same across the
# `aws` partition, so an environment-agnostic synth can use any of its regions.
_FALLBACK_PACKAGING_REGION = "us-east-1"
# The voice function's image; its build context is the project root (see the Dockerfile).
VOICE_DOCKERFILE = "layers/voice/Dockerfile"
# The render pipeline (``state_machines/render_campaign.asl.json``): the app starts and cancels its
# executions and answers its task tokens; its ARN is spelled from the name, never referenced.
RENDER_STATE_MACHINE = "render_campaign"
# MediaConvert's default on-demand queue runs 100+ jobs at once; each prospect holds one.
RENDER_CONCURRENCY = 40
# Where prepare_batch writes a Distributed Map's items (``chalicelib.domain.render.manifest_key``).
RENDER_MANIFEST_KEYS = "*/batches/*/manifest.json"
# Outgoing webhooks (``state_machines/deliver_webhook.asl.json``): the app starts one execution
# per delivery; like the render machine's, its ARN is spelled from the name.
WEBHOOK_STATE_MACHINE = "deliver_webhook"
# The REST API's stage, i.e. the first path segment of every API URL: the front door's origin path.
API_GATEWAY_STAGE = "api"
# The Lambda behind every route (Chalice names it so): the watch page, its assets and beacons.
API_FUNCTION = "APIHandler"

# -- the front door (CloudFront): one domain for the watch page, its assets, the beacons and media --
# Paths the API answers through the front door: the watch page and its beacons (never cached) …
WATCH_PATHS = "/w/*"
# … and the watch page's content-hashed static files (cached like media).
ASSET_PATHS = "/assets/*"
# Everything else is a media bucket key. Posters and previews are linked from emails, whose clients
# load them without cookies: they are public. Everything else needs the watch page's signed cookies.
PUBLIC_MEDIA_PATHS = ("*.jpg", "*.gif", "*.webp", "*.png")
PLAYLIST_PATHS = "*.m3u8"
# Segments, init segments and images never change under a key; playlists are short-lived.
LONG_TTL_SECONDS = 365 * 24 * 3600
PLAYLIST_TTL_SECONDS = 5
IMMUTABLE_CACHE_CONTROL = f"public, max-age={LONG_TTL_SECONDS}, immutable"
PLAYLIST_CACHE_CONTROL = f"public, max-age={PLAYLIST_TTL_SECONDS}"
# What the API sees of the viewer: the watch page and beacons read the user agent and the viewer's
# address (bot flags, truncated IP). Never `Host`: API Gateway refuses a host that is not its own.
API_FORWARDED_HEADERS = (
    "User-Agent",
    "Accept",
    "Accept-Language",
    "Content-Type",
    "CloudFront-Viewer-Address",
)
# Context key of the CloudFront public key (PEM) the watch page's signed cookies are checked with.
MEDIA_PUBLIC_KEY_CONTEXT = "mediaPublicKeyPem"

# -- engagement analytics --
EVENTS_TABLE = "events"
# Firehose writes the local stand-in's layout (``events/dt=YYYY-MM-DD/``): objects every 60 s or
# 5 MiB, whichever comes first; failed records go to their own prefix.
EVENTS_BUFFER_SECONDS = 60
EVENTS_BUFFER_MIB = 5
EVENTS_PREFIX = f"{analytics_schema.EVENTS_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/"
EVENTS_ERROR_PREFIX = (
    f"{analytics_schema.ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
)
# Athena results are only read back once, by the query's caller.
ATHENA_RESULTS_DAYS = 7
# No single analytics query may scan more than this (about 25 million events).
ATHENA_BYTES_SCANNED_CUTOFF = 10 * 1024**3
# The watch secret's cookie signing key is COOKIE_KEY_PLACEHOLDER until the operator stores the
# real one (infrastructure/cdk/README.md § Watch secret); the app refuses to sign with it.

# -- identity (Cognito) --
# The Chalice Lambda (``@app.lambda_function(name=...)``) the user pool calls once a sign-up is
# confirmed: it creates the account, its owner and its trial.
POST_CONFIRMATION_FUNCTION = "on_post_confirmation"
PASSWORD_MIN_LENGTH = 10
ACCESS_TOKEN_HOURS = 1
REFRESH_TOKEN_DAYS = 30

# -- billing and email --
# The Stripe secret holds this until the operator stores the real values (README § Stripe secret):
# no API key, and no webhook signing secret, so every webhook is refused until then.
STRIPE_SECRET_PLACEHOLDER = {
    "api_key": "REPLACE-ME: see infrastructure/cdk/README.md, Stripe secret",
    "webhook_secrets": [],
}
# Context keys: the domain transactional email is sent from (an SES identity of the stack), the
# console's URL (where Stripe's checkout and portal send the seller back), and whether Cognito sends
# its own email (codes) through that identity rather than its built-in sender (50 a day).
SENDER_DOMAIN_CONTEXT = "senderDomain"
APP_BASE_URL_CONTEXT = "appBaseUrl"
COGNITO_EMAIL_VIA_SES_CONTEXT = "cognitoEmailViaSes"
SENDER_LOCAL_PART = "no-reply"
SENDER_NAME = "Tailorcast"

# -- the account's background jobs (issue 18, item 6) --
# The Chalice Lambdas the API starts asynchronously (``LambdaTaskStarter``: ``InvocationType=Event``),
# each by a deterministic name given in the setting named here, so no function references another.
STARTED_TASKS = {
    EXPORT_TASK: "TAILORCAST_EXPORT_FUNCTION_NAME",
    DELETION_TASK: "TAILORCAST_DELETION_FUNCTION_NAME",
    # Tags a lapsed account's media ``lapsed=true`` (and back): the 2-year retention rule.
    MEDIA_RETENTION_TASK: "TAILORCAST_RETENTION_FUNCTION_NAME",
}
# The weekly engagement digest (``chalicelib/tasks/notifications.py``): an EventBridge schedule,
# which invokes it asynchronously too.
DIGEST_TASK = "weekly_digest"
# (timeout, memory MiB) of each background task. The export builds the account's whole zip in
# memory (every prospect, video and analytics aggregate); the deletion pages through the table
# and both buckets; the digest walks every account, an analytics read each. Lambda's longest
# run, 15 minutes, for all three: each is resumable, and a retry carries on.
TASK_SIZES = {
    EXPORT_TASK: (Duration.minutes(15), 2048),
    DELETION_TASK: (Duration.minutes(15), 512),
    MEDIA_RETENTION_TASK: (Duration.minutes(15), 512),
    DIGEST_TASK: (Duration.minutes(15), 512),
}
# An asynchronous run that still fails after Lambda's two retries (or waits longer than six hours
# for one) lands on the task-failures queue, kept 14 days (SQS's longest) for an operator to replay.
TASK_RETRY_ATTEMPTS = 2
TASK_MAX_EVENT_AGE = Duration.hours(6)
TASK_FAILURE_RETENTION = Duration.days(14)

# -- retention (docs/retention.md; the product's "Data Retention") --
# A lapsed account's rendered media: the product tags its objects `lapsed=true` when it lapses.
LAPSED_TAG = ("lapsed", "true")
LAPSED_MEDIA_DAYS = 2 * 365
RAW_EVENTS_DAYS = 365
# Where engagement aggregates (rollups of the raw events) are kept, 5 years.
AGGREGATES_PREFIX = "aggregates/"
AGGREGATES_DAYS = 5 * 365
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS  # 90 days
NONCURRENT_VERSION_DAYS = 30
INCOMPLETE_UPLOAD_DAYS = 1
# API Gateway access logs: who called what and how it went, never a path's values (watch tokens),
# a body, a header or the caller's address.
API_ACCESS_LOG_FORMAT = json.dumps(
    {
        "request_id": "$context.requestId",
        "time": "$context.requestTimeEpoch",
        "method": "$context.httpMethod",
        "resource": "$context.resourcePath",
        "status": "$context.status",
        "response_length": "$context.responseLength",
        "latency_ms": "$context.responseLatency",
        "integration_latency_ms": "$context.integrationLatency",
        "error": "$context.error.responseType",
    },
    separators=(",", ":"),
)


class TailorcastStack(Stack):
    """Everything one Tailorcast stage runs on.

    Parameters
    ----------
    stage
        Stage name (``dev``, ``prod``, ``alice`` …); names the table and state machines and
        is exported to the Lambdas as ``TAILORCAST_STAGE``. ``prod`` retains stateful resources.
    project_dir
        The Chalice project (``app.py``, ``chalicelib/``, ``.chalice/config.json``,
        ``requirements.txt``). Defaults to this repository.
    definitions_dir
        Where the ``*.asl.json`` state machine definitions are; defaults to ``state_machines/``.
    dependencies
        Where the Lambda bundle's third-party packages come from; see
        :data:`infrastructure.cdk.chalice_packaging.Dependencies`.
    upload_origins
        Browser origins allowed to POST to the uploads bucket (CORS).
    media_public_key_pem
        The CloudFront public key (``-----BEGIN PUBLIC KEY-----`` PEM) that checks the watch page's
        signed cookies; its private half goes into the watch secret. ``None`` makes it the
        stack parameter ``MediaPublicKeyPem``, given at deploy time.
    sender_domain
        The domain transactional email is sent from (``no-reply@<domain>``), made an SES identity
        of the stack. ``None`` makes it the stack parameter ``SenderDomain``.
    app_base_url
        The console's URL, where Stripe's checkout and portal send the seller back. ``None`` makes
        it the stack parameter ``AppBaseUrl``.
    cognito_email_via_ses
        Whether Cognito sends its verification and reset codes through the sender identity (it must
        be verified first: README § Email) instead of its built-in sender, limited to 50 a day.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        project_dir: Path = PROJECT_DIR,
        definitions_dir: Path | None = None,
        dependencies: Dependencies = REQUIREMENTS,
        upload_origins: Sequence[str] = ("*",),
        media_public_key_pem: str | None = None,
        sender_domain: str | None = None,
        app_base_url: str | None = None,
        cognito_email_via_ses: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        stateful_removal = RemovalPolicy.RETAIN if stage == PROD_STAGE else RemovalPolicy.DESTROY

        self.table = self._table(stateful_removal)
        self.uploads_bucket = self._uploads_bucket(upload_origins)
        self.media_bucket = self._media_bucket()
        # MediaConvert jobs run as this role: read the uploads (and the render inputs the app
        # writes to the media bucket), write the ladder and the prospects' segments.
        self.mediaconvert_role = iam.Role(
            self,
            "MediaConvertRole",
            assumed_by=iam.ServicePrincipal("mediaconvert.amazonaws.com"),
            description="Tailorcast MediaConvert jobs: read uploads, read/write media",
        )
        self.uploads_bucket.grant_read(self.mediaconvert_role)
        self.media_bucket.grant_read_write(self.mediaconvert_role)
        self.sender_domain = sender_domain or self._parameter(
            "SenderDomain",
            "Domain Tailorcast sends email from (no-reply@<domain>), verified in SES; "
            f"or synthesize with -c {SENDER_DOMAIN_CONTEXT}=...",
        )
        self.notifications_from_address = f"{SENDER_NAME} <{SENDER_LOCAL_PART}@{self.sender_domain}>"
        self.app_base_url = app_base_url or self._parameter(
            "AppBaseUrl",
            "The console's URL (https://...), where Stripe's checkout and portal return the seller; "
            f"or synthesize with -c {APP_BASE_URL_CONTEXT}=...",
        )
        self.email_configuration_set, self.sender_identity = self._email()
        self.user_pool, self.user_pool_client = self._user_pool(stateful_removal, cognito_email_via_ses)
        pool_id = self.user_pool.user_pool_id
        self.jwt_issuer = f"https://cognito-idp.{self.region}.{self.url_suffix}/{pool_id}"
        self.analytics_bucket = self._analytics_bucket()
        self.events_stream = self._events_stream(stateful_removal)
        self.analytics_database, self.events_table = self._analytics_catalog()
        self.athena_workgroup = self._athena_workgroup()
        self.watch_secret_name = f"tailorcast-{stage}-watch"
        self.watch_secret = self._watch_secret(stateful_removal)
        self.origin_verify_secret = self._origin_verify_secret()
        self.media_public_key = self._media_public_key(media_public_key_pem)
        self.sealing_key = self._sealing_key(stateful_removal)
        self.stripe_secret_name = f"tailorcast-{stage}-stripe"
        self.stripe_secret = self._stripe_secret(stateful_removal)

        settings = self._settings_environment()
        self.voice_function = self._voice_function(project_dir, settings)
        render_machine_arn = self._states_arn("stateMachine", self._state_machine_name(RENDER_STATE_MACHINE))
        webhook_machine_arn = self._states_arn(
            "stateMachine", self._state_machine_name(WEBHOOK_STATE_MACHINE)
        )
        self.chalice, self.s3_subscriptions = self._chalice_app(
            project_dir,
            dependencies,
            {
                **settings,
                "TAILORCAST_VOICE_FUNCTION_NAME": self.voice_function.function_name,
                "TAILORCAST_RENDER_STATE_MACHINE_ARN": render_machine_arn,
                "TAILORCAST_WEBHOOK_STATE_MACHINE_ARN": webhook_machine_arn,
                "TAILORCAST_RENDER_CONCURRENCY": str(RENDER_CONCURRENCY),
                # Spelled from deterministic names: every function shares the role that may
                # invoke them, and a Ref would make the tasks depend on one another's names.
                **{variable: self._function_name(task) for task, variable in STARTED_TASKS.items()},
            },
        )
        for subscription in self.s3_subscriptions:
            self._subscribe(subscription)
        self.functions = self._resources_of_type("AWS::Serverless::Function")
        self._unknown_routes_answer_404()
        self.post_confirmation_function_id = self._post_confirmation_trigger()
        self.task_failures = self._task_failures_queue(stateful_removal)
        self.background_task_ids = self._background_tasks()
        self.function_log_groups = self._function_log_groups(stateful_removal)
        self.api_access_logs = self._api_access_logs(stateful_removal)

        # The front door routes /w/* and /assets/* to the REST API, so it is built after the app;
        # its URL is then added to every function's environment (see _call_api_functions_by_name:
        # the API names its functions by spelled ARNs, so this closes no dependency cycle).
        self.front_door = self._front_door()
        self.front_door_url = f"https://{self.front_door.distribution_domain_name}"
        for variable in ("TAILORCAST_WATCH_BASE_URL", "TAILORCAST_MEDIA_BASE_URL"):
            for function_id in self.functions:
                self.chalice.add_environment_variable(variable, self.front_door_url, function_id)
            self.voice_function.add_environment(variable, self.front_door_url)
        # Only the API serves the watch routes that check the front door's header.
        self.chalice.add_environment_variable(
            "TAILORCAST_ORIGIN_VERIFY_SECRET",
            self.origin_verify_secret.secret_value.unsafe_unwrap(),
            API_FUNCTION,
        )
        for role_id in self._resources_of_type("AWS::IAM::Role"):
            role = self.chalice.get_role(role_id)
            # The API runs the voice engines by invoking this one function (by name).
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[self.voice_function.function_arn],
                )
            )
            self.table.grant_read_write_data(role)
            self.uploads_bucket.grant_read_write(role)
            self.media_bucket.grant_read_write(role)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        "mediaconvert:CreateJob",
                        "mediaconvert:GetJob",
                        "mediaconvert:DescribeEndpoints",
                    ],
                    resources=["*"],
                )
            )
            self.mediaconvert_role.grant_pass_role(role)
            self._grant_render_control(role)
            # Publishing a webhook event starts one delivery execution; nothing else on it.
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[webhook_machine_arn])
            )
            self._grant_sealing(role)
            self._grant_engagement(role)
            self._grant_accounts(role)
            self._grant_background_tasks(role)

        self.state_machines = self._state_machines(
            definitions_dir or state_machines.DEFINITIONS_DIR, stateful_removal
        )

        for name, value in {
            "TableName": self.table.table_name,
            "UploadsBucketName": self.uploads_bucket.bucket_name,
            "MediaBucketName": self.media_bucket.bucket_name,
            "UserPoolId": self.user_pool.user_pool_id,
            "UserPoolClientId": self.user_pool_client.user_pool_client_id,
            "JwtIssuer": self.jwt_issuer,
            "VoiceFunctionName": self.voice_function.function_name,
            "FrontDoorUrl": self.front_door_url,
            "FrontDoorDistributionId": self.front_door.distribution_id,
            "MediaKeyPairId": self.media_public_key.public_key_id,
            "WatchSecretName": self.watch_secret_name,
            "SealingKeyArn": self.sealing_key.key_arn,
            "AnalyticsBucketName": self.analytics_bucket.bucket_name,
            "EventsStreamName": self.events_stream.ref,
            "AthenaWorkGroupName": self.athena_workgroup.ref,
            "StripeSecretName": self.stripe_secret_name,
            "EmailSenderDomain": self.sender_domain,
            "EmailConfigurationSetName": self.email_configuration_set.configuration_set_name,
            "ApiAccessLogGroupName": self.api_access_logs.log_group_name,
            "TaskFailuresQueueUrl": self.task_failures.queue_url,
        }.items():
            CfnOutput(self, name, value=value)

    # -- data -------------------------------------------------------------------------------

    def _table(self, removal_policy: RemovalPolicy) -> dynamodb.Table:
        definition = schema.table_definition(f"tailorcast-{self.stage}")
        unmapped = definition.keys() - {
            "TableName",
            "BillingMode",
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        }
        if unmapped:
            raise ValueError(f"table_definition sets {sorted(unmapped)}; map them in the stack")
        if definition["BillingMode"] != "PAY_PER_REQUEST":
            raise ValueError(f"unsupported BillingMode {definition['BillingMode']!r}")

        types = {
            attribute["AttributeName"]: attribute["AttributeType"]
            for attribute in definition["AttributeDefinitions"]
        }
        table = dynamodb.Table(
            self,
            "Table",
            table_name=definition["TableName"],
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
            **_key_props(definition["KeySchema"], types),
        )
        for index in definition.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            table.add_global_secondary_index(
                index_name=index["IndexName"],
                projection_type=dynamodb.ProjectionType[projection["ProjectionType"]],
                non_key_attributes=projection.get("NonKeyAttributes"),
                **_key_props(index["KeySchema"], types),
            )
        for index in definition.get("LocalSecondaryIndexes", []):
            projection = index["Projection"]
            keys = [k for k in index["KeySchema"] if k["KeyType"] == "RANGE"]
            table.add_local_secondary_index(
                index_name=index["IndexName"],
                sort_key=_key_props(keys, types)["sort_key"],
                projection_type=dynamodb.ProjectionType[projection["ProjectionType"]],
                non_key_attributes=projection.get("NonKeyAttributes"),
            )
        return table

    def _media_bucket(self) -> s3.Bucket:
        """Rendered media. A lapsed account's objects (tagged ``lapsed=true`` by the product when
        the account lapses) expire 2 years after they were written (docs/retention.md)."""
        key, value = LAPSED_TAG
        return s3.Bucket(
            self,
            "MediaBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                *_cleanup_rules(),
                s3.LifecycleRule(
                    id="expire-lapsed-accounts-media",
                    tag_filters={key: value},
                    expiration=Duration.days(LAPSED_MEDIA_DAYS),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _uploads_bucket(self, origins: Sequence[str]) -> s3.Bucket:
        return s3.Bucket(
            self,
            "UploadsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            event_bridge_enabled=False,
            # Browsers upload with presigned POSTs straight to the bucket.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=list(origins),
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ],
            lifecycle_rules=[
                *_cleanup_rules(),
                # Prospect exports hold personal data and are fetched through links that live an
                # hour by default: they are not kept.
                s3.LifecycleRule(id="expire-exports", prefix="exports/", expiration=Duration.days(1)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    # -- engagement analytics ---------------------------------------------------------------

    def _analytics_bucket(self) -> s3.Bucket:
        """Where Firehose writes the events and Athena its results."""
        return s3.Bucket(
            self,
            "AnalyticsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                *_cleanup_rules(),
                s3.LifecycleRule(
                    id="expire-athena-results",
                    prefix=analytics_schema.ATHENA_RESULTS_PREFIX,
                    expiration=Duration.days(ATHENA_RESULTS_DAYS),
                ),
                # Retention: raw engagement events (and the records Firehose could not deliver)
                # 1 year, aggregates 5 years (docs/retention.md).
                s3.LifecycleRule(
                    id="expire-raw-events",
                    prefix=analytics_schema.EVENTS_PREFIX,
                    expiration=Duration.days(RAW_EVENTS_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-undelivered-events",
                    prefix=analytics_schema.ERRORS_PREFIX,
                    expiration=Duration.days(RAW_EVENTS_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-aggregates",
                    prefix=AGGREGATES_PREFIX,
                    expiration=Duration.days(AGGREGATES_DAYS),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _events_stream(self, removal_policy: RemovalPolicy) -> firehose.CfnDeliveryStream:
        """The Firehose stream the API puts engagement events on (``events/dt=YYYY-MM-DD/``).

        Records are JSON lines written uncompressed, as the events table's OpenX JSON SerDe reads
        them. The stream writes as its own role, to its two prefixes only.
        """
        name = f"tailorcast-{self.stage}-events"
        bucket = self.analytics_bucket
        log_group = logs.LogGroup(
            self,
            "EventsStreamLogs",
            log_group_name=f"/aws/kinesisfirehose/{name}",
            retention=LOG_RETENTION,
            removal_policy=removal_policy,
        )
        log_stream = logs.LogStream(
            self, "EventsStreamS3Delivery", log_group=log_group, removal_policy=removal_policy
        )
        prefixes = (analytics_schema.EVENTS_PREFIX, analytics_schema.ERRORS_PREFIX)
        role = iam.Role(
            self,
            "EventsStreamRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": self.account}}
            ),
            description=f"Firehose {name}: write events to the analytics bucket",
            # Inline, so the stream (which checks its role on creation) depends on the policy too.
            inline_policies={
                "delivery": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=[
                                "s3:GetBucketLocation",
                                "s3:ListBucket",
                                "s3:ListBucketMultipartUploads",
                            ],
                            resources=[bucket.bucket_arn],
                        ),
                        iam.PolicyStatement(
                            actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
                        ),
                        iam.PolicyStatement(
                            actions=["logs:PutLogEvents"],
                            resources=[log_group.log_group_arn],
                        ),
                    ]
                )
            },
        )
        S3Destination = firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty
        return firehose.CfnDeliveryStream(
            self,
            "EventsStream",
            delivery_stream_name=name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                    key_type="AWS_OWNED_CMK"
                )
            ),
            extended_s3_destination_configuration=S3Destination(
                bucket_arn=bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=EVENTS_PREFIX,
                error_output_prefix=EVENTS_ERROR_PREFIX,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=EVENTS_BUFFER_SECONDS, size_in_m_bs=EVENTS_BUFFER_MIB
                ),
                compression_format="UNCOMPRESSED",
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )

    def _analytics_catalog(self) -> tuple[glue.CfnDatabase, glue.CfnTable]:
        """The Glue database and the events table, as ``analytics_schema.glue_table_input`` says.

        The table uses partition projection: no partition is ever registered.
        """
        # Glue and Athena names: lower case letters, digits and underscores.
        database_name = re.sub(r"[^a-z0-9_]", "_", f"tailorcast_{self.stage}".lower())
        database = glue.CfnDatabase(
            self,
            "AnalyticsDatabase",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description=f"Tailorcast {self.stage} engagement analytics"
            ),
        )
        table_input = analytics_schema.glue_table_input(self.analytics_bucket.bucket_name, EVENTS_TABLE)
        table = glue.CfnTable(
            self,
            "EventsTable",
            catalog_id=self.account,
            database_name=database.ref,
            table_input=glue.CfnTable.TableInputProperty(name=table_input["Name"]),
        )
        # CloudFormation's TableInput is Glue's CreateTable TableInput, key for key: the shared
        # definition goes in as is rather than restated field by field.
        table.add_property_override("TableInput", table_input)
        return database, table

    def _athena_workgroup(self) -> athena.CfnWorkGroup:
        """The workgroup every analytics query runs in: results in the analytics bucket, enforced."""
        output = f"s3://{self.analytics_bucket.bucket_name}/{analytics_schema.ATHENA_RESULTS_PREFIX}"
        return athena.CfnWorkGroup(
            self,
            "AthenaWorkGroup",
            name=f"tailorcast-{self.stage}",
            description=f"Tailorcast {self.stage} engagement analytics",
            state="ENABLED",
            # Deleting the stack deletes the workgroup's saved queries and history too.
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=ATHENA_BYTES_SCANNED_CUTOFF,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=output,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _grant_engagement(self, role: iam.IRole) -> None:
        """What the app needs of the watch page's secret and of the analytics, and no more.

        Put events on the one stream; run, watch and stop queries in the one workgroup; read the
        events table's definition; read the events and read/write the query results (Athena reads
        and writes S3 as its caller).
        """
        self.watch_secret.grant_read(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[self.events_stream.attr_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                resources=[
                    self.format_arn(
                        service="athena", resource="workgroup", resource_name=self.athena_workgroup.ref
                    )
                ],
            )
        )
        database = self.analytics_database.ref
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                resources=[
                    self.format_arn(service="glue", resource="catalog"),
                    self.format_arn(service="glue", resource="database", resource_name=database),
                    self.format_arn(
                        service="glue", resource="table", resource_name=f"{database}/{self.events_table.ref}"
                    ),
                ],
            )
        )
        bucket = self.analytics_bucket
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{analytics_schema.EVENTS_PREFIX}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[bucket.arn_for_objects(f"{analytics_schema.ATHENA_RESULTS_PREFIX}*")],
            )
        )

    # -- secrets kept in the table ----------------------------------------------------------

    def _sealing_key(self, removal_policy: RemovalPolicy) -> kms.Key:
        """The customer-managed key that seals secrets the app stores and uses again (webhook
        signing secrets): rotated yearly, every use in CloudTrail with its encryption context."""
        return kms.Key(
            self,
            "SealingKey",
            description=f"Tailorcast {self.stage}: seals the secrets stored in the table",
            enable_key_rotation=True,
            key_spec=kms.KeySpec.SYMMETRIC_DEFAULT,
            key_usage=kms.KeyUsage.ENCRYPT_DECRYPT,
            pending_window=Duration.days(30),
            removal_policy=removal_policy,
        )

    def _grant_sealing(self, role: iam.IRole) -> None:
        """Encrypt (registering an endpoint) and decrypt (delivering to it) under the sealing key,
        only with a webhook signing secret's encryption context, and nothing else on the key.

        The Chalice functions share one role, so the API and the delivery task hold the grant
        together; the voice function, the state machines and MediaConvert do not.
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt", "kms:Decrypt"],
                resources=[self.sealing_key.key_arn],
                conditions={"StringEquals": {"kms:EncryptionContext:purpose": WEBHOOK_SECRET_PURPOSE}},
            )
        )

    # -- the watch page's delivery ----------------------------------------------------------

    def _watch_secret(self, removal_policy: RemovalPolicy) -> secretsmanager.Secret:
        """``{"cookie_private_key": <PEM>, "session_key": <random>}``: the watch page signs the
        CloudFront cookies with the first and its session tokens with the second.

        The session key is generated; the private key is a placeholder the operator replaces
        (README § Watch secret), since its public half must be in the stack (the key group).
        """
        secret = secretsmanager.Secret(
            self,
            "WatchSecret",
            secret_name=self.watch_secret_name,
            description="Tailorcast watch page: CloudFront cookie signing key and session key",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"cookie_private_key": COOKIE_KEY_PLACEHOLDER}),
                generate_string_key="session_key",
                # 64 letters and digits: 381 bits, and valid base64 (48 bytes) as it stands.
                password_length=64,
                exclude_punctuation=True,
                include_space=False,
            ),
        )
        secret.apply_removal_policy(removal_policy)
        return secret

    def _origin_verify_secret(self) -> secretsmanager.Secret:
        """The value CloudFront adds as ``X-Origin-Verify`` to what it sends the API, and the API
        expects on its public watch routes (``TAILORCAST_ORIGIN_VERIFY_SECRET``).

        Generated here; CloudFormation resolves it into both at deploy time (a dynamic reference:
        the value is in no template, but is readable in the distribution's and the function's
        configuration). Not rotated by itself: a new value reaches both only when a stack update
        touches them, and requests in flight meanwhile would be refused.
        """
        return secretsmanager.Secret(
            self,
            "OriginVerifySecret",
            secret_name=f"tailorcast-{self.stage}-origin-verify",
            description="Tailorcast front door: the header CloudFront sends the API's watch routes",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True, include_space=False
            ),
        )

    def _media_public_key(self, pem: str | None) -> cloudfront.PublicKey:
        """The CloudFront public key the media's signed cookies are checked with."""
        if pem is None:
            pem = CfnParameter(
                self,
                "MediaPublicKeyPem",
                type="String",
                description=(
                    "CloudFront public key (PEM, -----BEGIN PUBLIC KEY-----) of the watch page's "
                    f"cookie signing key pair; or synthesize with -c {MEDIA_PUBLIC_KEY_CONTEXT}=..."
                ),
            ).value_as_string
        return cloudfront.PublicKey(
            self,
            "MediaPublicKey",
            encoded_key=pem,
            comment=f"Tailorcast {self.stage}: watch page signed cookies",
        )

    def _front_door(self) -> cloudfront.Distribution:
        """CloudFront: one https origin for everything a prospect sees.

        ``/w/*`` (watch page, beacons) and ``/assets/*`` go to the REST API; every other path is a
        media bucket key, read through Origin Access Control. Media needs the watch page's signed
        cookies, except posters and previews (``PUBLIC_MEDIA_PATHS``). No cache key includes
        cookies or query strings, so a campaign's shared base segments are cached once for every
        prospect.
        """
        key_group = cloudfront.KeyGroup(
            self,
            "MediaKeyGroup",
            items=[self.media_public_key],
            comment=f"Tailorcast {self.stage}: watch page signed cookies",
        )
        media = origins.S3BucketOrigin.with_origin_access_control(self.media_bucket)
        rest_api = self.chalice.get_resource("RestAPI").ref
        api = origins.HttpOrigin(
            f"{rest_api}.execute-api.{self.region}.{self.url_suffix}",
            origin_path=f"/{API_GATEWAY_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            # Proof, on every request CloudFront sends the API, that it came through here: the
            # watch routes refuse any other (and believe no CloudFront-Viewer-Address without it).
            custom_headers={ORIGIN_VERIFY_HEADER: self.origin_verify_secret.secret_value.unsafe_unwrap()},
        )

        def cache_policy(construct_id: str, ttl: Duration, comment: str) -> cloudfront.CachePolicy:
            return cloudfront.CachePolicy(
                self,
                construct_id,
                comment=comment,
                default_ttl=ttl,
                max_ttl=ttl,
                min_ttl=Duration.seconds(0),
                cookie_behavior=cloudfront.CacheCookieBehavior.none(),
                header_behavior=cloudfront.CacheHeaderBehavior.none(),
                query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            )

        def cache_control(construct_id: str, value: str) -> cloudfront.ResponseHeadersPolicy:
            return cloudfront.ResponseHeadersPolicy(
                self,
                construct_id,
                comment=f"Cache-Control: {value}",
                custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                    custom_headers=[
                        cloudfront.ResponseCustomHeader(header="Cache-Control", value=value, override=True)
                    ]
                ),
            )

        long_cache = cache_policy(
            "LongCachePolicy",
            Duration.seconds(LONG_TTL_SECONDS),
            "Tailorcast immutable media and assets: no cookies or query strings in the key",
        )
        playlist_cache = cache_policy(
            "PlaylistCachePolicy",
            Duration.seconds(PLAYLIST_TTL_SECONDS),
            "Tailorcast HLS playlists: short-lived, no cookies or query strings in the key",
        )
        immutable = cache_control("ImmutableHeaders", IMMUTABLE_CACHE_CONTROL)
        api_requests = cloudfront.OriginRequestPolicy(
            self,
            "ApiRequestPolicy",
            comment="Tailorcast watch page and beacons: the viewer's user agent and address",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*API_FORWARDED_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )

        def media_behavior(
            cache: cloudfront.ICachePolicy,
            headers: cloudfront.IResponseHeadersPolicy,
            key_groups: Sequence[cloudfront.IKeyGroup],
        ) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=media,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache,
                response_headers_policy=headers,
                trusted_key_groups=list(key_groups) or None,
                compress=True,
            )

        signed = [key_group]
        behaviors = {
            WATCH_PATHS: cloudfront.BehaviorOptions(
                origin=api,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=api_requests,
                compress=True,
            ),
            ASSET_PATHS: cloudfront.BehaviorOptions(
                origin=api,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=long_cache,
                compress=True,
            ),
            PLAYLIST_PATHS: media_behavior(
                playlist_cache, cache_control("PlaylistHeaders", PLAYLIST_CACHE_CONTROL), signed
            ),
            **{path: media_behavior(long_cache, immutable, []) for path in PUBLIC_MEDIA_PATHS},
        }
        return cloudfront.Distribution(
            self,
            "FrontDoor",
            comment=f"Tailorcast {self.stage}: watch pages, assets, beacons and media",
            default_behavior=media_behavior(long_cache, immutable, signed),
            additional_behaviors=behaviors,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )

    # -- auth -------------------------------------------------------------------------------

    def _user_pool(
        self, removal_policy: RemovalPolicy, email_via_ses: bool
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        """Self sign-up by email, verified by a code; reset by email; a public app client.

        The email is the username, compared case-insensitively (``Alice@x`` and ``alice@x`` are one
        user, never two accounts). ``prevent_user_existence_errors``: sign-in and password reset
        answer the same for an unknown email as for a wrong password, so they cannot be used to
        find out who has an account; sign-up still says a taken email is taken (Cognito's
        ``UsernameExistsException``), which the product needs to tell the user what to do.
        """
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"tailorcast-{self.stage}",
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            self_sign_up_enabled=True,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            # A changed email takes effect only once its code is confirmed.
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            user_verification=cognito.UserVerificationConfig(
                email_style=cognito.VerificationEmailStyle.CODE,
                email_subject="Your Tailorcast verification code",
                email_body="Your Tailorcast verification code is {####}. It expires in 24 hours.",
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_uppercase=True,
                require_lowercase=True,
                require_digits=True,
                require_symbols=False,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=self.stage == PROD_STAGE,
            removal_policy=removal_policy,
        )
        if email_via_ses:
            # Codes go out through the stack's SES identity (and its configuration set) rather
            # than Cognito's built-in sender. Cognito checks the identity is verified.
            pool_resource: cognito.CfnUserPool = pool.node.default_child  # type: ignore[assignment]
            pool_resource.add_property_override(
                "EmailConfiguration",
                {
                    "EmailSendingAccount": "DEVELOPER",
                    "From": self.notifications_from_address,
                    "SourceArn": self._ses_identity_arn(),
                    "ConfigurationSet": self.email_configuration_set.configuration_set_name,
                },
            )
        client = pool.add_client(
            "WebClient",
            user_pool_client_name=f"tailorcast-{self.stage}-public",
            # A public client (the CLI, the console): no secret, sign-in by password over the API.
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True),
            disable_o_auth=True,
            access_token_validity=Duration.hours(ACCESS_TOKEN_HOURS),
            id_token_validity=Duration.hours(ACCESS_TOKEN_HOURS),
            refresh_token_validity=Duration.days(REFRESH_TOKEN_DAYS),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        return pool, client

    def _post_confirmation_trigger(self) -> str | None:
        """Make ``on_post_confirmation`` the pool's PostConfirmation trigger.

        The trigger is named by a spelled ARN, as the API names its functions: the function's
        environment names the pool, so a ``Fn::GetAtt`` from the pool back to it would be a
        cycle. The function gets a deterministic name for that; the invoke permission references
        both, so it exists once both do. Without the function, sign-ups would make no account:
        the synth is flagged with an error (``cdk synth``/``deploy`` refuse it).

        Returns
        -------
        str | None
            The function's logical id, or ``None`` when ``app.py`` does not define it.
        """
        function_id = to_cfn_resource_name(POST_CONFIRMATION_FUNCTION)
        if function_id not in self.functions:
            Annotations.of(self).add_error(
                f"app.py defines no @app.lambda_function(name={POST_CONFIRMATION_FUNCTION!r}): "
                "the user pool's PostConfirmation trigger, which creates a confirmed user's account"
            )
            return None
        name = self._name_function(POST_CONFIRMATION_FUNCTION)
        function = self.functions[function_id]
        pool_resource: cognito.CfnUserPool = self.user_pool.node.default_child  # type: ignore[assignment]
        pool_resource.add_property_override(
            "LambdaConfig.PostConfirmation",
            self.format_arn(
                service="lambda",
                resource="function",
                resource_name=name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        )
        lambda_.CfnPermission(
            self,
            "PostConfirmationInvokePermission",
            action="lambda:InvokeFunction",
            function_name=function.get_att("Arn").to_string(),
            principal="cognito-idp.amazonaws.com",
            source_account=self.account,
            source_arn=self.user_pool.user_pool_arn,
        )
        return function_id

    def _function_name(self, chalice_name: str) -> str:
        """The deterministic name of the Chalice function ``@app.lambda_function(name=...)`` or
        ``@app.schedule(name=...)`` defines: ``tailorcast-<stage>-<logical id>``."""
        name = f"tailorcast-{self.stage}-{to_cfn_resource_name(chalice_name)}"
        if len(name) > 64:
            raise PackagingError(f"Lambda function name {name!r} is over 64 characters")
        return name

    def _name_function(self, chalice_name: str) -> str:
        """Give a packaged Chalice function its deterministic name; returns the name."""
        name = self._function_name(chalice_name)
        self.functions[to_cfn_resource_name(chalice_name)].add_property_override("FunctionName", name)
        return name

    # -- the account's background jobs ------------------------------------------------------

    def _task_failures_queue(self, removal_policy: RemovalPolicy) -> sqs.Queue:
        """Where an asynchronous task's run lands once Lambda has given up on it: the event as it
        was sent (``requestPayload``) and why it failed, kept 14 days, encrypted, TLS only.

        An alarm goes off on the first message (it has no action: subscribe one, README § Account
        jobs). Messages carry account ids, never a prospect's data.
        """
        queue = sqs.Queue(
            self,
            "TaskFailures",
            queue_name=f"tailorcast-{self.stage}-task-failures",
            retention_period=TASK_FAILURE_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        cloudwatch.Alarm(
            self,
            "TaskFailuresAlarm",
            alarm_name=f"tailorcast-{self.stage}-task-failures",
            alarm_description="A Tailorcast background task (export, deletion, digest) failed for good",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return queue

    def _background_tasks(self) -> dict[str, str]:
        """Name, size and give an on-failure destination to the account's background tasks.

        The export and the deletion get their deterministic names (the API invokes them by the
        names in ``TAILORCAST_EXPORT_FUNCTION_NAME``/``_DELETION_FUNCTION_NAME``); without either,
        the API's ``POST /account/export`` or ``/account/deletion`` could start nothing, so the
        synth is flagged with an error. The digest, when the app schedules it, is sized and
        given the same destination.

        Returns
        -------
        dict[str, str]
            Task name → logical id, for the tasks ``app.py`` defines.
        """
        # Lambda refuses a destination the function's role may not send to: the configuration
        # waits for the roles' policies (the grant is _grant_background_tasks').
        roles = [self.chalice.get_role(role_id) for role_id in self._resources_of_type("AWS::IAM::Role")]
        found = {}
        for task, (timeout, memory) in TASK_SIZES.items():
            function_id = to_cfn_resource_name(task)
            if function_id not in self.functions:
                if task in STARTED_TASKS:
                    Annotations.of(self).add_error(
                        f"app.py defines no @app.lambda_function(name={task!r}): "
                        f"the API starts it by the name in {STARTED_TASKS[task]}"
                    )
                continue
            if task in STARTED_TASKS:
                self._name_function(task)
            function = self.functions[function_id]
            function.add_property_override("Timeout", int(timeout.to_seconds()))
            function.add_property_override("MemorySize", memory)
            config = lambda_.CfnEventInvokeConfig(
                self,
                f"{function_id}InvokeConfig",
                function_name=function.ref,
                qualifier="$LATEST",
                maximum_retry_attempts=TASK_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(TASK_MAX_EVENT_AGE.to_seconds()),
                destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                    on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                        destination=self.task_failures.queue_arn
                    )
                ),
            )
            for role in roles:
                config.node.add_dependency(role)
            found[task] = function_id
        return found

    def _grant_background_tasks(self, role: iam.IRole) -> None:
        """Start the export and the deletion (by their spelled ARNs: no reference, no cycle), and
        send a failed run to the task-failures queue (Lambda sends it as the function's role).

        What the tasks do needs nothing more: the buckets' read/write grant covers the export's
        zip (``account-exports/`` in uploads) and its presigned link, and the deletion's listing
        and deleting under every prefix of the account; AdminDeleteUser and the Stripe secret are
        :meth:`_grant_accounts`'.
        """
        arns = [
            self.format_arn(
                service="lambda",
                resource="function",
                resource_name=self._function_name(task),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for task in STARTED_TASKS
        ]
        role.add_to_principal_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=arns))
        self.task_failures.grant_send_messages(role)

    # -- billing and email ------------------------------------------------------------------

    def _parameter(self, name: str, description: str) -> str:
        return CfnParameter(self, name, type="String", min_length=1, description=description).value_as_string

    def _stripe_secret(self, removal_policy: RemovalPolicy) -> secretsmanager.Secret:
        """``{"api_key": "sk_…", "webhook_secrets": ["whsec_…", …]}``, stored by the operator
        (README § Stripe secret); created holding a placeholder that makes no Stripe call work
        and refuses every webhook.

        CloudFormation writes the placeholder only when the secret is created (or when this
        template's value changes): the operator's value is not overwritten by later deploys.
        """
        secret = secretsmanager.Secret(
            self,
            "StripeSecret",
            secret_name=self.stripe_secret_name,
            description="Tailorcast billing: Stripe API key and webhook signing secrets (JSON)",
            secret_string_value=SecretValue.unsafe_plain_text(json.dumps(STRIPE_SECRET_PLACEHOLDER)),
        )
        secret.apply_removal_policy(removal_policy)
        return secret

    def _email(self) -> tuple[ses.ConfigurationSet, ses.EmailIdentity]:
        """The SES identity of the sender domain (Easy DKIM), and the configuration set every
        message sent through it uses by default: reputation metrics, and bounced or complaining
        addresses suppressed so the account's sending reputation is not spent on them."""
        configuration_set = ses.ConfigurationSet(
            self,
            "EmailConfigurationSet",
            configuration_set_name=f"tailorcast-{self.stage}",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
        )
        identity = ses.EmailIdentity(
            self,
            "SenderIdentity",
            identity=ses.Identity.domain(self.sender_domain),
            configuration_set=configuration_set,
        )
        return configuration_set, identity

    def _ses_identity_arn(self) -> str:
        return self.format_arn(service="ses", resource="identity", resource_name=self.sender_domain)

    def _grant_accounts(self, role: iam.IRole) -> None:
        """What accounts, billing and notifications need, and no more.

        Read the Stripe secret (the API calls Stripe and verifies its webhooks); send email from
        the sender address only, through the stack's identity and configuration set; delete a
        user of this pool (account deletion and member removal; sign-up, sign-in, sign-out and
        password calls are the public client's and need no IAM).
        """
        self.stripe_secret.grant_read(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    self._ses_identity_arn(),
                    self.format_arn(
                        service="ses",
                        resource="configuration-set",
                        resource_name=self.email_configuration_set.configuration_set_name,
                    ),
                ],
                conditions={"StringEquals": {"ses:FromAddress": f"{SENDER_LOCAL_PART}@{self.sender_domain}"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cognito-idp:AdminDeleteUser"],
                resources=[self.user_pool.user_pool_arn],
            )
        )

    # -- logs -------------------------------------------------------------------------------

    def _log_group(self, construct_id: str, name: str, removal_policy: RemovalPolicy) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=LOG_RETENTION,
            removal_policy=removal_policy,
        )

    def _function_log_groups(self, removal_policy: RemovalPolicy) -> dict[str, logs.LogGroup]:
        """One log group per Chalice function, kept 90 days, that the function logs to.

        Lambda's own group (``/aws/lambda/<name>``) is created by Lambda on first use, with no
        retention, and may already exist; a group of the stack's, set as the function's
        ``LoggingConfig``, is created before the function and has the retention from the start.
        """
        groups = {}
        for function_id, function in sorted(self.functions.items()):
            group = self._log_group(
                f"{function_id}Logs", f"/tailorcast/{self.stage}/lambda/{function_id}", removal_policy
            )
            function.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
            groups[function_id] = group
        return groups

    def _api_access_logs(self, removal_policy: RemovalPolicy) -> logs.LogGroup:
        """API Gateway access logs (no path values, bodies, headers or addresses), kept 90 days.

        API Gateway writes them as the account's (per region) CloudWatch role, set here: the
        role is retained, since another stage's API in the same account and region uses it too.
        """
        group = self._log_group("ApiAccessLogs", f"/tailorcast/{self.stage}/api-access", removal_policy)
        role = iam.Role(
            self,
            "ApiGatewayCloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway (account setting): write access logs to CloudWatch Logs",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account = apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        api = self.chalice.get_resource("RestAPI")
        api.add_property_override(
            "AccessLogSetting", {"DestinationArn": group.log_group_arn, "Format": API_ACCESS_LOG_FORMAT}
        )
        # The stage refuses access logging until the account has its CloudWatch role.
        api.add_resource_dependency(account)
        return group

    # -- application ------------------------------------------------------------------------

    def _settings_environment(self) -> dict[str, str]:
        """The ``chalicelib.settings.Settings`` values every function gets by environment.

        The front door's URLs (``TAILORCAST_WATCH_BASE_URL``/``_MEDIA_BASE_URL``) are added once
        the distribution exists, after the app it routes to.
        """
        return {
            "TAILORCAST_STAGE": self.stage,
            "TAILORCAST_TABLE_NAME": self.table.table_name,
            "TAILORCAST_UPLOADS_BUCKET": self.uploads_bucket.bucket_name,
            "TAILORCAST_MEDIA_BUCKET": self.media_bucket.bucket_name,
            "TAILORCAST_AUTH_MODE": "cognito",
            "TAILORCAST_JWT_ISSUER": self.jwt_issuer,
            "TAILORCAST_JWKS_URL": f"{self.jwt_issuer}/.well-known/jwks.json",
            "TAILORCAST_JWT_AUDIENCE": self.user_pool_client.user_pool_client_id,
            "TAILORCAST_COGNITO_USER_POOL_ID": self.user_pool.user_pool_id,
            "TAILORCAST_COGNITO_CLIENT_ID": self.user_pool_client.user_pool_client_id,
            "TAILORCAST_STRIPE_SECRET_NAME": self.stripe_secret_name,
            "TAILORCAST_NOTIFICATIONS_FROM_ADDRESS": self.notifications_from_address,
            "TAILORCAST_APP_BASE_URL": self.app_base_url,
            "TAILORCAST_MEDIACONVERT_ROLE_ARN": self.mediaconvert_role.role_arn,
            "TAILORCAST_WATCH_SECRET_NAME": self.watch_secret_name,
            "TAILORCAST_SEALING_KEY_ID": self.sealing_key.key_arn,
            "TAILORCAST_MEDIA_KEY_PAIR_ID": self.media_public_key.public_key_id,
            "TAILORCAST_ANALYTICS_BUCKET": self.analytics_bucket.bucket_name,
            "TAILORCAST_EVENTS_STREAM_NAME": self.events_stream.ref,
            "TAILORCAST_ANALYTICS_DATABASE": self.analytics_database.ref,
            "TAILORCAST_ANALYTICS_TABLE": self.events_table.ref,
            "TAILORCAST_ATHENA_WORKGROUP": self.athena_workgroup.ref,
            "POWERTOOLS_SERVICE_NAME": "tailorcast",
            "POWERTOOLS_METRICS_NAMESPACE": "Tailorcast",
        }

    def _voice_function(self, project_dir: Path, settings: Mapping[str, str]) -> lambda_.Function:
        """The voice engines' Lambda: a container image, too big for a zip (``layers/README.md``).

        Synth only stages the build context (``chalicelib/`` and ``layers/voice/``) into the
        cloud assembly; ``cdk deploy`` builds and pushes the image, so only deploying needs Docker.
        """
        # An explicit name, so the function can be told its own name without a circular Ref.
        name = f"tailorcast-{self.stage}-voice"
        code = lambda_.DockerImageCode.from_image_asset(
            str(project_dir),
            file=VOICE_DOCKERFILE,
            exclude=dockerignore_patterns(project_dir / f"{VOICE_DOCKERFILE}.dockerignore"),
            ignore_mode=IgnoreMode.DOCKER,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        function = lambda_.DockerImageFunction(
            self,
            "VoiceFunction",
            function_name=name,
            description="Tailorcast voice engines: prepare, synthesize, preview",
            code=code,
            architecture=lambda_.Architecture.X86_64,
            memory_size=3008,
            timeout=Duration.minutes(5),
            tracing=lambda_.Tracing.ACTIVE,
            environment={**settings, "TAILORCAST_VOICE_FUNCTION_NAME": name},
            log_group=self._log_group(
                "VoiceFunctionLogs",
                f"/tailorcast/{self.stage}/lambda/VoiceFunction",
                RemovalPolicy.RETAIN if self.stage == PROD_STAGE else RemovalPolicy.DESTROY,
            ),
        )
        self.table.grant_read_write_data(function)
        self.media_bucket.grant_read_write(function)
        self.uploads_bucket.grant_read(function)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["polly:SynthesizeSpeech", "polly:DescribeVoices"],
                resources=["*"],
            )
        )
        return function

    def _unknown_routes_answer_404(self) -> None:
        """A path no route matches answers 404 in the API's error shape, as the local stack does.

        API Gateway's own answer is 403 "Missing Authentication Token", and with an
        ``Authorization`` header its INCOMPLETE_SIGNATURE message quotes the header back: a bearer
        token echoed in a response. No route here uses IAM (SigV4) auth, so both mean "no such
        route". The body names nothing the client sent.
        """
        body = json.dumps(
            {
                "error": {
                    "code": "not_found",
                    "message": "no API route matches this path",
                    "fields": [],
                    "request_id": "$context.requestId",
                }
            }
        )
        not_found = {"StatusCode": "404", "ResponseTemplates": {"application/json": body}}
        self.chalice.get_resource("RestAPI").add_property_override(
            "GatewayResponses",
            {"MISSING_AUTHENTICATION_TOKEN": not_found, "INCOMPLETE_SIGNATURE": not_found},
        )

    def _chalice_app(
        self, project_dir: Path, dependencies: Dependencies, environment: Mapping[str, str]
    ) -> tuple[Chalice, tuple[S3Subscription, ...]]:
        stage_config = {
            "api_gateway_stage": API_GATEWAY_STAGE,
            # Behind our own CloudFront: an edge-optimized API would put a second, AWS-managed
            # distribution in the path, and the viewer's CloudFront-* headers would be its own.
            "api_gateway_endpoint_type": "REGIONAL",
            "automatic_layer": False,
            "xray": True,
            "environment_variables": dict(environment),
        }
        region = self.region if not Token.is_unresolved(self.region) else None
        with tempfile.TemporaryDirectory(prefix="tailorcast-chalice-") as staging:
            if dependencies == REQUIREMENTS:
                source_dir = project_dir
            else:
                vendor = None if dependencies == APP_ONLY else Path(dependencies)
                source_dir = stage_project(project_dir, Path(staging), vendor)
            with (
                isolated_app_import(region or _FALLBACK_PACKAGING_REGION),
                captured_s3_subscriptions() as subscriptions,
            ):
                app = Chalice(self, "Api", source_dir=str(source_dir), stage_config=stage_config)
                # pinned chalice==1.34: the construct keeps its `chalice package` output privately
                package_dir = Path(app._sam_package_dir)
                sam_template = json.loads((package_dir / "sam.json").read_text())
                broken = unresolvable_handlers(sam_template)
            if broken:
                raise PackagingError(
                    f"Lambda handlers {broken} do not exist in their modules; bind the result "
                    "of each Chalice decorator to a module-level name of the same name"
                )
        self._call_api_functions_by_name(app, sam_template)

        if dependencies == APP_ONLY:
            Annotations.of(self).add_warning_v2(
                "tailorcast:app-only-bundle",
                "Lambda bundle built without third-party packages: do not deploy it.",
            )
        elif dependencies == REQUIREMENTS and (project_dir / "requirements.txt").is_file():
            python = f"{sys.version_info.major}.{sys.version_info.minor}"
            missing = missing_requirements(
                project_dir / "requirements.txt", package_dir / "deployment.zip", python
            )
            if missing:
                raise PackagingError(
                    f"chalice package found no Lambda python{python} build of {missing}; "
                    "pin a version with a compatible wheel or pass prebuilt dependencies"
                )
        return app, tuple(subscriptions)

    def _call_api_functions_by_name(self, app: Chalice, sam_template: Mapping[str, Any]) -> None:
        """Make the REST API name the functions it invokes by spelled ARNs, not ``Fn::GetAtt``.

        The front door routes to the API, and every function is told the front door's URL: with
        ``${APIHandler.Arn}`` in the API's definition that is a cycle (function → distribution →
        API → function). Each function the API invokes gets a deterministic name
        (``tailorcast-<stage>-<logical id>``), as the state machines and the voice function do,
        and the definition spells its ARN from it; API Gateway does not need the function to
        exist when the API is created, and ``APIHandlerInvokePermission`` still references both.

        Raises
        ------
        PackagingError
            If the API refers to a function in a way this does not rewrite, or a name is too long.
        """
        resources = sam_template["Resources"]
        functions = sorted(
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        )
        if not functions:
            return
        names = {function_id: f"tailorcast-{self.stage}-{function_id}" for function_id in functions}
        arn = "arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{}"
        pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, functions)) + r")\.Arn\}")

        def spell(text: str) -> str:
            return pattern.sub(lambda match: arn.format(names[match.group(1)]), text)

        for api_id, api in resources.items():
            if api["Type"] != "AWS::Serverless::Api":
                continue
            definition = api["Properties"]["DefinitionBody"]
            invoked = _logical_ids_referenced(definition) & set(functions)
            if not invoked:
                continue
            body = _map_strings(definition, spell)
            left = _logical_ids_referenced(body) & set(functions)
            if left:
                raise PackagingError(f"{api_id} references functions {sorted(left)} other than by ARN")
            too_long = [names[function_id] for function_id in sorted(invoked) if len(names[function_id]) > 64]
            if too_long:
                raise PackagingError(f"Lambda function names {too_long} are over 64 characters")
            app.get_resource(api_id).add_property_override("DefinitionBody", body)
            for function_id in sorted(invoked):
                app.get_resource(function_id).add_property_override("FunctionName", names[function_id])

    def _subscribe(self, subscription: S3Subscription) -> None:
        if subscription.bucket != self.uploads_bucket.bucket_name:
            raise PackagingError(
                f"@app.on_s3_event handler {subscription.function_logical_id} listens to "
                f"{subscription.bucket!r}; the stack only owns the uploads bucket: read its "
                "name from TAILORCAST_UPLOADS_BUCKET when app.py is imported"
            )
        arn = self.chalice.get_resource(subscription.function_logical_id).get_att("Arn").to_string()
        # same_environment: the function is in this stack, so CDK may add the invoke
        # permission S3 checks when the notification is created.
        function = lambda_.Function.from_function_attributes(
            self,
            f"{subscription.function_logical_id}S3Target",
            function_arn=arn,
            same_environment=True,
        )
        key_filters = (
            [s3.NotificationKeyFilter(prefix=subscription.prefix, suffix=subscription.suffix)]
            if subscription.prefix or subscription.suffix
            else []
        )
        for event in subscription.events:
            self.uploads_bucket.add_event_notification(
                s3_event_type(event), s3n.LambdaDestination(function), *key_filters
            )

    def _resources_of_type(self, resource_type: str) -> dict[str, CfnResource]:
        """Logical id → resource for every resource of a type in Chalice's SAM template."""
        found = {}
        for child in self.chalice.sam_template.node.children:
            if CfnResource.is_cfn_resource(child):
                resource: CfnResource = child  # type: ignore[assignment]
                if resource.cfn_resource_type == resource_type:
                    # CfnInclude names each construct after its logical id in the template.
                    found[resource.node.id] = resource
        return found

    # -- orchestration ----------------------------------------------------------------------

    def _state_machine_name(self, name: str) -> str:
        return f"tailorcast-{self.stage}-{name}"

    def _states_arn(self, resource: str, resource_name: str) -> str:
        """``arn:<partition>:states:<region>:<account>:<resource>:<resource_name>``.

        State machines are named deterministically, so their ARNs are spelled rather than
        referenced: the functions a machine invokes can be told its ARN, and its own role can
        name it, without a circular dependency.
        """
        return self.format_arn(
            service="states",
            resource=resource,
            resource_name=resource_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _grant_render_control(self, role: iam.IRole) -> None:
        """What the app does to the render state machine, and to nothing else.

        The API starts a batch's execution, reads its status and stops it on cancel; the
        MediaConvert event handler answers the task token a prospect's render waits on.
        """
        name = self._state_machine_name(RENDER_STATE_MACHINE)
        machine = self._states_arn("stateMachine", name)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[self._states_arn("execution", f"{name}:*")],
            )
        )
        # Task responses are authorized against the state machine that issued the token (CDK's
        # grantTaskResponse does the same). A token from a Distributed Map's child workflow may
        # name the machine qualified by the map run's label (`stateMachine:NAME/<label>`).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "states:SendTaskSuccess",
                    "states:SendTaskFailure",
                    "states:SendTaskHeartbeat",
                ],
                resources=[machine, self._states_arn("stateMachine", f"{name}/*")],
            )
        )

    def _state_machines(
        self, definitions_dir: Path, removal_policy: RemovalPolicy
    ) -> dict[str, sfn.StateMachine]:
        function_arns = {
            f"{logical_id}FunctionArn": function.get_att("Arn").to_string()
            for logical_id, function in self.functions.items()
        }
        # The voice function is the stack's, not Chalice's; definitions name it as the local stack
        # does, as if it were a task Lambda called `voice`.
        voice = state_machines.function_placeholder("voice")
        if voice in function_arns:
            raise PackagingError(f"a Chalice function's {voice} would shadow the voice function's")
        function_arns[voice] = self.voice_function.function_arn
        substitutions = {
            **function_arns,
            "TableName": self.table.table_name,
            "UploadsBucket": self.uploads_bucket.bucket_name,
            "MediaBucket": self.media_bucket.bucket_name,
        }
        machines = {}
        for name, path in state_machines.definition_files(definitions_dir).items():
            definition = state_machines.load_definition(path, substitutions)
            construct_name = _pascal(name)
            log_group = logs.LogGroup(
                self,
                f"{construct_name}StateMachineLogs",
                # The vendedlogs prefix keeps CloudWatch's resource policy from growing per group.
                log_group_name=f"/aws/vendedlogs/states/tailorcast-{self.stage}-{name}",
                retention=LOG_RETENTION,
                removal_policy=removal_policy,
            )
            machine = sfn.StateMachine(
                self,
                f"{construct_name}StateMachine",
                state_machine_name=self._state_machine_name(name),
                definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
                # No execution data in logs: state carries prospects' names and emails.
                logs=sfn.LogOptions(
                    destination=log_group,
                    level=sfn.LogLevel.ALL,
                    include_execution_data=False,
                ),
                tracing_enabled=True,
            )
            self._grant_definition_access(
                machine, state_machines.placeholders(path.read_text()), function_arns
            )
            self._grant_distributed_maps(machine, name, distributed_maps(definition))
            machines[name] = machine
        return machines

    def _grant_definition_access(
        self,
        machine: sfn.StateMachine,
        used: set[str],
        function_arns: Mapping[str, str],
    ) -> None:
        """Grant a state machine what its definition's placeholders point at, and no more."""
        invoked = sorted(function_arns[name] for name in used if name in function_arns)
        if invoked:
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=invoked + [f"{arn}:*" for arn in invoked],
                )
            )
        if "TableName" in used:
            self.table.grant_read_write_data(machine)
        if "UploadsBucket" in used:
            self.uploads_bucket.grant_read_write(machine)
        if "MediaBucket" in used:
            self.media_bucket.grant_read_write(machine)

    def _grant_distributed_maps(
        self, machine: sfn.StateMachine, name: str, maps: Sequence[Mapping[str, Any]]
    ) -> None:
        """Let a machine's Distributed Maps run: child workflows are executions of the machine
        itself, started, watched and stopped by its own role; an ``ItemReader`` reads S3.

        Raises
        ------
        PackagingError
            If an ``ItemReader`` reads anything but one object (``s3:getObject``).
        """
        if not maps:
            return
        full_name = self._state_machine_name(name)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[self._states_arn("stateMachine", full_name)],
            )
        )
        # AWS documents `execution:NAME:*`; child workflows' ARNs are `execution:NAME/<label>:…`.
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[
                    self._states_arn("execution", f"{full_name}:*"),
                    self._states_arn("execution", f"{full_name}/*"),
                ],
            )
        )
        readers = {m["ItemReader"]["Resource"] for m in maps if "ItemReader" in m}
        unmapped = readers - {"arn:aws:states:::s3:getObject"}
        if unmapped:
            raise PackagingError(f"{name}: ItemReader {sorted(unmapped)} is not mapped in the stack")
        if readers:
            # The reader's bucket and key come from the execution's state, so IAM cannot follow
            # the definition: prepare_batch writes every manifest to the media bucket.
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.media_bucket.arn_for_objects(RENDER_MANIFEST_KEYS)],
                )
            )


def distributed_maps(definition: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``Map`` state in ``DISTRIBUTED`` mode of an ASL definition, nested ones included."""
    found: list[Mapping[str, Any]] = []
    for state in definition.get("States", {}).values():
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        mode = processor.get("ProcessorConfig", {}).get("Mode")
        if state.get("Type") == "Map" and mode == "DISTRIBUTED":
            found.append(state)
        for graph in (processor, *state.get("Branches", [])):
            found.extend(distributed_maps(graph))
    return found


def _map_strings(value: Any, function: Callable[[str], str]) -> Any:
    """``value`` (parsed JSON) with ``function`` applied to every string in it, keys excepted."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, function) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, function) for item in value]
    return value


def _logical_ids_referenced(value: Any) -> set[str]:
    """Logical ids a CloudFormation fragment references: ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else str(item).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else item
                names = {name.split(".", 1)[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= names - set(variables)
                found |= _logical_ids_referenced(variables)
                continue
            found |= _logical_ids_referenced(item)
    elif isinstance(value, list):
        for item in value:
            found |= _logical_ids_referenced(item)
    return found


def dockerignore_patterns(path: Path) -> list[str]:
    """The patterns of a ``.dockerignore`` file (comments and blank lines dropped).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _cleanup_rules() -> list[s3.LifecycleRule]:
    """What every bucket cleans up: parts of uploads never completed, and overwritten or deleted
    versions (no bucket is versioned today; the rule holds if one becomes so)."""
    return [
        s3.LifecycleRule(
            id="abort-incomplete-multipart-uploads",
            abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
        ),
        s3.LifecycleRule(
            id="expire-noncurrent-versions",
            noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
        ),
    ]


def _key_props(key_schema: list[dict[str, str]], types: Mapping[str, str]) -> dict[str, Any]:
    """``partition_key``/``sort_key`` props from a DynamoDB ``KeySchema``."""
    cdk_types = {
        "S": dynamodb.AttributeType.STRING,
        "N": dynamodb.AttributeType.NUMBER,
        "B": dynamodb.AttributeType.BINARY,
    }
    props = {}
    for key in key_schema:
        prop = {"HASH": "partition_key", "RANGE": "sort_key"}[key["KeyType"]]
        name = key["AttributeName"]
        props[prop] = dynamodb.Attribute(name=name, type=cdk_types[types[name]])
    return props


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
