"""Serving the dashboard with uvicorn: alone (`watcher web`) or beside the daemon (`run --web`).

The socket is bound here, before uvicorn starts, so that an address in use or refused is a
one-line error at start. Uvicorn's access log stays off: `/login?token=...` must not end up
in a log. Beside the daemon, uvicorn runs on a thread of its own with its own event loop
(it then leaves the daemon's signal handlers alone), and the dashboard reads the store
through its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn

from watcher.config import Config
from watcher.errors import ConfigError, WatcherError
from watcher.metrics import parse_address
from watcher.web.app import build_app
from watcher.web.auth import check_listen
from watcher.web.reader import StoreReader

log = logging.getLogger("watcher.web")


def web_address(config: Config, listen: str | None, option: str) -> tuple[str, int]:
    """Where to listen: the option if given, else [web] listen; refused beyond loopback
    without a token (ConfigError, exit 2)."""
    where = option if listen else f"{config.path}: web.listen"
    try:
        host, port = parse_address(listen or config.web.listen, option=where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    check_listen(host, config.web.token_value, where)
    return host, port


def bind(host: str, port: int, option: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise WatcherError(f"{option} {host}:{port}: cannot listen: "
                           f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class _Uvicorn(uvicorn.Server):
    """Uvicorn without its own signal handling: SIGTERM and SIGINT are ours (it would raise
    them again once stopped, ending the process by the signal instead of exit status 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """The dashboard on a bound socket; `run()` in this thread or `start()` on another."""

    def __init__(self, config: Callable[[], Config], sock: socket.socket,
                 reader: StoreReader) -> None:
        self.sock = sock
        self.reader = reader
        self.port = int(sock.getsockname()[1])
        self.host = str(sock.getsockname()[0])
        app = build_app(config, reader, config().web.token_value)
        self.server = _Uvicorn(uvicorn.Config(app, log_config=None, access_log=False,
                                                    lifespan="off", server_header=False))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        """Serve in this (the main) thread until SIGTERM or SIGINT."""
        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop_soon)
            await self._serve()

        asyncio.run(main())

    def _stop_soon(self) -> None:
        log.info("stopping the dashboard")
        self.server.should_exit = True

    async def _serve(self) -> None:
        log.info("dashboard on %s", self.url)
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            self.close()

    def start(self) -> WebServer:
        """Serve on a thread of its own (beside the daemon); `stop()` ends it."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="web",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close(self) -> None:
        self.sock.close()
        self.reader.close()


def open_web(config: Callable[[], Config], listen: str | None, option: str) -> WebServer:
    """Check the address, open the store's reader and bind: every start error comes here."""
    host, port = web_address(config(), listen, option)
    reader = StoreReader(config().state)
    try:
        reader.open()
        sock = bind(host, port, option)
    except BaseException:
        reader.close()
        raise
    return WebServer(config, sock, reader)
