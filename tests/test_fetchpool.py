"""watcher.fetchpool: fetch and parse in worker processes, against the local feed server."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.servers.feeds import FeedServer
from tests.support.waiting import DEADLINE
from watcher.decisions import MatchWindow
from watcher.errors import FetchError
from watcher.fetchpool import FetchPool
from watcher.metrics import Metrics
from watcher.prepare import Profiles
from watcher.source import Fetched, FetchRequest

T = TypeVar("T")
ITEMS = [{"title": f"Item {i}", "link": f"https://e.example/{i}", "guid": f"g{i}",
          "summary": "Ankara and the S-400."} for i in range(3)]
OPTIONS = {"max_connections": 10, "per_host": 4, "read_timeout": 5.0, "total_timeout": 10.0}


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def run(fn: Callable[[FetchPool], Awaitable[T]], workers: int = 2,
        options: dict[str, Any] | None = None, metrics: Metrics | None = None) -> T:
    async def main() -> T:
        pool = FetchPool(workers, options or OPTIONS, metrics)
        try:
            return await fn(pool)
        finally:
            pool.close()
    return asyncio.run(main())


def get(pool: FetchPool, url: str) -> Coroutine[Any, Any, Fetched]:
    """A fetch of a feed never seen before (no validators, no known hash or items)."""
    return pool.fetch(FetchRequest(url))


async def started(pool: FetchPool, server: FeedServer, path: str) -> asyncio.Task[Fetched]:
    """A fetch of `path` as a task, once the server has it in hand."""
    task = asyncio.create_task(get(pool, server.url(path)))
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while server.in_flight(path) < 1:
        assert asyncio.get_running_loop().time() < deadline, f"{path} never reached the server"
        await asyncio.sleep(0.01)
    return task


def test_results_errors_and_parses_cross_from_the_workers(server: FeedServer) -> None:
    feed = server.add_feed("/a", ITEMS)
    server.set_body("/junk", b"this is not a feed at all", content_type="text/plain")
    server.fail("/missing", 404, n=None)
    metrics = Metrics()

    async def scenario(pool: FetchPool) -> dict[str, Any]:
        first = await pool.fetch(FetchRequest(feed, feed_name="A"))
        same = await pool.fetch(FetchRequest(feed, known_hash=first.digest, feed_name="A"))
        again = await pool.fetch(FetchRequest(
            feed, etag=first.result.etag, last_modified=first.result.last_modified,
            known_hash=first.digest, feed_name="A"))
        junk = await get(pool, server.url("/junk"))
        with pytest.raises(FetchError) as missing:
            await get(pool, server.url("/missing"))
        return {"first": first, "same": same, "again": again, "junk": junk,
                "missing": missing.value}

    got = run(scenario, metrics=metrics)
    first = got["first"]
    assert first.result.status == 200 and first.result.body == b""   # the body stays there
    assert first.parsed is not None and [i.title for i in first.parsed.items] == [
        "Item 0", "Item 1", "Item 2"]
    assert first.parsed.items[0].feed_name == "A"
    assert got["same"].parsed is None and got["same"].digest == first.digest  # not parsed again
    assert got["again"].result.status == 304 and got["again"].parsed is None
    assert got["junk"].parsed is None and got["junk"].parse_error
    missing = got["missing"]
    assert (missing.kind, missing.status) == ("hard", 404)
    value = metrics.registry.get_sample_value
    assert value("watcher_parses_total") == 1
    assert value("watcher_items_parsed_total") == 3
    assert value("watcher_parse_failures_total") == 1
    assert value("watcher_fetch_responses_total", {"code": "404"}) == 1


def test_workers_match_the_items_inside_the_window_of_the_request(server: FeedServer) -> None:
    """Each item comes back with its facts; those the request's window covers are matched
    in the worker (and printed, when a profile matched), the others are left to the daemon."""
    feed = server.add_feed("/a", ITEMS)
    profiles = Profiles({"s400": "S-400", "navy": "frigate"}, {})

    async def scenario(pool: FetchPool) -> list[Fetched]:
        return [await pool.fetch(FetchRequest(feed, window=window)) for window in
                (MatchWindow(0.0, undated=True), MatchWindow(0.0, undated=False), None)]

    async def main() -> list[Fetched]:
        pool = FetchPool(2, OPTIONS, profiles=profiles)
        try:
            return await scenario(pool)
        finally:
            pool.close()

    inside, undated_out, no_window = asyncio.run(main())
    assert inside.parsed is not None and undated_out.parsed is not None
    assert no_window.parsed is not None
    for item in inside.parsed.items:
        assert item.facts is not None and item.facts.run is not None
        assert [m.profile for m in item.facts.run.matches] == ["s400"]
        assert item.facts.story_print is not None and item.facts.key == f"id:{item.guid}"
    for item in (*undated_out.parsed.items, *no_window.parsed.items):   # ITEMS are undated
        assert item.facts is not None and item.facts.run is None
        assert item.facts.story_print is None and item.facts.summary == "Ankara and the S-400."


def test_a_dead_worker_fails_its_fetches_and_a_new_one_takes_over(server: FeedServer) -> None:
    feed = server.add_feed("/a", ITEMS)
    release = server.hang("/slow", threading.Event())
    server.add_feed("/slow", ITEMS)

    async def scenario(pool: FetchPool) -> tuple[FetchError, int]:
        stuck = await started(pool, server, "/slow")
        worker = next(w for w in pool._workers if w is not None and w.pending)
        os.kill(worker.process.pid, signal.SIGKILL)
        with pytest.raises(FetchError) as crashed:
            await stuck
        release.set()
        after = await get(pool, server.url("/slow"))
        other = await get(pool, feed)
        assert other.parsed is not None
        return crashed.value, after.result.status

    crashed, status = run(scenario, workers=1)
    assert "fetch process crashed" in str(crashed) and crashed.kind == "transient"
    assert status == 200


def test_limits_are_shared_out_between_the_workers(server: FeedServer) -> None:
    """per_host 2 over 2 workers: 1 each, so never more than 2 at once to one host; with
    per_host 1 the feeds go to workers by host, and one worker keeps the limit alone."""
    release = threading.Event()
    paths = [f"/h{i}" for i in range(6)]
    for path in paths:
        server.add_feed(path, ITEMS)
        server.hang(path, release)

    def in_flight() -> int:
        return sum(server.in_flight(p) for p in paths)

    async def scenario(pool: FetchPool) -> int:
        limit = pool.options["per_host"] * (1 if pool.by_host else pool.size)
        tasks = [asyncio.create_task(get(pool, server.url(p))) for p in paths]
        while in_flight() < limit:
            await asyncio.sleep(0.01)
        # give the others every chance to arrive: they must not
        await asyncio.wait(tasks, timeout=0.3)
        most = in_flight()
        release.set()
        await asyncio.gather(*tasks)
        return most

    split = FetchPool(2, {**OPTIONS, "per_host": 2})
    assert (split.by_host, split.options["per_host"]) == (False, 1)
    assert run(scenario, options={**OPTIONS, "per_host": 2}) == 2
    release.clear()
    by_host = FetchPool(2, {**OPTIONS, "per_host": 1})
    assert by_host.by_host and by_host.options["per_host"] == 1
    assert len({by_host._slot(server.url(p)) for p in paths}) == 1
    assert run(scenario, options={**OPTIONS, "per_host": 1}) == 1


def test_a_busy_worker_takes_no_more_than_its_share(server: FeedServer) -> None:
    """Fetches wait here for a worker with room: while one worker is stuck on a slow feed,
    the other takes the rest; at most the stuck one's spare requests wait behind it."""
    release = threading.Event()
    server.add_feed("/slow", ITEMS)
    server.hang("/slow", release)
    quick = [server.add_feed(f"/q{i}", ITEMS) for i in range(12)]
    # 1 connection per worker; the slow fetch outlasts the wait below by far
    options = {**OPTIONS, "max_connections": 2, "per_host": 2, "read_timeout": DEADLINE,
               "total_timeout": 2 * DEADLINE}

    async def scenario(pool: FetchPool) -> tuple[int, int]:
        stuck = await started(pool, server, "/slow")
        tasks = [asyncio.create_task(get(pool, f)) for f in quick]
        spare = pool.depth - 1   # the most that can wait behind the slow fetch
        try:
            deadline = asyncio.get_running_loop().time() + DEADLINE / 2   # before its timeout
            while (sum(t.done() for t in tasks) < len(quick) - spare
                   and asyncio.get_running_loop().time() < deadline):
                await asyncio.sleep(0.01)
            finished = sum(t.done() and not t.exception() for t in tasks)
        finally:
            release.set()
        await asyncio.gather(stuck, *tasks)
        return finished, spare

    try:
        finished, spare = run(scenario, options=options)
    finally:
        release.set()   # else the server's handler would wait for ever
    assert finished >= len(quick) - spare


