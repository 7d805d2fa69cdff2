"""Failover benchmark: 3 `watcher run` daemons on one PostgreSQL store, one SIGKILLed at a
random moment, 10 times; how long its claims wait, and how many alerts go out twice.

    .venv/bin/python -m tests.bench.failover [--kills 10] [--feeds 40] [--seed 1]

Starts a throwaway PostgreSQL server, a local feed server (feeds polled every 2 s, each
answer, its last 5 items, trickled at 1 KB/s: a daemon is usually in the middle of some)
and the local Slack API server (watcher keeps 1 s between two Slack messages, so a daemon
delivering a backlog holds its claim on the rest for a while). A new matching item
arrives every second. Each round waits 5-20 s, SIGKILLs one daemon at random and reads
the feed and alert leases it held at its death, then times two things: until it holds no
lease any more ("claims moved": dropped as dead, or already claimed by another daemon),
and until every such feed has been polled again and every such alert sent ("work
redone", which adds the time the survivors take to get to it). The lease is the default
2 minutes. Then a fresh daemon replaces it. At the end every alert is awaited and
Slack's messages counted: an item whose alert arrived twice is a duplicate (a kill
between Slack accepting a message and the outbox marking it sent: the documented
at-least-once window).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.servers.feeds import FeedServer  # noqa: E402
from tests.servers.postgres import PostgresServer, find_bin  # noqa: E402
from tests.servers.slack import SlackServer  # noqa: E402
from watcher.store import open_store  # noqa: E402

DAEMONS = 3
LIMIT = 180.0  # seconds a round may wait for a takeover before it counts as failed


WORDS = ("anchor beacon cobalt delta ember falcon garnet harbor indigo jasper kelvin lumen "
         "meteor nickel onyx pylon quartz raven sierra tundra umber vortex willow xenon").split()


def item(n: int) -> dict[str, object]:
    """The n-th item: its words differ enough from the others' to be a story of its own."""
    words = " ".join(random.Random(n).sample(WORDS, 10))
    return {"guid": f"i{n}", "title": f"Zephyr {n}: {words[:48]}",
            "link": f"https://news.example/{n}", "summary": f"{words} ({n})",
            "published": datetime.now(UTC)}


def write_config(path: Path, dsn: str, urls: list[str], slack: SlackServer) -> None:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    path.write_text(
        f'[watcher]\nstate = "{dsn}"\ninterval = "2s"\ntimeout = "30s"\nbackfill = "1h"\n'
        f'parse_workers = 1\n{feeds}'
        '[[profiles]]\nname = "Zephyr"\nquery = "zephyr"\n'
        f'[channels.slack]\ntype = "slack"\ntoken = "xoxb-test-token"\nchannel = "#alerts"\n'
        f'api_url = "{slack.api_url}"\nflood_threshold = 100000\n', encoding="utf-8")


class Feeder(threading.Thread):
    """Adds one new matching item to a random feed every EVERY seconds; a feed lists its
    last KEEP items (so its size, and the time it takes to fetch, stay the same)."""

    EVERY, KEEP = 1.0, 5

    def __init__(self, feeds: FeedServer, paths: list[str], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.feeds, self.paths, self.rng = feeds, paths, rng
        self.listed: dict[str, list[dict[str, object]]] = {p: [] for p in paths}
        self.count = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.EVERY):
            path = self.rng.choice(self.paths)
            self.listed[path] = [*self.listed[path], item(self.count)][-self.KEEP:]
            self.feeds.add_feed(path, self.listed[path])  # keeps the route's slowness
            self.count += 1


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "watcher", "run", "-c", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=out, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})


def held_by(dsn: str, pid: int) -> tuple[list[str], list[int]]:
    """The feeds and alerts a daemon (by process id) holds an unexpired lease on."""
    owner = f"{socket.gethostname()}:{pid}:%"
    now = time.time()
    with psycopg.connect(dsn) as conn:
        feeds = [r[0] for r in conn.execute(
            "SELECT url FROM feeds WHERE lease_owner LIKE %s AND lease_until > %s",
            (owner, now))]
        alerts = [r[0] for r in conn.execute(
            "SELECT id FROM alerts WHERE lease_owner LIKE %s AND lease_until > %s"
            " AND status = 'pending'", (owner, now))]
    return feeds, alerts


def released(dsn: str, pid: int) -> bool:
    """Does the daemon hold no lease any more (its claims dropped, or taken by others)?"""
    return held_by(dsn, pid) == ([], [])


