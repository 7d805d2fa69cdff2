"""watcher.store.checkpoint: a SQLite store's WAL checkpoints run on their own thread."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.support.waiting import DEADLINE
from watcher.store import SQLiteStore
from watcher.store.checkpoint import EVERY_COMMITS, Checkpointer


def _autocheckpoint(store: SQLiteStore) -> int:
    row = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()
    return int(next(iter(row.values())))


def _commit(store: SQLiteStore, n: int) -> None:
    with store.transaction():
        store.set_meta(f"k{n}", "x" * 2000)


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"))
    try:
        assert _autocheckpoint(store) == 1000 and store._checkpointer is None   # reads only
        for n in range(EVERY_COMMITS + 1):
            _commit(store, n)
        checkpointer = store._checkpointer
        assert isinstance(checkpointer, Checkpointer) and _autocheckpoint(store) == 0
        deadline = time.monotonic() + DEADLINE
        while checkpointer.checkpoints < 1:   # woken by the commits, not by the clock
            assert time.monotonic() < deadline, "no checkpoint ran"
            time.sleep(0.01)
    finally:
        store.close()
    assert not checkpointer.alive
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0] == (
        EVERY_COMMITS + 1)
    db.close()


def test_a_stopped_thread_gives_checkpoints_back_to_sqlite(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"))
    try:
        _commit(store, 0)
        checkpointer = store._checkpointer
        assert isinstance(checkpointer, Checkpointer)
        checkpointer.close()
        _commit(store, 1)
        assert store._checkpointer is False and _autocheckpoint(store) == 1000
        _commit(store, 2)   # and stays so
        assert _autocheckpoint(store) == 1000
    finally:
        store.close()
