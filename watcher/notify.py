"""The systemd notify protocol: READY, WATCHDOG, STOPPING and STATUS datagrams.

When systemd starts a `Type=notify` service it sets NOTIFY_SOCKET to an AF_UNIX
datagram socket (a leading "@" means Linux's abstract namespace: a NUL byte) and,
with WatchdogSec=, WATCHDOG_USEC (and WATCHDOG_PID). Without NOTIFY_SOCKET every
call here does nothing, so the daemon runs the same in a terminal. A failed send
is logged once and otherwise ignored: systemd being away must not stop watcher.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("watcher.notify")


class Notifier:
    """Sends notify messages to the socket named by the environment (if any)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None without a watchdog."""
        if not self.enabled or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2e6

    def send(self, *lines: str) -> bool:
        """Send one datagram of KEY=VALUE lines; True when it went out."""
        if self.address is None:
            return False
        data = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(data, self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notify socket: %s (further failures not logged)", exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *_status(status))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *_status(status))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str) -> list[str]:
    line = " ".join(text.split())
    return [f"STATUS={line}"] if line else []


def _address(value: str) -> str | None:
    if not value or value[0] not in "/@":
        return None
    return "\0" + value[1:] if value.startswith("@") else value


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None    # meant for another process (e.g. a wrapper that exec'd us)
    return int(usec)
