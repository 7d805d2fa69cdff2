"""Feed HTML to plain text: the one step that matching and duplicate detection share.

Pure. `html_to_text` drops tags, decodes entities, turns the elements that separate words
(paragraphs, list items, table cells, line breaks...) into spaces and drops the content of
elements that are not text (script, style, template, noscript); whitespace stays as it
comes. `plain_text` is a feed field as watcher stores, matches and shows it (hit offsets
refer to it): `html_to_text` with whitespace collapsed.

The rules are data (`TextRules`). `READING` is the one every caller uses on feed fields.
`HASHING` is frozen: content hashes and item keys are stored, and `watcher.dedup` decodes
the already plain text once more with the rules it has always used (fewer elements break
words, only script and style are dropped), so that every stored hash stays what it was.
Changing HASHING would re-key stored items and alert them again.

A document whose every `<` opens a plain start or end tag takes a fast path (split on `<`);
anything else (comments, doctypes, CDATA, script, odd attributes) goes to `html.parser`, and
markup even that cannot read falls back to dropping everything between `<` and `>`. Both
paths give the same text (tests/test_text.py).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser


@dataclass(frozen=True)
class TextRules:
    """Which elements separate words (a space in the text) and which hold no text."""

    breaks: frozenset[str]
    dropped: frozenset[str]


READING = TextRules(
    breaks=frozenset(
        "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table blockquote section article "
        "header footer pre hr dd dt dl figure figcaption img caption".split()),
    dropped=frozenset(("script", "style", "template", "noscript")))
HASHING = TextRules(
    breaks=frozenset(
        "p br div li ul ol tr td th h1 h2 h3 h4 h5 h6 blockquote section article hr".split()),
    dropped=frozenset(("script", "style")))

_TAG_SOUP = re.compile(r"<[^>]*>")
# a tag html.parser surely reads as one (after its "<"): name, attributes, "/" if it closes
# itself (an unquoted attribute value ending in "/" keeps its "/", as html.parser reads it)
_START_TAG = re.compile(r"""([a-zA-Z][a-zA-Z0-9]*)(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*+"""
                        r"""(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]++))?)*\s*(/?)>""")
_END_TAG = re.compile(r"/([a-zA-Z][a-zA-Z0-9]*)\s*>")
# elements html.parser (in some Python version) reads specially, and those a rule drops
_NOT_SIMPLE = READING.dropped | HASHING.dropped | frozenset(
    "textarea title plaintext xmp iframe noembed noframes listing".split())


def plain_text(field: str) -> str:
    """A feed field as watcher stores, matches and shows it: text, whitespace collapsed."""
    return " ".join(html_to_text(field).split())


def html_to_text(markup: str, rules: TextRules = READING) -> str:
    """Text of an HTML fragment (plain text passes through, entities decoded); never raises."""
    if "<" not in markup:
        return html.unescape(markup) if "&" in markup else markup
    simple = _simple_text(markup, rules)
    return _parsed_text(markup, rules) if simple is None else simple


def _simple_text(markup: str, rules: TextRules) -> str | None:
    """What html.parser gives, found quickly when every `<` opens a plain start or end tag
    (no comments, doctypes, script or odd attributes); None otherwise."""
    chunks = markup.split("<")
    parts = [html.unescape(chunks[0]) if "&" in chunks[0] else chunks[0]]
    for chunk in chunks[1:]:
        start = _START_TAG.match(chunk)
        m = start or _END_TAG.match(chunk)
        if m is None:
            return None
        name = m.group(1).lower()
        if name in _NOT_SIMPLE:
            return None
        if name in rules.breaks:
            # html.parser reports `<br/>` as a start and an end: a break for each
            parts.append("  " if start is not None and start.group(2) else " ")
        data = chunk[m.end():]
        parts.append(html.unescape(data) if "&" in data else data)  # entities never span tags
    return "".join(parts)


class _TextExtractor(HTMLParser):
    def __init__(self, rules: TextRules) -> None:
        super().__init__(convert_charrefs=True)
        self.rules = rules
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.rules.dropped:
            self._skip += 1
        elif tag in self.rules.breaks:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.rules.dropped:
            self._skip = max(0, self._skip - 1)
        elif tag in self.rules.breaks:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _parsed_text(markup: str, rules: TextRules) -> str:
    """Text of an HTML fragment by html.parser (any markup; slow)."""
    extractor = _TextExtractor(rules)
    try:
        extractor.feed(markup)
        extractor.close()
        return "".join(extractor.parts)
    except Exception:  # noqa: BLE001 - never fail on hostile markup; fall back to soup
        return html.unescape(_TAG_SOUP.sub(" ", markup))
