"""The Athena stand-in's background builder: with a change feed, reported objects are built into
the columnar cache as they arrive, off the query path; a query still sees every object written
before it started. Synchronised with events and ``wait_idle()``, never with sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.analytics_schema import glue_table_input
from devstack.athena import AthenaStandIn, cache
from tests.standins.test_athena_standin import BUCKET, DB, World, ev

COUNT = "SELECT count(*), sum(ts - 1795000000000) FROM events"


class Gate:
    """Holds the stand-in's downloads of one key until opened (``entered`` says one is held)."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.entered = threading.Event()
        self.opened = threading.Event()

    def hold(self, key: str) -> None:
        self.key = key
        self.entered.clear()
        self.opened.clear()

    def passing(self, key: str) -> None:
        if key == self.key:
            self.entered.set()
            assert self.opened.wait(30), "the gate was never opened"


class BuilderWorld(World):
    """A stand-in with a change feed (and so a background builder) whose downloads can be held."""

    def __init__(self, tmp: Path) -> None:
        self.gate = Gate()
        super().__init__(tmp, change_feed=True)

    def _standin(self) -> AthenaStandIn:
        def s3_factory() -> Any:
            client: Any = boto3.client("s3")
            real = client.get_object

            def counting(**kwargs: Any) -> Any:
                self.gate.passing(kwargs["Key"])
                self.gets += 1
                return real(**kwargs)

            client.get_object = counting
            return client

        standin = AthenaStandIn(
            s3_factory, lambda: boto3.client("glue"), self.tmp / "cache", change_feed=True
        )
        standin.start()
        return standin

    def idle(self) -> None:
        assert self.standin.wait_idle(30), "the builder did not catch up"

    def stats(self) -> dict[str, Any]:
        (stats,) = self.standin.cache_stats()
        return stats


def builder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("athena-")]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BuilderWorld]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        glue: Any = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": DB})
        glue.create_table(DatabaseName=DB, TableInput=glue_table_input(BUCKET, "events"))
        w = BuilderWorld(tmp_path)
        w.workgroup()
        try:
            yield w
        finally:
            w.gate.opened.set()
            w.standin.stop()


def test_reported_objects_are_built_before_any_query_and_read_without_a_download(world: BuilderWorld) -> None:
    # GIVEN objects reported by the feed, before the stand-in ever saw a query of the table
    for i in range(1, 6):
        world.put("2026-11-20" if i % 2 else "2026-11-21", ev(i))
    # WHEN the builder has caught up
    world.idle()
    # THEN it found the table in Glue, downloaded each object once and converted it
    assert world.gets == 5
    stats = world.stats()
    assert stats["objects"] == 5 and stats["background"]["downloaded_objects"] == 5
    assert world.partition_files("2026-11-20") and world.partition_files("2026-11-21")
    # AND a query reads the cache as it is: nothing is downloaded at query time
    assert world.rows(COUNT) == [["5", "15"]]
    assert world.gets == 5
    assert world.stats()["last_sync"] == {}


def test_a_query_started_right_after_a_write_sees_it(world: BuilderWorld) -> None:
    # GIVEN the builder busy with a first object (its download held)
    world.put("2026-11-20", ev(1))
    world.idle()
    world.gate.hold(world.put("2026-11-20", ev(2)))
    assert world.gate.entered.wait(30)
    # WHEN another object is written while the builder is held, and a query starts at once
    world.put("2026-11-20", ev(3))  # reported without waiting for the builder (it is held)
    query_id = world.start(COUNT)
    world.gate.opened.set()
    # THEN the query waited for what was pending and missed nothing; nothing was fetched twice
    assert world.status(query_id)["Status"]["State"] == "SUCCEEDED"
    page = world.client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1]
    assert [c["VarCharValue"] for c in page["Data"]] == ["3", "6"]
    world.idle()
    assert world.gets == 3


def test_queries_racing_the_builder_always_see_every_acknowledged_write(
    world: BuilderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "BUILD_BATCH_OBJECTS", 1)  # the builder leaves some pending each time
    expected = written = 0
    for i in range(1, 31):
        for j in range(i % 3 + 1):  # now and then, more than one object before the query
            world.put(f"2026-11-{10 + j}", ev(1000 * i + j))
            expected, written = expected + 1000 * i + j, written + 1
        assert world.rows(COUNT) == [[str(written), str(expected)]]
    world.idle()
    assert world.gets == written  # each object downloaded once, by the builder or by a query


