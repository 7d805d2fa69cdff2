"""What was stored and alerted, looked at again: `watcher hits` and `watcher backtest`.

Times follow the one rule of every command: the configured timezone, marked (`shown_time`,
like the alerts' `format_time`), and ISO 8601 with its offset in `--json` (`iso_time`).
"""

from __future__ import annotations

import difflib
import json
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from watcher.config import Config
from watcher.deliver.text import format_time
from watcher.errors import ConfigError
from watcher.progress import Progress
from watcher.query import Document, Matcher
from watcher.store import open_store


def hits(config: Config, since: float, profile: str | None) -> list[dict[str, Any]]:
    """Alerts queued since then, newest first; `time` is when the alert was made and
    `published` when the item says it was published (both in the configured zone)."""
    names = [p.name for p in config.profiles]
    if profile is not None and profile not in names:
        raise ConfigError(f"--profile: no profile {profile!r} in {config.path} "
                          f"(known: {', '.join(names) or 'none'})")
    tz = config.settings.tz
    store = open_store(config.state)
    try:
        rows = store.hits(since, profile)
        articles = store.alert_articles([r.id for r in rows])
        return [{"time": iso_time(r.created_at, tz),
                 "published": r.alert.published.astimezone(tz).isoformat()
                 if r.alert.published else None,
                 "channel": r.channel, "profiles": list(r.profiles), "title": r.alert.title,
                 "link": r.alert.link, "feed": r.alert.feed, "kind": r.kind,
                 "status": r.status, "error": r.last_error, "article": articles.get(r.id)}
                for r in rows]
    finally:
        store.close()


def format_hits(rows: list[dict[str, Any]], tz: ZoneInfo) -> str:
    if not rows:
        return "no alerts in that period"
    return "\n".join(f"{shown_time(r['time'], tz)}  {r['status']:7} {r['channel']:14} "
                     f"[{', '.join(r['profiles'])}] {r['title']}  <{r['link']}>"
                     + (f"  (article: {r['article']})" if r.get("article") else "")
                     for r in rows)


def backtest(config: Config, query: str, since: float, *, inline: bool = False,
             progress: Progress | None = None) -> dict[str, Any]:
    """Run a profile, or a query (`inline`, or text that is no profile name), over the items
    stored since then. A word close to a profile name is refused without `inline`."""
    profiles = {p.name: p.query for p in config.profiles}
    is_profile = not inline and query in profiles
    if not inline and not is_profile:
        close = difflib.get_close_matches(query, profiles, n=3, cutoff=0.6)
        close += [n for n in profiles if n.lower() == query.lower() and n not in close]
        if close:
            raise ConfigError(f"backtest: no profile {query!r} (did you mean "
                              f"{' or '.join(repr(n) for n in close)}?); to run {query!r} as "
                              "a query, add --query")
        print(f"note: {query!r} is no profile name (profiles: {', '.join(profiles) or 'none'}); "
              "running it as a query", file=sys.stderr)
    name = query if is_profile else "(inline query)"
    text = profiles[query] if is_profile else query
    matcher = Matcher({name: text}, dict(config.aliases))
    tz = config.settings.tz
    store = open_store(config.state)
    try:
        rows = store.items_since(since)
    finally:
        store.close()
    hits_: list[dict[str, Any]] = []
    for n, row in enumerate(rows, 1):
        if progress is not None and (n % 500 == 0 or n == len(rows)):
            progress.show(f"backtest: {n} of {len(rows)} items scanned, {len(hits_)} would "
                          "alert")
        doc = Document(title=row["title"], summary=row["summary"], content=row["content"],
                       author=row["author"], categories=tuple(json.loads(row["categories"])),
                       feed=row["feed_name"], article=row["article"])
        m = matcher.match_profile(name, doc)
        if m is not None:
            published = row["published_at"]
            hits_.append({"title": row["title"], "link": row["link"], "feed": row["feed_name"],
                          "published": iso_time(published, tz) if published else None,
                          "seen": iso_time(row["seen_at"], tz), "terms": list(m.terms),
                          "matched_when_stored": name in json.loads(row["matched"] or "[]")})
    if progress is not None:
        progress.clear()
    return {"query": text, "profile": name, "items_scanned": len(rows),
            "would_alert": len(hits_), "hits": hits_, "backfill": config.settings.backfill,
            "not_alerted": sum(not h["matched_when_stored"] for h in hits_) if is_profile
            else None}


def format_backtest(data: dict[str, Any], tz: ZoneInfo) -> str:
    """Each hit with its published time (when the news was), else when it was stored."""
    lines = [f"{data['profile']}: {data['query']}",
             f"{data['would_alert']} of {data['items_scanned']} stored item(s) would alert"]
    if data.get("not_alerted"):
        lines.append(f"{data['not_alerted']} of them did not alert when stored: older than "
                     f"backfill ({data['backfill']}, [watcher] backfill) on the feed's first "
                     "poll, a copy of a story seen before, or the profile changed since")
    for h in data["hits"]:
        when = shown_time(h["published"], tz) if h["published"] \
            else f"stored {shown_time(h['seen'], tz)}"
        lines.append(f"  {when}  {h['feed'][:20]:20} {h['title']}  [{', '.join(h['terms'])}]")
    return "\n".join(lines)


def iso_time(ts: float, tz: ZoneInfo) -> str:
    """A timestamp as ISO 8601 in the configured zone, with its offset (for --json)."""
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def shown_time(iso: str, tz: ZoneInfo) -> str:
    """An ISO time as every command and alert shows it: the configured zone, named."""
    return format_time(datetime.fromisoformat(iso), tz)
