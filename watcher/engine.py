"""A loaded config put to work: store, fetch source, pipeline, outbox and health.

`watcher poll` and `watcher run` both drive an Engine. It owns the shell parts around
the pipeline: the fetch source (worker processes that fetch and parse on every core,
watcher/fetchpool.py, unless one is given: `explain` and some tests use the in-process
`watcher.source.LocalSource`), the metrics the stages record, and feed health
(watcher.health decides; here its notices are queued as "health" or "recovered" alerts
to the `[watcher] health` channels, and the network-down check runs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from watcher import health
from watcher.config import Config, FeedConfig, WatcherSettings
from watcher.deliver.channels import Channel, build_channel
from watcher.deliver.outbox import Outbox
from watcher.errors import DeliveryError, WatcherError
from watcher.fetchpool import FetchPool
from watcher.metrics import Metrics
from watcher.models import Alert, AlertKind, Match, Snippet
from watcher.pipeline import Pipeline, PollOutcome
from watcher.prepare import Profiles
from watcher.routing import Router
from watcher.source import FetchSource, LocalSource
from watcher.store import Store

log = logging.getLogger("watcher.engine")
NETWORK = "network"   # the health record of the network as a whole (beside feeds' URLs)


def fetcher_options(settings: WatcherSettings) -> dict[str, Any]:
    """Fetcher's options from the config: for the in-process source and the workers'."""
    s = settings
    return {"max_connections": s.concurrency, "per_host": s.per_host,
            "read_timeout": s.timeout_seconds, "total_timeout": s.timeout_seconds * 2,
            "max_bytes": s.max_bytes}


def profiles_of(config: Config) -> Profiles:
    """The config's queries and aliases, for a source that matches where it parses."""
    return Profiles({p.name: p.query for p in config.profiles},
                    {name: list(terms) for name, terms in config.aliases.items()})


def local_source(config: Config, metrics: Metrics | None = None) -> LocalSource:
    """Fetch, parse and match in this process, with the config's limits and profiles."""
    return LocalSource(fetcher_options(config.settings), metrics, profiles_of(config))


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
                 source: FetchSource | None = None, owner: str = "local") -> None:
        """`source` defaults to worker processes (watcher/fetchpool.py)."""
        self.config = config
        self.store = store
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.router = CountingRouter(config, self.metrics)
        s = config.settings
        self.source: FetchSource = source or FetchPool(
            s.parse_workers or os.cpu_count() or 1, fetcher_options(s), self.metrics,
            profiles_of(config))
        self.pipeline = Pipeline(self.router, store, self.source)
        self.pipeline.index_old_stories(clock())
        tz = s.tz
        channels = {name: cast(Channel, CountedChannel(build_channel(name, cfg, tz), self.metrics))
                    for name, cfg in config.channels.items()}
        self.outbox = Outbox(config, store, clock=clock, channels=channels, owner=owner,
                             lease=s.lease_seconds)
        known = store.feeds()
        self.failures: dict[str, tuple[int, str | None]] = {
            f.url: (f.consecutive_failures, f.error_kind) for f in known if not f.gone}
        self.gone = {f.url for f in known if f.gone}

    async def aclose(self) -> None:
        await self.source.aclose()

    async def poll(self, feeds: Sequence[FeedConfig],
                   progress: Callable[[PollOutcome], None] | None = None) -> list[PollOutcome]:
        """Poll these feeds concurrently (the fetcher bounds the connections), then health.

        `progress` is called with each feed's outcome as that feed finishes.
        """
        async def one(feed: FeedConfig) -> PollOutcome:
            outcome = await attempt(feed)
            if progress is not None:
                progress(outcome)
            return outcome

        async def attempt(feed: FeedConfig) -> PollOutcome:
            try:
                return await self.pipeline.poll(feed, self.clock())
            except WatcherError as exc:  # the store failed (disk full, database down): one line
                log.error("feed %s: not recorded: %s", feed.label, exc, extra={"feed": feed.label})
                return PollOutcome(feed.label, False, "error", error=str(exc))
            except Exception as exc:  # one feed's bug must not stop the others
                log.exception("feed %s: unexpected error", feed.label, extra={"feed": feed.label})
                return PollOutcome(feed.label, False, "error", error=f"internal error: {exc}")
        if feeds:
            self.source.start()
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
            records = self.store.health_records()
            record = records.get(NETWORK, health.Record())
            new, notice = health.network_step(record, down, len(known), now)
            self._apply(NETWORK, record, new, notice, "", now)
            for sig in signals:
                record = records.get(sig.url, health.Record())
                new, notice = health.step(record, sig, now, network_down=down)
                self._apply(sig.url, record, new, notice, sig.name, now)

    def _arrivals(self, url: str) -> tuple[float, ...]:
        return tuple(self.store.arrivals(url))

    def _apply(self, subject: str, old: health.Record, new: health.Record,
               notice: health.Notice | None, feed: str, now: float) -> None:
        if new != old:
            self.store.save_health_record(subject, new)
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
