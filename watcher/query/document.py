"""The item text a query is matched against, and its lazily prepared fields."""

from __future__ import annotations

from dataclasses import dataclass

from watcher.query.normalize import normalize_map
from watcher.query.tokens import FieldText
from watcher.text import plain_text


@dataclass(frozen=True)
class Document:
    """Raw item text; summary and content may contain HTML. `article` is the plain main
    text of the item's linked page (watcher.article), when it was fetched."""

    title: str = ""
    summary: str = ""
    content: str = ""
    article: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    feed: str = ""  # feed name


_SHARED: dict[str, FieldText] = {}
_SHARED_MAX = 4096


def plain_field_text(plain: str) -> FieldText:
    """A field whose text is already plain (no HTML, no entities): the article."""
    norm, src = normalize_map(plain)
    return FieldText(plain, norm, src)


def field_text(raw: str) -> FieldText:
    return plain_field_text(plain_text(raw))


def shared_field_text(raw: str) -> FieldText:
    """field_text for values that repeat across items (feed, author, category): memoised."""
    got = _SHARED.get(raw)
    if got is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        got = _SHARED[raw] = field_text(raw)
    return got


_MAKERS = {"title": field_text, "summary": field_text, "content": field_text,
           "article": plain_field_text}


class PreparedDoc:
    """A Document's fields as FieldTexts, each built on first use and then shared."""

    __slots__ = ("doc", "_fields", "found", "present", "positions", "memo", "slow")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._fields: dict[str, list[FieldText]] = {}
        # set by the prefilter: per field, (whole tokens, token starts) of its keys present,
        # so a term whose keys are absent from a field skips that field's text
        self.found: dict[str, tuple[set[str], set[str]]] | None = None
        self.present: tuple[set[str], set[str]] | None = None  # the same, all fields
        # also from the prefilter: per (field, value index), key -> normalised spans where the
        # key stands as a whole written word
        self.positions: dict[tuple[str, int], dict[str, list[tuple[int, int]]]] = {}
        # per distinct term (its shared Probe): where it matched, so profiles sharing it
        # evaluate it once per document
        self.memo: dict[object, list[tuple[str, int, int, int]]] = {}
        # user regexes (guard.UserRegex) that reached their time bound on this document
        self.slow: set[object] = set()

    def field(self, name: str) -> list[FieldText]:
        got = self._fields.get(name)
        if got is None:
            if name == "category":
                got = [shared_field_text(c) for c in self.doc.categories if c]
            else:
                raw = getattr(self.doc, name)
                make = _MAKERS.get(name, shared_field_text)
                got = [make(raw)] if raw else []
            self._fields[name] = got
        return got
