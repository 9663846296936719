"""The prospects bulk writer against DynamoDB (moto): the items it sends, unprocessed items, and an
import that fails midway.

The writer sends ``BatchWriteItem`` requests built from the prospects' attribute maps
(:class:`~chalicelib.adapters.dynamodb.repositories.prospects.ItemAttributes`), not from PynamoDB
models: the maps must be exactly what PynamoDB would have stored.
"""

from __future__ import annotations

import io
from datetime import UTC
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.dynamodb.repositories.prospects import (
    PROSPECTS,
    _prospect_to_item,
    prospect_wire_item,
)
from chalicelib.domain.models import Prospect, VideoStatus, new_id

_TEXT = st.text(min_size=1, max_size=40)
_MAYBE_TEXT = st.none() | _TEXT
_MAYBE_TIME = st.none() | st.datetimes(timezones=st.just(UTC))

PROSPECT_VALUES = st.fixed_dictionaries(
    {
        "account_id": st.just("acct_a"),
        "campaign_id": st.just("camp_1"),
        "prospect_id": st.from_regex(r"pros_[0-9a-z]{10}", fullmatch=True),
        "first_name": _TEXT,
        "last_name": _MAYBE_TEXT,
        "email": st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,5})?@[a-z]{1,10}\.(com|io|de)", fullmatch=True),
        "company": _MAYBE_TEXT,
        "title": _MAYBE_TEXT,
        "phone": st.none() | st.text(min_size=1, max_size=50),
        "website": _MAYBE_TEXT,
        "linkedin_url": _MAYBE_TEXT,
        "pronunciation": _MAYBE_TEXT,
        "custom_fields": st.dictionaries(_TEXT, st.text(max_size=40), max_size=5),
        "video_status": st.sampled_from(list(VideoStatus)),
        "video_error": _MAYBE_TEXT,
        "video_generated_at": _MAYBE_TIME,
        "watch_expires_at": _MAYBE_TIME,
        "email_sent_at": _MAYBE_TIME,
        "video_view_count": st.integers(0, 10**9),
        "cta_click_count": st.integers(0, 10**9),
        "created_at": st.datetimes(timezones=st.just(UTC)),
    }
)


@given(values=PROSPECT_VALUES, version=st.integers(1, 10**6))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_the_wire_item_is_what_pynamodb_serializes(values: dict[str, Any], version: int) -> None:
    # GIVEN any valid prospect
    prospect = Prospect.model_validate(values)
    # WHEN it is turned into an attribute map directly, and through the PynamoDB item
    item = _prospect_to_item(prospect)
    item.version = version
    # THEN both are the same, attribute for attribute
    assert prospect_wire_item(prospect, version) == item.serialize()


def test_a_missing_required_attribute_is_refused_as_pynamodb_refuses_it() -> None:
    from pynamodb.exceptions import AttributeNullError

    from chalicelib.adapters.dynamodb.models import ProspectItem
    from chalicelib.adapters.dynamodb.repositories.prospects import ItemAttributes

    prospect = Prospect(account_id="a", campaign_id="c", prospect_id="p", first_name="Zoë", email="z@x.io")
    values = {**PROSPECTS.item_values(prospect), "pk": "CAMPAIGN#a#c", "sk": "PROSPECT#p"}
    del values["email"]
    with pytest.raises(AttributeNullError):
        ItemAttributes(ProspectItem)(values)


# --------------------------------------------------------------------------- against moto


