"""The story index's pure core (watcher/storyindex.py): keys, probes, prints.

The index must put every pair the scan would cluster among each other's candidates, and
rarely others. Checked on the labelled set (tests/data/stories.json), on a table of copy
kinds, and on generated near-copies (hypothesis). `cluster_with_index` is the scan of
tests/test_clustering.py with the index in front, as the pipeline will run it; the
benchmark tests/bench/dedup_threshold.py prints both side by side.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.test_clustering import WINDOW, cluster, load_items, score
from watcher.dedup import DEFAULT_THRESHOLD, StorySignature, find_story, similarity
from watcher.storyindex import (
    CANDIDATES,
    COMMON,
    MAX_WORDS_FOR_SHORT,
    PAIR_SKETCH,
    StoryPrint,
    Tag,
    choose_candidates,
    print_of,
    story_print,
)


def cluster_with_index(items: list[dict[str, Any]], threshold: float = DEFAULT_THRESHOLD,
                       window: timedelta = WINDOW) -> tuple[list[int], list[int]]:
    """Story ids as `cluster` gives them, comparing each item only with its candidates.

    The index is a dict standing in for the store's `story_bands` table: key → (story id,
    when stored). Returns the story ids and, per item, how many stories were candidates.
    """
    bands: dict[int, list[tuple[int, datetime]]] = {}
    members: dict[int, list[tuple[datetime, StorySignature]]] = {}
    assigned: list[int] = []
    candidates: list[int] = []
    for item in items:
        when = datetime.fromisoformat(item["published"])
        sent = StoryPrint.loads(story_print(item["title"], item["summary"]).dumps())
        found = choose_candidates({key: {story for story, t in bands[key] if when - t <= window}
                                   for key in sent.probes if key in bands})
        candidates.append(len(found))
        recent = ((story, sig) for story in found for t, sig in members[story]
                  if when - t <= window)
        story = find_story(sent.signature, recent, threshold)
        if story is None:
            story = len(assigned)
        members.setdefault(story, []).append((when, sent.signature))
        for key in sent.keys:
            bands.setdefault(key, []).append((story, when))
        assigned.append(story)
    return assigned, candidates


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return load_items()


def _meets(stored: StoryPrint, new: StoryPrint) -> bool:
    return bool(set(stored.keys) & set(new.probes))


# ---------------------------------------------------------------- the labelled set

def test_clustering_through_the_index_is_the_scans(items: list[dict[str, Any]]) -> None:
    assigned, candidates = cluster_with_index(items)
    assert assigned == cluster(items)
    result = score(items, assigned)
    assert (result.precision, result.recall) == (1.0, 1.0)
    assert max(candidates) <= 4, candidates   # of up to 30 stories in the window


def test_every_pair_of_copies_meets_in_both_orders(items: list[dict[str, Any]]) -> None:
    prints = [story_print(i["title"], i["summary"]) for i in items]
    missed = [(a["id"], b["id"])
              for (a, pa), (b, pb) in itertools.combinations(zip(items, prints, strict=True), 2)
              if a["story"] == b["story"] and not (_meets(pa, pb) and _meets(pb, pa))]
    assert missed == []


def test_different_stories_rarely_meet(items: list[dict[str, Any]]) -> None:
    # The set is hard on purpose: same-day stories on one subject, quoting the same people.
    prints = [story_print(i["title"], i["summary"]) for i in items]
    same_subject = other = met_same = met_other = 0
    for (a, pa), (b, pb) in itertools.combinations(zip(items, prints, strict=True), 2):
        if a["story"] == b["story"]:
            continue
        if a["subject"] == b["subject"]:
            same_subject += 1
            met_same += _meets(pa, pb)
        else:
            other += 1
            met_other += _meets(pa, pb)
    assert met_same / same_subject <= 0.3, (met_same, same_subject)
    assert met_other / other <= 0.01, (met_other, other)


def test_a_story_outside_the_window_is_not_a_candidate() -> None:
    copy = {"title": "Turkey may buy second S-400 batch",
            "summary": "Turkey is in talks with Russia to buy a second batch of S-400 systems."}
    items = [{**copy, "published": "2024-03-01T08:00:00+00:00"},
             {**copy, "published": "2024-03-02T08:00:00+00:00"},
             {**copy, "published": "2024-03-05T08:00:00+00:00"}]
    assert cluster_with_index(items) == ([0, 0, 2], [0, 1, 0])


# ---------------------------------------------------------------- kinds of copies

LEAD = ("Turkey will activate its Russian-made S-400 air defence systems in April, Defence "
        "Minister Hulusi Akar said on Friday, brushing aside objections from Washington and "
        "warnings of sanctions under the CAATSA law.")
BODY = (" Akar said Turkish personnel had completed their training in Russia and that the "
        "batteries would be deployed near the capital. The United States removed Turkey from "
        "the F-35 fighter programme over the purchase, arguing that the Russian radars could "
        "collect data on the stealth jet. Ankara has proposed a joint working group to study "
        "the compatibility of the system with NATO equipment, an offer Washington has not "
        "taken up. Officials in Moscow said a second batch of the missiles could be delivered "
        "next year under a contract signed in 2017, with parts of the production moved to "
        "Turkey. Analysts said the move would deepen the rift between the two allies ahead of "
        "the NATO summit.")
OTHER = ("TUSAS said on Tuesday that the first KAAN prototype would fly with F110 engines "
         "until the TF35000 turbofan developed by TEI is ready, in the early 2030s, and that "
         "talks with General Electric on local production were continuing.")
TITLE = "Turkey to activate S-400s in April despite U.S. warnings"

COPIES = [
    # (what, stored title, stored summary, new title, new summary)
    ("the same item again", TITLE, LEAD, TITLE, LEAD),
    ("retitled", TITLE, LEAD, "Ankara defies Washington over Russian missiles", LEAD),
    ("with a dateline", TITLE, LEAD, TITLE, "ANKARA, March 5 (Reuters) - " + LEAD),
    ("with markup and a trailer", TITLE, LEAD, TITLE, f"<p>{LEAD}</p><p>Read more</p>"),
    ("the lead of a full text", TITLE, LEAD + BODY, TITLE, LEAD),
    ("a full text of a lead", TITLE, LEAD, TITLE, LEAD + BODY),
    ("two sentences of a full text", TITLE, LEAD + BODY, TITLE, LEAD + BODY[:200]),
    ("another first sentence", TITLE, LEAD + BODY[:400],
     TITLE, "Washington has warned of sanctions." + BODY[:400]),
    ("a few words changed", TITLE, LEAD,
     TITLE, LEAD.replace("Friday", "Thursday").replace("objections", "protests")),
    ("title only, reworded", TITLE, "", "Turkey will activate S-400s in April despite warnings",
     ""),
    ("title only against a one-line summary", TITLE, "",
     TITLE, "Turkey activates S-400 in April"),
    ("one-line summary against a short item", "Turkey activates S-400 in April despite U.S.",
     "Defence Minister Hulusi Akar said on Friday.", TITLE, ""),
]


@pytest.mark.parametrize(("what", "title_a", "summary_a", "title_b", "summary_b"), COPIES,
                         ids=[c[0] for c in COPIES])
def test_copies_meet(what: str, title_a: str, summary_a: str, title_b: str,
                     summary_b: str) -> None:
    a, b = story_print(title_a, summary_a), story_print(title_b, summary_b)
    assert similarity(a.signature, b.signature) >= DEFAULT_THRESHOLD, "not a copy: fix the table"
    assert _meets(a, b) and _meets(b, a)


def test_a_story_on_another_subject_does_not_meet() -> None:
    a, b = story_print(TITLE, LEAD + BODY), story_print("KAAN to fly with F110 engines", OTHER)
    assert similarity(a.signature, b.signature) < DEFAULT_THRESHOLD
    assert not _meets(a, b) and not _meets(b, a)


def test_long_items_never_meet_by_their_words() -> None:
    # Same words, shuffled: no pair of adjacent words in common, most words in common.
    words = (LEAD + BODY).split()
    shuffled = " ".join(random.Random(1).sample(words, len(words)))
    a, b = story_print(TITLE, LEAD + BODY), story_print(TITLE, shuffled)
    assert not a.short and not b.short
    assert similarity(a.signature, b.signature) < DEFAULT_THRESHOLD
    assert not _meets(a, b)


def test_a_long_item_with_many_words_stores_no_word_keys() -> None:
    few, many = story_print(TITLE, LEAD), story_print(TITLE, " ".join(VOCABULARY[:110]))
    assert len(few.signature.words) <= MAX_WORDS_FOR_SHORT < len(many.signature.words)
    short = story_print(TITLE, "")
    assert _meets(few, short)   # by the long item's word keys
    assert set(many.keys).isdisjoint(short.probes)   # it could never reach the threshold


def test_the_lead_sketch_is_kept_only_when_the_full_sketch_cannot_hold_every_pair() -> None:
    few, many = story_print(TITLE, LEAD), story_print(TITLE, LEAD + BODY)
    assert len(few.signature.shingles) <= PAIR_SKETCH < len(many.signature.shingles)
    assert few.lead == () and len(many.lead) > 0
    assert len(many.pairs) == PAIR_SKETCH


# ---------------------------------------------------------------- near-copies, generated

VOCABULARY = [f"{a}{b}{c}" for a, b, c in itertools.product(
    ("kar", "mel", "tov", "dun", "pir", "sab", "lor", "vek"),
    ("an", "ot", "ir", "ul", "em"), ("d", "k", "m", "p", "t", "v"))]   # 240 plain words


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.sampled_from(VOCABULARY), min_size=4, max_size=130, unique=True),
       title=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12),
       edits=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(VOCABULARY)),
                      max_size=3),
       cut=st.integers(0, 3))
def test_near_copies_share_a_key(words: list[str], title: list[str],
                                 edits: list[tuple[int, str]], cut: int) -> None:
    """A copy with a few words changed (and perhaps its tail cut) that the scan would join.

    Words are not repeated, as in news text (a text of six words said over and over can
    miss: about one in 30,000 such copies did when measured).
    """
    copy = list(words)
    for at, word in edits:
        copy[at % len(copy)] = word
    copy = copy[:len(copy) - cut] if cut < len(copy) else copy
    a = story_print(" ".join(title), " ".join(words))
    b = story_print(" ".join(title), " ".join(copy))
    assume(similarity(a.signature, b.signature) >= DEFAULT_THRESHOLD)
    assert _meets(a, b) and _meets(b, a)


# ---------------------------------------------------------------- form

def test_prints_round_trip_and_stay_small() -> None:
    longest = story_print("word " * 60, LEAD + BODY * 3)
    for p in (story_print(TITLE, LEAD), story_print(TITLE, ""), story_print("", ""), longest):
        assert StoryPrint.loads(p.dumps()) == p
        assert "\n" not in p.dumps()
    assert len(longest.dumps().encode()) <= 2_500
    assert len(longest.keys) <= 120 and len(longest.probes) <= 120


def test_keys_fit_a_signed_bigint_and_tags_keep_namespaces_apart() -> None:
    p = story_print(TITLE, LEAD + BODY)
    assert all(0 <= k < 2 ** 63 for k in p.keys + p.probes)
    assert len(set(p.keys)) == len(p.keys)
    short = story_print(TITLE, "")
    stored_short, probed_long = set(short.keys), set(p.probes)
    assert stored_short & probed_long or not stored_short & set(p.keys)
    assert {Tag.PAIRS, Tag.SHORT_WORDS, Tag.LONG_WORDS} == set(Tag)


def test_keys_are_the_same_in_every_process_and_version() -> None:
    # Stored keys must stay valid: these are the values of the first release of the index.
    p = story_print("Turkey to activate S-400s in April",
                    "Turkey will activate its Russian-made S-400 air defence systems in April, "
                    "the defence minister said on Friday, brushing aside objections from "
                    "Washington.")
    assert len(p.keys) == 54
    assert sorted(p.keys)[:3] == [116592978893624269, 224660143011645073, 420112838958329157]
    assert sorted(story_print("Turkey to activate S-400s in April", "").keys)[:2] == [
        1219233484854869630, 1898712735760269003]


def test_an_empty_item_has_no_keys() -> None:
    p = story_print("", "")
    assert p.keys == () and p.probes == () and p.short


@pytest.mark.parametrize(("text", "error"), [
    ("2\t\t\t\t1\t\t", "unknown story print version '2'"),
    ("1\tAAAA\t\t\t1\t\t", "not a multiple of 8"),
    ("1\t!!\t\t\t1\t\t", "sketch is not base64"),
    ("1\t\t\t", "5 tab-separated fields, not 4"),
    ("1\t\t\t\t9\ta\tb", "unknown story signature version '9'"),
])
def test_a_bad_print_is_a_clear_value_error(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        StoryPrint.loads(text)


def test_print_of_a_stored_signature_is_the_items_print() -> None:
    p = story_print(TITLE, LEAD + BODY)
    assert print_of(StorySignature.loads(p.signature.dumps())) == p


@pytest.mark.parametrize(("postings", "limit", "expected"), [
    ({}, CANDIDATES, []),
    ({1: {7, 3}, 2: {7}, 3: {9, 7, 3}}, CANDIDATES, [7, 3, 9]),   # most shared keys first
    ({1: {5, 2}, 2: {8}}, CANDIDATES, [2, 5, 8]),                 # ties: the older story
    ({1: {7, 3}, 2: {7}, 3: {9, 7, 3}}, 2, [7, 3]),
    ({1: set(range(COMMON + 1)), 2: {40}}, CANDIDATES, [40]),     # a subject's phrase: skipped
    ({1: set(range(COMMON)), 2: {3}}, 1, [3]),                    # COMMON stories still count
    ({k: {k} for k in range(CANDIDATES + 5)}, CANDIDATES, list(range(CANDIDATES))),
])
def test_choose_candidates(postings: dict[int, set[int]], limit: int,
                           expected: list[int]) -> None:
    assert choose_candidates(postings, limit) == expected

