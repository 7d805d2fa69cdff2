"""The real `watcher` command, run once (`Watcher`) or as a daemon (`Daemon`), against a
config in a temporary directory. Tests that use them start subprocesses: mark them slow."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import DEADLINE

REPO = Path(__file__).resolve().parents[2]
# a `-c` script that runs watcher: imports it, or execs `-m watcher`
_NAMES_WATCHER = re.compile(r"\b(?:import|from) watcher\b|['\"]watcher['\"]")


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

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "watcher", *args, "-c", str(self.config)]

    def __call__(self, *args: str, timeout: float = DEADLINE, check: bool = False) -> Run:
        proc = subprocess.run(self.command(*args), capture_output=True, text=True,
                              env=self.env, timeout=timeout, cwd=self.tmp)
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if check and run.code != 0:
            raise AssertionError(f"watcher {' '.join(args)} exited {run.code}:\n{run.err}")
        return run

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.tmp)


class Daemon:
    """A `watcher run` subprocess whose standard error is read line by line in a thread
    (`lines`, `log()`) and whose standard output goes to a file (`stdout()`)."""

    def __init__(self, watcher: Watcher, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.stdout_path = watcher.tmp / f"daemon-{id(self)}.out"
        self._stdout = self.stdout_path.open("w")
        self.proc = subprocess.Popen(
            watcher.command("run", *args), stdout=self._stdout, stderr=subprocess.PIPE,
            text=True, env={**watcher.env, **(env or {})}, cwd=watcher.tmp)
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

    def log(self) -> str:
        """Its standard error so far."""
        with self._cond:
            return "\n".join(self.lines)

    def stdout(self) -> str:
        """Its standard output so far (console alerts)."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = DEADLINE, count: int = 1) -> str:
        """The first log line containing `text` once `count` such lines exist."""
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

    def stop(self, timeout: float = DEADLINE) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)   # the pipe may stay open in a leftover worker: do not hang
        self._stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        return code


def starts_watcher(argv: object) -> bool:
    """Whether a subprocess command line runs watcher (`-m watcher`, or a wrapper script
    that imports it): the guard in conftest fails such a test unless it is marked slow."""
    if isinstance(argv, str | bytes | os.PathLike):
        argv = [argv]
    words = [os.fsdecode(a) for a in argv] if isinstance(argv, list | tuple) else []
    return bool(words) and words[0] == sys.executable and any(
        w == "watcher" or _NAMES_WATCHER.search(w) for w in words[1:])
