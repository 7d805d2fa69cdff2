"""Feed health: is a feed failing or quiet, and when to tell the operations channels (pure).

Errors come classed by fetch.py (`FetchError.kind`): "hard" (404, 410, parse failure,
too large), "soft" (5xx, 429, timeouts) and "transient" (one-off network errors).

* failing: hard errors HARD_STREAK times in a row, or soft/transient errors for longer
  than max(1 h, 6 intervals); a 410 Gone at once (the feed is disabled, visibly);
* quiet: no new item for QUIET_FACTOR times the feed's average gap and over two days;
* network down: every feed's last poll failed softly at once; then no feed is blamed.

Each episode is reported once and its recovery once: `step` turns the previous
`Record` (kept in the store) and the new state into the next record and the notice
to send, if any. Nothing here reads the clock: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from watcher.timeparse import format_duration

HARD_STREAK = 3
SOFT_MIN = 3600.0
SOFT_INTERVALS = 6
QUIET_FACTOR = 5.0
QUIET_MIN = 2 * 86400.0
QUIET_MIN_ARRIVALS = 3
SOFT_KINDS = ("soft", "transient")


@dataclass(frozen=True)
class Signals:
    """What health needs to know about one feed, read from the store after a poll."""

    name: str
    url: str
    interval: float
    consecutive_failures: int = 0
    error_kind: str | None = None
    last_error: str | None = None
    arrivals: tuple[float, ...] = ()      # recent times new items were seen
    last_new_item_at: float | None = None
    gone: bool = False


@dataclass(frozen=True)
class Record:
    """What was last decided for a feed or the network (the store's health_records)."""

    state: str = "ok"                # "ok" | "failing" | "quiet" | "gone"
    episode: int = 0                 # numbers the reports, for their dedupe keys
    since: float | None = None       # first failure of the current streak


@dataclass(frozen=True)
class Notice:
    """One health message to queue: `key` makes it go out once per channel."""

    key: str
    title: str
    detail: str
    recovered: bool
    link: str = ""


def assess(sig: Signals, since: float | None, now: float) -> tuple[str, str]:
    """(state, reason) of a feed now; `since` is when its current failure streak began."""
    if sig.gone:
        return "gone", "HTTP 410 Gone: polling stopped (remove it or change its URL)"
    if sig.consecutive_failures > 0:
        kind = sig.error_kind if sig.error_kind in ("hard", *SOFT_KINDS) else "transient"
        error = short_error(sig.last_error, sig.url)
        if kind == "hard" and sig.consecutive_failures >= HARD_STREAK:
            return "failing", error
        if kind in SOFT_KINDS and since is not None \
                and now - since > max(SOFT_MIN, SOFT_INTERVALS * sig.interval):
            return "failing", error
        return "ok", error
    gap = average_gap(sig.arrivals)
    if len(sig.arrivals) >= QUIET_MIN_ARRIVALS and gap is not None \
            and sig.last_new_item_at is not None:
        silent = now - sig.last_new_item_at
        if silent > QUIET_FACTOR * gap and silent > QUIET_MIN:
            return "quiet", (f"no new item for {format_duration(silent)} "
                             f"(usually one every {format_duration(gap)})")
    return "ok", ""


def step(record: Record, sig: Signals, now: float,
         network_down: bool = False) -> tuple[Record, Notice | None]:
    """The next record for a feed after a poll, and the notice to send (if any)."""
    failing_now = sig.consecutive_failures > 0
    since = (record.since if record.since is not None else now) if failing_now else None
    record = replace(record, since=since)
    state, reason = assess(sig, since, now)
    if network_down and state == "failing" and sig.error_kind in SOFT_KINDS:
        state = record.state if record.state == "failing" else "ok"   # blame the network
    if state == record.state:
        return record, None
    if state == "ok":
        if record.state == "quiet" and failing_now:
            return record, None   # a quiet feed that now fails: not recovered yet
        return replace(record, state="ok"), Notice(
            f"health:{sig.url}:{record.episode}:recovered", f"Feed recovered: {sig.name}",
            f"{sig.url} works again.", True, sig.url)
    episode = record.episode + 1
    new = Record(state, episode, since)
    return new, Notice(f"health:{sig.url}:{episode}:{state}",
                       _title(state, sig, reason, since), reason, False, sig.url)


def _title(state: str, sig: Signals, reason: str, since: float | None) -> str:
    if state == "gone":
        return f"Feed gone: {sig.name} — HTTP 410, polling stopped"
    if state == "quiet":
        return f"Feed quiet: {sig.name} — {reason}"
    when = f" since {_utc(since)}" if since is not None else ""
    return (f"Feed failing: {sig.name} — {reason} "
            f"({sig.consecutive_failures} times{when})")


def network_down(feeds: Sequence[tuple[int, str | None]]) -> bool:
    """Whether every feed (failures in a row, error kind) failed softly: our network, not them."""
    return len(feeds) >= 2 and all(n > 0 and kind in SOFT_KINDS for n, kind in feeds)


def network_step(record: Record, down: bool, feeds: int, now: float
                 ) -> tuple[Record, Notice | None]:
    """Report the daemon's own network down once, and back up once."""
    if down and record.state != "down":
        episode = record.episode + 1
        return Record("down", episode, now), Notice(
            f"health:network:{episode}:down",
            f"Network down? All {feeds} feeds fail at once",
            "Every feed failed with a network error or timeout in the same round: the "
            "problem is probably on our side (network, DNS, proxy), not at the feeds.", False)
    if not down and record.state == "down":
        return Record("ok", record.episode, None), Notice(
            f"health:network:{record.episode}:recovered", "Network back: feeds answer again",
            f"Down since {_utc(record.since)}." if record.since else "", True)
    return record, None


def short_error(error: str | None, url: str = "") -> str:
    """An error message without the feed URL it starts with."""
    if not error:
        return ""
    head, sep, rest = error.partition(": ")
    if sep and (head.startswith(("http://", "https://")) or head == url):
        return rest
    return error


def average_gap(arrivals: Sequence[float]) -> float | None:
    """Mean seconds between new-item arrivals (None with fewer than two)."""
    times = sorted(arrivals)
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (times[-1] - times[0]) / (len(times) - 1)


def items_per_day(items_total: int, first_polled_at: float | None, now: float) -> float | None:
    """New items per day since the feed was first polled (over at least one day)."""
    if first_polled_at is None:
        return None
    days = max(1.0, (now - first_polled_at) / 86400.0)
    return round(items_total / days, 1)


def _utc(ts: float | None) -> str:
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
