"""One story, one alert: syndicated copies, re-posts, edits and restarts, end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.configs import profile, slack_channel, write_config
from tests.support.runner import Watcher

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

WIRE = ("Turkey is ready to buy a second batch of Russian S-400 air defence systems despite the "
        "threat of further U.S. sanctions, President Recep Tayyip Erdogan said on Sunday, adding "
        "that no country could dictate what weapons Ankara buys.")


@pytest.fixture
def watcher(any_store_watcher: Watcher) -> Watcher:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store_watcher


def now() -> datetime:
    return datetime.now(UTC)


def config(watcher: Watcher, feeds: list[str], slack: SlackServer, *,
           on_update: str = "ignore") -> None:
    write_config(watcher, interval="1s", feeds=feeds, profiles=[
        profile("S-400", "(S-400 OR Triumf) AND (Turkey OR Turkish OR Ankara)"),
        profile("Turkey", "Erdogan AND sanctions"),
        profile("Submarines", "submarine OR submarines"),
    ], channels=[slack_channel(slack, on_update=on_update)])


def story(guid: str, title: str, link: str, summary: str = WIRE) -> dict[str, object]:
    return {"guid": guid, "title": title, "link": link, "summary": summary, "published": now()}


def test_three_outlets_one_story_is_one_alert_and_two_thread_replies(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    a = feed_server.add_feed("/a", [story("a1", "Erdogan says Turkey may buy more Russian S-400s",
                                          "https://a.example/world/erdogan-s400")])
    b = feed_server.add_feed("/b", [])
    c = feed_server.add_feed("/c", [])
    config(watcher, [a, b, c], slack_server)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1
    first_ts = slack_server.messages[0]["ts"]

    feed_server.add_item("/b", story("b9", "Turkey could buy second S-400 batch, Erdogan says",
                                     "https://b.example/news/2024/turkey-s400-batch",
                                     "ANKARA (Reuters) - " + WIRE))
    feed_server.add_item("/c", story("c3", "Erdogan: Turkey ready for more Russian S-400 systems",
                                     "https://c.example/a/12345", WIRE[:160]))
    watcher("poll", check=True)

    messages = slack_server.messages
    assert len(messages) == 3
    replies = messages[1:]
    assert all(m.get("thread_ts") == first_ts for m in replies)
    assert all("also reported by" in m["text"] for m in replies)

    watcher("poll", check=True)  # a fresh process: nothing is alerted again
    assert len(slack_server.messages) == 3


def test_reposted_with_tracking_new_id_or_new_link_gives_nothing(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    link = "https://a.example/world/erdogan-s400"
    a = feed_server.add_feed("/a", [story("a1", "Erdogan says Turkey may buy more S-400s", link)])
    config(watcher, [a], slack_server)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1

    # the publisher regenerates the id, adds tracking, and later re-links the same text
    feed_server.add_item("/a", story("a1-regenerated", "Erdogan says Turkey may buy more S-400s",
                                     link + "?utm_source=twitter&utm_medium=social#top"))
    feed_server.add_item("/a", story("a1-again", "Erdogan says Turkey may buy more S-400s",
                                     "https://a.example/amp/world/erdogan-s400-2"))
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_title_edit_is_silent_by_default(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    link = "https://a.example/world/erdogan-s400"
    a = feed_server.add_feed("/a", [story("a1", "Erdogan says Turkey may buy more S-400s", link)])
    config(watcher, [a], slack_server)
    watcher("poll", check=True)
    feed_server.add_feed("/a", [story("a1", "UPDATED: Erdogan says Turkey will buy more S-400s",
                                      link)])
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1


def test_title_edit_is_a_thread_reply_with_on_update_thread(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    link = "https://a.example/world/erdogan-s400"
    a = feed_server.add_feed("/a", [story("a1", "Erdogan says Turkey may buy more S-400s", link)])
    config(watcher, [a], slack_server, on_update="thread")
    watcher("poll", check=True)
    feed_server.add_feed("/a", [story("a1", "UPDATED: Erdogan says Turkey will buy more S-400s",
                                      link)])
    watcher("poll", check=True)
    messages = slack_server.messages
    assert len(messages) == 2
    assert messages[1]["thread_ts"] == messages[0]["ts"]
    assert "will buy more S" in messages[1]["text"]
    watcher("poll", check=True)
    assert len(slack_server.messages) == 2


def test_edit_that_newly_matches_is_alerted_once_as_an_update(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    link = "https://a.example/world/navy"
    a = feed_server.add_feed("/a", [story("n1", "Navy chief visits shipyard", link,
                                          "The admiral toured the Golcuk yard on Monday.")])
    config(watcher, [a], slack_server)
    watcher("poll", check=True)
    assert slack_server.messages == []

    feed_server.add_feed("/a", [story("n1", "Navy chief visits submarine shipyard", link,
                                      "The admiral toured the Golcuk yard on Monday.")])
    watcher("poll", check=True)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1
    assert "update" in slack_server.messages[0]["text"].lower()
    assert "Submarines" in slack_server.messages[0]["text"]


def test_two_different_stories_sharing_keywords_give_two_alerts(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    a = feed_server.add_feed("/a", [story(
        "s1", "Turkey's S-400 batteries to be activated in April, Ankara says",
        "https://a.example/s400-activation",
        "Turkey will switch on the Russian-made S-400 air defence systems it received last year "
        "in April, a defence ministry official in Ankara said on Tuesday.")])
    b = feed_server.add_feed("/b", [story(
        "s2", "US warns Turkey of sanctions over S-400 purchase",
        "https://b.example/us-warns-turkey-s400",
        "Washington warned Ankara on Tuesday that keeping the Russian-made S-400 air defence "
        "systems would trigger sanctions under the CAATSA law, a State Department official said.")])
    config(watcher, [a, b], slack_server)
    watcher("poll", check=True)
    assert len(slack_server.messages) == 2
    assert all(not m.get("thread_ts") for m in slack_server.messages)


def test_copies_on_a_channel_without_threads_wait_for_its_next_summary(
        watcher: Watcher, feed_server: FeedServer, smtp_server: SmtpServer) -> None:
    a = feed_server.add_feed("/a", [story("a1", "Erdogan says Turkey may buy more Russian S-400s",
                                          "https://a.example/world/erdogan-s400")])
    b = feed_server.add_feed("/b", [])
    watcher.write(f"""
