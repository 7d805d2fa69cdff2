"""The state store: feeds' polling state, items seen, stories, the alert outbox, and the
leases that let several daemons share one PostgreSQL database.

`open_store(state)` picks the engine: a `postgresql://` (or `postgres://`) URL opens
PostgreSQL, anything else is an SQLite file path (or ":memory:"). `Store` is the protocol
both engines satisfy; the rest of watcher depends on it only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watcher.errors import StoreError
from watcher.store.base import FeedState, OutboxRow, Store, StoredItem, redact_dsn
from watcher.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from watcher.store.postgres import PostgresStore

    def _both_are_stores(a: SQLiteStore, b: PostgresStore) -> tuple[Store, Store]:
        return a, b  # mypy checks here that both engines satisfy the protocol


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgresql://", "postgres://"))


def open_store(dsn: str) -> Store:
    """Open (and create or upgrade) the store named by the config's `state`."""
    if is_postgres(dsn):
        try:
            from watcher.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(f"state store {redact_dsn(dsn)}: PostgreSQL needs psycopg 3"
                             f" (pip install 'psycopg[binary]'): {exc}") from None
        return PostgresStore(dsn)
    return SQLiteStore(dsn)


__all__ = ["FeedState", "OutboxRow", "Store", "StoredItem", "SQLiteStore", "is_postgres",
           "open_store", "redact_dsn"]
