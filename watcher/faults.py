"""Crash points for the crash-safety tests.

`crash_point("after_fetch")` kills the process with SIGKILL when the environment
variable WATCHER_CRASH_AT names that point (optionally `point:N` for its N-th
passage). Unset (always, outside tests), it costs one dictionary lookup.

Points: after_fetch, after_articles (the linked pages of new items fetched, nothing
recorded yet), mid_transaction, after_send (the channel accepted a message,
before it is marked sent), before_send, during_digest.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    target = os.environ.get("WATCHER_CRASH_AT")
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
