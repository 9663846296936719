"""Adapters, built lazily on first use and cached for the life of the Lambda container.

Nothing here runs at import time. Tests call :func:`reset` after changing settings or endpoints.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.adapters.analytics import AthenaAnalytics, FirehoseEventSink
from chalicelib.adapters.auth import JwtVerifier, KeySource
from chalicelib.adapters.billing import StripeBilling, StripeSecrets
from chalicelib.adapters.cdn import CookieSigner, WatchSecrets
from chalicelib.adapters.dynamodb import models
from chalicelib.adapters.dynamodb.quotas import DynamoQuotaCounter, DynamoUsageLedger
from chalicelib.adapters.dynamodb.repositories import (
    DynamoAccountRepository,
    DynamoAnalyticsCache,
    DynamoApiKeyRepository,
    DynamoBillingRepository,
    DynamoCampaignRepository,
    DynamoCsvImportRepository,
    DynamoLexiconRepository,
    DynamoProspectRepository,
    DynamoRateLimiter,
    DynamoRenderBatchRepository,
    DynamoTeamRepository,
    DynamoVideoRepository,
    DynamoWebhookRepository,
)
from chalicelib.adapters.identity import CognitoIdentity
from chalicelib.adapters.mediaconvert import MediaConvertJobs
from chalicelib.adapters.s3 import S3MediaTagger, S3ObjectStore
from chalicelib.adapters.secrets import KmsSecretSealer
from chalicelib.adapters.stepfunctions import StepFunctionsCallbacks, StepFunctionsOrchestrator
from chalicelib.adapters.voice_runner import LambdaVoiceRunner
from chalicelib.adapters.webhooks import StepFunctionsEventPublisher, Urllib3WebhookSender
from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.ingest import IngestLimits
from chalicelib.domain.media import MediaConfig
from chalicelib.domain.models import VoiceEngine
from chalicelib.domain.ports import MediaCodec, SpeechSynthesizer
from chalicelib.domain.render import RenderPorts
from chalicelib.settings import Settings, get_settings


@lru_cache(maxsize=1)
def _bound_table() -> Settings:
    settings = get_settings()
    models.bind(settings.table_name, settings.region)
    return settings


@lru_cache(maxsize=1)
def get_account_repo() -> DynamoAccountRepository:
    _bound_table()
    return DynamoAccountRepository()


@lru_cache(maxsize=1)
def get_campaign_repo() -> DynamoCampaignRepository:
    _bound_table()
    return DynamoCampaignRepository()


@lru_cache(maxsize=1)
def get_prospect_repo() -> DynamoProspectRepository:
    _bound_table()
    return DynamoProspectRepository()


@lru_cache(maxsize=1)
def get_import_repo() -> DynamoCsvImportRepository:
    _bound_table()
    return DynamoCsvImportRepository()


@lru_cache(maxsize=1)
def get_batch_repo() -> DynamoRenderBatchRepository:
    _bound_table()
    return DynamoRenderBatchRepository()


@lru_cache(maxsize=1)
def get_video_repo() -> DynamoVideoRepository:
    _bound_table()
    return DynamoVideoRepository()


@lru_cache(maxsize=1)
def get_lexicon_repo() -> DynamoLexiconRepository:
    _bound_table()
    return DynamoLexiconRepository()


@lru_cache(maxsize=1)
def get_webhook_repo() -> DynamoWebhookRepository:
    _bound_table()
    return DynamoWebhookRepository()


@lru_cache(maxsize=1)
def get_quota_counter() -> DynamoQuotaCounter:
    _bound_table()
    return DynamoQuotaCounter()


# --- plans: the usage ledger and API keys (issue 18)


@lru_cache(maxsize=1)
def get_usage_ledger() -> DynamoUsageLedger:
    _bound_table()
    return DynamoUsageLedger()


@lru_cache(maxsize=1)
def get_api_key_repo() -> DynamoApiKeyRepository:
    _bound_table()
    return DynamoApiKeyRepository()


@lru_cache(maxsize=1)
def get_secret_sealer() -> KmsSecretSealer:
    """Seals the secrets kept in the table (webhook signing secrets) with the KMS sealing key."""
    settings = get_settings()
    return KmsSecretSealer(boto3.client("kms", region_name=settings.region), settings.sealing_key_id)


@lru_cache(maxsize=1)
def get_event_publisher() -> StepFunctionsEventPublisher:
    """Outgoing webhooks: each delivery is an execution of the ``deliver_webhook`` state machine."""
    settings = get_settings()
    return StepFunctionsEventPublisher(
        boto3.client("stepfunctions", region_name=settings.region),
        settings.webhook_state_machine_arn,
        get_webhook_repo(),
    )


@lru_cache(maxsize=1)
def get_webhook_sender() -> Urllib3WebhookSender:
    return Urllib3WebhookSender(allow_loopback=get_settings().webhook_allow_insecure_localhost)


@lru_cache(maxsize=1)
def get_voice_runner() -> LambdaVoiceRunner:
    return LambdaVoiceRunner(
        boto3.client("lambda", region_name=get_settings().region), get_settings().voice_function_name
    )


@lru_cache(maxsize=8)
def get_synthesizer(engine: VoiceEngine) -> SpeechSynthesizer:
    """The campaign's engine; loaded once per container (piper's model stays warm)."""
    from pathlib import Path

    from chalicelib.adapters.voice import build_synthesizer

    settings = get_settings()
    key = settings.elevenlabs_api_key
    return build_synthesizer(
        VoiceEngine(engine).value,
        polly_client_factory=lambda: boto3.client("polly", region_name=settings.region),
        elevenlabs_api_key=key.get_secret_value() if key else None,
        piper_model=Path(settings.piper_model_path) if settings.piper_model_path else None,
    )


@lru_cache(maxsize=1)
def s3_client() -> Any:
    return boto3.client("s3", region_name=get_settings().region)


@lru_cache(maxsize=1)
def get_upload_store() -> S3ObjectStore:
    return S3ObjectStore(s3_client(), get_settings().uploads_bucket)


@lru_cache(maxsize=1)
def get_media_store() -> S3ObjectStore:
    return S3ObjectStore(s3_client(), get_settings().media_bucket)


@lru_cache(maxsize=1)
def get_media_jobs() -> MediaConvertJobs:
    return MediaConvertJobs(boto3.client("mediaconvert", region_name=get_settings().region))


@lru_cache(maxsize=1)
def sfn_client() -> Any:
    return boto3.client("stepfunctions", region_name=get_settings().region)


@lru_cache(maxsize=1)
def get_orchestrator() -> StepFunctionsOrchestrator:
    return StepFunctionsOrchestrator(sfn_client(), get_settings().render_state_machine_arn)


@lru_cache(maxsize=1)
def get_task_callbacks() -> StepFunctionsCallbacks:
    return StepFunctionsCallbacks(sfn_client())


def media_url(key: str) -> str | None:
    """The URL viewers fetch a media object from, if a media base URL is configured."""
    base = get_settings().media_base_url
    return f"{base.rstrip('/')}/{key}" if base else None


def render_ports() -> RenderPorts:
    return RenderPorts(
        campaigns=get_campaign_repo(),
        prospects=get_prospect_repo(),
        videos=get_video_repo(),
        batches=get_batch_repo(),
        lexicon=get_lexicon_repo(),
        media=get_media_store(),
        uploads=get_upload_store(),
        jobs=get_media_jobs(),
        codec=get_media_codec(),
        config=media_config(),
        orchestrator=get_orchestrator(),
        callbacks=get_task_callbacks(),
        events=get_event_publisher(),
        media_url=media_url,
        accounts=get_account_repo(),
        ledger=get_usage_ledger(),
    )


def media_config() -> MediaConfig:
    s = get_settings()
    return MediaConfig(role_arn=s.mediaconvert_role_arn, queue_arn=s.mediaconvert_queue_arn)


@lru_cache(maxsize=1)
def get_media_probe() -> Any:
    # PyAV is heavy to import; only the ingest Lambda pays for it.
    from chalicelib.adapters.probe import PyAVMediaProbe

    return PyAVMediaProbe()


@lru_cache(maxsize=1)
def get_media_codec() -> MediaCodec:
    # PyAV and Pillow load on the codec's first call, not here: most API routes never need them.
    from chalicelib.adapters.frames import PyAVMediaCodec

    return PyAVMediaCodec()


@lru_cache(maxsize=1)
def get_token_verifier() -> JwtVerifier:
    settings = get_settings()
    keys = (
        KeySource(jwks_url=settings.jwks_url)
        if settings.auth_mode == "cognito"
        else KeySource(jwks_path=settings.local_jwks_path)
    )
    return JwtVerifier(keys, issuer=settings.jwt_issuer, client_id=settings.jwt_audience)


@lru_cache(maxsize=1)
def get_watch_secrets() -> WatchSecrets:
    """The watch secret (cookie signing key, session key), read from Secrets Manager on first use."""
    settings = get_settings()
    return WatchSecrets(
        boto3.client("secretsmanager", region_name=settings.region),
        settings.watch_secret_name,
        strict=settings.stage != "local",  # the cloud refuses CDK's placeholder key
    )


@lru_cache(maxsize=1)
def get_cookie_signer() -> CookieSigner:
    """Signs the CloudFront cookies the watch page sets (key pair ``media_key_pair_id``)."""
    return CookieSigner(get_settings().media_key_pair_id, get_watch_secrets().cookie_private_key)


@lru_cache(maxsize=1)
def get_rate_limiter() -> DynamoRateLimiter:
    _bound_table()
    return DynamoRateLimiter()


@lru_cache(maxsize=1)
def get_analytics_cache() -> DynamoAnalyticsCache:
    _bound_table()
    return DynamoAnalyticsCache()


@lru_cache(maxsize=1)
def get_event_sink() -> FirehoseEventSink:
    """Engagement events: the Firehose stream (``AWS_ENDPOINT_URL_FIREHOSE`` locally)."""
    settings = get_settings()
    return FirehoseEventSink(
        boto3.client("firehose", region_name=settings.region), settings.events_stream_name
    )


@lru_cache(maxsize=1)
def get_analytics() -> AthenaAnalytics:
    """Analytics queries: Athena (``AWS_ENDPOINT_URL_ATHENA`` locally) over the events table."""
    settings = get_settings()
    return AthenaAnalytics(
        boto3.client("athena", region_name=settings.region),
        database=settings.analytics_database,
        table=settings.analytics_table,
        workgroup=settings.athena_workgroup,
        # API Gateway gives up at 29 s: answer before it does (the error says to retry).
        timeout_seconds=25.0,
    )


# --------------------------------------------------------------------------- billing (issue 18)


@lru_cache(maxsize=1)
def get_billing_repo() -> DynamoBillingRepository:
    _bound_table()
    return DynamoBillingRepository()


@lru_cache(maxsize=1)
def get_stripe_secrets() -> StripeSecrets:
    """The Stripe secret (API key, webhook signing secrets), read from Secrets Manager on first use."""
    settings = get_settings()
    return StripeSecrets(
        boto3.client("secretsmanager", region_name=settings.region), settings.stripe_secret_name
    )


@lru_cache(maxsize=1)
def get_billing_gateway() -> StripeBilling:
    """Stripe; ``TAILORCAST_STRIPE_API_BASE`` (local only) points it at the Stripe stand-in."""
    return StripeBilling(get_stripe_secrets(), get_settings().stripe_api_base)


# --------------------------------------------------------------------------- issue 18, item 6 and branding

if TYPE_CHECKING:
    from chalicelib.adapters.account_services import (
        CognitoIdentityDirectory,
        LambdaTaskStarter,
        SesMailer,
    )
    from chalicelib.adapters.dynamodb.repositories.account_settings import (
        DynamoAccountDirectory,
        DynamoAccountEraser,
        DynamoAccountJobRepository,
        DynamoBrandingStore,
        DynamoProfileRepository,
    )
    from chalicelib.adapters.images import PillowImageNormalizer
    from chalicelib.domain.account_deletion import DeletionPorts
    from chalicelib.domain.account_export import ExportPorts
    from chalicelib.domain.media_retention import RetentionPorts
    from chalicelib.domain.notifications import NotificationPorts


@lru_cache(maxsize=1)
def get_branding_store() -> DynamoBrandingStore:
    from chalicelib.adapters.dynamodb.repositories.account_settings import DynamoBrandingStore

    _bound_table()
    return DynamoBrandingStore()


@lru_cache(maxsize=1)
def get_profile_repo() -> DynamoProfileRepository:
    from chalicelib.adapters.dynamodb.repositories.account_settings import DynamoProfileRepository

    _bound_table()
    return DynamoProfileRepository()


@lru_cache(maxsize=1)
def get_account_job_repo() -> DynamoAccountJobRepository:
    from chalicelib.adapters.dynamodb.repositories.account_settings import DynamoAccountJobRepository

    _bound_table()
    return DynamoAccountJobRepository()


@lru_cache(maxsize=1)
def get_account_eraser() -> DynamoAccountEraser:
    from chalicelib.adapters.dynamodb.repositories.account_settings import DynamoAccountEraser

    _bound_table()
    return DynamoAccountEraser()


@lru_cache(maxsize=1)
def get_account_directory() -> DynamoAccountDirectory:
    from chalicelib.adapters.dynamodb.repositories.account_settings import DynamoAccountDirectory

    _bound_table()
    return DynamoAccountDirectory()


@lru_cache(maxsize=1)
def get_image_normalizer() -> PillowImageNormalizer:
    # Pillow loads on the first image, not here: only the avatar and logo routes need it.
    from chalicelib.adapters.images import PillowImageNormalizer

    return PillowImageNormalizer()


@lru_cache(maxsize=1)
def get_mailer() -> SesMailer:
    """Transactional email: SES v2 (``AWS_ENDPOINT_URL_SESV2`` locally: moto's SES, the outbox)."""
    from chalicelib.adapters.account_services import SesMailer

    settings = get_settings()
    return SesMailer(boto3.client("sesv2", region_name=settings.region), settings.notifications_from_address)


@lru_cache(maxsize=1)
def get_task_starter() -> LambdaTaskStarter:
    from chalicelib.adapters.account_services import LambdaTaskStarter
    from chalicelib.domain.account_deletion import DELETION_TASK
    from chalicelib.domain.account_export import EXPORT_TASK
    from chalicelib.domain.media_retention import MEDIA_RETENTION_TASK

    settings = get_settings()
    return LambdaTaskStarter(
        boto3.client("lambda", region_name=settings.region),
        {
            EXPORT_TASK: settings.export_function_name,
            DELETION_TASK: settings.deletion_function_name,
            MEDIA_RETENTION_TASK: settings.retention_function_name,
        },
    )


@lru_cache(maxsize=1)
def get_identity_directory() -> CognitoIdentityDirectory:
    from chalicelib.adapters.account_services import CognitoIdentityDirectory

    settings = get_settings()
    return CognitoIdentityDirectory(
        boto3.client("cognito-idp", region_name=settings.region), settings.cognito_user_pool_id
    )


def get_subscription_canceller() -> StripeBilling:
    """Cancels the Stripe subscription (account deletion): the billing adapter, one Stripe client."""
    return get_billing_gateway()


def notification_ports() -> NotificationPorts:
    from chalicelib.domain.notifications import NotificationPorts

    return NotificationPorts(
        profiles=get_profile_repo(),
        mailer=get_mailer(),
        claims=get_rate_limiter(),
        console_url=get_settings().app_base_url,
    )


def export_ports() -> ExportPorts:
    from chalicelib.domain.account_export import ExportPorts

    return ExportPorts(
        accounts=get_account_repo(),
        profiles=get_profile_repo(),
        campaigns=get_campaign_repo(),
        prospects=get_prospect_repo(),
        videos=get_video_repo(),
        imports=get_import_repo(),
        webhooks=get_webhook_repo(),
        analytics=get_analytics(),
        store=get_upload_store(),
        jobs=get_account_job_repo(),
    )


def deletion_ports() -> DeletionPorts:
    from chalicelib.domain.account_deletion import DeletionPorts

    return DeletionPorts(
        accounts=get_account_repo(),
        profiles=get_profile_repo(),
        jobs=get_account_job_repo(),
        eraser=get_account_eraser(),
        identities=get_identity_directory(),
        subscriptions=get_subscription_canceller(),
        uploads=get_upload_store(),
        media=get_media_store(),
    )


@lru_cache(maxsize=1)
def get_media_tagger() -> S3MediaTagger:
    """The ``lapsed`` retention tag on the media bucket's objects."""
    return S3MediaTagger(s3_client(), get_settings().media_bucket)


def retention_ports() -> RetentionPorts:
    from chalicelib.domain.media_retention import RetentionPorts

    return RetentionPorts(accounts=get_account_repo(), media=get_media_tagger(), tasks=get_task_starter())


def ingest_limits() -> IngestLimits:
    s = get_settings()
    return IngestLimits(s.max_video_bytes, s.max_video_seconds, s.max_csv_bytes)


def cached_getters() -> list[Any]:
    """Every adapter getter cached here: this module's ``lru_cache``-wrapped functions, found
    rather than listed, so a new getter is reset without anyone remembering to add it."""
    return [
        fn
        for fn in globals().values()
        if callable(getattr(fn, "cache_clear", None)) and getattr(fn, "__module__", None) == __name__
    ]


def reset() -> None:
    """Forget every cached adapter and the settings (tests, and the local stack on restart)."""
    get_settings.cache_clear()
    for fn in cached_getters():
        fn.cache_clear()


# Identity and team seats (issue 18).
@lru_cache(maxsize=1)
def get_identity_provider() -> CognitoIdentity:
    """The user pool's public app client (Cognito; moto's locally)."""
    settings = get_settings()
    if not settings.cognito_client_id:
        raise ConfigurationError(
            "sign-up and sign-in need TAILORCAST_COGNITO_CLIENT_ID (the user pool's app client)"
        )
    return CognitoIdentity(
        boto3.client("cognito-idp", region_name=settings.region), settings.cognito_client_id
    )


@lru_cache(maxsize=1)
def get_team_repo() -> DynamoTeamRepository:
    _bound_table()
    return DynamoTeamRepository()
