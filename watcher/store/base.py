"""What the rest of watcher needs from a state store, and the rows it hands back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watcher.models import Alert, Snippet


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
    health_reported: bool = False


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


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def alert_payload(alert: Alert) -> str:
    """The JSON kept in the outbox: everything a renderer needs, nothing more."""
    return json.dumps({
        "kind": alert.kind, "profiles": list(alert.profiles), "title": alert.title,
        "link": alert.link, "feed": alert.feed, "published": _ts(alert.published),
        "snippet": alert.snippet.text, "bold": [list(b) for b in alert.snippet.bold],
        "terms": list(alert.terms),
    }, ensure_ascii=False)


def alert_from_payload(alert_id: int, channel: str, story_id: int | None, payload: str) -> Alert:
    data: dict[str, Any] = json.loads(payload)
    published = data.get("published")
    return Alert(
        id=alert_id, channel=channel, kind=data["kind"], profiles=tuple(data["profiles"]),
        title=data["title"], link=data["link"], feed=data["feed"],
        published=datetime.fromtimestamp(published, UTC) if published is not None else None,
        snippet=Snippet(data["snippet"], tuple((int(a), int(b)) for a, b in data["bold"])),
        terms=tuple(data["terms"]), story_id=story_id,
    )
