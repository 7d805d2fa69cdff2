"""A news page as a site serves it, around one item's story: the polling bench's article pages.

Shaped after the 121 real pages of ../shared/articles (median: 800 elements, 16 levels
deep, 150 `div`, 140 `a`, 100 `li`, 50 `span`, 36 `script`, 36 comments, 34 `meta`, 21
`img`, some inline SVG): a head of meta and link tags, JSON-LD and scripts (an ad and
analytics configuration, most of the bytes); a mega-menu; the story in nested wrappers,
its paragraphs interleaved with ad slots, a figure and a "read more" box; share buttons;
"related", "most read" and "latest" rails of teaser cards; comments; a sitemap footer, a
newsletter form and a cookie banner. About 70 KB, 800 elements, 15 levels deep. Its
words are the item's own, then the newsroom's made-up vocabulary (tests/bench/news.py),
so nothing around the story matches a profile. watcher extracts the story whole and
nothing else, in about half the time of the real pages' median (5.8 ms against 10.8 ms,
back to back on the 2-core machine): their bodies are messier, so the polling bench's
article CPU is on the low side.
"""

from __future__ import annotations

import functools
import html
import json
import random
from typing import Any

from tests.bench.news import words

SECTIONS = ("World", "Europe", "Middle East", "Defence", "Air", "Land", "Naval", "Space",
            "Business", "Technology", "Opinion", "Video")
ICON = '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2 2 22h20z"/></svg>'


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(words(rng, n)).capitalize()


def _script(json_value: object) -> str:
    return json.dumps(json_value).replace("</", "<\\/")


def _cards(rng: random.Random, count: int, size: int) -> str:
    """A rail's teaser cards (9 elements each)."""
    out = []
    for _ in range(count):
        href = f"/news/{rng.randrange(10**6)}/"
        out.append(f'<li class="card"><div class="card-inner"><div class="card-media">'
                   f'<a href="{href}"><img src="/img{href}thumb.jpg" alt="" loading="lazy" '
                   f'width="160" height="90"></a></div><div class="card-body"><span '
                   f'class="kicker">{_phrase(rng, 1)}</span><a class="card-title" href="{href}">'
                   f'{_phrase(rng, size)}</a><span class="card-time">{rng.randint(1, 59)} min'
                   ' ago</span></div></div></li>')
    return "".join(out)


def _menu(rng: random.Random) -> str:
    return "".join(
        f'<li class="menu"><div class="menu-item"><a href="/{s.lower().replace(" ", "-")}/">'
        f'{s}</a><span class="caret">{ICON}</span><div class="dropdown"><ul>'
        + "".join(f'<li><a href="/topic/{rng.randrange(10**5)}/">{_phrase(rng, 2)}</a></li>'
                  for _ in range(5))
        + "</ul></div></div></li>" for s in SECTIONS)


@functools.cache
def _site_config() -> str:
    """The site's ad and analytics configuration, the same on every page: most of the bytes."""
    rng = random.Random(0)
    return _script({"slots": [{"id": f"ad-{i}", "sizes": [[300, 250], [728, 90]],
                               "targeting": words(rng, 12)} for i in range(150)],
                    "experiments": {w: rng.random() for w in words(rng, 150)}})


def _head(item: dict[str, Any], url: str, rng: random.Random) -> str:
    title = html.escape(item["title"])
    ld = _script({"@context": "https://schema.org", "@type": "NewsArticle",
                  "headline": item["title"], "datePublished": item["published"],
                  "author": {"@type": "Person", "name": item["author"]},
                  "isAccessibleForFree": True})
    metas = "".join(f'<meta property="article:tag" content="{w}">' for w in words(rng, 20))
    links = "".join(f'<link rel="preload" href="/static/{w}.woff2" as="font">'
                    for w in words(rng, 16))
    scripts = "".join(f'<script async src="/static/{w}.js"></script>' for w in words(rng, 12))
    return (f'<head><meta charset="utf-8"><title>{title} | Bench News</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="canonical" href="{url}"><meta property="og:url" content="{url}">'
            f'<meta property="og:title" content="{title}"><meta property="og:type" '
            f'content="article"><meta name="twitter:card" content="summary_large_image">'
            f'<meta name="description" content="{html.escape(item["summary"])}">{metas}'
            f'<link rel="stylesheet" href="/static/site.css">{links}'
            f'<style>.rail{{float:right}}.ad{{min-height:250px}}</style>'
            f'<script type="application/ld+json">{ld}</script>'
            f'<script>window.__SITE_CONFIG__ = {_site_config()};</script>{scripts}</head>')


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


