"""Tombstones: what the store keeps of an item it pruned, so that the item never comes back.

Pruning (`retention`) deletes an item's row with its text. If the feed still lists the
item, the next poll would meet it as new and alert it again (an undated item, or a dated
one re-published with a new date). So each pruned item leaves a tombstone: a 64-bit hash
of its feed URL and durable item key, and one of its canonical URL, no text. An item
whose key or canonical URL is tombstoned is known, and recorded nowhere.

64 bits: with a million tombstones, the odds that a new item's hash meets one of them by
chance are about one in 18 trillion (2^64 / 10^6); it would be recorded as known, silently.

The hashing is pure; `Tombstones` holds the store's queries (in SQL both engines run),
for `SQLStore` to inherit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

_PERSON = b"watcher-tomb-v1"


def _hash64(text: str) -> int:
    """A signed 64-bit integer (SQLite's INTEGER, PostgreSQL's BIGINT)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8,
                             person=_PERSON).digest()
    return int.from_bytes(digest, "big", signed=True)


def key_hash(feed_url: str, item_key: str) -> int:
    """A pruned item's identity in its feed."""
    return _hash64(f"{feed_url}\n{item_key}")


def url_hash(canonical_url: str) -> int:
    """A pruned item's canonical URL, in whatever feed it was."""
    return _hash64(canonical_url)


def by_key_hash(feed_url: str, keys: Iterable[str]) -> dict[int, str]:
    """Each key's hash → the key (for reading a batch lookup's answer back)."""
    return {key_hash(feed_url, key): key for key in keys}


def by_url_hash(canonical_urls: Iterable[str]) -> dict[int, str]:
    return {url_hash(url): url for url in canonical_urls}


class Tombstones:
    """The store's tombstone queries; the engine supplies `_rows` and `_exec`."""

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def tombstoned(self, feed_url: str, keys: Sequence[str]) -> set[str]:
        """The keys among these of this feed's items that were pruned (a query per 500)."""
        wanted = by_key_hash(feed_url, keys)
        return {wanted[h] for h in self._tombstone_hashes("key_hash", list(wanted))}

    def tombstoned_urls(self, canonical_urls: Sequence[str]) -> set[str]:
        """The canonical URLs among these of items pruned, in any feed."""
        wanted = by_url_hash(url for url in canonical_urls if url)
        return {wanted[h] for h in self._tombstone_hashes("url_hash", list(wanted))}

    def _tombstone_hashes(self, column: str, hashes: list[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(int(r["h"]) for r in self._rows(
                f"SELECT {column} AS h FROM tombstones WHERE {column} IN ({marks})", chunk))
        return found

    def _bury(self, rows: list[dict[str, Any]]) -> None:
        """A tombstone for each item row about to be deleted (the latest sighting wins)."""
        graves: dict[int, tuple[int | None, float]] = {}
        for r in rows:
            key = key_hash(r["feed_url"], r["item_key"])
            url = url_hash(r["canonical_url"]) if r["canonical_url"] else None
            seen = float(r["seen_at"])
            if key not in graves or graves[key][1] < seen:
                graves[key] = (url, seen)
        batch = list(graves.items())
        for start in range(0, len(batch), 300):
            chunk = batch[start:start + 300]
            self._exec(
                "INSERT INTO tombstones (key_hash, url_hash, seen_at) VALUES "
                + ", ".join("(?, ?, ?)" for _ in chunk)
                + " ON CONFLICT (key_hash) DO UPDATE SET"
                " url_hash = coalesce(excluded.url_hash, tombstones.url_hash),"
                " seen_at = CASE WHEN excluded.seen_at > tombstones.seen_at"
                " THEN excluded.seen_at ELSE tombstones.seen_at END",
                [v for key, (url, seen) in chunk for v in (key, url, seen)])
