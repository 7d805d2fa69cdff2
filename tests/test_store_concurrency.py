"""Several OS processes on one store: claims never overlap, migrations run once, and a killed
daemon's leases can be taken over. Run against SQLite (one file) and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from tests.servers.postgres import pg_database, pg_server  # noqa: F401
from tests.support.waiting import DEADLINE
from watcher.models import Alert, Snippet
from watcher.store import FeedState, open_store
from watcher.store.schema import migrations

pytestmark = pytest.mark.slow   # these tests start processes

T = 1_700_000_000.0
LATEST = migrations("sqlite")[-1].version
N_FEEDS = 200
WORKERS = 4
ctx = multiprocessing.get_context("spawn")


# -- what each process does (top-level: spawned processes import this module) --------------
def _poll_feeds(dsn: str, owner: str, urls: list[str]) -> list[str]:
    """Claim a few due feeds at a time and "poll" them (save: lease ends, not due) until none
    is left; the feeds this process polled."""
    store = open_store(dsn)
    polled: list[str] = []
    try:
        while batch := store.claim_feeds(urls, owner, T, lease=300, limit=7):
            for url in batch:
                store.save_feed(FeedState(url=url, last_poll_at=T, next_poll_at=T + 600))
            polled += batch
    finally:
        store.close()
    return polled


def _deliver(dsn: str, owner: str, channel: str) -> list[int]:
    store = open_store(dsn)
    sent: list[int] = []
    try:
        while rows := store.claim_alerts(channel, owner, T, lease=300):
            ids = [r.id for r in rows]
            store.mark_sent(ids, T, sent_as="alert")
            sent += ids
    finally:
        store.close()
    return sent


def _run_once(dsn: str, owner: str) -> bool:
    store = open_store(dsn)
    try:
        return store.run_once("digest:slack", owner, T, 3600)
    finally:
        store.close()


def _open(dsn: str, owner: str) -> int:
    store = open_store(dsn)
    try:
        return store.schema_version
    finally:
        store.close()


JOBS: dict[str, Callable[..., Any]] = {"poll": _poll_feeds, "deliver": _deliver,
                                       "run_once": _run_once, "open": _open}


def _worker(job: str, dsn: str, owner: str, args: tuple[Any, ...], barrier: Barrier,
            out: Any) -> None:
    try:
        barrier.wait(60)
        out.put((owner, JOBS[job](dsn, owner, *args)))
    except BaseException as exc:  # the parent fails the test with it
        out.put((owner, exc))


def _hold_leases(dsn: str, urls: list[str], in_transaction: bool, claimed: Any,
                 never: Connection) -> None:
    """Claim every feed, say so, then hang (the parent kills us with SIGKILL). Not on an
    Event: setting an Event whose waiter was killed deadlocks."""
    store = open_store(dsn)
    if in_transaction:
        with store.transaction():
            claimed.put(store.claim_feeds(urls, "doomed", T, lease=60))
            never.poll(120)
    claimed.put(store.claim_feeds(urls, "doomed", T, lease=60))
    never.poll(120)


# -- harness --------------------------------------------------------------------------------
def run_all(job: str, dsn: str, *args: Any, n: int = WORKERS) -> dict[str, Any]:
    """Start n processes that do `job` at the same moment; owner → result."""
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(job, dsn, f"d{i}", args, barrier, out))
             for i in range(n)]
    for p in procs:
        p.start()
    try:
        results = dict(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    for owner, result in results.items():
        if isinstance(result, BaseException):
            raise AssertionError(f"worker {owner} failed: {result!r}")
    return results


@pytest.fixture(params=["sqlite", "postgres"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
    else:
        yield str(request.getfixturevalue("pg_database"))


URLS = [f"https://feeds.example/{i:03d}" for i in range(N_FEEDS)]


def assert_partition(results: dict[str, list[Any]], everything: list[Any]) -> None:
    got = [x for part in results.values() for x in part]
    assert len(got) == len(set(got)), "two processes claimed the same thing"
    assert sorted(got) == sorted(everything)


# -- tests ----------------------------------------------------------------------------------
def test_processes_opening_a_new_store_at_once_migrate_it_once(dsn: str) -> None:
    assert set(run_all("open", dsn, n=6).values()) == {LATEST}
    store = open_store(dsn)
    try:
        assert store.schema_version == LATEST
    finally:
        store.close()


@pytest.mark.parametrize("known", [True, False], ids=["known-feeds", "new-feeds"])
def test_processes_claiming_feeds_at_once_share_them_without_overlap(dsn: str,
                                                                     known: bool) -> None:
    store = open_store(dsn)
    if known:
        with store.transaction():
            for url in URLS:
                store.save_feed(FeedState(url=url, next_poll_at=T - 1))
    store.close()
    results = run_all("poll", dsn, URLS)
    assert_partition(results, URLS)


def test_processes_claiming_alerts_at_once_deliver_each_once(dsn: str) -> None:
    store = open_store(dsn)
    try:
        with store.transaction():
            ids = [alert_id for i in range(N_FEEDS) if (alert_id := store.add_alert(
                Alert(id=0, channel="slack", kind="new", profiles=("p",), title=f"t{i}",
                      link="https://x.example/", feed="F", published=None,
                      snippet=Snippet("s"), terms=()),
                dedupe_key=f"k{i}", item_id=None, urgent=False, now=T)) is not None]
        assert len(ids) == N_FEEDS
        results = run_all("deliver", dsn, "slack")
        assert_partition(results, ids)
        assert store.outbox_counts() == {"slack": {"sent": N_FEEDS}}
    finally:
        store.close()


def test_processes_asking_for_a_job_at_once_run_it_once(dsn: str) -> None:
    results = run_all("run_once", dsn)
    assert sorted(results.values()) == [False] * (WORKERS - 1) + [True]


@pytest.mark.parametrize("in_transaction", [False, True], ids=["after-commit", "mid-transaction"])
def test_the_feeds_of_a_killed_daemon_are_taken_over(dsn: str, in_transaction: bool) -> None:
    store = open_store(dsn)
    with store.transaction():
        for url in URLS:
            store.save_feed(FeedState(url=url, next_poll_at=T - 1))
    claimed = ctx.Queue()
    never, _keep = ctx.Pipe(duplex=False)  # the child waits on it for a message never sent
    proc = ctx.Process(target=_hold_leases, args=(dsn, URLS, in_transaction, claimed, never))
    proc.start()
    try:
        assert sorted(claimed.get(timeout=60)) == URLS
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.join(timeout=30)
        assert proc.exitcode == -9
        if not in_transaction:
            # committed leases hold until they run out...
            assert store.claim_feeds(URLS, "heir", T + 1, lease=60) == []
            assert sorted(store.feed_leases()) == URLS
            assert sorted(store.claim_feeds(URLS, "heir", T + 60, lease=60)) == URLS
        else:
            # ...an uncommitted claim vanishes with its process (once the server notices)
            got: set[str] = set()
            deadline = time.monotonic() + DEADLINE
            while len(got) < N_FEEDS and time.monotonic() < deadline:
                got |= set(store.claim_feeds(URLS, "heir", T + 1, lease=60))
            assert sorted(got) == URLS
        assert {owner for owner, _ in store.feed_leases().values()} == {"heir"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        store.close()
        never.close()
        _keep.close()
        try:
            while True:
                claimed.get_nowait()
        except queue.Empty:
            pass
