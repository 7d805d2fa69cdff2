"""Fetching and parsing in worker processes, so that httpx's work is spread over every core.

httpx costs about a millisecond of CPU per request and feedparser about ten per changed
document; in one process that is the whole round's critical path. Here each worker
process runs its own event loop with its own `Fetcher` (watcher/fetch.py) and parses
what changed (feedparser in a thread, so its loop keeps fetching); the daemon's process
keeps the store, matching, dedup and delivery, and receives small answers: the fetch
result without its body, the body's hash, and the parsed items.

Limits hold across the workers: each has its share of `concurrency` and of `per_host`.
Fetches wait in this process and go to a worker with room (one holds at most its share
of connections plus two), so a worker busy parsing takes fewer and none idles while
another has a backlog. When `per_host` is smaller than the number of workers, feeds are
placed by host instead, so one worker alone talks to a host and its limit holds as
configured.

A worker that dies (the OOM killer on a hostile document, say) fails the fetches it had
in flight ("the fetch process crashed"), and a new one starts on the next request.
Workers are forked from multiprocessing's fork server (a fresh single-threaded process,
so they inherit no threads or locks of the daemon); the fork server ends when the daemon
ends, and the kernel then kills its workers (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from watcher.models import Article
from watcher.source import (
    Answer,
    ArticleRequest,
    Fetched,
    FetchFailed,
    FetchRequest,
    fetch_and_parse,
    fetch_article,
    observe,
    observe_article,
    unwrap,
)

Request = FetchRequest | ArticleRequest
Reply = Answer | Article

if TYPE_CHECKING:   # workers import this module: they need neither metrics nor its library
    from watcher.metrics import Metrics
    from watcher.prepare import Profiles
    from watcher.query import Matcher

log = logging.getLogger("watcher.fetchpool")


@dataclass
class _Worker:
    process: Any   # multiprocessing's ForkServerProcess
    conn: Connection
    pending: dict[int, asyncio.Future[Reply]]
    served: int = 0
    outgoing: list[tuple[int, Request]] = field(default_factory=list)   # one message


# a fetch waiting for a worker: (request id, the request, where its answer goes)
_Queued = tuple[int, Request, "asyncio.Future[Reply]"]
SPARE = 2   # requests a worker holds beyond its connections, so it never waits for the next


class FetchPool:
    def __init__(self, workers: int, fetcher_options: dict[str, Any],
                 metrics: Metrics | None = None, profiles: Profiles | None = None) -> None:
        """`fetcher_options` are Fetcher's; `metrics` counts fetches and parses as the
        Fetcher and the parser pool do; each worker matches the items it parses against
        `profiles` (watcher.prepare), when given."""
        self.metrics = metrics
        self.profiles = profiles
        self.size = max(1, workers)
        self.options = dict(fetcher_options)
        per_host = int(self.options.get("per_host", 2))
        self.by_host = per_host < self.size
        self.options["per_host"] = per_host if self.by_host else per_host // self.size
        self.options["max_connections"] = max(
            1, -(-int(self.options.get("max_connections", 10)) // self.size))
        self.depth = self.options["max_connections"] + SPARE
        self._workers: list[_Worker | None] = [None] * self.size
        # one queue for every worker, or one per worker when feeds are placed by host
        self._queues: list[deque[_Queued]] = [deque() for _ in range(
            self.size if self.by_host else 1)]
        self._next_id = 0

    def start(self) -> None:
        """Start every worker now (they boot while the first requests are prepared)."""
        for i in range(self.size):
            self._worker(i)

    def _slot(self, url: str) -> int:
        """The worker that alone talks to this feed's host (when placing by host)."""
        return zlib.crc32((urlsplit(url).hostname or "").encode()) % self.size

    def _worker(self, i: int) -> _Worker:
        worker = self._workers[i]
        if worker is not None:
            return worker
        ctx = _context()
        parent, child = ctx.Pipe()
        process = ctx.Process(target=worker_main, args=(child, self.options, self.profiles),
                              daemon=True, name=f"watcher-fetch-{i}")
        with _terms_ignored():   # the first start launches the fork server
            process.start()
        child.close()
        worker = _Worker(process, parent, {})
        self._workers[i] = worker
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_answer, worker)
        return worker

    async def fetch(self, request: FetchRequest) -> Fetched:
        """Fetch in a worker, and parse there unless the body's hash is the known one."""
        answer = await self._ask(request)
        assert not isinstance(answer, Article)
        observe(self.metrics, answer)
        return unwrap(answer)

    async def article(self, request: ArticleRequest) -> Article:
        """Fetch a page and extract its text in a worker (under the same limits)."""
        answer = await self._ask(request)
        article = answer if isinstance(answer, Article) else Article(
            "failed", detail=answer.message if isinstance(answer, FetchFailed) else None)
        observe_article(self.metrics, article)
        return article

    async def _ask(self, request: Request) -> Reply:
        self._next_id += 1
        req_id = self._next_id
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        queue = self._queues[self._slot(request.url) if self.by_host else 0]
        queue.append((req_id, request, future))
        self._dispatch()
        return await future

    async def aclose(self) -> None:
        self.close()

    def _dispatch(self) -> None:
        """Hand waiting fetches to the workers with room, the least busy first; each worker
        gets its share in one message."""
        try:
            if self.by_host:
                for i, queue in enumerate(self._queues):
                    if queue:
                        worker = self._worker(i)
                        while queue and len(worker.pending) < self.depth:
                            _assign(worker, queue.popleft())
            elif self._queues[0]:
                queue = self._queues[0]
                workers = [self._worker(i) for i in range(self.size)]
                while queue:
                    worker = min(workers, key=lambda w: len(w.pending))
                    if len(worker.pending) >= self.depth:
                        break
                    _assign(worker, queue.popleft())
        except (OSError, ValueError) as exc:   # no process can start: fail, don't hang
            log.error("cannot start a fetch process: %s", exc)
            for queue in self._queues:
                _answer_all([future for _, _, future in queue],
                            f"cannot start a fetch process: {exc}")
                queue.clear()
        for target in list(self._workers):
            if target is not None and target.outgoing:
                batch, target.outgoing = target.outgoing, []
                try:
                    target.conn.send(batch)
                except (OSError, ValueError):
                    self._lost(target)

    def _on_answer(self, worker: _Worker) -> None:
        """A worker's answers arrived (one message; the loop calls again if more wait)."""
        try:
            answers = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        for req_id, answer in answers:
            worker.served += 1
            future = worker.pending.pop(req_id, None)
            if future is not None and not future.done():
                future.set_result(answer)
        self._dispatch()

    def _lost(self, worker: _Worker) -> None:
        """A worker is gone: fail what it had in flight; a new one takes the queue."""
        if worker in self._workers:
            self._workers[self._workers.index(worker)] = None
            log.error("a fetch process died with %d fetches in flight; starting a new one",
                      len(worker.pending))
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.conn.fileno())
        worker.conn.close()
        _answer_all(list(worker.pending.values()), "the fetch process crashed")
        worker.pending.clear()
        worker.outgoing.clear()
        worker.process.join(0)
        if any(self._queues):
            loop.call_soon(self._dispatch)

    def close(self) -> None:
        """Stop every worker; fetches still in flight or waiting are cancelled."""
        for queue in self._queues:
            for _, _, future in queue:
                future.cancel()
            queue.clear()
        for i, worker in enumerate(self._workers):
            if worker is None:
                continue
            self._workers[i] = None
            try:
                asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            except RuntimeError:   # no loop running any more
                pass
            worker.conn.close()   # the worker sees EOF and ends
            for future in worker.pending.values():
                future.cancel()
            worker.pending.clear()
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def _assign(worker: _Worker, queued: _Queued) -> None:
    """Give a waiting fetch to `worker` (sent with the others by `_dispatch`)."""
    req_id, request, future = queued
    if not future.done():   # else its poll was cancelled while it waited
        worker.pending[req_id] = future
        worker.outgoing.append((req_id, request))


