"""Evaluate a query tree on one prepared document: did it match, and where.

Every positive leaf that matched yields `Span`s (field, which value of it, word
range for NEAR, normalised char range for offsets). NOT contributes no spans.
"""

from __future__ import annotations

from typing import NamedTuple

from watcher.models import Hit
from watcher.query.document import PreparedDoc
from watcher.query.syntax import FIELDS, And, Near, Node, Not, Or, Pattern, Regex, Term
from watcher.query.tokens import FieldText


class Span(NamedTuple):
    field: str
    inst: int          # which value of the field (categories have several)
    w0: int            # first and last word index
    w1: int
    n0: int            # normalised char range
    n1: int
    order: tuple[int, ...]
    display: str


def pattern_spans(ft: FieldText, pat: Pattern) -> list[tuple[int, int]]:
    """(first, last) token indices of every place where `pat` is written in `ft`."""
    toks = ft.tokens
    if not toks:
        return []
    first = pat.tokens[0]
    if pat.prefix[0]:
        starts: list[int] | tuple[()] = sorted(
            i for tok, where in ft.index.items() if tok.startswith(first) for i in where)
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


def _term(node: Term, pdoc: PreparedDoc) -> list[Span]:
    spans: list[Span] = []
    for name in node.fields:
        for inst, ft in enumerate(pdoc.field(name)):
            seen: set[tuple[int, int]] = set()
            for pat in node.patterns:
                for i, j in pattern_spans(ft, pat):
                    if (i, j) not in seen:
                        seen.add((i, j))
                        spans.append(Span(name, inst, ft.words[i], ft.words[j], ft.starts[i],
                                          ft.ends[j], node.order, node.display))
    return spans


def _regex(node: Regex, pdoc: PreparedDoc) -> list[Span]:
    spans: list[Span] = []
    for name in node.fields:
        for inst, ft in enumerate(pdoc.field(name)):
            for m in node.regex.finditer(ft.norm):
                if m.end() == m.start():
                    continue
                rng = ft.token_range(m.start(), m.end())
                w0, w1 = (ft.words[rng[0]], ft.words[rng[1]]) if rng else (0, 0)
                spans.append(Span(name, inst, w0, w1, m.start(), m.end(), node.order,
                                  node.display))
    return spans


def _near(left: list[Span], right: list[Span], distance: int) -> list[Span]:
    keep: dict[Span, None] = {}
    for a in left:
        for b in right:
            if (a.field, a.inst) != (b.field, b.inst) or (a.n0, a.n1) == (b.n0, b.n1):
                continue
            gap = max(a.w0, b.w0) - min(a.w1, b.w1)
            if gap <= distance:
                keep[a] = None
                keep[b] = None
    return list(keep)


def evaluate(node: Node, pdoc: PreparedDoc) -> tuple[bool, list[Span]]:
    """Whether `node` matches the document, and the spans of the positive terms that did."""
    if isinstance(node, Term):
        spans = _term(node, pdoc)
        return bool(spans), spans
    if isinstance(node, Regex):
        spans = _regex(node, pdoc)
        return bool(spans), spans
    if isinstance(node, Not):
        return not evaluate(node.child, pdoc)[0], []
    if isinstance(node, And):
        spans = []
        for child in node.children:
            ok, got = evaluate(child, pdoc)
            if not ok:
                return False, []
            spans.extend(got)
        return True, spans
    if isinstance(node, Or):
        spans, hit = [], False
        for child in node.children:
            ok, got = evaluate(child, pdoc)
            hit = hit or ok
            spans.extend(got)
        return hit, spans
    if isinstance(node, Near):
        left = evaluate(node.left, pdoc)[1]
        right = evaluate(node.right, pdoc)[1] if left else []
        spans = _near(left, right, node.distance) if right else []
        return bool(spans), spans
    raise TypeError(f"not a query node: {node!r}")


def spans_to_hits(spans: list[Span], pdoc: PreparedDoc) -> tuple[tuple[str, ...], tuple[Hit, ...]]:
    """Distinct matched terms in query order, and hits with plain-text offsets."""
    first_cat: dict[str, int] = {}
    for s in spans:
        if s.field == "category":
            first_cat[s.display] = min(first_cat.get(s.display, s.inst), s.inst)
    hits: dict[Hit, None] = {}
    orders: dict[str, tuple[int, ...]] = {}
    for s in spans:
        if s.field == "category" and s.inst != first_cat[s.display]:
            continue
        start, end = pdoc.field(s.field)[s.inst].plain_span(s.n0, s.n1)
        hits[Hit(s.field, start, end, s.display)] = None
        orders[s.display] = min(orders.get(s.display, s.order), s.order)
    terms = tuple(sorted(orders, key=lambda d: orders[d]))
    ordered = sorted(hits, key=lambda h: (FIELDS.index(h.field), h.start, h.end, h.term))
    return terms, tuple(ordered)
