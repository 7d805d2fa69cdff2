"""Tombstones: pruning never forgets what was seen (both engines: SQLite and PostgreSQL).

The store keeps a tombstone per pruned item (watcher/store/tombstones.py); the pipeline
treats an item whose key or canonical URL is tombstoned as known; tombstones are pruned
after their own horizon (watcher/retention.py); `watcher poll` prunes, once an hour.
"""

from __future__ import annotations

import sqlite3
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Watcher
from tests.servers.feeds import FeedServer
from tests.servers.postgres import pg_database, pg_dsn, pg_server  # noqa: F401
from watcher.config import WatcherSettings, load_config
from watcher.engine import local_source
from watcher.models import Item, ParsedFeed
from watcher.pipeline import Pipeline
from watcher.retention import prune_if_due, tombstone_horizon
from watcher.routing import Router
from watcher.store import SQLiteStore, Store, is_postgres, open_store
from watcher.store.postgres import PostgresStore

DAY = 86400.0
NOW = 1_800_000_000.0
RETENTION = 30 * DAY
FEED = "https://a.example/feed"
SETTINGS = WatcherSettings(retention="30d")


@pytest.fixture(params=["sqlite", "postgres"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(dsn: str) -> Iterator[Store]:
    s = open_store(dsn)
    yield s
    s.close()


@pytest.fixture
def pipeline(tmp_path: Path, store: Store) -> Pipeline:
    path = tmp_path / "w.toml"
    path.write_text(textwrap.dedent(f"""
        [watcher]
        retention = "30d"
        backfill = "24h"
        [[feeds]]
        url = "{FEED}"
        [[profiles]]
        name = "S-400"
        query = "S-400"
        [channels.console]
        type = "console"
        """))
    config = load_config(path, {})
    return Pipeline(Router(config), store, local_source(config))


def story(n: int, published: float | None, *, guid: str | None = None,
          link: str | None = None) -> Item:
    return Item(feed_url=FEED, feed_name="A", guid=guid if guid is not None else f"id-{n}",
                link=link or f"https://a.example/{n}", title=f"S-400 story {n}",
                summary=f"Text number {n} about Turkey's S-400 systems.",
                published=datetime.fromtimestamp(published, UTC) if published else None)


def doc(*items: Item) -> ParsedFeed:
    return ParsedFeed(title="A", items=tuple(items))


def record(pipeline: Pipeline, parsed: ParsedFeed, now: float) -> tuple[int, int]:
    feed = pipeline.router.config.feeds[0]
    with pipeline.store.transaction():
        done = pipeline.record(feed, parsed, now, first_sight=False)
    return done.new_items, done.alerts


def deliver(store: Store, when: float) -> None:
    """Mark every pending alert sent (so that pruning forgets it with its item)."""
    store.mark_sent([r.id for r in store.pending("console")], when, sent_as="alert")


def prune(store: Store, now: float) -> int:
    return store.prune(now - RETENTION, tombstones_older_than=now - tombstone_horizon(RETENTION))


# -- the pipeline: what was alerted is never alerted again ------------------------------------

def test_an_undated_item_alerted_then_pruned_is_not_alerted_again(pipeline: Pipeline) -> None:
    seen = NOW - 31 * DAY
    assert record(pipeline, doc(story(1, None)), seen) == (1, 1)
    deliver(pipeline.store, seen + 60)
    assert prune(pipeline.store, NOW) == 1
    assert pipeline.store.item(FEED, "id:id-1") is None   # its row and text are gone
    assert pipeline.store.outbox_counts() == {}           # and its sent alert
    assert record(pipeline, doc(story(1, None)), NOW) == (0, 0)   # the feed still lists it
    assert pipeline.store.item(FEED, "id:id-1") is None   # known, and recorded nowhere
    assert pipeline.store.pending("console") == []


def test_a_dated_item_republished_with_a_new_date_is_not_alerted_again(
        pipeline: Pipeline) -> None:
    seen = NOW - 31 * DAY
    assert record(pipeline, doc(story(1, seen)), seen) == (1, 1)
    deliver(pipeline.store, seen + 60)
    prune(pipeline.store, NOW)
    assert record(pipeline, doc(story(1, NOW - 60)), NOW) == (0, 0)   # same guid, new date
    # a new guid, the same article: its canonical URL is tombstoned
    moved = story(1, NOW - 30, guid="renumbered-1", link="https://a.example/1?utm_source=x")
    assert record(pipeline, doc(moved), NOW) == (0, 0)
    assert record(pipeline, doc(story(2, NOW - 30)), NOW) == (1, 1)   # a new item still is
    assert [r.alert.title for r in pipeline.store.pending("console")] == ["S-400 story 2"]


def test_tombstones_are_pruned_after_their_own_horizon(pipeline: Pipeline) -> None:
    seen = NOW - 31 * DAY
    record(pipeline, doc(story(1, None)), seen)
    prune(pipeline.store, NOW)
    horizon = tombstone_horizon(RETENTION)
    assert horizon == 365 * DAY   # 10 x 30 days is less than a year
    assert pipeline.store.tombstoned(FEED, ["id:id-1"]) == {"id:id-1"}
    prune(pipeline.store, seen + horizon - DAY)   # a day before its horizon: kept
    assert pipeline.store.tombstoned(FEED, ["id:id-1"]) == {"id:id-1"}
    prune(pipeline.store, seen + horizon + DAY)
    assert pipeline.store.tombstoned(FEED, ["id:id-1"]) == set()
    assert pipeline.store.tombstoned_urls(["https://a.example/1"]) == set()


def test_the_horizon_is_ten_retentions_or_a_year() -> None:
    assert tombstone_horizon(90 * DAY) == 900 * DAY
    assert tombstone_horizon(DAY) == 365 * DAY


# -- the store --------------------------------------------------------------------------------

def add_item(s: Store, key: str, *, feed: str = FEED, seen: float,
             canonical: str | None = None) -> int:
    return s.insert_item(feed_url=feed, key=key, canonical_url=canonical,
                         content_hash=f"hash-{key}", feed_name="F", title=f"title {key}",
                         link=canonical, summary="s", content="c", author="a", categories=[],
                         published_at=None, seen_at=seen, matched=[], story_id=None)


def test_pruned_items_leave_tombstones_by_key_and_canonical_url(store: Store) -> None:
    add_item(store, "id:old", seen=NOW - 40 * DAY, canonical="https://a.example/old")
    add_item(store, "id:bare", seen=NOW - 40 * DAY)   # no canonical URL
    add_item(store, "id:new", seen=NOW, canonical="https://a.example/new")
    assert store.tombstoned(FEED, ["id:old", "id:bare", "id:new"]) == set()
    assert prune(store, NOW) == 2
    assert store.tombstoned(FEED, ["id:old", "id:bare", "id:new", "id:never"]) == {
        "id:old", "id:bare"}
    assert store.tombstoned("https://other.example/feed", ["id:old"]) == set()   # per feed
    assert store.tombstoned_urls(["https://a.example/old", "https://a.example/new", ""]) == {
        "https://a.example/old"}
    assert store.tombstoned(FEED, []) == set() and store.tombstoned_urls([]) == set()


def test_batch_lookups_over_many_keys(store: Store) -> None:
    with store.transaction():
        for i in range(1_200):
            add_item(store, f"id:{i}", seen=NOW - 40 * DAY, canonical=f"https://a.example/{i}")
    assert prune(store, NOW) == 1_200
    keys = [f"id:{i}" for i in range(0, 2_400, 2)]
    assert store.tombstoned(FEED, keys) == {f"id:{i}" for i in range(0, 1_200, 2)}
    urls = [f"https://a.example/{i}" for i in range(1_100, 1_300)]
    assert store.tombstoned_urls(urls) == set(urls[:100])


def test_a_version_3_store_upgrades_and_buries_its_old_items(dsn: str) -> None:
    old = PostgresStore(dsn, target_version=3) if is_postgres(dsn) else SQLiteStore(
        dsn, target_version=3)
    old.close()
    row = (FEED, "id:kept-from-v3", "https://a.example/v3", "h", NOW - 40 * DAY)
    sql = ("INSERT INTO items (feed_url, item_key, canonical_url, content_hash, seen_at)"
           " VALUES (%s, %s, %s, %s, %s)")   # the columns of version 3
    if is_postgres(dsn):
        with psycopg.connect(dsn, autocommit=True) as pg:
            pg.execute(sql, row)
    else:
        with sqlite3.connect(dsn) as db:
            db.execute(sql.replace("%s", "?"), row)
    new = open_store(dsn)
    try:
        assert new.schema_version >= 5
        assert prune(new, NOW) == 1
        assert new.tombstoned(FEED, ["id:kept-from-v3"]) == {"id:kept-from-v3"}
    finally:
        new.close()


def test_pruning_runs_once_per_period_for_every_process(store: Store) -> None:
    add_item(store, "id:a", seen=NOW - 40 * DAY)
    assert prune_if_due(store, SETTINGS, owner="poll", now=NOW, period=3600) == 1
    add_item(store, "id:b", seen=NOW - 40 * DAY)
    assert prune_if_due(store, SETTINGS, owner="daemon", now=NOW + 600, period=3000) is None
    assert store.item(FEED, "id:b") is not None
    assert prune_if_due(store, SETTINGS, owner="poll", now=NOW + 3600, period=3600) == 1


# -- `watcher poll` prunes --------------------------------------------------------------------

@pytest.fixture
def watcher(any_store_watcher: Watcher) -> Watcher:
    return any_store_watcher


@pytest.mark.slow
def test_poll_prunes_at_most_once_an_hour(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", [{"guid": "n1", "title": "Nothing to see",
                                       "link": "https://n.example/1"}])
    watcher.write(f"""
        [watcher]
        state = "{watcher.state}"
        retention = "30d"
        [[feeds]]
        url = "{url}"
        [[profiles]]
        name = "S-400"
        query = "S-400"
        [channels.console]
        type = "console"
        """)
    now = time.time()
    seeded = open_store(watcher.state)
    add_item(seeded, "id:ancient", feed=url, seen=now - 40 * DAY)
    seeded.close()
    watcher("poll", check=True)
    after = open_store(watcher.state)
    try:
        assert after.item(url, "id:ancient") is None
        assert after.tombstoned(url, ["id:ancient"]) == {"id:ancient"}
        add_item(after, "id:ancient-2", feed=url, seen=now - 40 * DAY)
    finally:
        after.close()
    watcher("poll", check=True)   # the same hour: no second prune
    last = open_store(watcher.state)
    try:
        assert last.item(url, "id:ancient-2") is not None
    finally:
        last.close()
