"""A loaded config put to work: store, fetcher, parser processes, pipeline, outbox and health.

`watcher poll` and `watcher run` both drive an Engine. It owns the shell parts around
the pipeline: the worker processes that fetch and parse on every core
(watcher/fetchpool.py; the in-process fetcher plus a feedparser process pool when a
parser pool is given, as some tests do), the metrics the stages record,
and feed health (watcher.health decides; here its notices are queued as "health"
or "recovered" alerts to the `[watcher] health` channels, and the network-down check runs).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from watcher import health
from watcher.config import Config, FeedConfig
from watcher.deliver.channels import Channel, build_channel
from watcher.deliver.outbox import Outbox
from watcher.errors import DeliveryError, ParseError, WatcherError
from watcher.fetchpool import FetchPool
from watcher.metrics import Metrics
from watcher.models import Alert, AlertKind, Match, ParsedFeed, Snippet
from watcher.pipeline import Pipeline, PollOutcome
from watcher.routing import Router
from watcher.schedule import arrivals_key, loads_arrivals
from watcher.store import Store

# imported when first used: the daemon's process needs neither httpx nor feedparser
# when the workers fetch and parse
if TYPE_CHECKING:
    from watcher.fetch import Fetcher

log = logging.getLogger("watcher.engine")
ParseFunc = Callable[[bytes, dict[str, str], str, "str | None"], ParsedFeed]


class ParserPool:
    """feedparser in worker processes; a crashed worker fails one parse, not the daemon."""

    def __init__(self, metrics: Metrics, workers: int = 0,
                 func: ParseFunc | None = None) -> None:
        """`func` defaults to watcher.parseworker.parse_document."""
        self.metrics = metrics
        self.workers = workers or os.cpu_count() or 1
        self.func = func
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from watcher.parseworker import die_with_parent, parse_document

            self.func = self.func or parse_document
            # spawn: workers never inherit the daemon's threads or locks, and are its direct
            # children, so they can ask the kernel to kill them when it dies (even by SIGKILL).
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                             initializer=die_with_parent)
        return self._pool

    def warm(self) -> None:
        """Start the worker processes now (they start in the background while feeds are
        fetched), not when the first changed document is already waiting."""
        if self._pool is None:
            pool = self._executor()
            for _ in range(self.workers):
                pool.submit(os.getpid)

    async def __call__(self, body: bytes, headers: dict[str, str], url: str,
                       feed_name: str | None) -> ParsedFeed:
        pool = self._executor()
        loop = asyncio.get_running_loop()
        try:
            func = cast(ParseFunc, self.func)
            parsed = await loop.run_in_executor(pool, func, body, headers, url, feed_name)
        except BrokenProcessPool:
            self.metrics.parse_failures.inc()
            if self._pool is pool:
                log.error("a parser process died (parsing %s); starting a new pool", url,
                          extra={"feed": feed_name or url})
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ParseError("the parser process crashed on this document") from None
        except ParseError:
            self.metrics.parse_failures.inc()
            raise
        self.metrics.observe_parse(len(parsed.items))
        return parsed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class CountingRouter(Router):
    """The config's router, counting each profile's matches (after feed scoping)."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        super().__init__(config)
        self.metrics = metrics

    def scoped(self, matches: Sequence[Match], feed: FeedConfig) -> list[Match]:
        kept = super().scoped(matches, feed)
        for match in kept:
            self.metrics.matches.labels(profile=match.profile).inc()
        return kept


