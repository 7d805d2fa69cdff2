"""Console channel: render alerts as a few plain lines (pure) and print them (I/O).

Feed text loses every control character and terminal escape sequence first
(`text.clean`), so a title cannot move the cursor, recolour, retitle or
clear the terminal. Matched words in the snippet are shown in bold on a terminal
(`bold=True`: the SGR sequences `BOLD`/`UNBOLD`, the only escape sequences the sender
lets through, and only to a terminal), and plain otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

from watcher.deliver.text import (
    clean,
    format_time,
    one_line,
    profiles_label,
    snippet_parts,
    snippet_source,
    terms_label,
    web_link,
)
from watcher.errors import TransientDeliveryError
from watcher.models import Alert

BOLD, UNBOLD = "\x1b[1m", "\x1b[22m"
_ON, _OFF = "\ue000", "\ue001"   # private-use stand-ins while a line is cleaned
_KIND_NOTE = {"update": " (update)", "edit": " (title changed)", "also": " (also reported)"}


def _link(alert: Alert) -> str:
    """The article URL; a non-web URL is shown marked, so it reads as data, not a link."""
    url = web_link(alert.link)
    if url is not None:
        return url
    shown = one_line(alert.link, 200)
    return f"(not a web link: {shown})" if shown else "(no link)"


def render_console(alert: Alert, tz: ZoneInfo, *, bold: bool = False) -> str:
    """One alert as readable lines: profiles and title, link, feed and time, snippet, terms;
    matched words in bold when `bold` (for a terminal)."""
    head = {"test": "[TEST ALERT] ", "health": "[HEALTH] ", "recovered": "[HEALTH] "}.get(
        alert.kind, f"[{profiles_label(alert)}] ")
    lines = [head + (one_line(alert.title, 500) or "(untitled)") + _KIND_NOTE.get(alert.kind, "")]
    lines.append("  " + _link(alert))
    meta = " · ".join(x for x in (one_line(alert.feed, 200), format_time(alert.published, tz))
                      if x)
    if meta:
        lines.append("  " + meta)
    snippet = "".join(f"{BOLD}{t}{UNBOLD}" if strong and bold else t
                      for t, strong in snippet_parts(alert.snippet))
    if snippet:
        source = snippet_source(alert.snippet)
        lines.append("  " + (f"{source}: " if source else "") + snippet)
    if alert.terms:
        lines.append("  matched: " + terms_label(alert.terms))
    return "\n".join(lines)


def _entry(alert: Alert, tz: ZoneInfo, *, profiles: bool) -> str:
    meta = [profiles_label(alert)] if profiles else []
    meta += [x for x in (one_line(alert.feed, 200), format_time(alert.published, tz)) if x]
    return (f"- {one_line(alert.title, 300) or '(untitled)'}"
            f"{_KIND_NOTE.get(alert.kind, '')}\n    {_link(alert)}\n    {' · '.join(meta)}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_console_summary(alerts: Sequence[Alert], tz: ZoneInfo) -> str:
    """A burst of alerts as one block of text."""
    lines = [f"[watcher] {_plural(len(alerts), 'new alert')}"]
    lines += [_entry(a, tz, profiles=True) for a in alerts]
    return "\n".join(lines)


def render_console_digest(alerts: Sequence[Alert], tz: ZoneInfo, *, heading: str) -> str:
    """A digest: the heading, then the alerts grouped by profile."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        for profile in alert.profiles or ("watcher",):
            groups.setdefault(profile, []).append(alert)
    lines = [f"[watcher] {one_line(heading, 100)}: {_plural(len(alerts), 'alert')}"]
    for profile, items in groups.items():
        lines.append(f"{one_line(profile, 100)} ({len(items)})")
        lines += [_entry(a, tz, profiles=False) for a in items]
    if not alerts:
        lines.append("No new alerts.")
    return "\n".join(lines)


class ConsoleSender:
    """Writes rendered text to a stream (standard output by default), one block per send."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def terminal(self) -> bool:
        """Whether the stream is a terminal (then bold is shown as bold)."""
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            return stream.isatty()
        except (OSError, ValueError):
            return False

    def send(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        # Renderers already cleaned feed text; this guards text from anywhere else.
        bold = self.terminal
        block = "\n".join(_clean_line(line, bold) for line in text.split("\n"))
        try:
            try:
                stream.write(block + "\n\n")
            except UnicodeEncodeError:  # e.g. LANG=C: show "?" rather than fail
                encoding = getattr(stream, "encoding", None) or "ascii"
                stream.write((block + "\n\n").encode(encoding, "replace").decode(encoding))
            stream.flush()
        except (OSError, ValueError) as exc:  # e.g. a closed pipe or a closed stream
            raise TransientDeliveryError(f"console: cannot write: {exc}") from None


def _clean_line(line: str, bold: bool) -> str:
    """`line` cleaned, keeping its indentation (clean() strips it) and, when `bold`, the
    BOLD/UNBOLD sequences (a line never ends in bold)."""
    marked = line.replace(_ON, "").replace(_OFF, "").replace(BOLD, _ON).replace(UNBOLD, _OFF)
    body = clean(marked)
    if bold:
        body = body.replace(_ON, BOLD).replace(_OFF, UNBOLD)
        if body.count(BOLD) > body.count(UNBOLD):
            body += UNBOLD
    else:
        body = body.replace(_ON, "").replace(_OFF, "")
    return line[: len(line) - len(line.lstrip(" "))] + body if body else ""
