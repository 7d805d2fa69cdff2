"""Benchmark: the story index on the polling benchmark's news, as the story window fills.

    .venv/bin/python -m tests.bench.story_index --items 1000 10000 50000 --scan 2000

Feeds N items on the seed topics (tests/bench/news.py: wire stories syndicated across
feeds, lightly edited) through the story step, all inside one story window (the worst
case: nothing ages out), with the index in front of the comparison (tests/test_storyindex.py
`cluster_with_index`'s procedure, the index a dict standing in for the store's table).
Prints per N: stories found by the lookup and signatures compared per item (mean, 99th
percentile, max), keys stored per item, and the time per item of the lookup and the
comparison, in process. These must not grow with N. For N up to `--scan`, the scan of the
whole window runs too: how often the two put an item in the same story, the pairwise
precision and recall of each against the wire-story labels, and the scan's time per item.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from tests.bench.news import Newsroom
from tests.test_clustering import score
from watcher.dedup import StorySignature, find_story
from watcher.storyindex import StoryPrint, choose_candidates, story_print


def run_index(items: list[dict[str, Any]]) -> tuple[list[int], list[int], list[int], float]:
    """Story ids, stories found and signatures compared per item, seconds per item."""
    bands: dict[int, set[int]] = {}
    members: dict[int, list[StorySignature]] = {}
    prints = [StoryPrint.loads(story_print(i["title"], i["summary"]).dumps()) for i in items]
    assigned: list[int] = []
    found: list[int] = []
    compared: list[int] = []
    t0 = time.perf_counter()
    for p in prints:
        stories = choose_candidates({key: bands[key] for key in p.probes if key in bands})
        recent = [(s, sig) for s in stories for sig in members[s]]
        story = find_story(p.signature, recent)
        if story is None:
            story = len(assigned)
        members.setdefault(story, []).append(p.signature)
        for key in p.keys:
            bands.setdefault(key, set()).add(story)
        assigned.append(story)
        found.append(len(stories))
        compared.append(len(recent))
    return assigned, found, compared, (time.perf_counter() - t0) / len(items)


def run_scan(items: list[dict[str, Any]]) -> tuple[list[int], float]:
    sigs = [story_print(i["title"], i["summary"]).signature for i in items]
    seen: list[tuple[int, StorySignature]] = []
    assigned: list[int] = []
    t0 = time.perf_counter()
    for sig in sigs:
        story = find_story(sig, seen)
        if story is None:
            story = len(assigned)
        seen.append((story, sig))
        assigned.append(story)
    return assigned, (time.perf_counter() - t0) / len(items)


def _spread(values: list[int]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.mean(values):7.2f} {p99:5d} {ordered[-1]:5d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--scan", type=int, default=2000,
                        help="also run the scan of the window up to this many items")
    args = parser.parse_args()
    print(f"{'items':>6} {'found/item (mean p99 max)':>26} {'compared/item':>19} "
          f"{'keys/item':>9} {'us/item':>8}")
    for n in args.items:
        newsroom = Newsroom(7, datetime.now(UTC))
        items = [newsroom.topic_item(i) for i in range(n)]
        assigned, found, compared, per_item = run_index(items)
        keys = statistics.mean(len(story_print(i["title"], i["summary"]).keys)
                               for i in items[:500])
        print(f"{n:6d} {_spread(found):>26} {_spread(compared):>19} {keys:9.0f} "
              f"{per_item * 1e6:8.0f}")
        if n <= args.scan:
            scan, scan_per_item = run_scan(items)
            same = sum(a == b for a, b in zip(assigned, scan, strict=True)) / n
            labelled = [{"id": k, "story": i["story"]} for k, i in enumerate(items)]
            mine, theirs = score(labelled, assigned), score(labelled, scan)
            print(f"       same story as the scan for {same:.4f} of items; against the labels: "
                  f"index precision {mine.precision:.4f} recall {mine.recall:.4f}, scan "
                  f"precision {theirs.precision:.4f} recall {theirs.recall:.4f}; scan "
                  f"{scan_per_item * 1e6:.0f} us/item")


if __name__ == "__main__":
    main()
