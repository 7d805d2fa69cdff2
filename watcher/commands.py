"""What each CLI command does (the CLI module only parses arguments and prints); `hits` and
`backtest` are in watcher/history.py."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher.config import Config
from watcher.deliver.channels import build_channel
from watcher.deliver.console import render_console
from watcher.discover import advertised_key, html_page_problem
from watcher.engine import Engine, local_source
from watcher.errors import ConfigError, DeliveryError, FetchError, ParseError, WatcherError
from watcher.health import items_per_day, short_error
from watcher.models import Alert, Article, Item, Snippet
from watcher.pipeline import PollOutcome
from watcher.progress import Progress, progress_line
from watcher.query import Document, Matcher
from watcher.query.guard import BOUND as GUARD_BOUND
from watcher.retention import POLL_PRUNE_PERIOD, prune_if_due
from watcher.source import ArticleRequest, FetchRequest, LocalSource
from watcher.store import FeedState, Store, open_store
from watcher.summary import RoundSummary, sent_count
from watcher.text import plain_text
from watcher.timeparse import format_duration

log = logging.getLogger("watcher.poll")


async def check(config: Config, *, online: bool) -> int:
    print(f"config {config.path}: OK")
    print(f"  state: {_state_label(config.state)}")
    print(f"  {len(config.feeds)} feed(s), {len(config.profiles)} profile(s), "
          f"{len(config.channels)} channel(s) on")
    tz = config.settings.tz
    for name, cfg in config.channels.items():
        print(f"  channel {name}: {build_channel(name, cfg, tz).describe()}"
              f"{' [digest ' + ', '.join(cfg.digest) + ']' if cfg.mode == 'digest' else ''}")
    for profile in config.profiles:
        print(f"  profile {profile.name}: {profile.query}")
    if config.settings.interval_seconds < 60:
        print(f"  warning: interval {config.settings.interval} is below 60s")
    if not online:
        return 0
    failures = 0
    source = local_source(config)
    try:
        results = await asyncio.gather(*(_try_feed(source, f.url) for f in config.feeds))
        for feed, (ok, text) in zip(config.feeds, results, strict=True):
            failures += not ok
            print(f"  feed {feed.label}: {text}")
    finally:
        await source.aclose()
    for name, cfg in config.channels.items():
        try:
            text = await asyncio.to_thread(build_channel(name, cfg, tz).check)
            print(f"  channel {name}: OK, {text}")
        except DeliveryError as exc:
            failures += 1
            print(f"  channel {name}: FAILED, {exc}")
    return 1 if failures else 0


async def _try_feed(source: LocalSource, url: str) -> tuple[bool, str]:
    try:
        fetched = await source.fetch(FetchRequest(url))
    except FetchError as exc:
        return False, f"FAILED, {exc}"
    parsed = fetched.parsed
    if parsed is None:
        return False, f"FAILED, {fetched.parse_error}"
    if parsed.html_page:
        return False, f"FAILED, {html_page_problem(parsed.advertised)}"
    return True, f"OK, {len(parsed.items)} items ({parsed.title or 'untitled'})"


def _state_label(state: str) -> str:
    return state.split("@")[-1] if "://" in state else state


async def poll(config: Config, *, dry_run: bool, progress: Progress | None = None) -> int:
    """One round over every feed; the summary on standard error. Exit code: 0 when every
    feed was read, 1 when any failed (cron mails the output of a failing job)."""
    started = time.monotonic()
    store = open_store(config.state)
    if dry_run:
        real, store = store, store.snapshot()
        real.close()
    engine = Engine(config, store)
    sent_before = sent_count(store.outbox_counts())
    done: list[PollOutcome] = []

    def tick(outcome: PollOutcome) -> None:
        done.append(outcome)
        if progress is not None:
            progress.show(progress_line("polling", len(done), len(config.feeds),
                                        sum(o.items for o in done), "feeds"))
    try:
        outcomes = await engine.poll(config.feeds, tick)
        if progress is not None:
            progress.clear()
        if dry_run:
            alerts = [r.alert for name in config.channels for r in store.pending(name)]
            for alert in alerts:
                print(render_console(alert, config.settings.tz, bold=sys.stdout.isatty()))
            print(f"dry run: {len(alerts)} alert(s) would be sent; no state changed")
        else:
            store.retry_now(time.time())
            await engine.drain(patience=10.0)
            try:   # what was polled is recorded already: a failed prune costs only itself
                prune_if_due(store, config.settings, owner="poll", now=time.time(),
                             period=POLL_PRUNE_PERIOD)
            except WatcherError as exc:
                print(f"pruning: {exc}", file=sys.stderr)
        sent = max(0, sent_count(store.outbox_counts()) - sent_before)
    finally:
        if progress is not None:
            progress.clear()
        await engine.aclose()
        store.close()
    for o in outcomes:
        if not o.ok:
            print(f"feed {o.feed}: {o.error}", file=sys.stderr)
    summary = RoundSummary.of(outcomes, sent=sent, seconds=time.monotonic() - started)
    log.info("poll: %s", summary.line(config.settings.backfill))   # JSON with --log-format json
    return 1 if summary.failed else 0


_TEST_TEXT = "This is a test alert sent by watcher test-alert."


def test_alert(config: Config, channel: str) -> int:
    if channel not in config.channels:
        known = ", ".join(config.channels) or "none"
        raise ConfigError(f"{config.path}: channels: no channel {channel!r} is on (on: {known})")
    alert = Alert(id=int(time.time()), channel=channel, kind="test", profiles=("test",),
                  title="watcher test alert: delivery to this channel works",
                  link="https://example.org/watcher-test", feed="watcher",
                  published=datetime.now(UTC),
                  snippet=Snippet(_TEST_TEXT, ((_TEST_TEXT.index("test"),
                                                _TEST_TEXT.index("test") + 4),)),
                  terms=("test",))
    sender = build_channel(channel, config.channels[channel], config.settings.tz)
    try:
        sender.send_alert(alert)
    except DeliveryError as exc:
        raise WatcherError(f"channel {channel}: test alert not delivered: {exc}") from None
    print(f"test alert sent to {channel}")
    return 0


def status(config: Config) -> dict[str, Any]:
    store = open_store(config.state)
    try:
        return status_report(config, store, time.time())
    finally:
        store.close()


def status_report(config: Config, store: Store, now: float) -> dict[str, Any]:
    """What `watcher status` shows."""
    advertised = {f.url: store.get_meta(advertised_key(f.url)) for f in config.feeds}
    feeds = feed_status(config, store.feeds(), store.feed_leases(), now,
                        store.article_outcomes(now - 86400), advertised)
    outbox = store.outbox_counts()
    errors = store.channel_errors()
    channels = [{"channel": name, "pending": outbox.get(name, {}).get("pending", 0),
                 "sent": outbox.get(name, {}).get("sent", 0),
                 "held": outbox.get(name, {}).get("held", 0), "error": errors.get(name)}
                for name in sorted(set(config.channels) | set(outbox))]
    daemons = [{"daemon": d["owner"], "info": d.get("info", ""),
                "last_heartbeat": d["last_heartbeat"], "feeds_held": d.get("feeds", 0)}
               for d in store.daemons()]
    slow = [{"profile": r["profile"], "pattern": r["pattern"], "feed": r["feed_url"],
             "item_key": r["item_key"], "title": r["title"], "at": r["seen_at"]}
            for r in store.slow_regexes()]
    return {"now": now, "feeds": feeds, "channels": channels, "daemons": daemons,
            "slow_regexes": slow}


def feed_status(config: Config, states: list[FeedState], leases: dict[str, tuple[str, float]],
                now: float, articles: dict[str, dict[str, int]] | None = None,
                advertised: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """Each configured feed's line of `watcher status` (the dashboard's feeds page too);
    `articles`: per feed, the article fetch outcomes of the last 24 h; `advertised`: per
    feed, what it advertised (see advertised_key)."""
    by_url = {f.url: f for f in states}
    feeds: list[dict[str, Any]] = []
    for feed in config.feeds:
        st = by_url.get(feed.url)
        feeds.append({
            "feed": feed.label, "url": feed.url,
            "last_poll": st.last_poll_at if st else None,
            "result": (st.last_status if st else "never polled"),
            "last_error": st.last_error if st else None,
            "errors_in_a_row": st.consecutive_failures if st else 0,
            "items": st.items_total if st else 0,
            "next_poll": (st.next_poll_at if st else now),
            "gone": bool(st and st.gone),
            "last_success": st.last_success_at if st else None,
            "items_per_day": items_per_day(st.items_total, st.first_polled_at, now)
            if st else None,
            "interval": "auto" if config.is_adaptive(feed) else config.feed_interval(feed),
            "held_by": leases[feed.url][0] if feed.url in leases
            and leases[feed.url][1] > now else None,
            "polled_at": st.current_url if st and st.current_url != feed.url else None,
            "advertised": (advertised or {}).get(feed.url),
            "articles_24h": (articles or {}).get(feed.url, {}),
        })
    return feeds


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    delta = ts - now
    return f"in {format_duration(delta)}" if delta > 0 else f"{format_duration(delta)} ago"


def _due(ts: float | None, now: float) -> str:
    """When a feed is polled next: "due now" once that time has come."""
    return "due now" if ts is None or ts <= now else _ago(ts, now)


def format_status(data: dict[str, Any]) -> str:
    now = data["now"]
    lines = [f"{'FEED':32} {'LAST POLL':10} {'RESULT':14} {'ERR':>3} {'ITEMS':>6} {'/DAY':>6} "
             "NEXT POLL"]
    for f in data["feeds"]:
        result = "GONE (410)" if f["gone"] else (f["result"] or "")
        lines.append(f"{f['feed'][:32]:32} {_ago(f['last_poll'], now):10} {result[:14]:14} "
                     f"{f['errors_in_a_row']:>3} {f['items']:>6} "
                     f"{'' if f['items_per_day'] is None else f['items_per_day']:>6} "
                     f"{_due(f['next_poll'], now)}")
        if f["last_error"]:
            lines.append(f"    last error: {short_error(f['last_error'], f['url'])}; "
                         f"last success: {_ago(f['last_success'], now)}")
        if f.get("polled_at"):
            why = ("the feed this page advertises; put it in the config"
                   if f["polled_at"] == f.get("advertised") else "moved permanently")
            lines.append(f"    polled at {f['polled_at']} ({why})")
        if f.get("held_by"):
            lines.append(f"    held by daemon {f['held_by']}")
        if f.get("articles_24h"):
            counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(
                f["articles_24h"].items(), key=lambda kv: (kv[0] != "ok", kv[0])))
            lines.append(f"    articles (24h): {counts}")
    lines.append("")
    lines.append(f"{'CHANNEL':24} {'PENDING':>7} {'SENT':>6} {'HELD':>5} ERROR")
    for c in data["channels"]:
        lines.append(f"{c['channel'][:24]:24} {c['pending']:>7} {c['sent']:>6} "
                     f"{c.get('held', 0):>5} {c['error'] or ''}")
    if data.get("daemons"):
        lines.append("")
        lines.append(f"{'DAEMON':32} {'LAST HEARTBEAT':16} FEEDS HELD")
        for d in data["daemons"]:
            lines.append(f"{str(d['daemon'])[:32]:32} {_ago(d['last_heartbeat'], now):16} "
                         f"{d['feeds_held']}")
    if data.get("slow_regexes"):
        lines.append("")
        lines.append(f"SLOW REGEXES (over {GUARD_BOUND:g}s on an item, counted as not matching it)")
        for r in data["slow_regexes"]:
            title = "".join(ch if ch.isprintable() else " " for ch in str(r["title"]))[:60]
            lines.append(f"{_ago(r['at'], now):10} profile {r['profile']}: {r['pattern']} on "
                         f"{r['item_key']!r} of {r['feed']} ({title})")
    return "\n".join(lines)


async def explain(config: Config, profile: str, source: str, *,
                  article: bool = True) -> dict[str, Any]:
    names = {p.name for p in config.profiles}
    if profile not in names:
        raise ConfigError(f"{config.path}: profiles: no profile {profile!r} "
                          f"(known: {', '.join(sorted(names))})")
    if source.startswith(("http://", "https://")):
        fetch = local_source(config)
        try:
            fetched = await fetch.fetch(FetchRequest(source))
        finally:
            await fetch.aclose()
        if fetched.parsed is None:
            raise ParseError(f"{source}: {fetched.parse_error}")
        parsed = fetched.parsed
    else:
        try:
            body = Path(source).read_bytes()
        except OSError as exc:
            raise WatcherError(f"{source}: cannot read: {exc.strerror}") from None
        # feedparser is loaded by the commands that parse in this process
        from watcher.parse import install_feedparser_patches, parse_feed

        install_feedparser_patches()
        parsed = parse_feed(body, headers={}, url=Path(source).resolve().as_uri())
    if parsed.html_page:
        raise ParseError(f"{source}: {html_page_problem(parsed.advertised)}")
    articles = await _teaser_articles(config, parsed.items) if article else {}
    matcher = Matcher({p.name: p.query for p in config.profiles}, dict(config.aliases))
    items = []
    for i, item in enumerate(parsed.items):
        page = articles.get(i)
        doc = Document(title=item.title, summary=item.summary, content=item.content,
                       author=item.author, categories=item.categories, feed=item.feed_name,
                       article=page.text if page else "")
        m = matcher.match_profile(profile, doc)
        items.append({"title": plain_text(item.title), "link": item.link, "matched": m is not None,
                      "article": None if page is None else {
                          "outcome": page.outcome, "detail": page.detail, "text": page.text},
                      "terms": list(m.terms) if m else [],
                      "hits": [{"field": h.field, "start": h.start, "end": h.end, "term": h.term}
                               for h in (m.hits if m else ())]})
    return {"profile": profile, "feed": parsed.title, "items": items,
            "matched": sum(i["matched"] for i in items)}


async def _teaser_articles(config: Config, items: Sequence[Item]) -> dict[int, Article]:
    """The linked pages of the teaser items (as `article = "auto"` fetches them)."""
    from watcher.article.policy import needs_article

    wanted = [i for i, item in enumerate(items) if needs_article(item, "auto")]
    if not wanted:
        return {}
    source = local_source(config)
    try:
        pages = await asyncio.gather(*(source.article(ArticleRequest(
            items[i].link or "", config.settings.timeout_seconds)) for i in wanted))
    finally:
        await source.aclose()
    return dict(zip(wanted, pages, strict=True))


def format_explain(data: dict[str, Any]) -> str:
    lines = [f"profile {data['profile']} on {data['feed'] or 'feed'}: "
             f"{data['matched']} of {len(data['items'])} item(s) match"]
    for item in data["items"]:
        mark = "MATCH" if item["matched"] else "  -  "
        terms = f"  terms: {', '.join(item['terms'])}" if item["terms"] else ""
        lines.append(f"{mark} {item['title']}{terms}")
        page = item.get("article")
        if page is not None and page["outcome"] == "ok":
            text = " ".join(page["text"].split())
            lines.append(f"      article: {text[:300]}{'…' if len(text) > 300 else ''}")
        elif page is not None:
            lines.append(f"      article: {page['outcome']}"
                         + (f" ({page['detail']})" if page["detail"] else ""))
    return "\n".join(lines)
