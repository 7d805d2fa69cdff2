"""Bytes per tombstone on SQLite and PostgreSQL (a script, not a test).

Run from the repository root:  .venv/bin/python tests/bench/tombstones.py [N]

Fills a fresh store of each engine with N items (default 20,000; guid keys and canonical
URLs of news-like length, seen 100 days ago), prunes them with a 90-day retention, so each
leaves a tombstone, and prints the bytes the tombstones take, divided by N: on SQLite the
growth of the file (VACUUMed, page count x page size) against the same store before the
items; on PostgreSQL `pg_total_relation_size('tombstones')` (table, indexes, free-space
and visibility maps) after VACUUM. PostgreSQL is a throwaway server started by the test
helpers (tests/servers/postgres.py), on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from watcher.retention import tombstone_horizon  # noqa: E402
from watcher.store import Store, open_store  # noqa: E402

DAY = 86400.0
RETENTION = 90 * DAY


def fill_and_prune(store: Store, n: int, now: float) -> None:
    with store.transaction():
        for i in range(n):
            url = f"https://www.example-news.org/world/2026/12/04/story-{i:07d}-turkey-s400"
            store.insert_item(
                feed_url=f"https://www.example-news.org/feeds/{i % 50}.xml",
                key=f"id:urn:uuid:{i:08x}-7d1c-4c1e-9a53-5b8f2e6d{i % 9999:04d}",
                canonical_url=url, content_hash=f"{i:064x}", feed_name="Example News",
                title="A title of about sixty characters for a news story today",
                link=url, summary="s" * 300, content="", author="", categories=[],
                published_at=None, seen_at=now - 100 * DAY, matched=[], story_id=None)
    pruned = store.prune(now - RETENTION,
                         tombstones_older_than=now - tombstone_horizon(RETENTION))
    assert pruned == n, pruned


def sqlite_bytes(n: int, now: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "state.db")
        open_store(path).close()
        before = _sqlite_size(path)
        store = open_store(path)
        fill_and_prune(store, n, now)
        store.close()
        return (_sqlite_size(path) - before) / n


def _sqlite_size(path: str) -> int:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)
    finally:
        db.close()


def postgres_bytes(n: int, now: float) -> float:
    import psycopg

    from tests.servers.postgres import shared_server

    dsn = shared_server().create_database()
    store = open_store(dsn)
    fill_and_prune(store, n, now)
    store.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tombstones")
        row = conn.execute("SELECT pg_total_relation_size('tombstones')").fetchone()
        assert row is not None
        return int(row[0]) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    now = time.time()
    print(f"{n} tombstones (items pruned at 90 days' retention)")
    print(f"  SQLite      {sqlite_bytes(n, now):6.1f} bytes per tombstone")
    print(f"  PostgreSQL  {postgres_bytes(n, now):6.1f} bytes per tombstone")


if __name__ == "__main__":
    main()
