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
Prospect email     ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``EMAIL#{normalized_email}``
CsvImport          ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``IMPORT#{import_id}``
RenderBatch        ``ACCOUNT#{a}#CAMPAIGN#{c}``         ``BATCH#{batch_id}``
Webhook endpoint   ``ACCOUNT#{account_id}``             ``WEBHOOK#{endpoint_id}``
Webhook delivery   ``ACCOUNT#{account_id}``             ``DELIVERY#{endpoint_id}#{delivery_id}``
Webhook event      ``ACCOUNT#{account_id}``             ``WHEVENT#{endpoint_id}#{sha256(event_id)}``
=================  ===================================  ===========================

The subject claim is the one item outside an account partition: it maps a verified token's
``sub`` to its account, and reserving it keeps a login bound to exactly one account.
GSI1 (``gsi1pk``/``gsi1sk``) serves reverse lookups by an unguessable public id (watch tokens).
"""

from __future__ import annotations

from typing import Any

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"


def table_definition(table_name: str) -> dict[str, Any]:
    """Return DynamoDB ``CreateTable`` arguments for the application table."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, GSI1_PK, GSI1_SK)
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
    }
