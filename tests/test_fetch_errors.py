"""How watcher.fetch classes each way a fetch fails, against real local servers.

Transport failures are told apart by the types of the exception httpx raises and of the
exceptions it was raised from, never by message text; the rest (size, compression) are
watcher's own checks. Each case gives the kind, the message after the URL, and what the
FetchError was raised from.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import brotli
import httpx
import pytest
import trustme

from tests.servers.feeds import FeedServer
from watcher.errors import FetchError, FetchErrorKind
from watcher.fetch import Fetcher, describe_transport_error

MIB = 1024 * 1024
ITEMS = [{"title": "Turkey S-400 second batch", "link": "https://example.org/1", "guid": "1"}]


@contextlib.contextmanager
def raw_server(reply: bytes | None, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """A server on 127.0.0.1 (its port yielded) that reads each request's head and sends
    `reply`, or nothing, then closes; with `tls`, it first runs a TLS handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)   # how often the accept loop looks at `stop`
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        if reply is not None:
            conn.sendall(reply)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with raw if tls is None else tls.wrap_socket(raw, server_side=True) as conn:
                    answer(conn)
            except OSError:   # ssl.SSLError too: the client refused our certificate
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unknown_authority() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)   # a CA nobody trusts
    return context


def _fetch_error(url: str, **options: Any) -> FetchError:
    async def main() -> FetchError:
        async with Fetcher(**options) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch(url)
            return caught.value
    return asyncio.run(main())


def _arrange(case: str, server: FeedServer, stack: contextlib.ExitStack
             ) -> tuple[str, dict[str, Any]]:
    """The URL that fails in this way, and the Fetcher options that make it fail so."""
    def raw(reply: bytes | None, tls: ssl.SSLContext | None = None) -> str:
        return f"http://127.0.0.1:{stack.enter_context(raw_server(reply, tls))}/feed"

    if case == "refused":
        return f"http://127.0.0.1:{_closed_port()}/feed", {}
    if case == "dns":   # RFC 6761: .invalid never resolves; the lookup may be slow, not wrong
        return "http://feed.invalid/feed", {"connect_timeout": 60, "total_timeout": 120}
    if case == "tls-unknown-authority":
        return raw(b"", _unknown_authority()).replace("http://", "https://"), {}
    if case == "tls-to-plain-http":
        return server.url("/feed").replace("http://", "https://"), {}
    if case == "no-answer":
        return raw(None), {}
    if case == "not-http":
        return raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"), {}
    if case == "read-timeout":
        server.add_feed("/hang", ITEMS)
        server.hang("/hang")
        return server.url("/hang"), {"read_timeout": 0.5}
    if case == "total-timeout":
        url = server.set_body("/drip", b"<rss>" + b" " * 20_000 + b"</rss>")
        server.slow_body("/drip", 2_000)
        return url, {"read_timeout": 30, "total_timeout": 0.5}
    if case == "too-large":
        server.huge("/big", 5 * MIB, content_length=False)
        return server.url("/big"), {"max_bytes": MIB}
    if case in ("gzip-bomb", "brotli-bomb"):
        zeros = bytes(50 * MIB)
        coding, body = (("gzip", gzip.compress(zeros, 9)) if case == "gzip-bomb"
                        else ("br", brotli.compress(zeros, quality=5)))
        return server.set_body("/bomb", body, headers={"Content-Encoding": coding}), \
            {"max_bytes": MIB}
    if case == "corrupt-gzip":
        return server.set_body("/bad", b"\x1f\x8b\x08\x00garbage" * 10,
                               headers={"Content-Encoding": "gzip"}), {}
    if case == "unknown-encoding":
        return server.set_body("/z", b"xx", headers={"Content-Encoding": "compress"}), {}
    raise AssertionError(case)


PROTOCOL = "server closed the connection or broke the protocol"
LARGE = f"response larger than {MIB} bytes"
CASES: list[tuple[str, FetchErrorKind, str, type[BaseException] | None]] = [
    ("refused", "transient", "connection refused", httpx.ConnectError),
    ("dns", "transient", "DNS lookup failed", httpx.ConnectError),
    ("tls-unknown-authority", "transient", "TLS handshake failed", httpx.ConnectError),
    ("tls-to-plain-http", "transient", "TLS handshake failed", httpx.ConnectError),
    ("no-answer", "transient", PROTOCOL, httpx.RemoteProtocolError),
    ("not-http", "transient", PROTOCOL, httpx.RemoteProtocolError),
    ("read-timeout", "soft", "timed out after 0.5s", httpx.ReadTimeout),
    ("total-timeout", "soft", "timed out after 0.5s", None),
    ("too-large", "hard", LARGE, None),
    ("gzip-bomb", "hard", LARGE, None),
    ("brotli-bomb", "hard", LARGE, None),
    ("corrupt-gzip", "soft", "corrupt gzip body (", None),
    ("unknown-encoding", "hard", "unsupported content-encoding 'compress'", None),
]


@pytest.mark.parametrize(("case", "kind", "reason", "cause"), CASES, ids=[c[0] for c in CASES])
def test_each_failure_is_classed_by_its_type(feed_server: FeedServer, case: str,
                                              kind: FetchErrorKind, reason: str,
                                              cause: type[BaseException] | None) -> None:
    with contextlib.ExitStack() as stack:
        url, options = _arrange(case, feed_server, stack)
        error = _fetch_error(url, **options)
    assert error.kind == kind, error
    assert str(error).startswith(f"{url}: {reason}"), error
    if cause is None:
        assert error.__cause__ is None, repr(error.__cause__)
    else:
        assert isinstance(error.__cause__, cause), repr(error.__cause__)


def _connect_error(message: str, *causes: BaseException) -> httpx.ConnectError:
    """A ConnectError raised from `causes` in turn, as httpx and httpcore chain them."""
    error = httpx.ConnectError(message)
    below: BaseException = error
    for cause in causes:
        below.__cause__ = cause
        below = cause
    return error


@pytest.mark.parametrize(("error", "expected"), [
    # message text that once decided the class now decides nothing
    (_connect_error("Name or service not known; connection refused; bad certificate",
                    OSError("All connection attempts failed")), "connection failed"),
    (_connect_error("[Errno -2]", httpx.ConnectError("x"), socket.gaierror(-2, "no")),
     "DNS lookup failed"),
    # anyio: every address of a host refused, as an exception group below an OSError
    (_connect_error("All connection attempts failed",
                    OSError("All connection attempts failed"),
                    ExceptionGroup("attempts", [ConnectionRefusedError(111, "x")])),
     "connection refused"),
    (_connect_error("", ssl.SSLCertVerificationError(1, "x")), "TLS handshake failed"),
    (httpx.RemoteProtocolError("Server disconnected"), PROTOCOL),
    (httpx.ReadError(""), "connection failed"),
])
def test_transport_errors_are_described_by_type_alone(error: httpx.TransportError,
                                                      expected: str) -> None:
    assert describe_transport_error(error, connect=10, read=20) == (expected, "transient")


def test_an_unsupported_protocol_is_hard() -> None:
    assert describe_transport_error(httpx.UnsupportedProtocol("x"), connect=1, read=1) == (
        "unsupported URL scheme", "hard")
