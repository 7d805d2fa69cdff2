"""The state store: feeds' polling state, items seen, stories, and the alert outbox."""

from __future__ import annotations

from watcher.store.base import FeedState, OutboxRow, StoredItem
from watcher.store.sqlite import SQLiteStore

Store = SQLiteStore


def open_store(dsn: str) -> SQLiteStore:
    """Open (and create or upgrade) the store named by the config's `state`."""
    if dsn.startswith(("postgresql://", "postgres://")):
        from watcher.errors import ConfigError

        where = dsn.split("@")[-1]
        raise ConfigError(f"state: PostgreSQL is not supported in this version ({where})")
    return SQLiteStore(dsn)


__all__ = ["FeedState", "OutboxRow", "Store", "StoredItem", "SQLiteStore", "open_store"]
