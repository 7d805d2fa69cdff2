"""Folding for matching, the same for queries and documents.

Hits are offsets into a field's plain text (`watcher.text.plain_text`); `normalize_map`
turns plain text into the folded text that matching compares, together with an index
map back to the plain text; `fold_for_matching` is the folded text alone.

Normalisation is per character, so every normalised character comes from exactly
one plain character: NFKD, drop combining accents, case-fold (Turkish İ, I and ı
all become i), NFKC; every dash and every kind of space becomes a space; soft
hyphens and zero-width joiners disappear. Cyrillic stays Cyrillic.
"""

from __future__ import annotations

import re
import unicodedata

_TURKISH_I = {"İ": "i", "I": "i", "ı": "i"}
_EXTRA_DASHES = frozenset("\u2212\u2043\ufe63\uff0d\u00af")
_REMOVED = frozenset("\u00ad\u200c\u200d\u2060\ufeff\u180e")
_SPACES = frozenset("\u200b")
# combining accents (stripped), by block: Latin/Greek/Cyrillic/Hebrew/Arabic and extensions
_ACCENT_RANGES = (
    (0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05C7), (0x0610, 0x061A),
    (0x064B, 0x065F), (0x0670, 0x0670), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
)


def _is_accent(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _ACCENT_RANGES)


def _base(ch: str) -> str:
    """One normalisation step for one character (not yet a fixpoint)."""
    if ch in _TURKISH_I:
        return "i"
    if ch in _REMOVED:
        return ""
    if ch.isspace() or ch in _SPACES or ch in _EXTRA_DASHES:
        return " "
    try:
        cat = unicodedata.category(ch)
        if cat == "Pd":
            return " "
        if _is_accent(ch):
            return ""
        out = unicodedata.normalize("NFKD", ch)
        out = "".join(c for c in out if not _is_accent(c)).casefold()
        out = unicodedata.normalize("NFKC", out)
    except (ValueError, TypeError):  # lone surrogates and the like: keep as is
        return ch
    return "".join(" " if (c.isspace() or unicodedata.category(c) == "Pd") else
                   _TURKISH_I.get(c, c) for c in out if not _is_accent(c) and c not in _REMOVED)


def _fixpoint(ch: str) -> str:
    """Normalised form of one character, iterated to a fixpoint (so folding is idempotent)."""
    out = _base(ch)
    for _ in range(4):
        nxt = "".join(_base(c) for c in out)
        if nxt == out:
            break
        out = nxt
    return out


class _Table(dict[int, str]):
    """str.translate table filled on demand; remembers which chars change length."""

    def __missing__(self, code: int) -> str:
        out = _fixpoint(chr(code))
        if len(out) != 1:
            _NON_UNIT.add(chr(code))
        self[code] = out
        return out


_NON_UNIT: set[str] = set()
_TABLE = _Table()
_ASCII_TABLE = {i: _TABLE[i] for i in range(128) if _TABLE[i] != chr(i)}
_ASCII_SPACES = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f]")  # the rest of _ASCII_TABLE: lower, "-"


def normalize_map(text: str) -> tuple[str, list[int] | None]:
    """Normalised text and, when lengths differ, the plain index of each normalised char.

    `None` as the map means the identity (the common case).
    """
    if text.isascii():
        if _ASCII_SPACES.search(text) is None:  # the common case, much faster than translate
            return text.lower().replace("-", " "), None
        return text.translate(_ASCII_TABLE), None
    norm = text.translate(_TABLE)
    if _NON_UNIT.isdisjoint(text):
        return norm, None
    src: list[int] = []
    for i, ch in enumerate(text):
        src.extend([i] * len(_TABLE[ord(ch)]))
    return norm, src


def fold_for_matching(text: str) -> str:
    """What matching compares: idempotent, the same for queries and item text.

    normalize_map's text, without building its index map."""
    if text.isascii():
        if _ASCII_SPACES.search(text) is None:
            return text.lower().replace("-", " ")
        return text.translate(_ASCII_TABLE)
    return text.translate(_TABLE)
