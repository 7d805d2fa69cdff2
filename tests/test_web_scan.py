"""The query tester's literal scan never loses a match: its results equal the matcher's over
every stored item, on tricky text (markup splitting words, entities, accents, Turkish,
Cyrillic, ligatures) on both stores, and on the real and hostile feed corpora."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.servers.postgres import pg_database, pg_dsn, pg_server  # noqa: F401
from watcher.query import compile_query
from watcher.store import Store, open_store
from watcher.store.reports import MAX_PARTS, Reports
from watcher.store.sql import SQLStore
from watcher.web import tester
from watcher.web.app import query_tester as scan_and_match
from watcher.web.scan import Folds, candidates, literal_plan
from watcher.web.tester import run_tester

T = 1_700_000_000.0
ALIASES = {"ships": ("frigate", "corvette")}
TRICKY = [
    ("Fri<b>gate</b> spotted", "<p>A fri<i>g</i>ate &amp; a corvette.</p>", ""),
    ("Fr&eacute;gate Türkiye", "TÜRKİYE&#39;s navy", ""),
    ("&lt;frigate&gt; in brackets", "x < y and z > w frigate", ""),
    ("Straße und Maß", "Die Fregatte fährt", "<script>frigate()</script>"),
    ("Фрегат «Адмирал»", "Корвет вышел в море", ""),
    ("ﬁnance ™ logo", "The ﬁrst frigate", "<!-- frigate --> nothing"),
    ("S-400 and MQ-9", "the S‑400 system", "Bayraktar TB2 drones"),
    ("Nothing here", "plain text about weather", ""),
    ("Curly ‘quotes’ — dash", "“Frigate” said the navy’s man…", ""),
    ("Kaan jet", "TUSAŞ KAAN fighter", "<a href='frigate'>link text</a>"),
    ("Fri\u00adgate mit wei\u00adchem Trenn", "cor\u200dvette", "fri&shy;gate"),
    ("Фре\u0301гат", "x fri&lt;b&gt;gate y", "<b title=\"a>b\">fri</b>gate"),
    ("ФРЕГАТ & Co", "КОРВЕТ < 3 & Frigate", ""),   # markup that decodes to itself
]
QUERIES = ["frigate", "fregate", "@ships", "turkiye", "türkiye", "фрегат", "корвет",
           "strasse", "mass", "finance", "first AND frigate", "S-400", "MQ-9", "tb2",
           '"fighter jet" OR kaan', "frigate AND NOT corvette", "frig*", "navy NEAR/3 frigate",
           "title:frigate", "weather OR quotes", "tusas", "nothing AND NOT here", "NOT frigate",
           "/fri.ate/", "article:amp", "article:eacute", "article:frigate AND NOT title:frigate",
           "category:navy", "category:türkiye AND title:frigate", "author:yilmaz",
           "feed:fleet AND NOT category:navy", "author:ayse OR title:kaan"]


def fill(store: Store, rows: list[tuple[str, str, str]]) -> None:
    with store.transaction():
        for n, (title, summary, content) in enumerate(rows):
            article = ("The article: fr&eacute;gate &amp; frigate <b>x</b> корвет"
                       if n % 3 == 0 else "")
            store.insert_item(feed_url="https://f.example/rss", key=f"k{n}", canonical_url=None,
                              content_hash=f"h{n}", feed_name="Fleet News" if n % 4 else "F",
                              title=title, link=f"https://f.example/{n}", summary=summary,
                              content=content, author="Ayşe Yılmaz" if n % 3 == 1 else "",
                              categories=["Türkiye", "Navy"] if n % 2 else [],
                              published_at=T, seen_at=T + n, matched=[], story_id=None,
                              article=article)


def same(a: tester.TesterResult, b: tester.TesterResult) -> None:
    assert (a.scanned, a.matched) == (b.scanned, b.matched)
    assert [(i.title, i.terms) for i in a.items] == [(i.title, i.terms) for i in b.items]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    dsn = (str(tmp_path / "state.db") if request.param == "sqlite"
           else str(request.getfixturevalue("pg_database")))
    store = open_store(dsn)
    fill(store, TRICKY)
    assert isinstance(store, SQLStore)
    yield store
    store.close()


@pytest.fixture
def reports(store: SQLStore) -> Reports:
    return Reports(store)


@pytest.mark.parametrize("query", QUERIES)
def test_the_scan_gives_the_matchers_results_on_tricky_text(reports: Reports, query: str) -> None:
    full = run_tester(query, ALIASES, reports.items_since(0))
    same(scan_and_match(reports, query, ALIASES, 0), full)
    folds = Folds()
    same(scan_and_match(reports, query, ALIASES, 0, folds), full)   # filling the memo
    same(scan_and_match(reports, query, ALIASES, 0, folds), full)   # from the memo


def test_the_text_in_parts_holds_every_item_once_and_gives_the_same_results(
        store: SQLStore) -> None:
    parts = list(Reports(store, text_part=3.0).search_texts(0))   # seen a second apart
    assert len(parts) == 4 and sum(n for n, _ in parts) == len(TRICKY)
    rows = sorted(row for _, text in parts for row in text.split(b"\x01"))
    assert rows == sorted(Reports(store).search_text(0)[1].split(b"\x01"))
    assert list(Reports(store).search_texts(T + len(TRICKY))) == []   # nothing seen since
    many = list(Reports(store, text_part=0.001).search_texts(0))
    assert len(many) == MAX_PARTS and sum(n for n, _ in many) == len(TRICKY)
    in_parts = Reports(store, text_part=2.0)
    folds = Folds()
    for query in QUERIES:
        full = run_tester(query, ALIASES, in_parts.items_since(0))
        same(scan_and_match(in_parts, query, ALIASES, 0, folds), full)
        same(scan_and_match(in_parts, query, ALIASES, T + 5), run_tester(
            query, ALIASES, in_parts.items_since(T + 5)))


def test_the_scan_narrows_and_says_when_it_cannot_help(reports: Reports) -> None:
    count, text = reports.search_text(0)
    assert count == len(TRICKY)
    plan = literal_plan(compile_query("frigate").root)
    assert plan is not None
    got = candidates(text, count, plan)
    assert got is not None and 0 < len(got) < count
    title_only = literal_plan(compile_query("title:frigate AND NOT author:x").root)
    assert title_only is not None and title_only.fields == ("title", "author")
    fewer, narrow = reports.search_text(0, title_only.fields)   # only the fields it looks in
    assert fewer == count and len(narrow) < len(text) // 2
    in_titles = candidates(narrow, fewer, title_only)
    assert in_titles is not None and 0 < len(in_titles) < len(got)
    assert literal_plan(compile_query("NOT frigate").root) is None
    assert literal_plan(compile_query("/fri.ate/").root) is None
    assert candidates(text + b"\x01junk", count, plan) is None    # misaligned: scan all
    assert candidates(b"", 0, plan) == []
    assert candidates(b"x\x02frigate", 1, plan) is None          # no id
    assert candidates(b"1\x02fri\xffgate & more", 1, plan) is None   # not UTF-8


def test_one_memo_serves_query_after_query(reports: Reports) -> None:
    """The dashboard keeps one memo for every query: what an ASCII query kept of an item
    (Cyrillic needs no folding for it) must not hide a match from a Cyrillic one, and a
    memo that empties itself when full still gives the matcher's results."""
    for folds in (Folds(), Folds(budget=300)):
        for query in [*QUERIES, *reversed(QUERIES)]:
            full = run_tester(query, ALIASES, reports.items_since(0))
            same(scan_and_match(reports, query, ALIASES, 0, folds), full)


