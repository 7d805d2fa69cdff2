"""Evaluate a query tree on one prepared document: did it match, and where.

Every positive leaf that matched yields positions (field, which value of it,
normalised char range); NEAR counts written words between them. NOT contributes
no positions. A term is found by its Probe's regex (probe.py), from the
prefilter's word positions, or, in text with combining marks, by the token walk.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.models import Hit
from watcher.query.document import PreparedDoc
from watcher.query.guard import RegexTimeout
from watcher.query.probe import Probe, regex_spans, walk_spans, words_between
from watcher.query.syntax import (
    FIELDS,
    And,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Term,
)
from watcher.query.tokens import FieldText, char_class

Pos = tuple[str, int, int, int]  # field, which value of it, normalised char range
Leaf = Term | Regex
Found = list[tuple[Leaf, list[Pos]]]  # each positive leaf that matched, and where


def _find(probe: Probe, pdoc: PreparedDoc) -> list[Pos]:
    """Where a term matches in the document, skipping the fields the prefilter saw none of
    its keys in."""
    out: list[Pos] = []
    keys = probe.keys
    found = pdoc.found if keys is not None else None
    maybe = probe.maybe
    singles = probe.singles if found is not None else None
    for name in probe.fields:
        if found is not None:
            here = found.get(name)
            if here is None:
                continue
            if singles is not None and _from_scan(singles, pdoc, name, out):
                continue
            if not maybe(here[0], here[1]):
                continue  # the prefilter saw none of the term's keys in this field
        for inst, ft in enumerate(pdoc.field(name)):
            spans = walk_spans(probe, ft) if ft.marked else regex_spans(probe.regex, ft.norm)
            out.extend((name, inst, a, b) for a, b in spans)
    return out


def _from_scan(singles: tuple[str, ...], pdoc: PreparedDoc, name: str, out: list[Pos]) -> bool:
    """Spans of a term made only of whole single words, from where the prefilter's scan saw
    them (every such word is a prefilter key); False if the scan did not record the field."""
    positions = pdoc.positions
    for inst in range(len(pdoc.field(name))):
        words = positions.get((name, inst))
        if words is None:
            return False
        if len(singles) == 1:
            out.extend((name, inst, a, b) for a, b in words.get(singles[0], ()))
        else:
            spans: set[tuple[int, int]] = set()
            for tok in singles:
                spans.update(words.get(tok, ()))
            out.extend((name, inst, a, b) for a, b in sorted(spans))
    return True


def _regex(node: Regex, pdoc: PreparedDoc) -> list[Pos]:
    """Where a user regex matches, or [] when it reached its time bound on this item (it is
    then in pdoc.slow, and is not run again on the item's other fields or for other
    profiles: the term counts as not matching, the rest of the query is evaluated)."""
    pattern = node.regex
    if pattern in pdoc.slow:
        return []
    out: list[Pos] = []
    for name in node.fields:
        for inst, ft in enumerate(pdoc.field(name)):
            try:
                spans = pattern.spans(ft.norm)
            except RegexTimeout:
                pdoc.slow.add(pattern)
                return []
            out.extend((name, inst, a, b) for a, b in spans)
    return out


def _words(ft: FieldText, pos: Pos) -> tuple[int, int]:
    """First and last word index of a span, by the token walk."""
    rng = ft.token_range(pos[2], pos[3])
    return (ft.words[rng[0]], ft.words[rng[1]]) if rng else (0, 0)


def _aligned(norm: str, pos: Pos) -> bool:
    """Does the span start and end on word characters (always true of a term's spans)?"""
    return pos[3] > pos[2] and char_class(norm[pos[2]]) != 0 and char_class(norm[pos[3] - 1]) != 0


def _close(a: Pos, b: Pos, distance: int, pdoc: PreparedDoc) -> bool:
    """Are two spans of one field value at most `distance` written words apart?"""
    ft = pdoc.field(a[0])[a[1]]
    norm = ft.norm
    if not ft.marked and _aligned(norm, a) and _aligned(norm, b):
        # word gap = words starting in (q, p]: count them in the text between, no tokenizing
        p, q = max(a[2], b[2]), min(a[3], b[3]) - 1
        return p <= q or words_between(norm, q, p) <= distance
    (a0, a1), (b0, b1) = _words(ft, a), _words(ft, b)
    return max(a0, b0) - min(a1, b1) <= distance


def _near(left: Found, right: Found, distance: int, pdoc: PreparedDoc) -> Found:
    keep: dict[tuple[int, Pos], None] = {}
    leaves: dict[int, Leaf] = {}
    for la, pa in left:
        for lb, pb in right:
            for a in pa:
                for b in pb:
                    if a[0] != b[0] or a[1] != b[1] or (a[2] == b[2] and a[3] == b[3]):
                        continue
                    if _close(a, b, distance, pdoc):
                        keep[(id(la), a)] = None
                        keep[(id(lb), b)] = None
                        leaves[id(la)] = la
                        leaves[id(lb)] = lb
    grouped: dict[int, list[Pos]] = {}
    for key, pos in keep:
        grouped.setdefault(key, []).append(pos)
    return [(leaves[key], got) for key, got in grouped.items()]


Run = Callable[[PreparedDoc], "Found | None"]


def compile_node(node: Node) -> Run:
    """A function evaluating `node` on a document: None when it does not match, else where
    its positive leaves matched (a NOT contributes nothing, so a match may have no positions).
    Built once per query, so evaluating costs no dispatch on node types."""
    if isinstance(node, Term):
        return _term_run(node)
    if isinstance(node, Regex):
        return _regex_run(node)
    if isinstance(node, Not):
        return _not_run(compile_node(node.child))
    if isinstance(node, And):
        return _and_run([compile_node(c) for c in node.children])
    if isinstance(node, Or):
        return _or_run([compile_node(c) for c in node.children])
    if isinstance(node, Near):
        return _near_run(compile_node(node.left), compile_node(node.right), node.distance)
    raise TypeError(f"not a query node: {node!r}")


def _term_run(node: Term) -> Run:
    probe = node.probe
    maybe = probe.maybe if probe.keys is not None else None

    def run(pdoc: PreparedDoc) -> Found | None:
        memo = pdoc.memo
        got = memo.get(probe)
        if got is None:
            present = pdoc.present
            if maybe is not None and present is not None and not maybe(present[0], present[1]):
                got = []  # the prefilter saw none of the term's keys anywhere
            else:
                got = _find(probe, pdoc)
            memo[probe] = got
        return [(node, got)] if got else None
    return run


def _regex_run(node: Regex) -> Run:
    def run(pdoc: PreparedDoc) -> Found | None:
        spans = _regex(node, pdoc)
        return [(node, spans)] if spans else None
    return run


def _not_run(child: Run) -> Run:
    def run(pdoc: PreparedDoc) -> Found | None:
        return [] if child(pdoc) is None else None
    return run


def _and_run(kids: list[Run]) -> Run:
    def run(pdoc: PreparedDoc) -> Found | None:
        out: Found = []
        for kid in kids:
            got = kid(pdoc)
            if got is None:
                return None
            out += got
        return out
    return run


def _or_run(kids: list[Run]) -> Run:
    def run(pdoc: PreparedDoc) -> Found | None:
        out: Found | None = None
        for kid in kids:  # every child: the alert shows every term that matched
            got = kid(pdoc)
            if got is not None:
                if out is None:
                    out = got
                else:
                    out += got
        return out
    return run


def _near_run(left: Run, right: Run, distance: int) -> Run:
    def run(pdoc: PreparedDoc) -> Found | None:
        lgot = left(pdoc)
        rgot = right(pdoc) if lgot else None
        return (_near(lgot, rgot, distance, pdoc) or None) if lgot and rgot else None
    return run


_RANK = {name: i for i, name in enumerate(FIELDS)}


def found_to_hits(found: Found, pdoc: PreparedDoc) -> tuple[tuple[str, ...], tuple[Hit, ...]]:
    """Distinct matched terms in query order, and hits with plain-text offsets in field order.

    Of several categories, only the first one a term matched in is reported."""
    if len(found) == 1 and len(found[0][1]) == 1:  # the common case: one term, one place
        leaf, ((name, inst, n0, n1),) = found[0]
        ft = pdoc.field(name)[inst]
        start, end = (n0, n1) if ft.src is None else ft.plain_span(n0, n1)
        return (leaf.display,), (Hit(name, start, end, leaf.display),)
    first_cat: dict[str, int] = {}
    for leaf, poss in found:
        for pos in poss:
            if pos[0] == "category":
                display = leaf.display
                first_cat[display] = min(first_cat.get(display, pos[1]), pos[1])
    keys: dict[tuple[int, int, int, str, str], None] = {}
    orders: dict[str, tuple[int, ...]] = {}
    field = pdoc.field
    for leaf, poss in found:
        display = leaf.display
        used = False
        for name, inst, n0, n1 in poss:
            if name == "category" and inst != first_cat[display]:
                continue
            ft = field(name)[inst]
            start, end = (n0, n1) if ft.src is None else ft.plain_span(n0, n1)
            keys[(_RANK[name], start, end, display, name)] = None
            used = True
        if used:
            order = orders.get(display)
            if order is None or leaf.order < order:
                orders[display] = leaf.order
    terms = tuple(sorted(orders, key=orders.__getitem__))
    return terms, tuple(Hit(name, start, end, display)
                        for _, start, end, display, name in sorted(keys))
