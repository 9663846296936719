"""Campaigns: CRUD, paginated listing, presigned uploads, and upload (import) status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import dependencies as deps
from chalicelib.api._http import route
from chalicelib.api.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
    CsvImportList,
    CsvImportOut,
    ImportPreviewOut,
    ImportPreviewQuery,
    PageQuery,
    PreviewProspect,
    UploadOut,
    UploadRequest,
)
from chalicelib.domain import campaigns, media, usage
from chalicelib.domain.auth import Principal
from chalicelib.domain.campaigns import owned_campaign
from chalicelib.domain.errors import FieldIssue, InvalidInputError
from chalicelib.settings import get_settings

bp = Blueprint(__name__)
#: A CSV sent as the request body (listed as binary types in API Gateway: bytes arrive unchanged).
CSV_BODY_TYPES = ("text/csv", "application/csv", "application/octet-stream", "text/plain")


def _with_etag(out: CampaignOut, status: int = 200) -> Response:
    return Response(
        body=out.model_dump_json(),
        status_code=status,
        headers={"Content-Type": "application/json", "ETag": f'"{out.version}"'},
    )


@route(
    bp,
    "/campaigns",
    "POST",
    creates=True,
    summary="Create a campaign",
    status=201,
    body=CampaignCreate,
    response=CampaignOut,
)
def create(principal: Principal, body: CampaignCreate) -> Response:
    assert principal.account is not None
    quota = usage.campaign_quota(principal.account) if get_settings().enforce_plan_limits else None
    created = campaigns.create_campaign(
        deps.get_campaign_repo(), principal.account_id, **body.model_dump(), quota=quota
    )
    return _with_etag(CampaignOut.of(created), status=201)


@route(
    bp, "/campaigns", "GET", summary="List campaigns, newest first", query=PageQuery, response=CampaignPage
)
def list_(principal: Principal, query: PageQuery) -> CampaignPage:
    page = campaigns.list_campaigns(deps.get_campaign_repo(), principal.account_id, query.limit, query.cursor)
    return CampaignPage(
        items=[CampaignOut.of(c) for c in page.items], cursor=page.cursor, unreadable=page.unreadable
    )


@route(bp, "/campaigns/{campaign_id}", "GET", summary="Get a campaign", response=CampaignOut)
def get(principal: Principal, campaign_id: str) -> Response:
    campaign = owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    campaign = media.reconcile_base(
        campaign,
        campaigns=deps.get_campaign_repo(),
        media=deps.get_media_store(),
        media_jobs=deps.get_media_jobs(),
    )
    return _with_etag(CampaignOut.of(campaign))


@route(
    bp,
    "/campaigns/{campaign_id}",
    "PATCH",
    summary="Change a campaign; send If-Match with its ETag to refuse lost updates",
    body=CampaignUpdate,
    response=CampaignOut,
)
def update(principal: Principal, campaign_id: str, body: CampaignUpdate) -> Response:
    updated = campaigns.update_campaign(
        deps.get_campaign_repo(),
        principal.account_id,
        campaign_id,
        body.model_dump(exclude_unset=True),
        expected_version=_if_match(bp.current_request.headers.get("if-match")),
    )
    return _with_etag(CampaignOut.of(updated))


@route(
    bp,
    "/campaigns/{campaign_id}",
    "DELETE",
    summary="Delete a campaign with its prospects and uploads",
    status=204,
)
def delete(principal: Principal, campaign_id: str) -> None:
    campaigns.delete_campaign(
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
        uploads=deps.get_upload_store(),
        account_id=principal.account_id,
        campaign_id=campaign_id,
    )


@route(
    bp,
    "/campaigns/{campaign_id}/uploads",
    "POST",
    creates=True,
    summary="Get a presigned POST for the base video or a prospects CSV",
    status=201,
    body=UploadRequest,
    response=UploadOut,
)
def request_upload(principal: Principal, campaign_id: str, body: UploadRequest) -> UploadOut:
    settings = get_settings()
    ticket = campaigns.request_upload(
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        uploads=deps.get_upload_store(),
        account_id=principal.account_id,
        campaign_id=campaign_id,
        kind=body.kind,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        max_video_bytes=settings.max_video_bytes,
        max_csv_bytes=settings.max_csv_bytes,
        ttl_seconds=settings.upload_url_ttl_seconds,
        mapping={c: str(t) for c, t in body.mapping.items()} if body.mapping is not None else None,
    )
    return UploadOut(
        upload_id=ticket.upload_id,
        kind=ticket.kind,
        key=ticket.key,
        url=ticket.post.url,
        fields=ticket.post.fields,
        expires_in=ticket.post.expires_in,
        max_bytes=ticket.max_bytes,
    )


@route(
    bp, "/campaigns/{campaign_id}/imports", "GET", summary="CSV uploads of a campaign", response=CsvImportList
)
def list_imports(principal: Principal, campaign_id: str) -> CsvImportList:
    owned_campaign(deps.get_campaign_repo(), principal.account_id, campaign_id)
    items = deps.get_import_repo().list(principal.account_id, campaign_id)
    return CsvImportList(items=[CsvImportOut.of(i) for i in items])


@route(
    bp,
    "/campaigns/{campaign_id}/imports/preview",
    "POST",
    summary="What importing a prospects CSV (the request body) would do, writing nothing",
    query=ImportPreviewQuery,
    response=ImportPreviewOut,
    raw_body=CSV_BODY_TYPES,
)
def preview_import(
    principal: Principal, campaign_id: str, query: ImportPreviewQuery, raw: bytes
) -> ImportPreviewOut:
    found = query.column_mapping()
    mapping = {column: str(target) for column, target in found.items()} if found is not None else None
    preview = campaigns.preview_import(
        accounts=deps.get_account_repo(),
        campaigns=deps.get_campaign_repo(),
        prospects=deps.get_prospect_repo(),
        account_id=principal.account_id,
        campaign_id=campaign_id,
        data=raw,
        mapping=mapping,
        sample=query.sample,
        max_csv_bytes=get_settings().max_csv_bytes,
    )
    return ImportPreviewOut(
        encoding=preview.encoding,
        delimiter=preview.delimiter,
        mapping=preview.mapping,
        total_rows=preview.total_rows,
        valid=preview.valid,
        duplicates=preview.duplicates,
        failed=preview.failed,
        errors=preview.errors,
        warnings=preview.warnings,
        prospects=[
            PreviewProspect.model_validate(p.model_dump(include=set(PreviewProspect.model_fields)))
            for p in preview.prospects
        ],
    )


@route(
    bp, "/campaigns/{campaign_id}/imports/{import_id}", "GET", summary="One CSV upload", response=CsvImportOut
)
def get_import(principal: Principal, campaign_id: str, import_id: str) -> CsvImportOut:
    return CsvImportOut.of(deps.get_import_repo().get(principal.account_id, campaign_id, import_id))


def _if_match(header: str | None) -> int | None:
    if header is None:
        return None
    try:
        return int(header.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise InvalidInputError(
            "bad If-Match header", [FieldIssue("header.If-Match", 'must be an ETag from this API, e.g. "3"')]
        ) from exc
