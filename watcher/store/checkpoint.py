"""WAL checkpoints of a SQLite store on a thread of their own, off the daemon's event loop.

In WAL mode, commits append to the `-wal` file and a checkpoint copies it back into the
database, with an fsync of each file. SQLite runs that checkpoint inside whichever commit
fills the WAL past 1,000 pages: during a first poll, the 20-70 ms commit of one feed in
every few, on the thread that also fetches, matches and delivers (about half the commit
time of a 1,000-feed first round). Here the store's connection turns automatic
checkpoints off, and a `Checkpointer` thread, with its own connection to the same file,
runs a PASSIVE checkpoint (it never waits for readers or writers) once enough commits
have passed, or every few seconds. If that thread ever stops, the store turns automatic
checkpoints back on at its next commit, so the WAL never grows unchecked.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("watcher.store")

EVERY_COMMITS = 64     # a checkpoint after this many commits ...
EVERY_SECONDS = 5.0    # ... or this long after the last one, whichever comes first


class Checkpointer:
    """A daemon thread checkpointing one database file; `commit()` after each commit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._commits = 0
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def commit(self) -> None:
        """One more commit in the WAL (called by the store's thread: a counter and, now and
        then, a wake-up; never waits)."""
        self._commits += 1
        if self._commits >= EVERY_COMMITS:
            self._commits = 0
            self._wake.set()

    def close(self) -> None:
        """Stop the thread (after a last checkpoint) and wait for it."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("state store %s: no checkpoint thread (%s); SQLite checkpoints "
                        "during commits instead", self.path, exc)
            return
        try:
            while True:
                self._wake.wait(EVERY_SECONDS)
                self._wake.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:   # busy, say: the next one catches up
                    log.debug("state store %s: checkpoint skipped: %s", self.path, exc)
                if self._stop.is_set():
                    return
        finally:
            db.close()
