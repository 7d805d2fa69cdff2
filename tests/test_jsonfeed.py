"""JSON Feed → Items (watcher/jsonfeed.py), and how parse_feed tells JSON, HTML and XML apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import SHARED
from watcher.errors import ParseError
from watcher.jsonfeed import looks_like_json, parse_json_feed
from watcher.parse import parse_feed

ODD = SHARED / "feeds" / "odd"
URL = "https://example.org/feed.json"


def doc(version: str = "1.1", **item: object) -> bytes:
    return json.dumps({"version": f"https://jsonfeed.org/version/{version}", "title": "T",
                       "home_page_url": "https://example.org/", "items": [item]}).encode()


@pytest.mark.parametrize(("item", "field", "expected"), [
    ({"id": "a", "url": "https://e.org/1"}, "link", "https://e.org/1"),
    ({"id": "a", "external_url": "https://w.org/x"}, "link", "https://w.org/x"),
    ({"id": "a", "url": "/rel"}, "link", "https://example.org/rel"),
    ({"id": "a", "url": "javascript:alert(1)"}, "link", None),
    ({"id": 42}, "guid", "42"),
    ({"id": "a", "title": "S-400\x00 batch"}, "title", "S-400 batch"),
    ({"id": "a", "content_html": "<p>x</p>", "content_text": "y"}, "content", "<p>x</p>"),
    ({"id": "a", "content_text": "plain"}, "content", "plain"),
    ({"id": "a", "summary": "short"}, "summary", "short"),
    ({"id": "a", "tags": ["Defence", 3, "", "KAAN"]}, "categories", ("Defence", "KAAN")),
    ({"id": "a", "authors": [{"name": "A"}, {"name": "B"}]}, "author", "A, B"),
    ({"id": "a", "author": {"name": "Old style"}}, "author", "Old style"),
    ({"id": "a", "date_published": "2024-05-01T14:03:00+03:00"}, "published",
     datetime(2024, 5, 1, 11, 3, tzinfo=UTC)),
    ({"id": "a", "date_modified": "2024-05-01T11:03:00Z"}, "published",
     datetime(2024, 5, 1, 11, 3, tzinfo=UTC)),
    ({"id": "a", "date_published": "yesterday"}, "published", None),
])
def test_item_fields(item: dict[str, object], field: str, expected: object) -> None:
    [parsed] = parse_json_feed(doc(**item), url=URL).items
    assert getattr(parsed, field) == expected


@pytest.mark.parametrize(("body", "message"), [
    (b'{"version": "1", "items": []}', "not a JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1"}', "without an \"items\" list"),
    (b'{"version": ', "not valid JSON"),
    (b"[" * 100_000, "nested too deep"),
    (b'{"a": "\xff"}', "not UTF-8"),
])
def test_bad_documents_are_one_clear_line(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_json_feed(body, url=URL)


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b'  {"version": 1}', "", True),
    (b'\xef\xbb\xbf{"a": 1}', "text/plain", True),
    (b"[1]", "application/feed+json", True),
    (b"[1]", "text/plain", False),
    (b"<?xml version='1.0'?><rss/>", "application/json", False),
])
def test_sniffing(body: bytes, content_type: str, expected: bool) -> None:
    assert looks_like_json(body, {"Content-Type": content_type}) is expected


@pytest.mark.parametrize("name", ["jsonfeed-real.json", "jsonfeed-feedjira.json",
                                  "jsonfeed-escaped-uris.json"])
def test_real_json_feeds_through_parse_feed(name: str) -> None:
    path = ODD / name
    if not path.exists():
        pytest.skip(f"{ODD} is absent (the shared feed corpus)")
    raw = json.loads(path.read_bytes())
    parsed = parse_feed(path.read_bytes(), headers={"content-type": "application/json"},
                        url=raw.get("feed_url") or URL)
    assert parsed.title == raw["title"] and len(parsed.items) == len(raw["items"])
    for item, source in zip(parsed.items, raw["items"], strict=True):
        assert item.guid == str(source["id"])
        assert item.link and item.link.startswith("http")
        assert item.published is not None
        assert item.content or item.summary
    assert any(item.author for item in parsed.items)
