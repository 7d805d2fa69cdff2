"""The item text a query is matched against, and its lazily prepared fields."""

from __future__ import annotations

from dataclasses import dataclass

from watcher.query.normalize import normalize_map, plain_text
from watcher.query.tokens import FieldText


@dataclass(frozen=True)
class Document:
    """Raw item text; summary and content may contain HTML."""

    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    feed: str = ""  # feed name


def field_text(raw: str) -> FieldText:
    plain = plain_text(raw)
    norm, src = normalize_map(plain)
    return FieldText(plain, norm, src)


class PreparedDoc:
    """A Document's fields as FieldTexts, each built on first use and then shared."""

    __slots__ = ("doc", "_fields")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._fields: dict[str, list[FieldText]] = {}

    def field(self, name: str) -> list[FieldText]:
        got = self._fields.get(name)
        if got is None:
            if name == "category":
                got = [field_text(c) for c in self.doc.categories if c]
            else:
                raw = getattr(self.doc, name)
                got = [field_text(raw)] if raw else []
            self._fields[name] = got
        return got
