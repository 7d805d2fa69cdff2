"""Benchmark: one cold and one warm polling round over N local feeds, watcher against peers.

    .venv/bin/python -m tests.bench.polling --feeds 100 1000
    .venv/bin/python -m tests.bench.polling --feeds 1000 3000 10000 --repeat 1   # growth

A local nginx (tests/bench/static_feeds.py; Debian's nginx-light, installed by the script,
with the Python test server as the fallback), ETag and Last-Modified honoured, serves N
feeds of 30 news-sized items (~33 KB each) from tests/bench/news.py: about one item in six
on the default profiles' seed topics, syndicated wire stories lightly edited across feeds,
published over the last three days. Each contender gets a fresh server and its
own state: a cold round (nothing known), then 10% of the feeds gain an item, then a warm
round. Each contender runs `--repeat` times (default 3), interleaved with the others, and
the medians are reported, since a shared machine's speed drifts.

Contenders, each a subprocess: `watcher poll` on what users run (`watcher`: the default
config/watcher.toml's [watcher] settings, aliases and profiles, with its default
`backfill`, `per_host` and `story_window`, and the bench's feeds; console channel to
/dev/null), the same with article fetching on (`watcher-article`, below), the
configuration this benchmark used before (`watcher-old`: one profile,
`backfill = "0s"`, `per_host` = concurrency), rss2email
(`r2e run --no-send`, pip-installed in a temporary venv), newsboat (`newsboat -x reload`,
Debian package) and a floor: httpx at the same concurrency plus feedparser, conditional
GET, nothing else. Printed per round: wall time, CPU seconds and peak memory (summed over
the process tree, sampled every 20 ms; PSS for memory; the contender's rusage if its CPU
is larger), requests and 304s seen by the server, and the ratio to the floor; wall time
and peak memory per feed; for watcher, the CPU of its own process apart from its parser
workers', the new matching items it met (the ones its story step sees) and its own
CPU per such item (ms/match; in a warm round, with few of them, mostly the fixed cost of
a start and a round). Then the issue's targets, met or missed. A peer that cannot be
installed is reported and skipped.

`watcher-article` (issue 15) is the `watcher` row's config with `article = "auto"`
(watcher's own default) over the same newsroom's items cut to teasers, their first
sentence (under the 150 words of watcher/article/policy.py), each linking to its own
news page on the same server (tests/bench/article_pages.py, news_page.py: the item's
whole text and more, in a page with a menu, rails, comments and a footer; about 70 KB,
800 elements, shaped after ../shared/articles).
Only items within the default `backfill` (and an hour) have a page: watcher fetches no
other, and a request for a missing page would show as a 404. The `watcher` row keeps
`article = "never"` and its own items, so the README's targets stay comparable. For
this row, per round: the page requests the server saw (404s apart), and the article
outcomes stored (`items.article_outcome`), with a count of items with an outcome whose
link is not on the bench's 127.0.0.1 server (0, or something fetched elsewhere); then
issue 15's goal, the warm round's peak memory under 200 MB, with its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bench import static_feeds
from tests.bench.article_pages import TeaserDesk, page_requests
from tests.bench.news import Newsroom
from tests.servers.feeds import FeedServer
from watcher.timeparse import parse_duration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
CONCURRENCY = 10
FLOOR = r"""
import asyncio, io, sys, json, feedparser, httpx
urls = open(sys.argv[1]).read().split()
state = json.load(open(sys.argv[2])) if sys.argv[3] == "warm" else {}
async def main():
    sem = asyncio.Semaphore(int(sys.argv[4]))
    limits = httpx.Limits(max_connections=int(sys.argv[4]))
    async with httpx.AsyncClient(limits=limits) as client:
        async def one(url):
            h = {}
            if url in state:
                h = {"If-None-Match": state[url][0], "If-Modified-Since": state[url][1]}
            async with sem:
                r = await client.get(url, headers=h)
            if r.status_code == 200:
                state[url] = [r.headers.get("etag", ""), r.headers.get("last-modified", "")]
                return await asyncio.to_thread(feedparser.parse, io.BytesIO(r.content),
                                               response_headers=r.headers)
        await asyncio.gather(*(one(u) for u in urls))
