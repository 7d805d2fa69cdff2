"""What the rest of watcher needs from a state store (the `Store` protocol) and the rows it
hands back; both engines (SQLite, PostgreSQL) satisfy the protocol."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, Protocol, TypedDict, Unpack
from urllib.parse import unquote

from watcher.health import Record as HealthRecord
from watcher.models import Alert, Snippet


class NewItem(TypedDict):
    """The columns of an item to store (`Store.insert_item`, `Store.insert_items`)."""

    feed_url: str
    key: str
    canonical_url: str | None
    content_hash: str
    feed_name: str
    title: str
    link: str | None
    summary: str
    content: str
    author: str
    categories: Sequence[str]
    published_at: float | None
    seen_at: float
    matched: Sequence[str]
    story_id: int | None
    article: NotRequired[str]
    article_outcome: NotRequired[str | None]


@dataclass(frozen=True)
class FeedState:
    url: str
    current_url: str | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_polled_at: float | None = None
    last_poll_at: float | None = None
    last_success_at: float | None = None
    last_status: str | None = None
    last_error: str | None = None
    error_kind: str | None = None
    consecutive_failures: int = 0
    next_poll_at: float = 0.0
    items_total: int = 0
    last_new_item_at: float | None = None
    gone: bool = False
    item_digests: str | None = None   # its last document's items (see parse.item_spans)


@dataclass(frozen=True)
class StoredItem:
    id: int
    feed_url: str
    item_key: str
    content_hash: str
    title: str
    matched: tuple[str, ...]
    story_id: int | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    kind: str
    story_id: int | None
    profiles: tuple[str, ...]
    urgent: bool
    created_at: float
    status: str
    attempts: int
    last_error: str | None
    sent_at: float | None
    alert: Alert


class Store(Protocol):
    """Every method the rest of watcher calls on a state store.

    Writes outside `transaction()` commit at once; inside, they commit together or not at all.
    Leases (`claim_*`) let several daemons share one store: a feed or alert is worked on by
    the daemon that holds its lease until it is released, recorded, or its time runs out.
    """

    @property
    def schema_version(self) -> int: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...
    def snapshot(self) -> Store: ...
    def integrity_check(self) -> str: ...

    # feeds
    def feed(self, url: str) -> FeedState | None: ...
    def feeds(self) -> list[FeedState]: ...
    def save_feed(self, state: FeedState) -> None: ...

    # items and stories
    def item(self, feed_url: str, key: str) -> StoredItem | None: ...
    def items(self, feed_url: str, keys: Sequence[str]) -> dict[str, StoredItem]: ...
    def known_by_identity(self, canonical_urls: Sequence[str],
                          content_hashes: Sequence[str]
                          ) -> tuple[dict[str, StoredItem], dict[str, StoredItem]]: ...
    def insert_item(self, **item: Unpack[NewItem]) -> int: ...
    def insert_items(self, items: Sequence[NewItem]) -> None: ...
    def update_item(self, item_id: int, *, content_hash: str, title: str, summary: str,
                    content: str, matched: Sequence[str], story_id: int | None) -> None: ...
    def update_item_story(self, item_id: int, story_id: int, signature: str) -> None: ...
    def items_since(self, since: float) -> list[dict[str, Any]]: ...
    def alert_articles(self, alert_ids: Sequence[int]) -> dict[int, str]: ...
    def article_outcomes(self, since: float) -> dict[str, dict[str, int]]: ...
    def insert_story(self, signature: str, item_id: int, now: float) -> int: ...
    def add_story_keys(self, story_id: int, keys: Sequence[int], now: float) -> None: ...
    def story_hits(self, probes: Sequence[int], since: float,
                   common: int | None = None) -> list[tuple[int, int]]: ...
    def story_candidates(self, probes: Sequence[int], since: float, common: int,
                         limit: int) -> list[int]: ...
    def story_members(self, story_ids: Sequence[int], since: float,
                      latest: int | None = None) -> list[tuple[int, str]]: ...
    def unindexed_story_items(self, since: float) -> list[tuple[int, str]]: ...
    def prune_story_keys(self, before: float) -> int: ...

    # tombstones: pruned items, never seen as new again (one query per batch of keys)
    def tombstoned(self, feed_url: str, keys: Sequence[str]) -> set[str]: ...
    def tombstoned_urls(self, canonical_urls: Sequence[str]) -> set[str]: ...

    # outbox
    def add_alert(self, alert: Alert, *, dedupe_key: str, item_id: int | None, urgent: bool,
                  now: float, not_before: float | None = None) -> int | None: ...
    def pending(self, channel: str, now: float | None = None) -> list[OutboxRow]: ...
    def hold(self, ids: Sequence[int]) -> None: ...
    def held(self, channel: str) -> list[OutboxRow]: ...
    def next_due(self, channel: str, after: float) -> float | None: ...
    def first_waiting(self, channel: str, now: float) -> int | None: ...
    def retry_now(self, now: float) -> None: ...
    def mark_sent(self, ids: Sequence[int], now: float, *, sent_as: str,
                  remote_id: str | None = None) -> None: ...
    def mark_retry(self, ids: Sequence[int], not_before: float, error: str) -> None: ...
    def story_remote_id(self, story_id: int, channel: str) -> str | None: ...
    def story_channels(self, story_id: int) -> list[str]: ...
    def story_channels_of(self, story_ids: Sequence[int]) -> dict[int, frozenset[str]]: ...
    def hits(self, since: float, profile: str | None = None) -> list[OutboxRow]: ...
    def outbox_counts(self) -> dict[str, dict[str, int]]: ...

    # channels, meta, housekeeping
    def set_channel_error(self, channel: str, error: str | None, now: float) -> None: ...
    def channel_errors(self) -> dict[str, str]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def last_digest_at(self, channel: str) -> float | None: ...
    def set_last_digest_at(self, channel: str, at: float) -> None: ...

    # feed arrivals and health records
    def arrivals(self, feed_url: str) -> list[float]: ...
    def add_arrival(self, feed_url: str, at: float) -> list[float]: ...
    def health_records(self) -> dict[str, HealthRecord]: ...
    def save_health_record(self, subject: str, record: HealthRecord) -> None: ...
    def prune(self, older_than: float, *,
              tombstones_older_than: float | None = None) -> int: ...
    def record_slow_regex(self, profile: str, pattern: str, feed_url: str, item_key: str,
                          title: str, now: float) -> bool: ...
    def slow_regexes(self, limit: int = 20) -> list[dict[str, Any]]: ...

    # work sharing between daemons
    def heartbeat(self, owner: str, now: float, info: str = "") -> None: ...
    def daemons(self) -> list[dict[str, object]]: ...
    def claim_feeds(self, urls: Sequence[str], owner: str, now: float, lease: float,
                    limit: int = 1000) -> list[str]: ...
    def release_feed(self, url: str, owner: str) -> None: ...
    def claim_alerts(self, channel: str, owner: str, now: float,
                     lease: float) -> list[OutboxRow]: ...
    def release_alerts(self, ids: Sequence[int], owner: str) -> None: ...
    def run_once(self, job: str, owner: str, now: float, period: float) -> bool: ...
    def forget_owner(self, owner: str) -> None: ...
    def release_owner(self, owner: str) -> None: ...
    def gone_owners(self, owners: Sequence[str]) -> list[str]: ...
    def feed_leases(self) -> dict[str, tuple[str, float]]: ...


def _dsn_parts(dsn: str) -> tuple[str, str | None, str, list[str]] | None:
    """scheme://, userinfo (None if absent), host/path, query parameters; plain string work,
    so that even a DSN too broken to parse is redacted."""
    if "://" not in dsn:
        return None
    scheme, rest = dsn.split("://", 1)
    head, _, query = rest.partition("?")
    userinfo, at, hostpart = head.rpartition("@")
    return scheme + "://", userinfo if at else None, hostpart, [p for p in query.split("&") if p]


def redact_dsn(dsn: str) -> str:
    """The DSN without its password: `postgresql://u:secret@h/db` → `postgresql://u@h/db`."""
    parts = _dsn_parts(dsn)
    if parts is None:
        return dsn
    scheme, userinfo, hostpart, params = parts
    user = "" if userinfo is None else userinfo.split(":", 1)[0] + "@"
    query = "&".join(p for p in params if not p.startswith("password="))
    return scheme + user + hostpart + ("?" + query if query else "")


def dsn_secrets(dsn: str) -> list[str]:
    """The forms in which the DSN's password could show up in a message, longest first."""
    parts = _dsn_parts(dsn)
    if parts is None:
        return []
    _, userinfo, _, params = parts
    values = [userinfo.split(":", 1)[1]] if userinfo and ":" in userinfo else []
    values += [p[len("password="):] for p in params if p.startswith("password=")]
    found = {form for v in values if v for form in (v, unquote(v))}
    return sorted(found, key=len, reverse=True)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def alert_payload(alert: Alert) -> str:
    """The JSON kept in the outbox: everything a renderer needs, nothing more."""
    return json.dumps({
        "kind": alert.kind, "profiles": list(alert.profiles), "title": alert.title,
        "link": alert.link, "feed": alert.feed, "published": _ts(alert.published),
        "snippet": alert.snippet.text, "bold": [list(b) for b in alert.snippet.bold],
        "snippet_field": alert.snippet.field, "terms": list(alert.terms),
    }, ensure_ascii=False)


def alert_from_payload(alert_id: int, channel: str, story_id: int | None, payload: str) -> Alert:
    data: dict[str, Any] = json.loads(payload)
    published = data.get("published")
    return Alert(
        id=alert_id, channel=channel, kind=data["kind"], profiles=tuple(data["profiles"]),
        title=data["title"], link=data["link"], feed=data["feed"],
        published=datetime.fromtimestamp(published, UTC) if published is not None else None,
        snippet=Snippet(data["snippet"], tuple((int(a), int(b)) for a, b in data["bold"]),
                        data.get("snippet_field")),
        terms=tuple(data["terms"]), story_id=story_id,
    )
