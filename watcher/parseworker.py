"""What a parser process runs: kept apart so a worker imports feedparser and nothing else.

Workers are started with "spawn" and import the module of the function they run; here
that is this module and watcher.parse, not the CLI, the store or httpx.
"""

from __future__ import annotations

import ctypes
import os
import signal

from watcher.models import ParsedFeed
from watcher.parse import parse_feed

PR_SET_PDEATHSIG = 1


def parse_document(body: bytes, headers: dict[str, str], url: str,
                   feed_name: str | None) -> ParsedFeed:
    """Parse one document (module level, so it pickles by name)."""
    return parse_feed(body, headers=headers, url=url, feed_name=feed_name)


def die_with_parent() -> None:
    """In a worker: SIGKILL me when the process that started me dies (Linux prctl)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
