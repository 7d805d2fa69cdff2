"""The outbox worker in memory: a real SQLite store (":memory:"), a fake clock, and a
recording channel standing in for Slack or SMTP (the I/O edge), no subprocess.

Covers the README's "Alerts and delivery" rules: claims and leases, retries with back-off,
permanent errors, the flood summary, digests (and a missed one), quiet hours, thread
replies ("also reported by") and the copies held for channels without threads.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support import alerts
from tests.support.waiting import DEADLINE
from watcher.config import Config, ConsoleChannel, WatcherSettings
from watcher.deliver.outbox import Outbox
from watcher.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from watcher.models import Alert
from watcher.store import SQLiteStore

TZ = "Europe/Istanbul"
START = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo(TZ))   # a Monday, noon in Istanbul
make_alert = partial(alerts.make_alert, channel="desk")


class Clock:
    """The outbox's clock: `now` moves only when the test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, hh_mm: str, day: int = 0) -> None:
        """Move to a wall-clock time in TZ, `day` days after START's date."""
        hour, minute = (int(x) for x in hh_mm.split(":"))
        base = START.replace(hour=hour, minute=minute)
        self.now = base.timestamp() + day * 86400


@dataclass(frozen=True)
class Sent:
    kind: str                     # alert | reply | summary | digest
    titles: tuple[str, ...]
    thread: str | None = None


@dataclass
class RecordingChannel:
    """A Channel (watcher/deliver/channels.py) that records what it is asked to send and
    raises the errors it is given, one per call, before it sends again."""

    name: str = "desk"
    threads: bool = True
    min_gap: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    errors: list[DeliveryError] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event | None = None     # when set up, a send waits for it

    def _send(self, kind: str, items: Sequence[Alert], thread: str | None = None) -> str | None:
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(DEADLINE), "the test never let the send go on"
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(Sent(kind, tuple(a.title for a in items), thread))
        return f"ts-{len(self.sent)}" if self.threads else None

    def send_alert(self, alert: Alert) -> str | None:
        return self._send("alert", [alert])

    def send_reply(self, alert: Alert, thread_ts: str) -> str | None:
        return self._send("reply", [alert], thread_ts)

    def send_summary(self, alerts: Sequence[Alert]) -> str | None:
        return self._send("summary", alerts)

    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None:
        return self._send("digest", alerts)

    def check(self) -> str:
        return "recording"

    def describe(self) -> str:
        return "recording channel"


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    db = SQLiteStore(":memory:")
    yield db
    db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def config(global_flood: int = 5, **channel: Any) -> Config:
    """A config with one channel, "desk", with these options."""
    return Config(path=Path("watcher.toml"),
                  settings=WatcherSettings(timezone=TZ, flood_threshold=global_flood),
                  aliases={}, feeds=(), profiles=(),
                  channels={"desk": ConsoleChannel(type="console", **channel)})


def outbox(store: SQLiteStore, clock: Clock, channel: RecordingChannel, *,
           owner: str = "me", lease: float = 120.0, **options: Any) -> Outbox:
    return Outbox(config(**options), store, clock=clock, channels={"desk": channel},
                  rng=random.Random(7), owner=owner, lease=lease)


def queue(store: SQLiteStore, clock: Clock, title: str, *, kind: str = "new",
          story: int | None = None, urgent: bool = False) -> int:
    alert_id = store.add_alert(make_alert(title=title, kind=kind, story_id=story),
                               dedupe_key=f"{kind}:{title}", item_id=None, urgent=urgent,
                               now=clock())
    assert alert_id is not None
    return alert_id


def deliver(box: Outbox) -> int:
    return asyncio.run(box.deliver_due())


def pending_titles(store: SQLiteStore) -> list[str]:
    return [r.alert.title for r in store.pending("desk")]


# -- sending in order ------------------------------------------------------------------------

def test_pending_alerts_go_out_in_order_once(store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel)
    for title in ("a", "b", "c"):
        queue(store, clock, title)
    assert deliver(box) == 3
    assert channel.sent == [Sent("alert", ("a",)), Sent("alert", ("b",)), Sent("alert", ("c",))]
    assert pending_titles(store) == [] and store.outbox_counts() == {"desk": {"sent": 3}}
    assert deliver(box) == 0 and len(channel.sent) == 3


# -- claims ----------------------------------------------------------------------------------

