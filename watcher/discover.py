"""HTML pages given as feed URLs: tell them apart from feeds, and find the feeds they
advertise (`<link rel="alternate" type="application/rss+xml" href="...">`).

Pure: no network, no clock. The page is read by the standard library's tolerant HTML
parser (`html.parser`), never by regular expressions, so comments, odd quoting, upper
case and attribute order do not matter. The result is a `ParsedFeed` with no items and
`html_page` set, which the pipeline follows (see Pipeline) and every command reports as
"serves an HTML page, not a feed". It imports watcher.parse (feedparser) only when a page
is read, so the daemon's process may import it for the messages alone.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

from watcher.models import ParsedFeed

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json",
                        "application/rdf+xml"})
MAX_PAGE = 1024 * 1024        # read the page's first MiB: the links are in its head
MAX_ADVERTISED = 10
_HTML_STARTS = (b"<!doctype html", b"<html")


def looks_like_html(body: bytes) -> bool:
    """True when the document starts (after a BOM, white space and comments) as an HTML
    page does: `<!DOCTYPE html` or `<html`."""
    head = body[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    while head.startswith(b"<!--"):
        end = head.find(b"-->")
        if end < 0:
            return False
        head = head[end + 3:].lstrip()
    return head[:14].lower().startswith(_HTML_STARTS)


class _LinkFinder(HTMLParser):
    def __init__(self, base: str, max_title: int) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.feeds: list[str] = []
        self.title = ""
        self.max_title = max_title
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and values.get("href"):
            self.base = urljoin(self.base, values["href"].strip())
        elif tag == "title":
            self._in_title = True
        elif tag == "link":
            rel = values.get("rel", "").lower().split()
            kind = values.get("type", "").split(";")[0].strip().lower()
            from watcher.parse import safe_link

            link = safe_link(values.get("href", ""), self.base)
            if "alternate" in rel and kind in FEED_TYPES and link and link not in self.feeds:
                self.feeds.append(link)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < self.max_title:
            self.title += data


def advertised_feeds(body: bytes, url: str) -> tuple[tuple[str, ...], str]:
    """The feed URLs a page advertises (absolute, http(s), in page order) and its title."""
    from watcher.parse import MAX_TITLE, clean_text

    finder = _LinkFinder(url, MAX_TITLE)
    finder.feed(body[:MAX_PAGE].decode("utf-8", "replace"))
    finder.close()
    return tuple(finder.feeds[:MAX_ADVERTISED]), clean_text(finder.title, MAX_TITLE)


def html_page(body: bytes, url: str) -> ParsedFeed:
    """An HTML page as the parse result: no items, the feeds it advertises."""
    feeds, title = advertised_feeds(body, url)
    return ParsedFeed(title=title, items=(), html_page=True, advertised=feeds)


def advertised_key(feed_url: str) -> str:
    """The store's meta key recording the feed a page URL was found to advertise."""
    return f"advertised:{feed_url}"


def html_page_problem(advertised: tuple[str, ...]) -> str:
    """What to tell the user about a URL that serves an HTML page."""
    if not advertised:
        return "the URL serves an HTML page, not a feed (the page advertises no feed)"
    return (f"the URL serves an HTML page, not a feed; the page advertises the feed "
            f"{advertised[0]} (use that URL)")
