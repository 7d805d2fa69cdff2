"""Value types that travel between the stages of the pipeline.

All are frozen dataclasses: a stage never changes what an earlier one produced.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from watcher.prepare import ItemFacts

AlertKind = Literal["new", "update", "also", "edit", "test", "health", "recovered"]
"""What an alert says (see `Alert`); renderers choose their words and icons by it."""

# when an item's linked page is fetched for its whole text (watcher.article.policy)
ArticleMode = Literal["auto", "always", "never"]
# what came of fetching an item's page: extracted text ("ok"), or why there is none
ArticleOutcome = Literal["ok", "empty", "paywall", "too_large", "not_html", "http_error",
                         "timeout", "failed"]


@dataclass(frozen=True)
class Article:
    """The main text of an item's linked page, or the outcome that gave none."""

    outcome: ArticleOutcome
    text: str = ""                  # plain text, capped (watcher.article.extract)
    identity: str | None = None     # the page's canonical URL on its own site, if any
    detail: str | None = None       # the error, for outcomes without text
    size: int = 0                   # bytes of the page
    seconds: float = 0.0            # extraction time


@dataclass(frozen=True)
class Item:
    """One entry of a feed, as parsed (text fields may still hold HTML)."""

    feed_url: str
    feed_name: str
    guid: str | None
    link: str | None
    title: str
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    article: Article | None = None    # its linked page, fetched for a new teaser item
    # its texts, identities and matches, computed where it was parsed (watcher.prepare)
    facts: ItemFacts | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ParsedFeed:
    """What parse.py makes of one feed document."""

    title: str
    items: tuple[Item, ...]   # the new or changed ones when earlier digests were given
    problem: str | None = None  # set when the document was not well-formed (bozo)
    item_digests: tuple[str, ...] = ()   # every item of the document (parse.item_spans)
    unchanged: int = 0   # items left out: their bytes were in the earlier digests
    html_page: bool = False   # the document is an HTML page, not a feed (watcher/discover.py)
    advertised: tuple[str, ...] = ()   # the feeds that page advertises, in page order


@dataclass(frozen=True)
class FetchResult:
    """What fetch.py got for one feed URL."""

    url: str                      # the URL asked for
    final_url: str                # after redirects
    status: int                   # 200, 304, ...
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case keys
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: bool = False  # every hop was 301/308
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Hit:
    """Where one query term matched: offsets into the field's plain text."""

    field: str   # "title", "summary", "content", "article", "author", "category", "feed"
    start: int
    end: int
    term: str


@dataclass(frozen=True)
class Match:
    """One profile that matched one item."""

    profile: str
    terms: tuple[str, ...]          # distinct matched terms, in query order
    hits: tuple[Hit, ...] = ()


SnippetField = Literal["title", "summary", "content", "article"]


@dataclass(frozen=True)
class Snippet:
    """A short plain-text extract with the spans (start, end) to show in bold, and the item
    field it was cut from (None: not from an item, e.g. a test or health alert). Renderers
    mark a snippet from "article" (the fetched page, not the feed's own text)."""

    text: str
    bold: tuple[tuple[int, int], ...] = ()
    field: SnippetField | None = None


@dataclass(frozen=True)
class Alert:
    """One message for one channel, as the delivery worker hands it to a renderer.

    kind: "new" (a story), "update" (an edit that newly matches), "also" (another
    outlet's copy of an alerted story: a thread reply in Slack), "edit" (a changed
    title, for on_update = "thread"), "test" (watcher test-alert), "health" (a feed
    failing, quiet or gone, or the network down), "recovered" (a feed or the network
    back).
    """

    id: int
    channel: str
    kind: AlertKind
    profiles: tuple[str, ...]
    title: str
    link: str
    feed: str
    published: datetime | None
    snippet: Snippet
    terms: tuple[str, ...]
    story_id: int | None = None
