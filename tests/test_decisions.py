"""watcher.decisions: every rule of the README's Duplicates section, in memory (pure).

Each case gives the items of one document, what the store knows of them and the time,
and expects one (action, reason) per item, plus the alerts planned. No store, no clock,
no subprocess: the whole file runs in well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from watcher.decisions import (
    NEW_STORY_BASE,
    Candidate,
    Decision,
    Knowledge,
    Known,
    Rules,
    decide,
    is_new_story,
    match_window,
    needs_matching,
    too_old,
)
from watcher.dedup import story_signature
from watcher.models import Match
from watcher.routing import Route

DAY = 86400.0
NOW = 1_800_000_000.0
S400 = Match("S-400", ("S-400",))
SUBS = Match("submarines", ("submarine",))
TITLE = "Turkey weighs a second S-400 batch"
SUMMARY = ("Ankara is in talks with Moscow over a second batch of S-400 air defence systems, "
           "the defence minister said on Tuesday after a cabinet meeting in the capital.")
OTHER_TITLE = "Turkey launches its fourth Reis-class submarine"
OTHER_SUMMARY = ("The Gölcük shipyard floated out the fourth Type 214 boat of the Reis class on "
                 "Friday, the navy said, with two more hulls due before the end of the decade.")
CHANNELS = {"S-400": ("slack", "mail"), "submarines": ("slack",)}


def routes(matches: Sequence[Match]) -> list[Route]:
    """The config's routes for these tests: S-400 to slack and mail, submarines to slack."""
    by: dict[str, list[Match]] = {}
    for m in matches:
        for ch in CHANNELS[m.profile]:
            by.setdefault(ch, []).append(m)
    return [Route(ch, tuple(ms), ch == "mail") for ch, ms in by.items()]


def cand(key: str = "id:1", *, url: str | None = "https://a.example/1", chash: str = "h1",
         title: str = TITLE, summary: str = SUMMARY, published: float | None = NOW - 60,
         matches: tuple[Match, ...] = (S400,)) -> Candidate:
    return Candidate(key=key, canonical_url=url, content_hash=chash, title=title,
                     summary=summary, published=published, matches=matches)


def known(id_: int = 5, *, chash: str = "h1", title: str = TITLE,
          matched: tuple[str, ...] = ("S-400",), story: int | None = 9) -> Known:
    return Known(id_, chash, title, matched, story)


def rules(*, first_sight: bool = False, thread: frozenset[str] = frozenset()) -> Rules:
    return Rules(now=NOW, first_sight=first_sight, backfill=DAY, retention=30 * DAY,
                 thread_edits=thread)


def run(items: Sequence[Candidate], k: Knowledge | None = None,
        r: Rules | None = None) -> list[Decision]:
    return decide(items, k or Knowledge(), r or rules(), routes)


def kinds(d: Decision) -> list[tuple[str, str]]:
    return [(a.channel, a.kind) for a in d.alerts]


SIG = story_signature(TITLE, SUMMARY)
COPY = cand("id:copy", url="https://b.example/copy", chash="h2",
            title="Turkey in talks on second S-400 batch",
            summary="ANKARA (Reuters) - " + SUMMARY)

