"""watcher.text, the one HTML-to-text step, and the values stored from it.

Content hashes, item keys, story signatures and an item's stored title, summary and content
all come from it; they must be what they were before it existed (tests/legacy_text.py keeps
the two normalisers it replaced), on generated markup and on every item of the shared
corpus (../shared, skipped when absent).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import legacy_text
from watcher import dedup
from watcher.errors import ParseError
from watcher.parse import parse_feed
from watcher.text import (
    HASHING,
    READING,
    TextRules,
    _parsed_text,
    _simple_text,
    html_to_text,
    plain_text,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
FEEDS = SHARED / "feeds"
ARTICLES = SHARED / "articles" / "html"
BOUNDED = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])
RULES = pytest.mark.parametrize("rules", [READING, HASHING], ids=["reading", "hashing"])

# markup pieces, the tags each rule set treats differently among them, and escaped markup
# (text that shows a tag: plain_text decodes it, dedup decodes it once more)
HTMLISH = st.lists(st.sampled_from(
    ["<p>", "</p>", "<b", ">", "&amp;", "&", "&#", "&#x41;", "&nbsp;", "<!--", "-->", "<![CDATA[",
     "]]>", "<script>", "</script>", "<a href='x'>", "text", " ", "<", "&unknown;", "\x00",
     "<br/>", "<br />", "<img src=x/>", "<img src='a.png'/>", "<dt>", "</dd>", "<table>",
     "<template>", "</template>", "<noscript>", "</noscript>", "<P>", "\n", "&#10;", "S-400",
     "İ", "&lt;dt&gt;", "&amp;lt;p&amp;gt;", "&lt;noscript&gt;", "(Reuters) - ", "ANKARA",
     "The post", " appeared first on ", "Read more", "…", "\u2014", "<td>", "<hr>"]),
    max_size=24).map("".join)
TEXT = st.one_of(st.text(max_size=200), HTMLISH)


def _stored(title: str, summary: str, content: str, guid: str | None, link: str | None,
            hash_: object, key: object, signature: object) -> tuple[str, ...]:
    """What the pipeline stores for an item (watcher.prepare.Prepared, story signature)."""
    t, s, c = (plain_text(title), plain_text(summary), plain_text(content))
    text = f"{s}\n{c}"
    return (t, s, c, hash_(t, text), key(guid, link, t, text),  # type: ignore[operator]
            signature(t, s).dumps())  # type: ignore[operator]


def _legacy_signature(title: str, summary: str) -> dedup.StorySignature:
    def tokens(text: str, limit: int) -> tuple[str, ...]:
        words = legacy_text.dedup_normalize(text).split()
        kept = [dedup._stem(w) for w in words if w not in dedup.STOP_WORDS] or words
        return tuple(kept[:limit])

    text = dedup._TRAILER.sub("", legacy_text.dedup_plain_text(summary))
    return dedup.StorySignature(tokens(title, dedup.MAX_TITLE_TOKENS),
                                tokens(dedup._DATELINE.sub("", text, count=1),
                                       dedup.MAX_SUMMARY_TOKENS))


def _legacy_hash(title: str, text: str) -> str:
    folded = f"{legacy_text.dedup_normalize(title)}\n{legacy_text.dedup_normalize(text)}"
    return hashlib.sha256(folded.encode()).hexdigest()


def _legacy_key(guid: str | None, link: str | None, title: str, text: str) -> str:
    if guid and guid.strip():
        return "id:" + guid.strip()
    if link and link.strip():
        return "url:" + dedup.canonical_url(link)
    return "hash:" + _legacy_hash(title, text)


def assert_stored_values_unchanged(title: str, summary: str, content: str = "",
                                   guid: str | None = None, link: str | None = None) -> None:
    old_plain = [legacy_text.query_plain_text(x) for x in (title, summary, content)]
    new = _stored(title, summary, content, guid, link, dedup.content_hash, dedup.item_key,
                  dedup.story_signature)
    assert list(new[:3]) == old_plain
    old = _stored(title, summary, content, guid, link, _legacy_hash, _legacy_key,
                  _legacy_signature)
    assert new == old


# -- the same answers as before -----------------------------------------------------------

@BOUNDED
@given(TEXT)
def test_plain_text_is_the_old_query_plain_text(text: str) -> None:
    assert plain_text(text) == legacy_text.query_plain_text(text)


@BOUNDED
@given(TEXT)
def test_hash_folding_is_the_old_dedup_normalize(text: str) -> None:
    assert dedup.fold_for_hash(text) == legacy_text.dedup_normalize(text)


@BOUNDED
@given(TEXT, TEXT, TEXT)
def test_stored_values_are_unchanged_on_generated_items(title: str, summary: str,
                                                        content: str) -> None:
    assert_stored_values_unchanged(title, summary, content)


@pytest.mark.parametrize(("title", "summary"), [
    ("Why &lt;dt&gt;tags&lt;/dt&gt;matter", "a&lt;img&gt;b &lt;noscript&gt;x&lt;/noscript&gt;"),
    ("t", "&lt;p&gt;ANKARA (Reuters) - Turkey&amp;#10;buys&lt;br/&gt;S-400s"),
    ("T&amp;amp;C", "<p>The post X</p><p>appeared first on Y.</p>"),
])
def test_stored_values_are_unchanged_where_the_two_old_rules_differed(title: str,
                                                                      summary: str) -> None:
    """Escaped markup is decoded once for the stored text and once more for the hash, with
    the old (smaller) set of word-breaking elements: the answers differ from READING's."""
    assert_stored_values_unchanged(title, summary)


