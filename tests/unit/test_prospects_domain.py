"""Prospect management (``chalicelib/domain/prospects.py``) on the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain import media, prospects, render
from chalicelib.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    StorageError,
)
from chalicelib.domain.models import (
    BaseVideo,
    Campaign,
    CampaignCounters,
    CampaignVoice,
    Prospect,
    ProspectVideo,
    UploadStatus,
    VideoStatus,
    VoiceStatus,
    new_id,
)
from chalicelib.domain.ports import ProspectSort
from chalicelib.domain.prospects import Selection, SkipReason
from tests import fakes


class World:
    """A campaign that can render, its prospects, their videos and media, all as fakes."""

    def __init__(self) -> None:
        self.campaigns = fakes.FakeCampaignRepository()
        self.prospects = fakes.FakeProspectRepository()
        self.batches = fakes.FakeRenderBatchRepository()
        self.videos = fakes.FakeVideoRepository(batches=self.batches, prospects=self.prospects)
        self.media = fakes.FakeObjectStore("tailorcast-test-media")
        self.orchestrator = fakes.FakeOrchestrator()
        self.ports = prospects.ProspectPorts(
            campaigns=self.campaigns, prospects=self.prospects, videos=self.videos, media=self.media
        )
        self.account_id = new_id("acct")
        self.render_ports = render.RenderPorts(
            campaigns=self.campaigns,
            prospects=self.prospects,
            videos=self.videos,
            batches=self.batches,
            lexicon=fakes.FakeLexiconRepository(),
            media=self.media,
            uploads=fakes.FakeObjectStore("tailorcast-test-uploads"),
            jobs=fakes.FakeMediaJobs(),
            codec=fakes.FakeMediaCodec(),
            config=media.MediaConfig(role_arn="arn:aws:iam::123456789012:role/test"),
            orchestrator=self.orchestrator,
            callbacks=fakes.FakeCallbacks(),
            events=fakes.FakeEventPublisher(),
            media_url=lambda key: None,
            accounts=fakes.accounts_with(self.account_id),
            ledger=self.videos.ledger,
        )
        self.campaign_id = new_id("camp")
        self.campaigns.add(
            Campaign(
                account_id=self.account_id,
                campaign_id=self.campaign_id,
                name="Q4",
                base_video=BaseVideo(upload_id="upl_x", key="k", filename="f.mp4", status=UploadStatus.READY),
                voice=CampaignVoice(status=VoiceStatus.READY),
                counters=CampaignCounters(prospects=0),
            )
        )

    def add(self, first_name: str, email: str, **fields: Any) -> str:
        prospect = Prospect(
            account_id=self.account_id,
            campaign_id=self.campaign_id,
            prospect_id=new_id("pros"),
            first_name=first_name,
            email=email,
            **fields,
        )
        self.prospects.add(prospect)
        self.campaigns.update(
            self.account_id,
            self.campaign_id,
            lambda c: c.model_copy(
                update={"counters": c.counters.model_copy(update={"prospects": c.counters.prospects + 1})}
            ),
        )
        return prospect.prospect_id

    def with_video(self, prospect_id: str, status: VideoStatus) -> None:
        """A render of the prospect in ``status``, and its objects in the media bucket."""
        render_id = new_id("rnd")
        self.videos.save(
            ProspectVideo(
                account_id=self.account_id,
                campaign_id=self.campaign_id,
                prospect_id=prospect_id,
                render_id=render_id,
                status=status,
                batch_id="bat_1" if status in render.ACTIVE_VIDEO else None,
            )
        )
        prefix = media.render_prefix(self.account_id, self.campaign_id, prospect_id, render_id)
        self.media.put_bytes(f"{prefix}/{media.PROSPECT_MASTER}", b"#EXTM3U", "application/vnd.apple.mpegurl")
        self.media.put_bytes(
            f"{self.account_id}/{self.campaign_id}/voice/{prospect_id}/abc.wav", b"RIFF", "audio/wav"
        )
        if status is VideoStatus.COMPLETED:
            self.bump(videos_rendered=1)
        if status is VideoStatus.FAILED:
            self.bump(videos_failed=1)

    def bump(self, **deltas: int) -> None:
        def change(c: Campaign) -> Campaign:
            counts = {k: getattr(c.counters, k) + v for k, v in deltas.items()}
            return c.model_copy(update={"counters": c.counters.model_copy(update=counts)})

        self.campaigns.update(self.account_id, self.campaign_id, change)

    @property
    def campaign(self) -> Campaign:
        return self.campaigns.get(self.account_id, self.campaign_id)

    def ids(self) -> set[str]:
        return {p.prospect_id for p in self.prospects.iter_campaign(self.account_id, self.campaign_id)}

    def keys_of(self, prospect_id: str) -> list[str]:
        return [k for k in self.media.objects if f"/{prospect_id}/" in k]


@pytest.fixture
def world() -> World:
    return World()


# --------------------------------------------------------------------------- listing


def test_prospect_query_orders_by_default_newest_first_or_a_to_z() -> None:
    assert prospects.prospect_query().descending is True
    for sort in (ProspectSort.NAME, ProspectSort.EMAIL, ProspectSort.COMPANY, ProspectSort.STATUS):
        assert prospects.prospect_query(sort=sort).descending is False
    assert prospects.prospect_query(sort=ProspectSort.NAME, descending=True).descending is True
    assert prospects.prospect_query("   ").search is None
    assert prospects.prospect_query("  Zoë   Müller ").search == "Zoë Müller"


def test_list_searches_the_campaign_of_this_account_only(world: World) -> None:
    world.add("Zoë", "zoe@acme.io", company="Acme")
    world.add("Priya", "priya@globex.io", company="Globex")
    page = prospects.list_prospects(
        world.ports, world.account_id, world.campaign_id, prospects.prospect_query("ZOE"), 10, None
    )
    assert [p.first_name for p in page.items] == ["Zoë"]
    with pytest.raises(NotFoundError):
        prospects.list_prospects(
            world.ports, new_id("acct"), world.campaign_id, prospects.prospect_query(), 10, None
        )


# --------------------------------------------------------------------------- update


def test_update_sets_and_clears_the_pronunciation(world: World) -> None:
    pid = world.add("Siobhan", "siobhan@example.com")
    changed = prospects.update_prospect(
        world.ports, world.account_id, world.campaign_id, pid, {"pronunciation": " shi-VAWN "}, 1
    )
    assert (changed.pronunciation, changed.version) == ("shi-VAWN", 2)
    ipa = prospects.update_prospect(
        world.ports, world.account_id, world.campaign_id, pid, {"pronunciation": "/ʃɪˈvɔːn/"}
    )
    assert ipa.pronunciation == "/ʃɪˈvɔːn/"
    cleared = prospects.update_prospect(
        world.ports, world.account_id, world.campaign_id, pid, {"pronunciation": None}
    )
    assert cleared.pronunciation is None
    assert world.prospects.get(world.account_id, world.campaign_id, pid).pronunciation is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pronunciation": "sh1-VAWN"}, "body.pronunciation"),
        ({"pronunciation": "/ʃɪˈvɔːn"}, "body.pronunciation"),
        ({"pronunciation": "   "}, "body.pronunciation"),
        ({"first_name": None}, "body.first_name"),
        ({"first_name": "  "}, "body.first_name"),
        ({"email": "not-an-email"}, "body.email"),
        ({"company": "x" * 256}, "body.company"),
        ({"watch_token": "mine-now-0123456789"}, "body.watch_token"),
        ({"video_status": "completed"}, "body.video_status"),
    ],
)
def test_update_refuses_bad_values_naming_the_field(
    world: World, changes: dict[str, Any], field: str
) -> None:
    pid = world.add("Siobhan", "siobhan@example.com")
    with pytest.raises(InvalidInputError) as caught:
        prospects.update_prospect(world.ports, world.account_id, world.campaign_id, pid, changes)
    assert [i.loc for i in caught.value.issues] == [field]
    assert world.prospects.get(world.account_id, world.campaign_id, pid).version == 1  # untouched


def test_update_normalizes_text_and_replaces_custom_fields(world: World) -> None:
    pid = world.add("Ada", "ada@example.com", company="Engines", custom_fields={"Notes": "met at DMEXCO"})
    changed = prospects.update_prospect(
        world.ports,
        world.account_id,
        world.campaign_id,
        pid,
        {"first_name": "  Ada  Augusta ", "company": " ", "custom_fields": {"Tier": "A"}},
    )
    assert (changed.first_name, changed.company, changed.custom_fields) == (
        "Ada Augusta",
        None,
        {"Tier": "A"},
    )
    emptied = prospects.update_prospect(
        world.ports, world.account_id, world.campaign_id, pid, {"custom_fields": None}
    )
    assert emptied.custom_fields == {}


def test_update_with_a_stale_version_is_refused(world: World) -> None:
    pid = world.add("Ada", "ada@example.com")
    prospects.update_prospect(world.ports, world.account_id, world.campaign_id, pid, {"title": "CTO"}, 1)
    with pytest.raises(PreconditionFailedError):
        prospects.update_prospect(world.ports, world.account_id, world.campaign_id, pid, {"title": "CEO"}, 1)
    assert world.prospects.get(world.account_id, world.campaign_id, pid).title == "CTO"


def test_update_to_a_taken_email_conflicts_and_a_case_change_does_not(world: World) -> None:
    ada = world.add("Ada", "ada@example.com")
    world.add("Grace", "grace@example.com")
    with pytest.raises(ConflictError):
        prospects.update_prospect(
            world.ports, world.account_id, world.campaign_id, ada, {"email": "GRACE@example.com"}
        )
    same = prospects.update_prospect(
        world.ports, world.account_id, world.campaign_id, ada, {"email": "Ada@Example.com"}
    )
    assert same.email_key == "ada@example.com"


def test_update_of_another_tenants_prospect_is_not_found(world: World) -> None:
    pid = world.add("Ada", "ada@example.com")
    with pytest.raises(NotFoundError):
        prospects.update_prospect(world.ports, new_id("acct"), world.campaign_id, pid, {"title": "x"})
    with pytest.raises(NotFoundError):
        prospects.update_prospect(
            world.ports, world.account_id, world.campaign_id, "pros_nope", {"title": "x"}
        )
    with pytest.raises(InvalidInputError):  # not editable, whatever the prospect
        prospects.update_prospect(world.ports, world.account_id, world.campaign_id, pid, {"prospect_id": "x"})


# --------------------------------------------------------------------------- delete one


def test_media_prefixes_cover_every_render_and_the_audio_of_that_prospect_only() -> None:
    video, voice = prospects.prospect_media_prefixes("acct_1", "camp_1", "pros_1")
    assert media.render_prefix("acct_1", "camp_1", "pros_1", "rnd_9").startswith(video)
    assert not media.render_prefix("acct_1", "camp_1", "pros_10", "rnd_9").startswith(video)
    assert voice == "acct_1/camp_1/voice/pros_1/"


def test_delete_removes_the_prospect_its_media_and_its_counts(world: World) -> None:
    gone, kept = world.add("Ada", "ada@example.com"), world.add("Grace", "grace@example.com")
    world.with_video(gone, VideoStatus.COMPLETED)
    world.with_video(kept, VideoStatus.COMPLETED)
    base = f"{world.account_id}/{world.campaign_id}/base/upl_x/main.m3u8"
    world.media.put_bytes(base, b"#EXTM3U", "application/vnd.apple.mpegurl")
    assert world.campaign.counters.model_dump(include={"prospects", "videos_rendered"}) == {
        "prospects": 2,
        "videos_rendered": 2,
    }
    # WHEN one is deleted
    prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, gone)
    # THEN it, its renders and its audio are gone; the other prospect and the base are untouched
    assert world.ids() == {kept}
    assert world.keys_of(gone) == []
    assert len(world.keys_of(kept)) == 2 and base in world.media.objects
    counters = world.campaign.counters
    assert (counters.prospects, counters.videos_rendered, counters.videos_failed) == (1, 1, 0)
    # and its email is free again
    world.add("Ada", "ada@example.com")


@pytest.mark.parametrize("status", sorted(render.ACTIVE_VIDEO))
def test_a_prospect_being_rendered_cannot_be_deleted(world: World, status: VideoStatus) -> None:
    pid = world.add("Ada", "ada@example.com")
    world.with_video(pid, status)
    with pytest.raises(ConflictError, match=f"being rendered \\({status.value}\\) by batch bat_1"):
        prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, pid)
    assert world.ids() == {pid} and len(world.keys_of(pid)) == 2
    assert world.campaign.counters.prospects == 1


def test_the_prospects_own_status_also_blocks_deletion(world: World) -> None:
    # A render whose video item is not there (yet): the prospect's copy of the status decides.
    pid = world.add("Ada", "ada@example.com", video_status=VideoStatus.RENDERING)
    with pytest.raises(ConflictError, match="being rendered"):
        prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, pid)


@pytest.mark.parametrize("status", [VideoStatus.PENDING, VideoStatus.FAILED, VideoStatus.COMPLETED])
def test_finished_or_never_rendered_prospects_can_be_deleted(world: World, status: VideoStatus) -> None:
    pid = world.add("Ada", "ada@example.com")
    world.with_video(pid, status)
    prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, pid)
    assert world.ids() == set()
    assert world.campaign.counters.model_dump(include={"prospects", "videos_rendered", "videos_failed"}) == {
        "prospects": 0,
        "videos_rendered": 0,
        "videos_failed": 0,
    }


def test_deleting_a_missing_or_another_tenants_prospect_is_not_found(world: World) -> None:
    pid = world.add("Ada", "ada@example.com")
    with pytest.raises(NotFoundError):
        prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, "pros_nope")
    with pytest.raises(NotFoundError):
        prospects.delete_prospect(world.ports, new_id("acct"), world.campaign_id, pid)
    assert world.ids() == {pid} and world.campaign.counters.prospects == 1


def test_media_that_cannot_be_deleted_does_not_undo_the_deletion(world: World, monkeypatch) -> None:
    pid = world.add("Ada", "ada@example.com")

    def broken(prefix: str) -> int:
        raise StorageError("S3 is down")

    monkeypatch.setattr(world.media, "delete_prefix", broken)
    prospects.delete_prospect(world.ports, world.account_id, world.campaign_id, pid)
    assert world.ids() == set() and world.campaign.counters.prospects == 0


# --------------------------------------------------------------------------- selections


def test_a_selection_is_ids_or_a_filter_never_both_nor_neither() -> None:
    for ids, has_filter in ((["pros_1"], True), (None, False)):
        with pytest.raises(InvalidInputError) as caught:
            Selection.of(ids, has_filter)
        assert [i.loc for i in caught.value.issues] == ["body"]
    for ids in ([], [f"pros_{i}" for i in range(prospects.MAX_SELECTION + 1)]):
        with pytest.raises(InvalidInputError) as caught:
            Selection.of(ids, False)
        assert [i.loc for i in caught.value.issues] == ["body.prospect_ids"]
    assert Selection.of(["b", "a", "b"], False).prospect_ids == ("b", "a")
    by_filter = Selection.of(None, True, " acme ", VideoStatus.FAILED)
    assert by_filter.query is not None and not by_filter.everything
    assert (by_filter.query.search, by_filter.query.status, by_filter.query.descending) == (
        "acme",
        VideoStatus.FAILED,
        False,
    )
    assert Selection.of(None, True, "  ").everything


def test_a_filter_resolves_to_its_matches_oldest_first_across_pages(world: World, monkeypatch) -> None:
    monkeypatch.setattr(prospects, "SEARCH_PAGE", 2)
    acme = [world.add(f"N{i}", f"n{i}@acme.io", company="ACME Corp") for i in range(5)]
    world.add("Other", "other@globex.io", company="Globex")
    resolved = prospects.resolve(
        world.prospects, world.account_id, world.campaign_id, Selection.of(None, True, "acmé")
    )
    assert (resolved.prospect_ids, resolved.more) == (acme, False)
    monkeypatch.setattr(prospects, "MAX_SELECTION", 3)
    capped = prospects.resolve(
        world.prospects, world.account_id, world.campaign_id, Selection.of(None, True, "acme")
    )
    assert (capped.prospect_ids, capped.more) == (acme[:3], True)
    failed = world.add("F", "f@acme.io", video_status=VideoStatus.FAILED)
    only = prospects.resolve(
        world.prospects,
        world.account_id,
        world.campaign_id,
        Selection.of(None, True, "acme", VideoStatus.FAILED),
    )
    assert (only.prospect_ids, only.more) == ([failed], False)


# --------------------------------------------------------------------------- bulk delete


def test_bulk_delete_by_ids_reports_each_prospect(world: World) -> None:
    a, b, busy = (world.add(n, f"{n}@example.com") for n in ("ada", "bob", "cy"))
    world.with_video(busy, VideoStatus.SYNTHESIZING)
    world.with_video(b, VideoStatus.COMPLETED)
    outcome = prospects.delete_selection(
        world.ports, world.account_id, world.campaign_id, Selection.of([b, "pros_nope", busy, a, b], False)
    )
    assert outcome.deleted == [b, a] and outcome.more is False
    assert [(s.prospect_id, s.reason) for s in outcome.skipped] == [
        ("pros_nope", SkipReason.NOT_FOUND),
        (busy, SkipReason.RENDERING),
    ]
    assert "being rendered (synthesizing)" in outcome.skipped[1].message
    assert world.ids() == {busy}
    assert world.campaign.counters.model_dump(include={"prospects", "videos_rendered"}) == {
        "prospects": 1,
        "videos_rendered": 0,
    }


def test_bulk_delete_by_filter_goes_on_while_more_match(world: World, monkeypatch) -> None:
    monkeypatch.setattr(prospects, "MAX_SELECTION", 2)
    failed = [world.add(f"f{i}", f"f{i}@x.io", video_status=VideoStatus.FAILED) for i in range(3)]
    keep = world.add("ok", "ok@x.io")
    selection = Selection.of(None, True, None, VideoStatus.FAILED)
    first = prospects.delete_selection(world.ports, world.account_id, world.campaign_id, selection)
    assert (first.deleted, first.more) == (failed[:2], True)
    second = prospects.delete_selection(world.ports, world.account_id, world.campaign_id, selection)
    assert (second.deleted, second.more, second.skipped) == (failed[2:], False, [])
    assert world.ids() == {keep} and world.campaign.counters.prospects == 1


def test_bulk_delete_of_an_unknown_campaign_is_not_found(world: World) -> None:
    pid = world.add("Ada", "ada@example.com")
    with pytest.raises(NotFoundError):
        prospects.delete_selection(world.ports, new_id("acct"), world.campaign_id, Selection.of([pid], False))
    with pytest.raises(NotFoundError):
        prospects.delete_selection(world.ports, new_id("acct"), world.campaign_id, Selection.of(None, True))
    assert world.ids() == {pid}


def test_one_failing_deletion_does_not_discard_the_others(world: World, monkeypatch) -> None:
    ids = [world.add(f"p{i}", f"p{i}@example.com") for i in range(4)]
    real = world.prospects.delete

    def flaky(account_id: str, campaign_id: str, prospect_id: str) -> None:
        if prospect_id == ids[1]:
            raise StorageError("DynamoDB is throttling")
        real(account_id, campaign_id, prospect_id)

    monkeypatch.setattr(world.prospects, "delete", flaky)
    outcome = prospects.delete_selection(
        world.ports, world.account_id, world.campaign_id, Selection.of(ids, False), workers=4
    )
    assert outcome.deleted == [ids[0], ids[2], ids[3]]
    assert [(s.prospect_id, s.reason) for s in outcome.skipped] == [(ids[1], SkipReason.ERROR)]
    assert "try again" in outcome.skipped[0].message
    assert world.ids() == {ids[1]} and world.campaign.counters.prospects == 1


def test_an_unexpected_error_stays_with_its_prospect(world: World, monkeypatch) -> None:
    ids = [world.add(f"p{i}", f"p{i}@example.com") for i in range(3)]
    real = world.prospects.delete

    def flaky(account_id: str, campaign_id: str, prospect_id: str) -> None:
        if prospect_id == ids[0]:
            raise RuntimeError("botocore said something unexpected")
        real(account_id, campaign_id, prospect_id)

    monkeypatch.setattr(world.prospects, "delete", flaky)
    outcome = prospects.delete_selection(
        world.ports, world.account_id, world.campaign_id, Selection.of(ids, False)
    )
    assert outcome.deleted == ids[1:]
    assert [(s.prospect_id, s.reason) for s in outcome.skipped] == [(ids[0], SkipReason.ERROR)]
    assert "RuntimeError" not in outcome.skipped[0].message and "botocore" not in outcome.skipped[0].message
    assert world.campaign.counters.prospects == 1


class _Killed(BaseException):
    """What a Lambda timeout looks like from inside: nothing after it runs."""


def test_counts_follow_each_chunk_even_when_a_request_dies_half_way(world: World, monkeypatch) -> None:
    monkeypatch.setattr(prospects, "DELETE_CHUNK", 2)
    ids = [world.add(f"p{i}", f"p{i}@example.com") for i in range(6)]
    real = world.prospects.delete

    def dying(account_id: str, campaign_id: str, prospect_id: str) -> None:
        if prospect_id == ids[4]:
            raise _Killed
        real(account_id, campaign_id, prospect_id)

    monkeypatch.setattr(world.prospects, "delete", dying)
    with pytest.raises(_Killed):
        prospects.delete_selection(
            world.ports, world.account_id, world.campaign_id, Selection.of(ids, False), workers=1
        )
    # The chunks finished before the request died are deleted and counted.
    assert not set(ids[:4]) & world.ids()
    assert world.campaign.counters.prospects == 2


# --------------------------------------------------------------------------- bulk render


def test_bulk_render_by_ids_starts_a_batch_of_exactly_those(world: World) -> None:
    a, _, c = (world.add(n, f"{n}@example.com") for n in ("ada", "bob", "cy"))
    batch = prospects.render_selection(
        world.render_ports, world.account_id, world.campaign_id, Selection.of([c, a, c], False), force=True
    )
    assert (batch.prospect_ids, batch.force) == ([c, a], True)
    assert world.orchestrator.started == [(batch.batch_id, 1)]
    assert world.campaign.active_batch_id == batch.batch_id


def test_bulk_render_by_filter_starts_a_batch_of_the_matches(world: World) -> None:
    failed = [world.add(f"f{i}", f"f{i}@x.io", video_status=VideoStatus.FAILED) for i in range(2)]
    world.add("ok", "ok@x.io", video_status=VideoStatus.COMPLETED)
    batch = prospects.render_selection(
        world.render_ports,
        world.account_id,
        world.campaign_id,
        Selection.of(None, True, None, VideoStatus.FAILED),
        tolerated_failure_percent=5,
    )
    assert (batch.prospect_ids, batch.tolerated_failure_percent) == (failed, 5)


def test_bulk_render_of_everyone_renders_the_whole_campaign(world: World) -> None:
    world.add("ada", "ada@x.io")
    batch = prospects.render_selection(
        world.render_ports, world.account_id, world.campaign_id, Selection.of(None, True)
    )
    assert batch.prospect_ids is None


def test_bulk_render_refuses_a_filter_matching_none_or_too_many(world: World, monkeypatch) -> None:
    monkeypatch.setattr(prospects, "MAX_SELECTION", 2)
    for i in range(3):
        world.add(f"p{i}", f"p{i}@acme.io")
    for search, says in (("globex", "matches no prospect"), ("acme", "more than 2")):
        with pytest.raises(InvalidInputError) as caught:
            prospects.render_selection(
                world.render_ports, world.account_id, world.campaign_id, Selection.of(None, True, search)
            )
        (issue,) = caught.value.issues
        assert issue.loc == "body.filter" and says in issue.message
    assert world.orchestrator.started == [] and world.campaign.active_batch_id is None


def test_bulk_render_of_an_unknown_prospect_names_it(world: World) -> None:
    a = world.add("ada", "ada@x.io")
    with pytest.raises(InvalidInputError) as caught:
        prospects.render_selection(
            world.render_ports, world.account_id, world.campaign_id, Selection.of([a, "pros_nope"], False)
        )
    assert [i.loc for i in caught.value.issues] == ["body.prospect_ids.1"]
    with pytest.raises(NotFoundError):
        prospects.render_selection(
            world.render_ports, new_id("acct"), world.campaign_id, Selection.of([a], False)
        )


# --------------------------------------------------------------------------- figures


def test_stats_count_every_status(world: World) -> None:
    empty = prospects.prospect_stats(world.ports, world.account_id, world.campaign_id)
    assert (empty.total, empty.in_progress, empty.completed_percent) == (0, 0, 0.0)
    assert empty.by_status == dict.fromkeys(VideoStatus, 0)
    done, queued, rendering = VideoStatus.COMPLETED, VideoStatus.QUEUED, VideoStatus.RENDERING
    for i, status in enumerate([done, done, queued, rendering, VideoStatus.FAILED, VideoStatus.PENDING]):
        world.add(f"p{i}", f"p{i}@x.io", video_status=status)
    stats = prospects.prospect_stats(world.ports, world.account_id, world.campaign_id)
    assert stats.total == 6 and stats.in_progress == 2 and stats.completed_percent == 33.3
    assert stats.by_status[VideoStatus.COMPLETED] == 2 and stats.by_status[VideoStatus.SYNTHESIZING] == 0
    with pytest.raises(NotFoundError):
        prospects.prospect_stats(world.ports, new_id("acct"), world.campaign_id)
