"""The article stage end to end: `watcher poll` on teaser feeds whose links point at pages
served by the local feed server (the seed story in our page frame, failing pages), with the
default config's aliases and seed profiles."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime

import pytest

from tests.servers.feeds import FeedServer
from tests.support.articles import DATA, needs_seed, seed_page, seed_teaser
from tests.support.runner import REPO, Watcher
from watcher.config import load_config
from watcher.store import open_store

pytestmark = pytest.mark.slow

DEFAULT = load_config(REPO / "config" / "watcher.toml", {})
SEED_PROFILES = ["S-400", "TF-X engine", "Turkey submarines"]


def write_config(watcher: Watcher, feed: str, *, timeout: str = "30s",
                 article: str | None = None, per_host: int = 2) -> None:
    """The default config's aliases and seed profiles, one local feed, console alerts."""
    lines = ["[watcher]", f'state = "{watcher.tmp / "state.db"}"', f'timeout = "{timeout}"',
             f"per_host = {per_host}"]
    if article:
        lines.append(f'article = "{article}"')
    lines += ["", "[aliases]"]
    lines += [f"{name} = {json.dumps(list(words))}" for name, words in DEFAULT.aliases.items()]
    lines += ["", "[[feeds]]", f'url = "{feed}"', 'name = "Teasers"', ""]
    for p in DEFAULT.profiles:
        lines += ["[[profiles]]", f"name = {json.dumps(p.name)}", f"query = {json.dumps(p.query)}",
                  ""]
    lines += ["[channels.console]", 'type = "console"', ""]
    watcher.write("\n".join(lines))


def teaser(n: int, link: str, title: str, summary: str) -> dict[str, object]:
    return {"title": title, "link": link, "guid": f"t-{n}", "summary": summary,
            "published": datetime.now(UTC)}


def alerts(watcher: Watcher) -> list[dict[str, object]]:
    rows = json.loads(watcher("hits", "--json", "--since", "7d", check=True).out)
    return rows if isinstance(rows, list) else rows["hits"]


def outcomes(watcher: Watcher) -> dict[str, str | None]:
    store = open_store(str(watcher.tmp / "state.db"))
    try:
        return {r["link"]: r["article_outcome"] for r in store.items_since(0)}
    finally:
        store.close()


@needs_seed
def test_the_seed_story_behind_its_real_teaser_alerts_every_seed_profile_once(
        watcher: Watcher, feed_server: FeedServer) -> None:
    page = feed_server.set_body("/2021/10/12/turkey-russia-pledge/", seed_page(),
                                content_type="text/html; charset=utf-8")
    rail = feed_server.set_body("/local/bike-lanes", (DATA / "unrelated.html").read_bytes(),
                                content_type="text/html; charset=utf-8")
    feed = feed_server.add_feed("/rss", [
        teaser(1, page, "Turkey, Russia pledge defense industry cooperation", seed_teaser()),
        teaser(2, rail, "City council approves new bike lanes downtown",
               "The council voted six to three on Tuesday night.")])
    write_config(watcher, feed)
    run = watcher("poll", check=True)
    got = alerts(watcher)
    profiles = sorted(p for a in got for p in a["profiles"])  # type: ignore[union-attr]
    assert profiles == sorted(SEED_PROFILES), (profiles, run.err)
    assert {a["title"] for a in got} == {"Turkey, Russia pledge defense industry cooperation"}
    assert "TF-X" in run.out   # matched in the article (paragraph nine), not the teaser
    assert outcomes(watcher) == {page: "ok", rail: "ok"}
    assert feed_server.hits("/2021/10/12/turkey-russia-pledge/") == 1
    # known items: the next polls of the same (changed) feed fetch no article again
    feed_server.add_item("/rss", teaser(3, feed_server.url("/none"), "Weather", "Sunny."))
    watcher("poll", check=True)
    assert feed_server.hits("/2021/10/12/turkey-russia-pledge/") == 1
    assert feed_server.hits("/local/bike-lanes") == 1
    assert len(alerts(watcher)) == len(got)


def test_pages_that_fail_leave_the_teaser_alert_and_say_why(
        watcher: Watcher, feed_server: FeedServer) -> None:
    words = ["radar crews train", "batteries moved south", "parliament questions costs",
             "spare parts delayed", "missile test planned", "NATO officials react",
             "training ends early"]
    feed_server.fail("/p/404", 404, n=None)
    feed_server.fail("/p/500", 500, n=None)
    release = feed_server.hang("/p/hang", threading.Event())
    feed_server.set_body("/p/hang", b"<html><body>late</body></html>", content_type="text/html")
    feed_server.set_body("/p/huge", b"", content_type="text/html")
    feed_server.huge("/p/huge", 50 * 1024 * 1024, content_length=False)
    feed_server.set_body("/p/pdf", b"%PDF-1.4 not a page", content_type="application/pdf")
    feed_server.redirect("/p/loop", feed_server.url("/p/loop2"), status=302)
    feed_server.redirect("/p/loop2", feed_server.url("/p/loop"), status=302)
    feed_server.set_body("/p/empty", b"", content_type="text/html")
    paths = ["404", "500", "hang", "huge", "pdf", "loop", "empty"]
    places = ["Izmir", "Konya", "Adana", "Bursa", "Samsun", "Trabzon", "Kayseri"]
    feed = feed_server.add_feed("/rss", [   # seven different stories, each its own alert
        teaser(i, feed_server.url(f"/p/{p}"), f"Turkey S-400: {words[i]} ({p})",
               f"Officials in {places[i]} spoke of case {i * 37} on day {i + 3}.")
        for i, p in enumerate(paths)])
    # per_host 8: the hanging page holds one connection for the whole timeout, the others
    # must not wait behind it (with the default 2 they would, and time out in turn); 15 s,
    # as 3 s also timed out the empty page on a loaded machine
    write_config(watcher, feed, timeout="15s", per_host=8)
    try:
        run = watcher("poll", check=True, timeout=120)
    finally:
        release.set()
    got = alerts(watcher)
    assert sorted(a["title"] for a in got) == sorted(
        f"Turkey S-400: {w} ({p})" for w, p in zip(words, paths, strict=True)), run.err
    by_path = {link.rsplit("/", 1)[-1]: outcome for link, outcome in outcomes(watcher).items()}
    assert by_path == {"404": "http_error", "500": "http_error", "hang": "timeout",
                       "huge": "failed", "pdf": "not_html", "loop": "failed",
                       "empty": "empty"}, run.err
    hits = {p: feed_server.hits(f"/p/{p}") for p in paths}
    watcher("poll", check=True, timeout=120)   # nothing is fetched again
    assert {p: feed_server.hits(f"/p/{p}") for p in paths} == hits
    assert len(alerts(watcher)) == len(paths)


