"""Which profiles can possibly match an item, decided from literal tokens only.

Every token of every term (3+ letters, or 2+ digits; shorter ones are too
common to help) goes into one Aho-Corasick automaton. One pass over each
normalised field finds the tokens present at word boundaries; a profile is then
evaluated only when its query could still be true given those tokens (three
valued: no / maybe / yes). Profiles that can match with no literal at all
(pure NOT, regex only, only short tokens) are always evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ahocorasick

from watcher.query.document import PreparedDoc
from watcher.query.syntax import FIELDS, And, Near, Node, Not, Or, Term
from watcher.query.tokens import ends_word, starts_word

NO, MAYBE, YES = 0, 1, 2
Found = tuple[set[str], set[str]]  # (whole tokens, token beginnings) present in the item
Plan = Callable[[set[str], set[str]], int]


def keyable(token: str) -> bool:
    return len(token) >= (2 if token.isdecimal() else 3)


def _term_plan(node: Term, keys: set[str]) -> Plan:
    keysets: list[tuple[tuple[str, bool], ...]] = []
    for pat in node.patterns:
        ks = tuple((t, p) for t, p in zip(pat.tokens, pat.prefix, strict=True) if keyable(t))
        if not ks:
            return lambda exact, begun: MAYBE
        keysets.append(ks)
        keys.update(t for t, _ in ks)

    def plan(exact: set[str], begun: set[str]) -> int:
        for ks in keysets:
            if all((t in begun) if p else (t in exact) for t, p in ks):
                return MAYBE
        return NO
    return plan


def build_plan(node: Node, keys: set[str]) -> Plan:
    """A function telling whether `node` could match, given the literal tokens found."""
    if isinstance(node, Term):
        return _term_plan(node, keys)
    if isinstance(node, Not):
        child = build_plan(node.child, keys)
        return lambda exact, begun: YES - child(exact, begun)
    if isinstance(node, And | Or | Near):
        kids = ([build_plan(c, keys) for c in node.children] if isinstance(node, And | Or)
                else [build_plan(node.left, keys), build_plan(node.right, keys)])
        if isinstance(node, Or):
            return lambda exact, begun: max(k(exact, begun) for k in kids)
        cap = YES if isinstance(node, And) else MAYBE
        return lambda exact, begun: min(cap, *(k(exact, begun) for k in kids))
    return lambda exact, begun: MAYBE  # Regex


class Prefilter:
    def __init__(self, roots: Sequence[Node]) -> None:
        self._plans: list[Plan] = []
        self._always: set[int] = set()
        self._by_key: dict[str, list[int]] = {}
        for i, root in enumerate(roots):
            keys: set[str] = set()
            plan = build_plan(root, keys)
            self._plans.append(plan)
            if plan(set(), set()) != NO:
                self._always.add(i)
            for key in keys:
                self._by_key.setdefault(key, []).append(i)
        self._automaton: ahocorasick.Automaton | None = None
        if self._by_key:
            automaton = ahocorasick.Automaton()
            for key in self._by_key:
                automaton.add_word(key, key)
            automaton.make_automaton()
            self._automaton = automaton

    def scan(self, pdoc: PreparedDoc) -> Found:
        exact: set[str] = set()
        begun: set[str] = set()
        if self._automaton is None:
            return exact, begun
        for name in FIELDS:
            for ft in pdoc.field(name):
                norm = ft.norm
                for end, key in self._automaton.iter(norm):
                    if key in exact:
                        continue
                    start = end - len(key) + 1
                    if starts_word(norm, start):
                        begun.add(key)
                        if ends_word(norm, end + 1):
                            exact.add(key)
        return exact, begun

    def candidates(self, pdoc: PreparedDoc) -> list[int]:
        """Indices of the profiles worth a full evaluation, in profile order."""
        exact, begun = self.scan(pdoc)
        pool = set(self._always)
        for key in begun:
            pool.update(self._by_key[key])
        plans = self._plans
        return [i for i in sorted(pool) if plans[i](exact, begun) != NO]
