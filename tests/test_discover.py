"""HTML pages given as feed URLs (watcher/discover.py): detection and advertised feeds."""

from __future__ import annotations

import pytest

from watcher.discover import advertised_feeds, html_page_problem, looks_like_html
from watcher.parse import parse_feed

URL = "https://news.example/section/page"


@pytest.mark.parametrize(("body", "expected"), [
    (b"<!DOCTYPE html><html></html>", True),
    (b"\xef\xbb\xbf\n  <html lang=en>", True),
    (b"<!-- generated --><!doctype HTML>", True),
    (b"<?xml version='1.0'?><rss version='2.0'></rss>", False),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", False),
    (b"<!-- never closed <html>", False),
    (b"<rss><channel><description><html>x</html></description></channel></rss>", False),
])
def test_html_detection(body: bytes, expected: bool) -> None:
    assert looks_like_html(body) is expected


@pytest.mark.parametrize(("head", "expected"), [
    ('<link rel="alternate" type="application/rss+xml" href="/rss">',
     ("https://news.example/rss",)),
    ("<LINK HREF='feed.atom' TYPE='application/atom+xml' REL='Alternate'>",
     ("https://news.example/section/feed.atom",)),
    ('<link rel="alternate feed" type="application/feed+json; charset=utf-8" '
     'href="https://cdn.example/f.json">', ("https://cdn.example/f.json",)),
    ('<base href="https://other.example/"><link rel=alternate type=application/rss+xml '
     'href=x.xml>', ("https://other.example/x.xml",)),
    ('<link rel="stylesheet" type="text/css" href="/s.css">'
     '<link rel="alternate" type="text/html" hreflang="fr" href="/fr">', ()),
    ('<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">', ()),
    ('<link rel="alternate" type="application/rss+xml" href="/a">'
     '<link rel="alternate" type="application/atom+xml" href="/a">'
     '<link rel="alternate" type="application/atom+xml" href="/b">',
     ("https://news.example/a", "https://news.example/b")),
    ('<!-- <link rel="alternate" type="application/rss+xml" href="/hidden"> -->', ()),
])
def test_advertised_feeds(head: str, expected: tuple[str, ...]) -> None:
    page = f"<!DOCTYPE html><html><head><title>News</title>{head}</head><body></body></html>"
    assert advertised_feeds(page.encode(), URL) == (expected, "News")


def test_parse_feed_returns_the_page_not_an_xml_error() -> None:
    page = (b"<!DOCTYPE html><html><head><link rel=alternate type=application/rss+xml "
            b"href=/rss></head><body><p>unclosed<b></body></html>")
    parsed = parse_feed(page, headers={"content-type": "text/html"}, url=URL)
    assert parsed.html_page and parsed.items == ()
    assert parsed.advertised == ("https://news.example/rss",)
    assert "advertises the feed https://news.example/rss (use that URL)" in \
        html_page_problem(parsed.advertised)
    assert html_page_problem(()).endswith("(the page advertises no feed)")
