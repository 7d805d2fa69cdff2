"""Teaser items and their news pages, for the polling benchmark's `watcher-article` row.

A `TeaserDesk` takes the items of a `Newsroom` (tests/bench/news.py: the same stories,
topic share and syndicated copies as the `watcher` row) and cuts each one's text to a
teaser, its first sentence (12 to 40 words, under watcher's 150-word threshold of
`article = "auto"`, watcher/article/policy.py), while the whole text goes to the item's
own page on the benchmark's server (`/a/N.html`, the item's link, on 127.0.0.1). The
page is a news page as a site serves it: a head with its canonical link, og: tags,
JSON-LD and an analytics script; a mega-menu; the story (the item's text, then more
paragraphs of the newsroom's made-up words: 350 to 700 words in all); share buttons, a
"related" list, a "most read" rail, a "latest" ticker, comments and a sitemap footer.
About 60 KB and 700 to 900 elements, like the median page of ../shared/articles (800
elements, 118 KB, much of it script).

Only the items watcher may fetch get a page: the fresh ones and those published within
`fetchable` of the newsroom's now (the default `backfill` and an hour's margin; older
ones are recorded silently on a first poll and never fetched). A request for any other
page is a 404, counted by the server, so a fetch that should not happen shows.
"""

from __future__ import annotations

import html
import json
import random
from datetime import datetime, timedelta
from typing import Any

from tests.bench import static_feeds
from tests.bench.news import Newsroom, words
from tests.servers.feeds import FeedServer

PAGES = static_feeds.PAGES.decode()   # every article page's path prefix (counted apart)
SECTIONS = ("World", "Europe", "Middle East", "Defence", "Air", "Land", "Naval", "Space",
            "Business", "Technology", "Opinion", "Video")

Server = FeedServer | static_feeds.StaticFeeds


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(words(rng, n)).capitalize()


def _links(rng: random.Random, count: int, size: int, prefix: str) -> str:
    return "".join(f'<li><a href="{prefix}{rng.randrange(10**6)}/">{_phrase(rng, size)}</a></li>'
                   for _ in range(count))


def _menu(rng: random.Random) -> str:
    return "".join(f'<li class="menu"><a href="/{s.lower().replace(" ", "-")}/">{s}</a>'
                   f'<ul class="sub">{_links(rng, 10, 2, "/topic/")}</ul></li>'
                   for s in SECTIONS)


def _paragraphs(rng: random.Random, text: list[str], total: int) -> list[str]:
    """The item's text in paragraphs of 30 to 80 words, then more up to `total` words."""
    out, at = [], 0
    while at < len(text):
        size = rng.randint(30, 80)
        out.append(" ".join(text[at:at + size]))
        at += size
    while at < total:
        size = rng.randint(40, 90)
        out.append(" ".join(words(rng, size)))
        at += size
    return [p[0].upper() + p[1:] + "." for p in out]


def _head(item: dict[str, Any], url: str, rng: random.Random) -> str:
    title = html.escape(item["title"])
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                     "headline": item["title"], "datePublished": item["published"],
                     "author": {"@type": "Person", "name": item["author"]},
                     "isAccessibleForFree": True}).replace("</", "<\\/")
    # a site's analytics and ad configuration: most of a real page's bytes
    config = json.dumps({"slots": [{"id": f"ad-{i}", "sizes": [[300, 250], [728, 90]],
                                    "targeting": words(rng, 12)} for i in range(150)],
                         "experiments": {w: rng.random() for w in words(rng, 150)}}
                        ).replace("</", "<\\/")
    return (f'<head><meta charset="utf-8"><title>{title} | Bench News</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="canonical" href="{url}"><meta property="og:url" content="{url}">'
            f'<meta property="og:title" content="{title}"><meta property="og:type" '
            f'content="article"><meta name="description" content="'
            f'{html.escape(item["summary"])}"><link rel="stylesheet" href="/static/site.css">'
            f'<script type="application/ld+json">{ld}</script>'
            f'<script>window.__SITE_CONFIG__ = {config};</script>'
            '<script async src="/static/analytics.js"></script></head>')


def render_page(item: dict[str, Any], text: list[str], url: str, rng: random.Random) -> bytes:
    """The news page at `url` around the item's whole `text` (its words)."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in
                   _paragraphs(rng, text, rng.randint(350, 700)))
    comments = "".join(f'<div class="comment"><span class="author">{_phrase(rng, 1)}</span>'
                       f"<p>{_phrase(rng, rng.randint(8, 30))}.</p></div>" for _ in range(6))
    footer = "".join(f"<div><h4>{s}</h4><ul>{_links(rng, 10, 1, '/')}</ul></div>"
                     for s in SECTIONS)
    page = (
        f'<!DOCTYPE html><html lang="en">{_head(item, url, rng)}<body>'
        f'<header class="site-header"><a class="logo" href="/">Bench News</a>'
        f'<nav class="main-nav" aria-label="Sections"><ul>{_menu(rng)}</ul></nav>'
        f'<div class="ad-slot" id="ad-top">Advertisement: {_phrase(rng, 6)}</div></header>'
        f'<main><article class="story"><h1>{html.escape(item["title"])}</h1>'
        f'<div class="byline">By <a href="/author/staff/">{html.escape(item["author"])}'
        f'</a> · <time datetime="{item["published"]}">{item["published"][:10]}</time></div>'
        '<div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on X</a> '
        f'<a href="#">Email this story</a></div><div class="article-body">{body}</div>'
        f'<aside class="related"><h2>Related</h2><ul>{_links(rng, 8, 7, "/news/")}</ul>'
        '</aside></article>'
        f'<aside class="rail most-read"><h2>Most read</h2><ol>{_links(rng, 10, 8, "/news/")}'
        '</ol></aside>'
        f'<section class="latest"><h2>Latest</h2><ul>{_links(rng, 40, 9, "/news/")}</ul>'
        f'</section><section class="comments"><h2>Comments</h2>{comments}</section></main>'
        f'<footer class="site-footer">{footer}<p>© 2026 Bench News. All rights reserved.'
        ' Newsletter, podcasts, events and careers.</p></footer></body></html>')
    return page.encode("utf-8")


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
