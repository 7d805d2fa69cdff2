"""The two HTML-to-text normalisers as they were before watcher.text (commit 2bbf770), kept
frozen as an oracle: stored content hashes, item keys and story signatures were made with
them, so tests/test_text.py checks that today's code gives the same answers.

Do not "fix" anything here: a change would only hide a change in stored values.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from watcher.dedup import _combining_marks

# ---------------------------------------------------------------- watcher.query.normalize

_Q_BLOCK = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table blockquote section article "
    "header footer pre hr dd dt dl figure figcaption img caption".split())
_Q_SKIP = frozenset(("script", "style", "template", "noscript"))
_D_BLOCK = frozenset({"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3",
                      "h4", "h5", "h6", "blockquote", "section", "article", "hr"})
_D_SKIP = frozenset(("script", "style"))
_TAG_SOUP = re.compile(r"<[^>]*>")
_START_TAG = re.compile(r"""([a-zA-Z][a-zA-Z0-9]*)(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*+"""
                        r"""(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]++))?)*\s*/?>""")
_END_TAG = re.compile(r"/([a-zA-Z][a-zA-Z0-9]*)\s*>")
_NOT_SIMPLE = _Q_SKIP | frozenset(
    "textarea title plaintext xmp iframe noembed noframes listing".split())


class _Extractor(HTMLParser):
    def __init__(self, block: frozenset[str], skip: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.block, self.skip = block, skip
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.skip:
            self._skip += 1
        elif tag in self.block:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skip:
            self._skip = max(0, self._skip - 1)
        elif tag in self.block:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _query_parsed_text(text: str) -> str:
    extractor = _Extractor(_Q_BLOCK, _Q_SKIP)
    try:
        extractor.feed(text)
        extractor.close()
        return "".join(extractor.parts)
    except Exception:  # noqa: BLE001 - as it was
        return html.unescape(_TAG_SOUP.sub(" ", text))


def _query_simple_text(text: str) -> str | None:
    chunks = text.split("<")
    parts = [html.unescape(chunks[0]) if "&" in chunks[0] else chunks[0]]
    for chunk in chunks[1:]:
        m = _START_TAG.match(chunk) or _END_TAG.match(chunk)
        if m is None:
            return None
        name = m.group(1).lower()
        if name in _NOT_SIMPLE:
            return None
        if name in _Q_BLOCK:
            parts.append(" ")
        data = chunk[m.end():]
        parts.append(html.unescape(data) if "&" in data else data)
    return "".join(parts)


def query_plain_text(text: str) -> str:
    """watcher.query.plain_text: what the pipeline stores as an item's title, summary, content."""
    if "<" in text or "&" in text:
        simple = _query_simple_text(text)
        text = _query_parsed_text(text) if simple is None else simple
    return " ".join(text.split())


# ---------------------------------------------------------------- watcher.dedup

def dedup_plain_text(text: str) -> str:
    """watcher.dedup.plain_text (it had no fallback: html.parser's errors went up)."""
    if "<" not in text:
        return html.unescape(text)
    parser = _Extractor(_D_BLOCK, _D_SKIP)
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_DESIGNATOR = re.compile(rf"\b([^\W\d_]{{1,4}})[-{_DASHES}](\d+[^\W\d_]?|[^\W\d_])\b")
_NON_WORD = re.compile(r"[\W_]+")
_ASCII_NON_WORD = {c: " " for c in range(128) if not chr(c).isalnum()}


def dedup_normalize(text: str) -> str:
    """watcher.dedup.normalize, which content hashes and story words were folded with."""
    import unicodedata

    text = dedup_plain_text(text)
    if text.isascii():
        text = text.lower()
        if "-" in text:
            text = _DESIGNATOR.sub(r"\1\2", text)
        return " ".join(text.translate(_ASCII_NON_WORD).split())
    text = unicodedata.normalize("NFKC", text).casefold().replace("ı", "i")
    text = unicodedata.normalize("NFD", text).translate(_combining_marks())
    if any(dash in text for dash in "-" + _DASHES):
        text = _DESIGNATOR.sub(r"\1\2", text)
    return _NON_WORD.sub(" ", text).strip()
