"""JSON Feed (jsonfeed.org, versions 1.0 and 1.1) → the `ParsedFeed` of `Item`s that
watcher/parse.py makes of RSS and Atom, so matching, dedup and alerts treat it the same.

Pure: no network, no clock. feedparser does not read JSON Feed (it reports the document
as not well-formed XML), so the fields are mapped here: `items[].id` (the guid), `url`
(else `external_url`), `title`, `summary`, `content_html` (else `content_text`),
`date_published` (else `date_modified`), `authors` (1.1) or `author` (1.0; the feed's own
when the item has none), and `tags`. Text is cleaned and capped as parse.py does; only
http(s) links are kept. A document that is JSON but not a JSON Feed is a ParseError
saying so; nesting too deep for Python's JSON reader is refused the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from watcher.errors import ParseError
from watcher.models import Item, ParsedFeed
from watcher.parse import (
    MAX_CATEGORIES,
    MAX_ITEMS,
    MAX_SHORT,
    MAX_TEXT,
    MAX_TITLE,
    clean_text,
    safe_link,
)

JSON_TYPES = ("application/feed+json", "application/json")
VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    """A body whose first character (after a BOM or white space) is `{`, or `[` with a JSON
    content type: never a document that starts like XML, whatever its content type."""
    first = body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return first == b"{" or (first == b"[" and
                             content_type.split(";")[0].strip().lower() in JSON_TYPES)


def parse_json_feed(body: bytes, *, url: str, feed_name: str | None = None) -> ParsedFeed:
    """Parse one JSON Feed document; raise ParseError when it is not one."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"JSON Feed is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}") from None
    except RecursionError:
        raise ParseError("JSON nested too deep (refused)") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(VERSION_PREFIX):
        raise ParseError("JSON but not a JSON Feed (no \"version\": "
                         f"\"{VERSION_PREFIX}1.1\")")
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an \"items\" list")
    title = clean_text(data.get("title"), MAX_TITLE)
    name = feed_name or title or url
    base = _text(data.get("home_page_url")) or url
    author = _authors(data)
    return ParsedFeed(title=title, items=tuple(
        _item(entry, url, base, name, author) for entry in items[:MAX_ITEMS]
        if isinstance(entry, dict)))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _authors(node: Mapping[str, Any]) -> str:
    """The author names of a feed or an item: `authors` (1.1), else `author` (1.0)."""
    authors = node.get("authors")
    if not isinstance(authors, list):
        authors = [node.get("author")]
    names = [clean_text(a.get("name"), MAX_SHORT) for a in authors if isinstance(a, dict)]
    return clean_text(", ".join(n for n in names if n), MAX_SHORT)


def _item(entry: Mapping[str, Any], url: str, base: str, feed_name: str, feed_author: str
          ) -> Item:
    guid = entry.get("id")
    if isinstance(guid, int | float) and not isinstance(guid, bool):
        guid = str(guid)   # 1.0 allowed numbers; 1.1 says strings
    tags = entry.get("tags")
    categories = tuple(t for t in (clean_text(tag, MAX_SHORT) for tag in
                                   (tags if isinstance(tags, list) else [])[:MAX_CATEGORIES])
                       if t)
    content = _text(entry.get("content_html")) or _text(entry.get("content_text"))
    return Item(
        feed_url=url,
        feed_name=feed_name,
        guid=clean_text(guid, MAX_TITLE) or None,
        link=safe_link(entry.get("url"), base) or safe_link(entry.get("external_url"), base),
        title=clean_text(entry.get("title"), MAX_TITLE),
        summary=clean_text(entry.get("summary"), MAX_TEXT),
        content=clean_text(content, MAX_TEXT),
        author=_authors(entry) or feed_author,
        categories=categories,
        published=_when(entry.get("date_published")) or _when(entry.get("date_modified")),
    )


def _when(value: object) -> datetime | None:
    """An RFC 3339 date → aware UTC datetime (None if absent or unreadable)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
