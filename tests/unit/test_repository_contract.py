"""One contract, two implementations: the in-memory fakes and the DynamoDB adapters (moto)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.repositories import encode_cursor
from chalicelib.domain.errors import ConflictError, InvalidInputError, LimitExceededError, NotFoundError
from chalicelib.domain.models import (
    Account,
    BaseVideo,
    BatchCounters,
    Campaign,
    CsvImport,
    CsvImportStatus,
    DeliveryStatus,
    OverlayText,
    PronunciationEntry,
    Prospect,
    ProspectVideo,
    RenderBatch,
    RenderBatchStatus,
    RenderWindow,
    UploadStatus,
    User,
    VideoStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
    utcnow,
)
from chalicelib.domain.ports import CounterMove, ProspectQuery, ProspectSort, Quota
from chalicelib.domain.webhooks import ENDPOINT_QUOTA
from tests import fakes


@pytest.fixture(
    params=["fake", pytest.param("dynamodb", marks=pytest.mark.functional)]
)  # moto: functional tier
def repos(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "fake":
        webhooks = fakes.FakeWebhookRepository()
        batches = fakes.FakeRenderBatchRepository()
        prospects = fakes.FakeProspectRepository()
        yield {
            "accounts": fakes.FakeAccountRepository(),
            "campaigns": fakes.FakeCampaignRepository(),
            "prospects": prospects,
            "imports": fakes.FakeCsvImportRepository(),
            "batches": batches,
            # VideoRepository.move counts in the batch and copies the status onto the prospect
            "videos": fakes.FakeVideoRepository(batches=batches, prospects=prospects),
            "lexicon": fakes.FakeLexiconRepository(),
            "webhooks": webhooks,
            "quotas": webhooks.quotas,  # the counters the webhook repository moves
            "store_uncounted": _store_uncounted_fake(webhooks),
            "limiter": fakes.FakeRateLimiter(),
        }
        return
    request.getfixturevalue("aws")
    from chalicelib import dependencies

    yield {
        "accounts": dependencies.get_account_repo(),
        "campaigns": dependencies.get_campaign_repo(),
        "prospects": dependencies.get_prospect_repo(),
        "imports": dependencies.get_import_repo(),
        "batches": dependencies.get_batch_repo(),
        "videos": dependencies.get_video_repo(),
        "lexicon": dependencies.get_lexicon_repo(),
        "webhooks": dependencies.get_webhook_repo(),
        "quotas": dependencies.get_quota_counter(),
        "store_uncounted": _store_uncounted_dynamodb,
        "limiter": dependencies.get_rate_limiter(),
    }


def _campaign(account_id: str, name: str = "Q4") -> Campaign:
    return Campaign(account_id=account_id, campaign_id=new_id("camp"), name=name)


def _prospect(account_id: str, campaign_id: str, email: str) -> Prospect:
    return Prospect(
        account_id=account_id,
        campaign_id=campaign_id,
        prospect_id=new_id("pros"),
        first_name="Siobhan",
        email=email,
        custom_fields={"deal_size": "40k"},
    )


class TestAccountContract:
    def test_create_and_resolve_subject(self, repos: dict[str, Any]) -> None:
        account = Account.start_trial("Acme")
        owner = User(account_id=account.account_id, user_id=new_id("user"), subject="sub-1", email="a@x.io")
        repos["accounts"].create(account, owner)
        assert repos["accounts"].user_by_subject("sub-1").account_id == account.account_id
        assert repos["accounts"].get(account.account_id).name == "Acme"

    def test_subject_bound_to_one_account(self, repos: dict[str, Any]) -> None:
        first, second = Account.start_trial("A"), Account.start_trial("B")
        repos["accounts"].create(
            first, User(account_id=first.account_id, user_id=new_id("user"), subject="s", email="a@x.io")
        )
        with pytest.raises(ConflictError):
            repos["accounts"].create(
                second,
                User(account_id=second.account_id, user_id=new_id("user"), subject="s", email="b@x.io"),
            )
        with pytest.raises(NotFoundError):
            repos["accounts"].get(second.account_id)  # the failed transaction wrote nothing

    def test_unknown_subject(self, repos: dict[str, Any]) -> None:
        with pytest.raises(NotFoundError):
            repos["accounts"].user_by_subject("nobody")


class TestCampaignContract:
    def test_add_get_roundtrip(self, repos: dict[str, Any]) -> None:
        c = repos["campaigns"].add(_campaign("acct_a"))
        got = repos["campaigns"].get("acct_a", c.campaign_id)
        assert got.name == "Q4" and got.version == 1
        assert got.model_dump(exclude={"version"}) == c.model_dump(exclude={"version"})

    def test_a_pending_base_video_is_kept_beside_the_working_one(self, repos: dict[str, Any]) -> None:
        ready = BaseVideo(upload_id="upl_a", key="k/a", filename="a.mp4", status=UploadStatus.READY)
        rejected = BaseVideo(
            upload_id="upl_b", key="k/b", filename="b.mp4", status=UploadStatus.REJECTED, reason="no"
        )
        c = repos["campaigns"].add(_campaign("acct_a"))
        repos["campaigns"].update(
            "acct_a", c.campaign_id, lambda cur: cur.model_copy(update={"base_video": ready})
        )
        repos["campaigns"].update("acct_a", c.campaign_id, lambda cur: cur.with_requested_base(rejected))

        got = repos["campaigns"].get("acct_a", c.campaign_id)
        assert (got.base_video, got.pending_base_video) == (ready, rejected)

    def test_tenant_scoped_get(self, repos: dict[str, Any]) -> None:
        c = repos["campaigns"].add(_campaign("acct_a"))
        with pytest.raises(NotFoundError):
            repos["campaigns"].get("acct_b", c.campaign_id)

    def test_optimistic_lock(self, repos: dict[str, Any]) -> None:
        c = repos["campaigns"].add(_campaign("acct_a"))
        first = repos["campaigns"].get("acct_a", c.campaign_id)
        second = repos["campaigns"].get("acct_a", c.campaign_id)
        repos["campaigns"].save(first.model_copy(update={"name": "one"}))
        with pytest.raises(ConflictError):
            repos["campaigns"].save(second.model_copy(update={"name": "two"}))
        assert repos["campaigns"].get("acct_a", c.campaign_id).name == "one"

    def test_concurrent_updates_all_apply(self, repos: dict[str, Any]) -> None:
        c = repos["campaigns"].add(_campaign("acct_a"))

        def bump() -> None:
            repos["campaigns"].update(
                "acct_a",
                c.campaign_id,
                lambda cur: cur.model_copy(update={"description": cur.description + "x"}),
            )

        threads = [threading.Thread(target=bump) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert repos["campaigns"].get("acct_a", c.campaign_id).description == "xxx"

    def test_pagination_newest_first_and_complete(self, repos: dict[str, Any]) -> None:
        created = [repos["campaigns"].add(_campaign("acct_a", f"c{i}")) for i in range(5)]
        repos["campaigns"].add(_campaign("acct_other"))
        seen: list[str] = []
        cursor = None
        while True:
            page = repos["campaigns"].list("acct_a", 2, cursor)
            seen.extend(c.campaign_id for c in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [c.campaign_id for c in reversed(created)]

    def test_bad_cursor(self, repos: dict[str, Any]) -> None:
        with pytest.raises(InvalidInputError):
            repos["campaigns"].list("acct_a", 2, "not-a-cursor")

    def test_delete(self, repos: dict[str, Any]) -> None:
        c = repos["campaigns"].add(_campaign("acct_a"))
        with pytest.raises(NotFoundError):
            repos["campaigns"].delete("acct_b", c.campaign_id)
        repos["campaigns"].delete("acct_a", c.campaign_id)
        with pytest.raises(NotFoundError):
            repos["campaigns"].get("acct_a", c.campaign_id)


def test_a_campaign_stored_without_a_pending_base_video_reads(aws: None) -> None:
    """Items written before ``pending_base_video`` existed lack the attribute altogether."""
    import boto3

    from chalicelib import dependencies
    from tests.conftest import TEST_ENV

    ready = BaseVideo(upload_id="upl_a", key="k/a", filename="a.mp4", status=UploadStatus.READY)
    c = dependencies.get_campaign_repo().add(_campaign("acct_a").model_copy(update={"base_video": ready}))
    key = {"pk": {"S": "ACCOUNT#acct_a"}, "sk": {"S": f"CAMPAIGN#{c.campaign_id}"}}
    item = boto3.client("dynamodb").get_item(TableName=TEST_ENV["TAILORCAST_TABLE_NAME"], Key=key)["Item"]
    assert "base_video" in item and "pending_base_video" not in item  # as the older version wrote it

    got = dependencies.get_campaign_repo().get("acct_a", c.campaign_id)

    assert got.base_video == ready and got.pending_base_video is None


class TestProspectContract:
    def test_email_unique_per_campaign_case_insensitive(self, repos: dict[str, Any]) -> None:
        repos["prospects"].add(_prospect("acct_a", "camp_1", "Siobhan@Example.com"))
        with pytest.raises(ConflictError):
            repos["prospects"].add(_prospect("acct_a", "camp_1", "siobhan@example.COM"))
        # same email in another campaign, or another tenant's campaign, is fine
        repos["prospects"].add(_prospect("acct_a", "camp_2", "siobhan@example.com"))
        repos["prospects"].add(_prospect("acct_b", "camp_1", "siobhan@example.com"))

    def test_roundtrip_with_custom_fields(self, repos: dict[str, Any]) -> None:
        p = repos["prospects"].add(_prospect("acct_a", "camp_1", "x@y.io"))
        got = repos["prospects"].get("acct_a", "camp_1", p.prospect_id)
        assert got.custom_fields == {"deal_size": "40k"} and got.first_name == "Siobhan"
        with pytest.raises(NotFoundError):
            repos["prospects"].get("acct_b", "camp_1", p.prospect_id)

    def test_delete_frees_the_email(self, repos: dict[str, Any]) -> None:
        p = repos["prospects"].add(_prospect("acct_a", "camp_1", "x@y.io"))
        repos["prospects"].delete("acct_a", "camp_1", p.prospect_id)
        repos["prospects"].add(_prospect("acct_a", "camp_1", "x@y.io"))
        with pytest.raises(NotFoundError):
            repos["prospects"].delete("acct_a", "camp_1", p.prospect_id)

    def test_save_is_version_checked_and_keeps_emails_unique(self, repos: dict[str, Any]) -> None:
        prospects = repos["prospects"]
        a = prospects.add(_prospect("acct_a", "camp_1", "a@y.io"))
        prospects.add(_prospect("acct_a", "camp_1", "b@y.io"))
        saved = prospects.save(a.model_copy(update={"company": "Acme", "pronunciation": "shi-VAWN"}))
        assert (saved.version, saved.company) == (2, "Acme")
        with pytest.raises(ConflictError):  # stale copy
            prospects.save(a.model_copy(update={"company": "Old"}))
        with pytest.raises(ConflictError):  # the email belongs to b
            prospects.save(saved.model_copy(update={"email": " B@Y.io"}))
        moved = prospects.update(
            "acct_a", "camp_1", a.prospect_id, lambda p: p.model_copy(update={"email": "c@y.io"})
        )
        assert moved.email_key == "c@y.io"
        prospects.add(_prospect("acct_a", "camp_1", "a@y.io"))  # the old email is free again
        got = prospects.get("acct_a", "camp_1", a.prospect_id)
        assert (got.email_key, got.company, got.pronunciation) == ("c@y.io", "Acme", "shi-VAWN")
        assert got.watch_token == a.watch_token

    def test_search_sort_filter_and_pages(self, repos: dict[str, Any]) -> None:
        prospects = repos["prospects"]
        rows = [
            ("Émile", "Zola", "emile@zola.fr", "Éditions Charpentier"),
            ("ada", "Lovelace", "ada@engines.io", "Engines"),
            ("Bob", None, "bob@acme.io", None),
            ("Zoë", "Adams", "zoe@acme.io", "Acme"),
            ("Carl", "Sagan", "carl@cosmos.org", "cosmos"),
        ]
        made = {}
        for first, last, email, company in rows:
            made[first] = prospects.add(
                Prospect(
                    account_id="acct_a",
                    campaign_id="camp_1",
                    prospect_id=new_id("pros"),
                    first_name=first,
                    last_name=last,
                    email=email,
                    company=company,
                )
            )
        prospects.add(_prospect("acct_b", "camp_1", "zoe@acme.io"))  # another tenant's, never listed

        def names(query: ProspectQuery, limit: int = 2) -> list[str]:
            out, cursor = [], None
            while True:
                page = prospects.search("acct_a", "camp_1", query, limit, cursor)
                out += [p.first_name for p in page.items]
                if page.cursor is None:
                    return out
                cursor = page.cursor

        assert names(ProspectQuery()) == ["Carl", "Zoë", "Bob", "ada", "Émile"]  # newest first
        assert names(ProspectQuery(descending=False), limit=10) == ["Émile", "ada", "Bob", "Zoë", "Carl"]
        assert names(ProspectQuery(sort=ProspectSort.NAME, descending=False)) == [
            "ada",
            "Bob",
            "Carl",
            "Émile",
            "Zoë",
        ]
        assert names(ProspectQuery(sort=ProspectSort.EMAIL, descending=False)) == [
            "ada",
            "Bob",
            "Carl",
            "Émile",
            "Zoë",
        ]
        assert names(ProspectQuery(sort=ProspectSort.COMPANY, descending=False)) == [
            "Zoë", "Carl", "Émile", "ada", "Bob"  # Acme, cosmos, Éditions, Engines, (none) last
        ]  # fmt: skip
        assert names(ProspectQuery(search="ACME")) == ["Zoë", "Bob"]  # company or email
        assert names(ProspectQuery(search="emile")) == ["Émile"]  # accents folded
        assert names(ProspectQuery(search="editions char", sort=ProspectSort.NAME)) == ["Émile"]
        assert names(ProspectQuery(search="nobody")) == []
        first = prospects.list("acct_a", "camp_1", 2, None)
        assert [p.first_name for p in first.items] == ["Carl", "Zoë"] and first.cursor
        with pytest.raises(InvalidInputError):  # a cursor only continues its own listing
            prospects.search("acct_a", "camp_1", ProspectQuery(sort=ProspectSort.NAME), 2, first.cursor)
        with pytest.raises(InvalidInputError):
            prospects.search("acct_a", "camp_1", ProspectQuery(), 2, "not-a-cursor")

        # statuses follow the prospect's video (written with the video's move)
        video = _video("acct_a", "camp_1", made["Bob"].prospect_id, status=VideoStatus.COMPLETED)
        repos["videos"].save(video)
        failed = _video(
            "acct_a", "camp_1", made["ada"].prospect_id, status=VideoStatus.FAILED, error="no voice"
        )
        repos["videos"].save(failed)
        assert names(ProspectQuery(status=VideoStatus.COMPLETED)) == ["Bob"]
        assert names(ProspectQuery(status=VideoStatus.PENDING, sort=ProspectSort.NAME, descending=False)) == [
            "Carl", "Émile", "Zoë"
        ]  # fmt: skip
        assert names(ProspectQuery(status=VideoStatus.FAILED, search="engines")) == ["ada"]
        assert prospects.get("acct_a", "camp_1", made["ada"].prospect_id).video_error == "no voice"
        assert names(ProspectQuery(sort=ProspectSort.STATUS, descending=False), limit=10)[-2:] == [
            "Bob",
            "ada",
        ]
        counts = prospects.count_by_status("acct_a", "camp_1")
        assert counts[VideoStatus.PENDING] == 3 and counts[VideoStatus.COMPLETED] == 1
        assert counts[VideoStatus.FAILED] == 1 and counts[VideoStatus.RENDERING] == 0
        assert [p.first_name for p in prospects.iter_campaign("acct_a", "camp_1")] == [r[0] for r in rows]

    def test_a_video_of_a_deleted_prospect_still_saves(self, repos: dict[str, Any]) -> None:
        p = repos["prospects"].add(_prospect("acct_a", "camp_1", "x@y.io"))
        repos["prospects"].delete("acct_a", "camp_1", p.prospect_id)
        repos["videos"].save(_video("acct_a", "camp_1", p.prospect_id, status=VideoStatus.COMPLETED))
        with pytest.raises(NotFoundError):
            repos["prospects"].get("acct_a", "camp_1", p.prospect_id)

    def test_bulk_writer_holds_the_campaign(self, repos: dict[str, Any]) -> None:
        prospects = repos["prospects"]
        prospects.add(_prospect("acct_a", "camp_1", "old@y.io"))
        assert prospects.email_keys("acct_a", "camp_1") == {"old@y.io"}
        with prospects.bulk_writer("acct_a", "camp_1", "upl_1") as writer:
            assert writer.existing == {"old@y.io"}
            with pytest.raises(ConflictError):
                prospects.add(_prospect("acct_a", "camp_1", "single@y.io"))
            with pytest.raises(ConflictError), prospects.bulk_writer("acct_a", "camp_1", "upl_2"):
                pass
            prospects.add(_prospect("acct_a", "camp_2", "single@y.io"))  # other campaigns are free
            for i in range(60):
                writer.add(_prospect("acct_a", "camp_1", f"p{i}@y.io"))
            writer.flush()
            assert writer.written == 60
        assert len(list(prospects.iter_campaign("acct_a", "camp_1"))) == 61
        with pytest.raises(ConflictError):  # written prospects take part in uniqueness
            prospects.add(_prospect("acct_a", "camp_1", "P7@y.io"))
        prospects.add(_prospect("acct_a", "camp_1", "after@y.io"))  # released


class TestImportAndBatchContract:
    def test_import_lifecycle(self, repos: dict[str, Any]) -> None:
        item = CsvImport(
            account_id="acct_a", campaign_id="camp_1", import_id=new_id("upl"), filename="a.csv", key="k"
        )
        added = repos["imports"].add(item)
        assert added.version == 1
        with pytest.raises(ConflictError):
            repos["imports"].add(item)  # same id twice
        saved = repos["imports"].save(
            added.model_copy(update={"status": CsvImportStatus.RECEIVED, "size_bytes": 10})
        )
        assert repos["imports"].get("acct_a", "camp_1", item.import_id) == saved
        with pytest.raises(ConflictError):
            repos["imports"].save(
                added.model_copy(update={"status": CsvImportStatus.REJECTED})
            )  # stale version
        assert [i.import_id for i in repos["imports"].list("acct_a", "camp_1")] == [item.import_id]
        assert repos["imports"].list("acct_b", "camp_1") == []
        with pytest.raises(NotFoundError):
            repos["imports"].get("acct_b", "camp_1", item.import_id)

    def test_batch_lifecycle(self, repos: dict[str, Any]) -> None:
        batch = RenderBatch(account_id="acct_a", campaign_id="camp_1", batch_id=new_id("bat"), total=3)
        added = repos["batches"].add(batch)
        assert added.version == 1
        with pytest.raises(ConflictError):
            repos["batches"].add(batch)  # same id twice
        bumped = repos["batches"].save(added.model_copy(update={"status": RenderBatchStatus.RUNNING}))
        assert repos["batches"].get("acct_a", "camp_1", batch.batch_id).status is RenderBatchStatus.RUNNING
        assert bumped.version == added.version + 1
        with pytest.raises(ConflictError):
            repos["batches"].save(added.model_copy(update={"status": RenderBatchStatus.FAILED}))
        with pytest.raises(NotFoundError):
            repos["batches"].get("acct_b", "camp_1", batch.batch_id)


def _batch(account_id: str = "acct_a", campaign_id: str = "camp_1", **fields: Any) -> RenderBatch:
    return RenderBatch(account_id=account_id, campaign_id=campaign_id, batch_id=new_id("bat"), **fields)


class TestRenderBatchContract:
    def test_roundtrip_keeps_every_field(self, repos: dict[str, Any]) -> None:
        now = utcnow()
        batch = _batch(
            status=RenderBatchStatus.RUNNING,
            prospect_ids=["pros_1", "pros_2"],
            force=True,
            tolerated_failure_percent=12.5,
            total=2,
            skipped=1,
            execution_arn="arn:aws:states:us-east-1:123456789012:execution:render:bat-1",
            executions=2,
            mode="inline",
            prepared_at=now,
            error="the batch stopped before finishing: its execution failed; resume it",
            started_at=now,
        )
        added = repos["batches"].add(batch)
        got = repos["batches"].get("acct_a", "camp_1", batch.batch_id)
        assert got.version == added.version == 1
        assert got.model_dump(exclude={"version"}) == batch.model_dump(exclude={"version"})
        plain = repos["batches"].add(_batch())
        assert repos["batches"].get("acct_a", "camp_1", plain.batch_id).prospect_ids is None

    def test_list_newest_first_with_a_cursor(self, repos: dict[str, Any]) -> None:
        created = [repos["batches"].add(_batch(total=i)) for i in range(5)]
        repos["batches"].add(_batch(campaign_id="camp_2"))
        theirs = repos["batches"].add(_batch(account_id="acct_b"))
        repos["batches"].set_counters("acct_a", "camp_1", created[0].batch_id, BatchCounters(queued=4))
        seen: list[RenderBatch] = []
        cursor = None
        while True:
            page = repos["batches"].list("acct_a", "camp_1", 2, cursor)
            assert len(page.items) <= 2
            seen.extend(page.items)
            if (cursor := page.cursor) is None:
                break
        assert [b.batch_id for b in seen] == [b.batch_id for b in reversed(created)]
        assert seen[-1].counters == BatchCounters(queued=4)  # listed with their counters
        assert [b.batch_id for b in repos["batches"].list("acct_b", "camp_1", 10, None).items] == [
            theirs.batch_id
        ]
        assert repos["batches"].list("acct_a", "camp_3", 10, None).items == []
        with pytest.raises(InvalidInputError):
            repos["batches"].list("acct_a", "camp_1", 2, "not-a-cursor")
        with pytest.raises(InvalidInputError):  # a cursor of another kind of listing
            repos["batches"].list("acct_a", "camp_1", 2, encode_cursor("PROSPECT#pros_1"))

    def test_update_applies_a_change_and_none_writes_nothing(self, repos: dict[str, Any]) -> None:
        batch = repos["batches"].add(_batch())
        changed = repos["batches"].update(
            "acct_a",
            "camp_1",
            batch.batch_id,
            lambda cur: cur.model_copy(update={"status": RenderBatchStatus.RUNNING, "executions": 1}),
        )
        assert changed.status is RenderBatchStatus.RUNNING and changed.version == 2
        same = repos["batches"].update("acct_a", "camp_1", batch.batch_id, lambda cur: None)
        assert same.version == 2 and repos["batches"].get("acct_a", "camp_1", batch.batch_id).version == 2
        with pytest.raises(NotFoundError):
            repos["batches"].update("acct_b", "camp_1", batch.batch_id, lambda cur: cur)

    def test_counters_live_beside_the_batch(self, repos: dict[str, Any]) -> None:
        batch = repos["batches"].add(_batch(total=3))
        assert repos["batches"].get("acct_a", "camp_1", batch.batch_id).counters == BatchCounters()
        repos["batches"].set_counters("acct_a", "camp_1", batch.batch_id, BatchCounters(queued=3))
        got = repos["batches"].get("acct_a", "camp_1", batch.batch_id)
        assert got.counters == BatchCounters(queued=3) and got.version == 1  # the batch is not rewritten
        # saving the batch never writes its counters: a stale copy cannot undo a prospect's move
        repos["batches"].save(
            got.model_copy(update={"status": RenderBatchStatus.RUNNING, "counters": BatchCounters(failed=9)})
        )
        got = repos["batches"].get("acct_a", "camp_1", batch.batch_id)
        assert got.status is RenderBatchStatus.RUNNING and got.counters == BatchCounters(queued=3)
        repos["batches"].set_counters("acct_a", "camp_1", batch.batch_id, BatchCounters(completed=3))
        assert repos["batches"].get("acct_a", "camp_1", batch.batch_id).counters == BatchCounters(completed=3)
        # another tenant's batch under the same ids keeps its own counters
        repos["batches"].add(batch.model_copy(update={"account_id": "acct_b"}))
        assert repos["batches"].get("acct_b", "camp_1", batch.batch_id).counters == BatchCounters()


def _video(account_id: str, campaign_id: str, prospect_id: str, **fields: Any) -> ProspectVideo:
    render_id = new_id("rnd")
    defaults: dict[str, Any] = {
        "account_id": account_id,
        "campaign_id": campaign_id,
        "prospect_id": prospect_id,
        "render_id": render_id,
        "base_upload_id": new_id("upl"),
        "window": RenderWindow(start=4.6, end=5.9),
        "overlay": OverlayText(text="Zoë O'Brien", subtitle="Acme Corp"),
        "first_segment": 2,
        "segment_count": 1,
        "prefix": f"{account_id}/{campaign_id}/videos/{prospect_id}/{render_id}",
    }
    return ProspectVideo(**(defaults | fields))


class TestVideoContract:
    def test_get_missing(self, repos: dict[str, Any]) -> None:
        with pytest.raises(NotFoundError):
            repos["videos"].get("acct_a", "camp_1", "pros_nobody")

    def test_delete(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        repos["videos"].save(_video("acct_a", "camp_1", "pros_2"))
        repos["videos"].delete("acct_a", "camp_1", "pros_1")
        repos["videos"].delete("acct_a", "camp_1", "pros_nobody")  # nothing to forget: no error
        with pytest.raises(NotFoundError):
            repos["videos"].get("acct_a", "camp_1", "pros_1")
        assert [v.prospect_id for v in repos["videos"].list_campaign("acct_a", "camp_1")] == ["pros_2"]

    def test_save_get_roundtrip_keeps_nested_models_and_floats(self, repos: dict[str, Any]) -> None:
        video = _video(
            "acct_a", "camp_1", "pros_1", job_id="1700000000000-abcdef", progress=37, new_bytes=12345
        )
        saved = repos["videos"].save(video)
        assert saved.version == 1
        got = repos["videos"].get("acct_a", "camp_1", "pros_1")
        assert got.version == 1
        assert got.model_dump(exclude={"version"}) == video.model_dump(exclude={"version"})
        # floats that have no exact binary form survive the store's number type unchanged
        assert got.window == RenderWindow(start=4.6, end=5.9)
        assert isinstance(got.window.start, float) and isinstance(got.window.end, float)
        assert got.overlay == OverlayText(text="Zoë O'Brien", subtitle="Acme Corp")
        assert got.created_at == video.created_at and got.created_at.tzinfo is not None

    def test_roundtrip_without_overlay_and_with_a_completed_render(self, repos: dict[str, Any]) -> None:
        video = _video(
            "acct_a",
            "camp_1",
            "pros_1",
            overlay=None,
            window=RenderWindow(start=0.1, end=0.3),
            status=VideoStatus.FAILED,
            error="rendering failed: boom (MediaConvert error 1010)",
        )
        repos["videos"].save(video)
        got = repos["videos"].get("acct_a", "camp_1", "pros_1")
        assert got.overlay is None and got.window.start == 0.1 and got.window.end == 0.3
        assert got.status is VideoStatus.FAILED and got.error == video.error

    def test_optimistic_lock(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        first = repos["videos"].get("acct_a", "camp_1", "pros_1")
        second = repos["videos"].get("acct_a", "camp_1", "pros_1")
        won = repos["videos"].save(first.model_copy(update={"progress": 10}))
        assert won.version == 2
        with pytest.raises(ConflictError):
            repos["videos"].save(second.model_copy(update={"progress": 20}))
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").progress == 10

    def test_a_new_render_cannot_blindly_overwrite_an_existing_one(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        newer = _video("acct_a", "camp_1", "pros_1")  # version 0: "create"
        with pytest.raises(ConflictError):
            repos["videos"].save(newer)
        current = repos["videos"].get("acct_a", "camp_1", "pros_1")
        replaced = repos["videos"].save(newer.model_copy(update={"version": current.version}))
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").render_id == newer.render_id
        assert replaced.version == current.version + 1

    def test_saving_a_stale_version_of_a_missing_video_conflicts(self, repos: dict[str, Any]) -> None:
        with pytest.raises(ConflictError):
            repos["videos"].save(_video("acct_a", "camp_1", "pros_1", version=3))
        with pytest.raises(NotFoundError):
            repos["videos"].get("acct_a", "camp_1", "pros_1")

    def test_concurrent_updates_all_apply(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))

        def bump() -> None:
            repos["videos"].update(
                "acct_a",
                "camp_1",
                "pros_1",
                lambda cur: cur.model_copy(update={"new_bytes": cur.new_bytes + 1}),
            )

        threads = [threading.Thread(target=bump) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = repos["videos"].get("acct_a", "camp_1", "pros_1")
        assert got.new_bytes == 3 and got.version == 4

    def test_update_that_changes_nothing_writes_nothing(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        result = repos["videos"].update("acct_a", "camp_1", "pros_1", lambda cur: None)
        assert result.version == 1
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").version == 1
        with pytest.raises(NotFoundError):
            repos["videos"].update("acct_a", "camp_1", "pros_2", lambda cur: None)

    def test_tenant_isolation(self, repos: dict[str, Any]) -> None:
        repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        with pytest.raises(NotFoundError):
            repos["videos"].get("acct_b", "camp_1", "pros_1")
        with pytest.raises(NotFoundError):
            repos["videos"].get("acct_a", "camp_2", "pros_1")
        # another tenant's video under the same ids is a separate item
        other = repos["videos"].save(_video("acct_b", "camp_1", "pros_1", progress=99))
        assert other.version == 1
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").progress == 0
        assert repos["videos"].get("acct_b", "camp_1", "pros_1").progress == 99

    def test_move_saves_the_video_and_moves_its_batch_counters(self, repos: dict[str, Any]) -> None:
        batch = repos["batches"].add(_batch(total=2))
        repos["batches"].set_counters("acct_a", "camp_1", batch.batch_id, BatchCounters(queued=2))
        queued = repos["videos"].save(
            _video("acct_a", "camp_1", "pros_1", status=VideoStatus.QUEUED, batch_id=batch.batch_id)
        )
        moved = repos["videos"].move(
            queued.model_copy(update={"status": VideoStatus.SYNTHESIZING}),
            CounterMove(batch.batch_id, {"queued": -1, "in_progress": 1}),
        )
        assert moved.status is VideoStatus.SYNTHESIZING and moved.version == 2
        assert repos["videos"].get("acct_a", "camp_1", "pros_1") == moved
        after = repos["batches"].get("acct_a", "camp_1", batch.batch_id)
        assert after.counters == BatchCounters(queued=1, in_progress=1)
        assert after.version == batch.version  # only the counters moved
        # a batch whose counters were never set starts from zero
        other = repos["batches"].add(_batch())
        repos["videos"].move(
            repos["videos"].save(_video("acct_a", "camp_1", "pros_2", batch_id=other.batch_id)),
            CounterMove(other.batch_id, {"cancelled": 1}),
        )
        assert repos["batches"].get("acct_a", "camp_1", other.batch_id).counters == BatchCounters(cancelled=1)

    def test_move_of_a_stale_video_conflicts_and_counts_nothing(self, repos: dict[str, Any]) -> None:
        batch = repos["batches"].add(_batch(total=1))
        repos["batches"].set_counters("acct_a", "camp_1", batch.batch_id, BatchCounters(queued=1))
        repos["videos"].save(
            _video("acct_a", "camp_1", "pros_1", status=VideoStatus.QUEUED, batch_id=batch.batch_id)
        )
        first = repos["videos"].get("acct_a", "camp_1", "pros_1")
        second = repos["videos"].get("acct_a", "camp_1", "pros_1")
        repos["videos"].move(
            first.model_copy(update={"status": VideoStatus.SYNTHESIZING}),
            CounterMove(batch.batch_id, {"queued": -1, "in_progress": 1}),
        )
        # a retried step that read the video before the first move loses, and counts nothing
        with pytest.raises(ConflictError):
            repos["videos"].move(
                second.model_copy(update={"status": VideoStatus.FAILED}),
                CounterMove(batch.batch_id, {"queued": -1, "failed": 1}),
            )
        # so does a new render (version 0) over the existing one
        with pytest.raises(ConflictError):
            repos["videos"].move(
                _video("acct_a", "camp_1", "pros_1", batch_id=batch.batch_id),
                CounterMove(batch.batch_id, {"queued": 1}),
            )
        assert repos["batches"].get("acct_a", "camp_1", batch.batch_id).counters == BatchCounters(
            in_progress=1
        )
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").status is VideoStatus.SYNTHESIZING

    def test_move_without_counters_is_a_version_checked_save(self, repos: dict[str, Any]) -> None:
        video = repos["videos"].save(_video("acct_a", "camp_1", "pros_1"))
        moved = repos["videos"].move(video.model_copy(update={"progress": 5}), None)
        assert moved.progress == 5 and moved.version == 2
        with pytest.raises(ConflictError):
            repos["videos"].move(video.model_copy(update={"progress": 6}), None)
        assert repos["videos"].get("acct_a", "camp_1", "pros_1").progress == 5

    def test_list_campaign_yields_only_that_campaign_s_videos(self, repos: dict[str, Any]) -> None:
        for prospect_id in ("pros_1", "pros_2", "pros_3"):
            repos["videos"].save(_video("acct_a", "camp_1", prospect_id))
        repos["videos"].save(_video("acct_a", "camp_2", "pros_4"))
        repos["videos"].save(_video("acct_b", "camp_1", "pros_5"))
        # other items of the same campaign are not videos
        repos["prospects"].add(_prospect("acct_a", "camp_1", "x@y.io"))
        batch = repos["batches"].add(_batch())
        repos["batches"].set_counters("acct_a", "camp_1", batch.batch_id, BatchCounters(queued=1))

        def listed(account_id: str, campaign_id: str) -> list[str]:
            videos = list(repos["videos"].list_campaign(account_id, campaign_id))
            assert all(isinstance(v, ProspectVideo) for v in videos)
            assert {(v.account_id, v.campaign_id) for v in videos} <= {(account_id, campaign_id)}
            return sorted(v.prospect_id for v in videos)

        assert listed("acct_a", "camp_1") == ["pros_1", "pros_2", "pros_3"]
        assert listed("acct_a", "camp_2") == ["pros_4"]
        assert listed("acct_b", "camp_1") == ["pros_5"]
        assert listed("acct_b", "camp_2") == []


class TestLexiconContract:
    def test_put_get_list_delete(self, repos: dict[str, Any]) -> None:
        lexicon = repos["lexicon"]
        lexicon.put(
            PronunciationEntry(account_id="acct_a", key="siobhan", name="Siobhan", pronunciation="shi-VAWN")
        )
        lexicon.put(
            PronunciationEntry(account_id="acct_a", key="niamh", name="Niamh", pronunciation="/niːv/")
        )
        assert lexicon.get("acct_a", "siobhan").pronunciation == "shi-VAWN"
        assert [e.key for e in lexicon.list("acct_a")] == ["niamh", "siobhan"]
        # a second put replaces
        lexicon.put(
            PronunciationEntry(account_id="acct_a", key="siobhan", name="Siobhan", pronunciation="/ʃɪˈvɔːn/")
        )
        assert lexicon.get("acct_a", "siobhan").pronunciation == "/ʃɪˈvɔːn/"
        lexicon.delete("acct_a", "niamh")
        with pytest.raises(NotFoundError):
            lexicon.get("acct_a", "niamh")
        with pytest.raises(NotFoundError):
            lexicon.delete("acct_a", "niamh")

    def test_tenant_isolation(self, repos: dict[str, Any]) -> None:
        lexicon = repos["lexicon"]
        lexicon.put(
            PronunciationEntry(account_id="acct_a", key="siobhan", name="Siobhan", pronunciation="shi-VAWN")
        )
        assert lexicon.list("acct_b") == []
        with pytest.raises(NotFoundError):
            lexicon.get("acct_b", "siobhan")
        with pytest.raises(NotFoundError):
            lexicon.delete("acct_b", "siobhan")
        assert lexicon.get("acct_a", "siobhan").name == "Siobhan"


def _webhook_endpoint(account_id: str, url: str = "https://hooks.example.com/h") -> WebhookEndpoint:
    return WebhookEndpoint(
        account_id=account_id,
        endpoint_id=new_id("whk"),
        url=url,
        description="CRM",
        events=["video.completed", "batch.completed"],
        secret="whsec_x",
    )


def _store_uncounted_fake(hooks: fakes.FakeWebhookRepository) -> Any:
    def store(endpoint: WebhookEndpoint) -> None:
        hooks.endpoints[endpoint.account_id, endpoint.endpoint_id] = endpoint

    return store


def _store_uncounted_dynamodb(endpoint: WebhookEndpoint) -> None:
    """Store an endpoint as a version that did not count endpoints did (no counter moved)."""
    from chalicelib.adapters.dynamodb.models import WebhookEndpointItem

    WebhookEndpointItem(
        f"ACCOUNT#{endpoint.account_id}",
        f"WEBHOOK#{endpoint.endpoint_id}",
        url=endpoint.url,
        description=endpoint.description,
        events=endpoint.events,
        secret=endpoint.secret,
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
    ).save()


@pytest.fixture
def atomic_moto() -> None:
    """moto answering one DynamoDB request at a time, as DynamoDB applies each atomically (what
    the local stack runs): without it two threads' conditional writes can interleave in moto."""
    from devstack import dynamotx

    dynamotx.install()


