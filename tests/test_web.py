"""The dashboard's pages and filters through Starlette's test client, on SQLite and on a real
PostgreSQL; its headers and its token; `watcher web` and `watcher run --web` from the CLI."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.servers.postgres import pg_database, pg_dsn, pg_server  # noqa: F401
from watcher.config import Config, load_config
from watcher.health import Record as HealthRecord
from watcher.models import Alert, Snippet
from watcher.store import FeedState, Store, open_store
from watcher.web.app import build_app
from watcher.web.reader import StoreReader

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
GOOD, BROKEN, GONE, QUIET = (f"https://{n}.example/rss" for n in ("good", "broken", "gone",
                                                                   "quiet"))
HOSTILE_TITLE = '<script>alert("x")</script> Frigate <img src=x onerror=alert(1)>'
PAGES = ("/", "/alerts", "/feeds", "/profiles", "/tester", "/tester?q=frigate&period=30d")

CONFIG = """
[watcher]
state = "{state}"
timezone = "Europe/Paris"

[aliases]
ships = ["frigate", "corvette"]

[[feeds]]
url = "{good}"
name = "Good News"

[[feeds]]
url = "{broken}"
name = "Broken Wire"

[[feeds]]
url = "{gone}"
name = "Gone Daily"

[[feeds]]
url = "{quiet}"
name = "Quiet Post"

[[profiles]]
name = "navy"
query = "@ships OR destroyer"
channels = ["desk", "ops"]

[[profiles]]
name = "energy"
query = "pipeline AND gas"
channels = ["desk"]

[channels.desk]
type = "console"

