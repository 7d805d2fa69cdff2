"""watcher.parse: documents made by the test server's generator, and hand-written hostile ones."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import feedparser.mixin
import pytest

from tests.conftest import SHARED
from tests.servers.feeds import render_feed
from watcher.errors import ParseError
from watcher.models import Item
from watcher.parse import (
    MAX_ITEMS,
    MAX_TEXT,
    MAX_TITLE,
    body_hash,
    clean_text,
    install_feedparser_patches,
    parse_feed,
)

URL = "https://news.example.org/feeds/defense.xml"
WHEN = datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
ITEM: dict[str, Any] = {
    "title": "Turkey & the S-400 <second batch>", "link": "https://example.org/s400",
    "guid": "urn:item:1", "summary": "Ankara confirms talks on a second batch.",
    "published": WHEN, "author": "A. Reporter", "categories": ["Defense", "Turkey"],
}


def parse(body: bytes, headers: dict[str, str] | None = None, **kw: Any) -> tuple[Item, ...]:
    return parse_feed(body, headers=headers or {}, url=URL, **kw).items


@pytest.mark.parametrize("kind", ["rss", "atom", "rdf"])
def test_generated_documents(kind: str) -> None:
    body, content_type = render_feed(items=[ITEM, {"title": "TF-X engine", "link": "/kaan"}],
                                     title="Defense Wire", kind=kind, link="https://example.org/")
    feed = parse_feed(body, headers={"Content-Type": content_type}, url=URL)
    assert feed.title == "Defense Wire" and feed.problem is None
    first, second = feed.items
    assert first.title == "Turkey & the S-400 <second batch>"
    assert first.link == "https://example.org/s400"
    assert first.summary == "Ankara confirms talks on a second batch."
    assert first.author == "A. Reporter"
    assert first.categories == ("Defense", "Turkey")
    assert first.published == WHEN and first.published.tzinfo is not None
    assert (first.feed_url, first.feed_name) == (URL, "Defense Wire")
    if kind != "rdf":   # RSS 1.0 items have no guid of their own (feedparser uses rdf:about)
        assert first.guid == "urn:item:1"
    assert second.published is None
    assert second.link == "https://news.example.org/kaan"   # relative link resolved on the URL


def test_feed_name_falls_back_from_argument_to_title_to_url() -> None:
    body, _ = render_feed(items=[ITEM], title="Wire", kind="rss", link="https://e.org/")
    assert parse(body, feed_name="My name")[0].feed_name == "My name"
    assert parse(body)[0].feed_name == "Wire"
    untitled, _ = render_feed(items=[ITEM], title="", kind="rss", link="https://e.org/")
    assert parse(untitled)[0].feed_name == URL


def test_missing_guid_is_none_and_content_is_joined() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"
      xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>
      <item><title>a</title><content:encoded><![CDATA[<p>Body <b>text</b></p>]]></content:encoded>
      </item></channel></rss>"""
    (item,) = parse(body)
    assert item.guid is None and item.link is None
    assert "Body <b>text</b>" in item.content


def test_nul_and_control_characters_stripped() -> None:
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>S-\x00400\x07 deal\x1b</title><description>line1\r\nline2\tend\x0c"
            b"</description><author>x\x00y</author><link>https://e.org/a</link></item>"
            b"</channel></rss>")
    (item,) = parse(body)
    for text in (item.title, item.summary, item.author):
        assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)
    assert item.title == "S-400 deal"
    assert item.summary == "line1\nline2\tend"


def test_clean_text_caps_and_strips() -> None:
    assert clean_text("a\x00b\x85c\x7f\n\td", 100) == "abc\n\td"
    assert clean_text("x" * 50, 10) == "x" * 10
    assert clean_text(None, 10) == "" and clean_text(42, 10) == ""


