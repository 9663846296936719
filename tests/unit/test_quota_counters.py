"""The DynamoDB quota counters under DynamoDB's own concurrency behaviour, which moto does not
emulate: overlapping transactions on one counter are cancelled with ``TransactionConflict``."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.adapters.dynamodb import quotas
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.models import WebhookEndpoint, new_id
from chalicelib.domain.webhooks import ENDPOINT_QUOTA


def _webhook_endpoint(account_id: str) -> WebhookEndpoint:
    return WebhookEndpoint(
        account_id=account_id,
        endpoint_id=new_id("whk"),
        url="https://hooks.example.com/h",
        events=["video.completed"],
        secret="kms1:c2VhbGVk",
    )


def _conflict() -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[None, CancellationReason(code="TransactionConflict")],
    )
    return TransactWriteError("Failed to write transaction items", cause=cause)


@pytest.fixture
def conflicts(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The next transactions are cancelled by a conflict, as many times as the list says."""
    remaining = [0]
    real = quotas._attempt

    def attempt(move: Any, write: Any) -> Any:
        if write is not None and remaining[0] > 0:
            remaining[0] -= 1
            raise _conflict()
        return real(move, write)

    monkeypatch.setattr(quotas, "_attempt", attempt)
    monkeypatch.setattr(quotas, "pause", lambda attempt: None)
    return remaining


def test_a_registration_that_lost_a_conflict_tries_again(conflicts: list[int]) -> None:
    from chalicelib import dependencies

    conflicts[0] = 3
    hooks = dependencies.get_webhook_repo()
    stored = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
    assert hooks.list_endpoints("acct_a") == [stored]
    assert dependencies.get_quota_counter().usage("acct_a", ENDPOINT_QUOTA.name) == 1


def test_a_counter_contended_through_every_attempt_is_a_conflict_and_writes_nothing(
    conflicts: list[int],
) -> None:
    from chalicelib import dependencies

    conflicts[0] = quotas.ATTEMPTS
    hooks = dependencies.get_webhook_repo()
    with pytest.raises(ConflictError, match="try again"):
        hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
    assert hooks.list_endpoints("acct_a") == []
    assert dependencies.get_quota_counter().usage("acct_a", ENDPOINT_QUOTA.name) == 0
