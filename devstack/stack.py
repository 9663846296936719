"""``tailorcast up``: the whole AWS side of Tailorcast in one process on 127.0.0.1, offline.

* moto server (DynamoDB, S3, Lambda, Step Functions, IAM, SQS …) with Step Functions execution on;
* Lambda invocations dispatched in-process to the Chalice app's own handlers (``lambdas.py``);
* MediaConvert: the API stand-in in ``mediaconvert/`` (ffmpeg underneath); its job events reach
  the app's ``on_cw_event`` handlers whose EventBridge pattern matches, as in AWS;
* the Chalice HTTP API (``chalice local``'s server, in a thread); a path no route matches answers
  404 in the API's error shape, where API Gateway answers 403 quoting the Authorization header;
* bootstrap of the table, buckets, notifications, functions and state machines from the same
  definitions the cloud uses (``schema.py``, the app's event sources, ``state_machines/``);
* state that survives restarts (``persistence.py``), in a state directory only its owner may read
  (folders 0700, files 0600: ``private.py``);
* the KMS key that seals stored secrets, in moto's KMS, its material kept in the state directory
  (``sealing.py``).

The app is configured only through environment variables, exactly as in Lambda.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import secrets
import threading
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from devstack import cognito, dynamotx, lambdas, outbox
from devstack.cdnkeys import CdnKeys
from devstack.localroutes import LocalRoutes, jwks_path
from devstack.persistence import DynamoJournal, RecordingMiddleware, S3Mirror, moto_reader
from devstack.private import private_dir, tighten, write_private
from devstack.sealing import SealingKey

if TYPE_CHECKING:
    from chalicelib.adapters.cdn import SetCookie

logger = logging.getLogger("devstack")

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
APP_NAME = "tailorcast"
ROLE_NAME = "tailorcast-local-lambda"
S3_SYNC_DEBOUNCE_SECONDS = 0.3
#: The events stream's buffering interval here (CDK: 60 s), so events are queryable in a second.
EVENTS_BUFFER_SECONDS = 1
#: The voice function is not a Chalice function (a container image in AWS); same handler here.
VOICE_FUNCTION = "voice"
#: The user pool's post-confirmation trigger (``chalicelib/tasks/identity.py``).
POST_CONFIRMATION_FUNCTION = "on_post_confirmation"
#: The user pool and its public app client, as CDK names them for the stage.
USER_POOL_NAME = f"{APP_NAME}-{{stage}}-users"
USER_POOL_CLIENT_NAME = f"{APP_NAME}-{{stage}}-public"
#: Cognito's policy for the pool (CDK sets the same).
PASSWORD_POLICY = {
    "MinimumLength": 10,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}


@dataclass(frozen=True)
class SignedIn:
    """What a sign-in returns (Cognito's ``AuthenticationResult``) and the user's ``sub``."""

    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int


def function_name(stage: str, name: str) -> str:
    """Deployed name of a Chalice function, as ``chalice deploy`` names it."""
    return f"{APP_NAME}-{stage}-{name}"


def function_arn(stage: str, name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name(stage, name)}"


def state_machine_arn(stage: str, name: str) -> str:
    """ARN of a state machine loaded from ``state_machines/{name}.asl.json``."""
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{APP_NAME}-{stage}-{name}"


@dataclass(frozen=True)
class Endpoints:
    aws: str
    api: str
    mediaconvert: str
    media: str  # the media gateway (CloudFront's stand-in)
    firehose: str = ""  # the Firehose stand-in (engagement events into the analytics bucket)
    athena: str = ""  # the Athena stand-in (DuckDB over the same files)


class LocalStack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        aws_port: int = 0,
        api_port: int = 0,
        extra_state_machines: dict[str, Path] | None = None,
        gateway_port: int = 0,
        verbose: bool | None = None,
        lambda_processes: int | None = None,
    ) -> None:
        """``verbose``: publish the app's CloudWatch metrics (Powertools' EMF lines on stdout, as
        a Lambda writes them to its log stream); off by default, they would drown what a user
        reads. ``None`` follows logging: on when the ``devstack`` logger shows INFO (the CLI's
        ``-v``). ``lambda_processes``: worker processes that run the functions' invocations
        (:mod:`devstack.lambdas`; default ``TAILORCAST_LOCAL_LAMBDA_PROCESSES``, else one per core;
        0 runs them on the stack's own threads)."""
        self.verbose = logger.isEnabledFor(logging.INFO) if verbose is None else verbose
        self.state_dir = private_dir(state_dir.resolve())
        tighten(self.state_dir)  # what an older version wrote world-readable
        self.host = host
        self._aws_port = aws_port
        self._api_port = api_port
        self._gateway_port = gateway_port
        self._extra_state_machines = extra_state_machines or {}
        self.dispatcher = lambdas.Dispatcher(
            processes=lambdas.default_processes() if lambda_processes is None else lambda_processes
        )
        self.mediaconvert: Any = None  # MediaConvertStandIn, started with the stack
        self.gateway: Any = None  # MediaGateway, started with the stack
        self.firehose: Any = None  # FirehoseStandIn, started with the stack (.flush() delivers now)
        self.athena: Any = None  # AthenaStandIn, started with the stack
        self.stripe: Any = None  # StripeStandIn (devstack.stripe), started with the stack
        # CloudFront's key pair and the watch secret: made once, kept in the state directory.
        self.cdn_keys = CdnKeys(self.state_dir / "cdn")
        # What the gateway adds on its way to the API, as CloudFront adds X-Origin-Verify: the
        # API's watch routes refuse requests without it. New with every start (both sides are).
        self.origin_secret = secrets.token_urlsafe(32)
        self.sealing_key = SealingKey(self.state_dir / "kms")
        self.journal: DynamoJournal | None = None
        self.mirror = S3Mirror(self.state_dir / "s3", reader=moto_reader(ACCOUNT_ID))
        self._aws_server: BaseWSGIServer | None = None
        self._api_server: Any = None
        self._threads: list[threading.Thread] = []
        self._s3_dirty = threading.Event()
        self._stopping = threading.Event()
        self.endpoints: Endpoints | None = None
        self.state_machine_arns: dict[str, str] = {}
        self.app_module: ModuleType | None = None
        # Names come from the same Settings model the app reads (defaults: tailorcast-local-*).
        from chalicelib.settings import Settings

        self.settings = Settings()
        # Cognito (moto's, completed by the stand-in) and the outbox its codes are emailed to:
        # users, tokens, codes and emails are kept in the state directory across restarts.
        self.cognito = cognito.CognitoStandIn(
            self.state_dir / "cognito" / "state.json", sender=self.settings.notifications_from_address
        )
        self.outbox = outbox.Outbox(self.state_dir / "outbox" / "messages.json", ACCOUNT_ID, REGION)
        self.user_pool_id: str | None = None
        self.user_pool_client_id: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Endpoints:
        private_dir(self.state_dir)
        self.journal = DynamoJournal(self.state_dir / "dynamodb")
        aws_url = self._start_moto()
        mediaconvert_url = self._start_mediaconvert()
        self._start_analytics()
        self._start_stripe()
        from chalicelib.adapters.cdn import ORIGIN_VERIFY_HEADER
        from devstack.gateway import MediaGateway

        self.gateway = MediaGateway(
            lambda: self.client("s3"),
            self.settings.media_bucket,
            key_pair_id=self.settings.media_key_pair_id,
            public_key=self.cdn_keys.public_key(),
            origin_headers={ORIGIN_VERIFY_HEADER: self.origin_secret},
            host=self.host,
            port=self._gateway_port,
        )
        self.gateway.start()
        self._configure_environment(aws_url, mediaconvert_url)
        self._create_identity()  # before the app loads: its settings name the pool and client
        self._configure_environment(aws_url, mediaconvert_url)
        self.app_module = self._load_app()
        self._bootstrap()
        api_url = self._start_api()
        self.gateway.set_api_url(api_url)  # the front door sends /w/* and /assets/* there
        self.stripe.set_webhook_url(f"{api_url}/webhooks/stripe")  # Stripe's webhook endpoint
        self.endpoints = Endpoints(
            aws=aws_url,
            api=api_url,
            mediaconvert=mediaconvert_url,
            media=self.gateway.url,
            firehose=self.firehose.url,
            athena=self.athena.url,
        )
        self._configure_environment(aws_url, mediaconvert_url)  # again: the API's own URL is known now
        self._write_stack_file()
        self.dispatcher.warm()  # the functions' environments start while the caller goes on
        self._spawn(self._s3_sync_loop, "s3-mirror")
        logger.info("local stack up: aws=%s api=%s", aws_url, api_url)
        return self.endpoints

    def stop(self) -> None:
        """Stop cleanly: stop executions, finish async work, checkpoint state, then close servers."""
        if self.endpoints is not None:
            self._stop_executions()
        if self.mediaconvert is not None:
            self.mediaconvert.stop(drain=True)
        self.dispatcher.drain(timeout=30)
        # The functions stop while the services they call are still up (an invocation still
        # running would otherwise retry against a closed port until its timeout).
        self.dispatcher.shutdown()
        if self.firehose is not None:  # buffered events reach S3 before the checkpoint mirrors it
            self.firehose.stop(flush=True)
        if self.athena is not None:  # before moto goes: a query being answered still reads S3
            self.athena.stop()
        if self.stripe is not None:
            self.stripe.stop()
        self._stopping.set()
        if self.endpoints is not None:
            try:
                self.checkpoint()
            except Exception:  # never lose the journal because a snapshot failed
                logger.exception("checkpoint failed; the journal is kept and replays next start")
        if self._api_server is not None:
            self._api_server.shutdown()
        if self.gateway is not None:
            self.gateway.stop()
        if self._aws_server is not None:
            self._aws_server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.journal is not None:
            self.journal.close()
        (self.state_dir / "stack.json").unlink(missing_ok=True)
        cognito.uninstall()
        outbox.uninstall()
        self._reset_moto()

    def _stop_executions(self) -> None:
        """Executions do not outlive the stack (moto keeps no state across a restart): stop them,
        so their threads end with it. A batch whose execution stopped resumes after a restart."""
        sfn = self.client("stepfunctions")
        for arn in self.state_machine_arns.values():
            try:
                pages = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=arn, statusFilter="RUNNING"
                )
                running = [e["executionArn"] for page in pages for e in page["executions"]]
            except Exception:
                logger.exception("could not list the executions of %s", arn)
                continue
            for execution in running:
                try:
                    sfn.stop_execution(executionArn=execution, cause="the local stack is stopping")
                except Exception:
                    logger.warning("could not stop %s", execution)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def checkpoint(self) -> None:
        """Snapshot the table and mirror S3 now."""
        assert self.journal is not None
        self.journal.checkpoint({self.table_name: self._scan_all()})
        self.mirror.sync(self.client("s3"), self.buckets)

    # ------------------------------------------------------------------ helpers

    @property
    def stage(self) -> str:
        return self.settings.stage

    @property
    def table_name(self) -> str:
        return self.settings.table_name

    @property
    def buckets(self) -> list[str]:
        return [self.settings.uploads_bucket, self.settings.media_bucket, self.settings.analytics_bucket]

    def export_media(self, prefix: str, dest: Path) -> Path:
        """Copy the media bucket's objects under ``prefix`` to ``dest``, keys as paths, so that the
        playlists' relative URIs resolve: a folder ffplay or a browser can play."""
        s3 = self.client("s3")
        bucket = self.settings.media_bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                path = dest / obj["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, obj["Key"], str(path))
        return dest.resolve()

    def media_cookies(self, prefixes: list[str], ttl_seconds: int = 3600) -> list[SetCookie]:
        """Signed cookies opening media folders (``acct/camp/``, ending in ``/``) on the front door,
        as the watch page sets them: for the demo's and tests' own reads of protected media."""
        assert self.endpoints is not None
        return self.cdn_keys.viewer_cookies(
            self.settings.media_key_pair_id, self.endpoints.media, prefixes, ttl_seconds
        )

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    def settings_env(self, aws_url: str, mediaconvert_url: str) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ENDPOINT_URL_MEDIACONVERT": mediaconvert_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "MOTO_PORT": aws_url.rsplit(":", 1)[-1],
            "TAILORCAST_STAGE": self.stage,
            "TAILORCAST_TABLE_NAME": self.table_name,
            "TAILORCAST_UPLOADS_BUCKET": self.buckets[0],
            "TAILORCAST_MEDIA_BUCKET": self.buckets[1],
            "TAILORCAST_ANALYTICS_BUCKET": self.settings.analytics_bucket,
            "TAILORCAST_EVENTS_STREAM_NAME": self.settings.events_stream_name,
            "TAILORCAST_ANALYTICS_DATABASE": self.settings.analytics_database,
            "TAILORCAST_ANALYTICS_TABLE": self.settings.analytics_table,
            "TAILORCAST_ATHENA_WORKGROUP": self.settings.athena_workgroup,
            "TAILORCAST_VOICE_FUNCTION_NAME": function_name(self.stage, VOICE_FUNCTION),
            "TAILORCAST_RENDER_STATE_MACHINE_ARN": state_machine_arn(self.stage, "render_campaign"),
            # One front door (CloudFront's stand-in, the gateway) for watch pages and media alike:
            # the media's signed cookies are then first-party, as under CloudFront.
            "TAILORCAST_MEDIA_BASE_URL": self.gateway.url if self.gateway is not None else "",
            "TAILORCAST_WATCH_BASE_URL": self.gateway.url if self.gateway is not None else "",
            "TAILORCAST_MEDIA_KEY_PAIR_ID": self.settings.media_key_pair_id,
            "TAILORCAST_WATCH_SECRET_NAME": self.settings.watch_secret_name,
            "TAILORCAST_ORIGIN_VERIFY_SECRET": self.origin_secret,
            "TAILORCAST_SEALING_KEY_ID": self.settings.sealing_key_id,
            # Executions of this machine deliver webhooks; receivers may run on this machine.
            "TAILORCAST_WEBHOOK_STATE_MACHINE_ARN": (
                f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{APP_NAME}-{self.stage}-deliver_webhook"
            ),
            "TAILORCAST_WEBHOOK_ALLOW_INSECURE_LOCALHOST": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false" if self.verbose else "true",
            "POWERTOOLS_SERVICE_NAME": APP_NAME,
        }
        if self.user_pool_id is not None and self.user_pool_client_id is not None:
            env.update(
                {
                    "TAILORCAST_AUTH_MODE": "cognito",
                    "TAILORCAST_COGNITO_USER_POOL_ID": self.user_pool_id,
                    "TAILORCAST_COGNITO_CLIENT_ID": self.user_pool_client_id,
                    "TAILORCAST_JWKS_URL": aws_url + jwks_path(self.user_pool_id),
                    # What moto writes in `iss`, as Cognito does for the pool.
                    "TAILORCAST_JWT_ISSUER": f"https://cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}",
                    "TAILORCAST_JWT_AUDIENCE": self.user_pool_client_id,
                    "TAILORCAST_NOTIFICATIONS_FROM_ADDRESS": self.settings.notifications_from_address,
                }
            )
        if self.firehose is not None:
            env["AWS_ENDPOINT_URL_FIREHOSE"] = self.firehose.url
        if self.athena is not None:
            env["AWS_ENDPOINT_URL_ATHENA"] = self.athena.url
        if self.stripe is not None:  # stripe-python's base URL: the Stripe stand-in
            env["TAILORCAST_STRIPE_API_BASE"] = self.stripe.url
            env["TAILORCAST_STRIPE_SECRET_NAME"] = self.settings.stripe_secret_name
        return env

    def _configure_environment(self, aws_url: str, mediaconvert_url: str) -> None:
        os.environ.update(self.settings_env(aws_url, mediaconvert_url))
        from chalicelib import dependencies

        dependencies.reset()

    def _start_moto(self) -> str:
        _quiet_third_party_notices()
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        # Restored on stop: the setting is process-wide, and tests after a stack expect moto's default.
        self._moto_executes = default_user_config["stepfunctions"]["execute_state_machine"]
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        lambdas.install(self.dispatcher)
        _list_moto_modules_once()
        dynamotx.install()  # transactions back up the items they touch, not the whole table
        cognito.install(self.cognito)  # codes by email, the post-confirmation trigger, persistence
        outbox.install(self.outbox)
        assert self.journal is not None
        app = LocalRoutes(
            RecordingMiddleware(
                DomainDispatcherApplication(create_backend_app), self.journal, self._on_s3_write
            ),
            self.outbox,
            lambda: {self.user_pool_id} if self.user_pool_id else set(),
        )
        self._aws_server = make_server(
            self.host, self._aws_port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._spawn(self._aws_server.serve_forever, "moto")
        return f"http://{self.host}:{self._aws_server.server_port}"

    # ------------------------------------------------------------------ identity

    def _sender_address(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.settings.notifications_from_address)[1]

    def _pool_config(self) -> dict[str, Any]:
        """The user pool as CDK defines it: email as the username, verified by a code, the
        password policy, and the post-confirmation trigger that creates the account."""
        return {
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "Policies": {"PasswordPolicy": PASSWORD_POLICY},
            "LambdaConfig": {"PostConfirmation": function_arn(self.stage, POST_CONFIRMATION_FUNCTION)},
            "VerificationMessageTemplate": {
                "DefaultEmailOption": "CONFIRM_WITH_CODE",
                "EmailSubject": "Your Tailorcast verification code",
                "EmailMessage": (
                    "Welcome to Tailorcast! Your verification code is {####}. It expires in 24 hours."
                ),
            },
            "EmailConfiguration": {
                "EmailSendingAccount": "DEVELOPER",
                "From": self.settings.notifications_from_address,
                "SourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{self._sender_address()}",
            },
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
            "Schema": [
                {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "name", "AttributeDataType": "String", "Mutable": True},
                {"Name": "company", "AttributeDataType": "String", "Mutable": True},
            ],
        }

    def _create_identity(self) -> None:
        """The SES identity the codes are sent from, then the user pool and its public client:
        restored from the state directory when they exist (same ids, users, sign-ins), else made."""
        self.client("ses").verify_email_identity(EmailAddress=self._sender_address())
        restored = self.cognito.restore()
        self.outbox.restore()
        idp = self.client("cognito-idp")
        pool_name = USER_POOL_NAME.format(stage=self.stage)
        config = self._pool_config()
        pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == pool_name]
        if pools:  # restored, with the configuration it was made with
            pool_id = pools[0]["Id"]
        else:
            pool_id = idp.create_user_pool(PoolName=pool_name, **config)["UserPool"]["Id"]
        client_name = USER_POOL_CLIENT_NAME.format(stage=self.stage)
        clients = [
            c
            for c in idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
            if c["ClientName"] == client_name
        ]
        client_config: dict[str, Any] = {
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            "ReadAttributes": ["email", "name", "custom:company"],
        }
        if clients:
            client_id = clients[0]["ClientId"]
            idp.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id, **client_config)
        else:
            client_id = idp.create_user_pool_client(
                UserPoolId=pool_id, ClientName=client_name, GenerateSecret=False, **client_config
            )["UserPoolClient"]["ClientId"]
        self.user_pool_id, self.user_pool_client_id = pool_id, client_id
        self.cognito.save()
        logger.info("user pool %s (client %s), %d users restored", pool_id, client_id, restored)

    def sign_up(self, email: str, password: str, name: str | None = None) -> SignedIn:
        """A new user signed up through Cognito as a seller would: SignUp, the code read from
        the outbox, ConfirmSignUp (whose trigger creates the account), then a sign-in."""
        import time

        idp = self.client("cognito-idp")
        since = time.time()
        attributes = [{"Name": "email", "Value": email}] + ([{"Name": "name", "Value": name}] if name else [])
        idp.sign_up(
            ClientId=self.user_pool_client_id, Username=email, Password=password, UserAttributes=attributes
        )
        message = self.outbox.latest(email, since=since)
        code = message.code() if message is not None else None
        if code is None:
            raise RuntimeError(f"no verification code for {email} in the outbox")
        idp.confirm_sign_up(ClientId=self.user_pool_client_id, Username=email, ConfirmationCode=code)
        return self.log_in(email, password)

    def log_in(self, email: str, password: str) -> SignedIn:
        """Cognito's USER_PASSWORD_AUTH sign-in."""
        result = self.client("cognito-idp").initiate_auth(
            ClientId=self.user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )["AuthenticationResult"]
        return SignedIn(result["AccessToken"], result["IdToken"], result["RefreshToken"], result["ExpiresIn"])

    def _start_mediaconvert(self) -> str:
        from devstack.mediaconvert import MediaConvertStandIn
        from devstack.mediaconvert.executor import FfmpegExecutor

        executor = FfmpegExecutor(lambda: self.client("s3"))
        self.mediaconvert = MediaConvertStandIn(
            executor, self._deliver_event, region=REGION, account_id=ACCOUNT_ID, host=self.host
        )
        self.mediaconvert.start()
        return str(self.mediaconvert.url)

    def _start_analytics(self) -> None:
        """Firehose and Athena stand-ins. The stack reports every write to the analytics bucket to
        Athena's (``_on_s3_write``), so its columnar cache never has to list the bucket again."""
        from devstack.athena import AthenaStandIn
        from devstack.firehose import FirehoseStandIn

        self.firehose = FirehoseStandIn(
            lambda: self.client("s3"), region=REGION, account_id=ACCOUNT_ID, host=self.host
        )
        self.firehose.start()
        self.athena = AthenaStandIn(
            lambda: self.client("s3"),
            lambda: self.client("glue"),
            self.state_dir / "athena",
            region=REGION,
            account_id=ACCOUNT_ID,
            host=self.host,
            change_feed=True,
        )
        self.athena.start()

    def _create_analytics(self) -> None:
        """The events table (Glue, from the cloud's definition), the Athena workgroup and the
        Firehose stream, as CDK defines them; buffered for 1 s here, so tests see events quickly."""
        from chalicelib.adapters import analytics_schema as schema

        s = self.settings
        glue = self.client("glue")
        glue.create_database(DatabaseInput={"Name": s.analytics_database})
        glue.create_table(
            DatabaseName=s.analytics_database,
            TableInput=schema.glue_table_input(s.analytics_bucket, s.analytics_table),
        )
        output = f"s3://{s.analytics_bucket}/{schema.ATHENA_RESULTS_PREFIX}"
        self.client("athena").create_work_group(
            Name=s.athena_workgroup,
            Configuration={
                "ResultConfiguration": {"OutputLocation": output},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        self.client("firehose").create_delivery_stream(
            DeliveryStreamName=s.events_stream_name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": f"arn:aws:iam::{ACCOUNT_ID}:role/{APP_NAME}-{self.stage}-events",
                "BucketARN": f"arn:aws:s3:::{s.analytics_bucket}",
                "Prefix": f"{schema.EVENTS_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/",
                "ErrorOutputPrefix": (
                    f"{schema.ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
                ),
                "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": EVENTS_BUFFER_SECONDS},
                "CompressionFormat": "UNCOMPRESSED",
            },
        )

    def _deliver_event(self, event: dict[str, Any]) -> None:
        """EventBridge: hand the event to every function whose rule pattern matches it."""
        for name, pattern in self._event_rules():
            if pattern.matches_event(event):
                self.dispatcher.invoke_async(function_name(self.stage, name), event)

    @functools.cache  # noqa: B019 - one stack per process; its app never changes
    def _event_rules(self) -> list[tuple[str, Any]]:
        """The app's ``@on_cw_event`` rules, parsed once (moto's EventBridge pattern matcher)."""
        from chalice.app import CloudWatchEventConfig
        from moto.events.models import EventPattern

        assert self.app_module is not None
        return [
            (source.name, EventPattern.load(json.dumps(source.event_pattern)))
            for source in self.app_module.app.event_sources
            if isinstance(source, CloudWatchEventConfig)
        ]

    def _load_app(self) -> ModuleType:
        import importlib
        import sys

        # Never reload: Chalice blueprints can be registered on one app per process, and the
        # names the app registered at import are the ones the Settings above produced.
        return sys.modules.get("app") or importlib.import_module("app")

    def _start_api(self) -> str:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, LocalDevServer, RouteMatcher

        from chalicelib.api._http import error_response

        class QuietHandler(ChaliceRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("api: " + format, *args)

            def _send_http_response_with_body(self, code: int, headers: Any, body: str | bytes) -> None:
                if self.command != "HEAD":
                    super()._send_http_response_with_body(code, headers, body)
                    return
                # A response to HEAD has headers only (RFC 9110 §9.3.2). chalice local wrote the
                # body of a framework error (415, 405) anyway, and a keep-alive client then read
                # it as the start of the next response.
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self._send_headers(headers)

            def _parse_payload(self) -> tuple[Any, bytes | None]:
                # chalice local reads Content-Length only: a chunked body (which API Gateway
                # accepts) would be read as empty and its chunks taken for the next request.
                if "chunked" not in self.headers.get("transfer-encoding", "").lower():
                    return super()._parse_payload()
                body = read_chunked(self.rfile, MAX_API_PAYLOAD)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"}
                if body is None:  # over the limit: the rest is unread, so the connection ends
                    self.close_connection = True
                    return headers, b"\x00" * (MAX_API_PAYLOAD + 1)
                headers["Content-Length"] = str(len(body))
                return headers, body or None

        assert self.app_module is not None
        app = self.app_module.app
        routes = RouteMatcher(list(app.routes))

        class FrontDoorHandler(QuietHandler):
            def _generic_handle(self) -> None:
                try:
                    routes.match_route(self.path)
                except ValueError:
                    self._parse_payload()  # a keep-alive client's body is not its next request
                    self._send_unknown_route()
                    return
                super()._generic_handle()

            # chalice binds every verb to the base class's handler, not to an override.
            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

            def _send_unknown_route(self) -> None:
                # API Gateway answers a path no route matches with 403 "Missing Authentication
                # Token", and, when an Authorization header came with it, a message that quotes
                # the header (chalice local copies both): a bearer token echoed back. Locally the
                # answer is a 404 in the API's own error shape, which names nothing the client sent.
                request_id = str(uuid.uuid4())
                response = error_response(
                    404, "not_found", "no API route matches this path", request_id=request_id
                )
                headers = {**response.headers, "x-amzn-RequestId": request_id}
                self._send_http_response(404, headers, response.body)

        _one_request_per_thread(app)
        config = Config.create(chalice_app=app, app_name=APP_NAME, chalice_stage=self.stage)
        server = LocalDevServer(app, config, self.host, self._api_port, handler_cls=FrontDoorHandler)
        self._api_server = server
        self._spawn(server.server.serve_forever, "chalice-local")
        return f"http://{self.host}:{server.server.server_port}"

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write_stack_file(self) -> None:
        assert self.endpoints is not None
        info = {
            "pid": os.getpid(),
            "aws": self.endpoints.aws,
            "api": self.endpoints.api,
            "state_machines": self.state_machine_arns,
            "mediaconvert": self.endpoints.mediaconvert,
            "media": self.endpoints.media,
            "firehose": self.endpoints.firehose,
            "athena": self.endpoints.athena,
            "stripe": self.stripe.url if self.stripe is not None else None,
            "user_pool_id": self.user_pool_id,
            "user_pool_client_id": self.user_pool_client_id,
            "env": self.settings_env(self.endpoints.aws, self.endpoints.mediaconvert),
        }
        # Atomic: `tailorcast account create` and tests may read it while it is being written.
        write_private(self.state_dir / "stack.json", json.dumps(info, indent=2))

    # ------------------------------------------------------------------ bootstrap

    def _bootstrap(self) -> None:
        from chalicelib.adapters.dynamodb.schema import table_definition

        ddb = self.client("dynamodb")
        ddb.create_table(**table_definition(self.table_name))
        self._restore_table()
        s3 = self.client("s3")
        for bucket in self.buckets:
            s3.create_bucket(Bucket=bucket)
        restored = self.mirror.restore(s3)
        self.cdn_keys.ensure_secret(self.client("secretsmanager"), self.settings.watch_secret_name)
        self.sealing_key.install(self.client("kms"), self.settings.sealing_key_id, ACCOUNT_ID, REGION)
        self._create_stripe_secret()
        self._create_functions()
        self._configure_notifications()
        self._create_state_machines()
        self._create_analytics()
        logger.info("bootstrap done (%d objects restored)", restored)

    def _start_stripe(self) -> None:
        """The Stripe stand-in; its keys and objects live in ``state/stripe`` across restarts."""
        from devstack.stripe import stand_in

        self.stripe = stand_in(self.state_dir / "stripe", host=self.host)
        self.stripe.start()

    def _create_stripe_secret(self) -> None:
        """The app's Stripe secret in moto's Secrets Manager: the stand-in's key and signing secrets."""
        body = json.dumps({"api_key": self.stripe.api_key, "webhook_secrets": self.stripe.webhook_secrets})
        sm = self.client("secretsmanager")
        try:
            sm.create_secret(Name=self.settings.stripe_secret_name, SecretString=body)
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=self.settings.stripe_secret_name, SecretString=body)

    def _restore_table(self) -> None:
        assert self.journal is not None
        ddb = self.client("dynamodb")
        items = self.journal.snapshot_items().get(self.table_name, [])
        for start in range(0, len(items), 25):
            chunk = items[start : start + 25]
            ddb.batch_write_item(RequestItems={self.table_name: [{"PutRequest": {"Item": i}} for i in chunk]})
        entries = self.journal.entries()
        if not entries:
            return  # the snapshot is already the whole state
        self.journal.enabled = False
        try:
            aws_url = os.environ["AWS_ENDPOINT_URL"]
            for operation, body in entries:
                # Replayed as the raw wire request, so nothing is re-encoded on the way.
                response = requests.post(
                    aws_url,
                    data=json.dumps(body),
                    headers={
                        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                        "Content-Type": "application/x-amz-json-1.0",
                        "Authorization": (
                            "AWS4-HMAC-SHA256 Credential=testing/20260101/"
                            f"{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
                        ),
                    },
                    timeout=30,
                )
                if response.status_code != 200:
                    logger.warning("journal entry %s did not replay: %s", operation, response.text[:200])
        finally:
            self.journal.enabled = True
        self.journal.checkpoint({self.table_name: self._scan_all()})

    def _scan_all(self) -> list[dict[str, Any]]:
        ddb = self.client("dynamodb")
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=self.table_name, ConsistentRead=True):
            items.extend(page["Items"])
        return items

    def _create_functions(self) -> None:
        assert self.app_module is not None
        app = self.app_module.app
        iam = self.client("iam")
        role_arn = iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        # The code the functions would run is this very app; ship app.py so the zip is honest.
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", Path(self.app_module.__file__ or "app.py").read_text())
        code = buf.getvalue()
        awslambda = self.client("lambda")
        names = [f.name for f in app.pure_lambda_functions] + [e.name for e in app.event_sources]
        for name in names:
            awslambda.create_function(
                FunctionName=function_name(self.stage, name),
                Runtime="python3.11",
                Role=role_arn,
                Handler=f"app.{name}",
                Code={"ZipFile": code},
                Timeout=900,
                MemorySize=1024,
            )
            self.dispatcher.register(
                function_name(self.stage, name),
                function_arn(self.stage, name),
                app.handler_map[name],
                lambdas.HandlerRef("app", "app.handler_map", name),
            )
        from chalicelib.tasks import voice

        awslambda.create_function(
            FunctionName=function_name(self.stage, VOICE_FUNCTION),
            Role=role_arn,
            PackageType="Image",
            Code={"ImageUri": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{APP_NAME}-voice:local"},
            Timeout=300,
            MemorySize=3008,
        )
        self.dispatcher.register(
            function_name(self.stage, VOICE_FUNCTION),
            function_arn(self.stage, VOICE_FUNCTION),
            voice.handler,
            lambdas.HandlerRef("chalicelib.tasks.voice", "handler"),
        )

    def _configure_notifications(self) -> None:
        from chalice.app import S3EventConfig

        assert self.app_module is not None
        s3 = self.client("s3")
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        for source in self.app_module.app.event_sources:
            if not isinstance(source, S3EventConfig):
                continue
            rules = [{"Name": "prefix", "Value": source.prefix}] if source.prefix else []
            if source.suffix:
                rules.append({"Name": "suffix", "Value": source.suffix})
            config: dict[str, Any] = {
                "Id": source.name,
                "LambdaFunctionArn": function_arn(self.stage, source.name),
                "Events": source.events,
            }
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
            by_bucket.setdefault(source.bucket, []).append(config)
        for bucket, configs in by_bucket.items():
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": configs}
            )

    def _create_state_machines(self) -> None:
        from state_machines import definition_files, function_placeholder, load_definition

        assert self.app_module is not None
        app = self.app_module.app
        substitutions = {
            "TableName": self.table_name,
            "UploadsBucket": self.buckets[0],
            "MediaBucket": self.buckets[1],
        }
        for f in app.pure_lambda_functions:
            substitutions[function_placeholder(f.name)] = function_arn(self.stage, f.name)
        substitutions[function_placeholder(VOICE_FUNCTION)] = function_arn(self.stage, VOICE_FUNCTION)
        sfn = self.client("stepfunctions")
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
        files = {**definition_files(), **self._extra_state_machines}
        for name, path in files.items():
            definition = load_definition(path, substitutions)
            arn = sfn.create_state_machine(
                name=f"{APP_NAME}-{self.stage}-{name}", definition=json.dumps(definition), roleArn=role
            )["stateMachineArn"]
            self.state_machine_arns[name] = arn

    # ------------------------------------------------------------------ background

    def _on_s3_write(self, method: str, path: str, query: str, body: bytes = b"") -> None:
        """Mirror a plain PutObject/CopyObject now and forget a DeleteObject or the keys of a
        multi-object delete; anything else (a presigned POST, multipart, bucket configuration) is
        left to a full sync."""
        from urllib.parse import unquote

        bucket, _, key = unquote(path).lstrip("/").partition("/")
        plain = query in ("", "x-id=PutObject", "x-id=CopyObject", "x-id=DeleteObject")
        if self.athena is not None and bucket == self.settings.analytics_bucket:
            self.athena.object_changed(bucket, key or None)
        if bucket in self.buckets and not self._stopping.is_set():
            try:
                if key and plain and method == "PUT":
                    self.mirror.write_through(self._mirror_s3, bucket, key)
                    return
                if key and plain and method == "DELETE":
                    self.mirror.forget(bucket, key)
                    return
                named = (
                    deleted_keys(body) if not key and method == "POST" and query.startswith("delete") else []
                )
                if named:
                    for deleted in named:
                        self.mirror.forget(bucket, deleted)
                    return
            except Exception:
                logger.exception("S3 write-through failed; a full sync follows")
        if bucket in self.buckets:
            logger.debug("S3 %s %s?%s: the mirror syncs in full", method, path, query)
            self._s3_dirty.set()

    @functools.cached_property
    def _mirror_s3(self) -> Any:
        return self.client("s3")

    def _s3_sync_loop(self) -> None:
        s3 = self.client("s3")
        while not self._stopping.is_set():
            if not self._s3_dirty.wait(timeout=0.5):
                continue
            self._stopping.wait(S3_SYNC_DEBOUNCE_SECONDS)  # batch a burst of writes
            self._s3_dirty.clear()
            try:
                self.mirror.sync(s3, self.buckets)
            except Exception:
                logger.exception("S3 mirror sync failed; will retry on the next write")
                self._s3_dirty.set()

    def _reset_moto(self) -> None:
        """Drop all in-memory AWS state so a later start in this process begins empty."""
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        if hasattr(self, "_moto_executes"):
            default_user_config["stepfunctions"]["execute_state_machine"] = self._moto_executes