def test_an_item_holding_the_row_separator_is_matched_in_full(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    fill(store, [*TRICKY, ("frigate \x01 corvette", "\x02frigate", "")])
    assert isinstance(store, SQLStore)
    reports = Reports(store)
    count, text = reports.search_text(0)
    plan = literal_plan(compile_query("frigate").root)
    assert plan is not None and candidates(text, count, plan) is None
    for query in ("frigate", "@ships AND NOT корвет"):
        same(scan_and_match(reports, query, ALIASES, 0),
             run_tester(query, ALIASES, reports.items_since(0)))
    store.close()


CORPORA = [SHARED / "feeds" / "real", SHARED / "feeds" / "hostile"]
CORPUS_QUERIES = ["navy OR frigate", "turkey OR türkiye", "s-400", "erdogan AND NOT greece",
                  "president", "china NEAR/10 trade", "@ships", "nokia", "café", "script",
                  "москва OR россия", "中国", "biden*", "title:police"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reports]:
    if not all(c.is_dir() for c in CORPORA):
        pytest.skip(f"the feed corpora are absent ({SHARED / 'feeds'})")
    from watcher.errors import ParseError
    from watcher.parse import parse_feed

    store = open_store(str(tmp_path_factory.mktemp("scan") / "state.db"))
    rows = []
    for folder in CORPORA:
        for doc in sorted(folder.iterdir()):
            try:
                parsed = parse_feed(doc.read_bytes(), headers={}, url=doc.as_uri())
            except ParseError:
                continue
            rows += [(i.title, i.summary, i.content) for i in parsed.items]
    fill(store, rows)
    assert isinstance(store, SQLStore)
    yield Reports(store)
    store.close()


@pytest.mark.parametrize("query", CORPUS_QUERIES)
def test_the_scan_gives_the_matchers_results_on_the_corpora(corpus: Reports, query: str) -> None:
    full = run_tester(query, ALIASES, corpus.items_since(0))
    assert full.scanned > 2000
    same(scan_and_match(corpus, query, ALIASES, 0), full)
