"""A local SMTP server for tests (aiosmtpd), recording what it receives.

    with SmtpServer(username="u", password="p") as smtp:   # AUTH optional
        ...send to smtp.host, smtp.port...
        [msg] = smtp.wait_for(1)          # Received(mail_from, rcpt_tos, message)
        smtp.reject_next(1, "550 5.1.1 no such user")   # next DATA refused
        smtp.reject_rcpt("nobody@example.org")          # RCPT TO refused with 550

`stop()` frees the port, so a sender then gets "connection refused"; `start()`
listens on the same port again.
aiosmtpd's `Controller(port=0)` does not work, so a free port is picked first.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.waiting import DEADLINE


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    received: float = field(default_factory=time.monotonic)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.server.refused_rcpts:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.server._receive(envelope)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 in its own thread; AUTH when a username is given."""

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.username = username
        self.password = password
        self.received: list[Received] = []
        self.refused_rcpts: set[str] = set()
        self.logins: list[str] = []
        self._rejects: list[str] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        """Listen on `port` (again, after a stop: a stopped Controller cannot restart)."""
        if self._controller is None:
            kwargs: dict[str, Any] = {}
            if self.username is not None:
                kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
            controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                    **kwargs)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Close the port: senders then get "connection refused"."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reject_next(self, n: int = 1, reply: str = "550 5.7.1 message refused") -> None:
        """Answer the next `n` DATA commands with `reply` (e.g. "451 try later")."""
        with self._cond:
            self._rejects += [reply] * n

    def reject_rcpt(self, address: str) -> None:
        self.refused_rcpts.add(address.lower())

    def wait_for(self, n: int, timeout: float = DEADLINE) -> list[Received]:
        """The received messages once there are at least `n`; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received)} of {n} emails arrived")
                self._cond.wait(left)
            return list(self.received)

    def _receive(self, envelope: Any) -> str:
        with self._cond:
            if self._rejects:
                return self._rejects.pop(0)
            raw = bytes(envelope.original_content or envelope.content)
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          message, raw))
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == self.username
              and auth_data.password.decode() == self.password)
        if ok:
            self.logins.append(str(self.username))
        return AuthResult(success=ok, handled=False)
