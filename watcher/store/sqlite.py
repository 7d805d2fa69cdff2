"""SQLite state store (WAL mode): migrations on open, one connection, explicit transactions.

Several processes may share one file: every write transaction is BEGIN IMMEDIATE, so claims
and migrations are serialised by SQLite's write lock (30 s busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from watcher.errors import StoreError
from watcher.store.schema import migrations
from watcher.store.sharing import SharingStore


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


def _statements(script: str) -> list[str]:
    """A script cut into complete statements (sqlite3 runs one at a time)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if buf.strip() and not all(s.strip().startswith("--") for s in buf.splitlines() if s.strip()):
        out.append(buf)
    return out


class SQLiteStore(SharingStore):
    """The embedded default store. Not thread-safe: use it from one thread (the event loop).

    `target_version` stops the migrations at that version (for upgrade tests).
    """

    def __init__(self, path: str, *, target_version: int | None = None) -> None:
        self.path = path
        self._depth = 0
        try:
            if path != ":memory:":
                p = Path(path)
                for parent in reversed([p.parent, *p.parent.parents]):
                    if not parent.exists():  # every folder we create is private, not only the last
                        parent.mkdir(mode=0o700)
                if not p.exists():
                    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.row_factory = _dict_row
            self._set_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate(target_version)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"state store {path}: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------------
    def _set_wal(self, patience: float = 30.0) -> None:
        """Switch to WAL. Several processes opening a new file at once make this fail with
        "database is locked" at once (the busy timeout does not cover it): retry a while."""
        deadline, delay = time.monotonic() + patience, 0.005
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _migrate(self, target: int | None) -> None:
        """Apply each missing migration in its own transaction, recorded in schema_migrations.
        The check runs inside the write lock, so concurrent openers apply each one once."""
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for migration in migrations("sqlite", target):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                done = self.db.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                                       (migration.version,)).fetchone()
                if not done:
                    for statement in _statements(migration.sql):
                        self.db.execute(statement)
                    self.db.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))",
                                    (migration.version,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _run(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[dict[str, Any]], int]:
        try:
            cur = self.db.execute(sql, args)
            return cur.fetchall(), cur.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self.path}: {exc}") from exc

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self.path}: {exc}") from exc

    def _begin(self) -> None:
        self._run("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"state store {self.path}: {exc}") from exc

    def _rollback(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        self.db.close()

    def snapshot(self) -> SQLiteStore:
        """An in-memory copy, for --dry-run: what happens to it is thrown away."""
        copy = SQLiteStore.__new__(SQLiteStore)
        copy.path = ":memory:"
        copy._depth = 0
        copy.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.backup(copy.db)
        copy.db.row_factory = _dict_row
        return copy

    def integrity_check(self) -> str:
        row = self._one("PRAGMA integrity_check")
        return str(next(iter(row.values()))) if row else "no answer"
