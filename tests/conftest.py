"""Shared fixtures: the local feed, Slack and SMTP servers, configs, and a network guard."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.corpus import SHARED
from tests.support.runner import REPO, Daemon, Run, Watcher, starts_watcher

# re-exported for modules that import them from here (new code: import from tests/support)
__all__ = ["REPO", "SHARED", "Daemon", "Run", "Watcher"]

_real_connect = socket.socket.connect
_real_popen_init = subprocess.Popen.__init__

# Property tests assert results, not speed: no per-example deadline and no too-slow check
# (at load 30 an example took 260 ms against Hypothesis's 200 ms); speed is for tests/bench/.
settings.register_profile("watcher", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("watcher")


def _guarded_connect(self: socket.socket, address: object) -> None:
    """Tests talk to 127.0.0.1 only: anything else is a bug in the test."""
    if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = str(address[0])
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"test tried to reach {host}: the network is blocked")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _slow_marker_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that starts `watcher` as a subprocess must be marked slow (`-m "not slow"`
    then leaves out exactly the tests that do)."""
    if request.node.get_closest_marker("slow") is not None:
        return
    name = request.node.nodeid

    def guarded_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
        if starts_watcher(args):
            raise AssertionError(f"{name} starts watcher as a subprocess: mark it "
                                 "@pytest.mark.slow")
        _real_popen_init(self, args, *rest, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_init)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def watcher(tmp_path: Path) -> Watcher:
    return Watcher(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_watcher(request: pytest.FixtureRequest, tmp_path: Path) -> Watcher:
    """A Watcher on each state store in turn: the pipeline suites run against both.

    A module opts in with `watcher = any_store_watcher`-style override:
        @pytest.fixture
        def watcher(any_store_watcher): return any_store_watcher
    """
    if request.param == "sqlite":
        return Watcher(tmp_path)
    from tests.servers.postgres import shared_server

    return Watcher(tmp_path, shared_server().create_database())


@pytest.fixture
def daemons(watcher: Watcher) -> Iterator[list[Daemon]]:
    """Start daemons with `daemons.append(Daemon(watcher))`; all are stopped afterwards."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()
