"""The store's queries, in SQL that SQLite and PostgreSQL both run (`?` placeholders).

An engine subclass supplies the connection: `_run` (one statement → rows as dicts and the
row count), `_begin`/`_commit`/`_rollback`, and whatever it must do differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, Unpack

from watcher.health import Record as HealthRecord
from watcher.models import Alert
from watcher.schedule import ARRIVALS_KEPT
from watcher.store.base import (
    FeedState,
    NewItem,
    OutboxRow,
    StoredItem,
    alert_from_payload,
    alert_payload,
)
from watcher.store.tombstones import Tombstones

FEED_COLUMNS = [f.name for f in fields(FeedState)]
_SAVE_FEED = (
    f"INSERT INTO feeds ({', '.join(FEED_COLUMNS)}, lease_owner, lease_until)"
    f" VALUES ({', '.join('?' for _ in FEED_COLUMNS)}, NULL, 0) ON CONFLICT (url) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in FEED_COLUMNS[1:])
    + ", lease_owner = NULL, lease_until = 0")


def feed_from_row(row: dict[str, Any]) -> FeedState:
    data = {k: row[k] for k in FEED_COLUMNS}
    data["gone"] = bool(data["gone"])
    return FeedState(**data)


# seconds a story key's time may lag its story's newest member (see add_story_keys)
KEY_REFRESH = 3600.0
_ITEM_COLUMNS = "id, feed_url, item_key, content_hash, title, matched, story_id"
_INSERT_ITEM = (
    "INSERT INTO items (feed_url, item_key, canonical_url, content_hash, feed_name, title,"
    " link, summary, content, author, categories, published_at, seen_at, matched, story_id,"
    " article, article_outcome) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _json_list(values: Sequence[str], *, ascii_only: bool = False) -> str:
    return json.dumps(list(values), ensure_ascii=ascii_only) if values else "[]"


def _item_args(item: NewItem) -> tuple[Any, ...]:
    return (item["feed_url"], item["key"], item["canonical_url"], item["content_hash"],
            item["feed_name"], item["title"], item["link"], item["summary"], item["content"],
            item["author"], _json_list(item["categories"]), item["published_at"],
            item["seen_at"], _json_list(item["matched"], ascii_only=True), item["story_id"],
            item.get("article", ""), item.get("article_outcome"))


def _stored_item(row: dict[str, Any]) -> StoredItem:
    return StoredItem(int(row["id"]), row["feed_url"], row["item_key"], row["content_hash"],
                      row["title"], tuple(json.loads(row["matched"])), row["story_id"])


def outbox_from_row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=int(r["id"]), channel=r["channel"], kind=r["kind"], story_id=r["story_id"],
        profiles=tuple(json.loads(r["profiles"])), urgent=bool(r["urgent"]),
        created_at=r["created_at"], status=r["status"], attempts=r["attempts"],
        last_error=r["last_error"], sent_at=r["sent_at"],
        alert=alert_from_payload(int(r["id"]), r["channel"], r["story_id"], r["payload"]))


class SQLStore(Tombstones):
    """Everything but the connection. Not thread-safe: use it from one thread."""

    _depth = 0

    # -- plumbing -------------------------------------------------------------------------
    def _run(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[dict[str, Any]], int]:
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement run for each row (executemany), nothing read back."""
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._run(sql, args)[0]

    def _one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._run(sql, args)[0]
        return rows[0] if rows else None

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._run(sql, args)[1]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nesting joins the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()

    @property
    def schema_version(self) -> int:
        row = self._one("SELECT max(version) AS v FROM schema_migrations")
        return int(row["v"] or 0) if row else 0

    # -- feeds ----------------------------------------------------------------------------
    def feed(self, url: str) -> FeedState | None:
        row = self._one("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else feed_from_row(row)

    def feeds(self) -> list[FeedState]:
        return [feed_from_row(r) for r in self._rows("SELECT * FROM feeds ORDER BY url")]

    def save_feed(self, state: FeedState) -> None:
        """Record a feed's state after a poll; this also ends the poller's lease on it."""
        self._exec(_SAVE_FEED, [getattr(state, c) for c in FEED_COLUMNS])

    # -- items ----------------------------------------------------------------------------
    def item(self, feed_url: str, key: str) -> StoredItem | None:
        row = self._one(f"SELECT {_ITEM_COLUMNS} FROM items WHERE feed_url = ? AND item_key = ?",
                        (feed_url, key))
        return None if row is None else _stored_item(row)

    def items(self, feed_url: str, keys: Sequence[str]) -> dict[str, StoredItem]:
        """The stored items of a feed among these keys, by key (a query per 500 keys)."""
        found: dict[str, StoredItem] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._rows(f"SELECT {_ITEM_COLUMNS} FROM items WHERE feed_url = ?"
                                  f" AND item_key IN ({marks})", (feed_url, *chunk)):
                found[row["item_key"]] = _stored_item(row)
        return found

    def known_by_identity(self, canonical_urls: Sequence[str], content_hashes: Sequence[str]
                          ) -> tuple[dict[str, StoredItem], dict[str, StoredItem]]:
        """Items stored under other keys, for a whole document: the first (lowest id) of
        each canonical URL, and of each content hash (two queries per 500 values)."""
        by_url = self._first_by("canonical_url", canonical_urls)
        return by_url, self._first_by("content_hash", content_hashes)

    def _first_by(self, column: str, values: Sequence[str]) -> dict[str, StoredItem]:
        found: dict[str, StoredItem] = {}
        unique = list(dict.fromkeys(v for v in values if v))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            for row in self._rows(f"SELECT {_ITEM_COLUMNS}, {column} AS v FROM items WHERE"
                                  f" {column} IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                                  chunk):
                found.setdefault(row["v"], _stored_item(row))
        return found

    def insert_item(self, **item: Unpack[NewItem]) -> int:
        row = self._one(_INSERT_ITEM + " RETURNING id", _item_args(item))
        return int(row["id"]) if row else 0

    def insert_items(self, items: Sequence[NewItem]) -> None:
        """Store several items at once (one statement run for each: executemany)."""
        if items:
            self._many(_INSERT_ITEM, [_item_args(item) for item in items])

    def update_item(self, item_id: int, *, content_hash: str, title: str, summary: str,
                    content: str, matched: Sequence[str], story_id: int | None) -> None:
        self._exec("UPDATE items SET content_hash = ?, title = ?, summary = ?, content = ?,"
                   " matched = ?, story_id = ? WHERE id = ?",
                   (content_hash, title, summary, content, json.dumps(list(matched)), story_id,
                    item_id))

    def update_item_story(self, item_id: int, story_id: int, signature: str) -> None:
        self._exec("UPDATE items SET story_id = ?, signature = ? WHERE id = ?",
                   (story_id, signature, item_id))

    def alert_articles(self, alert_ids: Sequence[int]) -> dict[int, str]:
        """What came of fetching the article of each alert's item (alerts without one left
        out)."""
        ids = list(dict.fromkeys(alert_ids))
        found: dict[int, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            found.update({int(r["id"]): r["article_outcome"] for r in self._rows(
                "SELECT a.id, i.article_outcome FROM alerts AS a JOIN items AS i"
                " ON i.id = a.item_id WHERE i.article_outcome IS NOT NULL AND a.id IN ("
                + ", ".join("?" for _ in chunk) + ")", chunk)})
        return found

    def article_outcomes(self, since: float) -> dict[str, dict[str, int]]:
        """Per feed, how many article fetches since then came to each outcome."""
        out: dict[str, dict[str, int]] = {}
        for r in self._rows("SELECT feed_url, article_outcome, COUNT(*) AS n FROM items"
                            " WHERE seen_at >= ? AND article_outcome IS NOT NULL"
                            " GROUP BY feed_url, article_outcome", (since,)):
            out.setdefault(r["feed_url"], {})[r["article_outcome"]] = int(r["n"])
        return out

    def items_since(self, since: float) -> list[dict[str, Any]]:
        """Every column of the items seen since then, newest first (for backtest)."""
        return self._rows("SELECT * FROM items WHERE seen_at >= ? ORDER BY seen_at DESC, id DESC",
                          (since,))

    # -- stories --------------------------------------------------------------------------
    def insert_story(self, signature: str, item_id: int, now: float) -> int:
        row = self._one("INSERT INTO stories (signature, item_id, created_at) VALUES (?, ?, ?)"
                        " RETURNING id", (signature, item_id, now))
        return int(row["id"]) if row else 0

    def add_story_keys(self, story_id: int, keys: Sequence[int], now: float) -> None:
        """Index a story item's print keys under its story (watcher/storyindex.py). A key
        the story holds already takes this item's time if its own is `KEY_REFRESH` older
        (so copies of a busy story rewrite its keys hourly, not each time), and
        `story_hits` looks that much further back: no key leaves the window sooner."""
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 300):
            chunk = unique[i:i + 300]
            args: list[Any] = []
            for key in chunk:
                args += (key, story_id, now)
            self._exec("INSERT INTO story_keys (key, story_id, created_at) VALUES "
                       + ", ".join("(?, ?, ?)" for _ in chunk)
                       + " ON CONFLICT (key, story_id) DO UPDATE SET created_at ="
                       " excluded.created_at WHERE story_keys.created_at <"
                       f" excluded.created_at - {KEY_REFRESH}", args)

    def story_hits(self, probes: Sequence[int], since: float,
                   common: int | None = None) -> list[tuple[int, int]]:
        """(key, story id) of every indexed key among `probes` since then. A key that more
        than `common` stories hold in that time is a subject's stock phrase, not one
        story's: it is left out here, in the store, instead of sending its rows back."""
        unique = list(dict.fromkeys(probes))
        since -= KEY_REFRESH   # a key's time is its story's newest member's, to the hour
        hits: list[tuple[int, int]] = []
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            if common is None:
                sql = (f"SELECT key, story_id FROM story_keys WHERE created_at >= ?"
                       f" AND key IN ({marks})")
                args = [since, *chunk]
            else:
                sql = ("SELECT key, story_id FROM (SELECT key, story_id, COUNT(*) OVER"
                       " (PARTITION BY key) AS n FROM story_keys WHERE created_at >= ?"
                       f" AND key IN ({marks})) AS k WHERE n <= ?")
                args = [since, *chunk, common]
            hits += [(int(r["key"]), int(r["story_id"])) for r in self._rows(sql, args)]
        return hits

    def story_candidates(self, probes: Sequence[int], since: float, common: int,
                         limit: int) -> list[int]:
        """The stories holding the most of these keys since then (ties: the older story),
        at most `limit`; keys that more than `common` stories hold do not count. The
        store's side of `storyindex.choose_candidates`, ranked where the keys are."""
        unique = list(dict.fromkeys(probes))   # a print has about a hundred
        if not unique:
            return []
        rows = self._rows(
            "SELECT story_id, COUNT(*) AS shared FROM (SELECT key, story_id, COUNT(*) OVER"
            " (PARTITION BY key) AS n FROM story_keys WHERE created_at >= ? AND key IN ("
            + ", ".join("?" for _ in unique) + ")) AS k WHERE n <= ? GROUP BY story_id"
            " ORDER BY shared DESC, story_id LIMIT ?",
            [since - KEY_REFRESH, *unique, common, limit])
        return [int(r["story_id"]) for r in rows]

    def story_members(self, story_ids: Sequence[int], since: float,
                      latest: int | None = None) -> list[tuple[int, str]]:
        """(story id, signature) of these stories' items seen since then, oldest first;
        with `latest`, only each story's newest `latest` distinct signatures."""
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return []
        where = (f"seen_at >= ? AND signature IS NOT NULL AND story_id IN"
                 f" ({', '.join('?' for _ in ids)})")
        if latest is None:
            rows = self._rows(f"SELECT story_id, signature FROM items WHERE {where} ORDER BY id",
                              [since, *ids])
        else:
            rows = self._rows(
                "SELECT story_id, signature FROM (SELECT story_id, signature, MAX(id) AS last,"
                " ROW_NUMBER() OVER (PARTITION BY story_id ORDER BY MAX(id) DESC) AS n"
                f" FROM items WHERE {where} GROUP BY story_id, signature) AS m"
                " WHERE n <= ? ORDER BY last", [since, *ids, latest])
        return [(int(r["story_id"]), r["signature"]) for r in rows]

    def unindexed_story_items(self, since: float) -> list[tuple[int, str]]:
        """(story id, signature) of story items since then whose story has no index key (a
        store upgraded from before the index)."""
        return [(int(r["story_id"]), r["signature"]) for r in self._rows(
            "SELECT story_id, signature FROM items WHERE seen_at >= ? AND story_id IS NOT NULL"
            " AND signature IS NOT NULL AND NOT EXISTS (SELECT 1 FROM story_keys AS k"
            " WHERE k.story_id = items.story_id) ORDER BY id", (since,))]

    def prune_story_keys(self, before: float) -> int:
        """Forget index keys older than the story window (and `KEY_REFRESH`): no item can
        join them any more."""
        with self.transaction():
            return self._exec("DELETE FROM story_keys WHERE created_at < ?",
                              (before - KEY_REFRESH,))

    # -- outbox ---------------------------------------------------------------------------
    def add_alert(self, alert: Alert, *, dedupe_key: str, item_id: int | None, urgent: bool,
                  now: float, not_before: float | None = None) -> int | None:
        """Queue an alert; None when this channel already has one with that key."""
        row = self._one(
            "INSERT INTO alerts (channel, dedupe_key, kind, story_id, item_id, profiles,"
            " urgent, payload, created_at, not_before) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (channel, dedupe_key) DO NOTHING RETURNING id",
            (alert.channel, dedupe_key, alert.kind, alert.story_id, item_id,
             json.dumps(list(alert.profiles)), bool(urgent), alert_payload(alert), now,
             now if not_before is None else not_before))
        return None if row is None else int(row["id"])

    def _outbox(self, where: str, args: Sequence[Any]) -> list[OutboxRow]:
        return [outbox_from_row(r) for r in self._rows(f"SELECT * FROM alerts WHERE {where}",
                                                       args)]

    def pending(self, channel: str, now: float | None = None) -> list[OutboxRow]:
        """Pending alerts of a channel, oldest first (only those due at `now` if given)."""
        if now is None:
            return self._outbox("status = 'pending' AND channel = ? ORDER BY id", (channel,))
        return self._outbox("status = 'pending' AND channel = ? AND not_before <= ? ORDER BY id",
                            (channel, now))

    def hold(self, ids: Sequence[int]) -> None:
        """Park alerts for the channel's next summary or digest (thread replies on a channel
        without threads): no longer pending, not sent either."""
        with self.transaction():
            for alert_id in ids:
                self._exec("UPDATE alerts SET status = 'held', lease_owner = NULL,"
                           " lease_until = 0 WHERE id = ?", (alert_id,))

    def held(self, channel: str) -> list[OutboxRow]:
        """The alerts parked for this channel's next summary or digest, oldest first."""
        return self._outbox("status = 'held' AND channel = ? ORDER BY id", (channel,))

    def next_due(self, channel: str, after: float) -> float | None:
        """The earliest retry time after `after` of a pending alert of this channel."""
        row = self._one("SELECT min(not_before) AS t FROM alerts WHERE status = 'pending'"
                        " AND channel = ? AND not_before > ?", (channel, after))
        return None if row is None or row["t"] is None else float(row["t"])

    def first_waiting(self, channel: str, now: float) -> int | None:
        """The id of this channel's first pending alert that waits for a retry after `now`:
        the alerts behind it wait too, so the channel's order is kept."""
        row = self._one("SELECT min(id) AS id FROM alerts WHERE status = 'pending'"
                        " AND channel = ? AND not_before > ?", (channel, now))
        return None if row is None or row["id"] is None else int(row["id"])

    def retry_now(self, now: float) -> None:
        """Make every pending alert due now (a manual `watcher poll` tries them all again)."""
        with self.transaction():
            self._exec("UPDATE alerts SET not_before = ? WHERE status = 'pending'"
                       " AND not_before > ?", (now, now))

    def mark_sent(self, ids: Sequence[int], now: float, *, sent_as: str,
                  remote_id: str | None = None) -> None:
        """Record delivery (this ends the deliverer's lease on them)."""
        with self.transaction():
            for alert_id in ids:
                self._exec("UPDATE alerts SET status = 'sent', sent_at = ?, sent_as = ?,"
                           " remote_id = coalesce(?, remote_id), last_error = NULL,"
                           " lease_owner = NULL, lease_until = 0 WHERE id = ?",
                           (now, sent_as, remote_id, alert_id))

    def mark_retry(self, ids: Sequence[int], not_before: float, error: str) -> None:
        """Record a failed attempt and when to try again (this ends the lease on them)."""
        with self.transaction():
            for alert_id in ids:
                self._exec("UPDATE alerts SET attempts = attempts + 1, not_before = ?,"
                           " last_error = ?, lease_owner = NULL, lease_until = 0 WHERE id = ?",
                           (not_before, error, alert_id))

    def story_remote_id(self, story_id: int, channel: str) -> str | None:
        """The Slack ts of the message that first told this channel about a story."""
        row = self._one("SELECT remote_id FROM alerts WHERE story_id = ? AND channel = ? AND"
                        " kind IN ('new', 'update') AND remote_id IS NOT NULL ORDER BY id LIMIT 1",
                        (story_id, channel))
        return None if row is None else str(row["remote_id"])

    def story_channels(self, story_id: int) -> list[str]:
        return [r["channel"] for r in self._rows(
            "SELECT DISTINCT channel FROM alerts WHERE story_id = ? AND kind IN ('new', 'update')"
            " ORDER BY channel", (story_id,))]

    def story_channels_of(self, story_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        """The channels each story reached (first alerts and updates), for many stories."""
        found: dict[int, set[str]] = {}
        ids = list(dict.fromkeys(story_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in self._rows(
                    "SELECT DISTINCT story_id, channel FROM alerts WHERE kind IN ('new', 'update')"
                    f" AND story_id IN ({', '.join('?' for _ in chunk)})", chunk):
                found.setdefault(int(r["story_id"]), set()).add(r["channel"])
        return {sid: frozenset(chs) for sid, chs in found.items()}

    def hits(self, since: float, profile: str | None = None) -> list[OutboxRow]:
        rows = self._outbox("created_at >= ? AND kind IN ('new', 'update')"
                            " ORDER BY created_at DESC, id DESC", (since,))
        return [r for r in rows if profile is None or profile in r.profiles]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self._rows("SELECT channel, status, count(*) AS n FROM alerts"
                            " GROUP BY channel, status"):
            out.setdefault(r["channel"], {})[r["status"]] = int(r["n"])
        return out

    # -- channels and meta ----------------------------------------------------------------
    def set_channel_error(self, channel: str, error: str | None, now: float) -> None:
        self._exec("INSERT INTO channel_state (channel, error, error_at) VALUES (?, ?, ?)"
                   " ON CONFLICT (channel) DO UPDATE SET error = excluded.error,"
                   " error_at = excluded.error_at", (channel, error, now))

    def channel_errors(self) -> dict[str, str]:
        return {r["channel"]: r["error"] for r in self._rows(
            "SELECT channel, error FROM channel_state WHERE error IS NOT NULL")}

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                   " DO UPDATE SET value = excluded.value", (key, value))

    def last_digest_at(self, channel: str) -> float | None:
        row = self._one("SELECT last_digest_at FROM channel_state WHERE channel = ?", (channel,))
        return None if row is None or row["last_digest_at"] is None \
            else float(row["last_digest_at"])

    def set_last_digest_at(self, channel: str, at: float) -> None:
        self._exec("INSERT INTO channel_state (channel, last_digest_at) VALUES (?, ?)"
                   " ON CONFLICT (channel) DO UPDATE SET last_digest_at = excluded.last_digest_at",
                   (channel, at))

    # -- arrivals and health --------------------------------------------------------------
    def arrivals(self, feed_url: str) -> list[float]:
        """The most recent times new items arrived (ARRIVALS_KEPT at most), oldest first."""
        rows = self._rows("SELECT arrived_at FROM feed_arrivals WHERE feed_url = ?"
                          " ORDER BY arrived_at DESC LIMIT ?", (feed_url, ARRIVALS_KEPT))
        return [float(r["arrived_at"]) for r in reversed(rows)]

    def add_arrival(self, feed_url: str, at: float) -> list[float]:
        """Remember an arrival, forget those beyond the most recent ARRIVALS_KEPT."""
        self._exec("INSERT INTO feed_arrivals (feed_url, arrived_at) VALUES (?, ?)"
                   " ON CONFLICT DO NOTHING", (feed_url, at))
        kept = self.arrivals(feed_url)
        if len(kept) == ARRIVALS_KEPT:
            self._exec("DELETE FROM feed_arrivals WHERE feed_url = ? AND arrived_at < ?",
                       (feed_url, kept[0]))
        return kept

    def health_records(self) -> dict[str, HealthRecord]:
        """Every feed's health record by its URL, and the network's under 'network'."""
        return {r["subject"]: HealthRecord(r["state"], int(r["episode"]), r["since"])
                for r in self._rows("SELECT subject, state, episode, since FROM health_records")}

    def save_health_record(self, subject: str, record: HealthRecord) -> None:
        self._exec("INSERT INTO health_records (subject, state, episode, since)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET"
                   " state = excluded.state, episode = excluded.episode, since = excluded.since",
                   (subject, record.state, record.episode, record.since))

    # -- user regexes that reached their time bound ----------------------------------------
    def record_slow_regex(self, profile: str, pattern: str, feed_url: str, item_key: str,
                          title: str, now: float) -> bool:
        """Remember that `pattern` of `profile` reached its time bound on an item; True the
        first time for that profile, pattern and item (so it is reported once)."""
        return self._exec(
            "INSERT INTO slow_regexes (profile, pattern, feed_url, item_key, title, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, pattern, feed_url, item_key)"
            " DO NOTHING", (profile, pattern, feed_url, item_key, title, now)) > 0

    def slow_regexes(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest of those: profile, pattern, feed_url, item_key, title, seen_at."""
        return self._rows("SELECT profile, pattern, feed_url, item_key, title, seen_at"
                          " FROM slow_regexes ORDER BY seen_at DESC, profile LIMIT ?", (limit,))

    # -- housekeeping ---------------------------------------------------------------------
    def prune(self, older_than: float, *, tombstones_older_than: float | None = None) -> int:
        """Forget items, stories, finished alerts and silent daemons older than `older_than`;
        each item forgotten leaves a tombstone (see watcher/store/tombstones.py), and
        tombstones of items first seen before `tombstones_older_than` go (if given)."""
        with self.transaction():
            self._bury(self._rows("SELECT feed_url, item_key, canonical_url, seen_at FROM items"
                                  " WHERE seen_at < ?", (older_than,)))
            if tombstones_older_than is not None:
                self._exec("DELETE FROM tombstones WHERE seen_at < ?", (tombstones_older_than,))
            n = self._exec("DELETE FROM items WHERE seen_at < ?", (older_than,))
            self._exec("DELETE FROM stories WHERE created_at < ?", (older_than,))
            self._exec("DELETE FROM alerts WHERE created_at < ? AND status != 'pending'",
                       (older_than,))
            self._exec("DELETE FROM daemons WHERE last_heartbeat < ?", (older_than,))
            self._exec("DELETE FROM slow_regexes WHERE seen_at < ?", (older_than,))
        return n
