"""The query tester (pure): a draft query over stored items, and why each item matched.

The query is parsed by the profile parser (aliases allowed) and run by the same Matcher as
`watcher backtest`; each match carries the terms and hits `watcher explain` reports, and
the snippet an alert would show. A query that does not parse gives its message and the
line with the caret under the fault, as `watcher check` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from watcher.errors import QueryError
from watcher.query import Document, Matcher, compile_query, make_snippet
from watcher.text import plain_text
from watcher.web.pages import safe_link, segments
from watcher.web.scan import LiteralPlan, literal_plan

NAME = "(draft query)"
SHOWN = 200   # matches listed; every item is still scanned and counted


@dataclass(frozen=True)
class ParseProblem:
    message: str
    line: str
    column: int   # where the caret goes (0-based, into `line`)


@dataclass(frozen=True)
class Hit:
    term: str
    field: str
    text: str     # the words that matched, as the item wrote them


@dataclass(frozen=True)
class TesterItem:
    title: str
    link: str | None
    feed: str
    seen_at: float
    terms: tuple[str, ...]
    hits: tuple[Hit, ...]
    snippet: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class TesterResult:
    query: str
    problem: ParseProblem | None = None
    scanned: int = 0
    matched: int = 0
    items: tuple[TesterItem, ...] = field(default=())


def parse_problem(exc: QueryError) -> ParseProblem:
    """QueryError.render's message, line and caret column, as data for the page."""
    message, line, caret = exc.render(indent="").split("\n")
    return ParseProblem(message, line, len(caret) - 1)


def check_query(query: str, aliases: Mapping[str, Sequence[str]]) -> ParseProblem | None:
    try:
        compile_query(query, aliases)
    except QueryError as exc:
        return parse_problem(exc)
    return None


def stored_document(row: Mapping[str, Any]) -> Document:
    """An item row of the store as the matcher reads it."""
    return Document(title=row["title"], summary=row["summary"], content=row["content"],
                    author=row["author"], categories=tuple(json.loads(row["categories"])),
                    feed=row["feed_name"], article=row["article"] or "")


def run_tester(query: str, aliases: Mapping[str, Sequence[str]],
               rows: Iterable[Mapping[str, Any]], *, shown: int = SHOWN,
               scanned_before: int | None = None) -> TesterResult:
    """Match `query` against every row (newest first); list the first `shown` matches.

    `scanned_before`: how many items the literal scan (scan.py) looked at when `rows` are
    only its candidates."""
    problem = check_query(query, aliases)
    if problem is not None:
        return TesterResult(query, problem)
    matcher = Matcher({NAME: query}, aliases)
    scanned, matched = 0, 0
    items: list[TesterItem] = []
    for row in rows:
        scanned += 1
        doc = stored_document(row)
        found = matcher.match(doc)
        if not found:
            continue
        matched += 1
        if len(items) >= shown:
            continue
        m = found[0]
        hits = tuple(Hit(h.term, h.field, _hit_text(doc, h.field, h.start, h.end, h.term))
                     for h in m.hits)
        items.append(TesterItem(plain_text(row["title"]), safe_link(row["link"]),
                                row["feed_name"], float(row["seen_at"]), m.terms, hits,
                                tuple(segments(make_snippet(doc, m)))))
    total = scanned if scanned_before is None else scanned_before
    return TesterResult(query, None, total, matched, tuple(items))


def plan_of(query: str, aliases: Mapping[str, Sequence[str]]) -> LiteralPlan | None:
    """The literal scan's plan for a query that parses (None: scan every item in full)."""
    try:
        return literal_plan(compile_query(query, aliases).root)
    except QueryError:
        return None


def _hit_text(doc: Document, name: str, start: int, end: int, term: str) -> str:
    if name == "category":
        return ", ".join(doc.categories)
    if name == "article":   # plain already: offsets into the text as stored
        return doc.article[start:end] or term
    return plain_text(str(getattr(doc, name, "")))[start:end] or term
