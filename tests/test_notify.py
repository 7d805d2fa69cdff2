"""notify.py: the systemd notify protocol over a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer
from tests.support.runner import Daemon, Watcher
from tests.support.waiting import DEADLINE, wait_until
from tests.test_daemon import config, item
from watcher.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield str(path), sock
    finally:
        sock.close()


def receive_all(sock: socket.socket, until: str, timeout: float = DEADLINE) -> list[str]:
    """Datagrams, one string each, until one contains `until`."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} in {got}")


def test_messages_arrive_in_order(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled and notifier.watchdog_interval is None
    assert notifier.ready("2 feeds,\n 0 failing")
    assert notifier.watchdog() and notifier.status("fine") and notifier.stopping()
    notifier.close()
    assert receive_all(sock, "STOPPING") == ["READY=1\nSTATUS=2 feeds, 0 failing", "WATCHDOG=1",
                                             "STATUS=fine", "STOPPING=1"]


def test_abstract_namespace_socket() -> None:
    name = f"watcher-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        notifier.close()
        assert sock.recv(100) == b"READY=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and not notifier.ready() and not notifier.watchdog()
    assert not Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_a_vanished_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.ready() is False and notifier.watchdog() is False
    notifier.close()


@pytest.mark.parametrize(("env", "interval"), [
    ({"WATCHDOG_USEC": "20000000"}, 10.0),
    ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
    ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),   # another process's
    ({"WATCHDOG_USEC": "0"}, None), ({"WATCHDOG_USEC": "soon"}, None), ({}, None)])
def test_watchdog_interval_is_half_of_watchdog_usec(env: dict[str, str],
                                                    interval: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/run/x.sock", **env}).watchdog_interval == interval


@pytest.mark.slow
def test_daemon_speaks_the_protocol(watcher: Watcher, feed_server: FeedServer,
                                    listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    config(watcher, [feed_server.add_feed("/rss", [item(1)])])
    watcher.env.update({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"})  # ping every 0.3s
    run = Daemon(watcher)
    try:
        got = receive_all(sock, "WATCHDOG=1")
        got += receive_all(sock, "WATCHDOG=1")
        run.signal(signal.SIGTERM)
        got += receive_all(sock, "STOPPING=1")
        assert run.proc.wait(DEADLINE) == 0
    finally:
        run.stop()
    assert got[0].startswith("READY=1\nSTATUS=1 feeds, 0 failing")
    assert got[-1].startswith("STOPPING=1")
    assert got.count("READY=1") + sum(g.startswith("READY=1") for g in got) == 1
    assert sum(g == "WATCHDOG=1" for g in got) >= 2
    wait_until(lambda: "stopped" in run.log(), what="the daemon's last line")


def test_watchdog_is_silent_while_the_loop_does_not_progress(
        watcher: Watcher, listener: tuple[str, socket.socket]) -> None:
    import asyncio

    from watcher.config import load_config
    from watcher.daemon import Daemon
    from watcher.store import open_store

    path, sock = listener
    config(watcher, [])
    cfg = load_config(watcher.config)
    store = open_store(cfg.state)

    async def go() -> list[bytes]:
        daemon = Daemon(watcher.config, cfg, store, notifier=Notifier({"NOTIFY_SOCKET": path}))
        task = asyncio.create_task(daemon.watchdog(0.05))
        await asyncio.sleep(0.4)             # no tick: no ping
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(100)
        daemon.last_tick = time.time()       # a tick ran: a ping
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                got = [sock.recv(100)]
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "no ping after the tick"
                await asyncio.sleep(0.01)
        daemon.stopping.set()
        await task
        await daemon.engine.aclose()
        return got

    try:
        assert asyncio.run(go()) == [b"WATCHDOG=1"]
    finally:
        store.close()
