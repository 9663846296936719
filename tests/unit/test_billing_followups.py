"""The billing webhook's follow-ups and the lapsed retention task, on fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain import billing, billing_followups, media_retention
from chalicelib.domain.models import Account, AccountStatus, Plan
from tests.fakes import FakeAccountRepository, FakeMediaTagger, FakeTaskStarter

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (7900, "usd", "$79.00"),
        (19900, "eur", "€199.00"),
        (123456, "usd", "$1,234.56"),
        (500, "jpy", "500 JPY"),
    ],
)
def test_amounts_read_as_the_invoice_says(amount: int, currency: str, shown: str) -> None:
    assert billing_followups.format_amount(amount, currency) == shown


@pytest.mark.parametrize(
    ("before", "after", "started"),
    [
        (AccountStatus.ACTIVE, AccountStatus.CANCELLED, True),
        (AccountStatus.PAST_DUE, AccountStatus.UNPAID, True),
        (AccountStatus.CANCELLED, AccountStatus.ACTIVE, True),
        (AccountStatus.UNPAID, AccountStatus.PAST_DUE, True),
        (AccountStatus.ACTIVE, AccountStatus.PAST_DUE, False),
        (AccountStatus.UNPAID, AccountStatus.CANCELLED, False),
        (AccountStatus.ACTIVE, AccountStatus.ACTIVE, False),
    ],
)
def test_the_retention_task_starts_only_on_a_lapse_or_a_return(
    before: AccountStatus, after: AccountStatus, started: bool
) -> None:
    tasks = FakeTaskStarter()

    def no_email() -> Any:
        raise AssertionError("no notification is due")

    ports = billing_followups.WebhookPorts(billing=None, notifications=no_email, tasks=tasks)  # type: ignore[arg-type]
    outcome = billing.EventOutcome(applied=True, account_id="acct_a", previous_status=before, status=after)
    billing_followups.follow_up(ports, outcome)
    assert tasks.started == ([("tag_lapsed_media", {"account_id": "acct_a"})] if started else [])
    # Not applied (an older event, a duplicate): nothing starts.
    billing_followups.follow_up(ports, billing.EventOutcome(applied=False, account_id="acct_a"))
    assert len(tasks.started) == int(started)


def _account(status: AccountStatus) -> FakeAccountRepository:
    from chalicelib.domain.models import Role, User

    repo = FakeAccountRepository()
    account = Account.start_trial(name="Acme", now=NOW).model_copy(
        update={"account_id": "acct_a", "plan": Plan.PRO, "status": status}
    )
    repo.create(account, User(account_id="acct_a", user_id="u", subject="s", email="a@a.io", role=Role.OWNER))
    return repo


def test_the_task_tags_page_by_page_follows_the_current_status_and_is_idempotent() -> None:
    accounts = _account(AccountStatus.CANCELLED)
    media = FakeMediaTagger([f"acct_a/c/{i}" for i in range(5)] + ["acct_ab/c/0", "acct_b/c/0"])
    tasks = FakeTaskStarter()
    ports = media_retention.RetentionPorts(accounts, media, tasks, page_size=2)

    first = media_retention.retag_page(ports, "acct_a")
    assert (first.seen, first.changed, first.next_after) == (2, 2, "acct_a/c/1")
    assert tasks.started == [("tag_lapsed_media", {"account_id": "acct_a", "start_after": "acct_a/c/1"})]
    media_retention.retag_page(ports, "acct_a", "acct_a/c/1")
    last = media_retention.retag_page(ports, "acct_a", "acct_a/c/3")
    assert (last.seen, last.next_after) == (1, None) and len(tasks.started) == 2
    assert {k for k, v in media.tagged.items() if v} == {f"acct_a/c/{i}" for i in range(5)}

    assert media_retention.retag_page(ports, "acct_a").changed == 0  # again: nothing written

    accounts.accounts["acct_a"] = accounts.get("acct_a").model_copy(update={"status": AccountStatus.ACTIVE})
    for after in (None, "acct_a/c/1", "acct_a/c/3"):
        assert media_retention.retag_page(ports, "acct_a", after).lapsed is False
    assert not any(media.tagged.values())


def test_the_task_for_a_deleted_account_does_nothing() -> None:
    ports = media_retention.RetentionPorts(
        FakeAccountRepository(), FakeMediaTagger(["acct_a/x"]), FakeTaskStarter()
    )
    assert media_retention.retag_page(ports, "acct_a").lapsed is None


def test_a_payment_failure_event_carries_the_invoice_facts() -> None:
    event = billing.parse_event(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.payment_failed",
            "created": int(NOW.timestamp()),
            "data": {
                "object": {
                    "object": "invoice",
                    "id": "in_1",
                    "customer": "cus_1",
                    "amount_due": 2900,
                    "currency": "usd",
                    "next_payment_attempt": int(NOW.timestamp()) + 3 * 86400,
                }
            },
        }
    )
    assert (event.object_id, event.amount_due, event.currency) == ("in_1", 2900, "usd")
    assert event.next_payment_attempt == datetime(2026, 3, 4, tzinfo=UTC)
