"""The remaining commands end to end: explain, backtest, check --online, test-alert, hits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.servers.feeds import FeedServer, render_feed
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.configs import (
    console_channel,
    email_channel,
    profile,
    slack_channel,
    write_config,
)
from tests.support.runner import Watcher

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

TOKEN = "xoxb-test-token"
ITEMS = [
    {"guid": "1", "title": "Turkey activates S400 batteries near Ankara",
     "link": "https://n.example/1", "summary": "The Triumf systems were switched on."},
    {"guid": "2", "title": "Roast turkey recipes for the holidays", "link": "https://n.example/2",
     "summary": "Brine it overnight."},
    {"guid": "3", "title": "KAAN fighter to get a domestic engine by 2030",
     "link": "https://n.example/3", "summary": "TEI leads the TF6000 work."},
]


@pytest.fixture
def watcher(any_store_watcher: Watcher) -> Watcher:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store_watcher


def config(watcher: Watcher, feeds: list[str], slack: SlackServer | None = None,
           smtp: SmtpServer | None = None) -> None:
    channels = [console_channel()]
    if slack:
        channels.append(slack_channel(slack, "#a"))
    if smtp:
        channels.append(email_channel(smtp))
    write_config(watcher, aliases={"s400": ["S-400", "Triumf", "SA-21"]}, feeds=feeds,
                 profiles=[profile("S-400", "@s400 AND (Turkey OR Ankara)"),
                           profile("KAAN engine", "KAAN AND engine")], channels=channels)


def test_explain_a_local_file_shows_matches_and_terms(watcher: Watcher) -> None:
    body, _ = render_feed(items=ITEMS, title="Local", kind="rss", link="https://n.example/")
    path = watcher.tmp / "feed.xml"
    path.write_bytes(body)
    config(watcher, [])
    run = watcher("explain", "S-400", str(path), check=True)
    assert "1 of 3 item(s) match" in run.out
    assert "MATCH Turkey activates S400" in run.out
    data = json.loads(watcher("explain", "S-400", str(path), "--json", check=True).out)
    [hit] = [i for i in data["items"] if i["matched"]]
    assert set(hit["terms"]) >= {"S-400", "Turkey"}
    assert {h["field"] for h in hit["hits"]} >= {"title"}


def test_explain_a_url_and_an_unknown_profile(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", ITEMS)
    config(watcher, [url])
    data = json.loads(watcher("explain", "KAAN engine", url, "--json", check=True).out)
    assert [i["title"] for i in data["items"] if i["matched"]] == [ITEMS[2]["title"]]
    run = watcher("explain", "Nope", url)
    assert run.code == 2 and "no profile 'Nope'" in run.err


def test_backtest_runs_a_profile_or_an_inline_query_over_stored_items(
        watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", [{**i, "published": datetime.now(UTC)} for i in ITEMS])
    config(watcher, [url])
    watcher("poll", check=True)
    run = watcher("backtest", "S-400", "--since", "1d", check=True)
    assert "1 of 3 stored item(s) would alert" in run.out
    data = json.loads(watcher("backtest", "turkey -recipes", "--json", check=True).out)
    assert data["would_alert"] == 1 and data["profile"] == "(inline query)"
    bad = watcher("backtest", "(turkey OR")
    assert bad.code == 2 and "^" in bad.err


def test_check_online_tries_feeds_and_channels(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        smtp_server: SmtpServer) -> None:
    good = feed_server.add_feed("/good", ITEMS)
    config(watcher, [good], slack_server, smtp_server)
    run = watcher("check", "--online", check=True)
    assert "3 items" in run.out and "channel slack: OK" in run.out
    assert "channel mail: OK" in run.out
    assert any(r.path.endswith("auth.test") for r in slack_server.requests)

    broken = feed_server.url("/missing")
    config(watcher, [good, broken], slack_server)
    run = watcher("check", "--online")
    assert run.code == 1 and "404" in run.out


def test_test_alert_reaches_the_channel_and_unknown_channel_is_usage_error(
        watcher: Watcher, slack_server: SlackServer) -> None:
    config(watcher, [], slack_server)
    watcher("test-alert", "slack", check=True)
    [message] = slack_server.wait_for(1)
    assert "test" in message["text"].lower()
    run = watcher("test-alert", "nowhere")
    assert run.code == 2 and "nowhere" in run.err


def test_hits_filters_by_profile_and_period(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f", [{**i, "published": datetime.now(UTC)} for i in ITEMS])
    config(watcher, [url])
    watcher("poll", check=True)
    everything = json.loads(watcher("hits", "--json", check=True).out)
    assert len(everything) == 2
    only = json.loads(watcher("hits", "--profile", "KAAN engine", "--json", check=True).out)
    assert [h["title"] for h in only] == [ITEMS[2]["title"]]
    assert "no alerts" in watcher("hits", "--since", "0s", check=True).out
    assert watcher("hits", "--since", "yesterday").code == 2