[channels.ops]
type = "console"
"""


@dataclass
class Board:
    config: Config
    client: TestClient
    store: Store
    ids: dict[str, int]


def write_config(tmp: Path, state: str, extra: str = "") -> Config:
    path = tmp / "watcher.toml"
    path.write_text(textwrap.dedent(CONFIG).format(state=state, good=GOOD, broken=BROKEN,
                                                   gone=GONE, quiet=QUIET) + extra,
                    encoding="utf-8")
    return load_config(path, env={})


def _item(store: Store, feed: str, name: str, key: str, title: str, seen: float,
          story: int | None = None, summary: str = "") -> int:
    return store.insert_item(feed_url=feed, key=key, canonical_url=f"{feed}/{key}",
                             content_hash=f"h-{feed}-{key}", feed_name=name, title=title,
                             link=f"https://{name.split()[0].lower()}.example/{key}",
                             summary=summary, content="", author="", categories=["world"],
                             published_at=seen, seen_at=seen, matched=[], story_id=story)


def _alert(store: Store, channel: str, profiles: tuple[str, ...], title: str, item: int,
           story: int, at: float, link: str, feed: str = "Good News",
           terms: tuple[str, ...] = ("frigate",)) -> int:
    text = f"The {terms[0]} was seen off the coast."
    start = text.index(terms[0])
    alert = Alert(id=0, channel=channel, kind="new", profiles=profiles, title=title, link=link,
                  feed=feed, published=None,
                  snippet=Snippet(text, ((start, start + len(terms[0])),)), terms=terms,
                  story_id=story)
    got = store.add_alert(alert, dedupe_key=f"{channel}:{story}", item_id=item, urgent=False,
                          now=at)
    assert got is not None
    return got


def fill(store: Store) -> dict[str, int]:
    """Four feeds (ok, failing, gone, quiet), items over 30 days, alerts in each state."""
    store.save_feed(FeedState(url=GOOD, first_polled_at=NOW - 40 * DAY, last_poll_at=NOW - 300,
                              last_success_at=NOW - 300, last_status="200", items_total=40,
                              next_poll_at=NOW + 600, last_new_item_at=NOW - 3600))
    store.save_feed(FeedState(url=BROKEN, first_polled_at=NOW - 40 * DAY,
                              last_poll_at=NOW - 60, last_success_at=NOW - 5 * DAY,
                              last_status="error", error_kind="hard", consecutive_failures=7,
                              last_error=f"{BROKEN}: HTTP 404 Not Found", next_poll_at=NOW - 1))
    store.save_feed(FeedState(url=GONE, first_polled_at=NOW - 40 * DAY, last_poll_at=NOW - 60,
                              last_status="gone", gone=True, consecutive_failures=1,
                              error_kind="hard", last_error=f"{GONE}: HTTP 410 Gone"))
    store.save_feed(FeedState(url=QUIET, first_polled_at=NOW - 40 * DAY, last_poll_at=NOW - 60,
                              last_success_at=NOW - 60, last_status="304", items_total=10,
                              next_poll_at=NOW + 60, last_new_item_at=NOW - 20 * DAY))
    ids: dict[str, int] = {}
    for d in range(25):   # one item a day for 25 days on the good feed
        ids[f"good{d}"] = _item(store, GOOD, "Good News", f"g{d}", f"Harbour report day {d}",
                                NOW - d * DAY - 100, summary="Nothing of note.")
    for d in range(20, 29):   # the quiet feed: items every day, then nothing for 20 days
        _item(store, QUIET, "Quiet Post", f"q{d}", f"Quiet item {d}", NOW - d * DAY)
        store.add_arrival(QUIET, NOW - d * DAY)
    for d in range(25):
        store.add_arrival(GOOD, NOW - d * DAY - 100)
    store.save_health_record(BROKEN, HealthRecord("failing", 1, NOW - 6 * DAY))
    story = store.insert_story("sig-frigate", ids["good0"], NOW - 3600)
    ids["frigate"] = _item(store, GOOD, "Good News", "frigate", HOSTILE_TITLE, NOW - 3600,
                           story, summary="A frigate sails past the destroyer.")
    store.update_item_story(ids["frigate"], story, "sig-frigate")
    ids["copy"] = _item(store, QUIET, "Quiet Post", "copy", "Frigate seen by the Quiet Post",
                        NOW - 3000, story)
    ids["a_desk"] = _alert(store, "desk", ("navy",), HOSTILE_TITLE, ids["frigate"], story,
                           NOW - 3500, "javascript:alert(document.cookie)")
    ids["a_ops"] = _alert(store, "ops", ("navy",), HOSTILE_TITLE, ids["frigate"], story,
                          NOW - 3500, "javascript:alert(document.cookie)")
    gas_story = store.insert_story("sig-gas", ids["good3"], NOW - 3 * DAY)
    ids["a_gas"] = _alert(store, "desk", ("energy",), "Gas pipeline opens", ids["good3"],
                          gas_story, NOW - 3 * DAY, "https://good.example/gas",
                          terms=("pipeline",))
    old_story = store.insert_story("sig-old", ids["good20"], NOW - 20 * DAY)
    ids["a_old"] = _alert(store, "desk", ("navy", "energy"), "Corvette and pipeline",
                          ids["good20"], old_story, NOW - 20 * DAY, "https://good.example/old",
                          terms=("corvette",))
    store.mark_sent([ids["a_desk"], ids["a_old"]], NOW - 3400, sent_as="alert")
    store.mark_retry([ids["a_ops"]], NOW + 60, "Slack said: channel_not_found")
    store.hold([ids["a_gas"]])
    store.heartbeat("host-a:123:beef", NOW - 2, "watcher 0.1.0, 4 feeds")
    store.claim_feeds([BROKEN], "host-a:123:beef", NOW, 120)
    return ids


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_database"))


def make_board(tmp_path: Path, state: str, token: str | None = None) -> Iterator[Board]:
    config = write_config(tmp_path, state)
    store = open_store(config.state)
    ids = fill(store)
    reader = StoreReader(config.state)
    app = build_app(lambda: config, reader, token, clock=lambda: NOW)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Board(config, client, store, ids)
    reader.close()
    store.close()


@pytest.fixture
def board(tmp_path: Path, state: str) -> Iterator[Board]:
    yield from make_board(tmp_path, state)


class Tags(HTMLParser):
    """What a page's markup could run: script tags, on* attributes, style, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self.links_to_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name == "style" or tag == "style":
                self.styles.append(tag)
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                    ("javascript:", "data:", "vbscript:")):
                self.links_to_scripts.append(f"{tag} {name}={value}")


