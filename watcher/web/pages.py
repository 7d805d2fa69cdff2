"""What each dashboard page shows, from what the store said (pure: `now` is passed in).

The handlers in app.py read the store (through Reports and the Store protocol) and hand the
rows here; these functions turn them into the plain values the templates print. Templates
escape every value: nothing here builds markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from watcher.config import Config
from watcher.health import Record, Signals, assess, short_error
from watcher.models import Snippet
from watcher.store.base import FeedState
from watcher.store.reports import AlertRow, Outlet
from watcher.timeparse import format_duration
from watcher.web.charts import LineChart, daily, line_chart, sparkline

DAYS = 30
HEALTH_STATES = ("ok", "failing", "quiet", "gone")


@dataclass(frozen=True)
class Clock:
    """Times as the desk reads them: in the configured zone, and relative to now."""

    now: float
    tz: ZoneInfo

    def when(self, ts: float | None) -> str:
        if ts is None:
            return "never"
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M")

    def ago(self, ts: float | None) -> str:
        if ts is None:
            return "never"
        delta = ts - self.now
        return f"in {format_duration(delta)}" if delta > 0 else f"{format_duration(delta)} ago"

    def days(self, n: int = DAYS) -> tuple[float, list[str]]:
        """The local midnight `n - 1` days before today, and a label for each of the n days."""
        today = datetime.fromtimestamp(self.now, self.tz).replace(hour=0, minute=0, second=0,
                                                                  microsecond=0)
        first = today - timedelta(days=n - 1)
        return first.timestamp(), [(first + timedelta(days=i)).strftime("%m-%d")
                                   for i in range(n)]

    def day_start(self, text: str) -> float:
        """The local midnight of a YYYY-MM-DD date; ValueError when it is not one."""
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
        return day.replace(tzinfo=self.tz).timestamp()


# -- feed health ----------------------------------------------------------------------------
def feed_health(config: Config, states: Mapping[str, FeedState],
                arrivals: Mapping[str, Sequence[float]], records: Mapping[str, Record],
                now: float) -> dict[str, tuple[str, str]]:
    """url → (state, reason), decided as the daemon's health check decides it (health.assess,
    from the store's arrivals and the start of the failure streak its record keeps; without
    a record the streak is taken to have begun at the last success)."""
    out: dict[str, tuple[str, str]] = {}
    for feed in config.feeds:
        st = states.get(feed.url)
        if st is None:
            out[feed.url] = ("ok", "never polled")
            continue
        sig = Signals(name=feed.label, url=feed.url, interval=config.feed_interval(feed),
                      consecutive_failures=st.consecutive_failures, error_kind=st.error_kind,
                      last_error=st.last_error, arrivals=tuple(arrivals.get(feed.url, ())),
                      last_new_item_at=st.last_new_item_at, gone=st.gone)
        since = None
        if st.consecutive_failures:
            record = records.get(feed.url)
            since = (record.since if record is not None and record.since is not None
                     else st.last_success_at or st.first_polled_at)
        out[feed.url] = assess(sig, since, now)
    return out


def error_in_words(row: Mapping[str, Any], clock: Clock) -> str:
    """A feed's last error as a sentence: what failed, how often, since when it worked."""
    if row["gone"]:
        return "The feed answered 410 Gone: polling stopped."
    if not row["last_error"]:
        return ""
    times = row["errors_in_a_row"]
    streak = f"failed {times} time{'s' if times != 1 else ''} in a row" if times else "failed once"
    worked = (f"last worked {clock.ago(row['last_success'])}" if row["last_success"]
              else "never worked")
    return f"{short_error(row['last_error'], row['url'])} ({streak}; {worked})"


# -- overview -------------------------------------------------------------------------------
def alerts_chart(config: Config, alert_days: Mapping[str, Mapping[int, int]],
                 labels: Sequence[str]) -> LineChart:
    names = [p.name for p in config.profiles] + sorted(set(alert_days) -
                                                       {p.name for p in config.profiles})
    data = {name: daily(alert_days.get(name, {}), len(labels)) for name in names}
    return line_chart(data, labels, title=f"Alerts per day per profile, last {len(labels)} days")


