"""health.py: failing / quiet / recovered decisions and the network-down rule (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from watcher.health import (
    Record,
    Signals,
    assess,
    items_per_day,
    network_down,
    network_step,
    short_error,
    step,
)

H = 3600.0
D = 86400.0
URL = "https://feeds.example.org/rss"
OK = Signals(name="Defense", url=URL, interval=600.0)


def failing(n: int, kind: str, error: str = f"{URL}: HTTP 404 Not Found") -> Signals:
    return replace(OK, consecutive_failures=n, error_kind=kind, last_error=error)


@pytest.mark.parametrize(("sig", "since", "now", "state"), [
    (OK, None, 0.0, "ok"),
    (failing(1, "hard"), 0.0, 10.0, "ok"),
    (failing(2, "hard"), 0.0, 10.0, "ok"),
    (failing(3, "hard"), 0.0, 10.0, "failing"),                 # hard: 3 in a row
    (failing(50, "soft"), 0.0, 59 * 60.0, "ok"),                # soft: not yet an hour
    (failing(50, "soft"), 0.0, H + 1, "failing"),               # > max(1h, 6 × 10m)
    (replace(failing(3, "transient"), interval=2 * H), 0.0, 11 * H, "ok"),  # 6 × 2h = 12h
    (replace(failing(3, "transient"), interval=2 * H), 0.0, 13 * H, "failing"),
    (replace(OK, gone=True), None, 0.0, "gone"),
])
def test_assess(sig: Signals, since: float | None, now: float, state: str) -> None:
    assert assess(sig, since, now)[0] == state


def test_quiet_needs_five_gaps_and_two_days() -> None:
    hourly = replace(OK, arrivals=(0.0, H, 2 * H, 3 * H), last_new_item_at=3 * H)
    assert assess(hourly, None, 3 * H + 6 * H)[0] == "ok"           # 6h > 5×1h but < 2 days
    state, reason = assess(hourly, None, 3 * H + 2 * D + 1)
    assert state == "quiet" and "usually one every 1h" in reason
    daily = replace(OK, arrivals=(0.0, D, 2 * D), last_new_item_at=2 * D)
    assert assess(daily, None, 2 * D + 4 * D)[0] == "ok"            # 4 days < 5 × 1 day
    assert assess(daily, None, 2 * D + 5 * D + 1)[0] == "quiet"
    few = replace(OK, arrivals=(0.0, H), last_new_item_at=H)      # too little history
    assert assess(few, None, 30 * D)[0] == "ok"


def test_a_failing_feed_is_reported_once_then_recovery_once() -> None:
    record, notices = Record(), []
    for n in range(1, 8):
        record, notice = step(record, failing(n, "hard"), now=100.0 * n)
        notices.append(notice)
    sent = [n for n in notices if n is not None]
    assert len(sent) == 1
    assert sent[0].title == ("Feed failing: Defense — HTTP 404 Not Found "
                             "(3 times since 1970-01-01 00:01 UTC)")
    assert sent[0].key == f"health:{URL}:1:failing" and not sent[0].recovered
    record, notice = step(record, OK, now=900.0)
    assert notice is not None and notice.recovered and notice.title == "Feed recovered: Defense"
    assert notice.key == f"health:{URL}:1:recovered" and record.state == "ok"
    assert step(record, OK, now=901.0)[1] is None
    record, notice = step(record, failing(3, "hard"), now=1000.0)     # a new episode
    assert notice is not None and notice.key == f"health:{URL}:2:failing"


def test_soft_failures_count_from_the_first_failure_of_the_streak() -> None:
    record = Record()
    record, notice = step(record, failing(1, "soft"), now=0.0)
    assert notice is None and record.since == 0.0
    record, notice = step(record, failing(9, "soft"), now=H - 1)
    assert notice is None and record.since == 0.0
    record, notice = step(record, failing(10, "soft"), now=H + 1)
    assert notice is not None and "10 times since 1970-01-01 00:00 UTC" in notice.title
    record, _ = step(record, OK, now=H + 2)
    assert record.since is None


def test_network_down_blames_no_feed() -> None:
    record, notice = step(Record(), failing(99, "transient"), now=10 * H, network_down=True)
    assert notice is None and record.state == "ok"
    # a hard error is the feed's own, even then
    record, notice = step(Record(), failing(3, "hard"), now=10 * H, network_down=True)
    assert notice is not None


@pytest.mark.parametrize(("feeds", "down"), [
    ([(1, "transient"), (2, "soft")], True),
    ([(1, "transient"), (0, None)], False),
    ([(1, "transient"), (1, "hard")], False),
    ([(5, "transient")], False),                 # one feed proves nothing
    ([], False),
])
def test_network_down_rule(feeds: list[tuple[int, str | None]], down: bool) -> None:
    assert network_down(feeds) is down


def test_network_is_reported_down_once_and_back_once() -> None:
    record, notice = network_step(Record(), True, 12, now=0.0)
    assert notice is not None and "All 12 feeds" in notice.title
    assert network_step(record, True, 12, now=5.0)[1] is None
    record, notice = network_step(record, False, 12, now=60.0)
    assert notice is not None and notice.recovered
    assert notice.key == "health:network:1:recovered"
    assert network_step(record, False, 12, now=61.0)[1] is None


def test_short_error_and_items_per_day() -> None:
    assert short_error(f"{URL}: HTTP 500 Internal Server Error", URL) == \
        "HTTP 500 Internal Server Error"
    assert short_error("parse failure: junk") == "parse failure: junk"
    assert short_error(None) == ""
    assert items_per_day(30, 0.0, 3 * D) == 10.0
    assert items_per_day(5, 0.0, 60.0) == 5.0          # less than a day counts as one
    assert items_per_day(5, None, 60.0) is None