[watcher]
state = "{watcher.state}"
flood_threshold = 2
[[feeds]]
url = "{a}"
[[feeds]]
url = "{b}"
[[profiles]]
name = "S-400"
query = 'S-400 OR S-400s OR Erdogan'
[channels.mail]
type = "email"
to = ["desk@example.org"]
from = "watcher@example.org"
smtp_host = "{smtp_server.host}"
smtp_port = {smtp_server.port}
security = "none"
""")
    watcher("poll", check=True)
    assert len(smtp_server.wait_for(1)) == 1

    feed_server.add_item("/b", story("b9", "Turkey could buy second S-400 batch, Erdogan says",
                                     "https://b.example/news/2024/turkey-s400-batch",
                                     "ANKARA (Reuters) - " + WIRE))
    watcher("poll", check=True)
    assert len(smtp_server.received) == 1  # the copy is not a new alert
    [row] = json.loads(watcher("status", "--json", check=True).out)["channels"]
    assert (row["pending"], row["held"]) == (0, 1)

    burst = [("Erdogan opens a bridge over the Dardanelles", "Traffic crossed the strait "
              "on a new suspension span near Canakkale on Friday."),
             ("Erdogan meets farmers about hazelnut prices", "Growers from the Black Sea coast "
              "asked for support after a poor harvest and low export demand."),
             ("Erdogan hosts a football team at the palace", "The national squad was "
              "congratulated after reaching the tournament's quarter-finals.")]
    for n, (title, summary) in enumerate(burst):  # a burst: one summary, with the held copy
        feed_server.add_item("/a", story(f"x{n}", title, f"https://a.example/x/{n}", summary))
    watcher("poll", check=True)
    received = smtp_server.wait_for(2)
    assert len(received) == 2
    plain = received[1].message.get_body(("plain",))
    assert plain is not None
    summary = plain.get_content()
    assert "Turkey could buy second S-400 batch" in summary
    [row] = json.loads(watcher("status", "--json", check=True).out)["channels"]
    assert (row["pending"], row["held"]) == (0, 0)
