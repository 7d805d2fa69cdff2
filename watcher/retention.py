"""Retention: what the store forgets, and when.

Items, stories and finished alerts older than `retention` are pruned; each pruned item
leaves a tombstone (watcher/store/tombstones.py) so that it is never alerted again while
its feed still lists it. Tombstones are kept `TOMBSTONE_FACTOR` times as long as
`retention`, and at least `TOMBSTONE_MIN_SECONDS` (a year), counted from the item's first
sighting, then pruned too.

Pruning runs at most once per period for every process sharing the store (the store
remembers the last run): hourly in the daemon, and at the end of `watcher poll`, so a
`poll` from cron every minute prunes once an hour.
"""

from __future__ import annotations

import logging

from watcher.config import WatcherSettings
from watcher.store import Store

TOMBSTONE_FACTOR = 10
TOMBSTONE_MIN_SECONDS = 365 * 86400.0
POLL_PRUNE_PERIOD = 3600.0   # `watcher poll`: at most one prune an hour
JOB = "housekeeping"         # the store's record of the last prune (shared with the daemon)

log = logging.getLogger("watcher.retention")


def tombstone_horizon(retention_seconds: float) -> float:
    """How long a pruned item's tombstone is kept, from the item's first sighting."""
    return max(TOMBSTONE_FACTOR * retention_seconds, TOMBSTONE_MIN_SECONDS)


def prune_if_due(store: Store, settings: WatcherSettings, *, owner: str, now: float,
                 period: float) -> int | None:
    """Prune unless a process sharing the store did so in the last `period` seconds (and
    the story index's keys past the story window); the number of items pruned, or None
    when it was not due."""
    if not store.run_once(JOB, owner, now, period):
        return None
    retention_seconds = settings.retention_seconds
    removed = store.prune(now - retention_seconds,
                          tombstones_older_than=now - tombstone_horizon(retention_seconds))
    store.prune_story_keys(now - settings.story_window_seconds)
    if removed:
        log.info("pruned %d item(s) older than %.0f days (tombstones kept)", removed,
                 retention_seconds / 86400)
    return removed
