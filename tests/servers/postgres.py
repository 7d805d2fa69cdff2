"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary directory.

    server = PostgresServer.start()      # 127.0.0.1 on a free port, trust auth
    dsn = server.create_database()       # a fresh empty database: postgresql://postgres@.../test_1
    server.stop()                        # pg_ctl stop -m immediate, directory removed

Binaries come from /usr/lib/postgresql/*/bin (Debian's `postgresql` package) or PATH. As
root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).

Fixtures (import all three into a test module; conftest.py is not ours):
    from tests.servers.postgres import pg_database, pg_server  # noqa: F401
`pg_server` is one server per test session however many modules import it; without
binaries the tests skip, except in CI (CI=true) where they fail.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from watcher.daemon import process_alive


def find_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL on this machine, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                        else 0)
    for folder in reversed(candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


PREFIX = "watcher-pg-"


def reap_orphans(bindir: Path) -> None:
    """Stop and remove the servers of earlier test runs that were killed before their
    cleanup ran (their owner.pid names a process that is gone)."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or still being set up
        if process_alive(owner):
            continue
        orphan = PostgresServer(bindir, root, 0)
        if (orphan.data / "postmaster.pid").exists():
            orphan.running = True
            try:
                orphan.stop()
            except (RuntimeError, subprocess.SubprocessError):
                pass
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self._names = itertools.count(1)
        self.running = False

    @property
    def dsn(self) -> str:
        """The maintenance database (postgres) as the superuser."""
        return self.database_dsn("postgres")

    def database_dsn(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @staticmethod
    def _as_owner(cmd: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._as_owner([str(self.bindir / cmd[0]), *cmd[1:]]),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}{tail}")

    @classmethod
    def start(cls, bindir: Path) -> PostgresServer:
        reap_orphans(bindir)
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (root / "owner.pid").write_text(str(os.getpid()))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        server = cls(bindir, root, _free_port())
        try:
            server._run("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C", "--no-sync")
            options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root}"
                       " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                       " -c max_connections=200")
            server._run("pg_ctl", "-D", str(server.data), "-o", options,
                        "-l", str(root / "server.log"), "-w", "-t", "60", "start")
            server.running = True
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def create_database(self) -> str:
        """A fresh empty database; its DSN."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.database_dsn(name)

    def stop(self) -> None:
        if self.running:
            self.running = False
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            finally:
                shutil.rmtree(self.root, ignore_errors=True)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server per process (so per pytest session), stopped when the process exits."""
    global _shared
    if _shared is None:
        bindir = find_bin()
        if bindir is None:
            reason = ("PostgreSQL binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin"
                      " or PATH: apt-get install -y postgresql")
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
        _shared = PostgresServer.start(bindir)
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    return shared_server()


@pytest.fixture(scope="session")
def pg_dsn(pg_server: PostgresServer) -> str:
    """The maintenance database's DSN (superuser, trust auth)."""
    return pg_server.dsn


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database for one test; its DSN."""
    yield pg_server.create_database()
