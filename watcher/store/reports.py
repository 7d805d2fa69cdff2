"""Read-only queries for the web dashboard, in SQL that SQLite and PostgreSQL both run.

Nothing here writes. Day buckets are whole days counted from `origin` (a local midnight, as
a Unix time) with the zone's offset at that midnight: a day that crosses a DST change is
off by that hour at its edges, which a 30-day chart does not show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from watcher.store.base import OutboxRow
from watcher.store.sql import SQLStore, outbox_from_row
from watcher.store.sqlite import SQLiteStore

DAY = 86400.0
ALERT_KINDS = "('new', 'update')"   # the alerts that are hits (not replies, edits, health)
MAX_PARTS = 100   # of search_texts (longer parts over a long period)
# the items' column of each field the matcher reads
COLUMNS = {"title": "title", "summary": "summary", "content": "content", "article": "article",
           "author": "author", "category": "categories", "feed": "feed_name"}
_TESTER_COLUMNS = ("id, feed_name, title, link, summary, content, article, author, categories,"
                   " seen_at")


@dataclass(frozen=True)
class AlertFilter:
    """What the alerts page asks for; None means any."""

    profile: str | None = None
    channel: str | None = None
    feed_url: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True)
class AlertRow:
    row: OutboxRow
    feed_url: str | None


@dataclass(frozen=True)
class Outlet:
    feed_name: str
    title: str
    link: str | None


def _like(text: str) -> str:
    """A LIKE pattern finding `"text"` inside a JSON list (with ! as the escape), written as
    the store writes its lists of profiles: non-ASCII letters escaped (`\u00fc`)."""
    quoted = json.dumps(text)
    return "%" + quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


class Reports:
    """The dashboard's queries over one store (it must be used from the store's thread)."""

    def __init__(self, store: SQLStore, text_part: float = DAY) -> None:
        self._store = store
        self._text_part = text_part   # seconds of items per part of search_texts
        self._pg = not isinstance(store, SQLiteStore)
        # per-day counts of days that are over, by (what, day start): items are stored and
        # alerts queued at the time they are seen, so a day that is over does not change
        self._past: dict[tuple[str, float], dict[str, int]] = {}

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._store._rows(sql, args)

    def _day(self, column: str) -> str:
        """SQL for the day number of `column` (placeholder order: origin)."""
        if self._pg:
            return f"CAST(floor(({column} - ?) / {DAY}) AS BIGINT)"
        return f"CAST(({column} - ?) / {DAY} AS INTEGER)"   # truncation: column >= origin

    # -- alerts ---------------------------------------------------------------------------
    def alert_days(self, origin: float, days: int) -> dict[str, dict[int, int]]:
        """Per profile, per day since `origin`: the stories alerted (each counted once
        however many channels it went to)."""
        sql = (f"SELECT profiles AS k, {self._day('created_at')} AS day,"
               " count(DISTINCT coalesce(story_id, -id)) AS n FROM alerts"
               f" WHERE created_at >= ? AND created_at < ? AND kind IN {ALERT_KINDS}"
               " GROUP BY day, profiles")
        out: dict[str, dict[int, int]] = {}
        for day, counts in enumerate(self._days("alerts", sql, origin, days)):
            for key, n in counts.items():
                for profile in json.loads(key):
                    per = out.setdefault(profile, {})
                    per[day] = per.get(day, 0) + n
        return out

    def _days(self, what: str, sql: str, origin: float, days: int) -> list[dict[str, int]]:
        """Counts per key for each of `days` days from `origin`: days that are over from the
        memo (one query for those missing), the last one (today) asked each time. `sql`
        takes (origin, start, end) and gives k, day, n."""
        starts = [origin + d * DAY for d in range(days)]
        missing = [s for s in starts[:-1] if (what, s) not in self._past]
        if missing:
            fresh: dict[int, dict[str, int]] = {}
            for r in self._rows(sql, (missing[0], missing[0], starts[-1])):
                fresh.setdefault(int(r["day"]), {})[r["k"]] = int(r["n"])
            for start in missing:
                self._past[(what, start)] = fresh.get(round((start - missing[0]) / DAY), {})
        today: dict[str, int] = {}
        for r in self._rows(sql, (starts[-1], starts[-1], starts[-1] + DAY)):
            today[r["k"]] = today.get(r["k"], 0) + int(r["n"])
        return [*(self._past[(what, s)] for s in starts[:-1]), today]

    def last_hits(self) -> dict[str, float]:
        """Per profile, when it last alerted."""
        out: dict[str, float] = {}
        for r in self._rows(f"SELECT profiles, max(created_at) AS t FROM alerts"
                            f" WHERE kind IN {ALERT_KINDS} GROUP BY profiles"):
            for profile in json.loads(r["profiles"]):
                out[profile] = max(out.get(profile, 0.0), float(r["t"]))
        return out

    def outbox(self) -> dict[str, dict[str, int]]:
        """Per channel: pending (waiting, never failed), failed (pending after a failed
        attempt) and held (parked for a summary or digest)."""
        out: dict[str, dict[str, int]] = {}
        for r in self._rows(
                "SELECT channel, CASE WHEN status = 'pending' AND attempts > 0 THEN 'failed'"
                " ELSE status END AS state, count(*) AS n FROM alerts"
                " WHERE status IN ('pending', 'held') GROUP BY channel, state"):
            out.setdefault(r["channel"], {})[r["state"]] = int(r["n"])
        return out

    def alerts(self, where: AlertFilter, limit: int, offset: int = 0) -> list[AlertRow]:
        """Hits, newest first, with the URL of the feed of the item they came from."""
        conds: list[str] = [f"a.kind IN {ALERT_KINDS}"]
        args: list[Any] = []
        if where.profile is not None:
            conds.append("a.profiles LIKE ? ESCAPE '!'")
            args.append(_like(where.profile))
        if where.channel is not None:
            conds.append("a.channel = ?")
            args.append(where.channel)
        if where.feed_url is not None:   # the feed's items first (alerts_item, 0009)
            conds.append("a.item_id IN (SELECT id FROM items WHERE feed_url = ?)")
            args.append(where.feed_url)
        if where.since is not None:
            conds.append("a.created_at >= ?")
            args.append(where.since)
        if where.until is not None:
            conds.append("a.created_at < ?")
            args.append(where.until)
        rows = self._rows(
            "SELECT a.*, i.feed_url AS item_feed_url FROM alerts a"
            " LEFT JOIN items i ON i.id = a.item_id"
            f" WHERE {' AND '.join(conds)} ORDER BY a.created_at DESC, a.id DESC"
            " LIMIT ? OFFSET ?", (*args, limit, offset))
        return [AlertRow(outbox_from_row(r), r["item_feed_url"]) for r in rows]

    def outlets(self, story_ids: Sequence[int]) -> dict[int, list[Outlet]]:
        """The items of each story, oldest first (the first is usually the one alerted)."""
        out: dict[int, list[Outlet]] = {}
        ids = sorted(set(story_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in self._rows(
                    "SELECT story_id, feed_name, title, link FROM items WHERE story_id IN"
                    f" ({', '.join('?' * len(chunk))}) ORDER BY id", chunk):
                out.setdefault(int(r["story_id"]), []).append(
                    Outlet(r["feed_name"], r["title"], r["link"]))
        return out

    # -- items ----------------------------------------------------------------------------
    def item_days(self, origin: float, days: int) -> dict[str, dict[int, int]]:
        """Per feed URL, per day since `origin`: the items first seen that day."""
        sql = (f"SELECT feed_url AS k, {self._day('seen_at')} AS day, count(*) AS n FROM items"
               " WHERE seen_at >= ? AND seen_at < ? GROUP BY day, feed_url")
        out: dict[str, dict[int, int]] = {}
        for day, counts in enumerate(self._days("items", sql, origin, days)):
            for url, n in counts.items():
                out.setdefault(url, {})[day] = n
        return out

    def arrivals(self) -> dict[str, list[float]]:
        """Every feed's recent new-item arrival times (what health decides quiet from)."""
        out: dict[str, list[float]] = {}
        for r in self._rows("SELECT feed_url, arrived_at FROM feed_arrivals"
                            " ORDER BY feed_url, arrived_at"):
            out.setdefault(r["feed_url"], []).append(float(r["arrived_at"]))
        return out

    def search_texts(self, since: float, fields: Sequence[str] = tuple(COLUMNS)
                     ) -> Iterator[tuple[int, bytes]]:
        """The items seen since then, for the tester's literal scan, in parts of
        `text_part` seconds of items (a few small strings cost the store less to build, and
        the scan less to search, than one big one): per part how many items and their text,
        as `search_text` gives it."""
        got = self._rows("SELECT (SELECT min(seen_at) FROM items WHERE seen_at >= ?) AS lo,"
                         " (SELECT max(seen_at) FROM items WHERE seen_at >= ?) AS hi",
                         (since, since))
        if not got or got[0]["lo"] is None:
            return
        lo, hi = float(got[0]["lo"]), float(got[0]["hi"])
        parts = min(MAX_PARTS, max(1, math.ceil((hi - lo) / self._text_part)))
        cuts = [lo + (hi - lo) * k / parts for k in range(1, parts)]
        for start, end in zip([since, *cuts], [*cuts, None], strict=True):
            yield self.search_text(start, fields, until=end)

    def search_text(self, since: float, fields: Sequence[str] = tuple(COLUMNS),
                    until: float | None = None) -> tuple[int, bytes]:
        """The items seen since then (and before `until`) as one UTF-8 byte string: per item
        its id and these fields (the matcher's names) joined by \x02, items joined by \x01;
        and how many. Bytes, not text: the scan lowers and searches them in C and decodes
        only the items it must look at closer."""
        columns = ", ".join(["id", *(COLUMNS[name] for name in fields)])
        args: list[Any] = []
        if self._pg:   # as text: a bytea would come hex-encoded, twice the size
            text = f"string_agg(concat_ws(chr(2), {columns}), chr(1))"
        else:   # printf builds each row's text at once (|| copies it at each step)
            text = f"CAST(group_concat(printf(?, {columns}), char(1)) AS BLOB)"
            args.append("\x02".join(["%d", *["%s"] * len(fields)]))
        args.append(since)
        if until is not None:
            args.append(until)
        got = self._rows(f"SELECT count(*) AS n, {text} AS text FROM items WHERE seen_at >= ?"
                         f"{'' if until is None else ' AND seen_at < ?'}", args)
        if not got or not got[0]["text"]:
            return (int(got[0]["n"]) if got else 0), b""
        value = got[0]["text"]
        return int(got[0]["n"]), value.encode() if isinstance(value, str) else bytes(value)

    def items_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The tester's columns of these items, newest first."""
        out: list[dict[str, Any]] = []
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            out += self._rows(f"SELECT {_TESTER_COLUMNS} FROM items WHERE id IN"
                              f" ({', '.join('?' * len(chunk))})", chunk)
        out.sort(key=lambda r: (r["seen_at"], r["id"]), reverse=True)
        return out

    def items_since(self, since: float) -> list[dict[str, Any]]:
        """What the query tester matches against: the items seen since then, newest first."""
        return self._rows(f"SELECT {_TESTER_COLUMNS} FROM items WHERE seen_at >= ?"
                          " ORDER BY seen_at DESC, id DESC", (since,))
