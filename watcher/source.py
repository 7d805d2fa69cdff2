"""Where a pipeline gets its documents: one interface, two implementations.

A `FetchSource` takes a `FetchRequest` (a feed URL and what the store remembers of it)
and returns `Fetched`: the HTTP result without its body, and for a changed body its hash
and its parse (only the items that are new or changed since `known_items`), or raises
`FetchError`. Both implementations run the same `fetch_and_parse` step:

- `watcher.fetchpool.FetchPool`: in worker processes, on every core (`poll`, `run`);
- `LocalSource` below: in this process, feedparser in a thread (`explain`,
  `check --online`, tests that want one process).

The messages between the daemon and its workers are the dataclasses of this module.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

from watcher.decisions import MatchWindow
from watcher.errors import FetchError, FetchErrorKind, ParseError
from watcher.models import Article, ArticleOutcome, FetchResult, ParsedFeed

# imported when used: the daemon's process needs neither httpx nor feedparser when its
# workers fetch and parse
if TYPE_CHECKING:
    from watcher.fetch import Fetcher
    from watcher.metrics import Metrics
    from watcher.prepare import Profiles
    from watcher.query import Matcher


@dataclass(frozen=True)
class FetchRequest:
    """One feed to fetch, with what the store remembers of its last document."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    known_hash: str | None = None          # the last body's hash: equal means unchanged
    feed_name: str | None = None
    known_items: frozenset[str] = frozenset()   # digests of the last document's items
    window: MatchWindow | None = None   # the items to match where parsed (none: no item)


@dataclass(frozen=True)
class Fetched:
    """A fetch done: the result (body dropped), and for a changed body its hash and its
    parse (the items, or the reason it could not be parsed)."""

    result: FetchResult
    digest: str | None = None
    parsed: ParsedFeed | None = None
    parse_error: str | None = None


@dataclass(frozen=True)
class FetchFailed:
    """A fetch that failed, as it crosses from a worker (re-raised as `FetchError`)."""

    message: str
    kind: FetchErrorKind
    status: int | None = None
    retry_after: float | None = None
    elapsed: float = 0.0

    @classmethod
    def ours(cls, message: str) -> FetchFailed:
        """A failure of ours, not the feed's: transient, so retried at the next poll."""
        return cls(message, "transient")

    def error(self) -> FetchError:
        return FetchError(self.message, kind=self.kind, status=self.status,
                          retry_after=self.retry_after)


Answer = Fetched | FetchFailed


@dataclass(frozen=True)
class ArticleRequest:
    """An item's linked page to fetch and extract, within `timeout` seconds in all."""

    url: str
    timeout: float


class FetchSource(Protocol):
    def start(self) -> None:
        """Get ready for a round (start worker processes); may do nothing."""

    async def fetch(self, request: FetchRequest) -> Fetched:
        """Fetch and parse one feed; raises FetchError."""

    async def article(self, request: ArticleRequest) -> Article:
        """Fetch one page and extract its main text; never raises (see Article.outcome)."""

    async def aclose(self) -> None: ...


async def fetch_and_parse(fetcher: Fetcher, request: FetchRequest,
                          matcher: Matcher | None = None) -> Answer:
    """The one fetch-and-parse step, run by the workers and by `LocalSource`: each parsed
    item gets its facts (watcher.prepare), matched by `matcher` inside the request's
    window."""
    from watcher.parse import body_hash

    started = time.monotonic()
    try:
        result: FetchResult = await fetcher.fetch(request.url, etag=request.etag,
                                                  last_modified=request.last_modified)
    except FetchError as exc:
        return FetchFailed(str(exc), exc.kind, exc.status, exc.retry_after,
                           time.monotonic() - started)
    body = result.body
    light = replace(result, body=b"")
    if result.not_modified:
        return Fetched(light)
    digest = body_hash(body)
    if digest == request.known_hash:
        return Fetched(light, digest)
    try:
        parsed = await asyncio.to_thread(_parse, body, result, request, matcher)
    except ParseError as exc:
        return Fetched(light, digest, parse_error=str(exc))
    return Fetched(light, digest, parsed)


