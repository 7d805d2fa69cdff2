"""The parsed form of a query: node types, and how a written term becomes token patterns.

A term (word, designator, phrase, prefix, alias entry) compiles to one or more
`Pattern`s, each a sequence of normalised tokens with the gap allowed between
neighbours. Designator rule: inside one written word, a letter/digit change or a
dash makes a tight gap (`S-400` ~ `S 400` ~ `S400`); letters dashed to letters
(or digits to digits) may also be written joined (`TF-X` ~ `TFX`). Other
punctuation inside a word (`U.S.`, `Turkey's`) and spaces in a phrase make a
loose gap (any separator).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from watcher.query.guard import UserRegex
from watcher.query.normalize import fold_for_matching
from watcher.query.probe import Probe, probe_for
from watcher.query.tokens import TOKEN_RE

DEFAULT_FIELDS = ("title", "summary", "content", "article")
FIELDS = ("title", "summary", "content", "article", "author", "category", "feed")
MAX_JOIN_POINTS = 4
MAX_ALTERNATIVES = 64


@dataclass(frozen=True)
class Pattern:
    """One written form: tokens, which are prefixes, and whether each gap must be tight."""

    tokens: tuple[str, ...]
    prefix: tuple[bool, ...]
    tight: tuple[bool, ...]  # len(tokens) - 1 entries


Keys = tuple[tuple[tuple[str, bool], ...], ...]  # per pattern: (token, is_prefix) to look for


def keyable(token: str) -> bool:
    """Worth a prefilter key: 3+ letters or 2+ digits (shorter ones are everywhere)."""
    return len(token) >= (2 if token.isdecimal() else 3)


def pattern_keys(patterns: tuple[Pattern, ...]) -> Keys | None:
    """Literal tokens that must be present for some pattern to match; None if unknowable.

    A pattern with only short tokens uses its longest one of 2+ chars (MQ-9, TF-X)."""
    out: list[tuple[tuple[str, bool], ...]] = []
    for pat in patterns:
        ks = tuple((t, p) for t, p in zip(pat.tokens, pat.prefix, strict=True) if keyable(t))
        if not ks:
            best = max(range(len(pat.tokens)), key=lambda i: len(pat.tokens[i]))
            if len(pat.tokens[best]) < 2:
                return None
            ks = ((pat.tokens[best], pat.prefix[best]),)
        out.append(ks)
    return tuple(out)


@dataclass(frozen=True)
class Term:
    display: str
    patterns: tuple[Pattern, ...]
    fields: tuple[str, ...]
    order: tuple[int, ...]
    keys: Keys | None = field(init=False, compare=False, repr=False)
    probe: Probe = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = pattern_keys(self.patterns)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "probe", probe_for(self.patterns, self.fields, keys))


@dataclass(frozen=True)
class Regex:
    display: str
    regex: UserRegex  # run bounded in time (guard.py)
    fields: tuple[str, ...]
    order: tuple[int, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


Node = Term | Regex | Not | And | Or | Near


def is_positional(node: Node) -> bool:
    """Can NEAR use it (does it yield word positions)?"""
    if isinstance(node, Term | Regex | Near):
        return True
    if isinstance(node, Or):
        return all(is_positional(c) for c in node.children)
    return False


def _word_forms(raw: str, prefix: bool) -> list[Pattern]:
    """Patterns for one written word (no whitespace inside); [] if it has no letters/digits."""
    norm = fold_for_matching(raw)
    found = list(TOKEN_RE.finditer(norm))
    if not found:
        return []
    tokens = [m.group() for m in found]
    gaps: list[str] = []  # "tight" | "dash" (tight, or joined) | "loose"
    for prev, cur in itertools.pairwise(found):
        gap = norm[prev.end():cur.start()]
        if not gap:
            gaps.append("tight")
        elif gap.isspace():  # a dash (or nbsp) in the query word
            same = prev.group()[0].isdecimal() == cur.group()[0].isdecimal()
            gaps.append("dash" if same else "tight")
        else:
            gaps.append("loose")
    joinable = [i for i, g in enumerate(gaps) if g == "dash"]
    if len(joinable) > MAX_JOIN_POINTS:
        choices = [frozenset(), frozenset(joinable)]
    else:
        choices = [frozenset(c) for r in range(len(joinable) + 1)
                   for c in itertools.combinations(joinable, r)]
    out: list[Pattern] = []
    for joins in choices:
        toks = [tokens[0]]
        tight: list[bool] = []
        for i, gap in enumerate(gaps):
            if i in joins:
                toks[-1] += tokens[i + 1]
            else:
                toks.append(tokens[i + 1])
                tight.append(gap != "loose")
        pre = tuple([False] * (len(toks) - 1) + [prefix])
        out.append(Pattern(tuple(toks), pre, tuple(tight)))
    return out


def phrase_patterns(text: str) -> tuple[list[Pattern], str | None]:
    """Patterns for words separated by whitespace (a phrase, or one word), or an error message."""
    alternatives: list[Pattern] = [Pattern((), (), ())]
    words = text.split()
    if not words:
        return [], "empty phrase"
    for word in words:
        prefix = word.endswith("*")
        body = word.rstrip("*") if prefix else word
        if "*" in body:
            return [], "a wildcard is only allowed at the end of a word"
        forms = _word_forms(body, prefix)
        if not forms:
            if prefix and not body:
                return [], "a wildcard needs a beginning, e.g. submarin*"
            continue  # pure punctuation inside a phrase: ignore
        nxt: list[Pattern] = []
        for left in alternatives:
            for right in forms:
                loose = (False,) if left.tokens else ()
                nxt.append(Pattern(left.tokens + right.tokens, left.prefix + right.prefix,
                                   left.tight + loose + right.tight))
        alternatives = nxt[:MAX_ALTERNATIVES]
    if not alternatives[0].tokens:
        return [], "no letters or digits to match"
    return alternatives, None
