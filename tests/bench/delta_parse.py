"""The delta parse's cost against the whole parse, on the real corpus (a script, not a test).

Run from the repository root:  .venv/bin/python tests/bench/delta_parse.py [repeat]

For each of the corpus's real feeds (../shared/feeds/real), the CPU time
(time.process_time, best of `repeat` runs, default 5) of parsing every document whole,
and of parsing it with every item but the first known (a feed that gained one item: what
a changed document costs at a poll), and how many feeds kept item digests (the others are
parsed whole every time).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from watcher.errors import ParseError  # noqa: E402
from watcher.parse import install_feedparser_patches, parse_feed  # noqa: E402

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "feeds" / "real"
URL = "https://feeds.example.org/feed.xml"


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    install_feedparser_patches()
    docs, known = [], []
    for path in sorted(CORPUS.iterdir()):
        body = path.read_bytes()
        try:
            digests = parse_feed(body, headers={}, url=URL).item_digests
        except ParseError:
            continue
        docs.append(body)
        known.append(frozenset(digests[1:]))

    def run(delta: bool) -> float:
        started = time.process_time()
        for body, k in zip(docs, known, strict=True):
            parse_feed(body, headers={}, url=URL, known_items=k if delta else frozenset())
        return time.process_time() - started

    whole = min(run(False) for _ in range(repeat))
    delta = min(run(True) for _ in range(repeat))
    kept = sum(1 for k in known if k)
    print(f"{len(docs)} real feeds: whole parse {whole:.2f} s of CPU; one new item each "
          f"{delta:.2f} s ({delta / len(docs) * 1000:.1f} ms a feed); "
          f"{kept} of {len(docs)} keep item digests")


if __name__ == "__main__":
    main()
