"""Fixed-window rate-limit counters and one-shot claims."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.dynamodb.models import (
    ClaimItem,
    RateCounterItem,
)
from chalicelib.adapters.dynamodb.repositories._common import (
    _is_condition_failure,
    _storage_error,
    translated,
)
from chalicelib.domain.models import (
    utcnow,
)

logger = logging.getLogger(__name__)


@translated
class DynamoRateLimiter:
    """Fixed-window counters: one atomic ``ADD`` per hit, items expire by TTL."""

    def hit(self, key: str, ttl_seconds: int) -> int:
        item = RateCounterItem(f"RATE#{key}", "COUNT")
        try:
            item.update(
                actions=[
                    RateCounterItem.hits.add(1),
                    RateCounterItem.expires_at.set(utcnow() + timedelta(seconds=ttl_seconds)),
                ]
            )
        except UpdateError as exc:
            raise _storage_error(exc, "rate counter", "the rate counter could not be updated") from exc
        return int(item.hits)

    def claim(self, keys: Sequence[str], ttl_seconds: int) -> list[bool]:
        """One conditional put per key (``attribute_not_exists``): DynamoDB lets exactly one
        writer of a key succeed. A claim past its TTL but not yet deleted still counts as taken.

        Raises
        ------
        StorageError
            A claim could not be written (this call's claims are released first).
        """
        expires_at = utcnow() + timedelta(seconds=ttl_seconds)
        seen: set[str] = set()
        firsts = []
        for key in keys:
            if key in seen:
                firsts.append(False)
                continue
            seen.add(key)
            try:
                ClaimItem(f"CLAIM#{key}", "CLAIM", expires_at=expires_at).save(
                    condition=ClaimItem.pk.does_not_exist()
                )
            except PutError as exc:
                if _is_condition_failure(exc):
                    firsts.append(False)
                    continue
                self.release([k for k, first in zip(keys, firsts, strict=False) if first])
                raise _storage_error(exc, "claim", "a claim could not be written") from exc
            firsts.append(True)
        return firsts

    def release(self, keys: Sequence[str]) -> None:
        for key in dict.fromkeys(keys):
            try:
                ClaimItem(f"CLAIM#{key}", "CLAIM").delete()
            except DeleteError:
                logger.exception("could not release a claim")
