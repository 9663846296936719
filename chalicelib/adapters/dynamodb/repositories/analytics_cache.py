"""Cached analytics answers, per account and query."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamodb.models import (
    AnalyticsCacheItem,
)
from chalicelib.adapters.dynamodb.repositories._common import account_pk, translated

logger = logging.getLogger(__name__)


@translated
class DynamoAnalyticsCache:
    """Analytics answers per account, keyed by what was asked."""

    def get(self, account_id: str, key: str) -> tuple[datetime, dict[str, Any]] | None:
        try:
            item = AnalyticsCacheItem.get(account_pk(account_id), f"ANALYTICS#{key}")
        except AnalyticsCacheItem.DoesNotExist:
            return None
        return item.computed_at, json.loads(item.value)

    def put(
        self, account_id: str, key: str, computed_at: datetime, value: dict[str, Any], ttl_seconds: int
    ) -> None:
        AnalyticsCacheItem(
            account_pk(account_id),
            f"ANALYTICS#{key}",
            computed_at=computed_at,
            value=json.dumps(value, separators=(",", ":"), default=str),
            expires_at=computed_at + timedelta(seconds=max(ttl_seconds, 60)),
        ).save()