asyncio.run(main()); json.dump(state, open(sys.argv[2], "w"))
"""


Server = FeedServer | static_feeds.StaticFeeds
MakeItem = Callable[[int, bool], dict[str, Any]]   # (item number, fresh) -> item
ARTICLE_ROWS = frozenset({"watcher-article"})   # teaser feeds, their pages served too
ARTICLE_GOAL_MB = 200                           # issue 15: warm round with articles on


def fill(server: Server, n: int, make: MakeItem) -> list[str]:
    return [server.add_feed(f"/f{i}", [make(i * 1000 + j, False) for j in range(30)],
                            title=f"Feed {i}") for i in range(n)]


def change(server: Server, n: int, make: MakeItem) -> None:
    rng = random.Random(8)
    for i in rng.sample(range(n), max(1, n // 10)):
        server.add_item(f"/f{i}", make(10_000_000 + i, True))


def tree_pss(pid: int, ticks: dict[int, int]) -> int:
    """Sum of PSS (KiB) of a process and its descendants; their CPU ticks go to `ticks`."""
    children: dict[int, list[int]] = {}
    cpu_ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            cpu_ticks[int(entry)] = int(fields[11]) + int(fields[12])   # utime + stime
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        if p in cpu_ticks:
            ticks[p] = max(ticks.get(p, 0), cpu_ticks[p])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(cmd: list[str], env: dict[str, str] | None = None,
            cwd: str | None = None) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # stderr to a file, not a pipe: a pipe this process drains (while its sampler thread
    # holds the GIL walking /proc) fills, and then blocks the contender's every log line
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=cwd)
    peak, done = [0], threading.Event()
    ticks: dict[int, int] = {}   # CPU clock ticks last seen per process of the tree

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], tree_pss(proc.pid, ticks))
    sampler = threading.Thread(target=sample)
    sampler.start()
    proc.wait()
    done.set()
    errors.seek(0)
    err = errors.read()
    errors.close()
    sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # processes the contender never waits for (a fork server's children, say) are missing
    # from its rusage: the sampled sum over the tree counts them (to the last 20 ms)
    tick = os.sysconf("SC_CLK_TCK")
    cpu = max(cpu, sum(ticks.values()) / tick)
    if proc.returncode not in (0, 1):
        print(f"    ! {cmd[0]} exited {proc.returncode}: {err.decode()[-300:]}")
    # the contender's own process apart from its children (watcher's parser workers), as
    # last sampled (to 20 ms)
    own = ticks.get(proc.pid, 0) / tick
    return {"wall": wall, "cpu": cpu, "mem": peak[0] / 1024, "own_cpu": own,
            "children_cpu": sum(ticks.values()) / tick - own}


Runner = Callable[[list[str], Path, str], list[str]]


DEFAULT_CONFIG = REPO / "config" / "watcher.toml"


def _toml_value(value: object) -> str:
    """A TOML value for the strings, numbers and lists of strings of a config."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)   # a JSON string is a TOML basic string
    return str(value)


def default_config(urls: list[str], state: Path, article: str = "never") -> str:
    """config/watcher.toml's [watcher] settings, aliases and profiles, on the bench's feeds.

    Only `state` differs, and `article`: "never" for the `watcher` row, whose items link
    to pages nobody serves (issue 15 asks for the README targets with article fetching
    off), "auto" (watcher's default) for `watcher-article`, whose pages are served;
    backfill, per_host, story_window and the rest are the defaults.
    """
    config = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    settings = {**config["watcher"], "state": str(state), "article": article}
    lines = ["[watcher]"] + [f"{k} = {_toml_value(v)}" for k, v in settings.items()]
    lines += ["[aliases]"] + [f"{k} = {_toml_value(v)}" for k, v in config["aliases"].items()]
    for profile in config["profiles"]:
        lines += ["[[profiles]]"] + [f"{k} = {_toml_value(v)}" for k, v in profile.items()]
    lines += [f'[[feeds]]\nurl = "{u}"' for u in urls]
    lines += ['[channels.console]\ntype = "console"']
    return "\n".join(lines) + "\n"


def watcher_cmd(urls: list[str], tmp: Path, round_: str, article: str = "never") -> list[str]:
    cfg = tmp / "watcher.toml"
    if round_ == "cold":
        cfg.write_text(default_config(urls, tmp / "state.db", article), encoding="utf-8")
    return [PY, "-m", "watcher", "poll", "-c", str(cfg)]


def watcher_article_cmd(urls: list[str], tmp: Path, round_: str) -> list[str]:
    """The `watcher` row's config with `article = "auto"`, over teaser feeds (run_once)."""
    return watcher_cmd(urls, tmp, round_, "auto")


