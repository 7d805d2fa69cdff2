"""Sweep the story-similarity threshold over tests/data/stories.json.

Run from the repository root:  .venv/bin/python -m tests.bench.dedup_threshold

Prints, per threshold, the pairwise precision and recall of the online clustering (the same
procedure as tests/test_clustering.py), then the score gap: the lowest similarity between two
copies of one story and the highest between two different stories.
"""

from __future__ import annotations

import itertools

from tests.test_clustering import cluster, load_items, score
from watcher.dedup import DEFAULT_THRESHOLD, similarity, story_signature


def main() -> None:
    items = load_items()
    stories = len({i["story"] for i in items})
    print(f"{len(items)} items, {stories} stories; default threshold {DEFAULT_THRESHOLD}")
    print(f"{'threshold':>9}  {'precision':>9}  {'recall':>6}  {'false merges':>12}  "
          f"{'missed':>6}")
    for step in range(5, 100, 5):
        threshold = step / 100
        result = score(items, cluster(items, threshold))
        mark = "  <- default" if threshold == DEFAULT_THRESHOLD else ""
        print(f"{threshold:9.2f}  {result.precision:9.3f}  {result.recall:6.3f}  "
              f"{len(result.false_merges):12d}  {len(result.missed):6d}{mark}")

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


if __name__ == "__main__":
    main()