def taken_over(dsn: str, feeds: list[str], alerts: list[int], since: float) -> bool:
    """Has every one of these feeds been polled since `since`, and every alert been sent?"""
    with psycopg.connect(dsn) as conn:
        polled = conn.execute("SELECT count(*) FROM feeds WHERE url = ANY(%s)"
                              " AND last_poll_at >= %s", (feeds, since)).fetchone()
        sent = conn.execute("SELECT count(*) FROM alerts WHERE id = ANY(%s)"
                            " AND status = 'sent'", (alerts,)).fetchone()
    return bool(polled and sent and polled[0] == len(feeds) and sent[0] == len(alerts))


def all_sent(dsn: str, since: float) -> bool:
    """Has every feed been polled since `since`, and every alert been sent?"""
    with psycopg.connect(dsn) as conn:
        late = conn.execute("SELECT count(*) FROM feeds WHERE last_poll_at IS NULL"
                            " OR last_poll_at < %s", (since,)).fetchone()
        pending = conn.execute("SELECT count(*) FROM alerts WHERE status = 'pending'").fetchone()
    return bool(late and pending) and late[0] == pending[0] == 0


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))  # cleans up
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bindir = find_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found: apt-get install -y postgresql")
    pg = PostgresServer.start(bindir)
    procs: list[subprocess.Popen[bytes]] = []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {DAEMONS} daemons, "
          f"{args.feeds} feeds every 2 s, lease 2 min, {args.kills} kills")
    print(f"{'kill':>4} {'after s':>7} {'feeds held':>10} {'alerts held':>11} "
          f"{'claims moved':>13} {'work redone':>11}")
    worst, worst_redone, empty = 0.0, 0.0, 0
    try:
        with FeedServer() as feeds, SlackServer() as slack, \
                tempfile.TemporaryDirectory() as tmp:
            paths = [f"/f/{i}" for i in range(args.feeds)]
            urls = [feeds.add_feed(p, []) for p in paths]
            for p in paths:  # every poll fetches the whole feed, slowly (1 to 2 s)
                feeds.ignore_validators(p)
                feeds.slow_body(p, 1000)
            dsn = pg.create_database()
            cfg, log = Path(tmp) / "watcher.toml", Path(tmp) / "daemons.log"
            write_config(cfg, dsn, urls, slack)
            open_store(dsn).close()
            procs = [start_daemon(cfg, log) for _ in range(DAEMONS)]
            feeder = Feeder(feeds, paths, rng)
            feeder.start()
            time.sleep(10)  # warm up: every daemon polling and delivering
            for k in range(1, args.kills + 1):
                wait = rng.uniform(5, 20)
                time.sleep(wait)
                victim = procs.pop(rng.randrange(len(procs)))
                victim.kill()
                victim.wait(30)
                killed = time.time()
                held_feeds, held_alerts = held_by(dsn, victim.pid)
                freed = redone = None
                while redone is None:
                    if freed is None and released(dsn, victim.pid):
                        freed = time.time() - killed
                    if taken_over(dsn, held_feeds, held_alerts, killed):
                        redone = time.time() - killed
                    elif time.time() - killed > LIMIT:
                        raise SystemExit(f"kill {k}: not taken over after {LIMIT:.0f}s")
                    time.sleep(0.2)
                freed = redone if freed is None else freed
                if held_feeds or held_alerts:
                    worst, worst_redone = max(worst, freed), max(worst_redone, redone)
                else:
                    empty += 1
                print(f"{k:>4} {wait:>7.1f} {len(held_feeds):>10} {len(held_alerts):>11} "
                      f"{freed:>13.1f} {redone:>11.1f}", flush=True)
                procs.append(start_daemon(cfg, log))
            feeder.stopped.set()
            feeder.join()
            stopped, deadline = time.time(), time.time() + 600
            while not all_sent(dsn, stopped) and time.time() < deadline:
                time.sleep(1)
            texts = Counter(str(m["text"]) for m in slack.messages)
            twice = sum(n - 1 for n in texts.values() if n > 1)
            print(f"longest takeover: claims moved {worst:.1f} s, work redone {worst_redone:.1f} s"
                  f" after the kill ({empty} kill(s) found the victim holding nothing);"
                  f" {feeder.count} items, {len(texts)} alerted, {twice} sent twice")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        pg.stop()


if __name__ == "__main__":
    main()
