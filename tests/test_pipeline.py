"""Pipeline.record on an in-memory store: backfill, retention, pruning, known items."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.config import FeedConfig, load_config
from watcher.decisions import Knowledge
from watcher.engine import local_source
from watcher.models import Item, Match, ParsedFeed
from watcher.pipeline import Pipeline
from watcher.prepare import Prepared
from watcher.routing import Router
from watcher.store import open_store

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    path = tmp_path / "w.toml"
    path.write_text("""
[watcher]
retention = "30d"
backfill = "24h"
[[feeds]]
url = "https://a.example/feed"
[[profiles]]
name = "S-400"
query = "S-400"
[channels.console]
type = "console"
""")
    config = load_config(path, {})
    return Pipeline(Router(config), open_store(":memory:"), local_source(config))


def feed_doc(*items: Item) -> ParsedFeed:
    return ParsedFeed(title="A", items=tuple(items))


def s400(n: int, published: float | None) -> Item:
    return Item(feed_url="https://a.example/feed", feed_name="A", guid=f"id-{n}",
                link=f"https://a.example/{n}", title=f"S-400 story {n}",
                summary=f"Text number {n} about Turkey's S-400 systems and item {n * 31}.",
                published=datetime.fromtimestamp(published, UTC) if published else None)


def record(pipeline: Pipeline, feed: FeedConfig, doc: ParsedFeed, now: float, *,
           first_sight: bool) -> tuple[int, int]:
    """(new items, alerts queued) of one document."""
    done = pipeline.record(feed, doc, now, first_sight)
    return done.new_items, done.alerts


def test_first_sight_records_old_and_undated_items_silently(pipeline: Pipeline) -> None:
    feed = pipeline.router.config.feeds[0]
    done = pipeline.record(feed, feed_doc(s400(1, NOW - 2 * DAY), s400(2, None),
                                          s400(3, NOW - 60)), NOW, first_sight=True)
    assert (done.new_items, done.alerts, done.old_items) == (3, 1, 2)


def test_items_older_than_retention_never_alert(pipeline: Pipeline) -> None:
    feed = pipeline.router.config.feeds[0]
    done = pipeline.record(feed, feed_doc(s400(1, NOW - 40 * DAY)), NOW, first_sight=False)
    assert (done.alerts, done.old_items) == (0, 1)


def test_prune_forgets_old_items_but_they_do_not_come_back(pipeline: Pipeline) -> None:
    feed = pipeline.router.config.feeds[0]
    store = pipeline.store
    old = NOW - 31 * DAY
    pipeline.record(feed, feed_doc(s400(1, old)), old, first_sight=False)
    assert store.item(feed.url, "id:id-1") is not None
    removed = store.prune(NOW - 30 * DAY)
    assert removed == 1 and store.item(feed.url, "id:id-1") is None
    assert pipeline.record(feed, feed_doc(s400(1, old)), NOW, first_sight=False).alerts == 0


def test_pending_alerts_survive_pruning(pipeline: Pipeline) -> None:
    feed = pipeline.router.config.feeds[0]
    old = NOW - 31 * DAY
    pipeline.record(feed, feed_doc(s400(1, old)), old, first_sight=False)
    pipeline.store.prune(NOW - 30 * DAY)
    assert len(pipeline.store.pending("console")) == 1


def test_same_document_twice_records_nothing_new(pipeline: Pipeline) -> None:
    feed = pipeline.router.config.feeds[0]
    doc = feed_doc(s400(1, NOW), s400(2, NOW))
    assert record(pipeline, feed, doc, NOW, first_sight=False) == (2, 2)
    assert record(pipeline, feed, doc, NOW + 60, first_sight=False) == (0, 0)
    partial = feed_doc(s400(2, NOW))  # a partial fetch: item 1 missing, nothing is forgotten
    assert record(pipeline, feed, partial, NOW + 120, first_sight=False) == (0, 0)
    assert record(pipeline, feed, doc, NOW + 180, first_sight=False) == (0, 0)


def test_a_guid_twice_in_one_document_is_one_item(pipeline: Pipeline) -> None:
    """Items are looked up in one query per document: a guid repeated within the document
    (as some feeds do) meets the copy just stored, the same as in the next poll."""
    feed = pipeline.router.config.feeds[0]
    first = s400(1, NOW)
    edited = Item(**{**first.__dict__, "summary": first.summary + " Updated: Ankara replied."})
    assert record(pipeline, feed, feed_doc(first, first), NOW, first_sight=False) == (1, 1)
    stored = pipeline.store.item(feed.url, "id:id-1")
    assert stored is not None
    assert record(pipeline, feed, feed_doc(s400(2, NOW), edited, edited), NOW + 60,
                           first_sight=False) == (1, 1)
    again = pipeline.store.item(feed.url, "id:id-1")
    assert again is not None and again.id == stored.id
    assert again.content_hash != stored.content_hash   # the edit was recorded, once


def test_a_new_item_is_compared_only_with_the_stories_the_index_finds(
        pipeline: Pipeline) -> None:
    """200 unrelated stories in the window: a near-copy of one of them meets that story
    and a handful of others through the story index, never all 200, and joins it."""
    feed = pipeline.router.config.feeds[0]
    topics = ["radar", "frigate", "drone", "tank", "missile", "satellite", "corvette", "jet"]
    for n in range(200):
        t = topics[n % 8]
        item = Item(feed_url=feed.url, feed_name="A", guid=f"u-{n}", link=f"https://a.example/u{n}",
                    title=f"S-400 {t} story {n} in province {n * 7}",
                    summary=f"Officials in district {n} said the {t} contract number {n * 13} "
                            f"was signed with supplier {n * 17} after talks lasting {n} weeks "
                            f"on {t} deliveries.")
        pipeline.record(feed, feed_doc(item), NOW - 3600 + n, first_sight=False)
    target = pipeline.store.item(feed.url, "id:u-42")
    assert target is not None and target.story_id is not None
    copy = Item(feed_url=feed.url, feed_name="A", guid="copy", link="https://b.example/copy",
                title="S-400 drone story 42 in province 294 (update)",
                summary="Officials in district 42 said the drone contract number 546 was "
                        "signed with supplier 714 after talks lasting 42 weeks on drone "
                        "deliveries.")
    prepared = [Prepared.of(copy)]
    c = replace(prepared[0].candidate, matches=(Match("S-400", ("S-400",)),))
    knowledge = pipeline._with_stories(Knowledge(), [c], NOW)
    compared = {sid for sid, _ in knowledge.stories}
    assert target.story_id in compared and len(compared) <= 20
    pipeline.record(feed, feed_doc(copy), NOW, first_sight=False)
    joined = pipeline.store.item(feed.url, "id:copy")
    assert joined is not None and joined.story_id == target.story_id


def test_story_items_from_before_the_index_are_indexed_once(pipeline: Pipeline) -> None:
    """A store written before the story index: its recent story items get their keys at
    the first start, so a copy still joins their story; the search is not run again."""
    from watcher.pipeline import STORY_INDEX_BUILT
    from watcher.storyindex import story_print

    store = pipeline.store
    item = s400(1, NOW)
    sig = story_print(item.title, item.summary).signature.dumps()
    with store.transaction():   # as the store held it before migration 7: no keys
        item_id = store.insert_item(
            feed_url="https://old.example/feed", key="id:old", canonical_url=None,
            content_hash="h", feed_name="Old", title=item.title, link=None,
            summary=item.summary, content="", author="", categories=[], published_at=NOW,
            seen_at=NOW, matched=["S-400"], story_id=None)
        story = store.insert_story(sig, item_id, NOW)
        store.update_item_story(item_id, story, sig)
    assert pipeline.index_old_stories(NOW) == 1
    assert store.get_meta(STORY_INDEX_BUILT) == "1"
    assert store.unindexed_story_items(NOW - DAY) == []
    feed = pipeline.router.config.feeds[0]
    copy = replace(item, guid="copy", link="https://a.example/copy")
    pipeline.record(feed, feed_doc(copy), NOW + 60, first_sight=False)
    joined = store.item(feed.url, "id:copy")
    assert joined is not None and joined.story_id == story
    with store.transaction():   # an unindexed story item now: the search is not run again
        other = store.insert_story(sig, item_id, NOW)
        store.update_item_story(item_id, other, sig)
    assert pipeline.index_old_stories(NOW) == 0
    assert store.unindexed_story_items(NOW - DAY) == [(other, sig)]


def _outcome(pipeline: Pipeline) -> tuple[object, ...]:
    """What a store holds after recording: items (key, profiles, story) and alerts."""
    store = pipeline.store
    items = [(r["item_key"], r["matched"], r["story_id"]) for r in store.items_since(0)]
    alerts = [(a.channel, a.alert.kind, a.alert.title, a.alert.snippet.text)
              for a in store.pending("console")]
    return tuple(sorted(items, key=str)), tuple(alerts)


def test_items_matched_where_parsed_record_what_matching_here_records(tmp_path: Path) -> None:
    """The workers' facts (texts, keys, matches, prints) lead to the same items, stories
    and alerts as the pipeline's own matching, over first sight, edits and copies."""
    from watcher.decisions import Rules, match_window
    from watcher.engine import profiles_of
    from watcher.prepare import with_facts

    def fresh() -> Pipeline:
        config = load_config(tmp_path / "w.toml", {})
        return Pipeline(Router(config), open_store(":memory:"), local_source(config))

    (tmp_path / "w.toml").write_text(
        '[watcher]\nretention = "30d"\nbackfill = "24h"\n[[feeds]]\nurl = "https://a.example/feed"\n'
        '[[profiles]]\nname = "S-400"\nquery = "S-400"\n'
        '[[profiles]]\nname = "text"\nquery = "text NEAR/3 number"\n'
        '[channels.console]\ntype = "console"\n')
    old = s400(1, NOW - 2 * DAY)
    docs = [(feed_doc(s400(1, NOW - 2 * DAY), s400(2, NOW - 60), s400(3, None)), NOW, True),
            (feed_doc(replace(old, summary=old.summary + " Update."), s400(4, NOW + 30),
                      replace(s400(5, NOW + 40), guid="copy-of-2", summary=s400(2, 0).summary,
                              title=s400(2, 0).title)), NOW + 60, False)]
    here, there = fresh(), fresh()
    matcher = profiles_of(there.router.config).matcher()
    for doc, now, first_sight in docs:
        feed = here.router.config.feeds[0]
        here.record(feed, doc, now, first_sight)
        window = match_window(Rules(now=now, first_sight=first_sight, backfill=DAY,
                                    retention=30 * DAY))
        there.record(feed, with_facts(doc, matcher, window), now, first_sight)
    assert _outcome(here) == _outcome(there)
    assert len(_outcome(here)[1]) >= 3


