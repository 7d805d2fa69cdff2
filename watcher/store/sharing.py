"""Work sharing between daemons on one store: leases on feeds and alerts, heartbeats, and
cluster-wide singleton jobs.

A lease names its owner (a daemon id, `host:pid:suffix`) and runs until `lease_until`; a
lease whose time has passed is free. A daemon that is surely dead loses its claims sooner:
`gone_owners` tells which of some silent daemons are gone (here, for SQLite: a daemon of
this host whose process no longer exists; PostgreSQL asks whether its session still holds
the daemon's advisory lock), and the daemon then calls `forget_owner`. The lease stays the
bound for what neither can see (another host's power loss, a network partition).

These generic versions take the store's write lock for the whole claim (SQLite's
BEGIN IMMEDIATE); PostgreSQL overrides the claims with SELECT ... FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from watcher.store.base import OutboxRow
from watcher.store.sql import SQLStore

LEASE_FREE = "(lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)"


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_gone(owner: str) -> bool:
    """Is `owner` (`host:pid:suffix`) a daemon of this host whose process no longer exists?
    False whenever that cannot be told (another host, a name of another shape)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


class SharingStore(SQLStore):
    def heartbeat(self, owner: str, now: float, info: str = "") -> None:
        """Record that `owner` is alive (and what it says about itself)."""
        self._exec("INSERT INTO daemons (owner, info, started_at, last_heartbeat)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET"
                   " info = excluded.info, last_heartbeat = excluded.last_heartbeat",
                   (owner, info, now, now))

    def daemons(self) -> list[dict[str, object]]:
        """Every daemon that sent a heartbeat: owner, info, started_at, last_heartbeat, feeds
        (how many feed leases it holds, expired or not)."""
        return [dict(r) for r in self._rows(
            "SELECT d.owner, d.info, d.started_at, d.last_heartbeat,"
            " (SELECT count(*) FROM feeds f WHERE f.lease_owner = d.owner) AS feeds"
            " FROM daemons d ORDER BY d.owner")]

    def _add_unknown_feeds(self, urls: Sequence[str]) -> None:
        known = {r["url"] for r in self._rows("SELECT url FROM feeds")}
        for url in sorted(set(urls) - known):
            self._exec("INSERT INTO feeds (url) VALUES (?) ON CONFLICT (url) DO NOTHING", (url,))

    def claim_feeds(self, urls: Sequence[str], owner: str, now: float, lease: float,
                    limit: int = 1000) -> list[str]:
        """Lease up to `limit` of these feeds that are due and not leased by another daemon
        (unknown ones are recorded as due); soonest due first."""
        wanted = set(urls)
        with self.transaction():
            self._add_unknown_feeds(urls)
            rows = self._rows(f"SELECT url FROM feeds WHERE NOT gone AND next_poll_at <= ?"
                              f" AND {LEASE_FREE} ORDER BY next_poll_at, url", (now, owner, now))
            chosen = [r["url"] for r in rows if r["url"] in wanted][:max(limit, 0)]
            for url in chosen:
                self._exec("UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE url = ?",
                           (owner, now + lease, url))
        return chosen

    def release_feed(self, url: str, owner: str) -> None:
        """End `owner`'s lease on a feed (no-op when someone else holds it)."""
        self._exec("UPDATE feeds SET lease_owner = NULL, lease_until = 0"
                   " WHERE url = ? AND lease_owner = ?", (url, owner))

    def feed_leases(self) -> dict[str, tuple[str, float]]:
        """url → (owner, lease_until) of every leased feed (expired leases included)."""
        return {r["url"]: (r["lease_owner"], float(r["lease_until"])) for r in self._rows(
            "SELECT url, lease_owner, lease_until FROM feeds WHERE lease_owner IS NOT NULL"
            " ORDER BY url")}

    def claim_alerts(self, channel: str, owner: str, now: float,
                     lease: float) -> list[OutboxRow]:
        """Lease the channel's pending alerts due at `now` that no other live lease holds;
        oldest first."""
        with self.transaction():
            rows = self._outbox(f"status = 'pending' AND channel = ? AND not_before <= ?"
                                f" AND {LEASE_FREE} ORDER BY id", (channel, now, owner, now))
            for row in rows:
                self._exec("UPDATE alerts SET lease_owner = ?, lease_until = ? WHERE id = ?",
                           (owner, now + lease, row.id))
        return rows

    def release_alerts(self, ids: Sequence[int], owner: str) -> None:
        """End `owner`'s lease on these alerts (mark_sent and mark_retry end it too)."""
        with self.transaction():
            for alert_id in ids:
                self._exec("UPDATE alerts SET lease_owner = NULL, lease_until = 0"
                           " WHERE id = ? AND lease_owner = ?", (alert_id, owner))

    def forget_owner(self, owner: str) -> None:
        """Drop every claim of a daemon known to be dead: its feed and alert leases, its
        cluster jobs (a digest it died sending runs again) and its heartbeat row."""
        with self.transaction():
            self.release_owner(owner)
            self._exec("DELETE FROM jobs WHERE owner = ?", (owner,))

    def release_owner(self, owner: str) -> None:
        """A daemon stopping cleanly gives back its feed and alert leases and its heartbeat
        row; its jobs stay recorded (a digest it sent is not sent again after a restart)."""
        with self.transaction():
            self._exec("UPDATE feeds SET lease_owner = NULL, lease_until = 0"
                       " WHERE lease_owner = ?", (owner,))
            self._exec("UPDATE alerts SET lease_owner = NULL, lease_until = 0"
                       " WHERE lease_owner = ?", (owner,))
            self._exec("DELETE FROM daemons WHERE owner = ?", (owner,))

    def gone_owners(self, owners: Sequence[str]) -> list[str]:
        """Those of `owners` that are surely dead: daemons of this host whose process is gone
        (a process id reused since is taken for alive: the lease then decides)."""
        return [owner for owner in owners if process_gone(owner)]

    def run_once(self, job: str, owner: str, now: float, period: float) -> bool:
        """True (and `now` recorded) only if no daemon ran `job` in the last `period` seconds.
        One atomic statement, so of several daemons asking at once exactly one gets True."""
        rows = self._rows(
            "INSERT INTO jobs (job, owner, last_run) VALUES (?, ?, ?) ON CONFLICT (job)"
            " DO UPDATE SET owner = excluded.owner, last_run = excluded.last_run"
            " WHERE jobs.last_run <= ? RETURNING job", (job, owner, now, now - period))
        return bool(rows)
