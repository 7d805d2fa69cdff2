"""Prometheus metrics in their own registry, and the small HTTP server for /metrics and /healthz.

`Metrics` is created once per process and outlives config reloads; the engine and
daemon record into it from the event loop. The server runs in a thread and only
reads: `/metrics` renders the registry, `/healthz` calls a function that looks at
a few attributes (it never touches the store, which belongs to the event loop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger("watcher.metrics")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every metric watcher exports; one instance per process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("watcher_polls", "Feed polls by result", ["result"], registry=r)
        self.fetch_seconds = Histogram("watcher_fetch_seconds", "Time to fetch one feed",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.responses = Counter("watcher_fetch_responses", "HTTP answers by status code "
                                 "(304/(200+304) is the conditional-GET hit ratio)", ["code"],
                                 registry=r)
        self.parses = Counter("watcher_parses", "Feed documents parsed", registry=r)
        self.parse_failures = Counter("watcher_parse_failures", "Feed documents that could not "
                                      "be parsed (including parser process crashes)", registry=r)
        self.items_parsed = Counter("watcher_items_parsed", "Items found in parsed documents",
                                    registry=r)
        self.matches = Counter("watcher_matches", "Items matched, per profile", ["profile"],
                               registry=r)
        self.alerts_sent = Counter("watcher_alerts_sent", "Alerts delivered, per channel",
                                   ["channel"], registry=r)
        self.alerts_failed = Counter("watcher_alerts_failed", "Failed delivery attempts, per "
                                     "channel", ["channel"], registry=r)
        self.alerts_pending = Gauge("watcher_alerts_pending", "Alerts waiting in the outbox, "
                                    "per channel", ["channel"], registry=r)
        self.feed_errors = Counter("watcher_feed_errors", "Failed polls by error kind "
                                   "(hard, soft, transient)", ["kind"], registry=r)
        self.feeds_failing = Gauge("watcher_feeds_failing", "Feeds whose last poll failed",
                                   registry=r)
        self.articles = Counter("watcher_article_fetches", "Article pages fetched for new "
                                "items, by outcome", ["outcome"], registry=r)
        self.article_seconds = Histogram("watcher_article_extract_seconds", "Time to extract "
                                         "one article page's text", buckets=LATENCY_BUCKETS,
                                         registry=r)
        self.article_bytes = Counter("watcher_article_bytes", "Bytes of article pages read",
                                     registry=r)
        self.last_tick = Gauge("watcher_last_tick_timestamp_seconds", "When the scheduler "
                               "last ran its tick", registry=r)

    def observe_fetch(self, status: int, seconds: float) -> None:
        self.responses.labels(code=str(status)).inc()
        self.fetch_seconds.observe(seconds)

    def observe_article(self, outcome: str, size: int, seconds: float) -> None:
        self.articles.labels(outcome=outcome).inc()
        self.article_bytes.inc(size)
        if outcome not in ("http_error", "timeout", "failed", "not_html"):
            self.article_seconds.observe(seconds)

    def observe_parse(self, items: int) -> None:
        """One document parsed, with this many items."""
        self.parses.inc()
        self.items_parsed.inc(items)

    def set_pending(self, counts: Mapping[str, Mapping[str, int]],
                    channels: list[str]) -> None:
        for name in sorted(set(channels) | set(counts)):
            self.alerts_pending.labels(channel=name).set(counts.get(name, {}).get("pending", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def parse_address(text: str, option: str = "--metrics") -> tuple[str, int]:
    """"ADDR:PORT" (or ":PORT", or "[::1]:PORT") → (host, port); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{option} {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:9108")
    return host.strip("[]") or "127.0.0.1", int(port)


class MetricsServer:
    """/metrics and /healthz over HTTP, in a background thread."""

    def __init__(self, metrics: Metrics, healthy: Callable[[], tuple[bool, str]],
                 host: str, port: int) -> None:
        handler = type("Handler", (_Handler,),
                       {"metrics": metrics, "healthy": staticmethod(healthy)})
        self.httpd = _Server((host, port), handler)
        self.port = int(self.httpd.server_address[1])
        self.host = host
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics (and /healthz)", self.host, self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics
    healthy: Callable[[], tuple[bool, str]]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.metrics.render(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            ok, why = self.healthy()
            self._send(200 if ok else 503, (why or ("ok" if ok else "unhealthy")).encode() + b"\n",
                       "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
