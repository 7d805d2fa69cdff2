"""Lexical tokens -> query tree, by recursive descent; every fault is a QueryError.

    or    := and ("OR" and)*
    and   := near (["AND"] near)*          (juxtaposition is AND)
    near  := unary ("NEAR/n" unary)*
    unary := ("NOT" | "-") unary | primary
    primary := "(" or ")" | FIELD primary | WORD | PHRASE | REGEX | ALIAS

So NOT binds tightest, then NEAR, then AND, then OR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import regex

from watcher.errors import QueryError
from watcher.query.guard import UserRegex, user_regex
from watcher.query.lexer import Lexeme, lex
from watcher.query.syntax import (
    DEFAULT_FIELDS,
    And,
    Near,
    Node,
    Not,
    Or,
    Regex,
    Term,
    is_positional,
    phrase_patterns,
)

MAX_DEPTH = 64
_STARTS = frozenset(("(", "NOT", "-", "FIELD", "WORD", "PHRASE", "REGEX", "ALIAS"))


def parse(query: str, aliases: Mapping[str, Sequence[str]] | None = None) -> Node:
    """Parse `query`; raise QueryError (and nothing else) when it is not valid."""
    try:
        return _Parser(query, aliases or {}).parse()
    except QueryError:
        raise
    except RecursionError:
        raise QueryError(query, 0, "query is too deeply nested") from None
    except Exception as exc:  # noqa: BLE001 - the contract is "only QueryError"
        raise QueryError(query, 0, f"query could not be read: {exc}") from exc


def compile_regex(query: str, body: str, pos: int) -> UserRegex:
    """Checked by `re` (its messages point into the pattern), run bounded (guard.py)."""
    if not body:
        raise QueryError(query, pos, "empty regex")
    try:
        re.compile(body, re.IGNORECASE)
        return user_regex(body)
    except re.error as exc:
        offset = exc.pos if exc.pos is not None else 0
        raise QueryError(query, pos + 1 + offset, f"bad regex: {exc.msg}") from None
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise QueryError(query, pos, f"bad regex: {exc}") from None


class _Parser:
    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]]) -> None:
        self.query = query
        self.aliases = aliases
        self.toks = lex(query)
        self.i = 0
        self.depth = 0
        self.count = 0
        self.scope: tuple[str, ...] = DEFAULT_FIELDS

    def error(self, pos: int, message: str) -> QueryError:
        return QueryError(self.query, pos, message)

    def peek(self) -> Lexeme | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next_order(self) -> tuple[int, ...]:
        self.count += 1
        return (self.count,)

    def parse(self) -> Node:
        if not self.toks:
            raise self.error(0, "empty query")
        node = self.parse_or(None)
        tok = self.peek()
        if tok is not None:
            raise self.error(tok.pos, "unmatched ')'" if tok.kind == ")" else
                             f"unexpected '{tok.value}'")
        return node

    def missing(self, op: Lexeme | None) -> QueryError:
        """A term was expected after `op` (an operator) or at the current token."""
        tok = self.peek()
        if tok is not None and tok.kind in ("AND", "OR", "NEAR"):
            return self.error(tok.pos, f"expected a term before '{tok.value}'")
        if op is not None:
            return self.error(op.pos, f"'{op.value}' has nothing to apply to on its right")
        if tok is not None and tok.kind == ")":
            return self.error(tok.pos, "unmatched ')'" if self.depth == 0 else "empty parentheses")
        return self.error(len(self.query), "expected a term")

    def parse_or(self, op: Lexeme | None) -> Node:
        children = [self.parse_and(op)]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            children.append(self.parse_and(tok))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, op: Lexeme | None) -> Node:
        children = [self.parse_near(op)]
        while (tok := self.peek()) is not None and tok.kind in _STARTS | {"AND"}:
            if tok.kind == "AND":
                self.i += 1
                children.append(self.parse_near(tok))
            else:
                children.append(self.parse_near(None))
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self, op: Lexeme | None) -> Node:
        left = self.parse_unary(op)
        while (tok := self.peek()) is not None and tok.kind == "NEAR":
            self.i += 1
            right = self.parse_unary(tok)
            if not (is_positional(left) and is_positional(right)):
                raise self.error(tok.pos, "NEAR joins terms, phrases, aliases, regexes "
                                 "or OR-groups of them (not NOT or AND)")
            left = Near(left, right, tok.number)
        return left

    def parse_unary(self, op: Lexeme | None) -> Node:
        tok = self.peek()
        if tok is None or tok.kind not in _STARTS:
            raise self.missing(op)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(tok.pos, "query is too deeply nested")
        try:
            if tok.kind in ("NOT", "-"):
                self.i += 1
                return Not(self.parse_unary(tok))
            return self.parse_primary(tok)
        finally:
            self.depth -= 1

    def parse_primary(self, tok: Lexeme) -> Node:
        self.i += 1
        if tok.kind == "(":
            if (nxt := self.peek()) is not None and nxt.kind == ")":
                raise self.error(nxt.pos, "empty parentheses")
            node = self.parse_or(tok)
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.error(tok.pos, "unclosed '(': add the matching ')'")
            self.i += 1
            return node
        if tok.kind == "FIELD":
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("(", "WORD", "PHRASE", "REGEX", "ALIAS"):
                raise self.error(tok.pos, f"'{tok.value}:' must be followed by a term or a group")
            saved, self.scope = self.scope, (tok.value,)
            try:
                return self.parse_primary(nxt)
            finally:
                self.scope = saved
        if tok.kind == "REGEX":
            pattern = compile_regex(self.query, tok.value, tok.pos)
            return Regex(f"/{tok.value}/", pattern, self.scope, self.next_order())
        if tok.kind == "ALIAS":
            return self.alias(tok)
        display = tok.value if tok.kind == "WORD" else f'"{tok.value}"'
        patterns, problem = phrase_patterns(tok.value)
        if problem or not patterns:
            raise self.error(tok.pos, problem or "no letters or digits to match")
        return Term(display, tuple(patterns), self.scope, self.next_order())

    def alias(self, tok: Lexeme) -> Node:
        fields = self.scope
        entries = self.aliases.get(tok.value)
        if entries is None:
            known = ", ".join("@" + k for k in sorted(self.aliases)) or "none defined"
            raise self.error(tok.pos, f"unknown alias @{tok.value} (known: {known})")
        if isinstance(entries, str):
            entries = [entries]
        base = self.next_order()
        children: list[Node] = []
        for k, entry in enumerate(entries):
            entry = str(entry).strip()
            if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
                try:
                    re.compile(entry[1:-1], re.IGNORECASE)
                    pattern = user_regex(entry[1:-1])
                except (re.error, regex.error, OverflowError, RecursionError, ValueError) as exc:
                    raise self.error(tok.pos, f"alias @{tok.value}: bad regex {entry}: {exc}"
                                     ) from None
                children.append(Regex(entry, pattern, fields, base + (k,)))
                continue
            patterns, problem = phrase_patterns(entry)
            if problem or not patterns:
                raise self.error(tok.pos, f"alias @{tok.value}: entry {entry!r}: "
                                 f"{problem or 'no letters or digits to match'}")
            children.append(Term(entry, tuple(patterns), fields, base + (k,)))
        if not children:
            raise self.error(tok.pos, f"alias @{tok.value} has no entries")
        return children[0] if len(children) == 1 else Or(tuple(children))