def _fork_server_pids() -> list[int]:
    """Children of this process that run multiprocessing's fork server."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if ppid == os.getpid() and b"multiprocessing.forkserver" in cmdline:
            found.append(int(entry))
    return found


def test_sigterm_and_sigint_to_the_whole_group_leave_the_workers_to_the_daemon(
        server: FeedServer) -> None:
    """systemd stops a unit by signalling all its processes at once (Ctrl-C does the same
    with SIGINT): the workers and the fork server must leave their ending to the daemon,
    which closes them after its in-flight polls, instead of dying under it."""
    feeds = [server.add_feed(f"/a{i}", ITEMS) for i in range(8)]

    async def fetch_all(pool: FetchPool) -> list[int]:
        got = await asyncio.gather(*(get(pool, f) for f in feeds))
        return [g.result.status for g in got]

    async def scenario(pool: FetchPool) -> list[int]:
        await fetch_all(pool)
        assert all(w is not None and w.served for w in pool._workers)   # every worker used
        targets = [w.process.pid for w in pool._workers if w is not None]
        targets += _fork_server_pids()
        assert len(targets) == pool.size + 1
        for pid in targets:
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGINT)
        statuses = await fetch_all(pool)   # every worker answers again: none died
        assert all(os.waitpid(pid, os.WNOHANG) == (0, 0) for pid in _fork_server_pids())
        return statuses

    assert run(scenario) == [200] * 8
