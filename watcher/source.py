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
from typing import TYPE_CHECKING, Any, Protocol

from watcher.errors import FetchError, ParseError
from watcher.models import FetchResult, ParsedFeed

# imported when used: the daemon's process needs neither httpx nor feedparser when its
# workers fetch and parse
if TYPE_CHECKING:
    from watcher.fetch import Fetcher
    from watcher.metrics import Metrics


@dataclass(frozen=True)
class FetchRequest:
    """One feed to fetch, with what the store remembers of its last document."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    known_hash: str | None = None          # the last body's hash: equal means unchanged
    feed_name: str | None = None
    known_items: frozenset[str] = frozenset()   # digests of the last document's items


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
    kind: str
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


class FetchSource(Protocol):
    def start(self) -> None:
        """Get ready for a round (start worker processes); may do nothing."""

    async def fetch(self, request: FetchRequest) -> Fetched:
        """Fetch and parse one feed; raises FetchError."""

    async def aclose(self) -> None: ...


async def fetch_and_parse(fetcher: Fetcher, request: FetchRequest) -> Answer:
    """The one fetch-and-parse step, run by the workers and by `LocalSource`."""
    from watcher.parse import body_hash, parse_feed

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
        parsed = await asyncio.to_thread(
            parse_feed, body, headers=result.headers, url=result.final_url,
            feed_name=request.feed_name, known_items=request.known_items)
    except ParseError as exc:
        return Fetched(light, digest, parse_error=str(exc))
    return Fetched(light, digest, parsed)


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
    """Fetch with one in-process `Fetcher` (made on first use) and parse in a thread."""

    def __init__(self, fetcher_options: dict[str, Any], metrics: Metrics | None = None) -> None:
        self.options = fetcher_options
        self.metrics = metrics
        self._fetcher: Fetcher | None = None

    def start(self) -> None:
        pass

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            from watcher.fetch import Fetcher

            self._fetcher = Fetcher(**self.options)
        return self._fetcher

    async def fetch(self, request: FetchRequest) -> Fetched:
        answer = await fetch_and_parse(self.fetcher, request)
        observe(self.metrics, answer)
        return unwrap(answer)

    async def aclose(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.aclose()
            self._fetcher = None
