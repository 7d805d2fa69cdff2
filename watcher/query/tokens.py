"""Words of normalised text: the token model every match is made of.

A token is a run of letters or a run of digits, so `s400` is the two tokens `s`
and `400` joined with no gap. Between two tokens the gap is one of: joined (no
gap, a letter/digit change inside one written word), tight (only spaces, which
is what dashes became, at most 3) or loose (anything else). A word index counts
written words (joined tokens share one), for NEAR distances.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from itertools import accumulate


def _mark_class() -> str:
    """Regex class body of the combining marks (Mn/Mc/Me) of the BMP, which live inside words."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{lo:04x}-\\u{hi:04x}" if hi > lo else f"\\u{lo:04x}" for lo, hi in ranges)


_MARKS = _mark_class()
TOKEN_RE = re.compile(rf"\d+|(?:[^\W\d_]|[{_MARKS}])+")
_PLAIN_TOKEN_RE = re.compile(r"\d+|[^\W\d_]+")  # the same when no combining mark is present
_MARK_RE = re.compile(rf"[{_MARKS}]")
MAX_TIGHT_GAP = 3


CHAR_CLASSES: dict[str, int] = {}  # char_class's memo


def _classify(ch: str) -> int:
    if ch.isdecimal():
        return 2
    if (ch.isalnum() and ch != "_") or _MARK_RE.match(ch):
        return 1
    return 0


def char_class(ch: str) -> int:
    """0: not part of a word; 1: letter (or mark); 2: digit."""
    got = CHAR_CLASSES.get(ch)
    if got is None:
        got = CHAR_CLASSES[ch] = _classify(ch)
    return got


class FieldText:
    """One field value: its plain text, normalised text, and (lazily) its tokens."""

    __slots__ = ("plain", "norm", "src", "marked", "_toks", "starts", "ends", "joined",
                 "_tight", "_words", "_index", "_sorted")

    def __init__(self, plain: str, norm: str, src: list[int] | None) -> None:
        self.plain = plain
        self.norm = norm
        self.src = src
        # combining marks are word characters to tokens but not to regexes (see probe.py)
        self.marked = not norm.isascii() and _MARK_RE.search(norm) is not None
        self._toks: list[str] | None = None
        self._index: dict[str, list[int]] | None = None
        self._tight: list[bool] | None = None
        self._words: list[int] | None = None
        self._sorted: list[str] | None = None
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.joined: list[bool] = []

    @property
    def tokens(self) -> list[str]:
        if self._toks is None:
            norm = self.norm
            regex = TOKEN_RE if self.marked else _PLAIN_TOKEN_RE
            found = list(regex.finditer(norm))
            self.starts = starts = [m.start() for m in found]
            self.ends = ends = [m.end() for m in found]
            self.joined = [False, *(s == e for s, e in zip(starts[1:], ends, strict=False))]
            self._toks = [m.group() for m in found]
        return self._toks

    @property
    def tight(self) -> list[bool]:
        """Per token: is the gap before it joined or only spaces (at most MAX_TIGHT_GAP)?"""
        if self._tight is None:
            norm, toks = self.norm, self.tokens
            self._tight = [False] + [
                s == e or (s - e <= MAX_TIGHT_GAP and norm[e:s].isspace())
                for s, e in zip(self.starts[1:], self.ends, strict=False)] if toks else []
        return self._tight

    @property
    def words(self) -> list[int]:
        """Per token: index of the written word it belongs to (joined tokens share one)."""
        if self._words is None:
            self.tokens  # noqa: B018 - fills self.joined
            self._words = [w - 1 for w in accumulate(0 if j else 1 for j in self.joined)]
        return self._words

    @property
    def index(self) -> dict[str, list[int]]:
        """Token -> its positions."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i, tok in enumerate(self.tokens):
                index.setdefault(tok, []).append(i)
            self._index = index
        return self._index

    def starting_with(self, prefix: str) -> list[int]:
        """Positions of the tokens that start with `prefix`, in text order."""
        if self._sorted is None:
            self._sorted = sorted(self.index)
        keys = self._sorted
        out: list[int] = []
        i = bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            out.extend(self.index[keys[i]])
            i += 1
        out.sort()
        return out

    def plain_span(self, nstart: int, nend: int) -> tuple[int, int]:
        """Offsets in the plain text of the normalised span [nstart, nend)."""
        if self.src is None:
            return nstart, nend
        if nend <= nstart:
            pos = self.src[nstart] if nstart < len(self.src) else len(self.plain)
            return pos, pos
        return self.src[nstart], self.src[nend - 1] + 1

    def token_range(self, nstart: int, nend: int) -> tuple[int, int] | None:
        """Indices of the first and last token overlapping the normalised span, if any."""
        toks = self.tokens
        if not toks:
            return None
        first = bisect_right(self.ends, nstart)
        last = bisect_left(self.starts, nend) - 1
        if first > last:
            first = last = min(first, len(toks) - 1)
        return first, last
