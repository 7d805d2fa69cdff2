"""A short plain-text extract around the first hit, with the matched terms' spans to bold."""

from __future__ import annotations

from watcher.models import Hit, Match, Snippet
from watcher.query.document import Document
from watcher.text import plain_text

ELLIPSIS = "…"
_SOURCES = ("summary", "content", "title")


def _window(text: str, center: int, width: int) -> tuple[int, int]:
    """[start, end) of about `width` chars around `center`, moved to word boundaries."""
    if len(text) <= width:
        return 0, len(text)
    start = max(0, min(center - width // 3, len(text) - width))
    end = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start, min(center, end))
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


def make_snippet(doc: Document, match: Match, width: int = 240) -> Snippet:
    """About `width` chars of the first field (summary, content, title) with a hit, bold spans
    on every matched term inside it; the start of the text when no such hit exists."""
    width = max(width, 20)
    for name in _SOURCES:
        hits = [h for h in match.hits if h.field == name]
        if hits:
            return _extract(plain_text(getattr(doc, name)), hits, width)
    for name in _SOURCES:
        text = plain_text(getattr(doc, name))
        if text:
            return _extract(text, [], width)
    return Snippet("")


def _extract(text: str, hits: list[Hit], width: int) -> Snippet:
    first = min(hits, key=lambda h: h.start) if hits else None
    start, end = _window(text, first.start if first else 0, width)
    if first is not None and first.end > end:  # a very long hit: keep it whole
        end = min(len(text), first.end)
    prefix = ELLIPSIS if start > 0 else ""
    body = text[start:end]
    suffix = ELLIPSIS if end < len(text) else ""
    shift = len(prefix) - start
    spans = sorted((max(h.start, start) + shift, min(h.end, end) + shift)
                   for h in hits if h.start < end and h.end > start)
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        elif e > s:
            merged.append((s, e))
    return Snippet(prefix + body + suffix, tuple(merged))