def watcher_old_cmd(urls: list[str], tmp: Path, round_: str) -> list[str]:
    """The configuration this benchmark ran before: one profile, no backfill, no host limit."""
    cfg = tmp / "watcher.toml"
    if round_ == "cold":
        feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
        cfg.write_text(f'[watcher]\nstate = "{tmp}/state.db"\nconcurrency = {CONCURRENCY}\n'
                       f'per_host = {CONCURRENCY}\nbackfill = "0s"\narticle = "never"\n{feeds}'
                       '[[profiles]]\nname = "p"\nquery = "S-400"\n'
                       '[channels.console]\ntype = "console"\n')
    return [PY, "-m", "watcher", "poll", "-c", str(cfg)]


def floor_cmd(urls: list[str], tmp: Path, round_: str) -> list[str]:
    listed = tmp / "floor-urls.txt"   # a file: 10,000 URLs exceed the argument list's limit
    listed.write_text("\n".join(urls), encoding="utf-8")
    return [PY, "-c", FLOOR, str(listed), str(tmp / "floor.json"), round_, str(CONCURRENCY)]


def r2e_cmd(urls: list[str], tmp: Path, round_: str) -> list[str]:
    cfg, data = tmp / "r2e.cfg", tmp / "r2e.json"
    if round_ == "cold":
        cfg.write_text("[DEFAULT]\nto = bench@example.org\n\n" + "".join(
            f"[feed.f{i}]\nurl = {u}\n\n" for i, u in enumerate(urls)))
        data.write_text('{"version": 2, "feeds": []}')
    return [str(R2E), "-c", str(cfg), "-d", str(data), "run", "--no-send"]


def newsboat_cmd(urls: list[str], tmp: Path, round_: str) -> list[str]:
    if round_ == "cold":
        (tmp / "urls").write_text("\n".join(urls) + "\n")
        (tmp / "config").write_text(f"reload-threads {CONCURRENCY}\n")
    return ["newsboat", "-x", "reload", "-u", str(tmp / "urls"), "-c", str(tmp / "cache.db"),
            "-C", str(tmp / "config")]


R2E = Path(tempfile.gettempdir()) / "watcher-bench-r2e" / "bin" / "r2e"


def install_peers() -> dict[str, Runner | str]:
    peers: dict[str, Runner | str] = {"floor": floor_cmd, "watcher": watcher_cmd,
                                      "watcher-old": watcher_old_cmd,
                                      "watcher-article": watcher_article_cmd}
    if not R2E.exists():
        venv = R2E.parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "rss2email"],
                       check=False, capture_output=True)
    peers["rss2email"] = r2e_cmd if R2E.exists() else "not installable (pip install rss2email)"
    if shutil.which("newsboat") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "newsboat"], check=False,
                       capture_output=True)
    if not static_feeds.available():
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=False,
                       capture_output=True)
    peers["newsboat"] = (newsboat_cmd if shutil.which("newsboat")
                         else "not installed (apt-get install newsboat)")
    return peers


def compile_watcher() -> None:
    """Byte-compile watcher's modules, as `pip install` does for an installed package (and
    did for the peers and the floor's libraries). Run from the source tree on a machine
    that sets PYTHONDONTWRITEBYTECODE, as this one does, watcher would otherwise compile
    every one of its modules from source on every run: about 0.15 s of CPU per process."""
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "watcher")], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})


Results = dict[str, dict[str, list[dict[str, float]]]]   # tool -> round -> one per run


def run(n: int, peers: dict[str, Runner | str], repeat: int) -> Results:
    """Every contender `repeat` times, interleaved, so a machine's drift hits them alike."""
    results: Results = {}
    for name, runner in peers.items():
        if isinstance(runner, str):
            print(f"  {name}: skipped, {runner}")
    for _ in range(repeat):
        for name, runner in peers.items():
            if isinstance(runner, str):
                continue
            rounds = results.setdefault(name, {"cold": [], "warm": []})
            for round_, m in run_once(n, runner, name in ARTICLE_ROWS).items():
                rounds[round_].append(m)
    return results


