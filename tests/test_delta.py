"""The delta parse (watcher/delta.py) against the whole parse.

The property, checked by `_agrees`: whatever a parse with known items returns is what the
whole parse says of the same document, field by field (the feed's title and problem, and
each item's every field); when it leaves items out, they are exactly the ones known, and
the whole parse had one entry per item. It is checked on hand-made traps, on the corpus's
odd documents by name, and on every real, odd and hostile document of the corpus: every item in
turn as "the new one" (a seeded sample, always with the first and the last, in a long
document) and "all known".
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.servers.feeds import render_feed
from watcher.delta import item_digest
from watcher.errors import ParseError
from watcher.models import Item, ParsedFeed
from watcher.parse import parse_feed

FEEDS = SHARED / "feeds"
URL = "https://news.example.org/feeds/defense.xml"
DOCUMENTS = sorted(p for folder in ("real", "odd", "hostile") if (FEEDS / folder).is_dir()
                   for p in (FEEDS / folder).iterdir() if p.is_file())
ABSENT = pytest.mark.skip(reason=f"feed corpus not found at {FEEDS} (it is present in CI)")
SAMPLE = 6   # items tried as "the new one" besides the first and the last, per document
ITEM_FIELDS = [f.name for f in fields(Item)]
WHEN = datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
# where a pattern (and the release before this one) finds items: in comments, CDATA and
# processing instructions too, and of any vocabulary
_PATTERN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/].*?"
                      rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.DOTALL)


def _pattern_digests(body: bytes) -> frozenset[str]:
    return frozenset(item_digest(m.group()) for m in _PATTERN.finditer(body))


def _same_item(got: Item, want: Item, where: str) -> None:
    a, b = asdict(got), asdict(want)
    for name in ITEM_FIELDS:
        assert a[name] == b[name], f"{where}: {name} differs: {a[name]!r} != {b[name]!r}"


def _agrees(body: bytes, known_sets: Iterable[tuple[str, frozenset[str]]],
            where: str) -> ParsedFeed | None:
    """Check the property for each known set; return the whole parse (None if it fails)."""
    try:
        whole = parse_feed(body, headers={}, url=URL)
    except ParseError:   # then no parse with known items may succeed either
        for label, known in known_sets:
            with pytest.raises(ParseError):
                parse_feed(body, headers={}, url=URL, known_items=known)
                pytest.fail(f"{where}, {label}: parsed, but the whole parse fails")
        return None
    assert whole.unchanged == 0
    for label, known in known_sets:
        at = f"{where}, {label}"
        try:
            got = parse_feed(body, headers={}, url=URL, known_items=known)
        except ParseError as exc:
            pytest.fail(f"{at}: the delta parse failed where the whole parse did not: {exc}")
        assert (got.title, got.problem, got.item_digests) == (
            whole.title, whole.problem, whole.item_digests), at
        expected = list(whole.items)
        if got.unchanged:
            assert len(whole.item_digests) == len(whole.items), \
                f"{at}: {got.unchanged} unchanged items, but the spans are not the entries"
            expected = [it for it, d in zip(whole.items, whole.item_digests, strict=True)
                        if d not in known]
            assert got.unchanged == len(whole.items) - len(expected), at
        assert len(got.items) == len(expected), f"{at}: {len(got.items)} items, " \
                                                f"{len(expected)} expected"
        for i, (a, b) in enumerate(zip(got.items, expected, strict=True)):
            _same_item(a, b, f"{at}, item {i}")
    return whole


def _known_sets(body: bytes, digests: tuple[str, ...],
                seed: str) -> list[tuple[str, frozenset[str]]]:
    """All known (the parse's digests and whatever a pattern finds), then each item in turn
    as the new one (a sample in a long document)."""
    n = len(digests)
    trials = list(range(n))
    if n > SAMPLE + 2:
        trials = [0, *sorted(random.Random(seed).sample(range(1, n - 1), SAMPLE)), n - 1]
    known = [("all known", frozenset(digests) | _pattern_digests(body))]
    known += [(f"item {k} new", frozenset(digests) - {digests[k]}) for k in trials]
    return known


def _rss(*items: dict[str, Any]) -> bytes:
    body, _ = render_feed(items=list(items), title="Wire", kind="rss", link="https://e.org/")
    return body


def _story(n: int, summary: str = "Ankara and Moscow talk again.") -> dict[str, Any]:
    return {"title": f"S-400 story {n}", "link": f"https://e.org/{n}", "guid": f"g{n}",
            "summary": summary, "published": WHEN}


# -- hand-made documents ----------------------------------------------------------------------

def test_only_new_and_edited_items_are_parsed_again() -> None:
    first = parse_feed(_rss(_story(1), _story(2), _story(3)), headers={}, url=URL)
    assert len(first.item_digests) == 3 and first.unchanged == 0
    known = frozenset(first.item_digests)
    body = _rss(_story(4), _story(1), _story(2, "Edited: talks broke down."), _story(3))
    second = parse_feed(body, headers={}, url=URL, known_items=known)
    assert [i.guid for i in second.items] == ["g4", "g2"]   # document order
    assert second.items[1].summary == "Edited: talks broke down."
    assert (second.title, second.unchanged, len(second.item_digests)) == ("Wire", 2, 4)
    assert second.items == tuple(i for i in parse_feed(body, headers={}, url=URL).items
                                 if i.guid in ("g4", "g2"))
    again = parse_feed(body, headers={}, url=URL, known_items=frozenset(second.item_digests))
    assert (again.items, again.unchanged, again.title) == ((), 4, "Wire")


TRAPS = {
    "item-tags-in-cdata":
        b"<item><title>a</title><description><![CDATA[x</item><item>y]]></description></item>",
    "item-tag-in-comment": b"<item><title>a</title><!-- <item> --></item>",
    "nested-items": b"<item><title>a</title><item><title>nested</title></item></item>",
    "unpaired-end": b"<item><title>a</title></item></item>",
    "entry-tags-in-processing-instructions": b"<?pi <entry> ?><x>1</x><?pi </entry>?>",
    "item-of-another-vocabulary": b'<x:item xmlns:x="urn:x">not an entry</x:item>',
    "self-closed-item": b"<item/>",
}


@pytest.mark.parametrize("trap", TRAPS.values(), ids=TRAPS.keys())
def test_items_hidden_nested_or_foreign_never_change_the_result(trap: bytes) -> None:
    body = _rss(_story(1), _story(2)).replace(b"</channel>", trap + b"</channel>")
    whole = _agrees(body, [("pattern known", _pattern_digests(body))], "trap")
    assert whole is not None
    _agrees(body, _known_sets(body, whole.item_digests, "trap"), "trap")


def test_item_spans_that_are_no_entries_are_no_digests_to_keep() -> None:
    """An <item> of a vocabulary feedparser reads is an entry, of another none: the whole
    parse keeps digests only when every item it found was an entry."""
    body = _rss(_story(1), _story(2)).replace(
        b"<channel>", b'<channel xmlns:x="urn:x"><x:item>not an entry</x:item>')
    assert len(parse_feed(body, headers={}, url=URL).item_digests) == 2
    rdf, _ = render_feed(items=[_story(1)], title="Wire", kind="rdf", link="https://e.org/")
    assert len(parse_feed(rdf, headers={}, url=URL).item_digests) == 1
    # an unknown default namespace (as two real feeds of the corpus have) is read as RSS
    odd = _rss(_story(1), _story(2)).replace(
        b'<rss version="2.0"', b'<rss xmlns="https://cyber.harvard.edu/rss/rss.html" version="2.0"')
    assert odd != _rss(_story(1), _story(2))
    parsed = parse_feed(odd, headers={}, url=URL)
    assert len(parsed.items) == 2 and len(parsed.item_digests) == 2


def test_a_shortened_document_that_is_no_feed_falls_back_to_the_whole() -> None:
    """With every item known, this document (no title, no known format) cut short is no
    feed at all: that is no failure of the feed, whose whole parse is returned."""
    body = b"<root><item><title>a</title><link>https://e.org/a</link></item></root>"
    whole = parse_feed(body, headers={}, url=URL)
    assert len(whole.items) == 1 and len(whole.item_digests) == 1
    assert parse_feed(body, headers={}, url=URL,
                      known_items=frozenset(whole.item_digests)) == whole


# -- the corpus's odd documents, by name ------------------------------------------------------

def _odd(name: str) -> bytes:
    path = FEEDS / "odd" / name
    if not path.is_file():
        pytest.skip(f"feed corpus not found at {FEEDS} (it is present in CI)")
    return path.read_bytes()


def test_a_document_declaring_utf16_in_utf8_reads_the_same_whatever_its_length() -> None:
    """declared-utf16-really-utf8.xml: on the document cut short, feedparser's UTF-16
    attempt succeeded (garbage: with every item known the parse failed) or failed (then
    UTF-8) with the byte count's parity; an 8-bit document is read as such, at any length."""
    body = _odd("declared-utf16-really-utf8.xml")
    whole = parse_feed(body, headers={}, url=URL)
    assert len(whole.items) == 59 and whole.title == "Eliot Jones"
    assert whole.problem == "document declared as utf-16, but parsed as utf-8"
    for tail in (b"\n", b"\n\n", b"\n\n\n"):
        longer = parse_feed(body + tail, headers={}, url=URL)
        assert (longer.items, longer.problem) == (whole.items, whole.problem)
    every = parse_feed(body, headers={}, url=URL, known_items=frozenset(whole.item_digests))
    assert (every.items, every.unchanged, every.title) == ((), 59, "Eliot Jones")
    for k in range(len(whole.items)):   # shortened documents of either parity
        one = parse_feed(body, headers={}, url=URL,
                         known_items=frozenset(whole.item_digests) - {whole.item_digests[k]})
        assert (one.items, one.unchanged) == ((whole.items[k],), 58)


def test_a_document_that_needs_the_loose_parser_is_parsed_whole() -> None:
    """control-char-in-one-item.xml: one item's \\x02 sends the whole document to
    feedparser's loose parser; without that item the strict parser would read the rest,
    and differently, so no item is left out."""
    body = _odd("control-char-in-one-item.xml")
    whole = parse_feed(body, headers={}, url=URL)
    assert len(whole.items) == 40 and whole.problem is not None
    assert whole.item_digests == ()
    pattern = [item_digest(m.group()) for m in _PATTERN.finditer(body)]
    assert len(pattern) == 40
    for k in (0, 20, 39):   # each whole parse by the loose parser takes a while
        assert parse_feed(body, headers={}, url=URL,
                          known_items=frozenset(pattern) - {pattern[k]}) == whole


def test_item_spans_that_are_no_entries_are_never_unchanged_items() -> None:
    """rss-prefixed-items-unparsed.xml: 35 <rss:item> spans, 0 entries: with every span's
    digest known it has no unchanged items."""
    body = _odd("rss-prefixed-items-unparsed.xml")
    pattern = _pattern_digests(body)
    assert len(pattern) == 35
    whole = parse_feed(body, headers={}, url=URL)
    assert (whole.items, whole.item_digests) == ((), ())
    every = parse_feed(body, headers={}, url=URL, known_items=pattern)
    assert every == whole and every.unchanged == 0


# -- every real, odd and hostile document ----------------------------------------------------

@pytest.mark.slow   # about 40 s for the corpus on a busy machine of 2 cores
@pytest.mark.parametrize("path", DOCUMENTS or [pytest.param(Path("none"), marks=ABSENT)],
                         ids=[p.name for p in DOCUMENTS] or ["none"])
def test_delta_parse_equals_the_whole_parse(path: Path) -> None:
    body = path.read_bytes()
    try:
        digests = parse_feed(body, headers={}, url=URL).item_digests
    except ParseError:
        digests = ()
    _agrees(body, _known_sets(body, digests, path.name), path.parent.name + "/" + path.name)
