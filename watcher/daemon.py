"""`watcher run`: APScheduler ticks, the poll and delivery loops, signals, graceful stop.

The schedule of each feed lives in the store (next_poll_at); APScheduler only ticks
every second to start due polls and deliveries, and runs cron jobs (digests, pruning).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from watcher.config import Config, FeedConfig, load_config
from watcher.engine import Engine
from watcher.errors import ConfigError, WatcherError
from watcher.store import Store, open_store
from watcher.timeparse import parse_clock

log = logging.getLogger("watcher.daemon")
STOP_GRACE = 4.0


class Daemon:
    def __init__(self, path: Path, config: Config, store: Store) -> None:
        self.path = path
        self.config = config
        self.store = store
        self.engine = Engine(config, store)
        self.engine.outbox.clear_errors()
        self.in_flight: dict[str, asyncio.Task[object]] = {}
        self.delivering: asyncio.Task[object] | None = None
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    # -- jobs -------------------------------------------------------------------------------
    def _feeds(self) -> dict[str, FeedConfig]:
        return {f.url: f for f in self.config.feeds}

    async def tick(self) -> None:
        """Start a poll for every due feed that is not being polled already."""
        if self.stopping.is_set():
            return
        feeds = self._feeds()
        for url in self.store.due_feeds(list(feeds), time.time()):
            if url not in self.in_flight:
                task = asyncio.create_task(self.engine.poll([feeds[url]]))
                self.in_flight[url] = task
                task.add_done_callback(self._forget(url))
        if self.delivering is None or self.delivering.done():
            self.delivering = asyncio.create_task(self._deliver())

    def _forget(self, url: str) -> Callable[[asyncio.Task[object]], None]:
        def done(_task: asyncio.Task[object]) -> None:
            self.in_flight.pop(url, None)
        return done

    async def _deliver(self) -> None:
        try:
            await self.engine.outbox.deliver_due()
        except WatcherError as exc:
            log.error("delivery: %s", exc)

    async def digest(self, channel: str) -> None:
        try:
            await self.engine.outbox.send_digest(channel)
        except WatcherError as exc:
            log.error("digest for %s: %s", channel, exc, extra={"channel": channel})

    async def housekeeping(self) -> None:
        removed = self.store.prune(time.time() - self.config.settings.retention_seconds)
        if removed:
            log.info("pruned %d item(s) older than %s", removed, self.config.settings.retention)

    def _schedule_jobs(self) -> None:
        for job in self.scheduler.get_jobs():
            job.remove()
        self.scheduler.add_job(self.tick, "interval", seconds=1, id="tick")
        self.scheduler.add_job(self.housekeeping, "interval", hours=1, id="housekeeping")
        tz = self.config.settings.tz
        for name, cfg in self.config.channels.items():
            if cfg.mode != "digest":
                continue
            for clock in cfg.digest:
                t = parse_clock(clock)
                self.scheduler.add_job(self.digest, CronTrigger(hour=t.hour, minute=t.minute,
                                                                timezone=tz),
                                       args=[name], id=f"digest:{name}:{clock}")

    # -- signals ----------------------------------------------------------------------------
    def reload(self) -> None:
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            for line in exc.problems:
                log.error("reload refused, keeping the running config: %s", line)
            return
        old = self.engine
        self.config = config
        self.engine = Engine(config, self.store)
        self.engine.outbox.clear_errors()
        self._schedule_jobs()
        asyncio.get_running_loop().create_task(self._close_later(old))
        log.info("config reloaded: %d feed(s), %d profile(s), %d channel(s)",
                 len(config.feeds), len(config.profiles), len(config.channels))

    async def _close_later(self, engine: Engine) -> None:
        tasks = list(self.in_flight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        await engine.aclose()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self._schedule_jobs()
        self.scheduler.start()
        for name in self.engine.outbox.missed_digests():
            log.info("sending the digest for %s missed while watcher was down", name,
                     extra={"channel": name})
            await self.digest(name)
        log.info("watcher running: %d feed(s), %d profile(s), %d channel(s), state %s",
                 len(self.config.feeds), len(self.config.profiles), len(self.config.channels),
                 self.config.state.split("@")[-1])
        await self.stopping.wait()
        log.info("stopping: finishing in-flight polls and deliveries")
        self.scheduler.shutdown(wait=False)
        pending = [*self.in_flight.values()]
        if self.delivering is not None:
            pending.append(self.delivering)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        await self.engine.aclose()
        self.store.close()
        log.info("stopped")
        return 0


def run_daemon(path: Path, *, metrics: str | None = None) -> int:
    config = load_config(path)
    for warning in config.warnings:
        log.warning("%s", warning)
    if metrics:
        log.warning("--metrics is not available in this version; ignored")
    store = open_store(config.state)

    async def main() -> int:
        return await Daemon(path, config, store).run()

    return asyncio.run(main())
