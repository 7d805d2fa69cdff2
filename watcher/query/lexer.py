"""Query string -> lexical tokens, each with its position (for the caret of a QueryError).

Operators are upper case (AND, OR, NOT, NEAR/n); `-` right before a term means
NOT; `field:` right before a term scopes it; `"..."` is a phrase, `/.../` a
regex, `@name` an alias set; anything else up to a space, a parenthesis or a
quote is a word (with an optional trailing `*`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from watcher.errors import QueryError
from watcher.query.syntax import FIELDS

_OPEN_QUOTES = {'"': '"', "\u201c": "\u201d\u201c\"", "\u201e": "\u201c\u201d\"",
                "\u201d": "\u201d\""}
_WORD_STOP = frozenset('()"\u201c\u201d\u201e')
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_ALIAS_RE = re.compile(r"[\w\-.]+")
_NEAR_RE = re.compile(r"NEAR(?:/(\S*))?$")


@dataclass(frozen=True)
class Lexeme:
    kind: str      # ( ) AND OR NOT - NEAR WORD PHRASE REGEX ALIAS FIELD
    value: str
    pos: int
    number: int = 0  # NEAR distance


def _read_word(query: str, i: int) -> int:
    j = i
    while j < len(query) and not query[j].isspace() and query[j] not in _WORD_STOP:
        j += 1
    return j


def _read_regex(query: str, i: int) -> tuple[str, int]:
    j = i + 1
    while j < len(query):
        if query[j] == "\\":
            j += 2
            continue
        if query[j] == "/":
            return query[i + 1:j], j + 1
        j += 1
    raise QueryError(query, i, "unclosed regex: add the closing /")


def lex(query: str) -> list[Lexeme]:
    out: list[Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(Lexeme(ch, ch, i))
            i += 1
        elif ch in _OPEN_QUOTES:
            closers = _OPEN_QUOTES[ch]
            j = i + 1
            while j < n and query[j] not in closers:
                j += 1
            if j >= n:
                raise QueryError(query, i, "unclosed quote: add the closing \"")
            out.append(Lexeme("PHRASE", query[i + 1:j], i))
            i = j + 1
        elif ch == "-" and (i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")"):
            raise QueryError(query, i, "'-' must be followed directly by the term to exclude")
        elif ch == "-" and query[i + 1] != "-":
            out.append(Lexeme("-", ch, i))
            i += 1
        elif ch == "/":
            body, j = _read_regex(query, i)
            if j < n and not query[j].isspace() and query[j] not in "()":
                raise QueryError(query, j, "unexpected text after the regex's closing /")
            out.append(Lexeme("REGEX", body, i))
            i = j
        elif ch == "@":
            m = _ALIAS_RE.match(query, i + 1)
            if not m:
                raise QueryError(query, i, "'@' must be followed by an alias name")
            out.append(Lexeme("ALIAS", m.group(), i))
            i = m.end()
        else:
            i = _lex_word(query, i, out)
    return out


def _lex_word(query: str, i: int, out: list[Lexeme]) -> int:
    m = _FIELD_RE.match(query, i)
    after = m.end() if m else 0
    if m and m.group(1).lower() in FIELDS and (after >= len(query) or query[after].isspace()):
        raise QueryError(query, i, f"'{m.group(1)}:' must be followed directly by a term "
                         "(no space)")
    if m and after < len(query) and not query[after].isspace():
        name = m.group(1).lower()
        if name not in FIELDS:
            raise QueryError(query, i, f"unknown field '{m.group(1)}:' "
                             f"(fields: {', '.join(f + ':' for f in FIELDS)})")
        if query[after] in "-)":
            raise QueryError(query, after, f"'{name}:' must be followed by a term or a group")
        out.append(Lexeme("FIELD", name, i))
        return after
    j = _read_word(query, i)
    word = query[i:j]
    if word in ("AND", "OR", "NOT"):
        out.append(Lexeme(word, word, i))
        return j
    near = _NEAR_RE.match(word)
    if near:
        arg = near.group(1)
        if arg is None:
            raise QueryError(query, i, "NEAR needs a distance in words, e.g. NEAR/5")
        if not arg.isdecimal() or not 1 <= int(arg) <= 1000:
            raise QueryError(query, i + 5, "NEAR/n needs a whole number n from 1 to 1000")
        out.append(Lexeme("NEAR", word, i, int(arg)))
        return j
    star = word.find("*")
    if star != -1 and star < len(word.rstrip("*")):
        raise QueryError(query, i + star, "a wildcard is only allowed at the end of a word")
    if not word.rstrip("*"):
        raise QueryError(query, i, "a wildcard needs a beginning, e.g. submarin*")
    out.append(Lexeme("WORD", word, i))
    return j
