"""Poll one feed: fetch and parse (a `FetchSource`) → match → decide → one transaction.

`Pipeline.poll` puts the stages in order: the source fetches and parses (in worker
processes, or in this one), `record` reads what the store knows of the items, matches
those whose matches matter, asks watcher.decisions what to do with each (pure), and
applies that: items, stories and alerts written in the transaction that saves the feed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from dataclasses import dataclass, replace

from watcher.article.policy import needs_article
from watcher.config import FeedConfig
from watcher.decisions import (
    Candidate,
    Decision,
    Knowledge,
    Known,
    PlannedAlert,
    Rules,
    decide,
    match_window,
    needs_matching,
)
from watcher.dedup import StorySignature
from watcher.discover import advertised_key, html_page_problem
from watcher.errors import FetchError
from watcher.faults import crash_point
from watcher.models import Alert, Article, FetchResult, Match, ParsedFeed
from watcher.prepare import Prepared
from watcher.query import make_snippet
from watcher.query.guard import BOUND as GUARD_BOUND
from watcher.query.matcher import SlowRegex
from watcher.routing import Router
from watcher.schedule import adaptive_interval, next_poll, next_poll_after_failure
from watcher.source import ArticleRequest, FetchRequest, FetchSource
from watcher.store import FeedState, Store, StoredItem
from watcher.store.base import NewItem
from watcher.storyindex import CANDIDATES, COMMON, MEMBERS, print_of

log = logging.getLogger("watcher.pipeline")


@dataclass(frozen=True)
class PollOutcome:
    feed: str
    ok: bool
    status: str          # "new items", "no new items", "not modified", "unchanged", "error"
    items: int = 0       # items in the document
    new_items: int = 0   # items never seen before
    alerts: int = 0      # alerts queued
    error: str | None = None
    old_items: int = 0   # new items recorded silently as older than backfill


# meta key: the story items of a store from before the index are indexed
STORY_INDEX_BUILT = "story_index_built"


class Pipeline:
    """Runs the stages for one feed at a time; shares one fetch source and one store."""

    def __init__(self, router: Router, store: Store, source: FetchSource,
                 rng: random.Random | None = None) -> None:
        self.router = router
        self.store = store
        self.source = source
        self.rng = rng or random.Random()
        self.settings = router.config.settings
        self._article_slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._thread_edits = frozenset(name for name, cfg in router.config.channels.items()
                                       if getattr(cfg, "on_update", "ignore") == "thread")

    def index_old_stories(self, now: float) -> int:
        """Index the recent story items of a store written before the story index, so that
        copies of those stories still join them. Once per store (the meta key
        `story_index_built` says it was done): the search for them is a slow query, and
        every item stored since carries its keys."""
        if self.store.get_meta(STORY_INDEX_BUILT) is not None:
            return 0
        since = now - self.settings.story_window_seconds
        rows = self.store.unindexed_story_items(since)
        with self.store.transaction():
            for story_id, signature in rows:
                keys = print_of(StorySignature.loads(signature)).keys
                self.store.add_story_keys(story_id, keys, now)
            self.store.set_meta(STORY_INDEX_BUILT, "1")
        if rows:
            log.info("story index: %d recent story item(s) indexed", len(rows))
        return len(rows)

    async def poll(self, feed: FeedConfig, now: float) -> PollOutcome:
        state = self.store.feed(feed.url) or FeedState(url=feed.url)
        if state.gone:   # a 410 disabled it: it stays off (and says so in status)
            return PollOutcome(feed.label, False, "gone", error="HTTP 410 Gone: polling stopped")
        interval = self.router.config.feed_interval(feed)
        if self.router.config.is_adaptive(feed):   # interval = "auto": from recent arrivals
            lo, hi = self.settings.interval_bounds
            interval = adaptive_interval(self.store.arrivals(feed.url), now, lo, hi, interval)
        first_sight = state.first_polled_at is None
        request = FetchRequest(
            url=state.current_url or feed.url, etag=state.etag,
            last_modified=state.last_modified, known_hash=state.body_hash,
            feed_name=feed.name, known_items=frozenset((state.item_digests or "").split()),
            window=match_window(self._rules(now, first_sight)))
        try:
            fetched = await self.source.fetch(request)
        except FetchError as exc:
            return self._failed(feed, state, now, interval, str(exc), exc.kind, exc.retry_after,
                                gone=exc.status == 410)
        crash_point("after_fetch")
        result = fetched.result
        state = self._after_fetch(feed, state, result)
        if result.not_modified:
            return self._succeeded(feed, state, now, interval, "not modified")
        if fetched.digest == state.body_hash:
            return self._succeeded(feed, state, now, interval, "unchanged")
        parsed = fetched.parsed
        if parsed is None:
            return self._failed(feed, state, now, interval,
                                f"parse failure: {fetched.parse_error}", "hard", None)
        if parsed.html_page:
            return await self._html_page(feed, state, now, interval, parsed, request.url)
        if parsed.problem:
            log.info("feed %s: %s (items kept: %d)", feed.label, parsed.problem, len(parsed.items),
                     extra={"feed": feed.label})
        parsed = await self._with_articles(feed, parsed, now, first_sight)
        crash_point("after_articles")
        state = replace(state, body_hash=fetched.digest, title=parsed.title or state.title,
                        item_digests=" ".join(parsed.item_digests) or None)
        with self.store.transaction():
            recorded = self.record(feed, parsed, now, first_sight)
            crash_point("mid_transaction")
            self._save_success(feed, state, now, interval, "ok", recorded.new_items)
        return PollOutcome(feed.label, True,
                           "new items" if recorded.new_items else "no new items",
                           len(parsed.items) + parsed.unchanged, recorded.new_items,
                           recorded.alerts, old_items=recorded.old_items)

    async def _html_page(self, feed: FeedConfig, state: FeedState, now: float, interval: float,
                         parsed: ParsedFeed, url: str) -> PollOutcome:
        """The URL serves an HTML page: follow the feed it advertises (once, recorded as
        `current_url` and in the meta `advertised:URL`), or fail saying what it is."""
        key = advertised_key(feed.url)
        target = parsed.advertised[0] if parsed.advertised else None
        if target is None or target == url or self.store.get_meta(key) is not None:
            return self._failed(feed, state, now, interval, html_page_problem(parsed.advertised),
                                "hard", None)
        log.warning("feed %s: %s serves an HTML page; polling the feed it advertises from now "
                    "on: %s", feed.label, url, target, extra={"feed": feed.label})
        with self.store.transaction():
            self.store.set_meta(key, target)
            self.store.save_feed(replace(state, current_url=target, etag=None,
                                         last_modified=None, body_hash=None))
        return await self.poll(feed, now)

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
            arrivals = self.store.add_arrival(feed.url, now)
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
               first_sight: bool) -> Recorded:
        """Record every item of a document and queue its alerts; call inside a transaction.

        Read what the store knows of the items, match those whose matches matter, decide
        (watcher.decisions, pure), then apply the decisions here."""
        prepared = [Prepared.of(item) for item in parsed.items]
        rules = self._rules(now, first_sight)
        knowledge = self._knowledge(feed.url, [p.candidate for p in prepared])
        slow: list[tuple[SlowRegex, Candidate]] = []
        for p in prepared:
            if needs_matching(p.candidate, knowledge, rules):
                # matched where it was parsed, unless outside the window it was sent with
                # (an edit of an old item) or its article came since
                run = p.run if p.run is not None else self.router.matcher.run(p.doc)
                matches = tuple(self.router.scoped(run.matches, feed))
                c = p.candidate
                prt = (p.facts.story_print or c.print) if matches else None
                p.candidate = replace(c, matches=matches, story_print=prt)
                slow.extend((s, p.candidate) for s in run.slow)
        knowledge = self._with_stories(knowledge, [p.candidate for p in prepared], now)
        decisions = decide([p.candidate for p in prepared], knowledge, rules,
                           self.router.routes)
        self._report_slow(feed, slow, now)
        return self._apply(feed, prepared, decisions, now)

    def _report_slow(self, feed: FeedConfig, slow: list[tuple[SlowRegex, Candidate]],
                     now: float) -> None:
        """Record (for `watcher status`) and log, once per profile, pattern and item, each
        user regex of a profile reading this feed that reached its time bound on an item
        (it counted as not matching: query/guard.py)."""
        for s, c in slow:
            if not self.router.reads(self.router.profiles[s.profile], feed):
                continue
            if self.store.record_slow_regex(s.profile, s.pattern, feed.url, c.key, c.title, now):
                log.warning("profile %s: regex %s took over %gs on item %s of feed %s;"
                            " counted as not matching that item", s.profile, s.pattern,
                            GUARD_BOUND, c.key, feed.label,
                            extra={"profile": s.profile, "feed": feed.label, "item_key": c.key})

    def _rules(self, now: float, first_sight: bool) -> Rules:
        s = self.settings
        return Rules(now=now, first_sight=first_sight, backfill=s.backfill_seconds,
                     retention=s.retention_seconds, thread_edits=self._thread_edits)

    async def _with_articles(self, feed: FeedConfig, parsed: ParsedFeed, now: float,
                             first_sight: bool) -> ParsedFeed:
        """Each new teaser item with its linked page's text (`article` mode "auto"; every
        new item with "always"), fetched and extracted by the source, all at once and
        each within the fetch timeout. Known items, and new ones that will be recorded
        silently (too old, known elsewhere), fetch nothing."""
        mode = self.router.config.article_mode(feed)
        wanted = [i for i, item in enumerate(parsed.items) if needs_article(item, mode)]
        if not wanted:
            return parsed
        rules = self._rules(now, first_sight)
        candidates = [Prepared.of(parsed.items[i]).candidate for i in wanted]
        knowledge = self._knowledge(feed.url, candidates)
        fetch = [i for i, c in zip(wanted, candidates, strict=True)
                 if c.key not in knowledge.stored and needs_matching(c, knowledge, rules)]
        articles = await asyncio.gather(*(self._article(parsed.items[i].link or "")
                                          for i in fetch))
        items = list(parsed.items)
        for i, article in zip(fetch, articles, strict=True):
            items[i] = replace(items[i], article=article)
            if article.outcome != "ok":
                log.info("feed %s: no article for %s: %s%s", feed.label, items[i].link,
                         article.outcome, f" ({article.detail})" if article.detail else "",
                         extra={"feed": feed.label})
        return replace(parsed, items=tuple(items))

    def _slots(self) -> asyncio.Semaphore:
        """The article slots of the running loop (a pipeline may serve several runs)."""
        loop = asyncio.get_running_loop()
        if self._article_slots is None or self._article_slots[0] is not loop:
            self._article_slots = (loop, asyncio.Semaphore(max(1, self.settings.concurrency // 2)))
        return self._article_slots[1]

    async def _article(self, url: str) -> Article:
        """One page within the fetch timeout, counted from here: waiting for one of the
        article slots (half the connections, so feeds always keep the other half) and for
        a worker included. A page that is not done by then is a "timeout"."""
        timeout = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                async with self._slots():
                    return await self.source.article(ArticleRequest(url, timeout))
        except TimeoutError:
            return Article("timeout", detail=f"no article within {timeout:g}s")

    def _knowledge(self, feed_url: str, candidates: list[Candidate]) -> Knowledge:
        stored = {key: _known(row) for key, row in
                  self.store.items(feed_url, [c.key for c in candidates]).items()}   # one query
        tombstoned = self._tombstoned(feed_url, [c for c in candidates if c.key not in stored])
        unknown = [c for c in candidates if c.key not in stored and c.key not in tombstoned]
        if not unknown:
            return Knowledge(stored=stored, tombstoned=tombstoned)
        # the same URL or content stored under another key (two queries for the document)
        by_url, by_hash = self.store.known_by_identity(
            [u for c in unknown for u in (c.canonical_url, c.other_url) if u],
            [c.content_hash for c in unknown])
        elsewhere: dict[str, Known] = {}
        for c in unknown:
            row = ((by_url.get(c.canonical_url) if c.canonical_url else None)
                   or by_hash.get(c.content_hash)
                   or (by_url.get(c.other_url) if c.other_url else None))
            if row is not None:
                elsewhere.setdefault(c.key, _known(row))
        return Knowledge(stored=stored, elsewhere=elsewhere, tombstoned=tombstoned)

    def _tombstoned(self, feed_url: str, unknown: list[Candidate]) -> frozenset[str]:
        """The keys of these items the store does not hold whose key or canonical URL a
        pruned item left as a tombstone (two queries for the document, none if it holds
        every key)."""
        if not unknown:
            return frozenset()
        keys = self.store.tombstoned(feed_url, [c.key for c in unknown])
        by_url = {c.key: c.canonical_url for c in unknown
                  if c.canonical_url and c.key not in keys}
        urls = self.store.tombstoned_urls(list(by_url.values())) if by_url else set()
        return frozenset(keys | {key for key, url in by_url.items() if url in urls})

    def _with_stories(self, knowledge: Knowledge, candidates: list[Candidate],
                      now: float) -> Knowledge:
        """Add the candidate stories of the new items that matched (found through the story
        index: one lookup per item), and the channels of the stories that new or edited
        items may join or reply in."""
        edited = {k.story_id for c in candidates if (k := knowledge.stored.get(c.key))
                  and k.story_id is not None and k.content_hash != c.content_hash}
        fresh = [c for c in candidates if c.matches and c.key not in knowledge.stored]
        if not edited and not fresh:
            return knowledge
        since = now - self.settings.story_window_seconds
        ids: set[int] = set()
        for c in fresh:   # ranked by the store: one query per new matching item
            ids.update(self.store.story_candidates(c.print.probes, since, COMMON, CANDIDATES))
        stories = [(sid, _signature(sig))
                   for sid, sig in self.store.story_members(sorted(ids), since, MEMBERS)]
        return replace(knowledge, stories=stories,
                       story_channels=self.store.story_channels_of(sorted(edited | ids)))

    def _apply(self, feed: FeedConfig, prepared: list[Prepared], decisions: list[Decision],
               now: float) -> Recorded:
        started: dict[int, int] = {}   # stories started here: decisions' number → store id
        new_items = alerts = old_items = 0
        silent: list[NewItem] = []   # new items nothing refers to: stored together
        for p, d in zip(prepared, decisions, strict=True):
            if d.action == "ignore":
                continue
            story_id = started.get(d.story_id, d.story_id) if d.story_id is not None else None
            if d.existing is None:
                new_items += 1
                old_items += d.reason == "too_old"
                row = self._new_item(feed, p, d, None if d.story_print else story_id, now)
                if not d.alerts and d.story_print is None:
                    silent.append(row)
                    continue
                self.store.insert_items(silent)   # first, so ids keep the document's order
                silent.clear()
                item_id = self.store.insert_item(**row)
            else:
                item_id = d.existing.id
            if d.starts_story and d.story_id is not None and d.story_print is not None:
                story_id = started[d.story_id] = self.store.insert_story(
                    d.story_print.signature.dumps(), item_id, now)
            if d.story_print is not None and story_id is not None:
                self.store.update_item_story(item_id, story_id,
                                             d.story_print.signature.dumps())
                self.store.add_story_keys(story_id, d.story_print.keys, now)
            if d.existing is not None:
                c = d.candidate
                self.store.update_item(item_id, content_hash=c.content_hash, title=c.title,
                                       summary=p.summary, content=p.content,
                                       matched=list(d.matched), story_id=story_id)
            for planned in d.alerts:
                alerts += self._queue(self._alert(planned, p, story_id),
                                      _dedupe_key(planned, d, item_id), item_id,
                                      planned.urgent, now)
        self.store.insert_items(silent)
        return Recorded(new_items, alerts, old_items)

    def _new_item(self, feed: FeedConfig, p: Prepared, d: Decision, story_id: int | None,
                  now: float) -> NewItem:
        item, c = p.item, d.candidate
        return NewItem(
            feed_url=feed.url, key=c.key, canonical_url=c.canonical_url,
            content_hash=c.content_hash, feed_name=item.feed_name, title=c.title,
            link=item.link, summary=p.summary, content=p.content, author=item.author,
            categories=item.categories, published_at=c.published, seen_at=now,
            matched=list(d.matched), story_id=story_id,
            article=item.article.text if item.article else "",
            article_outcome=item.article.outcome if item.article else None)

    def _alert(self, planned: PlannedAlert, p: Prepared, story_id: int | None) -> Alert:
        matches = planned.matches
        terms = tuple(dict.fromkeys(t for m in matches for t in m.terms))
        snippet = make_snippet(p.doc, matches[0] if matches else _EMPTY)
        item = p.item
        return Alert(id=0, channel=planned.channel, kind=planned.kind,
                     profiles=tuple(m.profile for m in matches),
                     title=p.candidate.title or "(no title)", link=item.link or "",
                     feed=item.feed_name, published=item.published, snippet=snippet,
                     terms=terms, story_id=story_id)

    def _queue(self, alert: Alert, dedupe_key: str, item_id: int, urgent: bool,
               now: float) -> int:
        added = self.store.add_alert(alert, dedupe_key=dedupe_key, item_id=item_id,
                                     urgent=urgent, now=now)
        if added is not None:
            log.info("alert queued for %s: %s [%s]", alert.channel, alert.title,
                     ", ".join(alert.profiles),
                     extra={"channel": alert.channel, "profile": ",".join(alert.profiles)})
        return 0 if added is None else 1


def _dedupe_key(planned: PlannedAlert, d: Decision, item_id: int) -> str:
    """One alert per story (or update, or edit) per channel: the store's unique key.

    A new alert's key is the item's canonical URL (or content hash), so daemons sharing a
    store that meet the same article at once queue it once: the store decides, not timing."""
    if planned.kind == "new":
        return f"new:{d.candidate.identity}"
    if planned.kind == "edit":
        return f"edit:{item_id}:{d.candidate.content_hash}"
    return f"{planned.kind}:{item_id}"


@functools.lru_cache(maxsize=128)
def _signature(stored: str) -> StorySignature:
    """A stored story signature, parsed once while its story is active: a story's members
    are compared with each new copy, and each keeps the word pairs it computed for that."""
    return StorySignature.loads(stored)


def _known(row: StoredItem) -> Known:
    return Known(row.id, row.content_hash, row.title, row.matched, row.story_id)


_EMPTY = Match(profile="", terms=())


@dataclass(frozen=True)
class Recorded:
    """What recording one document did."""

    new_items: int     # items never seen before, now stored
    alerts: int        # alerts queued
    old_items: int     # new items recorded silently as older than backfill or retention