def test_the_pipeline_trusts_the_match_run_of_the_facts_and_matches_the_rest(
        pipeline: Pipeline) -> None:
    """Facts matched where the item was parsed are used as they are (a matcher without
    the profile finds nothing, so nothing alerts); an item outside their window (an edit
    of an old item) is matched here."""
    from watcher.decisions import MatchWindow
    from watcher.prepare import Profiles, with_facts

    feed = pipeline.router.config.feeds[0]
    blind = Profiles({"S-400": "nothing-here"}, {}).matcher()
    inside = with_facts(feed_doc(s400(1, NOW - 60)), blind, MatchWindow(NOW - DAY, True))
    assert pipeline.record(feed, inside, NOW, first_sight=False).alerts == 0
    old = replace(s400(2, NOW - 3 * DAY), title="Story 2", summary="Nothing to see.")
    assert pipeline.record(feed, feed_doc(old), NOW, first_sight=False).alerts == 0
    edit = replace(old, summary="Now about the S-400.")   # outside the window: matched here
    outside = with_facts(feed_doc(edit), blind, MatchWindow(NOW - DAY, True))
    assert outside.items[0].facts is not None and outside.items[0].facts.run is None
    done = pipeline.record(feed, outside, NOW + 60, first_sight=False)
    stored = pipeline.store.item(feed.url, "id:id-2")
    assert stored is not None and stored.matched == ("S-400",)
    assert (done.new_items, done.alerts) == (0, 1)