def _answer_all(futures: list[asyncio.Future[Reply]], message: str) -> None:
    for future in futures:
        if not future.done():
            future.set_result(FetchFailed.ours(message))


def _context() -> Any:
    """Workers are forked from multiprocessing's fork server: one fresh, single-threaded
    process that imports the fetcher and the parser once, instead of each worker importing
    them again (and never a fork of the daemon itself, with its threads and locks)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["watcher.fetchpool", "watcher.fetch", "watcher.parse",
                                "watcher.prepare"])
    return ctx


def prestart() -> None:
    """Start the fork server now: it imports httpx and feedparser on another core while
    this process imports the rest of watcher (called first thing by `poll` and `run`)."""
    _context()
    with _terms_ignored():
        forkserver.ensure_running()


@contextlib.contextmanager
def _terms_ignored() -> Iterator[None]:
    """SIGTERM ignored while the fork server starts, so that it and its workers inherit
    that: systemd (and `kill` on a process group, and Ctrl-C for SIGINT) signals every
    process of the unit at once, but the daemon alone decides when they end. They end
    when it closes their pipes, and at once if it dies (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():   # signal's own rule
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the worker side ---------------------------------------------------------------------
# (its imports are inside the functions: `prestart` imports this module first thing, before
# httpx and feedparser, which the fork server preloads on the other core)

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a worker: SIGKILL me when the process that started me dies (Linux prctl)."""
    import ctypes
    import os

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers end when their pipe closes
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(conn: Connection, options: dict[str, Any],
                profiles: Profiles | None = None) -> None:
    """A worker process: serve fetch requests from `conn` until it closes."""
    from watcher.parse import install_feedparser_patches
    die_with_parent()
    install_feedparser_patches()
    # SIGTERM is ignored already (inherited from the fork server); the fork server gives
    # its children back the default SIGINT, which Ctrl-C would deliver here too
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(conn, options, profiles.matcher() if profiles is not None else None))


async def _serve(conn: Connection, options: dict[str, Any], matcher: Matcher | None) -> None:
    from watcher.fetch import Fetcher

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    answers: list[tuple[int, Reply]] = []

    def send_answers() -> None:   # the answers of one loop iteration, in one message
        batch = answers[:]
        answers.clear()
        try:
            conn.send(batch)
        except (OSError, ValueError):   # the daemon is gone or closed us
            pass

    def reply(req_id: int, answer: Reply) -> None:
        if not answers:
            loop.call_soon(send_answers)
        answers.append((req_id, answer))

    def on_requests() -> None:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            done.set()
            return
        for req_id, request in batch:
            task = loop.create_task(_answer(fetcher, matcher, reply, req_id, request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async with Fetcher(**options) as fetcher:
        loop.add_reader(conn.fileno(), on_requests)
        await done.wait()
        for task in tasks:
            task.cancel()


async def _answer(fetcher: Any, matcher: Matcher | None, reply: Callable[[int, Reply], None],
                  req_id: int, request: Request) -> None:
    answer: Reply
    try:
        if isinstance(request, ArticleRequest):
            answer = await fetch_article(fetcher, request)
        else:
            answer = await fetch_and_parse(fetcher, request, matcher)
    except Exception as exc:  # noqa: BLE001 - a bug must cost this one feed, not the worker
        answer = FetchFailed.ours(f"internal error: {type(exc).__name__}: {exc}"[:300])
    reply(req_id, answer)
