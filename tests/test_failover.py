"""Failover in seconds: a dead daemon's claims move well before its lease runs out, a live
daemon that is only slow keeps them.

Real parts only: a throwaway PostgreSQL server, SQLite files, real processes killed with
SIGKILL (or stopped with SIGSTOP: alive, silent, still connected), the local feed and
Slack servers, `watcher run` daemons. Leases are 600 s, so nothing but the new detection
(PostgreSQL: the daemon's session lock is free; SQLite: its process is gone) can explain
a takeover within the tests' deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from tests.conftest import REPO, Daemon, Watcher
from tests.servers.feeds import FeedServer
from tests.servers.postgres import pg_database, pg_server  # noqa: F401
from tests.servers.slack import SlackServer
from watcher.errors import StoreError
from watcher.store import SQLiteStore
from watcher.store.postgres import PostgresStore

T = 1_700_000_000.0
LEASE = 600.0

HOLDER = """
import sys, time
from watcher.store.postgres import PostgresStore
store = PostgresStore(sys.argv[1])
store.heartbeat(sys.argv[2], time.time())
store.claim_feeds(["https://f.example/" + sys.argv[2]], sys.argv[2], time.time(), 600)
print("ready", flush=True)
time.sleep(600)
"""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in {timeout:.0f}s: {what}"
        time.sleep(0.2)


@pytest.fixture
def holder(pg_database: str) -> Iterator[Callable[[str], subprocess.Popen[str]]]:  # noqa: F811
    """Start a process that heartbeats as `owner`, leases a feed and then idles."""
    procs: list[subprocess.Popen[str]] = []

    def start(owner: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, pg_database, owner],
                                stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


# -- the stores' answer ---------------------------------------------------------------------
@pytest.mark.slow
def test_postgres_tells_a_killed_holder_from_a_stopped_one(
        pg_database: str, holder: Callable[[str], subprocess.Popen[str]]) -> None:  # noqa: F811
    judge = PostgresStore(pg_database, reconnect_grace=0)
    try:
        judge.heartbeat("judge:1:a", T)
        killed, stopped = "elsewhere:1:k", "elsewhere:2:s"  # names the PID check cannot read
        victim, sleeper = holder(killed), holder(stopped)
        assert judge.gone_owners([killed, stopped]) == []
        os.kill(sleeper.pid, signal.SIGSTOP)   # alive but silent: keeps its session
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: judge.gone_owners([killed, stopped]) == [killed], 30,
                   "the killed holder's session lock freed")
        assert judge.gone_owners([stopped, "judge:1:a"]) == []
        judge.forget_owner(killed)
        urls = [f"https://f.example/{killed}", f"https://f.example/{stopped}"]
        assert judge.claim_feeds(urls, "judge:1:a", time.time(), LEASE) == urls[:1]
    finally:
        judge.close()


def test_postgres_takes_the_lock_again_after_reconnecting(pg_database: str) -> None:  # noqa: F811
    daemon = PostgresStore(pg_database, reconnect_grace=0)
    judge = PostgresStore(pg_database, reconnect_grace=0)
    try:
        daemon.heartbeat("d:1:a", T)
        judge.heartbeat("judge:1:a", T)
        pid = daemon.conn.info.backend_pid
        with psycopg.connect(pg_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: judge.gone_owners(["d:1:a"]) == ["d:1:a"], 30, "the session gone")
        with pytest.raises(StoreError):  # the daemon learns of it on its next statement
            daemon.feeds()
        daemon.feeds()                   # reconnected, and the lock taken again at once
        assert judge.gone_owners(["d:1:a"]) == []
    finally:
        daemon.close()
        judge.close()


def test_postgres_judges_no_one_right_after_connecting(pg_database: str) -> None:  # noqa: F811
    judge = PostgresStore(pg_database)   # the default grace: others may be reconnecting
    try:
        judge.heartbeat("judge:1:a", T)
        assert judge.gone_owners(["never-locked:1:x"]) == []
    finally:
        judge.close()


def test_sqlite_tells_a_dead_process_of_this_host(tmp_path: object) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"))  # type: ignore[operator]
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait(30)
        host = socket.gethostname()
        owners = [f"{host}:{dead.pid}:aa", f"{host}:{os.getpid()}:bb",
                  f"not-{host}:{dead.pid}:cc", "oddly-named"]
        assert store.gone_owners(owners) == [f"{host}:{dead.pid}:aa"]
    finally:
        store.close()


# -- daemons --------------------------------------------------------------------------------
WORDS = ("anchor beacon cobalt delta ember falcon garnet harbor indigo jasper kelvin lumen "
         "meteor nickel onyx pylon quartz raven sierra tundra").split()


def story(n: int) -> dict[str, object]:
    words = " ".join(WORDS[(n + k * 7) % len(WORDS)] for k in range(8))
    return {"guid": f"m{n}", "title": f"Zephyr report {n}: {words}",
            "link": f"https://news.example/{n}", "summary": f"{words} ({n})",
            "published": datetime.now(UTC)}


def setup(watcher: Watcher, feeds: FeedServer, slack: SlackServer, dsn: str,
          count: int) -> list[str]:
    """`count` feeds of one matching item each; Slack sends one message a second, so a
    daemon delivering them holds its claim on the rest for a while."""
    paths = [f"/feed/{i}" for i in range(count)]
    for i, path in enumerate(paths):
        feeds.add_feed(path, [story(i)])
    feed_lines = "\n".join(f'[[feeds]]\nurl = "{feeds.url(p)}"' for p in paths)
    watcher.write(f"""
