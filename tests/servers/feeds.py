"""A real local HTTP feed server for tests, with scriptable faults.

    with FeedServer() as server:
        server.add_feed("/rss", items=[{"title": "S-400 news", "link": "https://x/1"}])
        url = server.url("/rss")

It generates RSS / Atom / RDF documents from item dicts, honours ETag and
Last-Modified with 304, and can be told per path to fail, hang, drip slowly,
redirect, compress (gzip / br), or stream a huge body without holding it. It
counts hits, logs the conditional headers it received, and records the peak
number of requests in flight per path. Everything is guarded by one lock.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import socket
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import brotli

BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    version: int = 0
    validators: bool = True          # send ETag / Last-Modified and honour them
    bare_304: bool = False           # a 304 without ETag / Last-Modified
    feed: dict[str, Any] | None = None   # the add_feed arguments, for add_item
    fail_status: int | None = None
    fail_left: int | None = None     # None = forever
    fail_headers: dict[str, str] = field(default_factory=dict)
    hang: threading.Event | None = None
    bytes_per_second: float | None = None
    redirect_to: str | None = None
    redirect_status: int = 301
    compression: str | None = None   # "gzip" | "br"
    huge: int | None = None
    huge_length: bool = True

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + f'-{self.version}"'

    @property
    def last_modified(self) -> str:
        when = datetime.fromtimestamp(BASE_TIME + 60 * self.version, UTC)
        return format_datetime(when, usegmt=True)


@dataclass(frozen=True)
class RequestRecord:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    headers: dict[str, str]


class FeedServer:
    """ThreadingHTTPServer on 127.0.0.1 (random port) in a thread; a context manager."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: dict[str, Route] = {}
        self.requests: list[RequestRecord] = []
        self._hits: dict[str, int] = defaultdict(int)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._peak: dict[str, int] = defaultdict(int)
        self._sent: dict[str, int] = defaultdict(int)
        self._sockets: set[socket.socket] = set()
        self.connections = 0             # TCP connections accepted so far
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.feeds = self
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging handlers, close every connection, join every thread. Idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        with self.lock:
            for route in self.routes.values():
                if route.hang is not None:
                    route.hang.set()
        self._httpd.shutdown()       # no new connections from here on
        with self.lock:
            sockets = list(self._sockets)
        for sock in sockets:         # wake handlers blocked on keep-alive reads or writes
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()   # joins handler threads (daemon_threads is off)
        self._thread.join()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- content ---------------------------------------------------------
    def _route(self, path: str) -> Route:
        return self.routes.setdefault(path, Route())

    def add_feed(self, path: str, items: list[dict[str, Any]] | None = None, *,
                 title: str = "Test feed", kind: str = "rss", link: str = "https://example.org/"
                 ) -> str:
        with self.lock:
            route = self._route(path)
            route.feed = {"items": list(items or []), "title": title, "kind": kind, "link": link}
            route.body, route.content_type = render_feed(**route.feed)
            route.version += 1
        return self.url(path)

    def add_item(self, path: str, item: dict[str, Any]) -> None:
        with self.lock:
            route = self.routes[path]
            assert route.feed is not None, "add_item needs a feed made by add_feed"
            route.feed["items"].insert(0, item)
            route.body, route.content_type = render_feed(**route.feed)
            route.version += 1

    def set_body(self, path: str, body: bytes, *, content_type: str = "application/xml",
                 headers: dict[str, str] | None = None, bare_304: bool = False) -> str:
        with self.lock:
            route = self._route(path)
            route.body, route.content_type = body, content_type
            route.headers = dict(headers or {})
            route.bare_304 = bare_304
            route.version += 1
        return self.url(path)

    def serve_file(self, path: str, file: str | Path, *,
                   content_type: str = "application/xml") -> str:
        return self.set_body(path, Path(file).read_bytes(), content_type=content_type)

    # -- behaviour -------------------------------------------------------
    def ignore_validators(self, path: str) -> None:
        with self.lock:
            self._route(path).validators = False

    def fail(self, path: str, status: int, n: int | None = 1,
             headers: dict[str, str] | None = None) -> None:
        """Answer the next `n` requests (None: all) with `status`."""
        with self.lock:
            route = self._route(path)
            route.fail_status, route.fail_left = status, n
            route.fail_headers = dict(headers or {})

    def hang(self, path: str, release: threading.Event | None = None) -> threading.Event:
        """Hold requests until `release` is set (or the server stops), then answer normally."""
        event = release or threading.Event()
        with self.lock:
            self._route(path).hang = event
        return event

    def slow_body(self, path: str, bytes_per_second: float) -> None:
        with self.lock:
            self._route(path).bytes_per_second = bytes_per_second

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        with self.lock:
            route = self._route(path)
            route.redirect_to, route.redirect_status = to, status

    def gzip(self, path: str) -> None:
        with self.lock:
            self._route(path).compression = "gzip"

    def brotli(self, path: str) -> None:
        with self.lock:
            self._route(path).compression = "br"

    def huge(self, path: str, nbytes: int, *, content_length: bool = True) -> None:
        """Stream `nbytes` of filler (with or without Content-Length), never held in memory."""
        with self.lock:
            route = self._route(path)
            route.huge, route.huge_length = nbytes, content_length

    # -- observations ----------------------------------------------------
    def hits(self, path: str) -> int:
        with self.lock:
            return self._hits[path]

    def in_flight(self, path: str) -> int:
        with self.lock:
            return self._in_flight[path]

    def max_concurrent(self, path: str) -> int:
        with self.lock:
            return self._peak[path]

    def bytes_sent(self, path: str) -> int:
        with self.lock:
            return self._sent[path]

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    feeds: FeedServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.feeds.lock:
            self.server.feeds._sockets.add(self.connection)
            self.server.feeds.connections += 1

    def finish(self) -> None:
        with self.server.feeds.lock:
            self.server.feeds._sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        feeds = self.server.feeds
        path = self.path
        with feeds.lock:
            feeds._hits[path] += 1
            feeds._in_flight[path] += 1
            feeds._peak[path] = max(feeds._peak[path], feeds._in_flight[path])
            feeds.requests.append(RequestRecord(
                path, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"),
                {k.lower(): v for k, v in self.headers.items()}))
            route = feeds.routes.get(path)
        try:
            self._answer(feeds, path, route)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        finally:
            with feeds.lock:
                feeds._in_flight[path] -= 1

    def _answer(self, feeds: FeedServer, path: str, route: Route | None) -> None:
        if route is None:
            return self._send(404, b"not found", {"Content-Type": "text/plain"})
        if route.hang is not None:
            route.hang.wait()
            if feeds.stopping.is_set():
                self.close_connection = True
                return None
        with feeds.lock:
            failing = route.fail_status is not None and (route.fail_left is None
                                                         or route.fail_left > 0)
            if failing and route.fail_left is not None:
                route.fail_left -= 1
            body = route.body
        if failing:
            assert route.fail_status is not None
            return self._send(route.fail_status, b"failure",
                              {"Content-Type": "text/plain", **route.fail_headers})
        if route.redirect_to is not None:
            return self._send(route.redirect_status, b"", {"Location": route.redirect_to})
        if route.huge is not None:
            return self._stream_huge(feeds, path, route.huge, route.huge_length)
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.validators:
            headers.update({"ETag": route.etag, "Last-Modified": route.last_modified})
            if self._not_modified(route):
                if route.bare_304:
                    headers = {}
                return self._send(304, b"", headers)
        if route.compression == "gzip":
            body, headers["Content-Encoding"] = gzip_module.compress(body), "gzip"
        elif route.compression == "br":
            body, headers["Content-Encoding"] = brotli.compress(body), "br"
        self._send(200, body, headers, bytes_per_second=route.bytes_per_second, path=path)
        return None

    def _not_modified(self, route: Route) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return route.etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*"
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return parsedate_to_datetime(ims) >= parsedate_to_datetime(route.last_modified)
            except (TypeError, ValueError):
                return False
        return False

    def _send(self, status: int, body: bytes, headers: dict[str, str], *,
              bytes_per_second: float | None = None, path: str | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status == 304 or not body:
            return
        if bytes_per_second is None:
            self.wfile.write(body)
            self._count(path, len(body))
            return
        step = max(1, int(bytes_per_second / 20))
        for start in range(0, len(body), step):
            if self.server.feeds.stopping.wait(step / bytes_per_second):
                self.close_connection = True
                return
            self.wfile.write(body[start:start + step])
            self.wfile.flush()
            self._count(path, step)

    def _stream_huge(self, feeds: FeedServer, path: str, nbytes: int, length: bool) -> None:
        self.send_response(200)
        with feeds.lock:
            kind = feeds._route(path).content_type if path in feeds.routes else ""
        self.send_header("Content-Type", kind or "application/xml")
        if length:
            self.send_header("Content-Length", str(nbytes))
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"<!-- filler -->" * 4096
        left = nbytes
        while left > 0 and not feeds.stopping.is_set():
            piece = chunk[:left]
            self.wfile.write(piece)
            self._count(path, len(piece))
            left -= len(piece)

    def _count(self, path: str | None, n: int) -> None:
        if path is not None:
            with self.server.feeds.lock:
                self.server.feeds._sent[path] += n


# -- feed documents ------------------------------------------------------------

def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def render_feed(*, items: list[dict[str, Any]], title: str, kind: str,
                link: str) -> tuple[bytes, str]:
    """(document bytes, content type) for `kind` "rss", "atom" or "rdf"; all text escaped."""
    if kind == "rss":
        return _rss(items, title, link), "application/rss+xml; charset=utf-8"
    if kind == "atom":
        return _atom(items, title, link), "application/atom+xml; charset=utf-8"
    if kind == "rdf":
        return _rdf(items, title, link), "application/rdf+xml; charset=utf-8"
    raise ValueError(f"unknown feed kind {kind!r}")


def _el(name: str, value: Any, **attrs: str) -> str:
    if value is None:
        return ""
    extra = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f"<{name}{extra}>{escape(str(value))}</{name}>"


def _rss(items: list[dict[str, Any]], title: str, link: str) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
             'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
             _el("title", title), _el("link", link), _el("description", title)]
    for item in items:
        when = _when(item.get("published"))
        guid = item.get("guid")
        parts.append("<item>" + _el("title", item.get("title")) + _el("link", item.get("link"))
                     + (_el("guid", guid, isPermaLink="false") if guid else "")
                     + _el("description", item.get("summary"))
                     + _el("dc:creator", item.get("author"))
                     + "".join(_el("category", c) for c in item.get("categories", ()))
                     + (_el("pubDate", format_datetime(when)) if when else "") + "</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def _atom(items: list[dict[str, Any]], title: str, link: str) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
             _el("title", title), f"<link href={quoteattr(link)}/>", _el("id", link),
             _el("updated", "2024-01-01T00:00:00Z")]
    for item in items:
        when = _when(item.get("published"))
        author = item.get("author")
        parts.append(
            "<entry>" + _el("title", item.get("title"))
            + (f"<link href={quoteattr(item['link'])}/>" if item.get("link") else "")
            + _el("id", item.get("guid")) + _el("summary", item.get("summary"))
            + (f"<author>{_el('name', author)}</author>" if author else "")
            + "".join(f"<category term={quoteattr(c)}/>" for c in item.get("categories", ()))
            + (_el("published", when.isoformat()) if when else "") + "</entry>")
    parts.append("</feed>\n")
    return "".join(parts).encode()


def _rdf(items: list[dict[str, Any]], title: str, link: str) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF '
             'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
             'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">',
             f"<channel rdf:about={quoteattr(link)}>", _el("title", title), _el("link", link),
             _el("description", title), "</channel>"]
    for item in items:
        when = _when(item.get("published"))
        about = item.get("link") or item.get("guid") or ""
        parts.append(
            f"<item rdf:about={quoteattr(about)}>" + _el("title", item.get("title"))
            + _el("link", item.get("link")) + _el("description", item.get("summary"))
            + _el("dc:creator", item.get("author"))
            + "".join(_el("dc:subject", c) for c in item.get("categories", ()))
            + (_el("dc:date", when.isoformat()) if when else "") + "</item>")
    parts.append("</rdf:RDF>\n")
    return "".join(parts).encode()