def _prospects(n: int, campaign_id: str = "camp_1") -> list[Prospect]:
    return [
        Prospect(
            account_id="acct_a",
            campaign_id=campaign_id,
            prospect_id=new_id("pros"),
            first_name=f"Zoë {i}",
            email=f"z{i}@example.com",
            custom_fields={"City": "Köln"},
        )
        for i in range(n)
    ]


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every ``BatchWriteItem`` sent: the sort keys it carried (the calls still reach moto)."""
    calls: list[list[str]] = []
    real = getattr(BaseClient, "_make_api_call")  # noqa: B009 (botocore's, what the writer calls)

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "BatchWriteItem":
            (requests,) = params["RequestItems"].values()
            calls.append([r["PutRequest"]["Item"]["sk"]["S"] for r in requests])
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def test_stored_prospects_read_back_as_written(aws: None) -> None:
    from chalicelib import dependencies as deps

    repo = deps.get_prospect_repo()
    written = _prospects(60)
    with repo.bulk_writer("acct_a", "camp_1", "upl_1") as writer:
        for p in written:
            writer.add(p)
    assert writer.written == 60
    stored = {p.prospect_id: p for p in repo.iter_campaign("acct_a", "camp_1")}
    assert stored == {p.prospect_id: p.model_copy(update={"version": 1}) for p in written}


def test_unprocessed_items_are_sent_again_until_stored(
    aws: None, monkeypatch: pytest.MonkeyPatch, batch_calls: list[list[str]]
) -> None:
    from chalicelib import dependencies as deps

    # GIVEN DynamoDB leaving the last 7 items of the first batch unprocessed (throughput exceeded)
    recording = getattr(BaseClient, "_make_api_call")  # noqa: B009
    held_back: list[Any] = []

    def partial(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation != "BatchWriteItem" or held_back:
            return recording(self, operation, params)
        ((table, requests),) = params["RequestItems"].items()
        held_back.extend(requests[-7:])
        reply = recording(self, operation, {"RequestItems": {table: requests[:-7]}})
        return {**reply, "UnprocessedItems": {table: requests[-7:]}}

    monkeypatch.setattr(BaseClient, "_make_api_call", partial)
    repo = deps.get_prospect_repo()
    written = _prospects(25)
    # WHEN one batch is written
    with repo.bulk_writer("acct_a", "camp_1", "upl_1") as writer:
        for p in written:
            writer.add(p)
    # THEN exactly the unprocessed items went again, and every prospect is stored and counted
    sks = [f"PROSPECT#{p.prospect_id}" for p in written]
    assert batch_calls == [sks[:-7], sks[-7:]]
    assert writer.written == 25
    assert {p.prospect_id for p in repo.iter_campaign("acct_a", "camp_1")} == {p.prospect_id for p in written}


def test_items_never_processed_fail_the_writer_with_a_storage_error(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import dependencies as deps
    from chalicelib.adapters.dynamodb.repositories import prospects as module
    from chalicelib.domain.errors import StorageError

    real = getattr(BaseClient, "_make_api_call")  # noqa: B009

    def nothing_processed(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "BatchWriteItem":
            return {"UnprocessedItems": params["RequestItems"]}
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", nothing_processed)
    monkeypatch.setattr(module.time, "sleep", lambda _: None)  # type: ignore[attr-defined]  # the backoff, not what is tested
    repo = deps.get_prospect_repo()
    writers: list[Any] = []

    def write() -> None:
        with repo.bulk_writer("acct_a", "camp_1", "upl_1") as writer:
            writers.append(writer)
            for p in _prospects(3):
                writer.add(p)

    with pytest.raises(StorageError, match="still unprocessed"):
        write()
    assert writers[0].written == 0


def _csv(rows: int) -> bytes:
    lines = ["First Name,Email,Company"] + [f"Zoë {i},z{i}@example.com,Acme" for i in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _upload_csv(data: bytes) -> tuple[str, str, str]:
    """An account, a campaign and ``data`` uploaded as its prospects CSV: (account, campaign, key)."""
    from chalicelib import dependencies as deps
    from chalicelib.domain import campaigns as svc
    from chalicelib.domain.models import Account, Plan, Role, UploadKind, User

    account = Account(account_id=new_id("acct"), name="t", plan=Plan.AGENCY)
    owner = User(
        account_id=account.account_id,
        user_id=new_id("user"),
        subject=new_id("sub"),
        email="owner@example.com",
        role=Role.OWNER,
    )
    deps.get_account_repo().create(account, owner)
    campaign = svc.create_campaign(deps.get_campaign_repo(), account.account_id, "q4")
    ticket = svc.request_upload(
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        uploads=deps.get_upload_store(),
        account_id=account.account_id,
        campaign_id=campaign.campaign_id,
        kind=UploadKind.PROSPECTS_CSV,
        filename="leads.csv",
        content_type="text/csv",
        size_bytes=len(data),
        max_video_bytes=1,
        max_csv_bytes=10**8,
        ttl_seconds=600,
    )
    import boto3

    from chalicelib.settings import get_settings

    boto3.client("s3").upload_fileobj(io.BytesIO(data), get_settings().uploads_bucket, ticket.key)
    return account.account_id, campaign.campaign_id, ticket.key


def test_an_import_failing_midway_keeps_what_was_stored_and_says_where_it_stopped(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import dependencies as deps
    from chalicelib.domain.ingest import ingest_upload
    from chalicelib.domain.models import CsvImportStatus
    from chalicelib.domain.uploads import UploadKey

    account_id, campaign_id, key = _upload_csv(_csv(300))
    # GIVEN DynamoDB failing every batch after the first four (after botocore's own retries)
    real = getattr(BaseClient, "_make_api_call")  # noqa: B009
    batches = [0]

    def failing_later(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "BatchWriteItem":
            batches[0] += 1
            if batches[0] > 4:
                error = {"Error": {"Code": "InternalServerError", "Message": "boom"}}
                raise ClientError(error, operation)  # type: ignore[arg-type]
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing_later)
    # WHEN the file is imported
    outcome = ingest_upload(
        key,
        accounts=deps.get_account_repo(),
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        prospects=deps.get_prospect_repo(),
        store=deps.get_upload_store(),
        probe=deps.get_media_probe(),
        limits=deps.ingest_limits(),
        start_ladder=lambda campaign: "",
    )
    monkeypatch.setattr(BaseClient, "_make_api_call", real)
    # THEN the import failed saying where; the four stored batches stay, are counted, and the
    # campaign counts them; nothing was left half-written
    stored = deps.get_prospect_repo().email_keys(account_id, campaign_id)
    upload_id = UploadKey.parse(key).upload_id
    record = deps.get_import_repo().get(account_id, campaign_id, upload_id)
    assert outcome.status == CsvImportStatus.FAILED.value
    assert record.status is CsvImportStatus.FAILED
    assert "the import stopped at row" in (record.reason or "")
    assert len(stored) == record.imported == 100
    assert stored <= {f"z{i}@example.com" for i in range(300)}
    assert deps.get_campaign_repo().get(account_id, campaign_id).counters.prospects == 100
    # AND importing the same file again adds the rest, the stored rows as duplicates
    retry_key = _reupload(account_id, campaign_id, _csv(300))
    again = ingest_upload(
        retry_key,
        accounts=deps.get_account_repo(),
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        prospects=deps.get_prospect_repo(),
        store=deps.get_upload_store(),
        probe=deps.get_media_probe(),
        limits=deps.ingest_limits(),
        start_ladder=lambda campaign: "",
    )
    second = deps.get_import_repo().get(account_id, campaign_id, UploadKey.parse(retry_key).upload_id)
    assert again.status == CsvImportStatus.COMPLETED.value
    assert (second.imported, second.duplicates) == (200, 100)
    assert len(deps.get_prospect_repo().email_keys(account_id, campaign_id)) == 300


def _reupload(account_id: str, campaign_id: str, data: bytes) -> str:
    import boto3

    from chalicelib import dependencies as deps
    from chalicelib.domain import campaigns as svc
    from chalicelib.domain.models import UploadKind
    from chalicelib.settings import get_settings

    ticket = svc.request_upload(
        campaigns=deps.get_campaign_repo(),
        imports=deps.get_import_repo(),
        uploads=deps.get_upload_store(),
        account_id=account_id,
        campaign_id=campaign_id,
        kind=UploadKind.PROSPECTS_CSV,
        filename="leads.csv",
        content_type="text/csv",
        size_bytes=len(data),
        max_video_bytes=1,
        max_csv_bytes=10**8,
        ttl_seconds=600,
    )
    boto3.client("s3").upload_fileobj(io.BytesIO(data), get_settings().uploads_bucket, ticket.key)
    return ticket.key
