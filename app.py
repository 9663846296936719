"""Tailorcast: wiring only. Routes live in ``chalicelib/api``, tasks in ``chalicelib/tasks``."""

from chalice.app import Chalice

from chalicelib import observability
from chalicelib.api import (
    account_data,
    accounts,
    analytics,
    auth,
    billing,
    branding,
    campaigns,
    exports,
    health,
    profile,
    prospects,
    renders,
    team,
    videos,
    voice,
    watch,
    webhooks,
)
from chalicelib.api._http import normalize_framework_errors
from chalicelib.domain.images import IMAGE_CONTENT_TYPES
from chalicelib.settings import get_settings
from chalicelib.tasks import account_jobs, uploads
from chalicelib.tasks import campaigns as campaign_tasks
from chalicelib.tasks import identity as identity_tasks
from chalicelib.tasks import media as media_tasks
from chalicelib.tasks import notifications as notification_tasks
from chalicelib.tasks import render as render_tasks
from chalicelib.tasks import webhooks as webhook_tasks

settings = get_settings()  # validated once, at cold start

app = Chalice(app_name="tailorcast")
# Files sent as request bodies (a CSV to preview) must reach the Lambda byte for byte: a cp1252
# export is not UTF-8, so API Gateway has to pass them base64-encoded instead of as text.
for _content_type in (*campaigns.CSV_BODY_TYPES, *IMAGE_CONTENT_TYPES):  # images: avatar, logo
    if _content_type not in app.api.binary_types:
        app.api.binary_types.append(_content_type)
observability.register(app)
app.register_middleware(normalize_framework_errors, "http")

# API views get a prefix so names like `get` never collide across blueprints; task Lambdas keep
# theirs, since the state machines address them by name.
for prefix, blueprint in (
    ("health_", health.bp),
    ("accounts_", accounts.bp),
    ("campaigns_", campaigns.bp),
    ("prospects_", prospects.bp),
    ("videos_", videos.bp),
    ("voice_", voice.bp),
    ("renders_", renders.bp),
    ("webhooks_", webhooks.bp),
    ("exports_", exports.bp),
    ("watch_", watch.bp),
    ("analytics_", analytics.bp),
    ("billing_", billing.bp),
    ("profile_", profile.bp),
    ("branding_", branding.bp),
    ("account_data_", account_data.bp),
    ("auth_", auth.bp),
    ("team_", team.bp),
):
    app.register_blueprint(blueprint, name_prefix=prefix)
app.register_blueprint(campaign_tasks.bp)
app.register_blueprint(media_tasks.bp)
app.register_blueprint(render_tasks.bp)
app.register_blueprint(webhook_tasks.bp)
app.register_blueprint(account_jobs.bp)
app.register_blueprint(notification_tasks.bp)
app.register_blueprint(identity_tasks.bp)

# Bound to a module name: Lambda's handler string for this function is `app.on_upload`.
on_upload = app.on_s3_event(
    bucket=settings.uploads_bucket,
    events=["s3:ObjectCreated:*"],
    prefix="uploads/",
    name="ingest_upload",
)(uploads.on_upload)
