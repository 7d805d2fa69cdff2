"""What one round of polling did, in one line (pure): `watcher poll` prints it, `run` logs it.

A round is every feed polled once: `poll` is one round; the daemon counts the feeds it
polls and logs the line when each configured feed has been polled since the last one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from watcher.pipeline import PollOutcome

NOT_MODIFIED = frozenset({"not modified", "unchanged"})   # a 304, or the same bytes again


def sent_count(outbox_counts: Mapping[str, Mapping[str, int]]) -> int:
    """Alerts marked sent, every channel together (from `Store.outbox_counts()`)."""
    return sum(c.get("sent", 0) for c in outbox_counts.values())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class RoundSummary:
    ok: int = 0             # read and parsed
    not_modified: int = 0   # a 304, or the same bytes as last time
    failed: int = 0
    new_items: int = 0
    old_items: int = 0      # recorded silently: older than backfill on a feed's first poll
    alerts_queued: int = 0
    alerts_sent: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, outcomes: Iterable[PollOutcome], *, sent: int, seconds: float) -> RoundSummary:
        ok = not_modified = failed = new = old = queued = 0
        for o in outcomes:
            if not o.ok:
                failed += 1
            elif o.status in NOT_MODIFIED:
                not_modified += 1
            else:
                ok += 1
            new += o.new_items
            old += o.old_items
            queued += o.alerts
        return cls(ok, not_modified, failed, new, old, queued, sent, seconds)

    @property
    def feeds(self) -> int:
        return self.ok + self.not_modified + self.failed

    def line(self, backfill: str) -> str:
        """E.g. "3 feeds polled (1 ok, 1 not modified, 1 failed); 2 new items, 40 older than
        backfill (24h) recorded without alerts; 1 alert queued, 1 sent; 0.4s"."""
        text = (f"{_plural(self.feeds, 'feed')} polled ({self.ok} ok, {self.not_modified} not "
                f"modified, {self.failed} failed); {_plural(self.new_items, 'new item')}")
        if self.old_items:
            text += (f", {self.old_items} of them older than backfill ({backfill}, "
                     "[watcher] backfill) recorded without alerts")
        return (text + f"; {_plural(self.alerts_queued, 'alert')} queued, {self.alerts_sent} "
                f"sent; {self.seconds:.1f}s")
