"""A user's `/regex/` terms, run with a time bound so that no pattern can stall polling.

Python's `re` has no timeout: `/(a+)+$/` on a long run of letters backtracks for minutes.
The parser still checks a pattern with `re` (its messages and caret positions), but
matching runs on the `regex` package in its VERSION0 mode (the syntax and meaning of
`re`), which takes a timeout on every call. One scan of one field value may take at most
BOUND seconds; a pattern that reaches it raises RegexTimeout, and the evaluator then
treats the term as not matching that item (and does not run it on the item's other
fields), so a pattern costs at most BOUND seconds per item (see `evaluate._regex`).

`nested_quantifier` is the `watcher check` warning: a pure look at the pattern's parse
(the standard library's own regex parser), not at its text.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Any

import regex

BOUND = 0.2  # seconds one user regex may spend on one item
FLAGS = regex.IGNORECASE | regex.VERSION0

_parser: Any = importlib.import_module("re._parser")  # sre_parse, without its deprecation
_constants: Any = importlib.import_module("re._constants")
_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT)
_NO_BACKTRACK = (_constants.POSSESSIVE_REPEAT, _constants.ATOMIC_GROUP)


class RegexTimeout(Exception):
    """A user regex reached BOUND on one item."""


class UserRegex:
    """One `/regex/` of a query, compiled for bounded matching. Equal patterns are one
    object (see `user_regex`), so profiles sharing a pattern run it once per item."""

    __slots__ = ("source", "_compiled")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: Any = regex.compile(source, FLAGS)

    def __repr__(self) -> str:
        return f"UserRegex({self.source!r})"

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Every non-empty (start, end) where the pattern matches `text`, left to right;
        RegexTimeout if that takes more than BOUND seconds."""
        try:
            return [m.span() for m in self._compiled.finditer(text, timeout=BOUND)
                    if m.end() != m.start()]
        except TimeoutError:
            raise RegexTimeout(self.source) from None


@lru_cache(maxsize=4096)
def user_regex(source: str) -> UserRegex:
    """The shared UserRegex of a pattern; regex.error (or ValueError, OverflowError) if the
    `regex` package refuses what `re` accepted."""
    return UserRegex(source)


def nested_quantifier(source: str) -> bool:
    """Does the pattern repeat something that itself repeats a variable number of times
    (`(a+)+`, `(\\w+\\s?)*`, `(x|y+)*`): the shape that backtracks exponentially when the
    text almost matches? Possessive and atomic parts cannot backtrack and do not count."""
    try:
        tree = _parser.parse(source, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError, ValueError):
        return False
    return _nested(list(tree), inside_repeat=False)


def _nested(items: list[tuple[Any, Any]], inside_repeat: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            repeats = high > 1
            if repeats and inside_repeat and low != high:
                return True
            if _nested(list(body), inside_repeat or repeats):
                return True
        elif op in _NO_BACKTRACK:
            continue
        else:
            for child in _children(op, arg):
                if _nested(child, inside_repeat):
                    return True
    return False


def _children(op: Any, arg: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-patterns inside one parse node (groups, alternatives, lookarounds)."""
    if op is _constants.SUBPATTERN:
        return [list(arg[3])]
    if op is _constants.BRANCH:
        return [list(alt) for alt in arg[1]]
    if op in (_constants.ASSERT, _constants.ASSERT_NOT):
        return [list(arg[1])]
    if op is _constants.GROUPREF_EXISTS:
        return [list(part) for part in arg[1:] if part is not None]
    return []
