"""DynamoDB repositories (PynamoDB) implementing the domain's repository ports, one module per
aggregate. Everything is re-exported here, so callers import from the package.

May import: ``chalicelib.domain``, the table's items (``..models``), the quota counters
(``..quotas``), the AWS error translation (``chalicelib.adapters.aws_errors``), PynamoDB, boto3.
"""

from chalicelib.adapters.dynamodb.repositories._common import (
    account_pk,
    campaign_pk,
    decode_cursor,
    encode_cursor,
    subject_pk,
)
from chalicelib.adapters.dynamodb.repositories.accounts import DynamoAccountRepository
from chalicelib.adapters.dynamodb.repositories.analytics_cache import DynamoAnalyticsCache
from chalicelib.adapters.dynamodb.repositories.api_keys import DynamoApiKeyRepository
from chalicelib.adapters.dynamodb.repositories.batches import COUNTER_NAMES, DynamoRenderBatchRepository
from chalicelib.adapters.dynamodb.repositories.billing import DynamoBillingRepository
from chalicelib.adapters.dynamodb.repositories.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamodb.repositories.imports import DynamoCsvImportRepository
from chalicelib.adapters.dynamodb.repositories.lexicon import DynamoLexiconRepository
from chalicelib.adapters.dynamodb.repositories.prospects import (
    DynamoProspectRepository,
    _prospect_to_item,
    prospect_index_keys,
    status_key,
)
from chalicelib.adapters.dynamodb.repositories.rate_limits import DynamoRateLimiter
from chalicelib.adapters.dynamodb.repositories.team import DynamoTeamRepository
from chalicelib.adapters.dynamodb.repositories.videos import DynamoVideoRepository
from chalicelib.adapters.dynamodb.repositories.webhooks import DynamoWebhookRepository

__all__ = [
    "COUNTER_NAMES",
    "DynamoAccountRepository",
    "DynamoAnalyticsCache",
    "DynamoApiKeyRepository",
    "DynamoBillingRepository",
    "DynamoCampaignRepository",
    "DynamoCsvImportRepository",
    "DynamoLexiconRepository",
    "DynamoProspectRepository",
    "DynamoRateLimiter",
    "DynamoRenderBatchRepository",
    "DynamoTeamRepository",
    "DynamoVideoRepository",
    "DynamoWebhookRepository",
    "_prospect_to_item",  # the import benchmark builds items the way the repository does
    "account_pk",
    "campaign_pk",
    "decode_cursor",
    "encode_cursor",
    "prospect_index_keys",
    "status_key",
    "subject_pk",
]
