"""Soak test (a script, not a test): `watcher run` for a while against churning feeds.

Run from the repository root:

    /work/venv/bin/python tests/bench/soak.py --minutes 10 [--feeds 500] [--json FILE]

It starts the local feed server with `--feeds` feeds (20 items each, RSS / Atom /
RDF), a flaky local Slack (about 1 request in 8 answered 500 and 1 in 12 answered
429 with Retry-After: 1), and the daemon with 20-second poll intervals. Every
second a few feeds get a new item (one in six of them matches a profile), so
items, stories and alerts keep flowing. Every 10 seconds it samples the resident
memory (/proc/PID/status VmRSS) and open file descriptors (/proc/PID/fd) of the
daemon plus its descendants (a parse worker pool), the store's size (db + -wal +
-shm) and its item count.

It fails (exit 1) when anything grows without bound:

* memory or fds: the median of the last third of the samples exceeds the
  median of the first third by more than 20% plus a slack (16 MiB; 8 fds);
* store: more than 16 KiB per stored item plus 4 MiB (WAL, indexes);
* the daemon died, or (after a final drain) any alert is still pending or failed,
  or fewer Slack messages arrived than expected.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.servers.feeds import FeedServer  # noqa: E402
from tests.servers.slack import SlackServer  # noqa: E402

TOKEN = "xoxb-soak-token"
WORDS = ("minister officials talks week border navy market energy trade summit report "
         "city court election vote party economy prices workers company factory").split()
SAMPLE_EVERY = 10.0


def tree(pid: int) -> list[int]:
    """The daemon and its descendants (the parse worker pool, if any)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children")
                         .read_text().split()]
        except OSError:
            continue
    return out


