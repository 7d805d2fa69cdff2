"""The outbox worker: sends pending alerts, retries with back-off, never floods a channel.

Alerts were written to the store in the transaction that recorded their item; this
worker only moves them from pending to sent. The order per channel is kept: a failed
alert blocks the ones behind it until its retry time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from watcher.config import ChannelConfig, Config
from watcher.deliver.channels import Channel, build_channel
from watcher.errors import PermanentDeliveryError, TransientDeliveryError
from watcher.faults import crash_point
from watcher.models import Alert
from watcher.schedule import delivery_backoff, last_slot
from watcher.store import OutboxRow, Store
from watcher.timeparse import in_window, parse_clock, parse_window

log = logging.getLogger("watcher.deliver")
REPLY_KINDS = ("also", "edit")


class Outbox:
    """Delivers what is pending, channel by channel. One instance per loaded config."""

    def __init__(self, config: Config, store: Store, *, clock: Callable[[], float],
                 channels: Mapping[str, Channel] | None = None,
                 rng: random.Random | None = None, owner: str = "local",
                 lease: float = 120.0) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.owner = owner      # this daemon's name in the store's leases
        self.lease = lease      # how long a claimed alert stays ours if we die mid-send
        self.rng = rng or random.Random()
        tz = config.settings.tz
        self.channels: dict[str, Channel] = dict(channels) if channels is not None else {
            name: build_channel(name, cfg, tz) for name, cfg in config.channels.items()}
        self.blocked: dict[str, str] = {}
        self.last_sent: dict[str, float] = {}

    # -- the loop ---------------------------------------------------------------------------
    async def deliver_due(self) -> int:
        """Send everything due now on instant channels; returns the number of alerts handled."""
        done = 0
        for name in self.channels:
            done += await self._deliver_channel(name)
        return done

    def next_wakeup(self) -> float | None:
        """The earliest future retry on an instant channel (None: nothing waits for one)."""
        now = self.clock()
        times = [t for name in self.channels if name not in self.blocked
                 and self._cfg(name).mode == "instant"
                 for t in [self.store.next_due(name, now)] if t is not None]
        return min(times) if times else None

    async def _deliver_channel(self, name: str) -> int:
        cfg = self._cfg(name)
        if name in self.blocked or cfg.mode == "digest":
            return 0
        rows = self.store.claim_alerts(name, self.owner, self.clock(), self.lease)
        if not rows:
            return 0
        try:
            return await self._deliver_rows(name, cfg, rows)
        finally:
            self.store.release_alerts([r.id for r in rows], self.owner)

    async def _deliver_rows(self, name: str, cfg: ChannelConfig, rows: list[OutboxRow]) -> int:
        """Send claimed rows: a summary on a flood, else one by one, then thread replies."""
        now = self.clock()
        if cfg.quiet and in_window(self._local(now).time(), parse_window(cfg.quiet)):
            rows = [r for r in rows if r.urgent]
        channel = self.channels[name]
        replies = [r for r in rows if r.kind in REPLY_KINDS]
        primary = [r for r in rows if r.kind not in REPLY_KINDS]
        threshold = cfg.flood_threshold or self.config.settings.flood_threshold
        if len(primary) > threshold:
            held = [] if channel.threads else replies + self.store.held(name)
            return await self._send(channel, primary + held, "summary",
                                    lambda: channel.send_summary([r.alert for r in primary + held]))
        done = 0
        for row in primary:
            sent = await self._send(channel, [row], "alert",
                                    lambda row=row: channel.send_alert(row.alert))  # type: ignore[misc]
            if not sent:
                return done
            done += sent
        if not channel.threads:
            # no thread to reply in: listed in this channel's next summary or digest instead
            self.store.hold([r.id for r in replies])
            return done
        for row in replies:
            assert row.story_id is not None
            thread = self.store.story_remote_id(row.story_id, name)
            if thread is None:
                continue  # the story's first message is not out yet
            sent = await self._send(channel, [row], "reply",
                                    lambda row=row, t=thread: channel.send_reply(row.alert, t))  # type: ignore[misc]
            if not sent:
                return done
            done += sent
        return done

    async def _send(self, channel: Channel, rows: Sequence[OutboxRow], sent_as: str,
                    call: Callable[[], str | None]) -> int:
        gap = channel.min_gap - (self.clock() - self.last_sent.get(channel.name, -1e9))
        if gap > 0:
            await asyncio.sleep(gap)
        ids = [r.id for r in rows]
        crash_point("during_digest" if sent_as == "digest" else "before_send")
        try:
            remote_id = await asyncio.to_thread(call)
        except TransientDeliveryError as exc:
            attempts = max(r.attempts for r in rows) + 1
            wait = delivery_backoff(attempts, exc.retry_after, self.rng)
            log.warning("channel %s: %s; retry %d in %.0fs", channel.name, exc, attempts, wait,
                        extra={"channel": channel.name})
            self.store.mark_retry(ids, self.clock() + wait, str(exc))
            return 0
        except PermanentDeliveryError as exc:
            self._block(channel.name, str(exc))
            return 0
        crash_point("after_send")
        now = self.clock()
        self.last_sent[channel.name] = now
        self.store.mark_sent(ids, now, sent_as=sent_as, remote_id=remote_id)
        return len(ids)

    def _block(self, name: str, error: str) -> None:
        if name not in self.blocked:
            log.error("channel %s: %s; its alerts are kept and go out after the config is fixed"
                      " and watcher reloaded (SIGHUP or restart)", name, error,
                      extra={"channel": name})
        self.blocked[name] = error
        with self.store.transaction():
            self.store.set_channel_error(name, error, self.clock())

    def clear_errors(self) -> None:
        """A fresh config: forget earlier permanent errors (they are retried once more)."""
        with self.store.transaction():
            for name in self.store.channel_errors():
                self.store.set_channel_error(name, None, self.clock())

    # -- digests ----------------------------------------------------------------------------
    async def send_digest(self, name: str, heading: str | None = None) -> int:
        """Send one digest with everything pending on a channel (nothing when there is none)."""
        if name in self.blocked:
            return 0
        rows = self.store.pending(name) + self.store.held(name)
        if not rows:
            self._digest_done(name)
            return 0
        channel = self.channels[name]
        title = heading or f"watcher digest: {len(rows)} alert(s)"
        alerts: list[Alert] = [r.alert for r in rows]
        sent = await self._send(channel, rows, "digest",
                                lambda: channel.send_digest(alerts, title))
        if sent:
            self._digest_done(name)
        return sent

    def _digest_done(self, name: str) -> None:
        with self.store.transaction():
            self.store.set_last_digest_at(name, self.clock())

    def missed_digests(self) -> list[str]:
        """Digest channels whose last scheduled digest passed without being sent (daemon down)."""
        now = self._local(self.clock())
        missed = []
        for name, cfg in self.config.channels.items():
            if cfg.mode != "digest" or not cfg.digest:
                continue
            slot = last_slot(now, [parse_clock(c) for c in cfg.digest]).timestamp()
            last = self.store.last_digest_at(name)
            if last is not None and last >= slot:
                continue
            if any(r.created_at < slot for r in self.store.pending(name)):
                missed.append(name)
        return missed

    def _cfg(self, name: str) -> ChannelConfig:
        return self.config.channels[name]

    def _local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.config.settings.tz)
