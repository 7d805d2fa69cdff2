"""The query tester's first pass (pure): which stored items could match, from literals only.

Running the matcher over every item of 30 days is too slow for a page (HTML to text and
normalising every field of 100,000 items takes seconds), so the tester first cuts the field
of candidates the way the matcher's own prefilter does, but over all items at once: the
store hands their text as one string (`Reports.search_text`), the query's literal tokens
(`prefilter.build_plan`) are found in it with one Aho-Corasick pass, and the prefilter's
test says per item whether the query could still be true. Only those items are fetched
and matched in full, by the real matcher, so the results are the matcher's.

The pass may let through items that cannot match, never the reverse: the text it searches
holds every token the matcher would see (tags are dropped without a space, so a word split
by inline markup is whole, and the text is also searched as written, for a "<" the
matcher's HTML parser takes as text; entities are decoded; a token found anywhere in an item
counts for every field). Items whose text has non-ASCII letters are normalised exactly as the
matcher does; the others only need lower case, which is the matcher's normalisation of ASCII
text as far as whole letters and digits go. A query that can match without any literal
(NOT only, regex) or text that cannot be cut into items gives None: scan everything.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

import ahocorasick

from watcher.query.normalize import normalize
from watcher.query.prefilter import build_plan
from watcher.query.syntax import Node

ROW = "\x01"     # between items in Reports.search_text
FIELD = "\x02"   # between an item's id and each of its fields
_TAG = re.compile(r"""<[A-Za-z/!?](?:"[^"\x01\x02]*"|'[^'\x01\x02]*'|[^'">\x01\x02])*>""")
_ID = re.compile(r"\d+\x02")


def _harmless() -> str:
    """Non-ASCII punctuation and spaces that normalise to no letter or digit (checked here,
    against the matcher's own table): text with only these needs no full normalisation."""
    blocks = [*range(0x80, 0xC0), *range(0x2000, 0x2070), *range(0x3000, 0x3040)]
    return "".join(ch for ch in map(chr, blocks) if not any(c.isalnum() for c in normalize(ch)))


_NEEDS_FOLD = re.compile(f"[^\x00-\x7f{re.escape(_harmless())}]")


@dataclass(frozen=True)
class LiteralPlan:
    keys: frozenset[str]
    test: Callable[[set[str], set[str]], bool]


def literal_plan(root: Node) -> LiteralPlan | None:
    """The query's literal tokens and the prefilter's test; None when it can match without
    any of them (then every item must be matched in full)."""
    keys: set[str] = set()
    test = build_plan(root, keys)
    if not keys or test(set(), set()):
        return None
    return LiteralPlan(frozenset(keys), test)


def candidates(text: str, count: int, plan: LiteralPlan) -> list[int] | None:
    """Ids of the items in `text` (Reports.search_text, `count` items) that could match;
    None when the text does not cut into `count` items that each start with an id."""
    if count == 0:
        return []
    automaton = ahocorasick.Automaton()
    for key in plan.keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    found: dict[int, set[str]] = {}
    pieces: list[str] | None = None
    # the text as written and without its tags: whatever the matcher's HTML parser makes of
    # a "<", each token it sees is whole in one of the two
    for variant in (text, _TAG.sub("", text)):
        pieces = _scan(html.unescape(variant) if "&" in variant else variant, count,
                       automaton, found)
        if pieces is None:
            return None
    assert pieces is not None
    if any(_ID.match(p) is None for p in pieces):
        return None
    return [int(pieces[row].split(FIELD, 1)[0]) for row, keys in found.items()
            if plan.test(keys, keys)]


def _scan(text: str, count: int, automaton: ahocorasick.Automaton,
          found: dict[int, set[str]]) -> list[str] | None:
    """Add to `found` the keys present in each item of `text`; its lower-cased items (None
    when there are not `count` of them)."""
    lowered = text.lower()
    pieces = lowered.split(ROW)
    if len(pieces) != count:
        return None
    bounds = [m.start() for m in re.finditer(ROW, lowered)]
    for end, key in automaton.iter(lowered):
        found.setdefault(bisect_left(bounds, end), set()).add(key)
    originals: list[str] | None = None
    for row, piece in enumerate(pieces):
        if _NEEDS_FOLD.search(piece) is None:
            continue
        if originals is None:
            originals = text.split(ROW)
            if len(originals) != count:
                return None
        keys = {key for _, key in automaton.iter(normalize(originals[row]))}
        if keys:
            found.setdefault(row, set()).update(keys)
    return pieces
