"""Article extraction: quality and speed of candidate libraries (a script, not a test).

Run from the repository root:  .venv/bin/python tests/bench/articles.py [--limit N]
                                   [--libraries watcher,trafilatura,...] [--bootstrap 1000]
                               .venv/bin/python tests/bench/articles.py --serve [--rounds 3]

On the 121 pages of ../shared/articles (the Scrapinghub/Zyte article-extraction benchmark,
with the true article body of each page) it prints, per library:
- token F1, precision and recall, computed exactly as that benchmark's evaluate.py does:
  4-word shingles of the `\\w+` tokens, each page's true/false positives and false
  negatives normalised to sum to 1, precision and recall the means over pages, F1 from
  those means, ± the standard deviation of 1,000 bootstrap resamples;
- pages/s on one core (in this process, after one warm-up page) and with two worker
  processes (a ProcessPoolExecutor whose workers import the library before the clock
  starts; each page's bytes are sent to a worker, its text sent back);
- the import cost of the library: seconds and resident memory added by `import`, in a
  fresh interpreter.

`--serve` measures the whole path instead: the pages served by the local test server
(tests/servers/feeds.py, `text/html`), fetched by watcher's Fetcher (10 connections),
extracted by watcher.article.extract in two worker processes, and matched with the
default config's seed profiles (the article as the item's only text); pages/s end to end
over `--rounds` passes of the 121 pages, with the parent's CPU time. The test server runs
on the same two cores, so this is a floor.

`watcher` is what watcher ships (watcher.article.extract: trafilatura with fast=True,
charset and paywall handling, its text as matched: a paywall stub gives no text). The
others are called as the benchmark's own extractors call them (readability-lxml: its
summary's text). A library that is not installed is reported and skipped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ARTICLES = ROOT.parent / "shared" / "articles"

Extractor = Callable[[bytes, str], str]

# name -> (module whose import is measured, factory of the extractor)
IMPORTS = {
    "watcher": "watcher.article.extract",
    "trafilatura": "trafilatura",
    "trafilatura-fast": "trafilatura",
    "trafilatura-precision": "trafilatura",
    "readability-lxml": "readability",
    "resiliparse": "resiliparse.extract.html2text",
}


def make_extractor(name: str) -> Extractor:
    """(page bytes, page URL) -> extracted text, for one library."""
    if name == "watcher":
        from watcher.article.extract import extract

        headers = {"content-type": "text/html"}
        return lambda html, url: extract(html, url, headers).text
    if name.startswith("trafilatura"):
        import trafilatura

        options = {"trafilatura-fast": {"fast": True},
                   "trafilatura-precision": {"favor_precision": True}}.get(name, {})
        return lambda html, url: trafilatura.extract(
            html.decode("utf-8"), include_comments=False, **options) or ""
    if name == "readability-lxml":
        import lxml.html
        from readability import Document

        def readability(html: bytes, url: str) -> str:
            summary = Document(html.decode("utf-8")).summary(html_partial=True)
            return str(lxml.html.fromstring(summary).text_content()) if summary.strip() else ""
        return readability
    if name == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        return lambda html, url: str(extract_plain_text(
            HTMLTree.parse_from_bytes(html, "utf-8"), main_content=True, comments=False))
    raise SystemExit(f"unknown library {name!r} (known: {', '.join(IMPORTS)})")


# ------------------------------------------------ the benchmark's evaluate.py, as it is

_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)
Counts = tuple[float, float, float]


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def shingle_counts(true: str, pred: str) -> Counts:
    """(tp, fp, fn) of 4-shingles, normalised so that long pages weigh no more."""
    want, got = _shingles(true), _shingles(pred)
    tp = float(sum((want & got).values()))
    fp = float(sum((got - want).values()))
    fn = float(sum((want - got).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def scores(counts: list[Counts]) -> tuple[float, float, float]:
    """(F1, precision, recall) over pages."""
    precision = statistics.mean(_precision(*c) for c in counts if c[0] + c[1] > 0)
    recall = statistics.mean(_recall(*c) for c in counts if c[0] + c[2] > 0)
    return 2 * precision * recall / (precision + recall), precision, recall


def bootstrap_std(counts: list[Counts], rounds: int) -> tuple[float, float, float]:
    rng = random.Random(0)
    samples = [scores([counts[rng.randrange(len(counts))] for _ in counts])
               for _ in range(rounds)]
    if len(samples) < 2:
        return 0.0, 0.0, 0.0
    f1s, ps, rs = zip(*samples, strict=True)
    return statistics.stdev(f1s), statistics.stdev(ps), statistics.stdev(rs)


# ------------------------------------------------------------------ running them

_WORKER: Extractor | None = None


def _init_worker(name: str) -> None:
    global _WORKER
    _WORKER = make_extractor(name)


def _ready() -> bool:
    return _WORKER is not None


def _work(job: tuple[bytes, str]) -> str:
    assert _WORKER is not None
    return _WORKER(*job)


def one_core(name: str, pages: list[tuple[bytes, str]]) -> tuple[list[str], float]:
    run = make_extractor(name)
    run(*pages[0])  # warm-up: first-call caches
    start = time.perf_counter()
    out = [run(html, url) for html, url in pages]
    return out, len(pages) / (time.perf_counter() - start)


def two_workers(name: str, pages: list[tuple[bytes, str]], workers: int) -> float:
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(name,)) as pool:
        for ready in [pool.submit(_ready) for _ in range(workers * 2)]:
            ready.result()  # every worker has imported the library
        start = time.perf_counter()
        list(pool.map(_work, pages, chunksize=2))
        return len(pages) / (time.perf_counter() - start)


# current RSS from /proc (ru_maxrss is inherited across fork and exec, so a child started
# by a big parent would report the parent's peak)
_IMPORT_PROBE = """
import re, time
def rss():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\\s+(\\d+)", f.read()).group(1)) / 1024
before = rss()
start = time.perf_counter()
import {module}
took = time.perf_counter() - start
print(took, rss() - before, rss())
"""


def import_cost(module: str) -> tuple[float, float, float]:
    """(seconds, MB of resident memory added, MB resident after) of `import module`."""
    got = subprocess.run([sys.executable, "-c", _IMPORT_PROBE.format(module=module)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    took, added, total = (float(x) for x in got.stdout.split())
    return took, added, total


async def _serve_run(pages: list[tuple[bytes, str]], rounds: int, workers: int
                     ) -> tuple[int, float, float, Counter[str], int]:
    """(pages, seconds, parent CPU seconds, outcomes, profile matches) of the whole path."""
    import asyncio

    from tests.servers.feeds import FeedServer
    from watcher.article.extract import extract
    from watcher.config import load_config
    from watcher.fetch import Fetcher
    from watcher.query import Document, Matcher

    config = load_config(ROOT / "config" / "watcher.toml", {})
    matcher = Matcher({p.name: p.query for p in config.profiles}, dict(config.aliases))
    outcomes: Counter[str] = Counter()
    hits = 0
    with FeedServer() as server, ProcessPoolExecutor(
            workers, initializer=_init_worker, initargs=("watcher",)) as pool:
        urls = [server.set_body(f"/article/{i}.html", html, content_type="text/html")
                for i, (html, _) in enumerate(pages)] * rounds
        for ready in [pool.submit(_ready) for _ in range(workers * 2)]:
            ready.result()
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(10)

        async def one(fetcher: Fetcher, url: str) -> None:
            nonlocal hits
            async with slots:
                got = await fetcher.fetch(url)
            done = await loop.run_in_executor(pool, extract, got.body, got.final_url,
                                              got.headers)
            outcomes[done.outcome.value] += 1
            hits += len(matcher.match(Document(article=done.text)))

        async with Fetcher(max_connections=10, per_host=10,
                           max_bytes=5 * 1024 * 1024) as fetcher:
            await one(fetcher, urls[0])  # warm-up: connections, first-call caches
            outcomes.clear()
            hits = 0
            cpu, start = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(fetcher, url) for url in urls))
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(urls), took, cpu, outcomes, hits


def serve(pages: list[tuple[bytes, str]], rounds: int, workers: int) -> None:
    import asyncio

    count, took, cpu, outcomes, hits = asyncio.run(_serve_run(pages, rounds, workers))
    print(f"fetch + extract ({workers} workers) + match, {count} pages: {took:.2f} s, "
          f"{count / took:.1f} pages/s, parent CPU {cpu:.2f} s; outcomes "
          + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
          + f"; seed-profile matches {hits}")


def load_pages(limit: int | None) -> tuple[list[str], list[tuple[bytes, str]], list[str]]:
    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth)[:limit]
    pages = [(gzip.decompress((ARTICLES / "html" / f"{i}.html.gz").read_bytes()),
              truth[i].get("url", "")) for i in ids]
    return ids, pages, [truth[i].get("articleBody", "") for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", default=",".join(IMPORTS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--serve", action="store_true",
                        help="fetch + extract + match end to end instead")
    parser.add_argument("--rounds", type=int, default=3, help="--serve: passes over the pages")
    args = parser.parse_args()
    if not ARTICLES.is_dir():
        raise SystemExit(f"{ARTICLES} not found: this benchmark needs ../shared/articles")
    _, pages, truths = load_pages(args.limit)
    if args.serve:
        serve(pages, args.rounds, args.workers)
        return
    print(f"{len(pages)} pages of {ARTICLES}; F1 as the Zyte benchmark computes it")
    print(f"{'library':<22} {'F1':>13} {'precision':>13} {'recall':>13} "
          f"{'pages/s 1':>9} {'pages/s ' + str(args.workers):>9} {'import s':>8} {'+RSS MB':>7}")
    for name in args.libraries.split(","):
        try:
            seconds, added, _ = import_cost(IMPORTS[name])
        except (subprocess.CalledProcessError, KeyError):
            print(f"{name:<22} not installed or unknown: skipped")
            continue
        texts, rate1 = one_core(name, pages)
        rate2 = two_workers(name, pages, args.workers)
        counts = [shingle_counts(t, p) for t, p in zip(truths, texts, strict=True)]
        f1, precision, recall = scores(counts)
        s_f1, s_p, s_r = bootstrap_std(counts, args.bootstrap)
        print(f"{name:<22} {f1:.3f} ± {s_f1:.3f} {precision:.3f} ± {s_p:.3f} "
              f"{recall:.3f} ± {s_r:.3f} {rate1:9.1f} {rate2:9.1f} {seconds:8.2f} {added:7.0f}",
              flush=True)
    seconds, added, total = import_cost("watcher.daemon, watcher.article.policy")
    print(f"daemon side (watcher.daemon + watcher.article.policy): import {seconds:.2f} s, "
          f"RSS {total:.0f} MB; trafilatura imported there: {_daemon_imports_trafilatura()}")


def _daemon_imports_trafilatura() -> bool:
    probe = ("import sys, watcher.daemon, watcher.article.policy; "
             "print('trafilatura' in sys.modules)")
    got = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return got.stdout.strip() == "True"


if __name__ == "__main__":
    main()
