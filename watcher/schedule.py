"""When to poll a feed next: interval with jitter, back-off on failure, Retry-After (pure)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, time, timedelta

MAX_BACKOFF = 6 * 3600.0
JITTER = 0.1


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
