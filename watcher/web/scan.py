"""The query tester's first pass (pure): which stored items could match, from literals only.

Running the matcher over every item of 30 days is too slow for a page (HTML to text and
normalising every field of 100,000 items takes seconds), so the tester first cuts the field
of candidates the way the matcher's own prefilter does, but over all items at once: the
store hands their text as one string (`Reports.search_text`), the query's literal tokens
(`prefilter.build_plan`) are found in it with one Aho-Corasick pass, and the prefilter's
test says per item whether the query could still be true. Only those items are fetched
and matched in full, by the real matcher, so the results are the matcher's.

The pass may let through items that cannot match, never the reverse: the text it searches
holds every token the matcher would see. Entities are decoded; an item with a "<" is also
searched with its tags dropped without a space (a word split by inline markup is whole
again), so whatever the matcher's HTML parser makes of a "<", each of its tokens is whole in
one of the two; a token found anywhere in an item counts for every field. Items with
characters that normalisation changes beyond case (accents, Turkish letters, soft hyphens,
ligatures; for a non-ASCII key also Cyrillic, Greek and the like) are normalised exactly as
the matcher does; for the others lower case is the matcher's normalisation, as far as whole
letters and digits go. A query that can match without any literal (NOT only, regex) or text
that does not cut into items gives None: then every item is matched in full.
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


def _keeps_apart(ascii_keys: bool) -> str:
    """Non-ASCII characters after which lower case is enough: each normalises to something
    (a character that vanishes, like a soft hyphen, joins its neighbours) with no letter or
    digit in it, or, when every key is ASCII, none of ASCII (Cyrillic stays Cyrillic).
    Checked here, against the matcher's own table."""
    blocks = [*range(0x80, 0xC0), *range(0x2000, 0x2070), *range(0x3000, 0x3040)]
    if ascii_keys:   # Greek, Cyrillic, Armenian, Hebrew, Arabic
        blocks += range(0x370, 0x700)
    out = []
    for ch in map(chr, blocks):
        folded = normalize(ch)
        if folded and not any(c.isalnum() and (c.isascii() or not ascii_keys) for c in folded):
            out.append(ch)
    return "".join(out)


_NEEDS_FOLD = {ascii_keys: re.compile(f"[^\x00-\x7f{re.escape(_keeps_apart(ascii_keys))}]")
               for ascii_keys in (False, True)}


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
    needs_fold = _NEEDS_FOLD[all(key.isascii() for key in plan.keys)]
    found: dict[int, set[str]] = {}
    originals = (html.unescape(text) if "&" in text else text).split(ROW)
    if len(originals) != count or any(_ID.match(p) is None for p in originals):
        return None
    whole = ROW.join(originals).lower()
    bounds = [m.start() for m in re.finditer(ROW, whole)]
    if len(bounds) != count - 1:
        return None
    for end, key in automaton.iter(whole):
        found.setdefault(bisect_left(bounds, end), set()).add(key)
    for row, piece in enumerate(originals):
        # an item with markup is also searched without its tags: whatever the matcher's
        # HTML parser makes of a "<", each token it sees is whole in one of the two
        if "<" not in piece and (piece.isascii() or needs_fold.search(piece) is None):
            continue   # the common case: lower case was enough
        texts = (piece, _untagged(piece)) if "<" in piece else (piece,)
        for i, one in enumerate(texts):
            if i or needs_fold.search(one) is not None:
                folded = normalize(one)
                keys = {key for _, key in automaton.iter(folded)} if folded else set()
                if keys:
                    found.setdefault(row, set()).update(keys)
    return [int(originals[row].split(FIELD, 1)[0]) for row, keys in found.items()
            if plan.test(keys, keys)]


def _untagged(piece: str) -> str:
    """The item's text with its tags dropped, without a space (a word split by inline
    markup is whole again)."""
    return _TAG.sub("", piece)
