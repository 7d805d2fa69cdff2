"""Compiled queries, and the Matcher that runs every profile over one item.

`compile_query` parses one query; `Matcher` compiles every profile once, reports
every bad query at once as a ConfigError, and per item evaluates only the
profiles the literal prefilter lets through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from watcher.errors import ConfigError, QueryError
from watcher.models import Match
from watcher.query.document import Document, PreparedDoc
from watcher.query.evaluate import Run, compile_node, found_to_hits
from watcher.query.guard import nested_quantifier
from watcher.query.parser import parse
from watcher.query.prefilter import Prefilter
from watcher.query.syntax import Near, Node, Not, Regex, Term

_NO_ALIASES: Mapping[str, Sequence[str]] = {}


def _leaves(node: Node) -> list[Term | Regex]:
    if isinstance(node, Term | Regex):
        return [node]
    if isinstance(node, Not):
        return _leaves(node.child)
    children = (node.left, node.right) if isinstance(node, Near) else node.children
    return [leaf for c in children for leaf in _leaves(c)]


@dataclass(frozen=True)
class SlowRegex:
    """A profile's `/regex/` term that reached its time bound on an item."""

    profile: str
    pattern: str  # as written, slashes included


@dataclass(frozen=True)
class MatchRun:
    """What matching one item found."""

    matches: list[Match]
    slow: tuple[SlowRegex, ...] = ()


@dataclass(frozen=True)
class CompiledQuery:
    """One parsed query, ready to match documents."""

    query: str
    root: Node
    run: Run = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", compile_node(self.root))

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term as written (alias entries included), in query order."""
        leaves = sorted(_leaves(self.root), key=lambda leaf: leaf.order)
        return tuple(dict.fromkeys(leaf.display for leaf in leaves))

    def match(self, doc: Document, profile: str = "") -> Match | None:
        """A Match naming `profile` when the query matches `doc`, else None."""
        return _match(self.run, PreparedDoc(doc), profile)

    def matches(self, doc: Document) -> bool:
        return self.run(PreparedDoc(doc)) is not None


def _match(run: Run, pdoc: PreparedDoc, profile: str) -> Match | None:
    found = run(pdoc)
    if found is None:
        return None
    terms, hits = found_to_hits(found, pdoc)
    return Match(profile=profile, terms=terms, hits=hits)


def compile_query(query: str, aliases: Mapping[str, Sequence[str]] = _NO_ALIASES) -> CompiledQuery:
    """Parse `query` (with `@name` alias sets from `aliases`); raise QueryError if invalid."""
    return CompiledQuery(query, parse(query, aliases))


class Matcher:
    """Every profile compiled once; `match` runs them all over one document."""

    def __init__(self, profiles: Mapping[str, str],
                 aliases: Mapping[str, Sequence[str]] = _NO_ALIASES) -> None:
        problems: list[str] = []
        self._compiled: dict[str, CompiledQuery] = {}
        for name, query in profiles.items():
            if not isinstance(query, str):
                problems.append(f'profile "{name}": query must be a string')
                continue
            try:
                self._compiled[name] = compile_query(query, aliases)
            except QueryError as exc:
                problems.append(f'profile "{name}": {exc.render()}')
        if problems:
            raise ConfigError(problems)
        self._names = list(self._compiled)
        self._runs = [cq.run for cq in self._compiled.values()]
        self._prefilter = Prefilter([cq.root for cq in self._compiled.values()])
        self._regexes = {name: leaves for name, cq in self._compiled.items()
                         if (leaves := [x for x in _leaves(cq.root) if isinstance(x, Regex)])}

    def profiles(self) -> list[str]:
        return list(self._names)

    def query(self, name: str) -> CompiledQuery:
        return self._compiled[name]

    def match(self, doc: Document) -> list[Match]:
        """The profiles that match `doc`, in profile order."""
        return self.run(doc).matches

    def run(self, doc: Document) -> MatchRun:
        """The profiles that match `doc`, and the user regexes that reached their time bound
        on it (each such term counted as not matching; see guard.py)."""
        pdoc = PreparedDoc(doc)
        out: list[Match] = []
        runs, names = self._runs, self._names
        for i in self._prefilter.candidates(pdoc):
            found = _match(runs[i], pdoc, names[i])
            if found is not None:
                out.append(found)
        if not pdoc.slow:
            return MatchRun(out)
        slow = [SlowRegex(name, leaf.display) for name, leaves in self._regexes.items()
                for leaf in leaves if leaf.regex in pdoc.slow]
        return MatchRun(out, tuple(slow))

    def nested_quantifiers(self) -> list[tuple[str, str]]:
        """(profile, regex as written) of every `/regex/` with a nested quantifier, the
        shape that can backtrack exponentially (guard.nested_quantifier)."""
        return [(name, leaf.display) for name, leaves in self._regexes.items()
                for leaf in leaves if nested_quantifier(leaf.regex.source)]

    def match_profile(self, name: str, doc: Document) -> Match | None:
        """One profile, evaluated in full (no prefilter): for `watcher explain`."""
        return _match(self._compiled[name].run, PreparedDoc(doc), name)
