"""Which profiles can possibly match an item, decided from literal tokens only.

Every token of every term (3+ letters, or 2+ digits; shorter ones are too
common to help, unless a written form has nothing longer, like MQ-9: then its
longest 2-char token) goes into one Aho-Corasick automaton. One pass over each
normalised field finds the tokens present at word boundaries; a profile is then
evaluated only when its query could still be true given those tokens (a term
whose keys are absent surely fails; a NOT of such a term surely holds), a test
compiled into one small function per profile. Profiles that can match with no
literal at all (pure NOT, regex only, only 1-char tokens) are always evaluated.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

import ahocorasick

from watcher.query.document import PreparedDoc
from watcher.query.probe import compile_test, keys_test
from watcher.query.syntax import FIELDS, And, Near, Node, Not, Or, Term
from watcher.query.tokens import CHAR_CLASSES, char_class

Found = tuple[set[str], set[str]]  # (whole tokens, token beginnings) present in the item
Plan = Callable[[set[str], set[str]], bool]


def _join(parts: list[str], op: str) -> str:
    return "(" + f" {op} ".join(parts) + ")"


def _possible(node: Node) -> str:
    """Source of a test that is false only when `node` surely does not match."""
    if isinstance(node, Term):
        return keys_test(node.keys)
    if isinstance(node, Not):
        return f"(not {_certain(node.child)})"
    if isinstance(node, And):
        return _join([_possible(c) for c in node.children], "and")
    if isinstance(node, Or):
        return _join([_possible(c) for c in node.children], "or")
    if isinstance(node, Near):
        return _join([_possible(node.left), _possible(node.right)], "and")
    return "True"  # Regex


def _certain(node: Node) -> str:
    """Source of a test that is true only when `node` surely matches (a NOT of absent keys)."""
    if isinstance(node, Not):
        return f"(not {_possible(node.child)})"
    if isinstance(node, And):
        return _join([_certain(c) for c in node.children], "and")
    if isinstance(node, Or):
        return _join([_certain(c) for c in node.children], "or")
    return "False"  # a term, regex or NEAR is never certain from literals alone


def build_plan(node: Node, keys: set[str]) -> Plan:
    """A function telling whether `node` could match, given the literal tokens found; adds
    the literals it looks at to `keys`.

    The test is compiled from generated source (string literals written with repr), one
    function call per profile instead of one per query node."""
    keys.update(t for term in _keyed_terms([node]) for ks in term.keys or () for t, _ in ks)
    return compile_test(_possible(node))


def tested_keys(node: Node) -> set[str]:
    """The literal tokens that `build_plan`'s test for `node` reads: a key under a NOT alone
    is never read (a NOT of a term is always possible), so a scan need not look for it."""
    tree = ast.parse(_possible(node), mode="eval")
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


class Prefilter:
    def __init__(self, roots: Sequence[Node]) -> None:
        self._plans: list[Plan] = []
        self._always: list[int] = []
        self._by_key: dict[str, list[int]] = {}
        for i, root in enumerate(roots):
            keys: set[str] = set()
            plan = build_plan(root, keys)
            self._plans.append(plan)
            if plan(set(), set()):
                self._always.append(i)
            for key in keys:
                self._by_key.setdefault(key, []).append(i)
        # only fields some literal-bearing term looks in are worth scanning
        keyed = {name for term in _keyed_terms(roots) for name in term.fields}
        self._fields = tuple(name for name in FIELDS if name in keyed)
        self._automaton: ahocorasick.Automaton | None = None
        if self._by_key:
            automaton = ahocorasick.Automaton()
            for key in self._by_key:
                automaton.add_word(key, (key, char_class(key[0]), len(key)))
            automaton.make_automaton()
            self._automaton = automaton

    def scan(self, pdoc: PreparedDoc) -> dict[str, Found]:
        """Per field, the keys present as whole tokens and as token beginnings; also records
        in pdoc.positions where each key stands as a whole written word."""
        per_field: dict[str, Found] = {}
        if self._automaton is None:
            return per_field
        found = self._automaton.iter
        cls = _class_of
        for name in self._fields:
            exact: set[str] = set()
            begun: set[str] = set()
            for inst, ft in enumerate(pdoc.field(name)):
                norm = ft.norm
                size = len(norm)
                words: dict[str, list[tuple[int, int]]] = {}
                for end, (key, kind, length) in found(norm):
                    start = end - length + 1
                    before = cls(norm[start - 1]) if start else 0
                    if before == kind:
                        continue  # inside a token: not where a token begins
                    begun.add(key)
                    after = cls(norm[end + 1]) if end + 1 < size else 0
                    if after == kind:
                        continue  # the token goes on
                    exact.add(key)
                    if before == 0 and after == 0:  # a whole written word
                        words.setdefault(key, []).append((start, end + 1))
                pdoc.positions[(name, inst)] = words
            if begun:
                per_field[name] = (exact, begun)
        return per_field

    def candidates(self, pdoc: PreparedDoc) -> list[int]:
        """Indices of the profiles worth a full evaluation, in profile order."""
        pdoc.found = per_field = self.scan(pdoc)
        if len(per_field) == 1:
            exact, begun = next(iter(per_field.values()))
        else:
            exact, begun = set(), set()
            for e, b in per_field.values():
                exact |= e
                begun |= b
        pdoc.present = (exact, begun)
        pool = set(self._always)
        by_key = self._by_key
        for key in begun:
            pool.update(by_key[key])
        plans = self._plans
        return [i for i in sorted(pool) if plans[i](exact, begun)]


def _class_of(ch: str) -> int:
    got = CHAR_CLASSES.get(ch)
    return char_class(ch) if got is None else got


def _keyed_terms(roots: Sequence[Node]) -> list[Term]:
    out: list[Term] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, Term):
            if node.keys is not None:
                out.append(node)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Near):
            stack.extend((node.left, node.right))
        elif isinstance(node, And | Or):
            stack.extend(node.children)
    return out