class CountedChannel:
    """A channel that counts what it sent and what failed."""

    def __init__(self, inner: Channel, metrics: Metrics) -> None:
        self.inner = inner
        self.sent = metrics.alerts_sent.labels(channel=inner.name)
        self.failed = metrics.alerts_failed.labels(channel=inner.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _count(self, n: int, call: Callable[[], str | None]) -> str | None:
        try:
            result = call()
        except DeliveryError:
            self.failed.inc()
            raise
        self.sent.inc(n)
        return result

    def send_alert(self, alert: Alert) -> str | None:
        return self._count(1, lambda: self.inner.send_alert(alert))

    def send_reply(self, alert: Alert, thread_ts: str) -> str | None:
        return self._count(1, lambda: self.inner.send_reply(alert, thread_ts))

    def send_summary(self, alerts: Sequence[Alert]) -> str | None:
        return self._count(len(alerts), lambda: self.inner.send_summary(alerts))

    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None:
        return self._count(len(alerts), lambda: self.inner.send_digest(alerts, heading))


class Engine:
    def __init__(self, config: Config, store: Store, *,
                 clock: Callable[[], float] = time.time, metrics: Metrics | None = None,
                 parser: ParserPool | None = None, owner: str = "local") -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.router = CountingRouter(config, self.metrics)
        s = config.settings
        self._fetcher: Fetcher | None = None
        self.pipeline = Pipeline(self.router, store, None)
        # fetching and parsing in worker processes, unless a parser pool was given (tests):
        # then the in-process fetcher fetches and the pool parses
        self.parser = parser
        self.remote: FetchPool | None = None
        if parser is None:
            self.remote = FetchPool(s.parse_workers or os.cpu_count() or 1,
                                    self._fetcher_options(), self.metrics)
            self.pipeline.remote = self.remote
        else:
            self.pipeline.fetcher = self.fetcher
            self.pipeline.parse = parser
        tz = s.tz
        channels = {name: cast(Channel, CountedChannel(build_channel(name, cfg, tz), self.metrics))
                    for name, cfg in config.channels.items()}
        self.outbox = Outbox(config, store, clock=clock, channels=channels, owner=owner,
                             lease=s.lease_seconds)
        known = store.feeds()
        self.failures: dict[str, tuple[int, str | None]] = {
            f.url: (f.consecutive_failures, f.error_kind) for f in known if not f.gone}
        self.gone = {f.url for f in known if f.gone}

    @property
    def fetcher(self) -> Fetcher:
        """The in-process fetcher (`check --online`, `try`, a given parser pool), made on
        first use."""
        if self._fetcher is None:
            from watcher.fetch import Fetcher

            self._fetcher = Fetcher(**self._fetcher_options(),
                                    observe=self.metrics.observe_fetch)
        return self._fetcher

    def _fetcher_options(self) -> dict[str, Any]:
        """Fetcher's options from the config: for the in-process fetcher and the workers'."""
        s = self.config.settings
        return {"max_connections": s.concurrency, "per_host": s.per_host,
                "read_timeout": s.timeout_seconds, "total_timeout": s.timeout_seconds * 2,
                "max_bytes": s.max_bytes}

    async def aclose(self) -> None:
        if self.parser is not None:
            self.parser.close()
        if self.remote is not None:
            self.remote.close()
        if self._fetcher is not None:
            await self._fetcher.aclose()

    async def poll(self, feeds: Sequence[FeedConfig]) -> list[PollOutcome]:
        """Poll these feeds concurrently (the fetcher bounds the connections), then health."""
        async def one(feed: FeedConfig) -> PollOutcome:
            try:
                return await self.pipeline.poll(feed, self.clock())
            except WatcherError as exc:  # the store failed (disk full, database down): one line
                log.error("feed %s: not recorded: %s", feed.label, exc, extra={"feed": feed.label})
                return PollOutcome(feed.label, False, "error", error=str(exc))
            except Exception as exc:  # one feed's bug must not stop the others
                log.exception("feed %s: unexpected error", feed.label, extra={"feed": feed.label})
                return PollOutcome(feed.label, False, "error", error=f"internal error: {exc}")
        if feeds and self.remote is not None:
            self.remote.start()
        elif feeds and self.parser is not None:
            self.parser.warm()
        outcomes = list(await asyncio.gather(*(one(f) for f in feeds)))
        self.after_polls(feeds, outcomes)
        return outcomes

    # -- health -----------------------------------------------------------------------------
    def after_polls(self, feeds: Sequence[FeedConfig], outcomes: Sequence[PollOutcome]) -> None:
        """Count the outcomes, then decide feed and network health and queue any notices."""
        now = self.clock()
        signals: list[health.Signals] = []
        for feed, outcome in zip(feeds, outcomes, strict=True):
            self.metrics.polls.labels(result=outcome.status).inc()
            state = self.store.feed(feed.url)
            if state is None:
                continue
            if not outcome.ok:
                self.metrics.feed_errors.labels(kind=state.error_kind or "internal").inc()
            self.failures[feed.url] = (state.consecutive_failures, state.error_kind)
            if state.gone:
                self.failures.pop(feed.url, None)
                self.gone.add(feed.url)
            signals.append(health.Signals(
                name=feed.label, url=feed.url, interval=self.config.feed_interval(feed),
                consecutive_failures=state.consecutive_failures, error_kind=state.error_kind,
                last_error=state.last_error, arrivals=self._arrivals(feed.url),
                last_new_item_at=state.last_new_item_at, gone=state.gone))
        configured = [f.url for f in self.config.feeds if f.url not in self.gone]
        known = [self.failures[url] for url in configured if url in self.failures]
        down = len(known) == len(configured) and health.network_down(known)
        self.metrics.feeds_failing.set(sum(1 for n, _ in known if n > 0))
        with self.store.transaction():
            record = health.Record.loads(self.store.get_meta("health:network"))
            new, notice = health.network_step(record, down, len(known), now)
            self._apply("health:network", record, new, notice, "", now)
            for sig in signals:
                key = f"health:{sig.url}"
                record = health.Record.loads(self.store.get_meta(key))
                new, notice = health.step(record, sig, now, network_down=down)
                self._apply(key, record, new, notice, sig.name, now)

    def _arrivals(self, url: str) -> tuple[float, ...]:
        return tuple(loads_arrivals(self.store.get_meta(arrivals_key(url))))

    def _apply(self, key: str, old: health.Record, new: health.Record,
               notice: health.Notice | None, feed: str, now: float) -> None:
        if new != old:
            self.store.set_meta(key, new.dumps())
        if notice is None:
            return
        level = logging.INFO if notice.recovered else logging.WARNING
        log.log(level, "health: %s", notice.title, extra={"feed": feed} if feed else {})
        for channel in self.config.settings.health:
            if channel not in self.config.channels:
                continue
            kind: AlertKind = "recovered" if notice.recovered else "health"
            alert = Alert(id=0, channel=channel, kind=kind, profiles=("health",),
                          title=notice.title, link=notice.link, feed=feed or "watcher",
                          published=datetime.fromtimestamp(now, UTC),
                          snippet=Snippet(notice.detail), terms=())
            self.store.add_alert(alert, dedupe_key=notice.key, item_id=None, urgent=True,
                                 now=now)

    async def drain(self, patience: float = 30.0) -> None:
        """Deliver until nothing is due, waiting for retries that fall within `patience` seconds."""
        deadline = self.clock() + patience
        while True:
            await self.outbox.deliver_due()
            wake = self.outbox.next_wakeup()
            if wake is None or wake > deadline:
                return
            await asyncio.sleep(max(0.05, wake - self.clock()))
