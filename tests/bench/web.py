"""Dashboard speed over a big store (a script, not a test).

Run from the repository root:
    .venv/bin/python -m tests.bench.web [--feeds 1000] [--items 300000] [--alerts 20000]
                                        [--repeat 30] [--state PATH_OR_DSN] [--tester-only]

Builds a store of 1,000 feeds, 300,000 items (seen over 90 days, news-like text from
tests/bench/matching.py) and 20,000 alerts (10 profiles, 3 channels, every delivery state),
inserted straight through the store's SQL for speed; serves the dashboard with uvicorn on
127.0.0.1, as `watcher web` does; then asks every page `repeat` times and prints each
page's median and p95 time to first byte (until the response headers arrive), and the
query tester's time for a 30-day query (the page's own figure and the whole request),
asked `repeat` / 5 times (at least 3); `--tester-only` skips the pages and asks the tester
`repeat` times. Goals: every page under 200 ms at p95, the tester under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from tests.bench.matching import SEED, make_items
from watcher.config import load_config
from watcher.store import is_postgres, open_store
from watcher.store.sql import SQLStore
from watcher.text import plain_text
from watcher.web.server import open_web

DAY = 86400.0
PROFILES = {"navy": "frigate OR corvette OR destroyer OR warship", "turkey": "turkey OR türkiye",
            "drones": "drone* OR bayraktar", "missiles": "missile AND (radar OR patriot)",
            "aukus": "aukus OR submarine", "energy": "oil AND gas", "greece": "greece OR greek",
            "russia": "russia NEAR/5 sanctions", "jets": "fighter AND jet", "space": "satellite"}
CHANNELS = ("desk", "ops", "digest")
TESTER_QUERY = "(frigate OR corvette) AND NOT sanctions"


def write_config(folder: Path, state: str, feeds: int) -> Path:
    lines = ["[watcher]", f'state = "{state}"', "", "[aliases]", 'ships = ["frigate", "corvette"]',
             ""]
    for i in range(feeds):
        lines += ["[[feeds]]", f'url = "https://feed{i}.example/rss"', f'name = "Feed {i}"', ""]
    for name, query in PROFILES.items():
        lines += ["[[profiles]]", f'name = "{name}"', f'query = "{query}"',
                  'channels = ["desk", "ops"]', ""]
    for name in CHANNELS:
        lines += [f"[channels.{name}]", 'type = "console"', ""]
    path = folder / "watcher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _insert(store: SQLStore, table: str, columns: list[str], rows: list[tuple[object, ...]]
            ) -> None:
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    with store.transaction():
        if is_postgres(getattr(store, "dsn", "")):
            with store.conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            store.db.executemany(sql, rows)  # type: ignore[attr-defined]


def fill(state: str, feeds: int, items: int, alerts: int, now: float) -> None:
    rnd = random.Random(SEED)
    store = open_store(state)
    assert isinstance(store, SQLStore)
    print(f"filling {state}: {feeds} feeds, {items} items, {alerts} alerts ...", flush=True)
    started = time.perf_counter()
    _insert(store, "feeds", ["url", "first_polled_at", "last_poll_at", "last_success_at",
                             "last_status", "last_error", "error_kind", "consecutive_failures",
                             "next_poll_at", "items_total", "last_new_item_at", "gone"],
            [(f"https://feed{i}.example/rss", now - 90 * DAY, now - 60,
              now - (60 if i % 20 else 3 * DAY), "ok" if i % 20 else "error",
              None if i % 20 else f"https://feed{i}.example/rss: HTTP 503",
              None if i % 20 else "soft", 0 if i % 20 else 40, now + rnd.uniform(0, 600),
              items // feeds, now - rnd.uniform(0, 2 * DAY), i % 97 == 0)
             for i in range(feeds)])
    docs = [replace(d, title=plain_text(d.title), summary=plain_text(d.summary))  # as stored
            for d in make_items(rnd, 5000)]
    rows = []
    for n in range(items):
        doc = docs[n % len(docs)]
        feed = rnd.randrange(feeds)
        seen = now - rnd.uniform(0, 90 * DAY)
        rows.append((f"https://feed{feed}.example/rss", f"k{n}", f"https://feed{feed}.example/{n}",
                     f"h{n}", f"Feed {feed}", doc.title, f"https://feed{feed}.example/{n}",
                     doc.summary, "", "", '["world"]', seen, seen, "[]",
                     (n % alerts) + 1 if n < 2 * alerts else None))   # two outlets a story
    rows.sort(key=lambda r: r[12])   # stored in the order they were seen, as the daemon does
    _insert(store, "items", ["feed_url", "item_key", "canonical_url", "content_hash",
                             "feed_name", "title", "link", "summary", "content", "author",
                             "categories", "published_at", "seen_at", "matched", "story_id"],
            rows)
    names = list(PROFILES)
    arows = []
    for n in range(alerts):
        doc = docs[n % len(docs)]
        created = now - rnd.uniform(0, 90 * DAY)
        status = rnd.choice(("sent", "sent", "sent", "pending", "held"))
        profiles = json.dumps(rnd.sample(names, rnd.choice((1, 1, 2))))
        payload = json.dumps({"kind": "new", "profiles": json.loads(profiles),
                              "title": doc.title, "link": f"https://feed1.example/{n}",
                              "feed": "Feed 1", "published": created, "snippet": doc.title,
                              "bold": [[0, 4]], "terms": ["navy"]})
        arows.append((rnd.choice(CHANNELS), f"d{n}", "new", n + 1, n + 1, profiles, payload,
                      created, created, status, 2 if status == "pending" and n % 3 else 0,
                      "HTTP 500" if status == "pending" else None,
                      created + 5 if status == "sent" else None))
    _insert(store, "alerts", ["channel", "dedupe_key", "kind", "story_id", "item_id", "profiles",
                              "payload", "created_at", "not_before", "status", "attempts",
                              "last_error", "sent_at"], arows)
    store.heartbeat("bench:1:aaaa", now, "watcher bench")
    store.close()
    print(f"filled in {time.perf_counter() - started:.1f}s", flush=True)


def ttfb(client: httpx.Client, url: str, cpu: list[float] | None = None) -> float:
    """Seconds until the response headers arrive; the CPU time the request took (server and
    client: both run in this process) is appended to `cpu`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with client.stream("GET", url) as answer:
        took = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"{url}: HTTP {answer.status_code}")
        answer.read()
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return took


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--tester-only", action="store_true",
                        help="time the query tester alone, `repeat` times")
    parser.add_argument("--state", help="an SQLite path or a postgresql:// DSN of an empty "
                        "database (default: a new SQLite file)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    folder = Path(tempfile.mkdtemp(prefix="watcher-web-bench-"))
    state = args.state or str(folder / "state.db")
    now = time.time()
    config = load_config(write_config(folder, state, args.feeds), env={})
    fill(config.state, args.feeds, args.items, args.alerts, now)
    web = open_web(lambda: config, "127.0.0.1:0", "--listen").start()
    base = web.url.rstrip("/")
    day = time.strftime("%Y-%m-%d", time.gmtime(now - 3 * DAY))
    pages = ["/", "/alerts", "/alerts?profile=navy", "/alerts?channel=ops",
             "/alerts?feed=https://feed1.example/rss", f"/alerts?date={day}",
             "/alerts?page=50", "/feeds", "/feeds?sort=health&dir=desc", "/feeds?page=5",
             "/profiles", "/tester"]
    if not args.tester_only:
        print(f"\n{'page':44} {'median ms':>9} {'p95 ms':>7} {'CPU ms':>7}  (time to first "
              f"byte, {args.repeat} requests each; CPU: median per request)")
    worst = 0.0
    with httpx.Client(timeout=120) as client:
        ttfb(client, base + "/")   # warm-up
        for page in [] if args.tester_only else pages:
            cpu: list[float] = []
            times = [ttfb(client, base + page, cpu) for _ in range(args.repeat)]
            worst = max(worst, p95(times))
            print(f"{page[:44]:44} {1000 * statistics.median(times):9.1f} "
                  f"{1000 * p95(times):7.1f} {1000 * statistics.median(cpu):7.1f}")
        tester, tester_cpu = [], []
        for _ in range(args.repeat if args.tester_only else max(3, args.repeat // 5)):
            started, cpu_started = time.perf_counter(), time.process_time()
            answer = client.get(base + "/tester", params={"q": TESTER_QUERY, "period": "30d"})
            tester.append(time.perf_counter() - started)
            tester_cpu.append(time.process_time() - cpu_started)
        summary = answer.text.split('id="tester-summary">', 1)[-1].split("<", 1)[0]
    web.stop()
    print(f"\ntester, 30 days, {TESTER_QUERY!r}: median {statistics.median(tester):.3f}s, "
          f"worst {max(tester):.3f}s, first {tester[0]:.3f}s, CPU median "
          f"{statistics.median(tester_cpu):.3f}s over {len(tester)} requests; the page says: "
          f"{summary}")
    pages_verdict = ("" if args.tester_only else f"pages p95 worst {1000 * worst:.0f} ms "
                     f"({'meets' if worst < 0.2 else 'misses'} 200 ms); ")
    print(f"\nverdict: {pages_verdict}tester {statistics.median(tester):.2f} s "
          f"({'meets' if max(tester) < 1 else 'misses'} 1 s)")


if __name__ == "__main__":
    sys.exit(main())
