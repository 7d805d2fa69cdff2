"""Several daemons on one PostgreSQL store: shared feeds, each alert once, failover.

Real parts only: a throwaway PostgreSQL server (tests/servers/postgres.py), the local
feed server counting requests per feed, the local Slack API server, and `watcher run`
processes killed with SIGKILL through the crash points of watcher/faults.py.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.postgres import pg_database, pg_server  # noqa: F401
from tests.servers.slack import SlackServer
from tests.support.configs import profile, slack_channel, write_config
from tests.support.runner import Daemon, Watcher
from tests.support.waiting import DEADLINE, wait_until

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

FEEDS = 200
MATCHING = 50
CHANNELS = 5
WORDS = ("anchor beacon cobalt delta ember falcon garnet harbor indigo jasper kelvin lumen "
         "meteor nickel onyx pylon quartz raven sierra tundra umber vortex willow xenon yonder "
         "zenith amber basalt cinder dune").split()


def story(n: int) -> dict[str, object]:
    """The n-th matching item: profile n % CHANNELS, words distinct enough to be its own story."""
    rng = random.Random(n)
    words = " ".join(rng.sample(WORDS, 12))
    return {"guid": f"m{n}", "title": f"Zephyr{n % CHANNELS} report {n}: {words[:40]}",
            "link": f"https://news.example/{n}", "summary": f"{words} ({n})",
            "published": datetime.now(UTC)}


def filler(n: int) -> dict[str, object]:
    return {"guid": f"f{n}", "title": f"Weather note {n}", "link": f"https://other.example/{n}",
            "summary": "Nothing to see.", "published": datetime.now(UTC)}


def setup(watcher: Watcher, feeds: FeedServer, slack: SlackServer, dsn: str) -> list[str]:
    paths = [f"/feed/{i}" for i in range(FEEDS)]
    for i, path in enumerate(paths):
        feeds.add_feed(path, [story(i)] if i < MATCHING else [filler(i)])
    write_config(watcher, state=dsn, interval="1h", timeout="2s", lease="5s", parse_workers=1,
                 feeds=[feeds.url(p) for p in paths],
                 profiles=[profile(f"Zephyr{k}", f"zephyr{k}", channels=[f"c{k}"])
                           for k in range(CHANNELS)],
                 channels=[slack_channel(slack, f"#c{k}", name=f"c{k}", flood_threshold=100)
                           for k in range(CHANNELS)])
    return paths


def all_polled(watcher: Watcher) -> bool:
    run = watcher("status", "--json")
    return run.code == 0 and all(f["last_poll"] for f in json.loads(run.out)["feeds"])


def titles(slack: SlackServer) -> Counter[str]:
    return Counter(str(m["text"]).split(":", 1)[0] + ":" + str(m["text"]).split("report ")[1]
                   .split(":")[0] for m in slack.messages)


def test_three_daemons_poll_each_feed_once_and_alert_each_item_once(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        pg_database: str, daemons: list[Daemon]) -> None:  # noqa: F811
    paths = setup(watcher, feed_server, slack_server, pg_database)
    for _ in range(3):
        daemons.append(Daemon(watcher))
    slack_server.wait_for(MATCHING)
    wait_until(lambda: all_polled(watcher), what="every feed polled")

    assert len(slack_server.messages) == MATCHING
    assert len(titles(slack_server)) == MATCHING
    assert [feed_server.hits(p) for p in paths] == [1] * FEEDS
    status = json.loads(watcher("status", "--json", check=True).out)
    assert len(status["daemons"]) == 3
    assert all(d["last_heartbeat"] for d in status["daemons"])


def test_a_daemon_killed_mid_round_loses_its_feeds_to_the_others(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        pg_database: str, daemons: list[Daemon]) -> None:  # noqa: F811
    setup(watcher, feed_server, slack_server, pg_database)
    # Slack answers 503 while the victim lives: it records and queues alerts but cannot
    # deliver one, so its death can't fall in the at-least-once window (Slack accepted a
    # message, the row not yet marked sent), which the next test covers on its own.
    slack_server.set_down(True)
    victim = Daemon(watcher, env={"WATCHER_CRASH_AT": "after_fetch:20"})
    daemons.append(victim)
    assert victim.proc.wait(DEADLINE) == -9  # SIGKILL, holding leases on feeds it had claimed
    slack_server.set_down(False)
    for _ in range(2):
        daemons.append(Daemon(watcher))
    slack_server.wait_for(MATCHING)
    wait_until(lambda: all_polled(watcher), what="every feed polled")
    assert len(slack_server.messages) == MATCHING
    assert len(titles(slack_server)) == MATCHING


def test_a_daemon_killed_after_slack_accepted_a_message_repeats_at_most_that_one(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        pg_database: str, daemons: list[Daemon]) -> None:  # noqa: F811
    """The one at-least-once window: Slack took the message, the row is not marked sent
    yet, the daemon dies. Another daemon resends it once the alert's lease expires."""
    setup(watcher, feed_server, slack_server, pg_database)
    victim = Daemon(watcher, env={"WATCHER_CRASH_AT": "after_send"})
    daemons.append(victim)
    assert victim.proc.wait(DEADLINE) == -9
    assert len(slack_server.messages) == 1
    daemons.append(Daemon(watcher))
    slack_server.wait_for(MATCHING + 1)
    counts = titles(slack_server)
    assert len(counts) == MATCHING
    assert sorted(counts.values())[-1] == 2 and sum(counts.values()) == MATCHING + 1
    wait_until(lambda: all_polled(watcher), what="every feed polled")
    assert len(slack_server.messages) == MATCHING + 1


@pytest.fixture(autouse=True)
def _quiet_pg_server(pg_server: object) -> None:  # noqa: F811
    """Start the shared PostgreSQL server before the test's own timers run."""
