"""Feeds as static files served by nginx on 127.0.0.1: the benchmark's cheap feed server.

The Python test server (tests/servers/feeds.py) spends a thread and a few milliseconds of
the same two cores on every request, which slows every contender alike and hides the
differences between them. nginx serves the same documents as files for a small fraction
of that CPU, with its own ETag (mtime and size) and Last-Modified, and honours
If-None-Match / If-Modified-Since. Requests and 304s are counted from its access log.

The documents live only on disk: a new item is rendered alone and spliced in before the
first item of the file, so 10,000 feeds of 30 items cost the benchmark's own process no
memory (keeping their items would take about half a gigabyte). HTML pages (`add_page`,
served as text/html) are counted apart from the feeds: those under PAGES, the article
pages of tests/bench/article_pages.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.servers.feeds import render_feed

PAGES = b"/a/"   # the path prefix of HTML pages, counted apart from the feeds

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """\
worker_processes 1;
user root;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ application/rss+xml xml; text/html html; }}
    charset utf-8;
    charset_types application/rss+xml;
    log_format bench '$uri $status';
    access_log {root}/access.log bench;
    keepalive_requests 100000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


def available() -> bool:
    return Path(NGINX).exists()


class StaticFeeds:
    """N feeds written as files and served by a private nginx; a context manager."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="watcher-bench-nginx-"))
        (self.root / "www").mkdir()
        (self.root / "tmp").mkdir()
        (self.root / "www" / PAGES.decode().strip("/")).mkdir()
        self.feeds: dict[str, dict[str, Any]] = {}   # path -> title, kind, link (no items)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._totals = (0, 0)        # feeds: requests, 304s
        self._page_totals = (0, 0)   # pages: requests, 404s
        self._clock = time.time() - 3600   # file mtimes, moved on by each change

    def __enter__(self) -> StaticFeeds:
        conf = self.root / "nginx.conf"
        conf.write_text(CONF.format(root=self.root, port=self.port))
        self._proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.root)],
                                      stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError("nginx did not start: "
                                       + (self._proc.stderr.read() if self._proc.stderr
                                          else b"").decode()[-300:]) from None
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen within 10 s")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def add_feed(self, path: str, items: list[dict[str, Any]], *, title: str) -> str:
        self.feeds[path] = {"title": title, "kind": "rss", "link": "https://example.org/"}
        self._write(path, render_feed(items=items, **self.feeds[path])[0])
        return self.base_url + path

    def add_item(self, path: str, item: dict[str, Any]) -> None:
        """Put `item` first in the feed, as render_feed would with it at the head."""
        alone = render_feed(items=[item], **self.feeds[path])[0]
        fragment = alone[alone.index(b"<item>"):alone.rindex(b"</item>") + len(b"</item>")]
        body = self._file(path).read_bytes()
        at = body.find(b"<item>")
        at = body.rindex(b"</channel>") if at < 0 else at
        self._write(path, body[:at] + fragment + body[at:])

    def add_page(self, path: str, body: bytes) -> str:
        """An HTML page at `path` (ending in .html), served as text/html; its URL."""
        self._write(path, body)
        return self.base_url + path

    def _file(self, path: str) -> Path:
        return self.root / "www" / path.lstrip("/")

    def _write(self, path: str, body: bytes) -> None:
        file = self._file(path)
        file.write_bytes(body)
        self._clock += 1       # a new mtime, so a new ETag and Last-Modified
        os.utime(file, (self._clock, self._clock))

    def counts(self) -> tuple[int, int]:
        """(requests, 304s) of feeds served so far."""
        self._read_log()
        return self._totals

    def page_counts(self) -> tuple[int, int]:
        """(requests, 404s) of HTML pages (under PAGES) served so far."""
        self._read_log()
        return self._page_totals

    def _read_log(self) -> None:
        log = self.root / "access.log"   # unbuffered: a line is written as a request ends
        with log.open("rb") as fh:
            fh.seek(self._log_offset)
            data = fh.read()
        data = data[:data.rfind(b"\n") + 1]   # whole lines only: the rest is read next time
        self._log_offset += len(data)
        feeds: list[bytes] = []
        pages: list[bytes] = []
        for line in data.splitlines():
            if line:
                uri, _, status = line.rpartition(b" ")
                (pages if uri.startswith(PAGES) else feeds).append(status)
        self._totals = (self._totals[0] + len(feeds), self._totals[1] + feeds.count(b"304"))
        self._page_totals = (self._page_totals[0] + len(pages),
                             self._page_totals[1] + pages.count(b"404"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
