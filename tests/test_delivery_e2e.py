"""Delivery under Slack and SMTP failures, flood control, digests and quiet hours, end to end."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.configs import email_channel, profile, slack_channel, write_config
from tests.support.runner import Daemon, Watcher
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

TZ = "Europe/Istanbul"


@pytest.fixture
def watcher(any_store_watcher: Watcher) -> Watcher:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store_watcher


def now() -> datetime:
    return datetime.now(UTC)


PLACES = ["Golcuk", "Istanbul", "Kiel", "Izmir", "Aksaz", "Ankara", "Mersin", "Samsun", "Trabzon",
          "Bodrum", "Antalya", "Canakkale", "Sinop", "Bartin", "Ordu", "Rize", "Kocaeli", "Tuzla",
          "Yalova", "Edirne", "Bursa", "Konya"]
SUBJECTS = ["sea trials", "crew training", "battery contract", "sonar upgrade", "budget vote",
            "delivery delay", "torpedo test", "dock repairs", "export talks", "design review",
            "shipyard strike", "hull welding", "periscope order", "diesel engines", "simulator",
            "air-independent propulsion", "launch ceremony", "cable tender", "mast supplier",
            "port visit", "exercise", "audit"]


VOCAB = ("admiral budget cable crew delay dock engine export frigate grant harbour inquiry "
         "journal keel lease minister navy order pier quota radar steel tender union vessel "
         "welder yard zone anchor bolt cargo diver ferry gauge hangar ingot jetty kit lathe"
         ).split()


def title_of(n: int) -> str:
    return f"{PLACES[n % len(PLACES)]} submarine {SUBJECTS[(n * 7) % len(SUBJECTS)]}"


def item(n: int, title: str | None = None, summary: str = "") -> dict[str, object]:
    """A distinct submarine story: no two share enough words to look syndicated."""
    place, subject = PLACES[n % len(PLACES)], SUBJECTS[(n * 7) % len(SUBJECTS)]
    words = " ".join(VOCAB[(n * 13 + k * (n + 3)) % len(VOCAB)] for k in range(10))
    return {"guid": f"g{n}", "title": title or title_of(n),
            "link": f"https://n.example/{n}",
            "summary": summary or f"{place} {subject}: {words} {n * 7919}.",
            "published": now()}


TO = ["analyst@example.org", "desk@example.org"]


def desk_mail(smtp: SmtpServer) -> str:
    return email_channel(smtp, TO, sender="watcher@example.org")


def write(watcher: Watcher, feed: str, channels: str, profiles: str = "") -> None:
    write_config(watcher, interval="1s", timezone=TZ, feeds=[feed],
                 profiles=[profile("Submarines", "submarine OR submarines"), profiles],
                 channels=[channels])


def test_rate_limited_alerts_arrive_once_and_not_before_retry_after(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    feed = feed_server.add_feed("/f", [item(1), item(2)])
    write(watcher, feed, slack_channel(slack_server))
    slack_server.rate_limit_next(3, retry_after=2)

    watcher("poll", timeout=120, check=True)

    assert [m["text"] for m in slack_server.messages].count(
        slack_server.messages[0]["text"]) == 1
    assert len(slack_server.messages) == 2
    posts = [r for r in slack_server.requests if r.path.endswith("chat.postMessage")]
    assert len(posts) == 5
    for limited, following in zip(posts[:3], posts[1:4], strict=True):
        assert following.received - limited.received >= 2.0


def test_slack_down_for_a_while_loses_nothing(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        daemons: list[Daemon]) -> None:
    feed = feed_server.add_feed("/f", [item(1)])
    write(watcher, feed, slack_channel(slack_server))
    slack_server.set_down(True)
    daemons.append(Daemon(watcher))
    wait_until(lambda: len(slack_server.requests) >= 3, what="three refused posts")
    assert slack_server.messages == []
    slack_server.set_down(False)
    slack_server.wait_for(1)
    feed_server.add_item("/f", item(2))
    slack_server.wait_for(2)
    assert len({m["text"] for m in slack_server.messages}) == 2


def test_channel_not_found_blocks_quietly_until_fixed_and_reloaded(
        watcher: Watcher, feed_server: FeedServer, daemons: list[Daemon]) -> None:
    with SlackServer(channels={"#alerts"}) as slack:
        feed = feed_server.add_feed("/f", [item(1)])
        write(watcher, feed, slack_channel(slack, "#wrong"))
        daemon = Daemon(watcher)
        daemons.append(daemon)
        line = daemon.wait_for_log("ERROR channel slack:")
        assert "channel_not_found" in line
        status = json.loads(watcher("status", "--json", check=True).out)
        [row] = [c for c in status["channels"] if c["channel"] == "slack"]
        assert row["pending"] == 1 and "channel_not_found" in row["error"]

        # the daemon keeps working (a new item is recorded) without retrying the channel
        feed_server.add_item("/f", item(2))
        wait_until(lambda: json.loads(watcher("status", "--json").out)["channels"][0]["pending"]
                   == 2)
        posts = [r for r in slack.requests if r.path.endswith("chat.postMessage")]
        assert len(posts) == 1
        assert sum("ERROR channel slack:" in line for line in daemon.lines) == 1

        write(watcher, feed, slack_channel(slack, "#alerts"))
        daemon.signal(signal.SIGHUP)
        slack.wait_for(1)
        wait_until(lambda: len(slack.messages) >= 1)
        status = json.loads(watcher("status", "--json", check=True).out)
        assert status["channels"][0]["error"] is None


def test_twenty_hits_at_once_become_one_summary(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    feed = feed_server.add_feed("/f", [item(n) for n in range(20)])
    write(watcher, feed, slack_channel(slack_server))
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1
    text = slack_server.messages[0]["text"]
    assert "20" in text
    hits = json.loads(watcher("hits", "--json", check=True).out)
    assert len(hits) == 20 and all(h["status"] == "sent" for h in hits)


def _clock_in(seconds: float) -> str:
    return (datetime.now(ZoneInfo(TZ)) + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def test_digest_channel_sends_one_digest_at_its_time(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        daemons: list[Daemon]) -> None:
    feed = feed_server.add_feed("/f", [item(1), item(2), item(3)])
    write(watcher, feed, slack_channel(slack_server))
    watcher("poll", check=True)  # three instant alerts on the slack channel
    assert len(slack_server.messages) == 3
    feed_server.add_item("/f", item(4))
    feed_server.add_item("/f", item(5))
    write(watcher, feed, slack_channel(
        slack_server, extra=f'mode = "digest"\ndigest = ["{_clock_in(3 * 3600)}"]'))
    watcher("poll", check=True)  # 4 and 5 wait for the digest
    assert len(slack_server.messages) == 3
    slot = _clock_in(12)
    write(watcher, feed, slack_channel(slack_server, extra=f'mode = "digest"\ndigest = ["{slot}"]'))
    daemon = Daemon(watcher)
    daemons.append(daemon)
    daemon.wait_for_log("watcher running")
    on_time = datetime.now(ZoneInfo(TZ)).strftime("%H:%M:%S") < slot
    messages = slack_server.wait_for(4)
    assert len(messages) == 4
    digest = json.dumps(messages[3])
    assert title_of(4) in digest and title_of(5) in digest
    assert title_of(1) not in digest
    if on_time:   # up before the slot: sent by the slot's job (late, it is sent as missed)
        assert not any("missed while watcher was down" in line for line in daemon.lines)
    status = json.loads(watcher("status", "--json", check=True).out)
    assert status["channels"][0]["pending"] == 0


def test_digest_missed_while_down_is_sent_on_start(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        daemons: list[Daemon]) -> None:
    feed = feed_server.add_feed("/f", [item(1), item(2)])
    later = _clock_in(3 * 3600)
    write(watcher, feed,
          slack_channel(slack_server, extra=f'mode = "digest"\ndigest = ["{later}"]'))
    watcher("poll", check=True)  # a digest channel: poll queues, sends nothing
    assert slack_server.messages == []
    # a digest time that passed after the alerts were queued, while no daemon ran
    slot = _clock_in(1)
    write(watcher, feed, slack_channel(slack_server, extra=f'mode = "digest"\ndigest = ["{slot}"]'))
    wait_until(lambda: datetime.now(ZoneInfo(TZ)).strftime("%H:%M:%S") > slot, what="the slot")
    daemons.append(Daemon(watcher))
    [digest] = slack_server.wait_for(1)
    assert title_of(1) in json.dumps(digest) and title_of(2) in json.dumps(digest)


def test_quiet_hours_hold_alerts_except_urgent_profiles(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    local = datetime.now(ZoneInfo(TZ))
    window = f"{(local - timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=1)):%H:%M}"
    feed = feed_server.add_feed("/f", [item(1), item(2, "Erdogan approves S-400 activation")])
    write(watcher, feed, slack_channel(slack_server, extra=f'quiet = "{window}"'),
          profiles='[[profiles]]\nname = "S-400"\nquery = "S-400"\npriority = "urgent"\n')
    watcher("poll", check=True)
    assert len(slack_server.messages) == 1
    assert "S-400" in slack_server.messages[0]["text"]
    status = json.loads(watcher("status", "--json", check=True).out)
    assert status["channels"][0]["pending"] == 1


def test_smtp_down_with_three_pending_then_up_sends_three_emails_once(
        watcher: Watcher, feed_server: FeedServer, smtp_server: SmtpServer) -> None:
    feed = feed_server.add_feed("/f", [item(1), item(2), item(3)])
    write(watcher, feed, desk_mail(smtp_server))
    smtp_server.stop()
    watcher("poll", check=True)
    smtp_server.start()
    watcher("poll", check=True)
    received = smtp_server.wait_for(3)
    assert len(received) == 3
    assert len({r.message["Message-ID"] for r in received}) == 3
    assert sorted(received[0].rcpt_tos) == ["analyst@example.org", "desk@example.org"]
    watcher("poll", check=True)
    assert len(smtp_server.received) == 3


def test_hostile_titles_arrive_harmless(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer,
        smtp_server: SmtpServer) -> None:
    feed = feed_server.add_feed("/f", [
        item(1, "<!channel> submarine <@U123> <http://evil.example|click here>"),
        item(2, "Submarine news\r\nBcc: x@evil.example\r\nSubject: pwned")])
    write(watcher, feed, slack_channel(slack_server) + desk_mail(smtp_server))
    watcher("poll", check=True)
    payloads = json.dumps([m for m in slack_server.messages])
    assert "<!channel>" not in payloads and "<@U123>" not in payloads
    assert "<http://evil.example|" not in payloads
    assert "&lt;@U123&gt;" in payloads  # reached Slack as text, escaped
    received = smtp_server.wait_for(2)
    for mail in received:
        assert "x@evil.example" not in mail.rcpt_tos
        assert mail.message["Bcc"] is None
        assert "pwned" not in (mail.message["Subject"] or "") or "\n" not in mail.message["Subject"]
