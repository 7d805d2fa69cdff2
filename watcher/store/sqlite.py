"""SQLite state store (WAL mode): migrations on open, one connection, explicit transactions."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from watcher.errors import StoreError
from watcher.models import Alert
from watcher.store.base import (
    FeedState,
    OutboxRow,
    StoredItem,
    alert_from_payload,
    alert_payload,
)

_FEED_COLUMNS = [f.name for f in fields(FeedState)]


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("watcher.store") / "migrations" / "sqlite"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(out)


class SQLiteStore:
    """The embedded default store. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            if path != ":memory:":
                p = Path(path)
                p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not p.exists():
                    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"state store {path}: {exc}") from exc
        self._depth = 0

    # -- plumbing -------------------------------------------------------------------------
    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {r[0] for r in self.db.execute("SELECT version FROM schema_migrations")}
        for version, sql in _migrations():
            if version in done:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))",
                                (version,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

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
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self.path}: {exc}") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.db.execute("ROLLBACK")
            raise StoreError(f"state store {self.path}: {exc}") from exc

    def _q(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def snapshot(self) -> SQLiteStore:
        """An in-memory copy, for --dry-run: what happens to it is thrown away."""
        copy = SQLiteStore.__new__(SQLiteStore)
        copy.path = ":memory:"
        copy.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.backup(copy.db)
        copy.db.row_factory = sqlite3.Row
        copy._depth = 0
        return copy

    def integrity_check(self) -> str:
        return str(self._q("PRAGMA integrity_check").fetchone()[0])

    # -- feeds ----------------------------------------------------------------------------
    def feed(self, url: str) -> FeedState | None:
        row = self._q("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        data = {k: row[k] for k in _FEED_COLUMNS}
        data["gone"] = bool(data["gone"])
        data["health_reported"] = bool(data["health_reported"])
        return FeedState(**data)

    def feeds(self) -> list[FeedState]:
        urls = [r[0] for r in self._q("SELECT url FROM feeds ORDER BY url")]
        return [f for f in (self.feed(u) for u in urls) if f is not None]

    def save_feed(self, state: FeedState) -> None:
        cols = ", ".join(_FEED_COLUMNS)
        marks = ", ".join("?" for _ in _FEED_COLUMNS)
        values = [getattr(state, c) for c in _FEED_COLUMNS]
        self._q(f"INSERT OR REPLACE INTO feeds ({cols}) VALUES ({marks})", values)

    def due_feeds(self, urls: Sequence[str], now: float) -> list[str]:
        """Configured feeds whose next poll is due (unknown feeds are due at once)."""
        known = {r["url"]: r for r in self._q("SELECT url, next_poll_at, gone FROM feeds")}
        due = []
        for url in urls:
            row = known.get(url)
            if row is None or (not row["gone"] and row["next_poll_at"] <= now):
                due.append(url)
        return due

    # -- items ----------------------------------------------------------------------------
    def item(self, feed_url: str, key: str) -> StoredItem | None:
        row = self._q("SELECT id, feed_url, item_key, content_hash, title, matched, story_id "
                      "FROM items WHERE feed_url = ? AND item_key = ?", (feed_url, key)).fetchone()
        if row is None:
            return None
        return StoredItem(row["id"], row["feed_url"], row["item_key"], row["content_hash"],
                          row["title"], tuple(json.loads(row["matched"])), row["story_id"])

    def known_elsewhere(self, canonical_url: str | None, content_hash: str) -> StoredItem | None:
        """An item already stored under the same canonical URL or the same content."""
        row = None
        if canonical_url:
            row = self._q("SELECT feed_url, item_key FROM items WHERE canonical_url = ? LIMIT 1",
                          (canonical_url,)).fetchone()
        if row is None:
            row = self._q("SELECT feed_url, item_key FROM items WHERE content_hash = ? LIMIT 1",
                          (content_hash,)).fetchone()
        return self.item(row["feed_url"], row["item_key"]) if row else None

    def insert_item(self, *, feed_url: str, key: str, canonical_url: str | None,
                    content_hash: str, feed_name: str, title: str, link: str | None,
                    summary: str, content: str, author: str, categories: Sequence[str],
                    published_at: float | None, seen_at: float, matched: Sequence[str],
                    story_id: int | None) -> int:
        cur = self._q(
            "INSERT INTO items (feed_url, item_key, canonical_url, content_hash, feed_name, title,"
            " link, summary, content, author, categories, published_at, seen_at, matched, story_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (feed_url, key, canonical_url, content_hash, feed_name, title, link, summary, content,
             author, json.dumps(list(categories), ensure_ascii=False), published_at, seen_at,
             json.dumps(list(matched)), story_id))
        return int(cur.lastrowid or 0)

    def update_item(self, item_id: int, *, content_hash: str, title: str, summary: str,
                    content: str, matched: Sequence[str], story_id: int | None) -> None:
        self._q("UPDATE items SET content_hash = ?, title = ?, summary = ?, content = ?,"
                " matched = ?, story_id = ? WHERE id = ?",
                (content_hash, title, summary, content, json.dumps(list(matched)), story_id,
                 item_id))

    def update_item_story(self, item_id: int, story_id: int, signature: str) -> None:
        self._q("UPDATE items SET story_id = ?, signature = ? WHERE id = ?",
                (story_id, signature, item_id))

    def items_since(self, since: float) -> list[sqlite3.Row]:
        return list(self._q("SELECT * FROM items WHERE seen_at >= ? ORDER BY seen_at DESC, id DESC",
                            (since,)))

    # -- stories --------------------------------------------------------------------------
    def insert_story(self, signature: str, item_id: int, now: float) -> int:
        cur = self._q("INSERT INTO stories (signature, item_id, created_at) VALUES (?, ?, ?)",
                      (signature, item_id, now))
        return int(cur.lastrowid or 0)

    def set_story_item(self, story_id: int, item_id: int) -> None:
        self._q("UPDATE stories SET item_id = ? WHERE id = ?", (item_id, story_id))

    def recent_stories(self, since: float) -> list[tuple[int, str]]:
        """(story id, signature) of every story item seen since then: first copies and joins."""
        return [(r[0], r[1]) for r in self._q(
            "SELECT story_id, signature FROM items WHERE seen_at >= ? AND story_id IS NOT NULL"
            " AND signature IS NOT NULL ORDER BY id", (since,))]

    # -- outbox ---------------------------------------------------------------------------
    def add_alert(self, alert: Alert, *, dedupe_key: str, item_id: int | None, urgent: bool,
                  now: float, not_before: float | None = None) -> int | None:
        """Queue an alert; None when this channel already has one with that key."""
        cur = self._q(
            "INSERT OR IGNORE INTO alerts (channel, dedupe_key, kind, story_id, item_id, profiles,"
            " urgent, payload, created_at, not_before) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (alert.channel, dedupe_key, alert.kind, alert.story_id, item_id,
             json.dumps(list(alert.profiles)), int(urgent), alert_payload(alert), now,
             now if not_before is None else not_before))
        return int(cur.lastrowid or 0) if cur.rowcount else None

    def _outbox(self, where: str, args: Sequence[Any]) -> list[OutboxRow]:
        rows = self._q(f"SELECT * FROM alerts WHERE {where}", args)
        return [OutboxRow(
            id=r["id"], channel=r["channel"], kind=r["kind"], story_id=r["story_id"],
            profiles=tuple(json.loads(r["profiles"])), urgent=bool(r["urgent"]),
            created_at=r["created_at"], status=r["status"], attempts=r["attempts"],
            last_error=r["last_error"], sent_at=r["sent_at"],
            alert=alert_from_payload(r["id"], r["channel"], r["story_id"], r["payload"]),
        ) for r in rows]

    def pending(self, channel: str, now: float | None = None) -> list[OutboxRow]:
        """Pending alerts of a channel, oldest first (only those due at `now` if given)."""
        if now is None:
            return self._outbox("status = 'pending' AND channel = ? ORDER BY id", (channel,))
        return self._outbox("status = 'pending' AND channel = ? AND not_before <= ? ORDER BY id",
                            (channel, now))

    def next_due(self, channel: str, after: float) -> float | None:
        """The earliest retry time after `after` of a pending alert of this channel."""
        row = self._q("SELECT min(not_before) FROM alerts WHERE status = 'pending' AND channel = ?"
                      " AND not_before > ?", (channel, after)).fetchone()
        return None if row[0] is None else float(row[0])

    def retry_now(self, now: float) -> None:
        """Make every pending alert due now (a manual `watcher poll` tries them all again)."""
        with self.transaction():
            self._q("UPDATE alerts SET not_before = ? WHERE status = 'pending' AND not_before > ?",
                    (now, now))

    def mark_sent(self, ids: Sequence[int], now: float, *, sent_as: str,
                  remote_id: str | None = None) -> None:
        with self.transaction():
            for alert_id in ids:
                self._q("UPDATE alerts SET status = 'sent', sent_at = ?, sent_as = ?,"
                        " remote_id = coalesce(?, remote_id), last_error = NULL WHERE id = ?",
                        (now, sent_as, remote_id, alert_id))

    def mark_retry(self, ids: Sequence[int], not_before: float, error: str) -> None:
        with self.transaction():
            for alert_id in ids:
                self._q("UPDATE alerts SET attempts = attempts + 1, not_before = ?, last_error = ?"
                        " WHERE id = ?", (not_before, error, alert_id))

    def story_remote_id(self, story_id: int, channel: str) -> str | None:
        """The Slack ts of the message that first told this channel about a story."""
        row = self._q("SELECT remote_id FROM alerts WHERE story_id = ? AND channel = ? AND"
                      " kind IN ('new', 'update') AND remote_id IS NOT NULL ORDER BY id LIMIT 1",
                      (story_id, channel)).fetchone()
        return None if row is None else str(row[0])

    def story_channels(self, story_id: int) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT channel FROM alerts WHERE story_id = ? AND"
                                      " kind IN ('new', 'update')", (story_id,))]

    def hits(self, since: float, profile: str | None = None) -> list[OutboxRow]:
        rows = self._outbox("created_at >= ? AND kind IN ('new', 'update')"
                            " ORDER BY created_at DESC, id DESC", (since,))
        return [r for r in rows if profile is None or profile in r.profiles]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self._q("SELECT channel, status, count(*) FROM alerts GROUP BY channel, status"):
            out.setdefault(r[0], {})[r[1]] = int(r[2])
        return out

    # -- channels and meta ----------------------------------------------------------------
    def set_channel_error(self, channel: str, error: str | None, now: float) -> None:
        self._q("INSERT INTO channel_state (channel, error, error_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel) DO UPDATE SET error = excluded.error,"
                " error_at = excluded.error_at", (channel, error, now))

    def channel_errors(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._q("SELECT channel, error FROM channel_state"
                                           " WHERE error IS NOT NULL")}

    def get_meta(self, key: str) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._q("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value", (key, value))

    # -- housekeeping ---------------------------------------------------------------------
    def prune(self, older_than: float) -> int:
        """Forget items, stories and finished alerts older than the retention period."""
        with self.transaction():
            n = self._q("DELETE FROM items WHERE seen_at < ?", (older_than,)).rowcount
            self._q("DELETE FROM stories WHERE created_at < ?", (older_than,))
            self._q("DELETE FROM alerts WHERE created_at < ? AND status != 'pending'",
                    (older_than,))
        return n
