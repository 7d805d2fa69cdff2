"""A short plain-text extract around the first hit, with the matched terms' spans to bold
and the field it was cut from."""

from __future__ import annotations

from watcher.models import Hit, Match, Snippet, SnippetField
from watcher.query.document import Document
from watcher.text import plain_text

ELLIPSIS = "…"
_FEED_SOURCES: tuple[SnippetField, ...] = ("summary", "content", "title")


def _plain(doc: Document, name: SnippetField) -> str:
    """The plain text hit offsets of field `name` refer to (the article is plain already)."""
    return doc.article if name == "article" else plain_text(getattr(doc, name))


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


def _distinct(hits: list[Hit]) -> int:
    return len({h.term for h in hits})


def _densest(hits: list[Hit], width: int) -> Hit:
    """The hit that starts the window holding the most distinct terms (the earliest of
    equals): in a long article, the passage where the match is made."""
    ordered = sorted(hits, key=lambda h: h.start)
    reach = width * 2 // 3  # _window shows about this much after its center
    best, best_count = ordered[0], 0
    inside: dict[str, int] = {}
    right = 0
    for left, hit in enumerate(ordered):
        right = max(right, left)
        while right < len(ordered) and ordered[right].end <= hit.start + reach:
            inside[ordered[right].term] = inside.get(ordered[right].term, 0) + 1
            right += 1
        if len(inside) > best_count:
            best, best_count = hit, len(inside)
        if left < right:  # hit was counted: drop it before moving on
            inside[hit.term] -= 1
            if not inside[hit.term]:
                del inside[hit.term]
    return best


def make_snippet(doc: Document, match: Match, width: int = 240) -> Snippet:
    """About `width` chars of the first field (summary, content, title) with a hit, bold spans
    on every matched term inside it; from the article instead when it holds more of the
    matched terms than that field (around its densest passage); the start of the text when
    no field has a hit. The snippet names the field it was cut from."""
    width = max(width, 20)
    feed: tuple[SnippetField, list[Hit]] | None = None
    for name in _FEED_SOURCES:
        hits = [h for h in match.hits if h.field == name]
        if hits:
            feed = (name, hits)
            break
    article = [h for h in match.hits if h.field == "article"]
    if article and (feed is None or _distinct(article) > _distinct(feed[1])):
        return _extract(doc.article, article, width, "article", _densest(article, width))
    if feed is not None:
        return _extract(_plain(doc, feed[0]), feed[1], width, feed[0])
    for name in (*_FEED_SOURCES, "article"):
        text = _plain(doc, name)
        if text:
            return _extract(text, [], width, name)
    return Snippet("")


def _extract(text: str, hits: list[Hit], width: int, name: SnippetField,
             anchor: Hit | None = None) -> Snippet:
    first = anchor or (min(hits, key=lambda h: h.start) if hits else None)
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
    return Snippet(prefix + body + suffix, tuple(merged), name)
