"""Campaign use cases: create, read, change, delete, and hand out upload URLs."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chalicelib.domain import export, prospects_csv
from chalicelib.domain.errors import (
    FieldIssue,
    InvalidInputError,
    PreconditionFailedError,
    StoredDataError,
    UploadRejectedError,
    issues_from_validation,
)
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CsvImport,
    Page,
    UploadKind,
    WatchPageSettings,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import (
    AccountRepository,
    CampaignRepository,
    CsvImportRepository,
    ObjectStore,
    PresignedPost,
    ProspectRepository,
    Quota,
)
from chalicelib.domain.uploads import UPLOAD_PREFIX, UploadKey, check_declared_upload, safe_filename

EDITABLE_FIELDS = frozenset({"name", "description", "script", "name_card", "watch_page"})


def owned_campaign(campaigns: CampaignRepository, account_id: str, campaign_id: str) -> Campaign:
    """The campaign ``campaign_id`` if it is ``account_id``'s: the tenant guard every handler that
    takes a campaign id from a caller goes through before touching anything under it.

    Another account's campaign is answered exactly like one that does not exist, so a caller can
    never learn which ids other tenants use.

    Raises
    ------
    NotFoundError
        No such campaign in this account (whether or not another account has one).
    StoredDataError
        The campaign is stored in a form that no longer reads.
    """
    return campaigns.get(account_id, campaign_id)


def create_campaign(
    campaigns: CampaignRepository,
    account_id: str,
    name: str,
    description: str = "",
    script: str = "",
    quota: Quota | None = None,
) -> Campaign:
    """Create a campaign, counted against ``quota`` (the plan's campaigns: see
    :func:`chalicelib.domain.usage.campaign_quota`) in the same transaction.

    Raises
    ------
    QuotaExceededError
        (402) The plan's campaigns are all in use: nothing is created.
    """
    campaign = Campaign(
        account_id=account_id,
        campaign_id=new_id("camp"),
        name=name,
        description=description,
        script=script,
    )
    return campaigns.add(campaign, quota)


def list_campaigns(
    campaigns: CampaignRepository, account_id: str, limit: int, cursor: str | None
) -> Page[Campaign]:
    return campaigns.list(account_id, limit, cursor)


def update_campaign(
    campaigns: CampaignRepository,
    account_id: str,
    campaign_id: str,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Campaign:
    """Apply field changes atomically.

    With ``expected_version`` (the API's ``If-Match``) the write only succeeds against exactly
    that version; without it the change is retried on top of whatever is current.

    Raises
    ------
    InvalidInputError
        A field that cannot be edited.
    PreconditionFailedError
        ``expected_version`` is stale.
    NotFoundError
        No such campaign for this account.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInputError(
            "these fields cannot be changed",
            [FieldIssue(f"body.{name}", "not editable") for name in sorted(unknown)],
        )
    if "watch_page" in changes and changes["watch_page"] is None:
        changes = {**changes, "watch_page": WatchPageSettings().model_dump()}  # null: back to defaults

    def change(current: Campaign) -> Campaign | None:
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError(
                f"the campaign is at version {current.version}, not {expected_version}; "
                "reload it and try again"
            )
        if not changes:
            return None
        # model_validate (not model_copy) so lengths are checked on the merged result
        try:
            return Campaign.model_validate({**current.model_dump(), **changes, "updated_at": utcnow()})
        except ValidationError as exc:
            raise InvalidInputError("the change is invalid", issues_from_validation(exc, "body")) from exc

    return campaigns.update(account_id, campaign_id, change)


def delete_campaign(
    *,
    campaigns: CampaignRepository,
    prospects: ProspectRepository,
    uploads: ObjectStore,
    account_id: str,
    campaign_id: str,
) -> None:
    """Delete a campaign, everything in its partition, its uploaded files and its exports."""
    with contextlib.suppress(StoredDataError):  # unreadable, but there: deleting it is the repair
        campaigns.get(account_id, campaign_id)  # NotFoundError before touching anything else
    campaigns.delete(account_id, campaign_id)
    prospects.delete_campaign(account_id, campaign_id)
    uploads.delete_prefix(f"{UPLOAD_PREFIX}/{account_id}/{campaign_id}/")
    uploads.delete_prefix(export.export_prefix(account_id, campaign_id))  # personal data: not kept


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    kind: UploadKind
    key: str
    post: PresignedPost
    max_bytes: int


def request_upload(
    *,
    campaigns: CampaignRepository,
    imports: CsvImportRepository,
    uploads: ObjectStore,
    account_id: str,
    campaign_id: str,
    kind: UploadKind,
    filename: str,
    content_type: str,
    size_bytes: int,
    max_video_bytes: int,
    max_csv_bytes: int,
    ttl_seconds: int,
    mapping: dict[str, str] | None = None,
) -> UploadTicket:
    """Issue a presigned POST for a base video or a prospects CSV, and record what to expect.

    A base video requested while the campaign's base is ready becomes its ``pending_base_video``:
    it replaces the working base only once it is accepted and encoded.

    Raises
    ------
    InvalidInputError
        Declared type or size already fails the rules.
    NotFoundError
        No such campaign for this account.
    """
    limit = check_declared_upload(kind, content_type, size_bytes, max_video_bytes, max_csv_bytes)
    campaigns.get(account_id, campaign_id)
    key = UploadKey(account_id, campaign_id, kind, new_id("upl"), safe_filename(filename))
    if kind is UploadKind.BASE_VIDEO:
        # The newest requested upload wins; an older one arriving later is ignored. A ready base
        # keeps working until the new one is encoded (it waits as the pending replacement).
        requested = BaseVideo(upload_id=key.upload_id, key=key.key, filename=key.filename)
        campaigns.update(
            account_id,
            campaign_id,
            lambda c: c.with_requested_base(requested).model_copy(update={"updated_at": utcnow()}),
        )
    elif kind is UploadKind.PROSPECTS_CSV:
        imports.add(
            CsvImport(
                account_id=account_id,
                campaign_id=campaign_id,
                import_id=key.upload_id,
                filename=key.filename,
                key=key.key,
                requested_mapping=mapping,
            )
        )
    # A voice sample records nothing yet: the seller names it (PATCH …/voice) once it is uploaded,
    # and it is checked then, before it replaces the sample in use.
    post = uploads.presign_post(key.key, content_type, limit, ttl_seconds)
    return UploadTicket(upload_id=key.upload_id, kind=kind, key=key.key, post=post, max_bytes=limit)


def preview_import(
    *,
    accounts: AccountRepository,
    campaigns: CampaignRepository,
    prospects: ProspectRepository,
    account_id: str,
    campaign_id: str,
    data: bytes,
    mapping: dict[str, str] | None,
    sample: int,
    max_csv_bytes: int,
) -> prospects_csv.Preview:
    """What importing ``data`` into the campaign would do (duplicates against the campaign's
    prospects and the plan's limit included), without writing anything.

    Raises
    ------
    NotFoundError
        No such campaign for this account.
    UploadRejectedError
        The file is over the size limit, empty, binary, or lacks an email or name column.
    InvalidInputError
        ``mapping`` names an unknown field or maps two columns to one field.
    """
    campaigns.get(account_id, campaign_id)
    if len(data) > max_csv_bytes:
        raise UploadRejectedError(
            f"the file is {len(data) / 2**20:.1f} MB, over the {max_csv_bytes / 2**20:.0f} MB limit; split it"
        )
    existing = prospects.email_keys(account_id, campaign_id)
    return prospects_csv.preview_prospects(
        io.BytesIO(data),
        account_id=account_id,
        campaign_id=campaign_id,
        mapping=mapping,
        existing=existing,
        sample=sample,
        max_prospects=accounts.get(account_id).prospects_per_campaign,
    )