def run_once(n: int, runner: Runner, articles: bool = False) -> dict[str, dict[str, float]]:
    """A cold then a warm round against a fresh server, with a fresh state. With
    `articles`, the feeds' items are teasers whose pages the same server serves."""
    out = {}
    server: Server = static_feeds.StaticFeeds() if static_feeds.available() else FeedServer()
    newsroom = Newsroom(7, datetime.now(UTC))
    with server, tempfile.TemporaryDirectory() as tmp:
        desk = TeaserDesk(newsroom, server, _fetchable()) if articles else None
        make: MakeItem = desk.item if desk else newsroom.item
        urls = fill(server, n, make)
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": tmp}
        state = Path(tmp) / "state.db"
        for round_ in ("cold", "warm"):
            if round_ == "warm":
                change(server, n, make)
            before, matching = _counts(server, n), _matching(state)
            pages, outcomes = page_requests(server), _outcomes(state, server.base_url)
            m = measure(runner(urls, Path(tmp), round_), env=env, cwd=tmp)
            after = _counts(server, n)
            m["requests"], m["304"] = after[0] - before[0], after[1] - before[1]
            m["matching"] = _matching(state) - matching
            if desk:
                m["pages_served"] = desk.pages
                pages_after = page_requests(server)
                m["page_requests"] = pages_after[0] - pages[0]
                m["page_404"] = pages_after[1] - pages[1]
                outcomes = _outcomes(state, server.base_url) - outcomes
                m.update({f"outcome:{k}": v for k, v in outcomes.items()})
            out[round_] = m
    return out


def _fetchable() -> timedelta:
    """How far back a first poll fetches pages: the default backfill, and an hour to spare
    (older items are recorded silently, their pages never fetched; tests/bench/article_pages.py)."""
    settings = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))["watcher"]
    return timedelta(seconds=parse_duration(settings.get("backfill", "24h")), hours=1)


def _outcomes(state: Path, base_url: str) -> Counter[str]:
    """Article outcomes recorded so far (items.article_outcome), and as "offsite" the
    items with an outcome whose link is not on the bench's server (there must be none)."""
    if not state.exists():
        return Counter()
    db = sqlite3.connect(state)
    try:
        rows = db.execute("SELECT article_outcome, instr(link, ?) = 1 FROM items"
                          " WHERE article_outcome IS NOT NULL", (base_url + "/",)).fetchall()
    finally:
        db.close()
    found = Counter(str(outcome) for outcome, _ in rows)
    found["offsite"] = sum(1 for _, local in rows if not local)
    return found


def _matching(state: Path) -> int:
    """New matching items watcher has met so far: the ones its story step saw (they keep a
    story signature; backfilled items and copies known from another feed do not)."""
    if not state.exists():
        return 0
    db = sqlite3.connect(state)
    try:
        return int(db.execute("SELECT COUNT(*) FROM items WHERE signature IS NOT NULL")
                   .fetchone()[0])
    finally:
        db.close()


def _counts(server: Server, n: int) -> tuple[int, int]:
    """(requests, 304s) the server has seen so far."""
    if isinstance(server, static_feeds.StaticFeeds):
        return server.counts()
    return sum(server.hits(f"/f{i}") for i in range(n)), _count_304(server)


def _count_304(server: FeedServer) -> int:
    """Conditional requests whose validators matched the route's current ETag (a 304)."""
    with server.lock:
        return sum(1 for r in server.requests if r.if_none_match is not None
                   and r.if_none_match == server.routes[r.path].etag)


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(n: int, results: Results) -> None:
    floor = results.get("floor", {})
    runs = max((len(r) for rounds in results.values() for r in rounds.values()), default=0)
    print(f"\n{n} feeds x 30 items (~33 KB each), concurrency {CONCURRENCY}; "
          f"medians of {runs} run(s), wall range in brackets")
    print(f"{'tool':15} {'round':5} {'wall s':>7} {'(min-max)':>13} {'cpu s':>7} {'peak MB':>8} "
          f"{'reqs':>5} {'304s':>5} {'wall/floor':>10} {'cpu/floor':>9} {'ms/feed':>7} "
          f"{'KB/feed':>7}  {'own cpu s':>9} {'workers s':>9} {'matching':>8} {'ms/match':>9}")
    for name, rounds in results.items():
        for round_, ms in rounds.items():
            wall, cpu = median(ms, "wall"), median(ms, "cpu")
            f = floor.get(round_)
            ratio = f"{wall / median(f, 'wall'):.2f}x" if f else ""
            cratio = f"{cpu / median(f, 'cpu'):.2f}x" if f else ""
            spread = f"({min(m['wall'] for m in ms):.2f}-{max(m['wall'] for m in ms):.2f})"
            own = ""
            if name.startswith("watcher"):
                matching = median(ms, "matching")
                per = f"{median(ms, 'own_cpu') * 1000 / matching:9.2f}" if matching else ""
                own = (f"  {median(ms, 'own_cpu'):9.2f} {median(ms, 'children_cpu'):9.2f} "
                       f"{matching:8.0f} {per:>9}")
            print(f"{name:15} {round_:5} {wall:7.2f} {spread:>13} {cpu:7.2f} "
                  f"{median(ms, 'mem'):8.1f} {median(ms, 'requests'):5.0f} "
                  f"{median(ms, '304'):5.0f} {ratio:>10} {cratio:>9} {wall * 1000 / n:7.2f} "
                  f"{median(ms, 'mem') * 1024 / n:7.1f}{own}")
    for name in ARTICLE_ROWS & results.keys():
        article_lines(name, results[name])
    targets(n, results)
    article_targets(results)


