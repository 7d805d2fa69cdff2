"""End to end through the `watcher` command, with the local feed, Slack and SMTP servers."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.configs import (
    console_channel,
    email_channel,
    profile,
    slack_channel,
    write_config,
)
from tests.support.runner import REPO, Watcher

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

DEFAULT = tomllib.loads((REPO / "config" / "watcher.toml").read_text(encoding="utf-8"))

# The seed story (../shared/seed-article.txt), retold in our own words.
SEED = {
    "title": "Turkey weighs second S-400 batch, seeks Russian help for TF-X fighter engine",
    "summary": (
        "Ankara signals deeper defence-industry ties with Moscow despite U.S. sanctions: talks on "
        "a second batch of S-400 air defence systems are under way, Russian know-how may supply "
        "the engine for Turkey's TF-X fighter, and cooperation could extend to building ships "
        "and submarines as Turkey's German-licensed submarine programme lags behind schedule."),
    "link": "https://news.example.org/2021/10/turkey-russia-s400-engine-submarines",
    "guid": "seed-1",
}
SEED_PROFILES = {"S-400", "TF-X engine", "Turkey submarines"}


@pytest.fixture
def watcher(any_store_watcher: Watcher) -> Watcher:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store_watcher


def now() -> datetime:
    return datetime.now(UTC)


def seed_config(watcher: Watcher, feeds: list[str], *, slack: SlackServer | None = None,
                smtp: SmtpServer | None = None, extra: str = "") -> Path:
    """A config with the default config's aliases and seed profiles, pointed at local servers."""
    channels = [console_channel()]
    if slack:
        channels.append(slack_channel(slack, "#defense-alerts"))
    if smtp:
        channels.append(email_channel(smtp, ["analyst@example.org"],
                                      sender="watcher@example.org"))
    return write_config(watcher, interval="1s", timezone="Europe/Istanbul",
                        aliases=DEFAULT["aliases"], feeds=feeds,
                        profiles=[profile(p["name"], p["query"]) for p in DEFAULT["profiles"]],
                        channels=channels, extra=extra)


def test_seed_story_alerts_once_per_channel_naming_every_seed_profile(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        smtp_server: SmtpServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], slack=slack_server, smtp=smtp_server)

    run = watcher("poll", check=True)

    assert len(slack_server.messages) == 1
    text = slack_server.messages[0]["text"]
    for name in SEED_PROFILES:
        assert name in text
    assert len(smtp_server.wait_for(1)) == 1
    assert run.out.count("S-400") >= 1 and "TF-X engine" in run.out


def test_second_poll_sends_nothing_and_a_new_item_sends_exactly_one(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], slack=slack_server)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1

    watcher("poll", check=True)
    assert len(slack_server.messages) == 1

    feed_server.add_item("/defense", {
        "title": "Russia says second S-400 delivery to Turkey could start next year",
        "summary": "Moscow is ready to ship more Triumf systems to Ankara, an official said.",
        "link": "https://news.example.org/2021/11/s400-delivery", "guid": "seed-2",
        "published": now()})
    watcher("poll", check=True)
    assert len(slack_server.messages) == 2
    assert "second S-400 delivery" in slack_server.messages[1]["text"]


def test_same_story_with_tracking_parameters_is_not_alerted_again(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    other = feed_server.add_feed("/wire", [])
    seed_config(watcher, [url, other], slack=slack_server)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1

    feed_server.add_item("/wire", {**SEED, "guid": "wire-77", "published": now(),
                                   "link": SEED["link"] + "?utm_source=twitter&utm_medium=social"})
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_first_sight_of_a_feed_records_old_items_silently(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    old = now() - timedelta(days=3)
    url = feed_server.add_feed("/defense", [{**SEED, "published": old}])
    seed_config(watcher, [url], slack=slack_server)
    watcher("poll", check=True)
    assert slack_server.messages == []

    feed_server.add_item("/defense", {
        "title": "Turkey's S-400 batteries deployed near Ankara", "link": "https://n.example/2",
        "summary": "The S-400 systems were seen at Murted air base.", "published": now()})
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_dry_run_prints_alerts_and_changes_no_state(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], slack=slack_server)

    run = watcher("poll", "--dry-run", check=True)
    assert "would be sent" in run.out and SEED["title"] in run.out
    assert slack_server.messages == []

    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_invalid_config_exits_2_with_one_line_per_problem(watcher: Watcher) -> None:
    watcher.write("""
        [watcher]
        interval = "soon"
        colour = "red"

        [[feeds]]
        url = "ftp://example.org/feed"

        [[profiles]]
        name = "broken"
        query = '(S-400 OR'
        channels = ["nowhere"]
        """)
    run = watcher("check")
    assert run.code == 2
    assert "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert any("watcher.interval" in line and "soon" in line for line in lines)
    assert any("watcher.colour" in line and "unknown key" in line for line in lines)
    assert any("feeds[0].url" in line for line in lines)
    assert all(str(watcher.config) in line for line in lines)


def test_bad_query_is_reported_with_a_caret(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", [])
    watcher.write(f"""
        [[feeds]]
        url = "{url}"
        [[profiles]]
        name = "broken"
        query = '(S-400 OR'
        [[profiles]]
        name = "also broken"
        query = 'Turkey AND AND submarine'
        [channels.console]
        type = "console"
        """)
    run = watcher("check")
    assert run.code == 2
    assert "broken" in run.err and "also broken" in run.err
    assert "^" in run.err


def test_missing_environment_variable_is_named(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", [])
    watcher.write(f"""
        [[feeds]]
        url = "{url}"
        [channels.slack]
        type = "slack"
        channel = "#x"
        token = "${{WATCHER_TEST_NO_SUCH_TOKEN}}"
        """)
    run = watcher("check")
    assert run.code == 2
    assert "WATCHER_TEST_NO_SUCH_TOKEN" in run.err and "channels.slack" in run.err


def test_slack_500_then_recovery_delivers_exactly_once(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], slack=slack_server)
    slack_server.fail_next(2, status=500)

    watcher("poll", check=True)

    assert len(slack_server.messages) == 1
    posts = [r for r in slack_server.requests if r.path.endswith("chat.postMessage")]
    assert len(posts) == 3
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_smtp_down_then_up_delivers_the_email_once(
        watcher: Watcher, feed_server: FeedServer, smtp_server: SmtpServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], smtp=smtp_server)
    smtp_server.stop()

    watcher("poll", check=True)
    status = watcher("status", "--json", check=True)
    mail = [c for c in json.loads(status.out)["channels"] if c["channel"] == "mail"]
    assert mail[0]["pending"] == 1

    smtp_server.start()
    watcher("poll", check=True)
    received = smtp_server.wait_for(1)
    assert len(received) == 1
    assert received[0].message["Subject"].startswith("[watcher] ")
    watcher("poll", check=True)
    assert len(smtp_server.received) == 1


def test_status_and_hits_show_what_happened(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/defense", [{**SEED, "published": now()}])
    seed_config(watcher, [url], slack=slack_server)
    watcher("poll", check=True)

    status = json.loads(watcher("status", "--json", check=True).out)
    assert status["feeds"][0]["url"] == url and status["feeds"][0]["errors_in_a_row"] == 0
    hits = json.loads(watcher("hits", "--json", check=True).out)
    assert {h["channel"] for h in hits} == {"console", "slack"}
    assert all(set(h["profiles"]) == SEED_PROFILES for h in hits)
    assert "FEED" in watcher("status", check=True).out
