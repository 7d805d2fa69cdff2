"""The story index: keys that find a new item's candidate stories without a scan.

Pure: no I/O, no clock. `story_print(title, summary)` computes, once per item that matched
(in the pipeline: five items in six never need one), the item's `StorySignature`
(watcher.dedup) and three small MinHash sketches. The store keeps each story's `keys` once,
whichever of its items brought them (`story_keys`, keyed by key and story; a key's time is
its story's newest member's, to the hour); a new item looks its `probes` up there (stories
of the window only; keys that more than `COMMON` stories hold are left out by the store's
query), `choose_candidates` keeps at most
`CANDIDATES` of the stories found, and the item is compared with their members by
`dedup.find_story`: the same comparison, threshold and tie rule as a scan of the window. The
keys only choose which stories are compared, so clustering is as README.md describes it
("The same story from several outlets"); a copy the keys miss would be one extra alert,
never a false merge.

**Sketches.** A bottom-k sketch of a set is its k lowest hashes. Of a long item (8+ pairs
of adjacent summary words, compared by containment of those pairs): the sketch of its word
pairs (`PAIR_SKETCH`), and, when it has more pairs than that, the sketch of its first
`LEAD` pairs, the lead a teaser copies. Of every item: the sketch of its words
(`WORD_SKETCH`), for the Jaccard index of words that a short item is compared by.

**Keys.** Each key joins two hashes of one sketch a few places apart in hash order (the
`*_REACH` constants). Two items share a key when two hashes of their common tokens lie that
close in both sketches: nearly certain for copies, whose tokens are mostly common, and unlikely for
different stories sharing a few names, since one of their own hashes usually lies between.
A key is 63 bits (a signed SQL BIGINT) salted by its `Tag`. A short item stores its word
keys under one tag and probes under both; a long item stores word keys under the other tag
(only when it has few enough words for a short item to reach the threshold) and probes only
the short items' tag, so long items, which share most words on one subject, never meet by
their words.

Measured (tests/test_storyindex.py, tests/bench/dedup_threshold.py): on the labelled set
every pair of copies shares a key and clustering through the index is the scan's, item for
item; none of 60,000 generated near-copies (up to 3 words changed, the tail cut) missed,
nor teasers made of a text's lead. Weak spots: a short excerpt from the middle of a long
text (15 words of 120) is found directly about half the time (it can still join through
another member of the story), and texts of a handful of words repeated over and over miss
about once in 30,000 copies.

Hashes are BLAKE2b of each word (str's hash() is salted per process), pairs mixed from
their words' hashes, so prints are the same in every process, on every machine and in
every version: stored keys stay valid.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import struct
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

from watcher.dedup import (
    _MIN_SHINGLES,
    DEFAULT_THRESHOLD,
    MAX_TITLE_TOKENS,
    StorySignature,
    story_signature,
)

PAIR_SKETCH = 24  # the lowest hashes kept of a long item's summary word pairs
LEAD = 16         # ... and of its first word pairs (the lead a teaser copies), if it has more
WORD_SKETCH = 16  # the lowest hashes kept of an item's words
# A key joins two hashes of a sketch at most this far apart in hash order. For words
# (compared by Jaccard index) 2 is certain when both sets fit their sketches; for word
# pairs (by containment) 3 would be nearer certain, for half as many keys again.
PAIR_REACH, LEAD_REACH, WORD_REACH = 2, 2, 2
TINY = 4          # a sketch this small (a set of 1-4 words) also has a key per hash
# A long item can reach the threshold against a short one only with at most this many words:
# a short item has at most 40 title words and 7 summary pairs (8 words).
MAX_WORDS_FOR_SHORT = math.floor((MAX_TITLE_TOKENS + _MIN_SHINGLES) / DEFAULT_THRESHOLD)
COMMON = 32       # a key held by more stories than this is a subject's phrase: skipped
CANDIDATES = 16   # stories compared per new item, at most
# ... through their newest distinct signatures, at most this many each: a wire story
# carried by hundreds of outlets is compared through its latest copies, so the cost of a
# new item does not grow with the number of outlets (a copy only like older ones would be
# one extra alert, never a false merge)
MEMBERS = 8
FORMAT_VERSION = "1"
_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Tag(IntEnum):
    """The namespace of a key (its salt is XORed into the key, so namespaces never meet)."""

    PAIRS = 1        # a long item's word-pair sketch
    SHORT_WORDS = 2  # the word sketch of a short item
    LONG_WORDS = 3   # the word sketch of a long item with few enough words


# One 63-bit salt per tag, from a hash of its number: fixed across processes and versions.
_SALTS = {tag: int.from_bytes(hashlib.blake2b(f"watcher story tag {tag.value}".encode(),
                                              digest_size=8).digest(), "big") >> 1
          for tag in Tag}


@functools.lru_cache(maxsize=1 << 13)
def _word_hash(word: str) -> int:
    """64 bits of BLAKE2b: the same in every process (str's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a pair of words hashes like a word, without hashing again."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _sketch(hashes: Iterable[int], size: int) -> tuple[int, ...]:
    """The `size` lowest distinct hashes, in order (a bottom-k MinHash sketch)."""
    return tuple(sorted(set(hashes))[:size])


def _pair_hashes(words: Sequence[str]) -> list[int]:
    """A hash per pair of adjacent words, in text order."""
    h = [_word_hash(w) for w in words]
    return [_mix((a * _GOLDEN + b) & _MASK64) for a, b in zip(h, h[1:], strict=False)]


def neighbour_keys(tag: Tag, sketch: Sequence[int], reach: int) -> tuple[int, ...]:
    """One key per two hashes of the sketch at most `reach` places apart.

    Two items share such a key when two hashes of their common tokens lie that close in
    both sketches: likely for copies (most of their tokens are common), rare for different
    stories sharing a few names, since a hash of theirs usually lies between. When one set
    holds all of another's 3+ tokens and their Jaccard index is 0.45 or more, two of them are
    certainly that close; a set of 1-4 tokens also gets a key per token, for the rest.
    """
    salt = _SALTS[tag]
    keys = [((x * _GOLDEN + y) & _MASK63) ^ salt
            for gap in range(1, reach + 1) for x, y in zip(sketch, sketch[gap:], strict=False)]
    if len(sketch) <= TINY:
        keys += [((x * _GOLDEN) & _MASK63) ^ salt ^ _SALTS[Tag.PAIRS] for x in sketch]
    return tuple(keys)


@dataclass(frozen=True)
class StoryPrint:
    """An item's story signature and its two sketches, computed once per item.

    `keys` (stored in the index under the item's story) and `probes` (looked up) are
    derived from the sketches with a few multiplications: no hashing in the daemon.
    """

    signature: StorySignature
    pairs: tuple[int, ...]   # sketch of the summary's word pairs; empty for a short item
    lead: tuple[int, ...]    # sketch of its first `LEAD` pairs; empty unless it has many
    words: tuple[int, ...]   # sketch of the title's and summary's words

    @property
    def short(self) -> bool:
        """Compared by its words with every item (`dedup.similarity`'s second branch)."""
        return len(self.signature.shingles) < _MIN_SHINGLES

    @cached_property
    def keys(self) -> tuple[int, ...]:
        """The keys to store for this item, under its story's id."""
        if self.short:
            return neighbour_keys(Tag.SHORT_WORDS, self.words, WORD_REACH)
        words = (neighbour_keys(Tag.LONG_WORDS, self.words, WORD_REACH)
                 if len(self.signature.words) <= MAX_WORDS_FOR_SHORT else ())
        return self._pair_keys + words

    @cached_property
    def probes(self) -> tuple[int, ...]:
        """The keys to look up: a story holding any of them is a candidate.

        Long items meet by their word pairs, a short item meets any item by its words.
        """
        if self.short:
            return (neighbour_keys(Tag.SHORT_WORDS, self.words, WORD_REACH)
                    + neighbour_keys(Tag.LONG_WORDS, self.words, WORD_REACH))
        return self._pair_keys + neighbour_keys(Tag.SHORT_WORDS, self.words, WORD_REACH)

    @cached_property
    def _pair_keys(self) -> tuple[int, ...]:
        keys = neighbour_keys(Tag.PAIRS, self.pairs, PAIR_REACH)
        if not self.lead:
            return keys
        seen = set(keys)
        lead = neighbour_keys(Tag.PAIRS, self.lead, LEAD_REACH)
        return keys + tuple(k for k in lead if k not in seen)

    def dumps(self) -> str:
        """One line: `1<TAB>pairs<TAB>lead<TAB>words<TAB>` (base64), then the signature's."""
        return "\t".join((FORMAT_VERSION, _encode(self.pairs), _encode(self.lead),
                          _encode(self.words), self.signature.dumps()))

    @classmethod
    def loads(cls, s: str) -> StoryPrint:
        """The inverse of `dumps`; ValueError on anything else."""
        fields = s.split("\t", 4)
        if len(fields) != 5:
            raise ValueError(f"a story print has 5 tab-separated fields, not {len(fields)}")
        version, pairs, lead, words, signature = fields
        if version != FORMAT_VERSION:
            raise ValueError(f"unknown story print version {version!r}")
        return cls(StorySignature.loads(signature), _decode(pairs), _decode(lead),
                   _decode(words))


def _encode(sketch: Sequence[int]) -> str:
    return base64.b64encode(struct.pack(f">{len(sketch)}Q", *sketch)).decode("ascii")


def _decode(text: str) -> tuple[int, ...]:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"a story print sketch is not base64: {exc}") from None
    if len(raw) % 8:
        raise ValueError(f"a story print sketch of {len(raw)} bytes, not a multiple of 8")
    return struct.unpack(f">{len(raw) // 8}Q", raw)