#: moto's Step Functions interpreter logs this each time it parses a definition with the field.
_MOTO_TOLERATED_FAILURE = "ToleratedFailurePercentage declarations currently have no effect"
#: Powertools warns whenever an invocation flushes no metric (most tasks publish none).
_POWERTOOLS_NO_METRICS = lambdas.POWERTOOLS_NO_METRICS


class _DropMessage(logging.Filter):
    """Drops the records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def deleted_keys(body: bytes) -> list[str]:
    """The keys a ``DeleteObjects`` request body names (``<Delete><Object><Key>…``); a body that
    is not that document names none (the caller then syncs in full)."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(body)  # noqa: S314 (our own moto server's request, parsed after moto accepted it)
    except ElementTree.ParseError:
        return []
    return [el.text for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Key" and el.text]


def _list_moto_modules_once() -> None:
    """moto's server lists its own package folder (a ``stat`` per entry, about 150) on every
    request, to tell a service name from a host name; the folder never changes while it runs, so
    the list is taken once (idempotent; moto is pinned)."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_tailorcast_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def listed() -> tuple[str, ...]:
        return modules

    listed._tailorcast_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = listed


def _quiet_third_party_notices() -> None:
    """Silence two notices that say nothing a user of the local stack can act on (idempotent).

    * moto: the render machine's distributed Map declares ``ToleratedFailurePercentage`` (100:
      the batch goes on when an item fails); moto's interpreter ignores the field and logs a
      warning on every stack start and every render. Locally it changes nothing: each item's
      processor catches its own failure (its ``Failed`` state succeeds), so no item ever fails
      the Map. Only that message is dropped; moto's other warnings still show.
    * Powertools: ``log_metrics`` warns when an invocation flushed no metric, which with
      metrics disabled (the local default) is every invocation.
    """
    moto_asl = logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor")
    if not any(isinstance(f, _DropMessage) for f in moto_asl.filters):
        moto_asl.addFilter(_DropMessage(_MOTO_TOLERATED_FAILURE))
    warnings.filterwarnings("ignore", message=_POWERTOOLS_NO_METRICS, category=UserWarning)


class _PerThread:
    """A data descriptor holding one value per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(self._local, "value", None)

    def __set__(self, obj: object, value: Any) -> None:
        self._local.value = value