def text_of(html: str) -> str:
    """The page's visible text, roughly (tags dropped, whitespace squeezed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- every page -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_the_security_headers_and_no_inline_script(
        board: Board, path: str) -> None:
    got = board.client.get(path)
    assert got.status_code == 200, got.text
    csp = got.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["referrer-policy"] == "no-referrer"
    tags = Tags()
    tags.feed(got.text)
    assert tags.scripts == [{"src": "/static/htmx.min.js", "defer": None}]
    assert tags.handlers == [], "an inline event handler"
    assert tags.styles == [], "an inline style (the CSP forbids them)"
    assert tags.links_to_scripts == []


def test_static_assets_are_vendored_and_served(board: Board) -> None:
    got = board.client.get("/static/htmx.min.js")
    assert got.status_code == 200 and "htmx" in got.text[:200]
    assert "javascript" in got.headers["content-type"]
    assert board.client.get("/static/style.css").status_code == 200


# -- overview -------------------------------------------------------------------------------
def test_overview_charts_alerts_and_counts_feeds_outbox_and_daemons(board: Board) -> None:
    html = board.client.get("/").text
    chart = html[html.index('<figure class="chart"'):html.index("</figure>")]
    assert chart.count('<polyline class="series"') == 2          # navy and energy
    assert "navy: 2 in the last 30 days" in chart     # the frigate story (on two channels) once
    assert "energy: 2 in the last 30 days" in chart
    health = text_of(html[html.index('id="health"'):])
    assert re.search(r"ok 1 failing 1 quiet 1 gone 1", health), health
    outbox = text_of(html[html.index('id="outbox"'):html.index('id="daemons"')])
    assert "desk 0 1 0" in outbox and "ops 0 0 1" in outbox
    daemons = text_of(html[html.index('id="daemons"'):])
    assert "host-a:123:beef watcher 0.1.0, 4 feeds 2s ago 1" in daemons


# -- alerts ---------------------------------------------------------------------------------
def _alert_titles(html: str) -> list[str]:
    return re.findall(r'class="title"[^>]*>([^<]*)<', html)


def test_alerts_newest_first_with_bold_terms_outlets_status_and_escaped_text(board: Board) -> None:
    html = board.client.get("/alerts").text
    titles = _alert_titles(html)
    assert len(titles) == 4
    assert titles[-1] == "Corvette and pipeline"
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html   # escaped, not run
    assert 'href="javascript:' not in html                               # not a link
    assert "The <b>frigate</b> was seen off the coast." in html
    assert "Quiet Post: " in text_of(html) and "Frigate seen by the Quiet Post" in html
    assert 'href="https://good.example/gas"' in html
    assert "held for the next summary or digest" in html
    assert "failing: 1 attempt, Slack said: channel_not_found" in html
    assert "sent 2026-03-10 15:03" in html                            # Paris time


@pytest.mark.parametrize(("query", "expected"), [
    ("profile=energy", ["Gas pipeline opens", "Corvette and pipeline"]),
    ("profile=navy&channel=ops", [HOSTILE_TITLE]),
    ("channel=desk", [HOSTILE_TITLE, "Gas pipeline opens", "Corvette and pipeline"]),
    (f"feed={GOOD}&date=2026-02-18", ["Corvette and pipeline"]),
    ("date=2026-03-07", ["Gas pipeline opens"]),
    (f"feed={QUIET}", []),
    ("profile=nothing", []),
])
def test_alert_filters(board: Board, query: str, expected: list[str]) -> None:
    got = board.client.get(f"/alerts?{query}")
    assert got.status_code == 200
    import html as html_module
    assert [html_module.unescape(t) for t in _alert_titles(got.text)] == expected


def test_a_profile_named_with_accents_filters_its_alerts(state: str) -> None:
    """Alerts store their profiles as JSON with non-ASCII letters escaped; the filter must
    look for them the same way."""
    from watcher.store.reports import AlertFilter, Reports

    store = open_store(state)
    try:
        with store.transaction():
            item = _item(store, GOOD, "Good News", "tr", "Ankara orders", NOW - 60)
            story = store.insert_story("sig-tr", item, NOW - 60)
            _alert(store, "desk", ("Türkiye",), "Ankara orders", item, story, NOW - 60,
                   "https://good.example/tr")
        reports = Reports(store)  # type: ignore[arg-type]
        found = reports.alerts(AlertFilter(profile="Türkiye"), 10)
        assert [r.row.alert.title for r in found] == ["Ankara orders"]
        assert reports.alerts(AlertFilter(profile="Turkiye"), 10) == []
    finally:
        store.close()


def test_a_bad_date_filter_is_a_clear_error_in_the_page(board: Board) -> None:
    got = board.client.get("/alerts?date=yesterday")
    assert got.status_code == 400
    assert "date: &#39;yesterday&#39; is not a date (use YYYY-MM-DD)" in got.text


# -- feeds ----------------------------------------------------------------------------------
def _feed_names(html: str) -> list[str]:
    return re.findall(r'<span class="name">([^<]*)</span>', html)


def test_feeds_table_health_error_in_words_sparkline_and_next_poll(board: Board) -> None:
    html = board.client.get("/feeds").text
    assert _feed_names(html) == ["Broken Wire", "Gone Daily", "Good News", "Quiet Post"]
    text = text_of(html)
    assert "HTTP 404 Not Found (failed 7 times in a row; last worked 5d ago)" in text
    assert "The feed answered 410 Gone: polling stopped." in text
    assert "no new item for 20d" in text               # quiet, in the health column
    assert html.count('<svg class="spark"') == 4
    assert "26 in 30 days" in html                      # the good feed's sparkline
    assert "in 10m" in text and "due now" in text and "never (gone)" in text
    assert "polled by host-a:123:beef" in text


@pytest.mark.parametrize(("sort", "expected"), [
    ("feed&dir=desc", ["Quiet Post", "Good News", "Gone Daily", "Broken Wire"]),
    ("errors&dir=desc", ["Broken Wire", "Gone Daily", "Good News", "Quiet Post"]),
    ("items&dir=desc", ["Good News", "Quiet Post", "Broken Wire", "Gone Daily"]),
    ("health", ["Good News", "Broken Wire", "Quiet Post", "Gone Daily"]),
    ("next_poll", ["Gone Daily", "Broken Wire", "Quiet Post", "Good News"]),
    ("nonsense", ["Broken Wire", "Gone Daily", "Good News", "Quiet Post"]),
])
def test_feeds_sort(board: Board, sort: str, expected: list[str]) -> None:
    assert _feed_names(board.client.get(f"/feeds?sort={sort}").text) == expected


def test_feeds_table_pages(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher.web import app

    monkeypatch.setattr(app, "FEEDS_PER_PAGE", 3)
    first = board.client.get("/feeds?sort=feed").text
    assert _feed_names(first) == ["Broken Wire", "Gone Daily", "Good News"]
    assert 'href="/feeds?sort=feed&amp;dir=asc&amp;page=2">next' in first
    second = board.client.get("/feeds?sort=feed&page=2").text
    assert _feed_names(second) == ["Quiet Post"] and ">previous<" in second
    assert _feed_names(board.client.get("/feeds?page=99").text) == []


# -- profiles -------------------------------------------------------------------------------
def test_profiles_show_query_channels_hits_and_last_hit(board: Board) -> None:
    html = board.client.get("/profiles").text
    text = text_of(html)
    assert "@ships OR destroyer" in text and "desk, ops" in text
    assert re.search(r"navy .*? 2 58m ago", text)
    assert re.search(r"energy .*? 2 3d ago", text)
    assert html.count('<svg class="spark"') == 2
    assert "@ships" in text and "frigate, corvette" in text       # the aliases


# -- query tester ---------------------------------------------------------------------------
def test_tester_runs_a_query_with_aliases_and_explains_each_match(board: Board) -> None:
    got = board.client.get("/tester", params={"q": "@ships AND sails", "period": "30d"})
    assert got.status_code == 200
    text = text_of(got.text)
    assert re.search(r"1 of 36 stored item\(s\) in the last 30d match; \d+\.\d\d s\.", text)
    assert "terms: frigate , sails" in text
    assert "frigate in summary: “frigate”" in text and "sails in summary: “sails”" in text
    assert "A <b>frigate</b> <b>sails</b> past the destroyer." in got.text
    assert '<a href="https://good.example/frigate" rel="noopener noreferrer nofollow">Frigate</a>' \
        in got.text   # the title as plain text: its markup dropped, nothing of it run


def test_tester_period_limits_what_is_scanned(board: Board) -> None:
    text = text_of(board.client.get("/tester?q=report&period=24h").text)
    assert "1 of 3 stored item(s) in the last 24h match" in text


def test_tester_shows_a_parse_error_with_its_caret(board: Board) -> None:
    got = board.client.get("/tester", params={"q": "frigate AND (destroyer", "period": "7d"})
    assert got.status_code == 400
    caret = re.search(r'<pre class="caret">(.*?)</pre>', got.text, re.S)
    assert caret is not None
    line, marker = caret.group(1).split("\n")
    assert line == "frigate AND (destroyer" and marker == " " * 12 + "^"
    assert "The query does not parse" in got.text


def test_tester_answers_htmx_with_the_fragment_and_plain_posts_with_the_page(
        board: Board) -> None:
    form = {"q": "pipeline", "period": "30d"}
    fragment = board.client.post("/tester", data=form, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="tester-summary"' in fragment.text
    page = board.client.post("/tester", data=form)
    assert "<html" in page.text and 'id="tester-summary"' in page.text
    bad = board.client.get("/tester?q=x&period=soon")
    assert bad.status_code == 400 and "period: not a duration: &#39;soon&#39;" in bad.text


# -- the token ------------------------------------------------------------------------------
@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Board]:
    yield from make_board(tmp_path, str(tmp_path / "state.db"), token="s3cret-token-value")


@pytest.mark.parametrize("path", [*PAGES, "/static/htmx.min.js"])
def test_with_a_token_every_page_needs_it(guarded: Board, path: str) -> None:
    c = guarded.client
    assert c.get(path).status_code == 401
    assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get(path, headers={"Authorization": "Basic s3cret-token-value"}).status_code == 401
    ok = c.get(path, headers={"Authorization": "Bearer s3cret-token-value"})
    assert ok.status_code == 200


def test_login_sets_a_session_cookie_that_is_not_the_token(guarded: Board) -> None:
    c = guarded.client
    assert c.get("/login?token=wrong", follow_redirects=False).status_code == 401
    assert "watcher_session" not in c.cookies
    got = c.get("/login?token=s3cret-token-value", follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == "/"
    cookie = got.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "s3cret-token-value" not in cookie
    assert c.get("/").status_code == 200
    c.cookies.clear()
    c.cookies.set("watcher_session", "forged")
    assert c.get("/").status_code == 401


def test_401_carries_the_security_headers(guarded: Board) -> None:
    got = guarded.client.get("/")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in got.headers["content-security-policy"]
    assert got.headers["www-authenticate"].startswith("Bearer")


# -- migration 0009 -------------------------------------------------------------------------
def _indexes(store: Store, state: str) -> set[str]:
    from watcher.store.sql import SQLStore

    assert isinstance(store, SQLStore)
    if state.startswith("postgresql://"):
        rows = store._rows("SELECT indexname AS name FROM pg_indexes WHERE tablename IN"
                           " ('items', 'alerts')")
    else:
        rows = store._rows("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r["name"] for r in rows}


def test_migration_9_adds_the_dashboard_indexes_and_keeps_rows(state: str) -> None:
    from watcher.store import SQLiteStore
    from watcher.store.postgres import PostgresStore
    from watcher.store.sql import SQLStore

    old = (PostgresStore(state, target_version=3) if state.startswith("postgresql://")
           else SQLiteStore(state, target_version=3))
    assert isinstance(old, SQLStore)
    old._exec("INSERT INTO items (feed_url, item_key, content_hash, title, seen_at)"
              " VALUES (?, ?, ?, ?, ?)", (GOOD, "k", "h", "Frigate", NOW))
    assert not {"items_seen_feed", "items_story", "alerts_item"} & _indexes(old, state)
    old.close()
    new = open_store(state)
    try:
        assert new.schema_version >= 9
        assert {"items_seen_feed", "items_story", "alerts_item"} <= _indexes(new, state)
        kept = new.item(GOOD, "k")
        assert kept is not None and kept.title == "Frigate"
    finally:
        new.close()
