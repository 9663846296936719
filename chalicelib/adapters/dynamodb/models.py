"""PynamoDB models of the single table (layout in ``schema.py``).

Models are bound to a table name at run time by :func:`bind` (from settings), never at import.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model


class TableItem(Model):
    """Common key attributes; every entity shares one table."""

    class Meta:
        table_name = "unbound"  # replaced by bind()
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AccountItem(TableItem):
    name = UnicodeAttribute()
    plan = UnicodeAttribute()
    status = UnicodeAttribute()
    trial_ends_at = UTCDateTimeAttribute(null=True)
    trial_video_limit = NumberAttribute()
    videos_rendered = NumberAttribute(default=0)
    stripe_customer_id = UnicodeAttribute(null=True)
    stripe_subscription_id = UnicodeAttribute(null=True)
    subscription_changed_at = UTCDateTimeAttribute(null=True)
    period_start = UTCDateTimeAttribute(null=True)
    period_end = UTCDateTimeAttribute(null=True)
    past_due_since = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    version = VersionAttribute()
    branding = MapAttribute[str, Any](null=True)  # issue 18: logo key, accent colour, badge


class UserItem(TableItem):
    subject = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class SubjectClaimItem(TableItem):
    """Maps an identity subject to its user; reserving it makes a login unique across accounts."""

    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()


class CampaignItem(TableItem):
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    script = UnicodeAttribute(default="")
    status = UnicodeAttribute()
    base_video = MapAttribute[str, Any](null=True)
    pending_base_video = MapAttribute[str, Any](null=True)  # absent on items written before it
    voice = MapAttribute[str, Any](null=True)
    name_card = MapAttribute[str, Any](null=True)
    watch_page = MapAttribute[str, Any](null=True)
    active_batch_id = UnicodeAttribute(null=True)
    prospects = NumberAttribute(default=0)
    videos_rendered = NumberAttribute(default=0)
    videos_failed = NumberAttribute(default=0)
    views = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = VersionAttribute()


class ProspectsByWatchToken(GlobalSecondaryIndex["ProspectItem"]):
    """GSI1: a watch link's token to its prospect (the only way in without an account)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _ProspectIndex(LocalSecondaryIndex["ProspectItem"]):
    pk = UnicodeAttribute(hash_key=True)


class ProspectsByEmail(_ProspectIndex):
    class Meta:
        index_name = "lsi_email"
        projection = AllProjection()

    email_key = UnicodeAttribute(range_key=True)


class ProspectsByName(_ProspectIndex):
    class Meta:
        index_name = "lsi_name"
        projection = AllProjection()

    name_key = UnicodeAttribute(range_key=True)


class ProspectsByCompany(_ProspectIndex):
    class Meta:
        index_name = "lsi_company"
        projection = AllProjection()

    company_key = UnicodeAttribute(range_key=True)


class ProspectsByStatus(_ProspectIndex):
    class Meta:
        index_name = "lsi_status"
        projection = AllProjection()

    status_key = UnicodeAttribute(range_key=True)


class ProspectItem(TableItem):
    first_name = UnicodeAttribute()
    last_name = UnicodeAttribute(null=True)
    email = UnicodeAttribute()
    company = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    website = UnicodeAttribute(null=True)
    linkedin_url = UnicodeAttribute(null=True)
    pronunciation = UnicodeAttribute(null=True)
    custom_fields = MapAttribute[str, Any](default=dict)
    watch_token = UnicodeAttribute()
    video_status = UnicodeAttribute()
    video_error = UnicodeAttribute(null=True)
    video_generated_at = UTCDateTimeAttribute(null=True)
    variant = UnicodeAttribute(null=True)
    watch_expires_at = UTCDateTimeAttribute(null=True)
    watch_revoked_at = UTCDateTimeAttribute(null=True)
    email_sent_at = UTCDateTimeAttribute(null=True)
    video_viewed_at = UTCDateTimeAttribute(null=True)
    video_view_count = NumberAttribute(default=0)
    cta_clicked_at = UTCDateTimeAttribute(null=True)
    cta_click_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = VersionAttribute()
    # Derived, for the indexes (see schema.py) and search; written with every change.
    email_key = UnicodeAttribute()
    name_key = UnicodeAttribute()
    company_key = UnicodeAttribute()
    status_key = UnicodeAttribute()
    search_text = UnicodeAttribute()
    gsi1pk = UnicodeAttribute(null=True)  # WATCH#{watch_token}
    gsi1sk = UnicodeAttribute(null=True)

    by_watch_token = ProspectsByWatchToken()
    by_email = ProspectsByEmail()
    by_name = ProspectsByName()
    by_company = ProspectsByCompany()
    by_status = ProspectsByStatus()


class ProspectRosterItem(TableItem):
    """``sk = ROSTER``: who may add prospects to the campaign. Single adds bump ``revision`` in
    their transaction; a bulk import holds it (``holder`` until ``held_until``, epoch seconds)."""

    revision = NumberAttribute(default=0)
    holder = UnicodeAttribute(null=True)
    held_until = NumberAttribute(null=True)


class PronunciationItem(TableItem):
    """An account lexicon entry: pk ``ACCOUNT#{id}``, sk ``LEXICON#{normalized name}``."""

    name = UnicodeAttribute()
    pronunciation = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()


class CsvImportItem(TableItem):
    filename = UnicodeAttribute()
    key = UnicodeAttribute()
    status = UnicodeAttribute()
    size_bytes = NumberAttribute(null=True)
    total_rows = NumberAttribute(default=0)
    imported = NumberAttribute(default=0)
    duplicates = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    errors = ListAttribute[Any](default=list)
    reason = UnicodeAttribute(null=True)
    encoding = UnicodeAttribute(null=True)
    delimiter = UnicodeAttribute(null=True)
    mapping = ListAttribute[Any](default=list)  # [source column, target] pairs: a map would lose their order
    requested_mapping = ListAttribute[Any](null=True)  # the same, as the seller asked
    warnings = ListAttribute[Any](default=list)
    created_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()


