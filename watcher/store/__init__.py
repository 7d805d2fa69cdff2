"""The state store: feeds' polling state, items seen, stories, and the alert outbox."""

from __future__ import annotations

from watcher.store.base import FeedState, OutboxRow, StoredItem
from watcher.store.sqlite import SQLiteStore

Store = SQLiteStore


def open_store(dsn: str) -> SQLiteStore:
    """Open (and create or upgrade) the store named by the config's `state`."""
    if dsn.startswith(("postgresql://", "postgres://")):
        from watcher.errors import ConfigError

        raise ConfigError(f"state: PostgreSQL stores are not supported in this version ({dsn.split('@')[-1]})")
    return SQLiteStore(dsn)


__all__ = ["FeedState", "OutboxRow", "Store", "StoredItem", "SQLiteStore", "open_store"]
