"""Sweep the story-similarity threshold over tests/data/stories.json.

Run from the repository root:  .venv/bin/python -m tests.bench.dedup_threshold

Prints, per threshold, the pairwise precision and recall of the online clustering (the same
procedure as tests/test_clustering.py), by a scan of the window and with the story index's
candidate step in front (watcher/storyindex.py, as tests/test_storyindex.py runs it), then
the score gap: the lowest similarity between two copies of one story and the highest
between two different stories; then the index's figures: candidates per item, the size of
a print and the time to compute one.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

from tests.test_clustering import cluster, load_items, score
from tests.test_storyindex import cluster_with_index
from watcher.dedup import DEFAULT_THRESHOLD, similarity, story_signature
from watcher.storyindex import StoryPrint, story_print


def main() -> None:
    items = load_items()
    stories = len({i["story"] for i in items})
    print(f"{len(items)} items, {stories} stories; default threshold {DEFAULT_THRESHOLD}")
    print(f"{'threshold':>9}  {'':5}  {'precision':>9}  {'recall':>6}  {'false merges':>12}  "
          f"{'missed':>6}")
    for step in range(5, 100, 5):
        threshold = step / 100
        mark = "  <- default" if threshold == DEFAULT_THRESHOLD else ""
        scan = cluster(items, threshold)
        indexed = cluster_with_index(items, threshold)[0]
        differs = "" if indexed == scan else "  (not the scan's clustering)"
        for how, assigned, note in (("scan", scan, mark), ("index", indexed, differs)):
            result = score(items, assigned)
            print(f"{threshold:9.2f}  {how:5}  {result.precision:9.3f}  {result.recall:6.3f}  "
                  f"{len(result.false_merges):12d}  {len(result.missed):6d}{note}")

    sigs = [(i, story_signature(i["title"], i["summary"])) for i in items]
    same: list[tuple[float, int, int]] = []
    different: list[tuple[float, int, int]] = []
    for (a, sa), (b, sb) in itertools.combinations(sigs, 2):
        bucket = same if a["story"] == b["story"] else different
        bucket.append((similarity(sa, sb), a["id"], b["id"]))
    low = min(same)
    high = max(different)
    print(f"lowest score between copies of one story: {low[0]:.3f} (items {low[1]}, {low[2]})")
    print(f"highest score between different stories: {high[0]:.3f} (items {high[1]}, {high[2]})")
    index_figures(items)


def index_figures(items: list[dict[str, Any]]) -> None:
    candidates = cluster_with_index(items)[1]
    print(f"index: stories compared per item {statistics.mean(candidates):.2f} on average, "
          f"{max(candidates)} at most (the scan compares every item of the window)")
    prints = [story_print(i["title"], i["summary"]) for i in items]
    sizes = [len(p.dumps().encode()) for p in prints]
    keys = [len(p.keys) for p in prints]
    print(f"print: {statistics.mean(sizes):.0f} bytes on average, {max(sizes)} at most "
          f"(signature alone {statistics.mean(len(p.signature.dumps()) for p in prints):.0f}); "
          f"keys stored per item {statistics.mean(keys):.0f} on average, {max(keys)} at most")
    long_item = story_print(items[0]["title"], " ".join(i["summary"] for i in items[:8]))
    print(f"a 120-word summary: {len(long_item.dumps().encode())} bytes, "
          f"{len(long_item.keys)} keys stored, {len(long_item.probes)} probed")
    for what, run in (("signature alone", lambda i: story_signature(i["title"], i["summary"])),
                      ("print (signature and sketches)",
                       lambda i: story_print(i["title"], i["summary"])),
                      ("print to text and back", lambda i: StoryPrint.loads(
                          story_print(i["title"], i["summary"]).dumps()))):
        best = min(_time_per_item(items, run) for _ in range(5))
        print(f"time per item, {what}: {best * 1e6:.0f} us (best of 5 passes)")


def _time_per_item(items: list[dict[str, Any]], run: Callable[[dict[str, Any]], object]) -> float:
    t0 = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - t0) / len(items)


if __name__ == "__main__":
    main()