def print_of(signature: StorySignature) -> StoryPrint:
    """The sketches of a signature (its words, and its summary's word pairs if long)."""
    words = _sketch(map(_word_hash, signature.words), WORD_SKETCH)
    if len(signature.shingles) < _MIN_SHINGLES:
        return StoryPrint(signature, (), (), words)
    pairs = _pair_hashes(signature.summary)
    lead = _sketch(pairs[:LEAD], LEAD) if len(set(pairs)) > PAIR_SKETCH else ()
    return StoryPrint(signature, _sketch(pairs, PAIR_SKETCH), lead, words)


def story_print(title: str, summary: str) -> StoryPrint:
    """The print of one item; `summary` may be HTML, as for `dedup.story_signature`."""
    return print_of(story_signature(title, summary))


def choose_candidates(postings: Mapping[int, Collection[int]],
                      limit: int = CANDIDATES) -> list[int]:
    """The stories to compare a new item with, from what its probes found in the index.

    `postings` maps each probe found to the stories (in the window) holding it. A key that
    more than `COMMON` stories hold is a phrase of the subject ("S-400 air defence
    systems"), not of one story, and is left out; the other stories are ranked by how many
    keys they share with the item (copies share dozens, other stories one or two) and the
    first `limit` kept, ties to the older (lower) story id. So the comparisons per item stay
    bounded however full the window is.
    """
    counts: Counter[int] = Counter()
    for stories in postings.values():
        if len(stories) <= COMMON:
            counts.update(set(stories))
    return sorted(counts, key=lambda story: (-counts[story], story))[:limit]
