"""schedule.py: jitter, back-off, Retry-After and adaptive intervals (pure, table-driven)."""

from __future__ import annotations

import random

import pytest

from watcher.schedule import (
    MAX_BACKOFF,
    adaptive_interval,
    next_poll,
    next_poll_after_failure,
)

H = 3600.0
M = 60.0


def test_next_poll_spreads_within_ten_percent() -> None:
    rng = random.Random(1)
    times = [next_poll(1000.0, 600.0, rng) - 1000.0 for _ in range(500)]
    assert min(times) >= 540.0 and max(times) <= 660.0
    assert max(times) - min(times) > 60.0   # really jittered, not constant


@pytest.mark.parametrize(("failures", "low", "high"), [
    (1, 600.0, 660.0),          # first failure: one interval
    (2, 1200.0, 1320.0),        # then doubling
    (3, 2400.0, 2640.0),
    (6, 19200.0, 21120.0),
    (30, MAX_BACKOFF, MAX_BACKOFF * 1.1),   # capped
])
def test_back_off_doubles_and_is_capped(failures: int, low: float, high: float) -> None:
    rng = random.Random(2)
    for _ in range(50):
        wait = next_poll_after_failure(0.0, 600.0, failures, rng=rng)
        assert low <= wait <= high


def test_back_off_cap_never_below_a_long_interval() -> None:
    wait = next_poll_after_failure(0.0, 12 * H, 10, rng=random.Random(3))
    assert wait >= 12 * H


@pytest.mark.parametrize("retry_after", [120.0, 5000.0])
def test_retry_after_is_a_floor(retry_after: float) -> None:
    wait = next_poll_after_failure(100.0, 30.0, 1, retry_after, rng=random.Random(4)) - 100.0
    assert wait >= retry_after


@pytest.mark.parametrize(("arrivals", "now", "expected"), [
    ([], 1000.0, 10 * M),                                    # no history: the start value
    ([0, 600, 1200, 1800], 1800.0, 5 * M),                   # every 10m: poll every 5m
    ([0, 60, 120, 180], 180.0, 2 * M),                       # faster than the floor: floor
    ([0, 86400, 2 * 86400], 2 * 86400.0, 6 * H),             # daily: the ceiling
    ([0, 3600, 7200], 7200.0 + 5 * H, 2.5 * H),              # went quiet for 5h: slows down
    ([1000.0], 1000.0 + 20 * M, 10 * M),                     # one arrival: half the quiet time
    ([0, 600, 1200, 99999999], 1800.0, 5 * M),               # future times are ignored
])
def test_adaptive_interval(arrivals: list[float], now: float, expected: float) -> None:
    assert adaptive_interval(arrivals, now, 2 * M, 6 * H, 10 * M) == pytest.approx(expected)


def test_adaptive_interval_speeds_up_again_after_a_burst() -> None:
    quiet = [0.0, 6 * H, 12 * H]
    slow = adaptive_interval(quiet, 12 * H, 2 * M, 6 * H, 10 * M)
    burst = quiet + [12 * H + 300 * i for i in range(1, 8)]
    fast = adaptive_interval(burst, burst[-1], 2 * M, 6 * H, 10 * M)
    assert slow == 3 * H and fast == 2.5 * M