def test_hashing_rules_are_not_reading_rules() -> None:
    """Why HASHING stays frozen: with READING's rules, hashes of items whose text shows
    markup would change, and an item keyed by its hash would be alerted again."""
    shown = plain_text("a&lt;dt&gt;b &lt;noscript&gt;c&lt;/noscript&gt;")
    assert shown == "a<dt>b <noscript>c</noscript>"
    assert (html_to_text(shown, HASHING), html_to_text(shown, READING)) == ("ab c", "a b ")


def _corpus_items() -> list[tuple[str, str, str, str | None, str | None]]:
    items = []
    for path in sorted(p for p in FEEDS.rglob("*") if p.is_file() and p.suffix != ".tsv"):
        try:
            parsed = parse_feed(path.read_bytes(), headers={}, url="https://feeds.example.org/f")
        except ParseError:
            continue
        items += [(i.title, i.summary, i.content, i.guid, i.link) for i in parsed.items]
    return items


@pytest.mark.skipif(not FEEDS.is_dir(), reason=f"feed corpus not found at {FEEDS}")
def test_stored_values_are_unchanged_on_every_corpus_item() -> None:
    items = _corpus_items()
    assert len(items) > 500
    for title, summary, content, guid, link in items:
        assert_stored_values_unchanged(title, summary, content, guid, link)
        assert_stored_values_unchanged(title, summary, content)   # keyed by content hash


@pytest.mark.skipif(not ARTICLES.is_dir(), reason=f"article pages not found at {ARTICLES}")
def test_stored_values_are_unchanged_on_whole_article_pages() -> None:
    pages = sorted(ARTICLES.glob("*.html.gz"))
    assert len(pages) > 100
    for page in pages:
        markup = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
        assert_stored_values_unchanged(page.name, markup)


# -- the fast path is html.parser's answer ------------------------------------------------

@RULES
@BOUNDED
@given(text=TEXT)
def test_simple_reading_agrees_exactly_with_html_parser(rules: TextRules, text: str) -> None:
    simple = _simple_text(text, rules)
    if simple is not None:
        assert simple == _parsed_text(text, rules)


@RULES
@pytest.mark.parametrize("text", [
    "<p>a &amp; b</p>", "<a href=\"x\" class=y>link</a> &lt;x", "a<br/>b", "<P>up</P>",
    "<img src='a.png' alt=\"\"/>x", "<b>S</b>-<i>400</i>", "T&uuml;rkiye<p>x", "&am<b>p;",
    "a<br />b<img src=x/>c",
])
def test_simple_reading_takes_common_markup(rules: TextRules, text: str) -> None:
    simple = _simple_text(text, rules)
    assert simple is not None and simple == _parsed_text(text, rules)


@RULES
@pytest.mark.parametrize("text", ["<!-- c -->x", "a < b", "<p title=\"a>b\">x</p>",
                                  "<script>x</script>", "<!DOCTYPE html>", "<my-tag>x",
                                  "<noscript>x</noscript>"])
def test_simple_reading_declines_the_rest(rules: TextRules, text: str) -> None:
    assert _simple_text(text, rules) is None


# -- what plain_text gives ----------------------------------------------------------------

@pytest.mark.parametrize(("markup", "text"), [
    ("<p>Piri&nbsp;Reis</p><p>Type 214</p>", "Piri Reis Type 214"),
    ("a<dt>b</dt><dd>c</dd><img src=x>d", "a b c d"),
    ("x<script>S-400()</script><style>.a{}</style><template>t</template><noscript>n</noscript>y",
     "xy"),
    ("AT&amp;T &lt;b&gt;", "AT&T <b>"),
    ("plain   text\n", "plain text"),
])
def test_plain_text(markup: str, text: str) -> None:
    assert plain_text(markup) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_plain_text_never_raises_and_is_collapsed(text: str) -> None:
    out = plain_text(text)
    assert out == out.strip()
    assert "  " not in out


@settings(max_examples=200, deadline=None)
@given(HTMLISH)
def test_plain_text_never_raises_on_html_soup(text: str) -> None:
    out = plain_text(text)
    assert out == " ".join(out.split())
    assert "<script>" not in plain_text("<b>x</b> " + text.replace("<!--", "").replace("<!", ""))
