"""Tombstones: what the store keeps of an item it pruned, so that the item never comes back.

Pruning (`retention`) deletes an item's row with its text. If the feed still lists the
item, the next poll would meet it as new and alert it again (an undated item, or a dated
one re-published with a new date). So each pruned item leaves a tombstone: a 64-bit hash
of its feed URL and durable item key, and one of its canonical URL, no text. An item
whose key or canonical URL is tombstoned is known, and recorded nowhere.

64 bits: with a million tombstones, the odds that a new item's hash meets one of them by
chance are about one in 18 trillion (2^64 / 10^6); it would be recorded as known, silently.

Pure: hashing only; the store's queries use these numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

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