[watcher]
state = "{dsn}"
interval = "1h"
timeout = "300s"
lease = "{LEASE:.0f}s"
parse_workers = 1
{feed_lines}
[[profiles]]
name = "Zephyr"
query = "zephyr"
[channels.slack]
type = "slack"
token = "xoxb-test-token"
channel = "#alerts"
api_url = "{slack.api_url}"
flood_threshold = 1000
""")
    return paths


def leases_of(dsn: str, table: str, daemon: Daemon) -> int:
    """How many of `table`'s rows `daemon` holds a lease on that runs far into the future."""
    owner = f"{socket.gethostname()}:{daemon.proc.pid}:%"
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE lease_owner LIKE %s"
                           " AND lease_until > %s", (owner, time.time() + LEASE / 2)).fetchone()
    return int(row[0]) if row else 0


def distinct(slack: SlackServer) -> set[str]:
    return {str(m["text"]) for m in slack.messages}


@pytest.mark.slow
def test_a_killed_daemons_feed_and_alert_claims_move_long_before_its_lease(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        pg_database: str, daemons: list[Daemon]) -> None:  # noqa: F811
    paths = setup(watcher, feed_server, slack_server, pg_database, 40)
    release = feed_server.hang(paths[0])
    victim = Daemon(watcher)
    daemons.append(victim)
    wait_until(lambda: feed_server.in_flight(paths[0]) == 1, 60, "the victim fetching feed 0")
    slack_server.wait_for(2, timeout=90)           # it is sending, one message a second
    survivor = Daemon(watcher)                     # starts while the victim lives
    daemons.append(survivor)
    survivor.wait_for_log("watcher running", timeout=60)
    assert leases_of(pg_database, "feeds", victim) >= 1  # feed 0 at least
    assert leases_of(pg_database, "alerts", victim) > 0, "the victim sent everything already"
    victim.proc.kill()                             # SIGKILL
    assert victim.proc.wait(30) == -9
    killed_at = time.monotonic()
    release.set()
    survivor.wait_for_log("is gone: taking over its feeds and alerts", timeout=120)
    wait_until(lambda: len(distinct(slack_server)) == 40, 120, "every alert delivered")
    took = time.monotonic() - killed_at
    assert took < LEASE / 4, took                  # only the session lock explains it
    assert leases_of(pg_database, "feeds", victim) == leases_of(pg_database, "alerts", victim) \
        == 0
    # at most the one message Slack may have accepted just before the kill goes twice
    assert len(slack_server.messages) <= 41


@pytest.mark.slow
def test_a_stopped_daemon_keeps_its_claims_and_nothing_is_sent_twice(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        pg_database: str, daemons: list[Daemon]) -> None:  # noqa: F811
    paths = setup(watcher, feed_server, slack_server, pg_database, 4)
    release = feed_server.hang(paths[0])
    slow = Daemon(watcher)
    daemons.append(slow)
    wait_until(lambda: feed_server.in_flight(paths[0]) == 1, 60, "the slow daemon fetching")
    slack_server.wait_for(3, timeout=120)          # it polled and sent everything else
    os.kill(slow.proc.pid, signal.SIGSTOP)         # alive and connected, but silent
    other = Daemon(watcher)
    daemons.append(other)
    try:
        def silent_for() -> float:
            status = json.loads(watcher("status", "--json", check=True).out)
            beats = [d["last_heartbeat"] for d in status["daemons"]
                     if str(d["daemon"]).split(":")[1] == str(slow.proc.pid)]
            return float(status["now"] - beats[0]) if beats else 0.0
        # silent long enough for the other daemon to have asked about it several times
        wait_until(lambda: silent_for() > 30, 120, "the stopped daemon silent for 30 s")
        assert leases_of(pg_database, "feeds", slow) == 1
        assert not [line for line in other.lines if "is gone" in line]
    finally:
        os.kill(slow.proc.pid, signal.SIGCONT)
    release.set()
    slack_server.wait_for(4, timeout=120)
    wait_until(lambda: leases_of(pg_database, "feeds", slow) == 0, 60, "its lease released")
    assert [feed_server.hits(p) for p in paths] == [1] * 4
    assert len(slack_server.messages) == len(distinct(slack_server)) == 4
