"""`watcher run`: APScheduler ticks, the poll and delivery loops, signals, graceful stop.

The schedule of each feed lives in the store (next_poll_at); APScheduler only ticks
every second to start due polls and deliveries, and runs cron jobs (digests, pruning).
Around that: SIGHUP reloads (an invalid config is refused, the old one kept), SIGTERM
and SIGINT drain, the systemd notify protocol (READY, WATCHDOG only while ticks run and
the store answers, STATUS, STOPPING), and the optional /metrics and /healthz server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from watcher import __version__, health
from watcher.config import Config, FeedConfig, load_config
from watcher.engine import NETWORK, Engine
from watcher.errors import ConfigError, WatcherError
from watcher.logs import use_timezone
from watcher.metrics import Metrics, MetricsServer, parse_address
from watcher.notify import Notifier
from watcher.pipeline import PollOutcome
from watcher.retention import prune_if_due
from watcher.store import Store, open_store
from watcher.store.sharing import process_alive as process_alive  # re-exported
from watcher.store.sharing import process_gone
from watcher.summary import RoundSummary, sent_count
from watcher.timeparse import format_duration, parse_clock

log = logging.getLogger("watcher.daemon")
STOP_GRACE = 3.0      # seconds in-flight polls and deliveries get on SIGTERM
TICK_STALE = 10.0     # /healthz fails when the scheduler has not ticked for this long
GAUGES_EVERY = 5.0    # seconds between refreshes of the gauges read from the store
HEARTBEAT_EVERY = 5.0  # seconds between heartbeats in the store (`watcher status` shows them)
SILENT_AFTER = 10.0   # a daemon without a heartbeat for this long is asked whether it is gone
DIGEST_GAP = 30.0     # daemons firing the same digest within this many seconds send it once


def daemon_name() -> str:
    """A name for this daemon in the store's leases: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Daemon:
    def __init__(self, path: Path, config: Config, store: Store, *,
                 metrics: Metrics | None = None, notifier: Notifier | None = None) -> None:
        self.path = path
        self.config = config
        self.store = store
        self.metrics = metrics or Metrics()
        self.notifier = notifier or Notifier()
        self.owner = daemon_name()
        self.engine = Engine(config, store, metrics=self.metrics, owner=self.owner)
        self.engine.outbox.clear_errors()
        self._heartbeat_at = 0.0
        self._feed_map: dict[str, FeedConfig] = {}
        self._feed_map_of: Config | None = None
        self.last_tick = 0.0
        self._gauges_at = 0.0
        self._round: list[PollOutcome] = []     # this round's outcomes (see _count_round)
        self._round_feeds: set[str] = set()
        self._round_started = time.monotonic()
        self._round_sent = sent_count(store.outbox_counts())
        self._network_down = False
        self.started = False
        self.in_flight: dict[str, asyncio.Task[list[PollOutcome]]] = {}
        self.delivering: asyncio.Task[object] | None = None
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    # -- jobs -------------------------------------------------------------------------------
    def _feeds(self) -> dict[str, FeedConfig]:
        if self._feed_map_of is not self.config:
            self._feed_map = {f.url: f for f in self.config.feeds}
            self._feed_map_of = self.config
        return self._feed_map

    async def tick(self) -> None:
        """Start a poll for every due feed that is not being polled already."""
        if self.stopping.is_set():
            return
        now = time.time()
        if now - self._gauges_at >= GAUGES_EVERY:   # gauges that read the store, now and then
            self._gauges_at = now
            self.metrics.set_pending(self.store.outbox_counts(), list(self.config.channels))
        self.last_tick = now
        self.metrics.last_tick.set(now)
        if now - self._heartbeat_at >= HEARTBEAT_EVERY:
            self._heartbeat_at = now
            self.store.heartbeat(self.owner, now, f"watcher {__version__}, "
                                 f"{len(self.config.feeds)} feeds")
            self.take_over_dead(now)
        self._start_due(now)
        if self.delivering is None or self.delivering.done():
            self.delivering = asyncio.create_task(self._deliver())

    def _start_due(self, now: float) -> None:
        """Claim due feeds (up to twice the concurrency in flight) and start their polls."""
        feeds = self._feeds()
        room = 2 * self.config.settings.concurrency - len(self.in_flight)
        if room <= 0 or self.stopping.is_set():
            return
        try:
            claimed = self.store.claim_feeds([u for u in feeds if u not in self.in_flight],
                                             self.owner, now, self.config.settings.lease_seconds,
                                             limit=room)
        except WatcherError as exc:
            log.error("cannot claim feeds: %s", exc)
            return
        for url in claimed:
            task = asyncio.create_task(self.engine.poll([feeds[url]]))
            self.in_flight[url] = task
            task.add_done_callback(self._forget(url))

    def _forget(self, url: str) -> Callable[[asyncio.Task[list[PollOutcome]]], None]:
        def done(task: asyncio.Task[list[PollOutcome]]) -> None:
            self.in_flight.pop(url, None)
            if not task.cancelled() and task.exception() is None:
                self._count_round(url, task.result())
            try:
                self.store.release_feed(url, self.owner)
            except WatcherError as exc:
                log.warning("feed lease of %s not released: %s (it expires)", url, exc)
            # half the slots are free: claim the next batch now rather than at the next tick
            if len(self.in_flight) <= self.config.settings.concurrency \
                    and not self.stopping.is_set():
                asyncio.get_running_loop().call_soon(self._start_due, time.time())
        return done

    def _count_round(self, url: str, outcomes: list[PollOutcome]) -> None:
        """Log the round's summary once every feed was polled since the last one (or, when
        daemons share the store and each polls a part, once an interval has passed); say
        when the network is found down and when the next try is."""
        self._round.extend(outcomes)
        self._round_feeds.add(url)
        try:
            if self._network_down or not all(o.ok for o in outcomes):
                self._network_check()   # only failures can mean the network is down
            every = set(self._feeds()) - self.engine.gone <= self._round_feeds
            late = time.monotonic() - self._round_started >= self.config.settings.interval_seconds
            if every or late:
                sent = sent_count(self.store.outbox_counts())
                summary = RoundSummary.of(self._round, sent=max(0, sent - self._round_sent),
                                          seconds=time.monotonic() - self._round_started)
                log.info("round: %s", summary.line(self.config.settings.backfill))
                self._round, self._round_feeds = [], set()
                self._round_started, self._round_sent = time.monotonic(), sent
        except WatcherError as exc:
            log.warning("round summary: %s", exc)

    def _network_check(self) -> None:
        record = self.store.health_records().get(NETWORK, health.Record())
        down = record.state == "down"
        if down and not self._network_down:
            due = [s.next_poll_at for s in self.store.feeds() if s.next_poll_at and not s.gone]
            if due:
                at = min(due)
                when = datetime.fromtimestamp(at, self.config.settings.tz)
                log.warning("network down: every feed fails; tries again at %s (in %s)",
                            when.strftime("%H:%M:%S %Z"), format_duration(at - time.time()))
        self._network_down = down

    async def _deliver(self) -> None:
        try:
            await self.engine.outbox.deliver_due()
        except WatcherError as exc:
            log.error("delivery: %s", exc)

    def healthy(self) -> tuple[bool, str]:
        """For /healthz (called from the metrics thread: reads attributes only)."""
        if self.stopping.is_set():
            return False, "stopping"
        if not self.started or not self.scheduler.running:
            return False, "scheduler not running"
        age = time.time() - self.last_tick
        if age > TICK_STALE:
            return False, f"scheduler has not ticked for {age:.0f}s"
        task = self.delivering
        if task is not None and task.done() and not task.cancelled() \
                and task.exception() is not None:
            return False, f"delivery worker failed: {task.exception()}"
        return True, "ok"

    def summary(self) -> str:
        """One line for systemd's STATUS= (and `systemctl status`)."""
        states = {f.url: f for f in self.store.feeds()}
        feeds = self.config.feeds
        failing = sum(1 for f in feeds if f.url in states and states[f.url].consecutive_failures)
        pending = sum(c.get("pending", 0) for c in self.store.outbox_counts().values())
        last = max((s.last_poll_at or 0.0 for s in states.values()), default=0.0)
        ago = f", last poll {format_duration(time.time() - last)} ago" if last else ""
        return (f"{len(feeds)} feeds, {failing} failing, {pending} alerts pending, "
                f"{len(self.in_flight)} polls in flight{ago}")

    def forget_dead_neighbours(self) -> None:
        """Drop the claims of earlier daemons on this host whose process is gone (killed,
        crashed): a restart need not wait for their leases to expire."""
        for row in self.store.daemons():
            owner = str(row["owner"])
            if owner != self.owner and process_gone(owner):
                log.info("releasing the claims of %s (that process is gone)", owner)
                self.store.forget_owner(owner)

    def take_over_dead(self, now: float) -> None:
        """Free the claims of the daemons that have been silent for SILENT_AFTER seconds and
        that the store can tell are gone (PostgreSQL: their session lock is free; SQLite:
        their process on this host is gone), so the others poll their feeds and send their
        alerts within seconds rather than after the lease. A daemon that is only slow still
        holds its session (or its process exists) and keeps every claim."""
        try:
            silent = [str(r["owner"]) for r in self.store.daemons() if r["owner"] != self.owner
                      and now - cast(float, r["last_heartbeat"]) >= SILENT_AFTER]
            for owner in self.store.gone_owners(silent) if silent else ():
                log.warning("daemon %s is gone: taking over its feeds and alerts", owner)
                self.store.forget_owner(owner)
        except WatcherError as exc:
            log.warning("cannot check for daemons that are gone: %s", exc)

    async def watchdog(self, every: float) -> None:
        """WATCHDOG=1 every `every` seconds, but only while ticks run and the store answers."""
        seen = self.last_tick
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=every)
                return
            except TimeoutError:
                pass
            if self.last_tick <= seen:
                log.warning("watchdog: no scheduler tick for %.0fs; not telling systemd we live",
                            time.time() - self.last_tick)
                continue
            try:
                self.store.get_meta("watchdog")
            except WatcherError as exc:
                log.warning("watchdog: the state store does not answer: %s", exc)
                continue
            seen = self.last_tick
            self.notifier.watchdog()

    async def report_status(self) -> None:
        try:
            self.notifier.status(self.summary())
        except WatcherError as exc:
            log.warning("status: %s", exc)

    async def digest(self, channel: str) -> None:
        """One digest per slot across every daemon sharing the store."""
        if not self.store.run_once(f"digest:{channel}", self.owner, time.time(), DIGEST_GAP):
            return
        try:
            await self.engine.outbox.send_digest(channel)
        except WatcherError as exc:
            log.error("digest for %s: %s", channel, exc, extra={"channel": channel})

    async def housekeeping(self) -> None:
        # hourly, less a margin for the scheduler's drift
        prune_if_due(self.store, self.config.settings, owner=self.owner, now=time.time(),
                     period=3000)

    def _schedule_jobs(self) -> None:
        for job in self.scheduler.get_jobs():
            job.remove()
        self.scheduler.add_job(self.tick, "interval", seconds=1, id="tick")
        self.scheduler.add_job(self.housekeeping, "interval", hours=1, id="housekeeping")
        if self.notifier.enabled:
            self.scheduler.add_job(self.report_status, "interval", seconds=30, id="status")
        tz = self.config.settings.tz
        for name, cfg in self.config.channels.items():
            if cfg.mode != "digest":
                continue
            for clock in cfg.digest:
                t = parse_clock(clock)
                trigger = CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=tz)
                self.scheduler.add_job(self.digest, trigger, args=[name],
                                       id=f"digest:{name}:{clock}")

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
        self.engine = Engine(config, self.store, metrics=self.metrics, owner=self.owner)
        self.engine.outbox.clear_errors()
        self._schedule_jobs()
        asyncio.get_running_loop().create_task(self._close_later(old))
        use_timezone(config.settings.tz)
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
        self.forget_dead_neighbours()
        self.store.heartbeat(self.owner, time.time(), f"watcher {__version__}, starting")
        self._schedule_jobs()
        self.scheduler.start()
        self.started = True
        self.last_tick = time.time()
        watchdog = None
        if self.notifier.watchdog_interval:
            watchdog = asyncio.create_task(self.watchdog(self.notifier.watchdog_interval))
        self.notifier.ready(self.summary())
        for name in self.engine.outbox.missed_digests():
            log.info("sending the digest for %s missed while watcher was down", name,
                     extra={"channel": name})
            await self.digest(name)
        log.info("watcher running: %d feed(s), %d profile(s), %d channel(s), state %s",
                 len(self.config.feeds), len(self.config.profiles), len(self.config.channels),
                 self.config.state.split("@")[-1])
        await self.stopping.wait()
        log.info("stopping: finishing in-flight polls and deliveries")
        self.notifier.stopping("stopping: finishing in-flight polls and deliveries")
        self.scheduler.shutdown(wait=False)
        if watchdog is not None:
            await watchdog
        pending: list[asyncio.Task[Any]] = [*self.in_flight.values()]
        if self.delivering is not None:
            pending.append(self.delivering)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        await self.engine.aclose()
        try:   # a clean stop gives back its own claims: the next start has none to release
            self.store.release_owner(self.owner)
        except WatcherError as exc:
            log.warning("claims not released: %s (they expire)", exc)
        self.store.close()
        self.notifier.close()
        log.info("stopped")
        return 0