def test_an_alert_claimed_by_another_daemon_waits_for_its_lease_to_run_out(
        store: SQLiteStore, clock: Clock) -> None:
    queue(store, clock, "a")
    assert len(store.claim_alerts("desk", "other", clock(), 60.0)) == 1   # then it died
    channel = RecordingChannel()
    box = outbox(store, clock, channel)
    assert deliver(box) == 0
    clock.advance(59)
    assert deliver(box) == 0 and channel.sent == []
    clock.advance(2)
    assert deliver(box) == 1 and channel.sent == [Sent("alert", ("a",))]


def test_an_alert_released_by_another_daemon_goes_out_at_once(
        store: SQLiteStore, clock: Clock) -> None:
    alert_id = queue(store, clock, "a")
    store.claim_alerts("desk", "other", clock(), 60.0)
    channel = RecordingChannel()
    box = outbox(store, clock, channel)
    assert deliver(box) == 0
    store.release_alerts([alert_id], "other")
    assert deliver(box) == 1 and channel.sent == [Sent("alert", ("a",))]


def test_while_one_outbox_is_sending_another_sends_nothing(
        store: SQLiteStore, clock: Clock) -> None:
    queue(store, clock, "a")
    first = RecordingChannel(hold=threading.Event())
    second = RecordingChannel()
    mine, theirs = outbox(store, clock, first, owner="one"), outbox(store, clock, second,
                                                                    owner="two")

    async def race() -> tuple[int, int]:
        sending = asyncio.create_task(mine.deliver_due())
        assert await asyncio.to_thread(first.entered.wait, DEADLINE)   # mid-send now
        other = await theirs.deliver_due()
        assert first.hold is not None
        first.hold.set()
        return await sending, other

    assert asyncio.run(race()) == (1, 0)
    assert first.sent == [Sent("alert", ("a",))] and second.sent == []
    assert deliver(theirs) == 0                                    # sent: nothing left


# -- retries ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("errors", "waits"), [
    # one 503: about 1 s (±25 % jitter)
    ([TransientDeliveryError("HTTP 503")], [(0.75, 1.25)]),
    # three in a row: 1 s, 2 s, 4 s
    ([TransientDeliveryError("timeout")] * 3, [(0.75, 1.25), (1.5, 2.5), (3.0, 5.0)]),
    # a 429 with Retry-After: to the second (plus at most 0.25 s)
    ([TransientDeliveryError("HTTP 429", retry_after=30)], [(30.0, 30.25)]),
], ids=["once", "three-times", "retry-after"])
def test_transient_errors_are_retried_after_a_growing_wait(
        store: SQLiteStore, clock: Clock, errors: list[DeliveryError],
        waits: list[tuple[float, float]]) -> None:
    channel = RecordingChannel(errors=list(errors))
    box = outbox(store, clock, channel)
    queue(store, clock, "a")
    for attempt, (low, high) in enumerate(waits, start=1):
        assert deliver(box) == 0
        [row] = store.pending("desk")
        assert (row.attempts, row.last_error) == (attempt, str(errors[attempt - 1]))
        retry_at = box.next_wakeup()
        assert retry_at is not None and low <= retry_at - clock() <= high
        clock.advance(retry_at - clock() - 0.01)
        assert deliver(box) == 0 and channel.sent == []              # never before its time
        clock.advance(0.01)
    assert deliver(box) == 1 and channel.sent == [Sent("alert", ("a",))]
    assert box.next_wakeup() is None and store.channel_errors() == {}


