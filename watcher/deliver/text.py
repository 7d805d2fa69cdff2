"""Pure text helpers shared by the channel renderers.

Feed text is hostile: it may hold terminal escape sequences, control
characters, bidi overrides, CR/LF (header injection) and links with any
scheme. Every renderer passes feed text through `clean` (or `one_line`) and
every link through `web_link` before it formats anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from watcher.models import Alert, Snippet

ELLIPSIS = "…"

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \),
# DCS/SOS/PM/APC strings, and two-character escapes. Their 8-bit C1 forms
# (\x9b, \x9d, ...) start with a control character and are handled the same.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"          # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"   # OSC, DCS, SOS, PM, APC ...
    r"[^\x07\x1b\x9c]{0,512}(?:\x07|\x1b\\|\x9c)"  # ... and their terminator
    r"|\x1b[ -/]*[0-~]?"                           # other ESC sequences
)
# C0 and C1 controls, DEL, and the bidi embedding/override/isolate characters
# (they can make displayed text read differently from what it is).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """`text` without escape sequences and control characters; tabs and line
    breaks become spaces, and runs of white space collapse to one."""
    text = _ANSI.sub("", text)
    text = _CONTROLS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def trim(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[: max(limit, 0)]
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def one_line(text: str, limit: int = 300) -> str:
    """Cleaned feed text for a single line, at most `limit` characters."""
    return trim(clean(text), limit)


def web_link(url: str) -> str | None:
    """`url` (cleaned) if it is an absolute http(s) URL that may be shown as a link."""
    url = url.strip()
    if not url or _CONTROLS.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def format_time(when: datetime | None, tz: ZoneInfo) -> str:
    """`when` in the configured timezone, e.g. "2024-05-01 14:03 +03"; "" when unknown."""
    if when is None:
        return ""
    local = when.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or local.strftime("%z"))


def profiles_label(alert: Alert) -> str:
    """The profile names of an alert, joined by ", " ("watcher" when there are none)."""
    return ", ".join(one_line(p, 100) for p in alert.profiles) or "watcher"


def terms_label(terms: Iterable[str]) -> str:
    """The matched terms, cleaned and joined by ", "."""
    return ", ".join(one_line(t, 100) for t in terms)


def snippet_source(snippet: Snippet) -> str:
    """What introduces a snippet cut from the fetched page rather than the feed's own text
    ("in the article"); "" for the feed's text."""
    return "in the article" if snippet.field == "article" else ""


def snippet_parts(snippet: Snippet, limit: int = 500) -> list[tuple[str, bool]]:
    """The snippet as (text, bold) runs, control characters removed, at most
    `limit` characters in all. Bold spans out of range or overlapping are
    clipped; a bold run never starts or ends with white space."""
    text = snippet.text
    parts: list[tuple[str, bool]] = []
    pos = 0
    for start, end in sorted(snippet.bold):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        parts.append((text[pos:start], False))
        parts.append((text[start:end], True))
        pos = end
    parts.append((text[pos:], False))
    out: list[tuple[str, bool]] = []
    used = 0
    for chunk, bold in parts:
        chunk = _SPACES.sub(" ", _CONTROLS.sub(" ", _ANSI.sub("", chunk)))
        if bold:
            lead = chunk[: len(chunk) - len(chunk.lstrip())]
            tail = chunk[len(chunk.rstrip()):]
            core = chunk.strip()
            pieces = [(lead, False), (core, True), (tail, False)] if core else [(chunk, False)]
        else:
            pieces = [(chunk, False)]
        for piece, is_bold in pieces:
            if not piece:
                continue
            room = limit - used
            if room <= 0:
                break
            if len(piece) > room:
                piece = trim(piece, room)
            out.append((piece, is_bold))
            used += len(piece)
    if out:  # no leading/trailing white space on the whole snippet
        first, b = out[0]
        out[0] = (first.lstrip(), b)
        last, b = out[-1]
        out[-1] = (last.rstrip(), b)
    return [(t, b) for t, b in out if t]