# (name, document, knowledge, rules, expected (action, reason) per item)
CASES: list[tuple[str, list[Candidate], Knowledge, Rules,
                  list[tuple[str, str]]]] = [
    ("a new matching item starts a story", [cand()], Knowledge(), rules(),
     [("alert", "new_story")]),
    ("a new item that matches nothing is recorded", [cand(matches=())], Knowledge(), rules(),
     [("record", "no_match")]),
    ("a known key with the same content is ignored", [cand()],
     Knowledge(stored={"id:1": known()}), rules(), [("ignore", "unchanged")]),
    ("a key tombstoned by pruning never comes back", [cand(published=None)],
     Knowledge(tombstoned=frozenset({"id:1"})), rules(), [("ignore", "tombstone")]),
    ("a key met twice in one document: the first copy counts",
     [cand(), cand(chash="other")], Knowledge(), rules(),
     [("alert", "new_story"), ("ignore", "repeated")]),
    ("the same canonical URL or content under a new key is known",
     [cand("id:new", chash="hx")], Knowledge(elsewhere={"id:new": known()}), rules(),
     [("record", "known_elsewhere")]),
    ("the same URL earlier in the document is known (regenerated guids)",
     [cand("id:a"), cand("id:b", chash="other")], Knowledge(), rules(),
     [("alert", "new_story"), ("record", "known_elsewhere")]),
    ("the same content earlier in the document is known (regenerated links)",
     [cand("id:a"), cand("id:b", url="https://a.example/other")], Knowledge(), rules(),
     [("alert", "new_story"), ("record", "known_elsewhere")]),
    ("first poll: older than backfill is silent",
     [cand(published=NOW - 2 * DAY)], Knowledge(), rules(first_sight=True),
     [("record", "too_old")]),
    ("first poll: undated is silent", [cand(published=None)], Knowledge(),
     rules(first_sight=True), [("record", "too_old")]),
    ("first poll: within backfill alerts", [cand(published=NOW - 3600)], Knowledge(),
     rules(first_sight=True), [("alert", "new_story")]),
    ("later polls: older than backfill still alerts", [cand(published=NOW - 2 * DAY)],
     Knowledge(), rules(), [("alert", "new_story")]),
    ("later polls: undated alerts", [cand(published=None)], Knowledge(), rules(),
     [("alert", "new_story")]),
    ("older than retention never alerts", [cand(published=NOW - 31 * DAY)], Knowledge(),
     rules(), [("record", "too_old")]),
    ("a near-copy of a recent story joins it", [COPY],
     Knowledge(stories=[(9, SIG)], story_channels={9: frozenset({"slack"})}), rules(),
     [("alert", "joins_story")]),
    ("a different story on the same subject starts its own",
     [cand(title=OTHER_TITLE, summary=OTHER_SUMMARY, matches=(SUBS,))],
     Knowledge(stories=[(9, SIG)], story_channels={9: frozenset({"slack"})}), rules(),
     [("alert", "new_story")]),
    ("an edit that matches nothing new is recorded", [cand(chash="h-edit")],
     Knowledge(stored={"id:1": known()}), rules(), [("record", "edited")]),
    ("an edit that matches a new profile alerts it as an update",
     [cand(chash="h-edit", matches=(S400, SUBS))],
     Knowledge(stored={"id:1": known()}), rules(), [("alert", "newly_matching")]),
    ("a retitled item replies in threads that ask for it",
     [cand(chash="h-edit", title="Turkey confirms a second S-400 batch")],
     Knowledge(stored={"id:1": known()}, story_channels={9: frozenset({"slack", "mail"})}),
     rules(thread=frozenset({"slack"})), [("alert", "edited_title")]),
    ("a retitled item is silent where no channel threads edits",
     [cand(chash="h-edit", title="Turkey confirms a second S-400 batch")],
     Knowledge(stored={"id:1": known()}, story_channels={9: frozenset({"slack"})}),
     rules(), [("record", "edited")]),
]