def _parse(body: bytes, result: FetchResult, request: FetchRequest,
           matcher: Matcher | None) -> ParsedFeed:
    from watcher.parse import parse_feed
    from watcher.prepare import with_facts

    parsed = parse_feed(body, headers=result.headers, url=result.final_url,
                        feed_name=request.feed_name, known_items=request.known_items)
    return with_facts(parsed, matcher, request.window)


async def fetch_article(fetcher: Fetcher, request: ArticleRequest) -> Article:
    """The one article step, run by the workers and by `LocalSource`: the page under the
    feed fetcher's limits (HTML only, its own smaller cap), its text by trafilatura in a
    thread; the whole within the request's timeout."""
    from watcher.fetch import PAGE, NotHTML

    try:
        async with asyncio.timeout(request.timeout):
            result = await fetcher.fetch(request.url, want=PAGE)
            started = time.monotonic()
            extracted = await asyncio.to_thread(_extract, result.body, result.final_url,
                                                result.headers)
    except TimeoutError:
        return Article("timeout", detail=f"no article within {request.timeout:g}s")
    except NotHTML as exc:
        return Article("not_html", detail=str(exc))
    except FetchError as exc:
        failed: ArticleOutcome = "http_error" if exc.status is not None and exc.status >= 400 \
            else "failed"
        return Article(failed, detail=str(exc))
    return Article(cast(ArticleOutcome, extracted.outcome.value), extracted.text,
                   extracted.identity, size=len(result.body),
                   seconds=time.monotonic() - started)


def _extract(body: bytes, url: str, headers: dict[str, str]) -> Any:
    from watcher.article.extract import extract  # trafilatura: in workers only

    return extract(body, url, headers)


def observe_article(metrics: Metrics | None, article: Article) -> None:
    if metrics is not None:
        metrics.observe_article(article.outcome, article.size, article.seconds)


def observe(metrics: Metrics | None, answer: Answer) -> None:
    """Count one answer's fetch and parse (the same for both sources)."""
    if metrics is None:
        return
    if isinstance(answer, FetchFailed):
        if answer.status is not None:
            metrics.observe_fetch(answer.status, answer.elapsed)
        return
    metrics.observe_fetch(answer.result.status, answer.result.elapsed)
    if answer.parse_error is not None:
        metrics.parse_failures.inc()
    elif answer.parsed is not None:
        metrics.observe_parse(len(answer.parsed.items))


def unwrap(answer: Answer) -> Fetched:
    if isinstance(answer, FetchFailed):
        raise answer.error()
    return answer


class LocalSource:
    """Fetch with one in-process `Fetcher` (made on first use) and parse in a thread;
    items are matched there too when `profiles` are given, as in the workers."""

    def __init__(self, fetcher_options: dict[str, Any], metrics: Metrics | None = None,
                 profiles: Profiles | None = None) -> None:
        self.options = fetcher_options
        self.metrics = metrics
        self.matcher = profiles.matcher() if profiles is not None else None
        self._fetcher: Fetcher | None = None

    def start(self) -> None:
        pass

    @property
    def fetcher(self) -> Fetcher:
        """Made on first use, when this process starts fetching and parsing (feedparser's
        patches are installed then)."""
        if self._fetcher is None:
            from watcher.fetch import Fetcher
            from watcher.parse import install_feedparser_patches

            install_feedparser_patches()
            self._fetcher = Fetcher(**self.options)
        return self._fetcher

    async def fetch(self, request: FetchRequest) -> Fetched:
        answer = await fetch_and_parse(self.fetcher, request, self.matcher)
        observe(self.metrics, answer)
        return unwrap(answer)

    async def article(self, request: ArticleRequest) -> Article:
        article = await fetch_article(self.fetcher, request)
        observe_article(self.metrics, article)
        return article

    async def aclose(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.aclose()
            self._fetcher = None