def article_lines(name: str, rounds: dict[str, list[dict[str, float]]]) -> None:
    """Per round of an article row: page requests the server saw and the outcomes stored."""
    for round_, ms in rounds.items():
        kinds = sorted({k for m in ms for k in m if k.startswith("outcome:")} - {"outcome:offsite"})
        outcomes = ", ".join(f"{k.removeprefix('outcome:')} {_median0(ms, k):.0f}" for k in kinds)
        print(f"  {name} {round_}: {_median0(ms, 'page_requests'):.0f} page requests "
              f"({_median0(ms, 'page_404'):.0f} for pages not served, "
              f"{_median0(ms, 'pages_served'):.0f} pages served in all); "
              f"outcomes stored: {outcomes or 'none'}; outcomes of links off the bench's "
              f"server: {_median0(ms, 'outcome:offsite'):.0f}")


def _median0(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r.get(key, 0) for r in runs)


def article_targets(results: Results) -> None:
    """Issue 15's goal for the article row: the warm round's peak memory under 200 MB."""
    rounds = results.get("watcher-article")
    if not rounds:
        return
    warm, cold = median(rounds["warm"], "mem"), median(rounds["cold"], "mem")
    ok = warm < ARTICLE_GOAL_MB
    print(f"  {'met' if ok else 'MISSED':6} watcher-article: warm round "
          f"{median(rounds['warm'], 'wall'):.2f} s, peak memory under {ARTICLE_GOAL_MB} MB: "
          f"{warm:.0f} MB (cold round {cold:.0f} MB)")


def targets(n: int, results: Results) -> None:
    """Issue 14's targets for watcher on the default config, each with what it compares."""
    def wall(tool: str, round_: str) -> float | None:
        ms = results.get(tool, {}).get(round_)
        return median(ms, "wall") if ms else None

    w_warm, w_cold = wall("watcher", "warm"), wall("watcher", "cold")
    if w_warm is None or w_cold is None:
        return
    checks = []
    if (f := wall("floor", "cold")) is not None:
        checks.append((f"cold round at most 0.8x the floor: {w_cold / f:.2f}x", w_cold <= 0.8 * f))
    if (b := wall("newsboat", "cold")) is not None:
        checks.append((f"cold round faster than newsboat: {w_cold:.2f} s against {b:.2f} s",
                       w_cold < b))
    if (f := wall("floor", "warm")) is not None:
        checks.append((f"warm round at most 1.0x the floor: {w_warm / f:.2f}x", w_warm <= f))
    if (r := wall("rss2email", "warm")) is not None:
        checks.append((f"warm round 2x faster than rss2email: {r / w_warm:.2f}x", r >= 2 * w_warm))
    cold = results["watcher"]["cold"]
    if (matching := median(cold, "matching")):
        # the cold round, where matching items are many; a warm round's few share the
        # fixed cost of a start and a round (its figure is printed above)
        per = median(cold, "own_cpu") * 1000 / matching
        checks.append((f"watcher's own CPU per new matching item (cold round) under 1 ms: "
                       f"{per:.2f} ms", per < 1))
    peak = max(median(ms, "mem") for ms in results["watcher"].values())
    limit = 150 if n <= 1000 else 400
    checks.append((f"peak memory under {limit} MB: {peak:.0f} MB", peak < limit))
    for text, ok in checks:
        print(f"  {'met' if ok else 'MISSED':6} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--only", nargs="*", help="contenders to run (default: all)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per contender; medians are reported (default: 3)")
    args = parser.parse_args()
    peers = install_peers()
    compile_watcher()
    if args.only:
        peers = {k: v for k, v in peers.items() if k in args.only}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; contenders: "
          + ", ".join(k + ("" if not isinstance(v, str) else " (skipped)")
                      for k, v in peers.items()))
    for n in args.feeds:
        report(n, run(n, peers, args.repeat))


if __name__ == "__main__":
    main()
