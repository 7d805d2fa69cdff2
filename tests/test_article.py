"""Article pages: main-text extraction, identity URL, outcomes, charsets, the teaser rule."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support.articles import DATA, needs_seed, seed_page, seed_teaser
from tests.support.corpus import SHARED
from tests.support.runner import REPO
from watcher.article.extract import MAX_TEXT_BYTES, Outcome, cap_text, extract
from watcher.article.page import decode_html, is_home_page, site_of
from watcher.article.policy import TEASER_WORDS, needs_article
from watcher.config import load_config
from watcher.models import Item
from watcher.query import Document, Matcher, make_snippet

ARTICLES = SHARED / "articles"
SEED_URL = ("https://www.defensenews.com/global/europe/2021/10/12/"
            "turkey-russia-pledge-defense-industry-cooperation/")
HTML = {"content-type": "text/html; charset=utf-8"}
DEFAULT = load_config(REPO / "config" / "watcher.toml", {})

needs_articles = pytest.mark.skipif(not ARTICLES.is_dir(),
                                    reason=f"{ARTICLES} not found (../shared)")


def seed_matcher() -> Matcher:
    return Matcher({p.name: p.query for p in DEFAULT.profiles}, dict(DEFAULT.aliases))


# ------------------------------------------------------------------ main text


@needs_seed
def test_seed_page_gives_the_story_without_its_surroundings() -> None:
    got = extract(seed_page(), SEED_URL + "?utm_source=rss", HTML)
    assert got.outcome is Outcome.OK and not got.truncated
    assert got.text.startswith("ANKARA, Turkey — Challenging Western sanctions")
    assert "the engine for Turkey’s future fighter, dubbed TF-X" in got.text
    assert "TAI hopes to fly the TF-X in 2025 or 2026" in got.text
    for chrome in ("Most read", "Turkey weighs second S-400 batch", "hypersonic",  # rail, nav
                   "Kaveri", "Eurofighter", "aviation_fan",                      # comments
                   "Sightline", "zeppelin", "Privacy",                           # footer
                   "Lockheed", "Share on", "Newsletters"):                       # ad, share, nav
        assert chrome not in got.text, chrome
    assert got.identity == ("https://defensenews.com/global/europe/2021/10/12/"
                            "turkey-russia-pledge-defense-industry-cooperation")


@needs_seed
def test_seed_article_behind_its_teaser_alerts_every_seed_profile() -> None:
    matcher = seed_matcher()
    title = "Turkey, Russia pledge defense industry cooperation"
    teaser = Document(title=title, summary=seed_teaser(), feed="Defense News")
    assert "TF-X engine" not in {m.profile for m in matcher.match(teaser)}
    article = extract(seed_page(), SEED_URL, HTML).text
    whole = Document(title=title, summary=seed_teaser(), article=article, feed="Defense News")
    matches = matcher.match(whole)
    assert sorted(m.profile for m in matches) == sorted(matcher.profiles())
    tfx = next(m for m in matches if m.profile == "TF-X engine")
    snippet = make_snippet(whole, tfx)
    assert snippet.field == "article"
    bold = [snippet.text[a:b] for a, b in snippet.bold]
    assert "TF-X" in bold and "engine" in bold


@needs_seed
def test_a_page_whose_rail_names_the_story_alerts_nothing() -> None:
    got = extract((DATA / "unrelated.html").read_bytes(),
                  "https://www.springfield-ledger.example/local/bike-lanes", {})
    assert got.outcome is Outcome.OK
    assert "bike lanes" in got.text and "S-400" not in got.text and "Turkey" not in got.text
    assert got.identity is None  # its canonical and og:url are the home page
    doc = Document(title="City council approves new bike lanes downtown", article=got.text)
    assert seed_matcher().match(doc) == []


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text)
    return Counter(tuple(tokens[i:i + 4]) for i in range(max(1, len(tokens) - 3)))


# a handful of ../shared/articles pages: BBC, the New York Times (marked not free, but the
# whole text is there), TechCrunch, a blog, a Russian and a Japanese page
SHARED_PAGES = ["c7e39ac4", "702d1da6", "1ace8c85", "0e014df6", "3c6d3381", "85439e26"]


@needs_articles
@pytest.mark.parametrize("prefix", SHARED_PAGES)
def test_shared_pages_give_their_true_body(prefix: str) -> None:
    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    key = next(k for k in truth if k.startswith(prefix))
    page = gzip.decompress((ARTICLES / "html" / f"{key}.html.gz").read_bytes())
    got = extract(page, truth[key]["url"], {"content-type": "text/html"})
    assert got.outcome is Outcome.OK
    want, have = _shingles(truth[key]["articleBody"]), _shingles(got.text)
    common = sum((want & have).values())
    assert common / sum(have.values()) >= 0.8   # precision: little that is not the story
    assert common / sum(want.values()) >= 0.8   # recall: most of the story


@needs_articles
def test_shared_paywalled_page_is_a_paywall_stub() -> None:
    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    key = next(k for k, v in truth.items() if "wsj.com/articles/google-stadia" in v["url"])
    page = gzip.decompress((ARTICLES / "html" / f"{key}.html.gz").read_bytes())
    got = extract(page, truth[key]["url"], {"content-type": "text/html"})
    assert got.outcome is Outcome.PAYWALL and got.text == ""
    assert got.identity is not None and got.identity.startswith("https://wsj.com/articles/")


# ------------------------------------------------------------------ outcomes and caps


def _page(body: str, head: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title>{head}</head>"
            f"<body><nav><a href='/'>Home</a></nav><article>{body}</article>"
            "<footer>© Example</footer></body></html>").encode()


STORY = "".join(f"<p>Paragraph {i}: the navy said the new frigate would sail in spring, "
                f"after sea trials off the coast, officials told reporters on Tuesday.</p>"
                for i in range(12))
NOT_FREE = ('<script type="application/ld+json">{"@type":"NewsArticle",'
            '"isAccessibleForFree": false}</script>')
NOT_FREE_MICRODATA = '<meta itemprop="isAccessibleForFree" content="False">'
STUB = ("<p>The navy said the new frigate would sail in spring, officials told reporters on "
        "Tuesday, after a long wait.</p><p>Subscribe to continue reading.</p>")


@pytest.mark.parametrize(("html_bytes", "outcome"), [
    (b"", Outcome.EMPTY),
    (b"   \n", Outcome.EMPTY),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", Outcome.EMPTY),
    (_page("<script>document.write('app')</script>"), Outcome.EMPTY),
    (_page("<p>Photo gallery</p>"), Outcome.EMPTY),
    (_page(STORY), Outcome.OK),
    (_page(STORY, NOT_FREE), Outcome.OK),              # metered: the whole text is there
    (_page(STUB, NOT_FREE), Outcome.PAYWALL),
    (_page(STUB, NOT_FREE_MICRODATA), Outcome.PAYWALL),
    (_page(STUB), Outcome.OK),                          # short, but not said to be paid
    (_page(STORY + "<p>x</p>" * 15_000), Outcome.TOO_LARGE),
    (b"<html><body>" + b"<p>x y z</p>" * 5_000_000, Outcome.TOO_LARGE),  # 60 MB: 5 MB read
])
def test_outcomes(html_bytes: bytes, outcome: Outcome) -> None:
    got = extract(html_bytes, "https://example.org/news/1", HTML)
    assert got.outcome is outcome
    assert (got.text != "") is (outcome is Outcome.OK)


def test_text_is_capped_on_a_word() -> None:
    paras = "".join(f"<p>Part {i}: " + "frigate sails " * 400 + "</p>" for i in range(40))
    got = extract(_page(paras), "https://example.org/news/1", HTML)
    assert got.outcome is Outcome.OK and got.truncated
    assert len(got.text.encode()) <= MAX_TEXT_BYTES
    assert got.text.endswith(("frigate", "sails"))


@pytest.mark.parametrize(("text", "limit", "want", "cut"), [
    ("short", 100, "short", False),
    ("aaa bbb ccc", 9, "aaa bbb", True),
    ("ğğğğ", 5, "ğğ", True),              # never half a UTF-8 character
    ("x" * 50, 10, "x" * 10, True),       # no space near the end: cut at the byte limit
])
def test_cap_text(text: str, limit: int, want: str, cut: bool) -> None:
    assert cap_text(text, limit) == (want, cut)


# ------------------------------------------------------------------ charsets


TURKISH = "Türkiye'nin denizaltı programı gecikiyor; Erdoğan açıklama yaptı"


@pytest.mark.parametrize(("body", "headers"), [
    (TURKISH.encode("utf-8"), {"content-type": "text/html; charset=utf-8"}),
    (TURKISH.encode("utf-8"), {}),                                         # valid UTF-8
    (TURKISH.encode("iso-8859-9"), {"content-type": "text/html; charset=iso-8859-9"}),
    (b"<meta charset='windows-1254'>" + TURKISH.encode("cp1254"), {}),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-9">'
     + TURKISH.encode("iso-8859-9"), {"content-type": "text/html"}),
    # the HTTP charset wins over the page's own declaration, as for feeds
    (b"<meta charset='utf-8'>" + TURKISH.encode("cp1254"),
     {"content-type": "text/html; charset=windows-1254"}),
    (b"\xef\xbb\xbf" + TURKISH.encode("utf-8"), {"content-type": "text/html; charset=latin-1"}),
])
def test_charsets(body: bytes, headers: dict[str, str]) -> None:
    assert TURKISH in decode_html(body, headers)


def test_undeclared_non_utf8_is_read_as_windows_1252() -> None:
    assert "café – naïve" in decode_html("café – naïve".encode("cp1252"), {})


def test_extract_reads_the_page_charset() -> None:
    body = ("<html><head><meta charset='iso-8859-9'></head><body><article>"
            + "".join(f"<p>{i}. {TURKISH}.</p>" for i in range(8))
            + "</article></body></html>").encode("iso-8859-9")
    got = extract(body, "https://example.org/haber/1", {"content-type": "text/html"})
    assert got.outcome is Outcome.OK and TURKISH in got.text


# ------------------------------------------------------------------ identity URL


PAGE = "https://www.example.co.uk/news/2024/05/01/frigate-sails?ref=rss"


@pytest.mark.parametrize(("head", "identity"), [
    ('<link rel="canonical" href="https://www.example.co.uk/news/frigate-sails">',
     "https://example.co.uk/news/frigate-sails"),
    ('<link rel="canonical" href="/news/frigate-sails?utm_source=x">',          # relative
     "https://example.co.uk/news/frigate-sails"),
    ('<link rel="canonical" href="https://amp.example.co.uk/news/frigate-sails">',  # same site
     "https://example.co.uk/news/frigate-sails"),             # (and AMP folded)
    ('<link rel="Canonical" href=" https://example.co.uk/n/1 ">', "https://example.co.uk/n/1"),
    ('<meta property="og:url" content="https://example.co.uk/news/og">',
     "https://example.co.uk/news/og"),
    ('<link rel="canonical" href="https://example.co.uk/c"><meta property="og:url" '
     'content="https://example.co.uk/og">', "https://example.co.uk/c"),     # canonical first
    ('<link rel="canonical" href="https://other.co.uk/news/frigate-sails">', None),  # other site
    ('<link rel="canonical" href="https://co.uk/news/x">', None),
    ('<link rel="canonical" href="https://www.example.co.uk/">', None),      # home page
    ('<link rel="canonical" href="https://www.example.co.uk/index.html">', None),
    ('<meta property="og:url" content="https://example.co.uk">', None),
    ('<link rel="canonical" href="https://other.org/x"><meta property="og:url" '
     'content="https://example.co.uk/news/og">', "https://example.co.uk/news/og"),
    ('<link rel="canonical" href="javascript:alert(1)">', None),
    ('<link rel="canonical" href="http://[::1">', None),                     # malformed
    ('<link rel="canonical" href="">', None),
    ("", None),
])
def test_identity_url(head: str, identity: str | None) -> None:
    got = extract(_page(STORY, head), PAGE, HTML)
    assert got.outcome is Outcome.OK
    assert got.identity == identity


@pytest.mark.parametrize(("url", "site"), [
    ("https://www.bbc.co.uk/news/1", "bbc.co.uk"),
    ("https://feeds.bbc.co.uk/x", "bbc.co.uk"),
    ("https://someone.blogspot.com/2024/x", "someone.blogspot.com"),   # a private suffix
    ("http://127.0.0.1:8080/page", "127.0.0.1"),
    ("http://localhost/page", "localhost"),
])
def test_site_of(url: str, site: str) -> None:
    assert site_of(url) == site


@pytest.mark.parametrize(("url", "home"), [
    ("https://example.org", True), ("https://example.org/", True),
    ("https://example.org/index.php", True), ("https://example.org/HOME/", True),
    ("https://example.org/?p=123", False), ("https://example.org/news/", False),
])
def test_is_home_page(url: str, home: bool) -> None:
    assert is_home_page(url) is home


# ------------------------------------------------------------------ the teaser rule


def _item(summary: str = "", content: str = "", link: str | None = "https://example.org/a"
          ) -> Item:
    return Item(feed_url="https://example.org/rss", feed_name="Example", guid="g", link=link,
                title="Turkey weighs second S-400 batch", summary=summary, content=content)


SHORT = "Turkey may buy a second batch of S-400 systems, an official said."
LONG = " ".join(["word"] * TEASER_WORDS)
JUST_UNDER = " ".join(["word"] * (TEASER_WORDS - 1))


@pytest.mark.parametrize(("item", "auto", "always"), [
    (_item(SHORT), True, True),
    (_item(), True, True),                                       # no text at all
    (_item(JUST_UNDER), True, True),
    (_item(LONG), False, True),                                   # a full summary
    (_item(SHORT, f"<div><p>{LONG}</p></div>"), False, True),    # full content:encoded
    (_item(SHORT, f"<p>{SHORT}</p>"), True, True),               # a teaser in content:encoded
    (_item("<p>" + "<b>x</b> " * 10 + "</p>" + "&nbsp;" * 500), True, True),  # markup only
    (_item(SHORT, link=None), False, False),                      # nothing to fetch
    (_item(SHORT, link=""), False, False),
    (_item(SHORT, link="ftp://example.org/a"), False, False),
    (_item(SHORT, link="javascript:alert(1)"), False, False),
    (_item(SHORT, link="HTTPS://EXAMPLE.ORG/A"), True, True),
])
def test_needs_article(item: Item, auto: bool, always: bool) -> None:
    assert needs_article(item, "auto") is auto
    assert needs_article(item, "always") is always
    assert needs_article(item, "never") is False


# ------------------------------------------------------------------ import cost


@pytest.mark.slow
def test_daemon_side_modules_do_not_import_the_extraction_library() -> None:
    probe = ("import sys, watcher.article, watcher.article.policy, watcher.config, "
             "watcher.query, watcher.daemon, watcher.cli; "
             "print(sorted(m for m in ('trafilatura', 'lxml', 'justext', 'htmldate') "
             "if m in sys.modules))")
    got = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=REPO, check=True, timeout=120)
    assert got.stdout.strip() == "[]"


def test_the_page_frame_is_ours() -> None:
    frame = (DATA / "seed-frame.html").read_text(encoding="utf-8")
    assert frame.count("{{ARTICLE}}") == 1 and "Erdogan" not in frame
    assert Path(DATA / "unrelated.html").is_file()