def _one_request_per_thread(app: Any) -> None:
    """Give the app's ``current_request`` and ``lambda_context`` one value per thread.

    Lambda runs one request per container at a time, and Chalice keeps the request it is serving
    in one attribute of the app. ``chalice local`` serves requests on threads of one process, so
    two concurrent requests would each see the other's (its headers, its bearer token); per
    thread, each sees its own, as in Lambda.
    """
    if getattr(type(app), "_per_thread_requests", False):
        return
    app.__class__ = type(
        type(app).__name__,
        (type(app),),
        {"current_request": _PerThread(), "lambda_context": _PerThread(), "_per_thread_requests": True},
    )


#: API Gateway's limit on a request's payload.
MAX_API_PAYLOAD = 10 * 1024 * 1024


def read_chunked(stream: io.BufferedIOBase | Any, limit: int) -> bytes | None:
    """A ``Transfer-Encoding: chunked`` body, decoded (HTTP/1.1 §7.1; trailers skipped), or
    ``None`` once it passes ``limit`` bytes."""
    body = bytearray()
    while True:
        size_line = stream.readline(1024)
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            return bytes(body)  # malformed: what arrived is the body; the view says what is wrong
        if size == 0:
            while stream.readline(1024).strip():  # trailers, up to the blank line
                pass
            return bytes(body)
        if len(body) + size > limit:
            return None
        body += stream.read(size)
        stream.readline(1024)  # the CRLF after each chunk
