"""The one settings model, validated once at cold start.

Infrastructure (CDK in the cloud, ``devstack`` locally) passes every value by environment
variable with the ``TAILORCAST_`` prefix. AWS endpoints are *not* settings: boto3 and PynamoDB
pick up the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables, so the
product code is identical in both worlds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Runtime configuration of every Tailorcast Lambda."""

    # hide_input_in_errors: a cold-start error names the variable, never a secret's value.
    model_config = SettingsConfigDict(
        env_prefix="TAILORCAST_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    stage: str = "local"
    region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    table_name: str = "tailorcast-local"
    uploads_bucket: str = "tailorcast-local-uploads"
    media_bucket: str = "tailorcast-local-media"

    # Auth: "local" verifies tokens against a JWKS file written by the local issuer;
    # "cognito" fetches the user pool's JWKS over HTTPS. Verification code is shared.
    auth_mode: Literal["local", "cognito"] = "local"
    jwt_issuer: str = "http://127.0.0.1/tailorcast-local-issuer"
    jwt_audience: str = "tailorcast-local-client"
    jwks_url: str | None = None
    local_jwks_path: str | None = None

    # Identity (issue 18): the Cognito user pool and its public app client (USER_PASSWORD_AUTH,
    # REFRESH_TOKEN_AUTH). The same boto3 `cognito-idp` calls reach Cognito in the cloud and the
    # local stack's moto Cognito; tokens are verified against the pool's JWKS (`jwks_url`) in both.
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None

    # Billing (issue 18): a Secrets Manager secret, JSON {"api_key": "sk_…", "webhook_secrets":
    # ["whsec_…", …]} (several during a rotation). `stripe_api_base` is set only locally, where it
    # points stripe-python at the Stripe stand-in; in the cloud the library's default is used.
    stripe_secret_name: str = "tailorcast-local-stripe"  # noqa: S105 - the secret's name
    stripe_api_base: str | None = None
    # Where the seller's browser returns after Stripe's checkout and portal (the console).
    app_base_url: str | None = None

    # Notifications (issue 18): the SES identity transactional email is sent from.
    notifications_from_address: str = "Tailorcast <no-reply@tailorcast.local>"
    # Account export and deletion (issue 18, item 6): the task Lambdas the API starts
    # asynchronously (InvocationType=Event), by name as Chalice deploys them.
    export_function_name: str = "tailorcast-local-export_account"
    deletion_function_name: str = "tailorcast-local-delete_account"
    # The lapsed retention tag on an account's media (docs/retention.md), started by the webhook.
    retention_function_name: str = "tailorcast-local-tag_lapsed_media"

    # MediaConvert: the role its jobs assume (read uploads, write media) and, optionally, a queue.
    # The endpoint is AWS_ENDPOINT_URL_MEDIACONVERT locally; in AWS botocore resolves it.
    mediaconvert_role_arn: str = "arn:aws:iam::123456789012:role/tailorcast-local-mediaconvert"
    mediaconvert_queue_arn: str | None = None
    download_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    # Voice: the container-image function that runs the engines (invoked by name), the engine a
    # new campaign starts with, and the cloud engines' credentials.
    voice_function_name: str = "tailorcast-local-voice"
    default_voice_engine: Literal["piper", "flite", "espeak", "polly", "elevenlabs"] = "piper"
    piper_model_path: str | None = None  # an operator-supplied .onnx voice instead of the packaged one
    elevenlabs_api_key: SecretStr | None = None

    # Outgoing webhooks: the state machine that delivers each one (its name is deterministic, so
    # infrastructure passes it without a dependency cycle), and whether receivers may be on
    # http://localhost (the local stack only; never in the cloud).
    webhook_state_machine_arn: str = (
        "arn:aws:states:us-east-1:123456789012:stateMachine:tailorcast-local-deliver_webhook"
    )
    webhook_allow_insecure_localhost: bool = False
    # The KMS key (ARN, id or alias) that seals secrets kept in the table, such as webhook signing
    # secrets. CDK passes its customer-managed key's ARN; the local stack makes this alias in moto.
    sealing_key_id: str = "alias/tailorcast-local-sealing"

    # Rendering: the render state machine (its ARN is deterministic from its name, so functions
    # and state machine need not reference each other), how many prospects render at once, and
    # above how many a batch is read from an S3 manifest by a Distributed Map.
    render_state_machine_arn: str = (
        "arn:aws:states:us-east-1:123456789012:stateMachine:tailorcast-local-render_campaign"
    )
    render_concurrency: int = Field(default=8, ge=1, le=1000)
    render_inline_max: int = Field(default=1000, ge=1, le=2000)
    # Where viewers fetch media from: CloudFront in AWS, the local media gateway in devstack.
    # Unset, the API gives object keys but no URLs.
    media_base_url: str | None = None
    # Where prospects' watch links point ({watch_base_url}/w/{watch_token}): the site or CloudFront
    # in AWS, the local API in devstack. Unset, exports leave watch links empty (and say so).
    watch_base_url: str | None = None

    # Watch page delivery (issue 7). HLS is served behind CloudFront signed cookies: the watch page
    # signs them with the private key kept in the watch secret (Secrets Manager, JSON with
    # `cookie_private_key` (PEM) and `session_key`), for the CloudFront public key `media_key_pair_id`.
    # Locally devstack generates the key pair and stores the same secret in moto.
    watch_secret_name: str = "tailorcast-local-watch"  # noqa: S105 - the secret's name, not a secret
    media_key_pair_id: str = "K2LOCALTAILORCAST"
    watch_cookie_ttl_seconds: int = Field(default=6 * 3600, ge=300, le=7 * 24 * 3600)
    # Engagement events: a Firehose delivery stream into the analytics bucket (events/dt=YYYY-MM-DD/),
    # queried by Athena through the Glue table below.
    analytics_bucket: str = "tailorcast-local-analytics"
    events_stream_name: str = "tailorcast-local-events"
    analytics_database: str = "tailorcast_local"
    analytics_table: str = "events"
    athena_workgroup: str = "tailorcast-local"
    # How old a cached analytics answer may be before it is recomputed (the API says how old it is).
    analytics_max_age_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    # Engagement integrity: a hit this soon after the email was sent is a scanner's; more beacons
    # than this per minute from one (truncated) IP are a flood.
    bot_after_send_seconds: int = Field(default=60, ge=0, le=3600)
    beacon_rate_per_minute: int = Field(default=240, ge=1, le=100_000)
    # The front door's proof (CloudFront's custom origin header `X-Origin-Verify`; the local
    # gateway's): the public watch routes refuse a request without it (403), and only such a
    # request's `CloudFront-Viewer-Address` is believed. Unset, nothing is refused and that header
    # is never believed (the connection's source address is used). CDK and devstack always set it.
    origin_verify_secret: SecretStr | None = Field(default=None, min_length=32)

    # The plan's limits on the authenticated API (rate per hour, videos, campaigns): always on in
    # the cloud (CDK never sets it). Off only as the baseline of `tailorcast bench api`, which
    # measures the same requests with and without them side by side.
    enforce_plan_limits: bool = True

    # Upload limits (issue 2 / issue 6).
    max_video_bytes: int = 100 * MiB
    max_video_seconds: float = 300.0
    max_csv_bytes: int = 10 * MiB
    upload_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    page_size_max: int = 100

    @model_validator(mode="after")
    def _auth_source(self) -> Settings:
        if self.auth_mode == "cognito" and not self.jwks_url:
            raise ValueError("TAILORCAST_JWKS_URL is required when TAILORCAST_AUTH_MODE=cognito")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, validated on first use (cold start)."""
    return Settings()
