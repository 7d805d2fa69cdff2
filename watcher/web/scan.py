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
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

import ahocorasick

from watcher.query.normalize import fold_for_matching as normalize
from watcher.query.prefilter import build_plan, tested_keys
from watcher.query.syntax import Node

ROW = "\x01"     # between items in Reports.search_text
FIELD = "\x02"   # between an item's id and each of its fields
_TAG = re.compile(r"""<[A-Za-z/!?](?:"[^"\x01\x02]*"|'[^'\x01\x02]*'|[^'">\x01\x02])*>""")


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


_FOLDS = {ascii_keys: f"[^\x00-\x7f{re.escape(_keeps_apart(ascii_keys))}]"
          for ascii_keys in (False, True)}
_NEEDS_FOLD = {k: re.compile(v) for k, v in _FOLDS.items()}
# markup ("<", "&") or a character to fold: one class (an alternation is much slower)
_SPECIAL = {k: re.compile("[^\\x00-\\x25\\x27-\\x3b\\x3d-\\x7f" + v[len("[^\\x00-\\x7f"):])
            for k, v in _FOLDS.items()}


@dataclass(frozen=True)
class LiteralPlan:
    keys: frozenset[str]
    test: Callable[[set[str], set[str]], bool]


def literal_plan(root: Node) -> LiteralPlan | None:
    """The query's literal tokens and the prefilter's test; None when it can match without
    any of them (then every item must be matched in full)."""
    test = build_plan(root, set())
    keys = tested_keys(root)
    if not keys or test(set(), set()):
        return None
    return LiteralPlan(frozenset(keys), test)


Folds = dict[str, tuple[str, ...]]   # an item's text → its normalised texts
FOLDS_KEPT = 200_000


def candidates(text: str, count: int, plan: LiteralPlan,
               folds: Folds | None = None) -> list[int] | None:
    """Ids of the items in `text` (Reports.search_text, `count` items) that could match;
    None when the text does not cut into `count` items that each start with an id.

    `folds` keeps, from one call to the next, what normalising an item's text gave (by the
    text itself, so an edited item is normalised anew): the slow part, for a desk that tries
    one query after another over the same days."""
    if count == 0:
        return []
    ascii_keys = all(key.isascii() for key in plan.keys)
    original = text
    originals = original.split(ROW)
    if len(originals) != count:
        return None
    found: dict[int, set[str]] = {}
    _find_lowered(original, plan.keys, found)
    # items with markup or letters that normalise beyond ASCII case, found item by item
    automaton = ahocorasick.Automaton()
    for key in plan.keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    needs_fold = _NEEDS_FOLD[ascii_keys]
    special = _SPECIAL[ascii_keys]
    starts = [0, *_ends(originals)]
    at = 0
    while (m := special.search(original, at)) is not None:
        row = bisect_right(starts, m.start()) - 1
        at = starts[row + 1]
        if row in found and plan.test(found[row], found[row]):
            continue   # a candidate already: more keys cannot change that (the test is monotone)
        piece = originals[row]
        texts = None if folds is None else folds.get(piece)
        if texts is None:
            texts = _normalised(piece, needs_fold)
            if folds is not None:
                if len(folds) >= FOLDS_KEPT:
                    folds.clear()
                folds[piece] = texts
        for one in texts:
            keys = {key for _, key in automaton.iter(one)}
            if keys:
                found.setdefault(row, set()).update(keys)
    try:
        return [int(originals[row].split(FIELD, 1)[0]) for row, keys in found.items()
                if plan.test(keys, keys)]
    except ValueError:
        return None


def _find_lowered(text: str, keys: frozenset[str], found: dict[int, set[str]]) -> None:
    """Add to `found` (item index → keys) the keys present in the items' text with ASCII
    letters lower-cased: as UTF-8 bytes, which C code lowers and searches quickly."""
    data = text.encode("utf-8", "surrogatepass").lower()
    ends = _ends(data.split(ROW.encode()))
    for key in keys:
        needle = key.encode("utf-8", "surrogatepass")
        at = data.find(needle)
        while at != -1:
            found.setdefault(bisect_right(ends, at), set()).add(key)
            at = data.find(needle, at + 1)


def _ends(pieces: Sequence[str] | Sequence[bytes]) -> list[int]:
    """Where each piece ends in the pieces joined by one separator, plus one."""
    return [n + i for i, n in enumerate(accumulate(map(len, pieces)), 1)]


def _normalised(piece: str, needs_fold: re.Pattern[str]) -> tuple[str, ...]:
    """What the item's text must also be searched as, normalised: with markup, without its
    tags and with its entities decoded, in both orders and each alone (whatever the
    matcher's HTML parser makes of a "<", and whether a field is HTML or plain like the
    article, each token the matcher sees is whole in one of them or in the text as
    written); with letters beyond ASCII case, the text itself."""
    variants = set()
    if "<" in piece or "&" in piece:
        untagged = _untagged(piece)
        variants = {untagged, html.unescape(untagged), html.unescape(piece),
                    _untagged(html.unescape(piece))} - {piece}
    if needs_fold.search(piece) is not None:
        variants.add(piece)
    return tuple(normalize(v) for v in sorted(variants))


def _untagged(piece: str) -> str:
    """The item's text with its tags dropped, without a space (a word split by inline
    markup is whole again)."""
    return _TAG.sub("", piece)