def test_a_failed_alert_holds_back_the_ones_behind_it(store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel(errors=[TransientDeliveryError("HTTP 500")])
    box = outbox(store, clock, channel)
    for title in ("a", "b"):
        queue(store, clock, title)
    assert deliver(box) == 0 and channel.sent == []
    clock.advance(0.5)                       # "a" waits for its retry; "b" must wait behind it
    deliver(box)
    clock.advance(5)
    deliver(box)
    assert channel.sent == [Sent("alert", ("a",)), Sent("alert", ("b",))]


# -- permanent errors ------------------------------------------------------------------------

def test_a_permanent_error_stops_the_channel_and_is_recorded(
        store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel(errors=[PermanentDeliveryError("channel_not_found")])
    box = outbox(store, clock, channel)
    queue(store, clock, "a")
    queue(store, clock, "b")
    assert deliver(box) == 0
    assert store.channel_errors() == {"desk": "channel_not_found"}
    clock.advance(3600)
    assert deliver(box) == 0 and channel.sent == []      # no retries: the config is wrong
    assert box.next_wakeup() is None
    assert asyncio.run(box.send_digest("desk")) == 0
    assert pending_titles(store) == ["a", "b"]           # kept for after the fix

    box.clear_errors()                                   # a reload with a fixed config
    assert store.channel_errors() == {}
    fixed = RecordingChannel()
    assert deliver(outbox(store, clock, fixed)) == 2
    assert fixed.sent == [Sent("alert", ("a",)), Sent("alert", ("b",))]


# -- flood summary ---------------------------------------------------------------------------

@pytest.mark.parametrize(("pending", "threshold", "sent"), [
    (5, None, ["alert"] * 5),          # at the threshold: one by one
    (6, None, ["summary"]),            # more than flood_threshold (5): one summary
    (3, 2, ["summary"]),               # the channel's own flood_threshold
    (2, 2, ["alert"] * 2),
])
def test_more_alerts_than_the_flood_threshold_go_out_as_one_summary(
        store: SQLiteStore, clock: Clock, pending: int, threshold: int | None,
        sent: list[str]) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, flood_threshold=threshold)
    titles = [f"story {n}" for n in range(pending)]
    for title in titles:
        queue(store, clock, title)
    assert deliver(box) == pending
    assert [s.kind for s in channel.sent] == sent
    assert sorted(t for s in channel.sent for t in s.titles) == sorted(titles)
    assert pending_titles(store) == []


def test_the_global_flood_threshold_applies_when_the_channel_sets_none(
        store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel()
    box = Outbox(config(global_flood=2), store, clock=clock, channels={"desk": channel},
                 rng=random.Random(7))
    for n in range(3):
        queue(store, clock, f"s{n}")
    assert deliver(box) == 3 and [s.kind for s in channel.sent] == ["summary"]


# -- digests ---------------------------------------------------------------------------------

DIGEST = {"mode": "digest", "digest": ("08:00", "17:30")}


def test_a_digest_channel_sends_only_its_digest_with_everything_pending(
        store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, **DIGEST)
    for title in ("a", "b", "c"):
        queue(store, clock, title)
    assert deliver(box) == 0 and channel.sent == []              # instant delivery skips it
    assert box.next_wakeup() is None
    assert asyncio.run(box.send_digest("desk")) == 3
    assert channel.sent == [Sent("digest", ("a", "b", "c"))]
    assert asyncio.run(box.send_digest("desk")) == 0             # nothing to say: no message
    assert len(channel.sent) == 1


def test_a_failed_digest_is_kept_for_its_retry(store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel(errors=[TransientDeliveryError("SMTP 451")])
    box = outbox(store, clock, channel, **DIGEST)
    queue(store, clock, "a")
    assert asyncio.run(box.send_digest("desk")) == 0
    assert pending_titles(store) == ["a"]
    clock.set("12:01")
    assert box.missed_digests() == []          # no slot passed since noon's alert
    clock.set("18:00")
    assert box.missed_digests() == ["desk"]
    assert asyncio.run(box.send_digest("desk")) == 1 and box.missed_digests() == []


@pytest.mark.parametrize(("queued_at", "now", "missed"), [
    ("12:00", "17:29", False),        # the next slot has not come yet
    ("12:00", "17:30", True),         # 17:30 passed with the alert waiting: watcher was down
    ("12:00", "07:59+1", True),       # overnight: still missed when it starts next morning
    ("17:31", "23:00", False),        # queued after the last slot
    ("17:31", "08:00+1", True),
])
def test_a_digest_missed_while_watcher_was_down_is_found_at_start(
        store: SQLiteStore, clock: Clock, queued_at: str, now: str, missed: bool) -> None:
    clock.set(queued_at)
    queue(store, clock, "a")
    time_of_day, _, day = now.partition("+")
    clock.set(time_of_day, int(day or 0))
    box = outbox(store, clock, RecordingChannel(), **DIGEST)
    assert box.missed_digests() == (["desk"] if missed else [])


def test_a_digest_sent_at_its_slot_is_not_missed_again(store: SQLiteStore,
                                                       clock: Clock) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, **DIGEST)
    queue(store, clock, "a")
    clock.set("17:30")
    assert asyncio.run(box.send_digest("desk")) == 1
    clock.set("17:45")
    queue(store, clock, "b")                   # waits for tomorrow 08:00
    clock.set("23:00")
    assert box.missed_digests() == []
    clock.set("08:05", day=1)
    assert box.missed_digests() == ["desk"]


def test_a_digest_with_nothing_pending_counts_as_sent(store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, **DIGEST)
    clock.set("08:00", day=1)
    assert asyncio.run(box.send_digest("desk")) == 0 and channel.sent == []
    assert box.missed_digests() == []


# -- quiet hours -----------------------------------------------------------------------------

@pytest.mark.parametrize(("local", "held"), [
    ("21:59", False), ("22:00", True), ("03:00", True), ("06:59", True), ("07:00", False),
])
def test_quiet_hours_hold_all_but_urgent_alerts(store: SQLiteStore, clock: Clock, local: str,
                                                held: bool) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, quiet="22:00-07:00")
    clock.set(local)
    queue(store, clock, "routine")
    queue(store, clock, "urgent", urgent=True)
    deliver(box)
    sent = [t for s in channel.sent for t in s.titles]
    assert sent == (["urgent"] if held else ["routine", "urgent"])
    assert pending_titles(store) == (["routine"] if held else [])


def test_alerts_held_by_quiet_hours_go_out_when_the_window_ends(
        store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel()
    box = outbox(store, clock, channel, quiet="22:00-07:00")
    clock.set("23:00")
    queue(store, clock, "overnight")
    assert deliver(box) == 0
    clock.set("06:59", day=1)
    assert deliver(box) == 0
    clock.set("07:00", day=1)
    assert deliver(box) == 1 and channel.sent == [Sent("alert", ("overnight",))]


# -- threads, replies and held copies --------------------------------------------------------

@pytest.mark.parametrize("kind", ["also", "edit"])
def test_a_copy_of_an_alerted_story_is_a_reply_in_its_thread(
        store: SQLiteStore, clock: Clock, kind: str) -> None:
    channel = RecordingChannel(threads=True)
    box = outbox(store, clock, channel)
    queue(store, clock, "first", story=1)
    assert deliver(box) == 1
    queue(store, clock, "copy", kind=kind, story=1)
    assert deliver(box) == 1
    assert channel.sent == [Sent("alert", ("first",)), Sent("reply", ("copy",), "ts-1")]


def test_a_reply_in_the_same_batch_follows_its_story_and_one_without_waits(
        store: SQLiteStore, clock: Clock) -> None:
    channel = RecordingChannel(threads=True)
    box = outbox(store, clock, channel)
    queue(store, clock, "copy", kind="also", story=1)      # came in before the first one
    queue(store, clock, "first", story=1)
    queue(store, clock, "orphan", kind="also", story=2)    # story 2 is not out on this channel
    assert deliver(box) == 2
    assert channel.sent == [Sent("alert", ("first",)), Sent("reply", ("copy",), "ts-1")]
    assert pending_titles(store) == ["orphan"]


def held_copy(store: SQLiteStore, clock: Clock) -> RecordingChannel:
    """A channel without threads that got a story's first alert; its copy is held."""
    channel = RecordingChannel(threads=False)
    queue(store, clock, "first", story=1)
    queue(store, clock, "copy", kind="also", story=1)
    assert deliver(outbox(store, clock, channel)) == 1
    assert channel.sent == [Sent("alert", ("first",))]       # never a new alert
    assert [r.alert.title for r in store.held("desk")] == ["copy"] and pending_titles(store) == []
    return channel


def test_without_threads_copies_are_held_for_the_next_summary(
        store: SQLiteStore, clock: Clock) -> None:
    channel = held_copy(store, clock)
    for n in range(6):
        queue(store, clock, f"flood {n}", story=10 + n)
    assert deliver(outbox(store, clock, channel)) == 7
    assert channel.sent[1] == Sent("summary", tuple(f"flood {n}" for n in range(6)) + ("copy",))
    assert store.held("desk") == []


def test_without_threads_copies_are_held_for_the_next_digest(
        store: SQLiteStore, clock: Clock) -> None:
    channel = held_copy(store, clock)
    digest = outbox(store, clock, channel, **DIGEST)
    queue(store, clock, "later", story=2)
    assert asyncio.run(digest.send_digest("desk")) == 2
    assert channel.sent[-1] == Sent("digest", ("later", "copy"))
    assert store.held("desk") == []
