"""When to poll a feed next: interval with jitter, back-off, Retry-After, adaptive intervals (pure).

Adaptive intervals (interval = "auto"): a feed is polled about twice per typical gap
between its new items, within [min_interval, max_interval]; the typical gap is the
median of the recent gaps, or the time since the last new item once that is longer
(a feed that went quiet slows down by itself, and speeds up again when it publishes).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from statistics import median

MAX_BACKOFF = 6 * 3600.0
JITTER = 0.1
ARRIVALS_KEPT = 20      # recent new-item times kept per feed for adaptive intervals
POLLS_PER_GAP = 2.0     # polls per typical gap between new items


def next_poll(now: float, interval: float, rng: random.Random | None = None) -> float:
    """The next poll after a success: the interval, spread by up to ±10% so feeds don't align."""
    rng = rng or random.Random()
    return now + interval * (1 + rng.uniform(-JITTER, JITTER))


def next_poll_after_failure(now: float, interval: float, failures: int,
                            retry_after: float | None = None,
                            rng: random.Random | None = None) -> float:
    """After `failures` failures in a row: exponential back-off, capped, never before Retry-After.

    The first failure retries after one interval; each further one doubles the wait, up to
    six hours (or the interval itself, if that is longer).
    """
    rng = rng or random.Random()
    cap = max(MAX_BACKOFF, interval)
    wait = min(interval * float(2 ** max(0, failures - 1)), cap)
    wait *= 1 + rng.uniform(0, JITTER)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + wait


def adaptive_interval(arrivals: Sequence[float], now: float, lo: float, hi: float,
                      start: float) -> float:
    """The interval for an "auto" feed from the times its recent new items were seen.

    No history: `start`. Otherwise the typical gap (median of the gaps between arrivals,
    or the time since the last one when that is longer) divided by POLLS_PER_GAP,
    clamped to [lo, hi].
    """
    times = sorted(t for t in arrivals if t <= now)[-ARRIVALS_KEPT:]
    if not times:
        return min(max(start, lo), hi)
    quiet_for = now - times[-1]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    typical = max(median(gaps), quiet_for) if gaps else quiet_for
    return min(max(typical / POLLS_PER_GAP, lo), hi)


def delivery_backoff(attempts: int, retry_after: float | None = None,
                     rng: random.Random | None = None) -> float:
    """Seconds before retrying a delivery that failed `attempts` times (1 s, 2 s, 4 s … 5 min)."""
    rng = rng or random.Random()
    wait = min(2.0 ** max(0, attempts - 1), 300.0) * rng.uniform(0.75, 1.25)
    if retry_after is not None:
        wait = max(retry_after, 0.0) + rng.uniform(0.0, 0.25)
    return wait


def last_slot(now: datetime, clocks: Sequence[time]) -> datetime:
    """The latest daily slot (a wall-clock time in now's zone) at or before `now`."""
    candidates = []
    for day in (now.date(), now.date() - timedelta(days=1)):
        for clock in clocks:
            slot = datetime.combine(day, clock, tzinfo=now.tzinfo)
            if slot <= now:
                candidates.append(slot)
    return max(candidates)
