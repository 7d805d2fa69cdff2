"""The delta parse: a changed feed document is parsed without the items seen before.

Most polls of a changed feed bring one new item among dozens already seen. The pipeline
keeps a digest of each item's bytes (`item_digest`, stored with the feed); the next parse
cuts the items whose bytes it has seen out of the document (what lies between items, the
feed's own elements, stays), so feedparser reads a document of the new and changed items
only. An unchanged item was recorded when it was first seen, and its bytes say nothing
new; a changed one is parsed again, and the pipeline sees the edit.

The result must never differ from a whole parse, so what depends on the whole document
is decided from the whole document and carried over (watcher/parse.py does the parsing):

* the document is decoded once, and both parses read the same UTF-8 text;
* `scan` reads the whole document with expat as feedparser's strict parser will: only a
  document that parser reads whole is ever cut (one that needs feedparser's loose parser
  is parsed whole), and its items are the elements expat saw (an `<item>` inside a
  comment, CDATA or a processing instruction is none), so a cut never breaks the XML;
* `accept` checks the shortened document's parse: read by the strict parser too, and
  exactly one entry per item kept; anything else (or a failure) means a whole parse;
* digests are kept only after a whole parse in which every item was an entry
  (`verified`), so a span that is not an entry never counts as a known, unchanged item.

Pure: bytes in, bytes and decisions out.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Set
from dataclasses import dataclass
from xml.parsers import expat

import feedparser.mixin
import feedparser.sanitizer

# Digests of another format never match: those stored before digests were `verified`
# (format 1) are ignored, and each feed is parsed whole once.
_DIGEST_FORMAT = b"watcher-item-v2"
# feedparser's namespaces (lower-case URI → its prefix): it reads <item> and <entry> as
# entries when their namespace has the empty prefix there, or is unknown and unprefixed
_PREFIXES = {uri.lower(): prefix
             for uri, prefix in feedparser.mixin._FeedParserMixin.namespaces.items()}
_ENTRY_NAMES = frozenset({"item", "entry"})

Span = tuple[int, int]


@dataclass(frozen=True)
class Scan:
    """What one expat pass over the whole document found."""

    too_deep: bool             # elements nested deeper than the limit (the pass stopped)
    well_formed: bool          # feedparser's strict parser reads the whole document
    spans: list[Span] | None   # where each item/entry lies (None: not well-formed, nested)


@dataclass(frozen=True)
class Cut:
    """A document without its known items."""

    body: bytes
    kept: int       # items left in: the shortened document must give exactly these entries
    left_out: int   # items cut out, their bytes known


class _TooDeep(Exception):
    pass


def scan(data: bytes, depth_limit: int) -> Scan:
    """One expat pass over the document as feedparser's strict parser reads it (DOCTYPE
    replaced, namespaces on), counting depth and noting each item's element. No DTD, no
    entity expansion, nothing fetched. A broken document is checked for depth again
    without namespaces (an unbound prefix stops the first pass at once)."""
    view = feedparser.sanitizer.replace_doctype(data)[1]
    shift = len(data) - len(view)   # what replace_doctype took out of the prolog
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True   # names come as "uri local prefix"
    spans: list[Span] = []
    depth, opened, nested = 0, -1, False
    item_depth = 0

    def start(name: str, _attrs: object) -> None:
        nonlocal depth, opened, nested, item_depth
        depth += 1
        if depth > depth_limit:
            raise _TooDeep
        if _is_entry(name):
            if opened >= 0:
                nested = True
            else:
                opened, item_depth = parser.CurrentByteIndex, depth

    def end(_name: str) -> None:
        nonlocal depth, opened
        if opened >= 0 and depth == item_depth:
            close = view.index(b">", parser.CurrentByteIndex) + 1
            spans.append((opened + shift, close + shift))
            opened = -1
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(view, True)
    except _TooDeep:
        return Scan(True, False, None)
    except (expat.ExpatError, ValueError, LookupError):
        return Scan(_deeper_than(data, depth_limit), False, None)
    return Scan(False, True, None if nested or not spans else spans)


@functools.lru_cache(maxsize=4096)   # a document has a few dozen element names
def _is_entry(name: str) -> bool:
    """Whether feedparser's strict parser reads this element (expat's "uri local prefix")
    as an entry (see its StrictFeedParser.startElementNS)."""
    parts = name.split(" ")
    if parts[-1 if len(parts) < 3 else 1].lower() not in _ENTRY_NAMES:
        return False
    uri = parts[0].lower() if len(parts) > 1 else ""
    if "backend.userland.com/rss" in uri:
        uri = "http://backend.userland.com/rss"
    given = parts[2] if len(parts) > 2 else None
    return not _PREFIXES.get(uri, given)


def _deeper_than(body: bytes, limit: int) -> bool:
    """True when expat (no namespaces) sees elements nested more than `limit` deep before
    it stops."""
    parser = expat.ParserCreate()
    depth = 0

    def start(_name: str, _attrs: object) -> None:
        nonlocal depth
        depth += 1
        if depth > limit:
            raise _TooDeep

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except _TooDeep:
        return True
    except (expat.ExpatError, ValueError, LookupError):
        return False
    return False


def item_digest(chunk: bytes) -> str:
    """A short hash of one item's bytes (64 bits: collisions within one feed are moot)."""
    return hashlib.blake2b(chunk, digest_size=8, person=_DIGEST_FORMAT).hexdigest()


def digests(body: bytes, spans: list[Span] | None) -> tuple[str, ...]:
    """The digest of each item span, in document order (none when spans is None)."""
    return tuple(item_digest(body[start:end]) for start, end in spans or ())


def verified(item_digests: tuple[str, ...], *, entries: int, strict: bool) -> tuple[str, ...]:
    """The digests worth keeping after a whole parse: all of them when the strict parser
    read it and every item was an entry, else none (the next poll parses it whole)."""
    return item_digests if strict and len(item_digests) == entries else ()


def cut_known(body: bytes, spans: list[Span], item_digests: tuple[str, ...],
              known: Set[str]) -> Cut | None:
    """The document without the items whose digests are known (everything between items
    stays); None when no item is known."""
    keep = [d not in known for d in item_digests]
    if all(keep):
        return None
    pieces, last = [], 0
    for (start, end), kept in zip(spans, keep, strict=True):
        pieces.append(body[last:start])
        if kept:
            pieces.append(body[start:end])
        last = end
    pieces.append(body[last:])
    kept_count = sum(keep)
    return Cut(b"".join(pieces), kept_count, len(keep) - kept_count)


def accept(cut: Cut, *, entries: int, strict: bool) -> bool:
    """Whether the shortened document's parse stands for the whole one: read by the strict
    parser (as the whole document would be) with one entry per item kept."""
    return strict and entries == cut.kept
