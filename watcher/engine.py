"""A loaded config put to work: store, fetcher, pipeline and outbox (for the CLI and daemon)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from watcher.config import Config, FeedConfig
from watcher.deliver.outbox import Outbox
from watcher.fetch import Fetcher
from watcher.pipeline import Pipeline, PollOutcome
from watcher.routing import Router
from watcher.store import Store

log = logging.getLogger("watcher.engine")


class Engine:
    def __init__(self, config: Config, store: Store, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.router = Router(config)
        s = config.settings
        self.fetcher = Fetcher(max_connections=s.concurrency, per_host=s.per_host,
                               read_timeout=s.timeout_seconds, total_timeout=s.timeout_seconds * 2,
                               max_bytes=s.max_bytes)
        self.pipeline = Pipeline(self.router, store, self.fetcher)
        self.outbox = Outbox(config, store, clock=clock)

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def poll(self, feeds: Sequence[FeedConfig]) -> list[PollOutcome]:
        """Poll these feeds concurrently (the fetcher bounds the connections)."""
        async def one(feed: FeedConfig) -> PollOutcome:
            try:
                return await self.pipeline.poll(feed, self.clock())
            except Exception as exc:  # one feed's bug must not stop the others
                log.exception("feed %s: unexpected error", feed.label, extra={"feed": feed.label})
                return PollOutcome(feed.label, False, "error", error=f"internal error: {exc}")
        return list(await asyncio.gather(*(one(f) for f in feeds)))

    async def drain(self, patience: float = 30.0) -> None:
        """Deliver until nothing is due, waiting for retries that fall within `patience` seconds."""
        deadline = self.clock() + patience
        while True:
            await self.outbox.deliver_due()
            wake = self.outbox.next_wakeup()
            if wake is None or wake > deadline:
                return
            await asyncio.sleep(max(0.05, wake - self.clock()))