def test_fields_and_item_count_are_capped() -> None:
    many: list[dict[str, Any]] = [{"title": f"item {i}", "guid": str(i)}
                                  for i in range(MAX_ITEMS + 5)]
    many[0]["title"] = "T" * (MAX_TITLE + 500)
    many[1]["summary"] = "s" * (MAX_TEXT + 10)
    body, _ = render_feed(items=many, title="big", kind="rss", link="https://e.org/")
    items = parse(body)
    assert len(items) == MAX_ITEMS
    assert items[0].guid == "0" and items[-1].guid == str(MAX_ITEMS - 1)   # document order
    assert len(items[0].title) == MAX_TITLE and len(items[1].summary) == MAX_TEXT


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rss version="2.0"><channel><title>&lol2;</title><item><title>&lol2;</title></item></channel></rss>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title></item></channel></rss>
"""


@pytest.mark.parametrize("body", [
    BOMB, XXE,
    XXE.replace(b"<!ENTITY", b"<!entity"),
    b"<!-- <a href='x'> -->\n" + XXE,                       # a fake element inside a comment
    XXE.decode().encode("utf-16"),                           # UTF-16 with BOM
    XXE.decode().encode("utf-16-be"),                        # UTF-16 without BOM
    b"\n\n  " + BOMB,
], ids=["bomb", "xxe", "lowercase", "comment-before", "utf16", "utf16be", "leading-space"])
def test_entity_declarations_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match=r"declares XML entities \(refused\)"):
        parse(body)


def test_entity_text_after_the_root_is_fine() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>XML security</title><item>'
            b"<title>How XXE works</title><description><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]>]]>"
            b"</description></item></channel></rss>")
    (item,) = parse(body)
    assert item.title == "How XXE works" and "ENTITY" in item.summary


@pytest.mark.parametrize("body", [b"", b"   \r\n\t ", gzip.compress(b"  ", mtime=0)],
                         ids=["empty", "blank", "gzipped-blank"])
def test_empty_document_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty document"):
        parse(body)


def test_not_a_feed_refused() -> None:
    page = parse_feed(b"<html><body><p>Hello</p></body></html>",
                      headers={"content-type": "text/html"}, url=URL)
    assert page.html_page and page.items == () and page.advertised == ()
    with pytest.raises(ParseError):
        parse(b"<p>Hello</p>", {"content-type": "text/html"})


def test_broken_document_with_entries_reports_the_problem() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>one</title><link>https://e.org/1</link></item>"
            b"<item><title>two</b></title></item></channel></rss>")
    feed = parse_feed(body, headers={}, url=URL)
    assert [i.title for i in feed.items][:1] == ["one"]
    assert feed.problem is not None and feed.problem.startswith("not well-formed XML: ")
    assert "line" in feed.problem


def test_javascript_and_other_schemes_dropped() -> None:
    items = [{"title": "a", "link": "javascript:alert(document.cookie)"},
             {"title": "b", "link": "data:text/html,<script>x</script>"},
             {"title": "c", "link": "mailto:a@b.c"},
             {"title": "d", "link": "https://ok.example/x"},
             {"title": "e", "link": "../up/page.html?q=1"}]
    body, _ = render_feed(items=items, title="t", kind="rss", link="https://e.org/")
    links = [i.link for i in parse(body)]
    assert links == [None, None, None, "https://ok.example/x",
                     "https://news.example.org/up/page.html?q=1"]


def test_summary_html_is_kept_raw_and_its_scripts_never_become_text() -> None:
    """feedparser's sanitiser is off (watcher never renders feed HTML); plain_text, which
    every summary goes through before it is matched, stored or shown, drops scripts."""
    from watcher.text import plain_text

    summary = ('<p>Ankara <a href="/rel">talks</a></p><script>S-400 deal()</script>'
               '<style>.S-400{}</style><img src=x onerror="S-400">')
    body, _ = render_feed(items=[{"title": "t", "summary": summary}], title="t", kind="rss",
                          link="https://e.org/")
    (item,) = parse(body)
    assert "<script>" in item.summary            # unsanitised: raw HTML reaches us
    assert plain_text(item.summary) == "Ankara talks"


def test_http_charset_overrides_xml_declaration() -> None:
    text = "Россия и Турция: поставки С-400"
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
            f"<title>Новости</title><item><title>{text}</title></item></channel></rss>"
            ).encode("windows-1251")
    (item,) = parse(body, {"Content-Type": "application/rss+xml; charset=windows-1251"})
    assert item.title == text and item.feed_name == "Новости"
    (wrong,) = parse(body)   # without the header the declaration is believed
    assert wrong.title != text


def test_gzip_file_served_without_content_encoding() -> None:
    body, _ = render_feed(items=[ITEM], title="t", kind="atom", link="https://e.org/")
    (item,) = parse(gzip.compress(body))
    assert item.title == ITEM["title"]


def test_gzip_bomb_without_content_encoding_refused() -> None:
    with pytest.raises(ParseError, match="larger than"):
        parse(gzip.compress(bytes(11 * 1024 * 1024)))


def test_utf16_without_bom() -> None:
    body, _ = render_feed(items=[ITEM], title="Wire", kind="rss", link="https://e.org/")
    body = body.split(b"?>", 1)[1].lstrip()    # no XML declaration
    (item,) = parse(body.decode().encode("utf-16-le"))
    assert item.title == ITEM["title"]


def test_body_hash() -> None:
    assert body_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert body_hash(b"abc") != body_hash(b"abd")


BASES = b"""<?xml version="1.0"?>
<rss version="2.0" xml:base="https://base.example/news/">
<channel><title>Bases</title>
<item><title>a</title><guid>relative/1</guid></item>
<item xml:base="sub/"><title>b</title><link>page.html</link><guid>2</guid></item>
<item xml:base="javascript:alert(1)//"><title>c</title><link>x.html</link><guid>3</guid></item>
<item><title>d</title><guid isPermaLink="false">item-4</guid><link>/abs/4</link></item>
</channel></rss>"""


def _documents() -> list[Any]:
    """Two documents made here, and four of the corpus (skipped, saying so, without it)."""
    atom, _ = render_feed(items=[ITEM, {"title": "TF-X", "link": "/kaan"}], title="Wire",
                          kind="atom", link="https://e.org/")
    docs: list[Any] = [pytest.param("bases", BASES, id="bases"),
                       pytest.param("atom", atom, id="atom")]
    for path in (SHARED / "feeds" / "real" / "al-monitor-rss2.xml",
                 SHARED / "feeds" / "real" / "straitstimes-singapore-rss2.xml",
                 SHARED / "feeds" / "real" / "evanfields-blog-atom-s400-substring.xml",
                 SHARED / "feeds" / "hostile" / "items-without-titles.xml"):
        if path.is_file():
            docs.append(pytest.param(path.name, path.read_bytes(), id=path.name))
        else:
            docs.append(pytest.param(path.name, b"", id=path.name, marks=pytest.mark.skip(
                reason=f"feed corpus not found at {SHARED / 'feeds'} (it is present in CI)")))
    return docs


@pytest.mark.parametrize(("name", "body"), _documents())
def test_memoised_base_uri_changes_no_result(name: str, body: bytes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """feedparser's base-URI function is memoised for speed: guids, links and xml:base
    (relative, nested, or of a refused scheme) come out as with the original."""
    install_feedparser_patches()
    memoised = feedparser.mixin.make_safe_absolute_uri
    assert hasattr(memoised, "cache_info")   # the memo is in place
    fast = parse_feed(body, headers={}, url=URL)
    monkeypatch.setattr(feedparser.mixin, "make_safe_absolute_uri", memoised.__wrapped__)
    assert parse_feed(body, headers={}, url=URL) == fast
    if name == "bases":
        assert [(i.guid, i.link) for i in fast.items] == [
            ("https://base.example/news/relative/1", "https://base.example/news/relative/1"),
            ("https://base.example/news/sub/2", "https://base.example/news/sub/page.html"),
            ("https://base.example/news/3", "https://base.example/news/x.html"),   # base refused
            ("item-4", "https://base.example/abs/4")]


PATCH_CHECK = """
import feedparser.mixin as mixin
import watcher.fetchpool, watcher.parse, watcher.source
original = mixin.make_safe_absolute_uri
assert not hasattr(original, "cache_info"), "patched at import"
watcher.parse.install_feedparser_patches()
patched = mixin.make_safe_absolute_uri
watcher.parse.install_feedparser_patches()
assert mixin.make_safe_absolute_uri is patched and patched.__wrapped__ is original
print("ok")
"""


@pytest.mark.slow
def test_feedparser_is_patched_only_when_a_process_starts_parsing() -> None:
    """Importing watcher.parse (or the fetch sources) changes nothing in feedparser;
    installing the patch does, and installing it again changes nothing."""
    done = subprocess.run([sys.executable, "-c", PATCH_CHECK], capture_output=True, text=True,
                          timeout=120, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
