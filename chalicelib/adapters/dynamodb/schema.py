"""The single-table layout, defined once.

CDK (``infrastructure/cdk``), the local stack (``devstack``) and the PynamoDB models all read
these names, so the table the cloud creates and the one moto serves cannot drift apart.

Keys (every partition key starts with the owning account, so every lookup is tenant-scoped):

=================  ===================================  ===========================
item               pk                                   sk
=================  ===================================  ===========================
Account            ``ACCOUNT#{account_id}``             ``ACCOUNT``
User               ``ACCOUNT#{account_id}``             ``USER#{user_id}``
Subject claim      ``SUBJECT#{idp_subject}``            ``SUBJECT``
Campaign           ``ACCOUNT#{account_id}``             ``CAMPAIGN#{campaign_id}``
Prospect           ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``PROSPECT#{prospect_id}``
Prospect roster    ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``ROSTER``
CsvImport          ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``IMPORT#{import_id}``
RenderBatch        ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``BATCH#{batch_id}``
Webhook endpoint   ``ACCOUNT#{account_id}``             ``WEBHOOK#{endpoint_id}``
Webhook delivery   ``ACCOUNT#{account_id}``             ``DELIVERY#{endpoint_id}#{delivery_id}``
Webhook event      ``ACCOUNT#{account_id}``             ``WHEVENT#{endpoint_id}#{sha256(event_id)}``
Quota counter      ``ACCOUNT#{account_id}``             ``QUOTA#{name}`` (``used``: e.g. webhook endpoints)
User profile       ``ACCOUNT#{account_id}``             ``PROFILE#{user_id}`` (and notification settings)
Account export     ``ACCOUNT#{account_id}``             ``EXPORT#{export_id}``
Account deletion   ``ACCOUNT#{account_id}``             ``DELETION`` (deleted last, with ``ACCOUNT``)
Video ledger       ``ACCOUNT#{account_id}``             ``LEDGER#videos#{period start}``
API key            ``APIKEY#{sha256(key)}``              ``APIKEY`` (account, user, last used)
API key (listed)   ``ACCOUNT#{account_id}``             ``APIKEY#{key_id}``
Invite             ``ACCOUNT#{account_id}``             ``INVITE#{invite_id}``
Invite lookup      ``INVITEE#{email}``                  ``ACCOUNT#{account_id}``
Checkout hold      ``ACCOUNT#{account_id}``             ``CHECKOUT``
Rate counter       ``RATE#{key}`` (API: ``api#{account_id}#{window start}``)  ``COUNT``
One-time claim     ``CLAIM#{key}`` (Stripe event id, notification hash, beacon)  ``CLAIM``
=================  ===================================  ===========================

Items outside an account's partitions that name it: the subject claim (it maps a verified
token's ``sub`` to its account, and reserving it keeps a login bound to exactly one account),
the API key's lookup item, the invite lookup and the API rate counters. Deleting an account
(``repositories/account_settings.py``, ``DynamoAccountEraser``) removes every partition of the
account and each of those items; a new kind of item outside the account's partitions that names
it must be added there too (the functional deletion test scans the table for the account's id).
GSI1 (``gsi1pk``/``gsi1sk``) serves reverse lookups by an unguessable public id (watch tokens).

Local secondary indexes order a campaign's prospects (they share the campaign's partition key;
only prospect items carry their sort keys, so other items never appear in them):

=================  ===============  =====================================================
index              sort key         value
=================  ===============  =====================================================
``lsi_email``      ``email_key``    the normalized email (unique per campaign: checked here)
``lsi_name``       ``name_key``     folded "first last" + ``#{prospect_id}``
``lsi_company``    ``company_key``  folded company (or U+10FFFF: none sorts last) + ``#{id}``
``lsi_status``     ``status_key``   ``{rank}:{video status}#{prospect_id}``
=================  ===============  =====================================================

Email uniqueness needs no second item per prospect: every writer of a campaign's prospects goes
through its ``ROSTER`` item (a version bumped in the same transaction as a single add, or a lease
held by a bulk import), so a bulk import is one item per prospect in ``BatchWriteItem``.
"""

from __future__ import annotations

from typing import Any

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"
#: Local secondary indexes: name → sort key attribute (partition key: ``pk``).
LOCAL_INDEXES = {
    "lsi_email": "email_key",
    "lsi_name": "name_key",
    "lsi_company": "company_key",
    "lsi_status": "status_key",
}


def table_definition(table_name: str) -> dict[str, Any]:
    """Return DynamoDB ``CreateTable`` arguments for the application table."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in (PK, SK, GSI1_PK, GSI1_SK, *LOCAL_INDEXES.values())
        ],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": GSI1_PK, "KeyType": "HASH"},
                    {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": PK, "KeyType": "HASH"},
                    {"AttributeName": sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, sort_key in LOCAL_INDEXES.items()
        ],
    }
