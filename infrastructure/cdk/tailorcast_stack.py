"""One CloudFormation stack per stage: data, auth, the Chalice app, the voice function, the state
machines, the front door (CloudFront) and the engagement analytics (Firehose, Glue, Athena).

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
from collections.abc import Mapping, Sequence
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
    Stack,
    Token,
)
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from chalice.cdk import Chalice
from constructs import Construct

import state_machines
from chalicelib.adapters import analytics_schema
from chalicelib.adapters.dynamodb import schema
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
API_FORWARDED_HEADERS = ("User-Agent", "Accept", "Accept-Language", "Content-Type", "CloudFront-Viewer-Address")
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
# Placeholder for the watch secret's cookie signing key until the operator stores the real one
# (infrastructure/cdk/README.md § Watch secret).
COOKIE_KEY_PLACEHOLDER = "REPLACE-ME: the CloudFront key pair's private key (PEM), see infrastructure/cdk/README.md"


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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        stateful_removal = RemovalPolicy.RETAIN if stage == PROD_STAGE else RemovalPolicy.DESTROY

        self.table = self._table(stateful_removal)
        self.uploads_bucket = self._uploads_bucket(upload_origins)
        self.media_bucket = s3.Bucket(
            self,
            "MediaBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
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
        self.user_pool, self.user_pool_client = self._user_pool(stateful_removal)
        pool_id = self.user_pool.user_pool_id
        self.jwt_issuer = f"https://cognito-idp.{self.region}.{self.url_suffix}/{pool_id}"
        self.analytics_bucket = self._analytics_bucket()
        self.events_stream = self._events_stream(stateful_removal)
        self.analytics_database, self.events_table = self._analytics_catalog()
        self.athena_workgroup = self._athena_workgroup()
        self.watch_secret = self._watch_secret(stateful_removal)
        self.media_public_key = self._media_public_key(media_public_key_pem)

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
            },
        )
        for subscription in self.s3_subscriptions:
            self._subscribe(subscription)
        self.functions = self._resources_of_type("AWS::Serverless::Function")

        # The front door routes /w/* and /assets/* to the REST API, so it is built after the app;
        # its URL is then added to every function's environment (see _call_api_functions_by_name:
        # the API names its functions by spelled ARNs, so this closes no dependency cycle).
        self.front_door = self._front_door()
        self.front_door_url = f"https://{self.front_door.distribution_domain_name}"
        for variable in ("TAILORCAST_WATCH_BASE_URL", "TAILORCAST_MEDIA_BASE_URL"):
            for function_id in self.functions:
                self.chalice.add_environment_variable(variable, self.front_door_url, function_id)
            self.voice_function.add_environment(variable, self.front_door_url)
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
            self._grant_engagement(role)

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
            "WatchSecretName": self.watch_secret.secret_name,
            "AnalyticsBucketName": self.analytics_bucket.bucket_name,
            "EventsStreamName": self.events_stream.ref,
            "AthenaWorkGroup": self.athena_workgroup.ref,
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
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # Prospect exports hold personal data and are fetched through links that live an
                # hour by default: they are not kept.
                s3.LifecycleRule(id="expire-exports", prefix="exports/", expiration=Duration.days(1)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    # -- auth -------------------------------------------------------------------------------

    def _user_pool(
        self,
        removal_policy: RemovalPolicy,
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"tailorcast-{self.stage}",
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=False,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal_policy,
        )
        client = pool.add_client(
            "WebClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
        )
        return pool, client

    # -- application ------------------------------------------------------------------------

    def _settings_environment(self) -> dict[str, str]:
        """The ``chalicelib.settings.Settings`` values every function gets by environment."""
        return {
            "TAILORCAST_STAGE": self.stage,
            "TAILORCAST_TABLE_NAME": self.table.table_name,
            "TAILORCAST_UPLOADS_BUCKET": self.uploads_bucket.bucket_name,
            "TAILORCAST_MEDIA_BUCKET": self.media_bucket.bucket_name,
            "TAILORCAST_AUTH_MODE": "cognito",
            "TAILORCAST_JWT_ISSUER": self.jwt_issuer,
            "TAILORCAST_JWKS_URL": f"{self.jwt_issuer}/.well-known/jwks.json",
            "TAILORCAST_JWT_AUDIENCE": self.user_pool_client.user_pool_client_id,
            "TAILORCAST_MEDIACONVERT_ROLE_ARN": self.mediaconvert_role.role_arn,
            "TAILORCAST_WATCH_SECRET_NAME": self.watch_secret.secret_name,
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
        functions = {
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        }
        for api_id, api in resources.items():
            if api["Type"] != "AWS::Serverless::Api":
                continue
            named: dict[str, str] = {}

            def spell(match: re.Match[str]) -> str:
                function_id = match.group(1)
                name = f"tailorcast-{self.stage}-{function_id}"
                if len(name) > 64:
                    raise PackagingError(f"Lambda function name {name!r} is over 64 characters")
                named[function_id] = name
                return f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"

            pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, sorted(functions))) + r")\.Arn\}")
            body = _map_strings(api["Properties"]["DefinitionBody"], lambda text: pattern.sub(spell, text))
            left = _logical_ids_referenced(body) & functions
            if left:
                raise PackagingError(f"{api_id} still references functions {sorted(left)}")
            if not named:
                continue
            app.get_resource(api_id).add_property_override("DefinitionBody", body)
            for function_id, name in named.items():
                app.get_resource(function_id).add_property_override("FunctionName", name)

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
                retention=logs.RetentionDays.ONE_MONTH,
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


def _map_strings(value: Any, function: Any) -> Any:
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