def health_counts(health: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    counts = dict.fromkeys(HEALTH_STATES, 0)
    for state, _ in health.values():
        counts[state] = counts.get(state, 0) + 1
    return counts


def outbox_rows(config: Config, outbox: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    return [{"channel": name, "pending": outbox.get(name, {}).get("pending", 0),
             "held": outbox.get(name, {}).get("held", 0),
             "failed": outbox.get(name, {}).get("failed", 0)}
            for name in sorted(set(config.channels) | set(outbox))]


# -- feeds ----------------------------------------------------------------------------------
SORTS = ("feed", "health", "errors", "items", "per_day", "last_poll", "next_poll")


def _next_poll(row: Mapping[str, Any], clock: Clock) -> str:
    if row["gone"]:
        return "never (gone)"
    return "due now" if row["next_poll"] <= clock.now else clock.ago(row["next_poll"])


def feed_rows(status: Sequence[Mapping[str, Any]], health: Mapping[str, tuple[str, str]],
              item_days: Mapping[str, Mapping[int, int]], clock: Clock,
              sort: str, descending: bool, start: int = 0,
              count: int | None = None) -> list[dict[str, Any]]:
    """The feeds sorted, then rows start .. start + count of them made for the page."""
    keys: dict[str, Callable[[Mapping[str, Any]], Any]] = {
        "feed": lambda r: r["feed"].lower(),
        "health": lambda r: HEALTH_STATES.index(health.get(r["url"], ("ok", ""))[0]),
        "errors": lambda r: r["errors_in_a_row"], "items": lambda r: r["items"],
        "per_day": lambda r: r["items_per_day"] or 0.0,
        "last_poll": lambda r: r["last_poll"] or 0.0, "next_poll": lambda r: r["next_poll"]}
    ordered = sorted(status, key=keys.get(sort, keys["feed"]), reverse=descending)
    rows = []
    for f in ordered[start:None if count is None else start + count]:
        state, reason = health.get(f["url"], ("ok", ""))
        rows.append({**f, "health": state, "reason": reason,
                     "spark": sparkline(daily(item_days.get(f["url"], {}), DAYS)),
                     "error_words": error_in_words(f, clock),
                     "last_poll_text": clock.ago(f["last_poll"]),
                     "next_poll_text": _next_poll(f, clock)})
    return rows


# -- profiles -------------------------------------------------------------------------------
def profile_rows(config: Config, alert_days: Mapping[str, Mapping[int, int]],
                 last_hits: Mapping[str, float], clock: Clock) -> list[dict[str, Any]]:
    rows = []
    for p in config.profiles:
        values = daily(alert_days.get(p.name, {}), DAYS)
        rows.append({"name": p.name, "query": p.query, "channels": list(p.channels),
                     "priority": p.priority, "feeds": list(p.feeds), "spark": sparkline(values),
                     "hits": sum(values), "last_hit": clock.ago(last_hits.get(p.name)),
                     "last_hit_at": clock.when(last_hits.get(p.name))})
    return rows


# -- alerts ---------------------------------------------------------------------------------
def segments(snippet: Snippet) -> list[tuple[str, bool]]:
    """The snippet cut into (text, bold) pieces, bold where a term matched."""
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted(snippet.bold):
        start, end = max(start, at), min(end, len(snippet.text))
        if start >= end:
            continue
        if start > at:
            out.append((snippet.text[at:start], False))
        out.append((snippet.text[start:end], True))
        at = end
    if at < len(snippet.text):
        out.append((snippet.text[at:], False))
    return out


def safe_link(url: str | None) -> str | None:
    """Only http(s) links become links (a feed's javascript: or data: URL stays text)."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def delivery(row: AlertRow, clock: Clock) -> str:
    r = row.row
    if r.status == "sent":
        return f"sent {clock.when(r.sent_at)}"
    if r.status == "held":
        return "held for the next summary or digest"
    if r.status == "pending" and r.attempts:
        return f"failing: {r.attempts} attempt{'s' if r.attempts != 1 else ''}, {r.last_error}"
    return r.status


def alert_rows(rows: Sequence[AlertRow], outlets: Mapping[int, Sequence[Outlet]],
               clock: Clock) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        a = row.row.alert
        others = [o for o in outlets.get(row.row.story_id or -1, ())
                  if not (o.feed_name == a.feed and o.link == a.link)]
        out.append({"id": row.row.id, "when": clock.when(row.row.created_at),
                    "channel": row.row.channel, "profiles": list(row.row.profiles),
                    "title": a.title, "link": safe_link(a.link), "raw_link": a.link,
                    "feed": a.feed, "snippet": segments(a.snippet), "terms": list(a.terms),
                    "outlets": [{"feed": o.feed_name, "title": o.title,
                                 "link": safe_link(o.link)} for o in others],
                    "status": row.row.status, "delivery": delivery(row, clock)})
    return out
