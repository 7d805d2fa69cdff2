"""The query tester's first pass (pure): which stored items could match, from literals only.

Running the matcher over every item of 30 days is too slow for a page (HTML to text and
normalising every field of 100,000 items takes seconds), so the tester first cuts the field
of candidates the way the matcher's own prefilter does, but over many items at once: the
store hands their text (the fields the query's terms look in) as UTF-8 bytes, a day's items
in one string (`Reports.search_texts`), the query's literal tokens (`prefilter.build_plan`)
are found in it by C code (bytes lowered, then searched), and the prefilter's test says
per item whether the query could still be true. Only those
items are fetched and matched in full, by the real matcher, so the results are the
matcher's. Python looks at an item only where a token is found in it or where it holds a
byte that may need more than ASCII lower case ("<", "&", anything beyond ASCII).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ahocorasick

from watcher.query.normalize import fold_for_matching as normalize
from watcher.query.prefilter import build_plan, tested_keys
from watcher.query.syntax import FIELDS, And, Near, Node, Not, Or, Term

ROW = b"\x01"     # between items in Reports.search_text
FIELD = b"\x02"   # between an item's id and each of its fields
_TAG = re.compile(r"""<[A-Za-z/!?](?:"[^"\x01\x02]*"|'[^'\x01\x02]*'|[^'">\x01\x02])*>""")
MARK = 3   # in the scanned bytes: "<", "&" or a byte of a character beyond ASCII
# ASCII letters lowered; MARK for the bytes that may need more than lower case
_LOWER_MARK = bytes(MARK if b >= 0x80 or b in b"<&" else b | 0x20 if 65 <= b <= 90 else b
                    for b in range(256))


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
    fields: tuple[str, ...]   # where its terms look (in FIELDS order): the text to search


def literal_plan(root: Node) -> LiteralPlan | None:
    """The query's literal tokens and the prefilter's test; None when it can match without
    any of them (then every item must be matched in full)."""
    test = build_plan(root, set())
    keys = tested_keys(root)
    if not keys or test(set(), set()):
        return None
    looked = _term_fields(root)
    return LiteralPlan(frozenset(keys), test, tuple(f for f in FIELDS if f in looked))


def _term_fields(root: Node) -> set[str]:
    """Every field some term of the query looks in (a key can only be found there)."""
    out: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Term):
            out.update(node.fields)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Near):
            stack += (node.left, node.right)
        elif isinstance(node, And | Or):
            stack += node.children
    return out


class Folds:
    """What normalising an item's text gave, kept from one query to the next (by the text
    itself, without the id: an edited item is normalised anew, a copy of a text in another
    item is not): the slow part, for a desk that tries one query after another over the
    same days. Emptied when it holds `budget` bytes of text."""

    def __init__(self, budget: int = 256 * 2**20) -> None:
        self._budget = budget
        self._size = 0
        self._kept: dict[bool, dict[bytes, str]] = {False: {}, True: {}}

    def kept(self, ascii_keys: bool) -> dict[bytes, str]:
        """What is kept for a query whose keys are all ASCII (or not), read directly: the
        texts to search joined by \x00 (no key holds one), "" when there are none."""
        return self._kept[ascii_keys]

    def add(self, ascii_keys: bool, piece: bytes) -> str:
        """Normalise `piece` (UnicodeDecodeError if it is not UTF-8) and keep what it gave."""
        texts = "\x00".join(
            _normalised(piece.decode("utf-8", "surrogatepass"), _NEEDS_FOLD[ascii_keys]))
        size = len(piece) + len(texts)
        if self._size + size > self._budget:
            for kept in self._kept.values():
                kept.clear()
            self._size = 0
        self._kept[ascii_keys][piece] = texts
        self._size += size
        return texts


def candidates(text: bytes, count: int, plan: LiteralPlan,
               folds: Folds | None = None) -> list[int] | None:
    """Ids of the items in `text` (Reports.search_text, `count` items) that could match;
    None when the text does not cut into `count` items that each start with an id.

    One C pass lowers the ASCII letters and marks the other bytes that may need more (an
    ASCII key is found in it as it is); items with a mark that are not candidates already
    are decoded and searched as normalised (where a key beyond ASCII is found: an item
    holding one has a mark)."""
    if count == 0:
        return []
    if text.count(ROW) != count - 1:
        return None
    ascii_keys = all(key.isascii() for key in plan.keys)
    scanned = text.translate(_LOWER_MARK)
    found = _found(scanned, [key for key in plan.keys if key.isascii()])
    automaton = ahocorasick.Automaton()
    for key in plan.keys:
        automaton.add_word(key, key)
    automaton.make_automaton()
    memo = Folds() if folds is None else folds
    kept = memo.kept(ascii_keys)
    at = scanned.find(MARK)
    while at != -1:
        start = text.rfind(ROW, 0, at) + 1
        end = text.find(ROW, at)
        end = len(text) if end == -1 else end
        keys = found.get(start)
        if keys is None or not plan.test(keys, keys):   # more keys cannot make it false
            body = text.find(FIELD, start, at) + 1   # after the id
            if not body:
                return None
            piece = text[body:end]
            texts = kept.get(piece)
            if texts is None:
                try:
                    texts = memo.add(ascii_keys, piece)
                except UnicodeDecodeError:
                    return None
            if texts:
                got = {key for _, key in automaton.iter(texts)}
                if got:
                    found.setdefault(start, set()).update(got)
        at = scanned.find(MARK, end)
    try:
        return [int(text[start:text.index(FIELD, start)]) for start, keys in found.items()
                if plan.test(keys, keys)]
    except ValueError:
        return None


def _found(scanned: bytes, keys: Sequence[str]) -> dict[int, set[str]]:
    """Where each item starts (its offset) → the (ASCII) keys found in it."""
    found: dict[int, set[str]] = {}
    for key in keys:
        needle = key.encode()
        at = scanned.find(needle)
        while at != -1:
            found.setdefault(scanned.rfind(ROW, 0, at) + 1, set()).add(key)
            end = scanned.find(ROW, at)
            at = -1 if end == -1 else scanned.find(needle, end)
    return found


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
