"""The state-store contract, run against both engines (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest

from tests.servers.postgres import pg_database, pg_server  # noqa: F401
from watcher.errors import StoreError
from watcher.health import Record as HealthRecord
from watcher.models import Alert, Snippet
from watcher.schedule import ARRIVALS_KEPT
from watcher.store import FeedState, SQLiteStore, Store, is_postgres, open_store
from watcher.store.base import NewItem
from watcher.store.postgres import PostgresStore
from watcher.store.schema import migrations
from watcher.store.sql import KEY_REFRESH

T = 1_700_000_000.0
LATEST = migrations("sqlite")[-1].version


@pytest.fixture(params=["sqlite", "postgres"])
def dsn(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")  # type: ignore[operator]
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(dsn: str) -> Iterator[Store]:
    s = open_store(dsn)
    yield s
    s.close()


def open_at(dsn: str, version: int) -> Store:
    if is_postgres(dsn):
        return PostgresStore(dsn, target_version=version)
    return SQLiteStore(dsn, target_version=version)


def alert(channel: str = "slack", title: str = "Frigate sails", *, kind: str = "new",
          profiles: tuple[str, ...] = ("navy",), story_id: int | None = None) -> Alert:
    return Alert(id=0, channel=channel, kind=kind, profiles=profiles, title=title,
                 link="https://example.org/a", feed="Example",
                 published=datetime.fromtimestamp(T - 60, UTC),
                 snippet=Snippet("a frigate sails", ((2, 9),)), terms=("frigate",),
                 story_id=story_id)


def queue(s: Store, a: Alert, key: str, *, now: float = T, not_before: float | None = None,
          item_id: int | None = None) -> int:
    alert_id = s.add_alert(a, dedupe_key=key, item_id=item_id, urgent=False, now=now,
                           not_before=not_before)
    assert alert_id is not None
    return alert_id


def add_item(s: Store, key: str, *, feed: str = "https://f.example/rss", seen: float = T,
             canonical: str | None = None, chash: str | None = None) -> int:
    return s.insert_item(feed_url=feed, key=key, canonical_url=canonical,
                         content_hash=chash or f"hash-{key}", feed_name="F", title=f"title {key}",
                         link=f"https://f.example/{key}", summary="s", content="c", author="a",
                         categories=["x", "ü"], published_at=T - 5, seen_at=seen,
                         matched=["navy"], story_id=None)


# -- migrations -----------------------------------------------------------------------------
def test_a_new_store_is_at_the_latest_version(store: Store, dsn: str) -> None:
    engine = "postgres" if is_postgres(dsn) else "sqlite"
    assert store.schema_version == migrations(engine)[-1].version >= 2


def test_version_10_keeps_each_story_key_once_with_its_newest_time(dsn: str) -> None:
    """Before version 10 each member of a story stored its keys again."""
    old = open_at(dsn, 9)
    with old.transaction():
        for key, story, at in [(5, 1, T), (5, 1, T + 9), (5, 2, T + 1), (6, 1, T + 2)]:
            old._exec(  # type: ignore[attr-defined]
                "INSERT INTO story_keys (key, story_id, created_at) VALUES (?, ?, ?)",
                (key, story, at))
    old.close()
    new = open_store(dsn)
    try:
        assert sorted(new.story_hits([5, 6], T)) == [(5, 1), (5, 2), (6, 1)]
        late = T + KEY_REFRESH                                     # the newest time kept:
        assert sorted(new.story_hits([5, 6], late + 5)) == [(5, 1)]
        new.add_story_keys(2, [5, 7], late + 20)                 # again: one row, newer
        assert sorted(new.story_hits([5, 7], late + 10)) == [(5, 2), (7, 2)]
        assert sorted(new.story_hits([5], T, common=1)) == []     # two stories hold it
    finally:
        new.close()


def test_a_version_1_store_upgrades_in_place_and_keeps_its_rows(dsn: str) -> None:
    old = open_at(dsn, 1)
    assert old.schema_version == 1
    with old.transaction():   # the columns of version 1 (insert_item writes later ones)
        [row] = old._rows(  # type: ignore[attr-defined]
            "INSERT INTO items (feed_url, item_key, content_hash, title, seen_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id", ("https://f.example/rss", "k1", "h", "t", T))
        item_id = int(row["id"])
        alert_id = old.add_alert(alert(), dedupe_key="story:1", item_id=item_id, urgent=True,
                                 now=T)
        old.set_meta("other", "kept")
    old.close()

    new = open_store(dsn)
    try:
        assert new.schema_version == LATEST
        stored = new.item("https://f.example/rss", "k1")
        assert stored is not None and stored.id == item_id
        [row] = new.pending("slack")
        assert row.id == alert_id and row.urgent and row.alert.title == "Frigate sails"
        assert new.get_meta("other") == "kept"
        assert [r.id for r in new.claim_alerts("slack", "d1", T, 60)] == [alert_id]  # v2 works
    finally:
        new.close()


def test_a_version_3_store_moves_its_meta_state_into_tables(dsn: str) -> None:
    """State the release before kept as strings under meta keys (arrival times, health
    records, digest times) arrives in its own tables; damaged values are dropped."""
    feed = "https://f.example/rss"
    old = open_at(dsn, 3)
    with old.transaction():
        old.save_feed(FeedState(url=feed, title="F"))
        old.set_meta(f"arrivals:{feed}", "[1700000000.5, 1700000600.0]")
        old.set_meta("arrivals:https://broken.example/", "{not a list")
        old.set_meta(f"health:{feed}", '{"state": "failing", "episode": 3, "since": 12.5}')
        old.set_meta("health:network", '{"state": "ok", "episode": 1, "since": null}')
        old.set_meta("health:https://broken.example/", "garbage")
        old.set_meta("digest:slack", "123.5")
        old.set_meta("watchdog", "7")
    old.close()

    new = open_store(dsn)
    try:
        assert new.arrivals(feed) == [1700000000.5, 1700000600.0]
        assert new.arrivals("https://broken.example/") == []
        assert new.health_records() == {feed: HealthRecord("failing", 3, 12.5),
                                        "network": HealthRecord("ok", 1, None)}
        assert new.last_digest_at("slack") == 123.5 and new.last_digest_at("email") is None
        for key in (f"arrivals:{feed}", f"health:{feed}", "health:network", "digest:slack"):
            assert new.get_meta(key) is None, key
        assert new.get_meta("watchdog") == "7"
        stored = new.feed(feed)
        assert stored is not None and stored.title == "F"
    finally:
        new.close()


def test_arrivals_keep_the_most_recent_ones(store: Store) -> None:
    feed = "https://f.example/rss"
    for t in range(ARRIVALS_KEPT + 15):
        kept = store.add_arrival(feed, T + t)
    assert kept == [T + t for t in range(15, ARRIVALS_KEPT + 15)]
    assert store.arrivals(feed) == kept and store.arrivals("https://other.example/") == []
    assert store.add_arrival(feed, T + 20) == kept   # the same time twice is one arrival


def test_health_records_and_digest_times_round_trip(store: Store) -> None:
    store.save_health_record("network", HealthRecord("ok", 2, None))
    store.save_health_record("https://f.example/rss", HealthRecord("failing", 1, T))
    store.save_health_record("https://f.example/rss", HealthRecord("quiet", 2, None))
    assert store.health_records() == {"network": HealthRecord("ok", 2, None),
                                      "https://f.example/rss": HealthRecord("quiet", 2, None)}
    store.set_channel_error("slack", "bad token", T)
    store.set_last_digest_at("slack", T + 1.5)
    store.set_last_digest_at("digest-mail", T)
    assert (store.last_digest_at("slack"), store.last_digest_at("digest-mail")) == (T + 1.5, T)
    assert store.channel_errors() == {"slack": "bad token"}   # the same row, both kept


def test_reopening_applies_nothing_twice(dsn: str) -> None:
    for _ in range(3):
        s = open_store(dsn)
        assert s.schema_version == LATEST
        s.close()


# -- feeds ----------------------------------------------------------------------------------
def test_feed_state_round_trips_and_saving_again_replaces_it(store: Store) -> None:
    state = FeedState(url="https://f.example/rss", current_url="https://g.example/rss",
                      title="F", etag='"e"', last_modified="Tue", body_hash="h",
                      first_polled_at=T, last_poll_at=T + 1.25, last_success_at=T + 1.25,
                      last_status="ok", last_error=None, error_kind=None,
                      consecutive_failures=2, next_poll_at=T + 600.5, items_total=7,
                      last_new_item_at=T, gone=True)
    store.save_feed(state)
    assert store.feed(state.url) == state
    changed = replace(state, gone=False, consecutive_failures=0, last_error="x")
    store.save_feed(changed)
    assert store.feed(state.url) == changed
    store.save_feed(FeedState(url="https://a.example/rss"))
    assert [f.url for f in store.feeds()] == ["https://a.example/rss", state.url]
    assert store.feed("https://nowhere.example/") is None


# -- items and stories ----------------------------------------------------------------------
def test_items_are_found_by_key_canonical_url_or_content(store: Store) -> None:
    a = add_item(store, "k1", canonical="https://x.example/story", chash="H1")
    b = add_item(store, "k2", feed="https://other.example/rss", chash="H2")
    assert a != b
    found = store.item("https://f.example/rss", "k1")
    assert found is not None and (found.id, found.matched, found.story_id) == (a, ("navy",), None)
    later = add_item(store, "k3", feed="https://third.example/rss",
                     canonical="https://x.example/story", chash="H2")
    by_url, by_hash = store.known_by_identity(
        ["https://x.example/story", "https://y.example/", "https://x.example/story"],
        ["nothing", "H2", "H3"])
    assert {u: i.id for u, i in by_url.items()} == {"https://x.example/story": a}  # the first
    assert {h: i.id for h, i in by_hash.items()} == {"H2": b} and later > b
    assert store.known_by_identity([], []) == ({}, {})


def test_items_stored_together_are_stored_as_one_by_one(store: Store) -> None:
    """`insert_items` (the silent new items of a document) writes what `insert_item` does."""
    row = NewItem(feed_url="https://f.example/rss", key="k1", canonical_url=None,
                  content_hash="h", feed_name="F", title="Tïtle", link=None, summary="s",
                  content="c", author="a", categories=["x", "ü"], published_at=None,
                  seen_at=T, matched=[], story_id=None)
    with store.transaction():
        store.insert_items([row, {**row, "key": "k2", "matched": ["navy"], "article": "A",
                                  "article_outcome": "ok"}])
        store.insert_items([])
        one = store.insert_item(**{**row, "key": "k3"})
    got = store.items("https://f.example/rss", ["k1", "k2", "k3"])
    assert [got[k].id < one for k in ("k1", "k2")] == [True, True]
    assert got["k2"].matched == ("navy",) and got["k1"].matched == ()
    rows = {r["item_key"]: r for r in store.items_since(0)}
    assert rows["k1"]["categories"] == rows["k3"]["categories"]
    assert (rows["k2"]["article"], rows["k2"]["article_outcome"]) == ("A", "ok")


def test_items_by_keys_in_one_call(store: Store) -> None:
    """A document's items are looked up together: only this feed's, any number of keys."""
    keys = [f"id:{n}" for n in range(1_200)]
    with store.transaction():
        for key in keys[::2]:
            add_item(store, key)
        add_item(store, "id:1", feed="https://other.example/rss")
    found = store.items("https://f.example/rss", [*keys, "id:0"])
    assert sorted(found) == sorted(keys[::2])
    one = found["id:600"]
    assert (one.item_key, one.title, one.matched) == ("id:600", "title id:600", ("navy",))
    assert one == store.item("https://f.example/rss", "id:600")
    assert store.items("https://f.example/rss", []) == {}


def test_item_updates_and_items_since(store: Store) -> None:
    a = add_item(store, "k1", seen=T)
    b = add_item(store, "k2", seen=T + 10)
    store.update_item(a, content_hash="new", title="new title", summary="s2", content="c2",
                      matched=["navy", "army"], story_id=None)
    got = store.item("https://f.example/rss", "k1")
    assert got is not None and (got.title, got.content_hash, got.matched) == (
        "new title", "new", ("navy", "army"))
    rows = store.items_since(T)
    assert [r["id"] for r in rows] == [b, a]
    assert rows[1]["categories"] == '["x", "ü"]' and rows[1]["summary"] == "s2"
    assert [r["id"] for r in store.items_since(T + 5)] == [b]


def test_stories_link_items(store: Store) -> None:
    a = add_item(store, "k1", seen=T)
    b = add_item(store, "k2", seen=T + 1)
    story = store.insert_story("sig-a", a, T)
    store.update_item_story(a, story, "sig-a")
    store.update_item_story(b, story, "sig-b")
    assert store.story_members([story], T) == [(story, "sig-a"), (story, "sig-b")]
    assert store.story_members([story], T + 1) == [(story, "sig-b")]
    assert store.story_members([story + 1], T) == [] == store.story_members([], T)
    c, d = add_item(store, "k3", seen=T + 2), add_item(store, "k4", seen=T + 3)
    store.update_item_story(c, story, "sig-a")        # the same signature again
    store.update_item_story(d, story, "sig-d")
    other = store.insert_story("sig-x", d, T)
    store.update_item_story(add_item(store, "k5", seen=T + 4), other, "sig-x")
    # each story's newest distinct signatures, at most `latest`, oldest first
    assert store.story_members([story, other], T, latest=2) == [
        (story, "sig-a"), (story, "sig-d"), (other, "sig-x")]
    assert store.story_members([story], T, latest=1) == [(story, "sig-d")]
    got = store.item("https://f.example/rss", "k2")
    assert got is not None and got.story_id == story


def test_the_story_index_finds_stories_by_key_within_the_window(store: Store) -> None:
    a = add_item(store, "k1", seen=T)
    story = store.insert_story("sig-a", a, T)
    store.update_item_story(a, story, "sig-a")
    other = store.insert_story("sig-b", a, T)
    assert store.unindexed_story_items(T) == [(story, "sig-a")]   # from before the index
    big = (1 << 63) - 1                                            # keys are 63-bit
    store.add_story_keys(story, [11, 12, big, 12], T)
    store.add_story_keys(other, list(range(1000, 1700)), T + 10)   # more than one statement
    assert store.unindexed_story_items(T) == []
    assert sorted(store.story_hits([12, big, 99], T)) == [(12, story), (big, story)]
    assert len(store.story_hits(list(range(900, 1800)), T)) == 700
    store.add_story_keys(story, [1000, 1001], T)                   # two stories share these
    assert sorted(store.story_hits([1000, 1001], T)) == sorted(
        [(1000, story), (1000, other), (1001, story), (1001, other)])
    # a key indexed more often than `common` is a stock phrase: left out
    store.add_story_keys(other, [12], T)
    assert sorted(store.story_hits([1000, 11, 12], T, common=1)) == [(11, story)]
    assert sorted(store.story_hits([1000, 11, 12], T, common=2)) == sorted(
        [(1000, story), (1000, other), (11, story), (12, story), (12, other)])
    # a key's time may lag its story's newest member by KEY_REFRESH: looked up that far back
    assert store.story_hits([11], T + KEY_REFRESH) == [(11, story)]
    assert store.story_hits([11], T + KEY_REFRESH + 1) == []       # older than the window
    assert store.prune_story_keys(T + KEY_REFRESH + 5) == 6
    assert store.story_hits([12], 0) == [] and len(store.story_hits([1000], 0)) == 1


def test_a_story_key_is_rewritten_when_its_time_lags_by_the_refresh(store: Store) -> None:
    store.add_story_keys(1, [5], T)
    store.add_story_keys(1, [5], T + KEY_REFRESH)         # not yet older by more: kept at T
    assert store.story_hits([5], T + 2 * KEY_REFRESH + 1) == []
    store.add_story_keys(1, [5], T + KEY_REFRESH + 1)     # now it is: takes the new time
    assert store.story_hits([5], T + 2 * KEY_REFRESH + 1) == [(5, 1)]


# -- outbox ---------------------------------------------------------------------------------
def test_one_alert_per_channel_and_dedupe_key(store: Store) -> None:
    first = store.add_alert(alert("slack"), dedupe_key="story:1", item_id=None, urgent=False,
                            now=T)
    assert first is not None
    assert store.add_alert(alert("slack", "other title"), dedupe_key="story:1", item_id=None,
                           urgent=True, now=T + 1) is None
    assert store.add_alert(alert("email"), dedupe_key="story:1", item_id=None, urgent=False,
                           now=T) is not None
    [row] = store.pending("slack")
    assert row.id == first and row.alert.title == "Frigate sails" and not row.urgent
    assert row.alert == replace(alert("slack"), id=first)


def test_an_alert_keeps_the_field_its_snippet_came_from(store: Store) -> None:
    """So that renderers can say "in the article:" when the outbox hands it back."""
    a = replace(alert(), snippet=Snippet("the engine for TF-X", ((15, 19),), "article"))
    queue(store, a, "k-article")
    queue(store, alert(), "k-plain")
    assert [r.alert.snippet for r in store.pending("slack")] == [a.snippet, alert().snippet]


def test_pending_retry_and_sent(store: Store) -> None:
    ids = [queue(store, alert(story_id=7), f"k{i}", now=T + i) for i in range(3)]
    assert [r.id for r in store.pending("slack")] == ids
    store.mark_retry([ids[0]], T + 100, "503 from Slack")
    assert [r.id for r in store.pending("slack", T + 50)] == ids[1:]
    assert store.next_due("slack", T + 50) == T + 100
    assert store.next_due("slack", T + 100) is None
    assert store.first_waiting("slack", T + 50) == ids[0]     # it holds back ids[1:]
    assert store.first_waiting("slack", T + 100) is None
    [retried] = [r for r in store.pending("slack") if r.id == ids[0]]
    assert (retried.attempts, retried.last_error) == (1, "503 from Slack")
    store.retry_now(T + 60)
    assert [r.id for r in store.pending("slack", T + 60)] == ids
    store.mark_sent(ids[:2], T + 61, sent_as="alert", remote_id="1700.01")
    assert [r.id for r in store.pending("slack")] == [ids[2]]
    assert store.story_remote_id(7, "slack") == "1700.01"
    assert store.story_remote_id(7, "email") is None
    assert store.story_channels(7) == ["slack"]
    assert store.outbox_counts() == {"slack": {"sent": 2, "pending": 1}}
    queue(store, alert("email", story_id=7), "e7")
    queue(store, alert("email", story_id=8), "e8")
    queue(store, alert("chat", kind="also", story_id=8), "a8")   # a reply reaches nothing
    assert store.story_channels_of([7, 8, 9]) == {7: {"slack", "email"}, 8: {"email"}}


def test_hits_are_new_and_update_alerts_newest_first(store: Store) -> None:
    a = store.add_alert(alert(profiles=("navy",)), dedupe_key="a", item_id=None, urgent=False,
                        now=T)
    b = store.add_alert(alert(profiles=("army", "navy"), kind="update"), dedupe_key="b",
                        item_id=None, urgent=False, now=T + 1)
    store.add_alert(alert(kind="also"), dedupe_key="c", item_id=None, urgent=False, now=T + 2)
    assert [h.id for h in store.hits(T)] == [b, a]
    assert [h.id for h in store.hits(T, "army")] == [b]
    assert [h.id for h in store.hits(T + 1)] == [b]


def test_channel_errors_and_meta(store: Store) -> None:
    store.set_channel_error("slack", "invalid_auth", T)
    store.set_channel_error("email", None, T)
    assert store.channel_errors() == {"slack": "invalid_auth"}
    store.set_channel_error("slack", None, T + 1)
    assert store.channel_errors() == {}
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    assert store.get_meta("k") == "2"


def test_prune_forgets_old_rows_but_keeps_pending_alerts(store: Store) -> None:
    old = add_item(store, "old", seen=T - 1000)
    add_item(store, "new", seen=T)
    store.insert_story("s", old, T - 1000)
    sent = store.add_alert(alert(), dedupe_key="a", item_id=old, urgent=False, now=T - 1000)
    store.add_alert(alert(), dedupe_key="b", item_id=old, urgent=False, now=T - 1000)
    assert sent is not None
    store.mark_sent([sent], T - 999, sent_as="alert")
    assert store.prune(T - 10) == 1
    assert store.item("https://f.example/rss", "old") is None
    assert store.item("https://f.example/rss", "new") is not None
    assert store.outbox_counts() == {"slack": {"pending": 1}}


# -- transactions ---------------------------------------------------------------------------
def test_a_failed_transaction_leaves_nothing(store: Store, dsn: str) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            add_item(store, "k1")
            with store.transaction():  # nested: joins the outer one
                store.set_meta("m", "1")
            raise RuntimeError("boom")
    assert store.item("https://f.example/rss", "k1") is None and store.get_meta("m") is None
    with store.transaction():
        add_item(store, "k2")
    other = open_store(dsn)  # committed: visible from another connection
    try:
        assert other.item("https://f.example/rss", "k2") is not None
    finally:
        other.close()


def test_a_snapshot_changes_nothing(store: Store, dsn: str) -> None:
    store.set_meta("m", "before")
    snap = store.snapshot()
    with snap.transaction():
        snap.set_meta("m", "during")
        add_item(snap, "k1")
    assert snap.get_meta("m") == "during"
    snap.close()
    assert store.get_meta("m") == "before"
    assert store.item("https://f.example/rss", "k1") is None


def test_a_store_error_is_one_line(store: Store) -> None:
    add_item(store, "k1")
    with pytest.raises(StoreError) as info:
        add_item(store, "k1")  # (feed_url, item_key) is unique
    assert "\n" not in str(info.value) and "state store" in str(info.value)
    add_item(store, "k2")  # the store still works after the error


# -- work sharing ---------------------------------------------------------------------------
def test_claimed_feeds_are_not_claimed_again_until_released_or_expired(store: Store) -> None:
    store.save_feed(FeedState(url="u1", next_poll_at=T - 5))
    store.save_feed(FeedState(url="u2", next_poll_at=T + 50))
    store.save_feed(FeedState(url="u3", next_poll_at=T - 1, gone=True))
    urls = ["u1", "u2", "u3", "u4"]
    assert store.claim_feeds(urls, "a", T, lease=30) == ["u4", "u1"]  # unknown u4 is due at 0
    assert store.claim_feeds(urls, "b", T + 1, lease=30) == []
    assert store.claim_feeds(urls, "a", T + 1, lease=30) == ["u4", "u1"]  # already ours
    assert store.feed_leases() == {"u1": ("a", T + 31), "u4": ("a", T + 31)}
    store.release_feed("u1", "b")  # not b's: nothing happens
    store.release_feed("u1", "a")
    assert store.claim_feeds(urls, "b", T + 2, lease=30) == ["u1"]
    assert store.claim_feeds(urls, "c", T + 31, lease=30) == ["u4"]  # a's lease ran out
    assert store.feed_leases() == {"u1": ("b", T + 32), "u4": ("c", T + 61)}


def test_claim_feeds_honours_the_limit_soonest_first(store: Store) -> None:
    for i in range(5):
        store.save_feed(FeedState(url=f"u{i}", next_poll_at=T - i))
    urls = [f"u{i}" for i in range(5)] + ["not-configured-elsewhere"]
    assert store.claim_feeds(urls[:5], "a", T, lease=10, limit=2) == ["u4", "u3"]
    assert store.claim_feeds(urls[:5], "b", T, lease=10, limit=10) == ["u2", "u1", "u0"]
    assert store.claim_feeds([], "b", T, lease=10) == []


def test_saving_a_polled_feed_ends_its_lease(store: Store) -> None:
    assert store.claim_feeds(["u1"], "a", T, lease=30) == ["u1"]
    state = store.feed("u1")
    assert state is not None
    store.save_feed(replace(state, next_poll_at=T + 600, last_poll_at=T))
    assert store.feed_leases() == {}
    assert store.claim_feeds(["u1"], "b", T + 1, lease=30) == []  # not due
    assert store.claim_feeds(["u1"], "b", T + 600, lease=30) == ["u1"]


def test_claimed_alerts_go_to_one_owner(store: Store) -> None:
    ids = [queue(store, alert(), f"k{i}", not_before=T + (100 if i == 3 else 0))
           for i in range(4)]
    store.add_alert(alert("email"), dedupe_key="k0", item_id=None, urgent=False, now=T)
    assert [r.id for r in store.claim_alerts("slack", "a", T, 30)] == ids[:3]
    assert store.claim_alerts("slack", "b", T + 1, 30) == []
    store.release_alerts([ids[0]], "b")  # not b's
    store.release_alerts([ids[0]], "a")
    assert [r.id for r in store.claim_alerts("slack", "b", T + 1, 30)] == [ids[0]]
    store.mark_retry([ids[1]], T + 5, "timeout")  # recording the attempt ends a's lease
    store.mark_sent([ids[2]], T + 2, sent_as="alert")
    claimed = store.claim_alerts("slack", "c", T + 10, 30)
    assert [r.id for r in claimed] == [ids[1]] and claimed[0].attempts == 1
    assert [r.id for r in store.claim_alerts("slack", "d", T + 35, 99)] == [ids[0]]  # b lost it
    assert [r.id for r in store.claim_alerts("slack", "e", T + 100, 30)] == [ids[1], ids[3]]


def test_run_once_lets_one_daemon_run_a_job_per_period(store: Store) -> None:
    assert store.run_once("digest:slack", "a", T, 3600)
    assert not store.run_once("digest:slack", "b", T + 10, 3600)
    assert not store.run_once("digest:slack", "a", T + 3599, 3600)
    assert store.run_once("housekeeping", "b", T + 10, 3600)  # jobs are separate
    assert store.run_once("digest:slack", "b", T + 3600, 3600)
    assert not store.run_once("digest:slack", "a", T + 3601, 3600)


def test_heartbeats_list_daemons_and_the_feeds_they_hold(store: Store) -> None:
    store.heartbeat("host1:1", T, "v0.1")
    store.heartbeat("host2:2", T + 1)
    store.claim_feeds(["u1", "u2"], "host1:1", T, 30)
    store.heartbeat("host1:1", T + 5, "v0.1 busy")
    assert store.daemons() == [
        {"owner": "host1:1", "info": "v0.1 busy", "started_at": T, "last_heartbeat": T + 5,
         "feeds": 2},
        {"owner": "host2:2", "info": "", "started_at": T + 1, "last_heartbeat": T + 1,
         "feeds": 0}]


# -- engine specifics -----------------------------------------------------------------------
def test_sqlite_store_on_an_unusable_path_is_a_store_error(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="state store"):
        open_store(str(tmp_path))  # a directory


def test_a_postgres_error_never_shows_the_password(request: pytest.FixtureRequest) -> None:
    port = request.getfixturevalue("pg_server").port
    for dsn in (f"postgresql://postgres:hunter22@127.0.0.1:{port}/no_such_db",
                "postgresql://u:hunter22@127.0.0.1:1/db",
                "postgresql://u:hunter 22@127.0.0.1:1/db"):
        with pytest.raises(StoreError) as info:
            open_store(dsn)
        message = str(info.value)
        assert "hunter" not in message and "\n" not in message, message
        assert "postgresql://" in message and "@127.0.0.1" in message


def test_postgres_store_reconnects_after_losing_its_connection(
        request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_database")
    store = open_store(url)
    try:
        assert isinstance(store, PostgresStore)
        store.set_meta("m", "1")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
        with pytest.raises(StoreError):
            store.get_meta("m")  # the call that finds the connection dead fails...
        assert store.get_meta("m") == "1"  # ...the next one reconnects
    finally:
        store.close()


def test_sqlite_scripts_are_cut_into_statements() -> None:
    from watcher.store.sqlite import _statements

    script = "-- head\nCREATE TABLE a (x TEXT); -- trailing; comment\nCREATE TABLE b (y);\n-- end\n"
    parts = _statements(script)
    assert len(parts) == 2 and all(sqlite3.complete_statement(p) for p in parts)


def test_the_store_ranks_candidate_stories_as_choose_candidates_does(store: Store) -> None:
    """`story_candidates` (ranked by the store) gives `choose_candidates`'s answer over the
    same keys: most keys shared first, ties to the older story, stock phrases left out."""
    import random

    from watcher.storyindex import choose_candidates

    rng = random.Random(5)
    for story in range(1, 41):
        store.add_story_keys(story, rng.sample(range(60), rng.randint(1, 25)), T)
    store.add_story_keys(41, list(range(100, 110)), T - 10 * KEY_REFRESH)   # out of the window
    for _ in range(20):
        probes = rng.sample(range(120), 40)
        for common, limit in [(32, 16), (5, 16), (32, 3)]:
            postings: dict[int, list[int]] = {}
            for key, story in store.story_hits(probes, T, common):
                postings.setdefault(key, []).append(story)
            expected = choose_candidates(postings, limit)
            assert store.story_candidates(probes, T, common, limit) == expected
    assert store.story_candidates([], T, 32, 16) == []
    assert store.story_candidates([100, 101], T, 32, 16) == []
