"""The dashboard's own connection to the store, kept on one thread.

Neither store engine may be used from two threads (SQLite's connection is bound to the
thread that opened it), and the dashboard must not block the daemon's event loop: so the
dashboard opens its own store on one worker thread and runs every read there, in turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from watcher.store import Store, open_store
from watcher.store.reports import Reports
from watcher.store.sql import SQLStore

T = TypeVar("T")


class StoreReader:
    """`await reader.read(fn)` runs `fn(store, reports)` on the store's thread."""

    def __init__(self, state: str, opener: Callable[[str], Store] = open_store) -> None:
        self._state = state
        self._opener = opener
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-store")
        self._store: Store | None = None
        self._reports: Reports | None = None
        self._closed = False

    def _open(self) -> tuple[Store, Reports]:
        if self._store is None or self._reports is None:
            store = self._opener(self._state)
            assert isinstance(store, SQLStore)
            self._store, self._reports = store, Reports(store)
        return self._store, self._reports

    def _call(self, fn: Callable[[Store, Reports], T]) -> T:
        store, reports = self._open()
        return fn(store, reports)

    async def read(self, fn: Callable[[Store, Reports], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    def open(self) -> None:
        """Open the store now (so that a bad `state` fails at start, not on a first visit)."""
        self._pool.submit(self._open).result()

    def close(self) -> None:
        """Close the store and end the thread (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True

        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None
        self._pool.submit(close_store).result()
        self._pool.shutdown(wait=True)