def test_overwrites_and_deletes_are_applied_in_the_background(world: BuilderWorld) -> None:
    key = world.put("2026-11-20", ev(1))
    for i in range(2, 12):  # more batches than MAX_SEGMENTS in one partition: merged
        world.put("2026-11-20", ev(i))
        world.idle()
    # once idle, the builder has merged the partition's files (one per batch) into one
    assert len(world.partition_files("2026-11-20")) == 1
    assert world.stats()["background"]["merges"] >= 1
    world.put("2026-11-20", ev(100), ev(101), key=key)  # e1 -> e100, e101
    world.idle()
    assert world.rows(COUNT) == [["12", str(sum(range(2, 12)) + 201)]]
    world.s3.delete_object(Bucket=BUCKET, Key=key)
    world.standin.object_changed(BUCKET, key)
    world.idle()
    assert world.rows(COUNT) == [["10", str(sum(range(2, 12)))]]
    assert world.stats()["last_sync"] == {}  # every change was applied by the builder


def test_a_restart_keeps_what_was_built(world: BuilderWorld) -> None:
    for day in ("2026-11-19", "2026-11-20"):
        world.put(day, ev(1), ev(2))
    world.idle()
    assert world.gets == 2
    world.restart()
    assert world.rows("SELECT count(*) FROM events") == [["4"]]
    assert world.gets == 2  # the manifest was kept: listed once, nothing downloaded again
    world.put("2026-11-21", ev(3))
    world.idle()
    assert world.gets == 3
    assert world.rows("SELECT count(*) FROM events") == [["5"]]
    assert world.gets == 3


def test_stopping_mid_batch_ends_the_builder_and_loses_nothing(world: BuilderWorld) -> None:
    world.put("2026-11-20", ev(1))
    world.idle()
    # GIVEN the builder held in the middle of a batch
    world.gate.hold(world.put("2026-11-20", ev(2)))
    world.put("2026-11-20", ev(3))
    assert world.gate.entered.wait(30)
    assert [t.name for t in builder_threads()].count("athena-cache-builder") == 1
    # WHEN the stand-in is stopped (the held download let go once stop() has begun)
    stopper = threading.Thread(target=world.standin.stop)
    stopper.start()
    assert world.standin._stopping.wait(30)
    stopper.join(0.5)
    assert stopper.is_alive()  # stop() waits for the builder, which is still held
    world.gate.opened.set()
    stopper.join(30)
    # THEN every thread of the stand-in has ended
    assert not stopper.is_alive()
    assert builder_threads() == []
    # AND after a restart what the batch did not finish is found again
    world.gate.hold("")
    world.restart()
    assert world.rows(COUNT) == [["3", "6"]]
    world.standin.stop()
    assert builder_threads() == []


def test_without_a_change_feed_there_is_no_builder(tmp_path: Path) -> None:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        w = World(tmp_path)
        try:
            assert not [t for t in builder_threads() if t.name == "athena-cache-builder"]
            assert w.standin.wait_idle(0)
        finally:
            w.standin.stop()


def test_with_the_builder_stopped_the_cache_is_built_at_query_time(world: BuilderWorld) -> None:
    world.standin.stop_builder()
    assert "athena-cache-builder" not in [t.name for t in builder_threads()]
    world.put("2026-11-20", ev(1))
    assert world.standin.wait_idle(0)
    assert world.gets == 0  # reported, not built
    assert world.rows(COUNT) == [["1", "1"]]
    assert world.gets == 1 and world.stats()["last_sync"]["downloaded_objects"] == 1


def test_many_cached_objects_reported_again_are_listed_not_probed_one_by_one(
    world: BuilderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "PROBE_MAX", 2)
    keys = [world.put("2026-11-20", ev(i)) for i in range(1, 5)]
    world.idle()
    assert world.stats()["background"]["listings"] == 1  # the new cache's first sync
    for key in keys[:2]:  # as few as PROBE_MAX: checked one by one
        world.standin.object_changed(BUCKET, key)
    world.idle()
    assert world.stats()["background"]["listings"] == 1
    for key in keys[:3]:  # more (as when a restart restores the bucket): one listing instead
        world.standin.object_changed(BUCKET, key)
    world.idle()
    assert world.stats()["background"]["listings"] == 2
    assert world.gets == 4  # unchanged objects are not downloaded again either way
    assert world.rows(COUNT) == [["4", "10"]]