class RenderBatchItem(TableItem):
    """A render batch (``sk = BATCH#{batch_id}``); the entity as a JSON map, counters apart."""

    status = UnicodeAttribute()
    data = MapAttribute[str, Any]()
    version = VersionAttribute()


class BatchCountersItem(TableItem):
    """A batch's counters (``sk = BATCHCOUNT#{batch_id}``): unversioned, moved only by atomic
    ``ADD`` in the same transaction as the prospect status change they count."""

    queued = NumberAttribute(default=0)
    in_progress = NumberAttribute(default=0)
    completed = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    cancelled = NumberAttribute(default=0)


class VideoItem(TableItem):
    """A prospect's current render (``sk = VIDEO#{prospect_id}``); the entity as a JSON map."""

    render_id = UnicodeAttribute()
    status = UnicodeAttribute()
    data = MapAttribute[str, Any]()
    version = VersionAttribute()


class WebhookEndpointItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``WEBHOOK#{endpoint_id}``."""

    url = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    events = ListAttribute[str](default=list)
    secret = UnicodeAttribute()
    enabled = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()


class WebhookDeliveryItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``DELIVERY#{endpoint_id}#{delivery_id}`` (ULIDs: by time)."""

    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    payload = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    last_attempt_at = UTCDateTimeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class WebhookEventClaimItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``WHEVENT#{endpoint_id}#{sha256(event_id)}``: the delivery
    an event got on an endpoint, written with it in one transaction (publishing is idempotent)."""

    delivery_id = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class QuotaCounterItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``QUOTA#{name}``: how much of a per-account quota is used,
    moved only by conditional ``ADD`` (``used < limit`` going up, ``used > 0`` going down), in the
    same transaction as the item it counts when there is one."""

    used = NumberAttribute(default=0)


class VideoLedgerItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``LEDGER#videos#{period start}``: one usage period's videos.
    ``taken`` (reserved or rendered) moves only by a conditional ``ADD`` (``taken < limit``) in the
    transaction that queues a render; ``committed`` (rendered) in the one that completes it."""

    taken = NumberAttribute(default=0)
    committed = NumberAttribute(default=0)


class ApiKeyItem(TableItem):
    """pk ``APIKEY#{sha256(key)}``, sk ``APIKEY``: what authenticating with a key reads (the one
    item outside an account partition besides the subject claim; its key is the secret's hash)."""

    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_used_at = UTCDateTimeAttribute(null=True)


class ApiKeyRefItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``APIKEY#{key_id}``: the account's list of keys, pointing
    at each key's lookup item by its hash."""

    key_hash = UnicodeAttribute()
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class RateCounterItem(TableItem):
    """pk ``RATE#{key}``, sk ``COUNT``: a fixed-window counter (the key names its window)."""

    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)


class ClaimItem(TableItem):
    """pk ``CLAIM#{key}``, sk ``CLAIM``: a one-time claim (a beacon's session and sequence number),
    written only if absent."""

    expires_at = TTLAttribute(null=True)


class AnalyticsCacheItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``ANALYTICS#{key}``: a computed analytics answer (JSON)."""

    computed_at = UTCDateTimeAttribute()
    value = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


# --------------------------------------------------------------------------- issue 18, item 6


class UserProfileItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``PROFILE#{user_id}``: the user's profile and notification
    preferences (the entity as a JSON map; absent: the defaults)."""

    data = MapAttribute[str, Any]()


class AccountJobItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``EXPORT#{export_id}`` or ``DELETION``: an account job."""

    status = UnicodeAttribute()
    data = MapAttribute[str, Any]()


ALL_MODELS: tuple[type[TableItem], ...] = (
    TableItem,
    VideoItem,
    AccountItem,
    UserItem,
    SubjectClaimItem,
    CampaignItem,
    ProspectItem,
    ProspectRosterItem,
    CsvImportItem,
    PronunciationItem,
    RenderBatchItem,
    BatchCountersItem,
    WebhookEndpointItem,
    WebhookDeliveryItem,
    WebhookEventClaimItem,
    QuotaCounterItem,
    VideoLedgerItem,
    ApiKeyItem,
    ApiKeyRefItem,
    RateCounterItem,
    ClaimItem,
    AnalyticsCacheItem,
    UserProfileItem,
    AccountJobItem,
)


# Team seats (issue 18).
class InviteItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``INVITE#{invite_id}``: a pending invite (counted as a seat)."""

    email = UnicodeAttribute()
    role = UnicodeAttribute()
    invited_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class InviteeItem(TableItem):
    """pk ``INVITEE#{email}``, sk ``ACCOUNT#{account_id}``: where sign-up finds an email's invites
    (one per account: inviting the same email twice is refused by this key)."""

    invite_id = UnicodeAttribute()


ALL_MODELS = (*ALL_MODELS, InviteItem, InviteeItem)


def bind(table_name: str, region: str) -> None:
    """Point every model at the configured table (and drop cached connections to another)."""
    for model in ALL_MODELS:
        model.Meta.table_name = table_name
        model.Meta.region = region
        model._connection = None


class CheckoutHoldItem(TableItem):
    """pk ``ACCOUNT#{account_id}``, sk ``CHECKOUT``: the account's one open Stripe checkout (issue 18),
    written only if absent or expired; its session once made."""

    token = UnicodeAttribute()
    plan = UnicodeAttribute()
    session_id = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()