def test_article_never_fetches_nothing(watcher: Watcher, feed_server: FeedServer) -> None:
    page = feed_server.set_body("/a", b"<html><body><p>TF-X engine</p></body></html>",
                                content_type="text/html")
    feed = feed_server.add_feed("/rss", [teaser(1, page, "Turkey S-400 news", "Short.")])
    write_config(watcher, feed, article="never")
    watcher("poll", check=True)
    assert feed_server.hits("/a") == 0 and outcomes(watcher) == {page: None}
    assert len(alerts(watcher)) == 1


def test_no_cookie_set_by_a_page_is_sent_back(watcher: Watcher, feed_server: FeedServer) -> None:
    feed_server.set_body("/a", b"<html><body>x</body></html>", content_type="text/html",
                         headers={"Set-Cookie": "session=secret; Path=/"})
    feed_server.set_body("/b", b"<html><body>y</body></html>", content_type="text/html")
    feed = feed_server.add_feed("/rss", [teaser(1, feed_server.url("/a"), "S-400 Turkey", "a"),
                                         teaser(2, feed_server.url("/b"), "S-400 Ankara", "b")])
    write_config(watcher, feed)
    watcher("poll", check=True)
    feed_server.add_item("/rss", teaser(3, feed_server.url("/a"), "S-400 Erdogan", "c"))
    watcher("poll", check=True)
    requests = [r for p in ("/a", "/b", "/rss") for r in feed_server.requests_for(p)]
    assert len(requests) >= 4
    assert all("cookie" not in {k.lower() for k in r.headers} for r in requests)


@needs_seed
def test_a_kill_while_articles_are_fetched_loses_nothing_and_fetches_again(
        watcher: Watcher, feed_server: FeedServer) -> None:
    page = feed_server.set_body("/story", seed_page(), content_type="text/html; charset=utf-8")
    feed = feed_server.add_feed("/rss", [
        teaser(1, page, "Turkey, Russia pledge defense industry cooperation", seed_teaser())])
    write_config(watcher, feed)
    watcher.env["WATCHER_CRASH_AT"] = "after_articles"
    killed = watcher("poll")
    del watcher.env["WATCHER_CRASH_AT"]
    assert killed.code == -9 and alerts(watcher) == []
    assert feed_server.hits("/story") == 1
    watcher("poll", check=True)
    assert feed_server.hits("/story") == 2       # fetched again, not skipped
    got = alerts(watcher)
    assert sorted(p for a in got for p in a["profiles"]) == sorted(SEED_PROFILES)  # type: ignore[union-attr]


def test_a_site_whose_pages_hang_holds_back_neither_its_alerts_nor_other_feeds(
        watcher: Watcher, feed_server: FeedServer) -> None:
    """Twenty teasers whose pages never answer (default per_host 2): each waits at most the
    fetch timeout, counted from the daemon, and the poll ends with every alert queued."""
    release = threading.Event()
    topics = ["radar", "frigate", "drone", "tank", "missile", "satellite", "corvette", "jet",
              "convoy", "base", "budget", "exercise", "pilot", "hangar", "port", "yard",
              "engine", "escort", "patrol", "depot"]
    for i in range(len(topics)):
        feed_server.hang(f"/slow/{i}", release)
        feed_server.set_body(f"/slow/{i}", b"<html><body>late</body></html>",
                             content_type="text/html")
    rng = random.Random(7)   # twenty different stories: no two join (each its own alert)
    feed = feed_server.add_feed("/rss", [
        teaser(i, feed_server.url(f"/slow/{i}"),
               f"Turkey S-400 {t}: " + " ".join(rng.sample(topics, 6)) + f" {i}",
               " ".join(rng.sample(topics, 12)) + f" {i * 11}.") for i, t in enumerate(topics)])
    write_config(watcher, feed, timeout="5s")
    try:
        run = watcher("poll", timeout=300)
    finally:
        release.set()
    assert run.code == 0, run.err
    assert len(alerts(watcher)) == len(topics)
    assert set(outcomes(watcher).values()) == {"timeout"}
