"""How many of a first poll's article pages come back within the fetch timeout.

    .venv/bin/python -m tests.bench.article_cold --feeds 200 --timeout 5s 30s

The polling benchmark's `watcher-article` workload (tests/bench/polling.py: teaser feeds
on a local nginx, each new item's page served there) with the default config and
`article = "auto"`, but one cold round only, once per `--timeout` (the [watcher] fetch
timeout, which bounds each page from the moment its feed asks for it, waiting for one of
the article slots included). On a first poll every feed's new teasers ask for their
pages at once, so a page waits behind the pages of every feed polled before it; one not
done within the timeout is recorded as "timeout" and never fetched again (README, "How
the page is fetched"). Printed per timeout: wall time, the page requests nginx saw, and
the outcomes stored.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.bench import polling, static_feeds
from tests.bench.article_pages import TeaserDesk, page_requests
from tests.bench.news import Newsroom


def cold_round(n: int, timeout: str) -> str:
    """One cold `watcher poll` over n teaser feeds with this fetch timeout: a report line."""
    newsroom = Newsroom(7, datetime.now(UTC))
    with static_feeds.StaticFeeds() as server, tempfile.TemporaryDirectory() as tmp:
        desk = TeaserDesk(newsroom, server, polling._fetchable())
        urls = polling.fill(server, n, desk.item)
        state, cfg = Path(tmp) / "state.db", Path(tmp) / "watcher.toml"
        config = polling.default_config(urls, state, "auto")
        cfg.write_text(config.replace("[watcher]\n", f'[watcher]\ntimeout = "{timeout}"\n', 1),
                       encoding="utf-8")
        m = polling.measure([polling.PY, "-m", "watcher", "poll", "-c", str(cfg)],
                            env={**os.environ, "PYTHONPATH": str(polling.REPO), "HOME": tmp},
                            cwd=tmp)
        requests, missing = page_requests(server)
        outcomes = polling._outcomes(state, server.base_url)
    stored = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()) if k != "offsite")
    return (f"timeout {timeout}: cold round {m['wall']:.2f} s, {m['cpu']:.2f} s CPU; "
            f"{requests} page requests ({missing} for pages not served); outcomes stored: "
            f"{stored or 'none'}; off the bench's server: {outcomes['offsite']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--timeout", nargs="+", default=["5s", "30s"],
                        help="[watcher] timeout values to try (default: 5s 30s)")
    args = parser.parse_args()
    if not static_feeds.available():
        raise SystemExit(f"{static_feeds.NGINX} not found: apt-get install nginx-light")
    polling.compile_watcher()
    print(f"{args.feeds} teaser feeds x 30 items, default config, article = \"auto\"")
    for timeout in args.timeout:
        print(cold_round(args.feeds, timeout), flush=True)


if __name__ == "__main__":
    main()