def _story(item: dict[str, Any], text: list[str], rng: random.Random) -> str:
    """The article: figure, byline, paragraphs with ads and a "read more" box, share bar."""
    parts = []
    for i, p in enumerate(_paragraphs(rng, text, rng.randint(350, 700))):
        parts.append(f"<p>{html.escape(p)}</p>")
        if i == 1:
            parts.append(f'<div class="read-more"><span>Read more:</span> <a href="/news/'
                         f'{rng.randrange(10**6)}/">{_phrase(rng, 8)}</a></div>')
        if i % 3 == 2:
            parts.append(f'<div class="ad-wrapper"><!-- ad: inline-{i} --><div class="ad" '
                         f'id="inline-{i}" data-slot="{i}"></div></div>')
    share = "".join(f'<a class="share-{s}" href="#">{ICON}<span>{s}</span></a>'
                    for s in ("Facebook", "X", "LinkedIn", "Email"))
    when = item["published"]
    return (f'<article class="story"><header class="story-header"><div class="kicker">'
            f'<a href="/defence/">Defence</a></div><h1>{html.escape(item["title"])}</h1>'
            f'<div class="byline"><span>By <a href="/author/staff/">'
            f'{html.escape(item["author"])}</a></span> <time datetime="{when}">{when[:10]}'
            f'</time></div></header><figure class="lead"><picture><source srcset="/img/lead'
            '.webp" type="image/webp"><img src="/img/lead.jpg" alt=""></picture><figcaption>'
            f'<span>{_phrase(rng, 9)}</span> <span class="credit">Photo: {_phrase(rng, 2)}'
            f'</span></figcaption></figure><div class="share">{share}</div><div class='
            f'"article-content"><div class="body-wrapper">{"".join(parts)}</div></div>'
            f'<aside class="related"><h2>Related</h2><ul>{_cards(rng, 6, 7)}</ul></aside>'
            '</article>')


def _footer(rng: random.Random) -> str:
    columns = "".join(
        f'<div class="footer-col"><h4>{s}</h4><div class="links">'
        + "".join(f'<a href="/{s.lower()}/{w}/">{w.capitalize()}</a>' for w in words(rng, 6))
        + "</div></div>" for s in SECTIONS)
    social = "".join(f'<a href="https://social.example/{s}">{ICON}</a>'
                     for s in ("fb", "x", "in", "yt", "ig"))
    return (f'<footer class="site-footer"><div class="container"><div class="columns">{columns}'
            '</div><form class="newsletter" action="/subscribe"><input type="email" name='
            '"email" placeholder="Your email"><button type="submit">Sign up</button></form>'
            f'<div class="social">{social}</div><p>© 2026 Bench News. All rights reserved. '
            'Newsletter, podcasts, events and careers.</p></div></footer>')


def render_page(item: dict[str, Any], text: list[str], url: str, rng: random.Random) -> bytes:
    """The news page at `url` around the item's whole `text` (its words)."""
    comments = "".join(f'<div class="comment"><span class="author">{_phrase(rng, 1)}</span>'
                       f"<p>{_phrase(rng, rng.randint(8, 30))}.</p></div>" for _ in range(6))
    tail = "".join(f"<!-- module {w} --><script>window.dataLayer.push({{m: '{w}'}});</script>"
                   for w in words(rng, 14))
    page = (
        f'<!DOCTYPE html><html lang="en">{_head(item, url, rng)}<body class="article-page">'
        '<!-- header --><div id="page"><header class="site-header"><div class="container">'
        f'<a class="logo" href="/">{ICON}Bench News</a><nav class="main-nav" aria-label='
        f'"Sections"><ul>{_menu(rng)}</ul></nav></div></header><div class="ad-slot" id='
        f'"ad-top"><!-- ad: top --><span>Advertisement</span></div><div class="layout">'
        '<div class="container"><div class="row"><div class="col-main"><main>'
        f'{_story(item, text, rng)}<section class="comments"><h2>Comments</h2>{comments}'
        '</section></main></div><div class="col-side"><aside class="rail most-read"><h2>'
        f'Most read</h2><ol>{_cards(rng, 10, 8)}</ol></aside><section class="latest"><h2>'
        f'Latest</h2><ul>{_cards(rng, 12, 9)}</ul></section></div></div></div></div>'
        f'{_footer(rng)}<div class="cookie-banner"><p>{_phrase(rng, 20)}.</p><button>Accept'
        f'</button><button>Settings</button></div></div>{tail}</body></html>')
    return page.encode("utf-8")