@pytest.mark.parametrize(("name", "items", "knowledge", "rules_", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_rule(name: str, items: list[Candidate], knowledge: Knowledge, rules_: Rules,
                   expected: list[tuple[str, str]]) -> None:
    assert [(d.action, d.reason) for d in run(items, knowledge, rules_)] == expected


def test_a_new_story_alerts_every_route_with_its_urgency() -> None:
    [d] = run([cand(matches=(S400, SUBS))])
    assert d.starts_story and is_new_story(d.story_id)
    assert d.story_print is not None and d.story_print.signature == SIG
    assert d.matched == ("S-400", "submarines")
    assert [(a.channel, a.kind, [m.profile for m in a.matches], a.urgent) for a in d.alerts] \
        == [("slack", "new", ["S-400", "submarines"], False), ("mail", "new", ["S-400"], True)]


def test_joining_replies_where_the_story_was_sent_and_alerts_the_other_channels() -> None:
    """"Also reported by": a thread reply in the channels the story reached; a channel it
    never reached (another profile's) gets a first alert instead."""
    k = Knowledge(stories=[(9, SIG)], story_channels={9: frozenset({"slack"})})
    [d] = run([COPY], k)
    assert d.story_id == 9 and not d.starts_story and d.story_print is not None
    assert kinds(d) == [("slack", "also"), ("mail", "new")]


def test_copies_within_one_document_join_the_story_the_first_one_started() -> None:
    first, copy = run([cand(), COPY])
    assert first.starts_story and copy.story_id == first.story_id
    assert kinds(copy) == [("mail", "also"), ("slack", "also")]   # first reached both


def test_two_stories_started_in_one_document_are_numbered_apart() -> None:
    a, b = run([cand(), cand("id:2", url="https://a.example/2", chash="h2",
                             title=OTHER_TITLE, summary=OTHER_SUMMARY, matches=(SUBS,))])
    assert a.story_id == NEW_STORY_BASE and b.story_id == NEW_STORY_BASE + 1


def test_known_elsewhere_carries_the_profiles_and_story_of_the_item_it_copies() -> None:
    [d] = run([cand("id:new")], Knowledge(elsewhere={"id:new": known(matched=("x",), story=4)}))
    assert (d.matched, d.story_id, d.alerts) == (("x",), 4, ())
    first, again = run([cand("id:a"), cand("id:b", chash="h9")])
    assert again.story_id == first.story_id and again.matched == ("S-400",)


def test_an_update_alerts_only_the_newly_matching_profiles_and_keeps_the_old_ones() -> None:
    [d] = run([cand(chash="h-edit", matches=(S400, SUBS))],
              Knowledge(stored={"id:1": known()}))
    assert kinds(d) == [("slack", "update")]
    assert [m.profile for m in d.alerts[0].matches] == ["submarines"]
    assert d.matched == ("S-400", "submarines") and d.story_id == 9 and not d.starts_story


def test_an_update_of_an_item_without_a_story_starts_one() -> None:
    [d] = run([cand(chash="h-edit", matches=(S400,))],
              Knowledge(stored={"id:1": known(matched=(), story=None)}))
    assert d.reason == "newly_matching" and d.starts_story and d.story_print is not None
    assert kinds(d) == [("slack", "update"), ("mail", "update")]


def test_an_edit_reply_goes_only_to_threading_channels_the_story_reached() -> None:
    k = Knowledge(stored={"id:1": known()}, story_channels={9: frozenset({"slack", "mail"})})
    [d] = run([cand(chash="h-edit", title="New title")], k, rules(thread=frozenset({"mail"})))
    assert kinds(d) == [("mail", "edit")] and d.existing == known()


def test_needs_matching_is_false_exactly_where_matches_cannot_matter() -> None:
    k = Knowledge(stored={"id:1": known()}, elsewhere={"id:2": known()},
                  tombstoned=frozenset({"id:3"}))
    r = rules(first_sight=True)
    assert not needs_matching(cand("id:1"), k, r)                    # unchanged
    assert needs_matching(cand("id:1", chash="h-edit"), k, r)        # an edit
    assert not needs_matching(cand("id:2"), k, r)                    # known elsewhere
    assert not needs_matching(cand("id:3"), k, r)                    # tombstoned
    assert not needs_matching(cand("id:4", published=None), k, r)    # too old on first sight
    assert needs_matching(cand("id:4"), k, r)


def test_deciding_twice_gives_the_same_decisions() -> None:
    """Pure: nothing of one call leaks into the next (ids of new stories included)."""
    items = [cand(), COPY, replace(cand("id:9"), matches=())]
    assert run(items) == run(items)


@pytest.mark.parametrize("first_sight", [True, False])
@pytest.mark.parametrize(("backfill", "retention"), [(DAY, 30 * DAY), (40 * DAY, 30 * DAY),
                                                     (0.0, 30 * DAY)])
def test_the_match_window_holds_exactly_the_items_that_are_not_too_old(
        first_sight: bool, backfill: float, retention: float) -> None:
    """Workers match only the items inside the window their request carries: it must be
    the items `decide` does not record as too old, to the second."""
    rules = Rules(now=NOW, first_sight=first_sight, backfill=backfill, retention=retention)
    window = match_window(rules)
    ages = [None, -60.0, 0.0, 1.0, backfill - 1, backfill, backfill + 1, retention - 1,
            retention, retention + 1, 45 * DAY]
    for age in ages:
        published = None if age is None else NOW - age
        assert window.covers(published) is not too_old(published, rules), (age, first_sight)
