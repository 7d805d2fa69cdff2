"""Scale-out benchmark: 1, 2 and 4 `watcher run` daemons sharing one PostgreSQL store.

    .venv/bin/python -m tests.bench.scaleout [--feeds 5000] [--daemons 1 2 4]

Starts a throwaway PostgreSQL server and a local feed server with N feeds (10 news-sized
items each, ETag / Last-Modified honoured). For each daemon count, on a fresh database:
a cold round (every feed fetched, parsed, matched and recorded once) and a warm round
(every feed made due again; the server answers 304), timed from the daemons' start (or
from making the feeds due) until every feed's last poll is recorded. Prints seconds per
round, rounds per minute and the speed-up over one daemon. Each feed fetched more than
once in a round is counted too (it must be 0: the leases share the work).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.servers.feeds import FeedServer  # noqa: E402
from tests.servers.postgres import PostgresServer, find_bin  # noqa: E402
from watcher.store import open_store  # noqa: E402


def make_feeds(server: FeedServer, n: int) -> list[str]:
    now = datetime.now(UTC)
    urls = []
    for i in range(n):
        items = [{"guid": f"{i}-{k}", "title": f"Feed {i} story {k} about naval procurement",
                  "link": f"https://news.example/{i}/{k}", "published": now,
                  "summary": "Officials discussed frigates, budgets and shipyards " * 6}
                 for k in range(10)]
        urls.append(server.add_feed(f"/f/{i}", items))
    return urls


def write_config(path: Path, dsn: str, urls: list[str]) -> None:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    path.write_text(f'[watcher]\nstate = "{dsn}"\ninterval = "1h"\nconcurrency = 10\n'
                    f'per_host = 10\nbackfill = "0s"\nparse_workers = 1\n{feeds}'
                    '[[profiles]]\nname = "p"\nquery = "S-400"\n'
                    '[channels.console]\ntype = "console"\n', encoding="utf-8")


def polled_since(dsn: str, since: float) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM feeds WHERE last_poll_at >= %s",
                           (since,)).fetchone()
    return int(row[0]) if row else 0


def wait_round(dsn: str, n: int, since: float, limit: float = 1800) -> float:
    while polled_since(dsn, since) < n:
        if time.time() - since > limit:
            raise SystemExit(f"round not finished after {limit:.0f}s")
        time.sleep(0.5)
    return time.time() - since


def run(count: int, pg: PostgresServer, feeds: FeedServer, urls: list[str],
        tmp: Path) -> tuple[float, float, int]:
    dsn = pg.create_database()
    cfg = tmp / f"scale-{count}.toml"
    write_config(cfg, dsn, urls)
    open_store(dsn).close()  # creates the schema once, before the daemons race for it
    paths = [f"/f/{i}" for i in range(len(urls))]
    hits0 = [feeds.hits(p) for p in paths]
    start = time.time()
    procs = [subprocess.Popen([sys.executable, "-m", "watcher", "run", "-c", str(cfg)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(count)]
    try:
        cold = wait_round(dsn, len(urls), start)
        twice = sum(1 for p, h in zip(paths, hits0, strict=True) if feeds.hits(p) - h > 1)
        t0 = time.time()
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE feeds SET next_poll_at = 0")
        warm = wait_round(dsn, len(urls), t0)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    return cold, warm, twice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    bindir = find_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found: apt-get install -y postgresql")
    pg = PostgresServer.start(bindir)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.feeds} feeds")
    print(f"{'daemons':>7} {'cold s':>8} {'cold/min':>9} {'warm s':>8} {'warm/min':>9} "
          f"{'speed-up cold':>13} {'speed-up warm':>13} {'fetched twice':>13}")
    try:
        with FeedServer() as feeds, tempfile.TemporaryDirectory() as tmp:
            urls = make_feeds(feeds, args.feeds)
            base: tuple[float, float] | None = None
            for count in args.daemons:
                cold, warm, twice = run(count, pg, feeds, urls, Path(tmp))
                base = base or (cold, warm)
                print(f"{count:>7} {cold:>8.1f} {60 / cold:>9.2f} {warm:>8.1f} {60 / warm:>9.2f} "
                      f"{base[0] / cold:>12.2f}x {base[1] / warm:>12.2f}x {twice:>13}",
                      flush=True)
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