def _race(threads: int, work: Any) -> list[Any]:
    """Run ``work()`` in ``threads`` threads released at once; each one's result or exception."""
    barrier = threading.Barrier(threads)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome: Any = work()
        except Exception as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return outcomes


def _webhook_delivery(endpoint: WebhookEndpoint, event_id: str) -> WebhookDelivery:
    return WebhookDelivery(
        account_id=endpoint.account_id,
        endpoint_id=endpoint.endpoint_id,
        delivery_id=new_id("dlv"),
        event_id=event_id,
        event_type="video.completed",
        payload=json.dumps({"id": event_id}),
    )


class TestWebhookContract:
    def test_endpoint_roundtrip_list_and_delete(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        first = hooks.add_endpoint(_webhook_endpoint("acct_a", "https://a.example.com/1"), ENDPOINT_QUOTA)
        second = hooks.add_endpoint(_webhook_endpoint("acct_a", "https://a.example.com/2"), ENDPOINT_QUOTA)
        assert hooks.get_endpoint("acct_a", first.endpoint_id) == first
        assert first.events == ["video.completed", "batch.completed"] and first.enabled
        listed = [e.endpoint_id for e in hooks.list_endpoints("acct_a")]
        assert listed == [second.endpoint_id, first.endpoint_id]
        hooks.delete_endpoint("acct_a", first.endpoint_id, ENDPOINT_QUOTA)
        with pytest.raises(NotFoundError):
            hooks.get_endpoint("acct_a", first.endpoint_id)
        with pytest.raises(NotFoundError):
            hooks.delete_endpoint("acct_a", first.endpoint_id, ENDPOINT_QUOTA)
        with pytest.raises(ConflictError):
            hooks.add_endpoint(second, ENDPOINT_QUOTA)

    def test_one_delivery_per_endpoint_and_event(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        endpoint = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        original, created = hooks.add_delivery(_webhook_delivery(endpoint, "evt_1"))
        assert created and original.status == "pending"
        again, created = hooks.add_delivery(_webhook_delivery(endpoint, "evt_1"))
        assert not created and again == original
        other = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        assert hooks.add_delivery(_webhook_delivery(other, "evt_1"))[1]  # another endpoint: its own
        assert hooks.get_delivery("acct_a", endpoint.endpoint_id, original.delivery_id) == original

    def test_save_roundtrip_and_listing_newest_first(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        endpoint = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        added = [hooks.add_delivery(_webhook_delivery(endpoint, f"evt_{i}"))[0] for i in range(5)]
        now = added[0].created_at
        done = added[0].model_copy(
            update={
                "status": DeliveryStatus.DELIVERED,
                "attempts": 2,
                "last_status_code": 204,
                "last_attempt_at": now,
                "delivered_at": now,
            }
        )
        assert hooks.save_delivery(done) == done
        assert hooks.get_delivery("acct_a", endpoint.endpoint_id, done.delivery_id) == done
        seen: list[str] = []
        cursor = None
        while True:
            page = hooks.list_deliveries("acct_a", endpoint.endpoint_id, 2, cursor)
            seen.extend(d.delivery_id for d in page.items)
            if (cursor := page.cursor) is None:
                break
        assert seen == [d.delivery_id for d in reversed(added)]

    def test_deleting_the_endpoint_deletes_its_deliveries(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        endpoint = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        delivery, _ = hooks.add_delivery(_webhook_delivery(endpoint, "evt_1"))
        hooks.delete_endpoint("acct_a", endpoint.endpoint_id, ENDPOINT_QUOTA)
        with pytest.raises(NotFoundError):
            hooks.get_delivery("acct_a", endpoint.endpoint_id, delivery.delivery_id)
        with pytest.raises(NotFoundError):  # an attempt in flight cannot bring it back
            hooks.save_delivery(delivery.model_copy(update={"attempts": 1}))
        assert hooks.list_deliveries("acct_a", endpoint.endpoint_id, 10).items == []

    def test_tenant_isolation(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        endpoint = hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        delivery, _ = hooks.add_delivery(_webhook_delivery(endpoint, "evt_1"))
        assert hooks.list_endpoints("acct_b") == []
        with pytest.raises(NotFoundError):
            hooks.get_endpoint("acct_b", endpoint.endpoint_id)
        with pytest.raises(NotFoundError):
            hooks.delete_endpoint("acct_b", endpoint.endpoint_id, ENDPOINT_QUOTA)
        with pytest.raises(NotFoundError):
            hooks.get_delivery("acct_b", endpoint.endpoint_id, delivery.delivery_id)
        assert hooks.list_deliveries("acct_b", endpoint.endpoint_id, 10).items == []
        assert hooks.get_endpoint("acct_a", endpoint.endpoint_id) == endpoint

    def test_endpoints_are_counted_and_capped_and_a_delete_frees_a_place(self, repos: dict[str, Any]) -> None:
        hooks, quotas = repos["webhooks"], repos["quotas"]
        added = [hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA) for _ in range(10)]
        assert quotas.usage("acct_a", ENDPOINT_QUOTA.name) == 10

        with pytest.raises(LimitExceededError, match="at most 10 webhook endpoints"):
            hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        assert len(hooks.list_endpoints("acct_a")) == 10  # the refused one was not stored
        hooks.add_endpoint(_webhook_endpoint("acct_b"), ENDPOINT_QUOTA)  # each account its own count

        hooks.delete_endpoint("acct_a", added[0].endpoint_id, ENDPOINT_QUOTA)
        assert quotas.usage("acct_a", ENDPOINT_QUOTA.name) == 9
        hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        with pytest.raises(NotFoundError):  # deleting what is gone moves nothing
            hooks.delete_endpoint("acct_a", added[0].endpoint_id, ENDPOINT_QUOTA)
        with pytest.raises(ConflictError):  # nor does adding what exists
            hooks.add_endpoint(added[1], Quota(ENDPOINT_QUOTA.name, 100))
        assert quotas.usage("acct_a", ENDPOINT_QUOTA.name) == 10

    @pytest.mark.parametrize("stored_before", [0, 5])
    def test_concurrent_registrations_never_pass_the_cap(
        self, repos: dict[str, Any], atomic_moto: None, stored_before: int
    ) -> None:
        # GIVEN an account with some endpoints stored before endpoints were counted (no counter yet)
        hooks = repos["webhooks"]
        for _ in range(stored_before):
            repos["store_uncounted"](_webhook_endpoint("acct_a"))

        # WHEN 16 registrations race
        outcomes = _race(16, lambda: hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA))

        # THEN exactly enough of them are stored to reach 10, and every other one is refused
        stored = [o for o in outcomes if isinstance(o, WebhookEndpoint)]
        refused = [o for o in outcomes if isinstance(o, LimitExceededError)]
        assert (len(stored), len(refused)) == (10 - stored_before, 6 + stored_before), outcomes
        assert len(hooks.list_endpoints("acct_a")) == 10
        assert repos["quotas"].usage("acct_a", ENDPOINT_QUOTA.name) == 10
        # AND a delete lets exactly one more in
        hooks.delete_endpoint("acct_a", stored[0].endpoint_id, ENDPOINT_QUOTA)
        again = _race(4, lambda: hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA))
        assert sum(isinstance(o, WebhookEndpoint) for o in again) == 1, again
        assert len(hooks.list_endpoints("acct_a")) == 10

    def test_endpoints_stored_before_counting_are_counted_when_the_counter_starts(
        self, repos: dict[str, Any]
    ) -> None:
        hooks = repos["webhooks"]
        old = _webhook_endpoint("acct_a")
        for endpoint in [old] + [_webhook_endpoint("acct_a") for _ in range(9)]:
            repos["store_uncounted"](endpoint)
        with pytest.raises(LimitExceededError):
            hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)
        assert repos["quotas"].usage("acct_a", ENDPOINT_QUOTA.name) == 10
        hooks.delete_endpoint("acct_a", old.endpoint_id, ENDPOINT_QUOTA)
        hooks.add_endpoint(_webhook_endpoint("acct_a"), ENDPOINT_QUOTA)

    def test_an_uncounted_endpoint_deleted_first_starts_the_count_right(self, repos: dict[str, Any]) -> None:
        hooks = repos["webhooks"]
        old = _webhook_endpoint("acct_a")
        repos["store_uncounted"](old)
        repos["store_uncounted"](_webhook_endpoint("acct_a"))
        hooks.delete_endpoint("acct_a", old.endpoint_id, ENDPOINT_QUOTA)
        assert repos["quotas"].usage("acct_a", ENDPOINT_QUOTA.name) == 1


QUOTA = Quota("renders_2026_11", 10, "the plan renders 10 videos a month")


class TestQuotaContract:
    def test_reserve_up_to_the_limit_then_refuse_without_counting(self, repos: dict[str, Any]) -> None:
        quotas = repos["quotas"]
        assert quotas.usage("acct_a", QUOTA.name) == 0
        assert quotas.reserve("acct_a", QUOTA) == 1
        assert quotas.reserve("acct_a", QUOTA, 8) == 9
        with pytest.raises(LimitExceededError, match="renders 10 videos a month"):
            quotas.reserve("acct_a", QUOTA, 2)
        assert quotas.reserve("acct_a", QUOTA) == 10
        with pytest.raises(LimitExceededError):
            quotas.reserve("acct_a", QUOTA)
        assert quotas.usage("acct_a", QUOTA.name) == 10
        assert quotas.reserve("acct_b", QUOTA) == 1  # per account
        assert quotas.usage("acct_a", "other_quota") == 0  # per name

    def test_release_frees_and_never_goes_below_zero(self, repos: dict[str, Any]) -> None:
        quotas = repos["quotas"]
        quotas.reserve("acct_a", QUOTA, 3)
        assert quotas.release("acct_a", QUOTA.name) == 2
        assert quotas.release("acct_a", QUOTA.name, 5) == 0
        assert quotas.release("acct_a", "never_counted") == 0
        assert quotas.reserve("acct_a", QUOTA, 10) == 10

    def test_concurrent_reservations_never_pass_the_limit(
        self, repos: dict[str, Any], atomic_moto: None
    ) -> None:
        quotas = repos["quotas"]
        outcomes = _race(16, lambda: quotas.reserve("acct_a", QUOTA))
        assert sorted(o for o in outcomes if isinstance(o, int)) == list(range(1, 11)), outcomes
        assert sum(isinstance(o, LimitExceededError) for o in outcomes) == 6
        assert quotas.usage("acct_a", QUOTA.name) == 10


class TestRateLimiterContract:
    def test_hits_count_per_key(self, repos: dict[str, Any]) -> None:
        limiter = repos["limiter"]
        assert [limiter.hit("a#1", ttl_seconds=60) for _ in range(3)] == [1, 2, 3]
        assert limiter.hit("b#1", ttl_seconds=60) == 1

    def test_a_key_is_claimed_once(self, repos: dict[str, Any]) -> None:
        limiter = repos["limiter"]
        assert limiter.claim(["s1#0", "s1#1", "s1#0"], ttl_seconds=60) == [True, True, False]
        assert limiter.claim(["s1#1", "s1#2"], ttl_seconds=60) == [False, True]
        assert limiter.claim([], ttl_seconds=60) == []

    def test_a_released_claim_can_be_claimed_again(self, repos: dict[str, Any]) -> None:
        limiter = repos["limiter"]
        assert limiter.claim(["s2#0", "s2#1"], ttl_seconds=60) == [True, True]
        limiter.release(["s2#0", "s2#9"])  # releasing what was never claimed is harmless
        assert limiter.claim(["s2#0", "s2#1"], ttl_seconds=60) == [True, False]

    def test_concurrent_claims_of_a_key_have_one_winner(self, repos: dict[str, Any]) -> None:
        limiter = repos["limiter"]
        barrier = threading.Barrier(6)
        won: list[bool] = []

        def claim() -> None:
            barrier.wait()
            won.extend(limiter.claim(["s3#0", "s3#1"], ttl_seconds=60))

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won) == [False] * 10 + [True] * 2
