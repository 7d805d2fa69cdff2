"""Teaser items and their news pages, for the polling benchmark's `watcher-article` row.

A `TeaserDesk` takes the items of a `Newsroom` (tests/bench/news.py: the same stories,
topic share and syndicated copies as the `watcher` row) and cuts each one's text to a
teaser, its first sentence (12 to 40 words, under watcher's 150-word threshold of
`article = "auto"`, watcher/article/policy.py), while the whole text goes to the item's
own page on the benchmark's server (`/a/N.html`, the item's link, on 127.0.0.1): a news
page as a site serves it (tests/bench/news_page.py), its canonical link the page's URL,
its story the item's whole text and more, 350 to 700 words.

Only the items watcher may fetch get a page: the fresh ones and those published within
`fetchable` of the newsroom's now (the default `backfill` and an hour's margin; older
ones are recorded silently on a first poll and never fetched). A request for any other
page is a 404, counted by the server, so a fetch that should not happen shows.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from tests.bench import static_feeds
from tests.bench.news import Newsroom
from tests.bench.news_page import render_page
from tests.servers.feeds import FeedServer

PAGES = static_feeds.PAGES.decode()   # every article page's path prefix (counted apart)
Server = FeedServer | static_feeds.StaticFeeds


class TeaserDesk:
    """A newsroom's items as teasers whose links lead to their pages on `server`."""

    def __init__(self, newsroom: Newsroom, server: Server, fetchable: timedelta) -> None:
        self.newsroom = newsroom
        self.server = server
        self.since = newsroom.now - fetchable
        self.pages = 0   # pages written

    def item(self, n: int, fresh: bool = False) -> dict[str, Any]:
        """Item number `n` of the newsroom, its text cut to a teaser and put on its page."""
        item = self.newsroom.item(n, fresh)
        rng = random.Random(n)   # the page's own: the newsroom's sequence stays as it is
        text = item["summary"].split()
        path = f"{PAGES}{n}.html"
        item["link"] = self.server.base_url + path
        item["summary"] = " ".join(text[:rng.randint(12, 40)]) + " …"
        if fresh or datetime.fromisoformat(item["published"]) >= self.since:
            _serve(self.server, path, render_page(item, text, item["link"], rng))
            self.pages += 1
        return item


def _serve(server: Server, path: str, body: bytes) -> None:
    if isinstance(server, static_feeds.StaticFeeds):
        server.add_page(path, body)
    else:
        server.set_body(path, body, content_type="text/html; charset=utf-8")


def page_requests(server: Server) -> tuple[int, int]:
    """(requests, 404s) for article pages the server has seen so far."""
    if isinstance(server, static_feeds.StaticFeeds):
        return server.page_counts()
    with server.lock:
        paths = [r.path for r in server.requests if r.path.startswith(PAGES)]
        return len(paths), sum(1 for p in paths if p not in server.routes)
