"""How one term is looked for in a field's normalised text, without splitting it into words.

A term's patterns (see syntax.py) compile once into one regex that encodes the token
model of tokens.py: a token is a whole run of letters or of digits, a pattern starts
at the start of a written word (after a non-word character) and, unless it ends with
a wildcard, ends at the end of one; a tight gap is at most 3 spaces or nothing, a
loose gap any run of non-word characters. Regex word characters are exactly the
token characters except for combining marks, so a field whose text holds a
combining mark takes the token walk (`pattern_spans`, the reference) instead.

Equal terms (the same patterns and fields) share one `Probe`, so a document
evaluates each distinct term once, however many profiles use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from watcher.query.tokens import FieldText

if TYPE_CHECKING:
    from watcher.query.syntax import Keys, Pattern

_LETTER = r"[^\W\d_]"
_DIGIT = r"\d"
_WORD_CHAR = r"[^\W_]"
# the first character of every written word (a token not joined to the one before it)
WORD_START = re.compile(rf"(?<!{_WORD_CHAR}){_WORD_CHAR}")


def pattern_regex(pat: Pattern) -> str:
    """Regex source for one pattern (see the module docstring)."""
    out: list[str] = []
    last = len(pat.tokens) - 1
    for k, tok in enumerate(pat.tokens):
        cls = _DIGIT if tok[0].isdecimal() else _LETTER
        if k == 0:
            # literal first, so the regex engine can skip ahead to it; then "written-word start"
            out.append(f"{re.escape(tok[0])}(?<!{_WORD_CHAR}.){re.escape(tok[1:])}")
        else:
            out.append(r"\s{0,3}+" if pat.tight[k - 1] else r"[\W_]*+")
            out.append(re.escape(tok))
        if pat.prefix[k]:
            out.append(f"{cls}*+")  # the rest of the word: hits cover the whole word
        elif k == last:
            out.append(f"(?!{_WORD_CHAR})")
        else:
            out.append(f"(?!{cls})")
    return "".join(out)


class Probe:
    """What evaluating one distinct term needs: its prefilter keys, regex and fields."""

    __slots__ = ("patterns", "fields", "keys", "_regex", "singles", "maybe")

    def __init__(self, patterns: tuple[Pattern, ...], fields: tuple[str, ...],
                 keys: Keys | None) -> None:
        self.patterns = patterns
        self.fields = fields
        self.keys = keys
        # could it be present, given the prefilter's whole tokens and token beginnings?
        self.maybe: Callable[[set[str], set[str]], bool] = compile_test(keys_test(keys))
        self._regex: re.Pattern[str] | None = None
        # whole single tokens: found straight from the prefilter's word positions
        self.singles: tuple[str, ...] | None = None
        if keys is not None and all(len(p.tokens) == 1 and not p.prefix[0] for p in patterns):
            self.singles = tuple(p.tokens[0] for p in patterns)

    @property
    def regex(self) -> re.Pattern[str]:
        """The term's regex, compiled on first use (many terms are always found by the
        prefilter's scan and never need one)."""
        if self._regex is None:
            sources = dict.fromkeys(pattern_regex(p) for p in self.patterns)
            self._regex = re.compile("|".join(f"(?:{s})" for s in sources), re.DOTALL)
        return self._regex


def keys_test(keys: Keys | None) -> str:
    """Python source of a test: is, for some pattern, each of its keys among the whole tokens
    `e` (or, for a wildcard key, among the token beginnings `b`) the prefilter found?"""
    if keys is None:
        return "True"
    alts = [" and ".join(f"{tok!r} in {'b' if pre else 'e'}" for tok, pre in ks) for ks in keys]
    return "(" + " or ".join(f"({a})" for a in alts) + ")"


def compile_test(test: str) -> Callable[[set[str], set[str]], bool]:
    """`lambda e, b: <test>`, compiled from source made of `in` tests on string literals
    (written with repr), so a test is one call instead of a walk over nested tuples."""
    try:
        func: Callable[[set[str], set[str]], bool] = eval(
            compile(f"lambda e, b: {test}", "<query test>", "eval"), {"__builtins__": {}})
    except (SyntaxError, RecursionError, MemoryError):  # absurdly nested: always possible
        return lambda e, b: True
    return func


@lru_cache(maxsize=8192)
def probe_for(patterns: tuple[Pattern, ...], fields: tuple[str, ...],
              keys: Keys | None) -> Probe:
    """The shared Probe of a term."""
    return Probe(patterns, fields, keys)


def regex_spans(regex: re.Pattern[str], norm: str) -> list[tuple[int, int]]:
    """Every (start, end) where `regex` matches, overlapping ones included."""
    out: list[tuple[int, int]] = []
    m = regex.search(norm)
    while m is not None:
        start, end = m.span()
        out.append((start, end))
        m = regex.search(norm, start + 1)
    return out


def words_between(norm: str, after: int, upto: int) -> int:
    """How many written words start in norm[after + 1 : upto + 1] (mark-free text)."""
    return len(WORD_START.findall(norm, after + 1, upto + 1))


def pattern_spans(ft: FieldText, pat: Pattern) -> list[tuple[int, int]]:
    """(first, last) token indices of every place where `pat` is written in `ft`."""
    toks = ft.tokens
    if not toks:
        return []
    first = pat.tokens[0]
    if pat.prefix[0]:
        starts: list[int] | tuple[()] = ft.starting_with(first)
    else:
        starts = ft.index.get(first, ())
    size, count = len(pat.tokens), len(toks)
    joined = ft.joined
    tight = ft.tight if size > 1 else joined
    out: list[tuple[int, int]] = []
    for i in starts:
        if joined[i]:
            continue  # starts inside a written word
        j = i
        for k in range(1, size):
            j += 1
            if j >= count or (pat.tight[k - 1] and not tight[j]):
                break
            tok, want = toks[j], pat.tokens[k]
            if not (tok.startswith(want) if pat.prefix[k] else tok == want):
                break
        else:
            if pat.prefix[-1] or j + 1 >= count or not joined[j + 1]:
                out.append((i, j))
    return out


def walk_spans(probe: Probe, ft: FieldText) -> list[tuple[int, int]]:
    """Normalised spans of a term in a field, by the token walk (text with combining marks)."""
    index = ft.index
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    for pat in probe.patterns:
        if not pat.prefix[0] and pat.tokens[0] not in index:
            continue
        for i, j in pattern_spans(ft, pat):
            if (i, j) not in seen:
                seen.add((i, j))
                out.append((ft.starts[i], ft.ends[j]))
    return out