def run_daemon(path: Path, *, metrics: str | None = None, web: str | None = None) -> int:
    config = load_config(path)
    use_timezone(config.settings.tz)
    for warning in config.warnings:
        log.warning("%s", warning)
    address = None
    if metrics:
        try:
            address = parse_address(metrics)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    daemon: Daemon | None = None

    def current_config() -> Config:   # the dashboard shows the config a SIGHUP reloaded
        return daemon.config if daemon is not None else config

    dashboard = None
    if web is not None:
        from watcher.web.server import open_web  # checks the address and binds, or refuses

        dashboard = open_web(current_config, web, "--web")
    try:
        store = open_store(config.state)
    except BaseException:
        if dashboard is not None:
            dashboard.close()
        raise

    async def main() -> int:
        nonlocal daemon
        daemon = Daemon(path, config, store)
        server = None
        if address is not None:
            try:
                server = MetricsServer(daemon.metrics, daemon.healthy, *address).start()
            except OSError as exc:
                store.close()
                if dashboard is not None:
                    dashboard.close()
                raise WatcherError(f"--metrics {metrics}: cannot listen: {exc.strerror}") from None
        if dashboard is not None:
            dashboard.start()
        try:
            return await daemon.run()
        finally:
            if server is not None:
                server.stop()
            if dashboard is not None:
                dashboard.stop()

    return asyncio.run(main())
