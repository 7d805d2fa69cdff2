"""A progress line on standard error for long commands (`poll`, `backtest`) on a terminal.

`progress_line` is pure (what the line says); `Progress` rewrites one terminal line
in place (carriage return and erase-to-end-of-line) and clears it when done. The CLI
makes one only when standard error is a terminal and the log is not JSON, so nothing
of it ever reaches a file, a pipe or a log collector.
"""

from __future__ import annotations

from typing import TextIO

_ERASE = "\r\x1b[K"


def progress_line(what: str, done: int, total: int, items: int, noun: str) -> str:
    """E.g. "polling: 12 of 75 feeds, 340 items"."""
    return f"{what}: {done} of {total} {noun}, {items} item{'' if items == 1 else 's'}"


class Progress:
    """One line rewritten in place on a terminal stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = False

    def show(self, text: str) -> None:
        try:
            self._stream.write(_ERASE + text)
            self._stream.flush()
        except (OSError, ValueError):   # the terminal went away: progress is not worth a failure
            return
        self._shown = True

    def before_log(self, _record: object) -> bool:
        """A logging filter: erase the line so that a log line starts on a clean one."""
        self.clear()
        return True

    def clear(self) -> None:
        """Erase the line (before the summary or any other output)."""
        if self._shown:
            self.show("")
            self._shown = False
