"""The one item↔model mapper (``chalicelib/adapters/dynamodb/mapping.py``): every domain field is
stored by name or by a hook, so a new field needs the model and its item, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.mapping import VERSION, ItemMapping, from_attribute, to_attribute
from chalicelib.adapters.dynamodb.repositories.accounts import ACCOUNTS, USERS
from chalicelib.adapters.dynamodb.repositories.campaigns import CAMPAIGNS
from chalicelib.adapters.dynamodb.repositories.imports import IMPORTS
from chalicelib.adapters.dynamodb.repositories.lexicon import LEXICON
from chalicelib.adapters.dynamodb.repositories.prospects import PROSPECTS
from chalicelib.adapters.dynamodb.repositories.webhooks import DELIVERIES, ENDPOINTS
from chalicelib.domain.models import (
    Account,
    Campaign,
    CsvImport,
    NameCard,
    PronunciationEntry,
    Prospect,
    RowError,
    User,
    VideoStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
MAPPINGS: dict[str, ItemMapping[Any, Any]] = {
    "accounts": ACCOUNTS,
    "users": USERS,
    "campaigns": CAMPAIGNS,
    "prospects": PROSPECTS,
    "imports": IMPORTS,
    "lexicon": LEXICON,
    "webhook endpoints": ENDPOINTS,
    "webhook deliveries": DELIVERIES,
}
SAMPLES: dict[str, Any] = {
    "accounts": Account(account_id="acct_a", name="Acme", created_at=NOW, version=3),
    "users": User(account_id="acct_a", user_id="usr_1", subject="sub", email="a@example.com", created_at=NOW),
    "campaigns": Campaign(
        account_id="acct_a",
        campaign_id="camp_1",
        name="Q4",
        name_card=NameCard(subtitle=None),
        created_at=NOW,
        updated_at=NOW,
        version=2,
    ),
    "prospects": Prospect(
        account_id="acct_a",
        campaign_id="camp_1",
        prospect_id="pros_1",
        first_name="Zoë",
        email="zoe@example.com",
        custom_fields={"deal": "40k"},
        video_status=VideoStatus.COMPLETED,
        created_at=NOW,
        updated_at=NOW,
        version=1,
    ),
    "imports": CsvImport(
        account_id="acct_a",
        campaign_id="camp_1",
        import_id="imp_1",
        filename="leads.csv",
        key="k",
        errors=[RowError(row=2, field="email", message="bad email")],
        mapping={"E-mail": "email", "Name": "first_name"},
        created_at=NOW,
        version=1,
    ),
    "lexicon": PronunciationEntry(
        account_id="acct_a", key="zoe", name="Zoë", pronunciation="ZOH-ee", updated_at=NOW
    ),
    "webhook endpoints": WebhookEndpoint(
        account_id="acct_a",
        endpoint_id="whk_1",
        url="https://hooks.example.com/h",
        events=["video.completed"],
        secret="kms1:c2VhbGVk",
        created_at=NOW,
    ),
    "webhook deliveries": WebhookDelivery(
        account_id="acct_a",
        endpoint_id="whk_1",
        delivery_id="dlv_1",
        event_id="evt_1",
        event_type="video.completed",
        payload="{}",
        created_at=NOW,
    ),
}


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_every_domain_field_is_stored_by_name_or_by_a_hook(name: str) -> None:
    mapping = MAPPINGS[name]
    sample = SAMPLES[name]
    item = mapping.to_item(sample)
    by_hook = set(mapping.from_item_extra(item)) | set(mapping.ids(item)) | {VERSION}
    missing = set(type(sample).model_fields) - set(mapping.common_fields) - by_hook
    assert not missing, f"{name}: fields neither on the item nor mapped by a hook: {sorted(missing)}"


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_a_domain_object_round_trips_through_its_item(name: str) -> None:
    mapping = MAPPINGS[name]
    sample = SAMPLES[name]
    assert mapping.from_item(mapping.to_item(sample)) == sample


def test_values_convert_generically() -> None:
    assert to_attribute(VideoStatus.COMPLETED) == "completed"
    assert to_attribute([RowError(row=2, field=None, message="x")]) == [
        {"row": 2, "field": None, "message": "x"}
    ]
    assert to_attribute({"a": {VideoStatus.COMPLETED}}) == {"a": {"completed"}}
    assert from_attribute([1.0, 2.5]) == [1, 2.5]
