"""Poll one feed: fetch → parse → match → dedup → one transaction (items, stories, alerts)."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from watcher.config import FeedConfig
from watcher.dedup import (
    StorySignature,
    canonical_url,
    content_hash,
    find_story,
    item_key,
    story_signature,
)
from watcher.errors import FetchError, ParseError
from watcher.faults import crash_point
from watcher.fetchpool import Fetched, FetchPool
from watcher.models import Alert, FetchResult, Item, Match, ParsedFeed
from watcher.query import Document, make_snippet, plain_text
from watcher.query.guard import BOUND as GUARD_BOUND
from watcher.routing import Route, Router
from watcher.schedule import (
    adaptive_interval,
    arrivals_key,
    dumps_arrivals,
    loads_arrivals,
    next_poll,
    next_poll_after_failure,
    remember_arrival,
)
from watcher.store import FeedState, Store, StoredItem

if TYPE_CHECKING:   # the in-process path imports them when used (see `_fetch`, `_digest`)
    from watcher.fetch import Fetcher

log = logging.getLogger("watcher.pipeline")


@dataclass(frozen=True)
class PollOutcome:
    feed: str
    ok: bool
    status: str          # "new items", "not modified", "unchanged", "error"
    items: int = 0       # items in the document
    new_items: int = 0   # items never seen before
    alerts: int = 0      # alerts queued
    error: str | None = None


class Pipeline:
    """Runs the stages for one feed at a time; shares one fetcher and one store."""

    def __init__(self, router: Router, store: Store, fetcher: Fetcher | None,
                 rng: random.Random | None = None) -> None:
        """`fetcher` fetches here, or the engine sets `remote` (then it may be None)."""
        self.parse = parse_in_thread
        self.router = router
        self.store = store
        self.fetcher = fetcher
        # set by the engine: fetch and parse in worker processes instead of fetcher + parse
        self.remote: FetchPool | None = None
        self.rng = rng or random.Random()
        self.settings = router.config.settings

    async def poll(self, feed: FeedConfig, now: float) -> PollOutcome:
        state = self.store.feed(feed.url) or FeedState(url=feed.url)
        if state.gone:   # a 410 disabled it: it stays off (and says so in status)
            return PollOutcome(feed.label, False, "gone", error="HTTP 410 Gone: polling stopped")
        interval = self.router.config.feed_interval(feed)
        if self.router.config.is_adaptive(feed):   # interval = "auto": from recent arrivals
            lo, hi = self.settings.interval_bounds
            arrivals = loads_arrivals(self.store.get_meta(arrivals_key(feed.url)))
            interval = adaptive_interval(arrivals, now, lo, hi, interval)
        url = state.current_url or feed.url
        try:
            fetched = await self._fetch(url, state, feed.name)
        except FetchError as exc:
            return self._failed(feed, state, now, interval, str(exc), exc.kind, exc.retry_after,
                                gone=exc.status == 410)
        crash_point("after_fetch")
        result = fetched.result
        state = self._after_fetch(feed, state, result)
        if result.not_modified:
            return self._succeeded(feed, state, now, interval, "not modified")
        digest = fetched.digest or _body_hash(result.body)
        if digest == state.body_hash:
            return self._succeeded(feed, state, now, interval, "unchanged")
        try:
            if fetched.parse_error is not None:
                raise ParseError(fetched.parse_error)
            parsed = fetched.parsed
            if parsed is None:
                parsed = await self.parse(result.body, result.headers, result.final_url,
                                          feed.name)
        except ParseError as exc:
            return self._failed(feed, state, now, interval, f"parse failure: {exc}", "hard", None)
        if parsed.problem:
            log.info("feed %s: %s (items kept: %d)", feed.label, parsed.problem, len(parsed.items),
                     extra={"feed": feed.label})
        first_sight = state.first_polled_at is None
        state = replace(state, body_hash=digest, title=parsed.title or state.title,
                        item_digests=" ".join(parsed.item_digests) or None)
        with self.store.transaction():
            new_items, alerts = self.record(feed, parsed, now, first_sight)
            crash_point("mid_transaction")
            self._save_success(feed, state, now, interval, "ok", new_items)
        return PollOutcome(feed.label, True, "new items" if new_items else "no new items",
                           len(parsed.items) + parsed.unchanged, new_items, alerts)

    async def _fetch(self, url: str, state: FeedState, feed_name: str | None) -> Fetched:
        """Fetch here (parsing comes after), or fetch and parse in a worker process."""
        if self.remote is not None:
            return await self.remote.fetch(url, etag=state.etag,
                                           last_modified=state.last_modified,
                                           known_hash=state.body_hash, feed_name=feed_name,
                                           known_items=state.item_digests)
        if self.fetcher is None:
            raise RuntimeError("a pipeline needs a fetcher or a fetch pool")
        return Fetched(await self.fetcher.fetch(url, etag=state.etag,
                                                last_modified=state.last_modified))

    # -- feed state -----------------------------------------------------------------------
    def _after_fetch(self, feed: FeedConfig, state: FeedState, result: FetchResult) -> FeedState:
        current = state.current_url
        if result.permanent_redirect and result.final_url != (state.current_url or feed.url):
            log.warning("feed %s moved permanently to %s; polling the new URL from now on",
                        feed.label, result.final_url, extra={"feed": feed.label})
            current = result.final_url
        return replace(state, current_url=current,
                       etag=result.etag or (state.etag if result.not_modified else None),
                       last_modified=result.last_modified
                       or (state.last_modified if result.not_modified else None))

    def _succeeded(self, feed: FeedConfig, state: FeedState, now: float, interval: float,
                   status: str) -> PollOutcome:
        with self.store.transaction():
            self._save_success(feed, state, now, interval, status, 0)
        return PollOutcome(feed.label, True, status)

    def _save_success(self, feed: FeedConfig, state: FeedState, now: float, interval: float,
                      status: str, new_items: int) -> None:
        if new_items:   # remember when new items came, for adaptive intervals and health
            key = arrivals_key(feed.url)
            arrivals = remember_arrival(loads_arrivals(self.store.get_meta(key)), now)
            self.store.set_meta(key, dumps_arrivals(arrivals))
            if self.router.config.is_adaptive(feed):
                lo, hi = self.settings.interval_bounds
                interval = adaptive_interval(arrivals, now, lo, hi, interval)
        self.store.save_feed(replace(
            state, first_polled_at=state.first_polled_at or now, last_poll_at=now,
            last_success_at=now, last_status=status, last_error=None, error_kind=None,
            consecutive_failures=0, next_poll_at=next_poll(now, interval, self.rng),
            items_total=state.items_total + new_items,
            last_new_item_at=now if new_items else state.last_new_item_at))

    def _failed(self, feed: FeedConfig, state: FeedState, now: float, interval: float,
                error: str, kind: str, retry_after: float | None,
                gone: bool = False) -> PollOutcome:
        failures = state.consecutive_failures + 1
        log.warning("feed %s: %s (%d in a row)", feed.label, error, failures,
                    extra={"feed": feed.label})
        if gone:
            log.error("feed %s is gone (HTTP 410): polling stopped; remove it from the config "
                      "or give it a new URL", feed.label, extra={"feed": feed.label})
        with self.store.transaction():
            self.store.save_feed(replace(
                state, last_poll_at=now, last_status="gone" if gone else "error",
                last_error=error, error_kind=kind, consecutive_failures=failures, gone=gone,
                next_poll_at=next_poll_after_failure(now, interval, failures, retry_after,
                                                     self.rng)))
        return PollOutcome(feed.label, False, "error", error=error)

    # -- items ----------------------------------------------------------------------------
    def record(self, feed: FeedConfig, parsed: ParsedFeed, now: float,
               first_sight: bool) -> tuple[int, int]:
        """Record every item of a document and queue its alerts; call inside a transaction."""
        new_items = alerts = 0
        prepared = [_Prepared.of(item) for item in parsed.items]
        stored = self.store.items(feed.url, [p.key for p in prepared])   # one query
        recorded: set[str] = set()
        for p in prepared:
            # a key met twice in one document: the first one may just have been stored
            existing = self.store.item(feed.url, p.key) if p.key in recorded \
                else stored.get(p.key)
            recorded.add(p.key)
            added, queued = self._record_item(feed, p, existing, now, first_sight)
            new_items += added
            alerts += queued
        return new_items, alerts

    def _record_item(self, feed: FeedConfig, p: _Prepared, existing: StoredItem | None,
                     now: float, first_sight: bool) -> tuple[int, int]:
        item, title, summary, content, chash, key = (p.item, p.title, p.summary, p.content,
                                                     p.chash, p.key)
        if existing is not None and existing.content_hash == chash:
            return 0, 0   # known and unchanged: most items of a changed document
        doc = Document(title=item.title, summary=item.summary, content=item.content,
                       author=item.author, categories=item.categories, feed=item.feed_name)
        if existing is not None:
            return 0, self._edited(feed, item, doc, existing, title, summary, content, chash, now)
        canon = canonical_url(item.link) if item.link else None
        published = item.published.timestamp() if item.published else None
        known = self.store.known_elsewhere(canon, chash)
        if known is not None or self._too_old(published, now, first_sight):
            self.store.insert_item(
                feed_url=feed.url, key=key, canonical_url=canon, content_hash=chash,
                feed_name=item.feed_name, title=title, link=item.link, summary=summary,
                content=content, author=item.author, categories=item.categories,
                published_at=published, seen_at=now,
                matched=known.matched if known else (), story_id=known.story_id if known else None)
            return 1, 0
        matches = self._match(feed, doc, key, title, now)
        item_id = self.store.insert_item(
            feed_url=feed.url, key=key, canonical_url=canon, content_hash=chash,
            feed_name=item.feed_name, title=title, link=item.link, summary=summary,
            content=content, author=item.author, categories=item.categories,
            published_at=published, seen_at=now, matched=[m.profile for m in matches],
            story_id=None)
        if not matches:
            return 1, 0
        identity = f"url:{canon}" if canon else f"hash:{chash}"
        return 1, self._story_alerts(feed, item, doc, item_id, title, summary, matches, now,
                                     identity)

    def _match(self, feed: FeedConfig, doc: Document, key: str, title: str,
               now: float) -> list[Match]:
        """The profiles reading this feed that match the item. A user regex that reached its
        time bound on it counted as not matching (query/guard.py); each such profile and
        item is recorded for `watcher status` and logged, once."""
        run = self.router.matcher.run(doc)
        for slow in run.slow:
            if not self.router.reads(self.router.profiles[slow.profile], feed):
                continue
            if self.store.record_slow_regex(slow.profile, slow.pattern, feed.url, key, title,
                                            now):
                log.warning("profile %s: regex %s took over %gs on item %s of feed %s;"
                            " counted as not matching that item", slow.profile, slow.pattern,
                            GUARD_BOUND, key, feed.label,
                            extra={"profile": slow.profile, "feed": feed.label, "item_key": key})
        return self.router.scoped(run.matches, feed)

    def _too_old(self, published: float | None, now: float, first_sight: bool) -> bool:
        """Items older than the backfill on a first poll, or than the retention, are silent."""
        if first_sight and (published is None or published < now - self.settings.backfill_seconds):
            return True
        return published is not None and published < now - self.settings.retention_seconds

    def _story_alerts(self, feed: FeedConfig, item: Item, doc: Document, item_id: int, title: str,
                      summary: str, matches: list[Match], now: float, identity: str) -> int:
        """Queue a new story's alerts, or join a recent story (thread replies).

        A new alert's dedupe key is the item's canonical URL (or content hash), so daemons
        sharing a store that meet the same article at once queue it once: the store's unique
        (channel, dedupe_key) constraint decides, not timing.
        """
        sig = story_signature(title, summary)
        recent = [(sid, StorySignature.loads(s)) for sid, s in
                  self.store.recent_stories(now - self.settings.story_window_seconds)]
        story_id = find_story(sig, recent)
        queued = 0
        if story_id is not None:
            self.store.update_item_story(item_id, story_id, sig.dumps())
            reached = set(self.store.story_channels(story_id))
            for channel in sorted(reached):
                alert = self._alert(channel, "also", matches, item, doc, title, story_id)
                queued += self._queue(alert, f"also:{item_id}", item_id, False, now)
            routes = [r for r in self.router.routes(matches) if r.channel not in reached]
        else:
            story_id = self.store.insert_story(sig.dumps(), item_id, now)
            self.store.update_item_story(item_id, story_id, sig.dumps())
            routes = self.router.routes(matches)
        for route in routes:
            alert = self._alert(route.channel, "new", list(route.matches), item, doc, title,
                                story_id)
            queued += self._queue(alert, f"new:{identity}", item_id, route.urgent, now)
        return queued

    def _edited(self, feed: FeedConfig, item: Item, doc: Document, existing: StoredItem, title: str,
                summary: str, content: str, chash: str, now: float) -> int:
        matches = self._match(feed, doc, existing.item_key, title, now)
        fresh = [m for m in matches if m.profile not in existing.matched]
        queued = 0
        story_id = existing.story_id
        if fresh:
            if story_id is None:
                sig = story_signature(title, summary).dumps()
                story_id = self.store.insert_story(sig, existing.id, now)
                self.store.update_item_story(existing.id, story_id, sig)
            for route in self.router.routes(fresh):
                alert = self._alert(route.channel, "update", list(route.matches), item, doc,
                                    title, story_id)
                queued += self._queue(alert, f"update:{existing.id}", existing.id, route.urgent,
                                      now)
        elif title != existing.title and story_id is not None:
            for channel in self.store.story_channels(story_id):
                cfg = self.router.config.channels.get(channel)
                if cfg is not None and cfg.on_update == "thread":
                    alert = self._alert(channel, "edit", matches, item, doc, title, story_id)
                    queued += self._queue(alert, f"edit:{existing.id}:{chash}", existing.id,
                                          False, now)
        matched = list(dict.fromkeys([*existing.matched, *(m.profile for m in matches)]))
        self.store.update_item(existing.id, content_hash=chash, title=title, summary=summary,
                               content=content, matched=matched, story_id=story_id)
        return queued

    def _alert(self, channel: str, kind: str, matches: list[Match], item: Item, doc: Document,
               title: str, story_id: int | None) -> Alert:
        terms = tuple(dict.fromkeys(t for m in matches for t in m.terms))
        snippet = make_snippet(doc, matches[0]) if matches else make_snippet(doc, _EMPTY)
        return Alert(id=0, channel=channel, kind=kind,
                     profiles=tuple(m.profile for m in matches), title=title or "(no title)",
                     link=item.link or "", feed=item.feed_name, published=item.published,
                     snippet=snippet, terms=terms, story_id=story_id)

    def _queue(self, alert: Alert, dedupe_key: str, item_id: int, urgent: bool,
               now: float) -> int:
        added = self.store.add_alert(alert, dedupe_key=dedupe_key, item_id=item_id,
                                     urgent=urgent, now=now)
        if added is not None:
            log.info("alert queued for %s: %s [%s]", alert.channel, alert.title,
                     ", ".join(alert.profiles),
                     extra={"channel": alert.channel, "profile": ",".join(alert.profiles)})
        return 0 if added is None else 1


_EMPTY = Match(profile="", terms=())


@dataclass(frozen=True)
class _Prepared:
    """An item's plain texts, content hash and per-feed key."""

    item: Item
    title: str
    summary: str
    content: str
    chash: str
    key: str

    @classmethod
    def of(cls, item: Item) -> _Prepared:
        summary, content = plain_text(item.summary), plain_text(item.content)
        title = plain_text(item.title)
        text = f"{summary}\n{content}"
        return cls(item, title, summary, content, content_hash(title, text),
                   item_key(item.guid, item.link, title, text))


# The in-process path: watcher.parse (feedparser) is imported when first used, so that
# the daemon's process never loads it while its workers parse.

def _body_hash(body: bytes) -> str:
    from watcher.parse import body_hash

    return body_hash(body)


async def parse_in_thread(body: bytes, headers: dict[str, str], url: str,
                          feed_name: str | None) -> ParsedFeed:
    """Parse off the event loop's thread (the engine may swap in a process pool)."""
    from watcher.parse import parse_feed

    return await asyncio.to_thread(parse_feed, body, headers=headers, url=url,
                                   feed_name=feed_name)


__all__ = ["Pipeline", "PollOutcome", "Route"]