def rss_kib(pid: int) -> int:
    """Resident memory of the daemon plus its descendants, KiB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def fd_count(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return total


def store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))
               if p.exists())


def stored_items(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return -1


class Churn:
    """Adds items to random feeds; remembers which ones should alert."""

    def __init__(self, server: FeedServer, feeds: int, rng: random.Random) -> None:
        self.server, self.rng = server, rng
        self.items: dict[int, list[dict[str, Any]]] = {}
        self.serial = 0
        self.matching = 0
        kinds = ("rss", "atom", "rdf")
        for n in range(feeds):
            self.items[n] = [self._item(n, False) for _ in range(20)]
            server.add_feed(self.path(n), self.items[n], title=f"Soak feed {n}",
                            kind=kinds[n % 3])

    @staticmethod
    def path(n: int) -> str:
        return f"/feed/{n}"

    def _item(self, n: int, match: bool) -> dict[str, Any]:
        self.serial += 1
        words = " ".join(self.rng.choice(WORDS) for _ in range(8))
        title = f"{'Submarine' if match else 'Story'} {self.serial} zq{self.serial}x {words}"
        return {"title": title, "summary": f"{words} {self.serial} " * 5,
                "link": f"https://soak.example/{n}/{self.serial}", "guid": f"s-{self.serial}",
                "published": datetime.now(UTC)}

    def step(self) -> None:
        for _ in range(3):
            n = self.rng.randrange(len(self.items))
            match = self.rng.random() < 1 / 6
            self.matching += match
            self.items[n] = [self._item(n, match), *self.items[n]][:20]
            kind = ("rss", "atom", "rdf")[n % 3]
            self.server.add_feed(self.path(n), self.items[n], title=f"Soak feed {n}", kind=kind)


def flaky(slack: SlackServer, rng: random.Random, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        roll = rng.random()
        if roll < 1 / 8:
            slack.fail_next(1, status=500)
        elif roll < 1 / 8 + 1 / 12:
            slack.rate_limit_next(1, retry_after=1)


def write_config(tmp: Path, server: FeedServer, slack: SlackServer, feeds: int) -> Path:
    lines = ["[watcher]", f'state = "{tmp / "state.db"}"', 'interval = "20s"',
             "concurrency = 16", "per_host = 16", 'timeout = "5s"', ""]
    for n in range(feeds):
        lines += ["[[feeds]]", f'url = "{server.url(Churn.path(n))}"', ""]
    lines += ["[[profiles]]", 'name = "subs"', 'query = "submarine"', "",
              "[channels.slack]", 'type = "slack"', f'token = "{TOKEN}"',
              'channel = "#soak"', f'api_url = "{slack.api_url}"', ""]
    path = tmp / "watcher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def grew(samples: list[float], ratio: float, slack: float) -> tuple[bool, float, float]:
    third = max(1, len(samples) // 3)
    first, last = statistics.median(samples[:third]), statistics.median(samples[-third:])
    return last > first * ratio + slack, first, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--json", type=Path, help="write the samples and verdict here")
    args = ap.parse_args()
    # SIGTERM/SIGHUP end the run through the `finally` blocks (the daemon is stopped too).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    rng = random.Random(args.seed)
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmpdir, FeedServer() as server, \
            SlackServer(token=TOKEN) as slack:
        tmp = Path(tmpdir)
        churn = Churn(server, args.feeds, rng)
        config = write_config(tmp, server, slack, args.feeds)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = (tmp / "daemon.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "watcher", "run", "-c", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        flake = threading.Thread(target=flaky, args=(slack, rng, stop), daemon=True)
        flake.start()
        samples: list[dict[str, float]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        next_sample = started + SAMPLE_EVERY
        try:
            while time.monotonic() < end and proc.poll() is None:
                churn.step()
                time.sleep(1.0)
                if time.monotonic() >= next_sample:
                    next_sample += SAMPLE_EVERY
                    db = tmp / "state.db"
                    sample: dict[str, float] = {"t": round(time.monotonic() - started),
                              "rss_kib": rss_kib(proc.pid), "fds": fd_count(proc.pid),
                              "store_bytes": store_bytes(db), "items": stored_items(db),
                              "slack_messages": len(slack.messages)}
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
            died = proc.poll() is not None
            stop.set()
            matching = churn.matching
            # Let the last matching items be polled and delivered, Slack healthy again.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                if _pending(tmp / "state.db") == 0 and time.monotonic() > end + 25:
                    break
                time.sleep(1.0)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        alerts = _sent_alerts(tmp / "state.db")
        verdict = judge(samples, died, proc.returncode, _pending(tmp / "state.db"), alerts,
                        matching)
        tail = (tmp / "daemon.log").read_text(errors="replace").splitlines()[-5:]
        summary = {"minutes": args.minutes, "feeds": args.feeds, "samples": samples,
                   "matching_items_added": matching, "alerts_sent": alerts,
                   "slack_messages": len(slack.messages),
                   "slack_requests": len(slack.requests), **verdict, "daemon_log_tail": tail}
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if verdict["ok"] else 1


def _pending(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(
                "SELECT count(*) FROM alerts WHERE status NOT IN ('sent', 'folded')").fetchone()[0])
    except sqlite3.Error:
        return -1


def _sent_alerts(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(
                "SELECT count(*) FROM alerts WHERE status IN ('sent', 'folded')").fetchone()[0])
    except sqlite3.Error:
        return -1


def judge(samples: list[dict[str, float]], died: bool, code: int | None, pending: int,
          alerts: int, matching: int) -> dict[str, Any]:
    problems = []
    if died:
        problems.append(f"the daemon died (exit {code})")
    if len(samples) < 3:
        problems.append("fewer than 3 samples")
        return {"ok": False, "problems": problems}
    bad, first, last = grew([s["rss_kib"] for s in samples], 1.2, 16 * 1024)
    mem = {"rss_first_third_mib": round(first / 1024, 1),
           "rss_last_third_mib": round(last / 1024, 1),
           "rss_start_mib": round(samples[0]["rss_kib"] / 1024, 1),
           "rss_end_mib": round(samples[-1]["rss_kib"] / 1024, 1),
           "rss_peak_mib": round(max(s["rss_kib"] for s in samples) / 1024, 1)}
    if bad:
        problems.append(f"memory grew: median {first / 1024:.1f} -> {last / 1024:.1f} MiB")
    bad, first, last = grew([s["fds"] for s in samples], 1.2, 8)
    fds = {"fds_first_third": first, "fds_last_third": last}
    if bad:
        problems.append(f"open fds grew: median {first} -> {last}")
    final = samples[-1]
    budget = 16 * 1024 * max(final["items"], 0) + 4 * 1024 * 1024
    if final["store_bytes"] > budget:
        problems.append(f"store {final['store_bytes']} bytes > budget {budget} "
                        f"for {final['items']} items")
    if pending != 0:
        problems.append(f"{pending} alert(s) still pending or failed at the end")
    if alerts < matching:
        problems.append(f"{alerts} alert(s) sent for {matching} matching item(s)")
    return {"ok": not problems, "problems": problems, **mem, **fds,
            "store_bytes_end": final["store_bytes"], "items_end": final["items"],
            "bytes_per_item": round(final["store_bytes"] / max(final["items"], 1))}


if __name__ == "__main__":
    sys.exit(main())
