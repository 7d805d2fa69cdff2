"""PostgreSQL state store (psycopg 3, sync): one connection, explicit transactions, migrations
under an advisory lock, and claims with SELECT ... FOR UPDATE SKIP LOCKED so that any number
of daemons can share one database.

Outside `transaction()` each call is its own transaction. A connection found broken is
reopened at the start of the next transaction. Messages never carry the DSN's password.

A daemon's heartbeat also takes a session-level advisory lock named after the daemon
(DAEMON_LOCKS, crc32 of its name) and holds it for the life of the connection (taken again
when the connection is reopened). When the daemon's process dies, its session ends and
the lock is free: `gone_owners` reads that from pg_locks, so another daemon can take over
its claims within seconds instead of after the lease. A daemon that is merely slow keeps
its session, hence its lock and its claims.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from watcher.errors import StoreError
from watcher.store.base import OutboxRow, dsn_secrets, redact_dsn
from watcher.store.schema import migrations
from watcher.store.sharing import LEASE_FREE, SharingStore
from watcher.store.sql import outbox_from_row

MIGRATION_LOCK = 0x77617463686572  # "watcher": pg_advisory_xact_lock key for migrating
DAEMON_LOCKS = 0x77617463  # "watc": first key of each daemon's session lock (two-int form)
RECONNECT_GRACE = 10.0  # seconds after (re)connecting before judging other daemons' sessions
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@")


class PostgresStore(SharingStore):
    """A store in a PostgreSQL database. Not thread-safe: use it from one thread.

    `dry=True` (see `snapshot`) keeps the whole session in one transaction that is rolled
    back on close: its `transaction()` blocks become savepoints.
    """

    def __init__(self, dsn: str, *, target_version: int | None = None,
                 dry: bool = False, reconnect_grace: float = RECONNECT_GRACE) -> None:
        self.dsn = dsn
        self.label = redact_dsn(dsn)
        self._secrets = [s for s in dsn_secrets(dsn) if len(s) >= 4]
        self._depth = 0
        self._dry = dry
        self._speaks_for: set[str] = set()  # daemons whose session lock this connection holds
        self._connected_at = 0.0
        self._grace = reconnect_grace
        self.conn = self._connect()
        if not dry:
            try:
                self._migrate(target_version)
            except BaseException:
                self.conn.close()
                raise

    # -- plumbing -------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> StoreError:
        """One line, naming the store without its password."""
        lines = [line for line in str(exc).splitlines() if line.strip()]
        text = lines[0].strip() if lines else type(exc).__name__
        text = _URL_PASSWORD.sub(r"\1@", text.replace(self.dsn, self.label))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return StoreError(f"state store {self.label}: {text}")

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            conn = psycopg.connect(self.dsn, autocommit=False, row_factory=dict_row,
                                   connect_timeout=10, application_name="watcher")
        except psycopg.Error as exc:
            raise self._error(exc) from None
        self._connected_at = time.monotonic()
        return conn

    def _migrate(self, target: int | None) -> None:
        """Each missing migration in its own transaction, under an advisory lock so that
        daemons opening the same database at once apply each one exactly once."""
        for migration in migrations("postgres", target):
            with self.transaction():
                self._raw("SELECT pg_advisory_xact_lock(%s::bigint)", (MIGRATION_LOCK,))
                self._raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER"
                          " PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                rows, _ = self._raw("SELECT 1 FROM schema_migrations WHERE version = %s",
                                    (migration.version,))
                if not rows:
                    self._raw(migration.sql)
                    self._raw("INSERT INTO schema_migrations (version) VALUES (%s)",
                              (migration.version,))

    def _raw(self, sql: str, args: Sequence[Any] | None = None
             ) -> tuple[list[dict[str, Any]], int]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                rows = cur.fetchall() if cur.description else []
                return rows, cur.rowcount
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _run(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[dict[str, Any]], int]:
        if not self._depth:
            with self.transaction():
                return self._run(sql, args)
        return self._raw(sql.replace("?", "%s"), tuple(args))

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not self._depth:
            with self.transaction():
                self._many(sql, rows)
                return
        try:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _begin(self) -> None:
        if self._dry:
            self._raw("SAVEPOINT watcher_tx")
            return
        if self.conn.closed or self.conn.broken:
            self.conn = self._connect()
            for owner in sorted(self._speaks_for):  # the old session's locks went with it
                self._lock_session(owner)
        elif self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.rollback()

    def _commit(self) -> None:
        if self._dry:
            self._raw("RELEASE SAVEPOINT watcher_tx")
            return
        try:
            self.conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            raise self._error(exc) from None

    def _rollback(self) -> None:
        try:
            if self._dry:
                self._raw("ROLLBACK TO SAVEPOINT watcher_tx")
                self._raw("RELEASE SAVEPOINT watcher_tx")
            elif not self.conn.closed:
                self.conn.rollback()
        except (psycopg.Error, StoreError):
            pass

    def close(self) -> None:
        if self._dry and not self.conn.closed:
            self._rollback()
            try:
                self.conn.rollback()
            except psycopg.Error:
                pass
        self.conn.close()

    def snapshot(self) -> PostgresStore:
        """A store on its own connection whose every change is rolled back on close (for
        --dry-run). It holds the row locks of what it writes until then."""
        return PostgresStore(self.dsn, dry=True)

    def integrity_check(self) -> str:
        """PostgreSQL checks itself; this only proves the connection answers."""
        return "ok" if self._one("SELECT 1 AS one") else "no answer"

    # -- liveness: a session lock per daemon ----------------------------------------------
    def _lock_session(self, owner: str) -> None:
        """Take `owner`'s session lock on this connection (no-op if held); a lock still held
        by a session of ours the server has not yet seen die is tried again next time."""
        rows, _ = self._raw("SELECT pg_try_advisory_lock(%s::int, %s::int) AS got",
                            (DAEMON_LOCKS, owner_key(owner)))
        if rows and rows[0]["got"]:
            self._speaks_for.add(owner)
        else:
            self._speaks_for.discard(owner)

    def heartbeat(self, owner: str, now: float, info: str = "") -> None:
        """Record that `owner` is alive, and hold its session lock from now on."""
        with self.transaction():
            if owner not in self._speaks_for:
                self._lock_session(owner)
            super().heartbeat(owner, now, info)

    def gone_owners(self, owners: Sequence[str]) -> list[str]:
        """Those of `owners` whose session lock no session holds: their process (or its
        connection) is gone. None is judged while this connection is young or holds no lock
        of its own (just reconnected: the others may be reconnecting too)."""
        if not owners or not self._speaks_for \
                or time.monotonic() - self._connected_at < self._grace:
            return []
        held = {int(r["key"]) for r in self._rows(
            "SELECT objid::bigint AS key FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid::bigint = ? AND objsubid = 2 AND granted AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())",
            (DAEMON_LOCKS,))}
        return [owner for owner in owners if owner_key(owner) not in held]

    # -- claims: one statement each, FOR UPDATE SKIP LOCKED ---------------------------------
    def claim_feeds(self, urls: Sequence[str], owner: str, now: float, lease: float,
                    limit: int = 1000) -> list[str]:
        """Lease up to `limit` of these feeds that are due and not leased by another daemon
        (unknown ones are recorded as due); soonest due first. Concurrent callers never get
        the same feed: rows another claimer has locked are skipped."""
        wanted = sorted(set(urls))
        if not wanted or limit <= 0:
            return []
        with self.transaction():
            self._exec("INSERT INTO feeds (url) SELECT u FROM unnest(?::text[]) AS u"
                       " WHERE NOT EXISTS (SELECT 1 FROM feeds WHERE url = u) ORDER BY u"
                       " ON CONFLICT (url) DO NOTHING", (wanted,))
            rows = self._rows(
                "WITH c AS (SELECT url FROM feeds WHERE url = ANY(?) AND NOT gone"
                f" AND next_poll_at <= ? AND {LEASE_FREE} ORDER BY next_poll_at, url LIMIT ?"
                " FOR UPDATE SKIP LOCKED)"
                " UPDATE feeds f SET lease_owner = ?, lease_until = ? FROM c WHERE f.url = c.url"
                " RETURNING f.url, f.next_poll_at",
                (wanted, now, owner, now, limit, owner, now + lease))
        rows.sort(key=lambda r: (r["next_poll_at"], r["url"]))
        return [r["url"] for r in rows]

    def claim_alerts(self, channel: str, owner: str, now: float,
                     lease: float) -> list[OutboxRow]:
        """Lease the channel's pending alerts due at `now` that no other live lease holds;
        oldest first. Concurrent callers never get the same alert."""
        rows = self._rows(
            "WITH c AS (SELECT id FROM alerts WHERE status = 'pending' AND channel = ?"
            f" AND not_before <= ? AND {LEASE_FREE} ORDER BY id FOR UPDATE SKIP LOCKED)"
            " UPDATE alerts a SET lease_owner = ?, lease_until = ? FROM c WHERE a.id = c.id"
            " RETURNING a.*", (channel, now, owner, now, owner, now + lease))
        return sorted((outbox_from_row(r) for r in rows), key=lambda r: r.id)


def owner_key(owner: str) -> int:
    """The second key of a daemon's session lock: a 31-bit hash of its name."""
    return zlib.crc32(owner.encode("utf-8")) & 0x7FFFFFFF
