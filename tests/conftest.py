"""Shared fixtures: the local feed, Slack and SMTP servers, configs, and a network guard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
_real_connect = socket.socket.connect


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


@dataclass
class Run:
    code: int
    out: str
    err: str


class Watcher:
    """Runs the real `watcher` command against a config in a temporary directory."""

    def __init__(self, tmp: Path, state: str | None = None) -> None:
        self.tmp = tmp
        self.config = tmp / "watcher.toml"
        self.state = state or str(tmp / "state.db")   # an SQLite path or a postgresql:// DSN
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("SLACK_", "SMTP_", "WATCHER_"))}
        self.env["PYTHONPATH"] = str(REPO)

    def write(self, text: str) -> Path:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")
        return self.config

    def __call__(self, *args: str, timeout: float = 60, check: bool = False) -> Run:
        proc = subprocess.run([sys.executable, "-m", "watcher", *args, "-c", str(self.config)],
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              cwd=self.tmp)
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if check and run.code != 0:
            raise AssertionError(f"watcher {' '.join(args)} exited {run.code}:\n{run.err}")
        return run

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "watcher", *args, "-c", str(self.config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=self.tmp)


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


class Daemon:
    """A `watcher run` subprocess whose standard error is read line by line in a thread."""

    def __init__(self, watcher: Watcher, *args: str, env: dict[str, str] | None = None) -> None:
        import threading

        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.stdout_path = watcher.tmp / f"daemon-{id(self)}.out"
        self._stdout = self.stdout_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "run", *args, "-c", str(watcher.config)],
            stdout=self._stdout, stderr=subprocess.PIPE, text=True,
            env={**watcher.env, **(env or {})}, cwd=watcher.tmp)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_log(self, text: str, timeout: float = 20.0, count: int = 1) -> str:
        """The first log line containing `text` once `count` such lines exist."""
        import time

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self.lines if text in line]
                if len(found) >= count:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no log line with {text!r}; log:\n" +
                                         "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.5))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        import signal as _signal

        if self.proc.poll() is None:
            self.proc.send_signal(_signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        self._stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        return code


@pytest.fixture
def daemons(watcher: Watcher) -> Iterator[list[Daemon]]:
    """Start daemons with `daemons.append(Daemon(watcher))`; all are stopped afterwards."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()
