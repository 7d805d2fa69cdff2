"""watcher.fetch against the real local feed server (tests/servers/feeds.py)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any, TypeVar

import brotli
import httpx
import pytest
import trustme

from tests.servers.feeds import FeedServer
from watcher.errors import FetchError
from watcher.fetch import BodyDecoder, Fetcher, describe_transport_error, retry_after_seconds
from watcher.models import FetchResult

T = TypeVar("T")
ITEMS = [{"title": "Turkey S-400 second batch", "link": "https://example.org/1", "guid": "1"}]
MIB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def run(fn: Callable[[Fetcher], Awaitable[T]], **options: Any) -> T:
    """Run fn(fetcher) on a fresh event loop with a fresh Fetcher (closed afterwards)."""
    async def main() -> T:
        async with Fetcher(**options) as fetcher:
            return await fn(fetcher)
    return asyncio.run(main())


def fetch(url: str, **options: Any) -> FetchResult:
    return run(lambda f: f.fetch(url), **options)


def fetch_error(url: str, **options: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **options)
    return info.value


# -- conditional GET ---------------------------------------------------------------

def test_200_then_304_with_validators(server: FeedServer) -> None:
    url = server.add_feed("/feed", ITEMS)

    async def scenario(f: Fetcher) -> tuple[FetchResult, FetchResult, FetchResult]:
        first = await f.fetch(url)
        second = await f.fetch(url, etag=first.etag, last_modified=first.last_modified)
        server.add_item("/feed", {"title": "TF-X engine", "link": "https://example.org/2"})
        third = await f.fetch(url, etag=first.etag, last_modified=first.last_modified)
        return first, second, third

    first, second, third = run(scenario)
    assert first.status == 200 and b"S-400" in first.body
    assert first.etag and first.last_modified
    assert first.headers["content-type"].startswith("application/rss+xml")
    assert second.status == 304 and second.not_modified and second.body == b""
    assert second.etag == first.etag
    assert third.status == 200 and b"TF-X" in third.body and third.etag != first.etag
    sent = server.requests_for("/feed")
    assert sent[0].if_none_match is None
    assert sent[1].if_none_match == first.etag
    assert sent[1].if_modified_since == first.last_modified


def test_if_modified_since_alone_gives_304(server: FeedServer) -> None:
    url = server.add_feed("/feed", ITEMS)
    first = fetch(url)
    second = run(lambda f: f.fetch(url, last_modified=first.last_modified))
    assert second.status == 304
    assert server.requests_for("/feed")[1].if_none_match is None


def test_304_without_validators_keeps_the_old_ones(server: FeedServer) -> None:
    url = server.set_body("/feed", b"<rss/>", bare_304=True)
    first = fetch(url)
    second = run(lambda f: f.fetch(url, etag=first.etag, last_modified=first.last_modified))
    assert second.status == 304 and "etag" not in second.headers
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)


def test_server_ignoring_validators_still_works(server: FeedServer) -> None:
    url = server.add_feed("/feed", ITEMS)
    server.ignore_validators("/feed")
    first = fetch(url)
    second = run(lambda f: f.fetch(url, etag='"whatever"', last_modified=first.last_modified))
    assert second.status == 200 and second.body == first.body
    assert first.etag is None and server.requests_for("/feed")[1].if_none_match == '"whatever"'


# -- redirects ---------------------------------------------------------------------

@pytest.mark.parametrize(("statuses", "permanent"), [
    ((301, 308), True), ((301,), True), ((301, 302), False), ((302,), False), ((307,), False),
])
def test_redirect_chain(server: FeedServer, statuses: tuple[int, ...], permanent: bool) -> None:
    server.add_feed("/final", ITEMS)
    hops = [f"/hop{i}" for i in range(len(statuses))] + ["/final"]
    for i, status in enumerate(statuses):
        server.redirect(hops[i], hops[i + 1] if i % 2 else server.url(hops[i + 1]), status)
    result = fetch(server.url("/hop0"))
    assert result.status == 200 and b"S-400" in result.body
    assert result.url == server.url("/hop0") and result.final_url == server.url("/final")
    assert result.permanent_redirect is permanent


def test_no_redirect_is_not_permanent(server: FeedServer) -> None:
    result = fetch(server.add_feed("/feed", ITEMS))
    assert result.final_url == result.url and result.permanent_redirect is False


def test_redirect_loop_is_hard(server: FeedServer) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    err = fetch_error(server.url("/a"))
    assert err.kind == "hard" and "redirect loop" in str(err)
    assert server.hits("/a") == 1 and server.hits("/b") == 1


def test_too_many_redirects_is_hard(server: FeedServer) -> None:
    for i in range(4):
        server.redirect(f"/r{i}", f"/r{i + 1}", 302)
    server.add_feed("/r4", ITEMS)
    assert fetch(server.url("/r0"), max_redirects=4).status == 200
    err = fetch_error(server.url("/r0"), max_redirects=3)
    assert err.kind == "hard" and "more than 3 redirects" in str(err)


# -- HTTP errors -------------------------------------------------------------------

def test_404_is_hard(server: FeedServer) -> None:
    err = fetch_error(server.url("/missing"))
    assert (err.kind, err.status) == ("hard", 404)
    assert str(err) == f"{server.url('/missing')}: HTTP 404 Not Found"


def test_410_is_hard_and_says_gone(server: FeedServer) -> None:
    server.fail("/gone", 410, n=None)
    err = fetch_error(server.url("/gone"))
    assert (err.kind, err.status) == ("hard", 410) and "Gone" in str(err)


@pytest.mark.parametrize("status", [429, 503])
def test_throttled_is_soft_with_retry_after_seconds(server: FeedServer, status: int) -> None:
    server.fail("/busy", status, headers={"Retry-After": "120"})
    err = fetch_error(server.url("/busy"))
    assert (err.kind, err.status, err.retry_after) == ("soft", status, 120)


def test_retry_after_as_http_date(server: FeedServer) -> None:
    server.fail("/busy", 503, headers={"Retry-After": formatdate(time.time() + 120, usegmt=True)})
    err = fetch_error(server.url("/busy"))
    assert err.kind == "soft" and err.retry_after is not None and 100 < err.retry_after <= 121


def test_500_is_soft_and_fail_n_recovers(server: FeedServer) -> None:
    url = server.add_feed("/flaky", ITEMS)
    server.fail("/flaky", 500, n=1)
    err = fetch_error(url)
    assert (err.kind, err.status, err.retry_after) == ("soft", 500, None)
    assert fetch(url).status == 200


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("30", now) == 30
    assert retry_after_seconds(formatdate(now + 90, usegmt=True), now) == 90
    assert retry_after_seconds(formatdate(now - 90, usegmt=True), now) == 0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


# -- time ----------------------------------------------------------------------------

def test_hang_times_out_without_delaying_other_feeds(server: FeedServer) -> None:
    hang_url = server.add_feed("/hang", ITEMS)
    server.hang("/hang")
    ok_url = server.add_feed("/ok", ITEMS)

    async def scenario(f: Fetcher) -> tuple[bool, FetchResult | BaseException]:
        hanging = asyncio.create_task(f.fetch(hang_url))
        while server.in_flight("/hang") < 1:     # the hanging request has reached the server
            await asyncio.sleep(0.01)
        result = await f.fetch(ok_url)
        still_pending = not hanging.done()
        assert result.status == 200
        outcome = (await asyncio.gather(hanging, return_exceptions=True))[0]
        return still_pending, outcome

    pending, outcome = run(scenario, read_timeout=1.0)
    assert pending
    assert isinstance(outcome, FetchError) and outcome.kind == "soft"
    assert str(outcome) == f"{hang_url}: timed out after 1s"


def test_slow_drip_body_ends_at_total_timeout(server: FeedServer) -> None:
    url = server.set_body("/drip", b"<rss>" + b" " * 20_000 + b"</rss>")
    server.slow_body("/drip", 2_000)
    err = fetch_error(url, read_timeout=5, total_timeout=0.5)
    assert err.kind == "soft" and "timed out after 0.5s" in str(err)
    assert 0 < server.bytes_sent("/drip") < 20_000


# -- size and compression ------------------------------------------------------------

@pytest.mark.parametrize("content_length", [True, False])
def test_huge_body_cut_at_the_cap(server: FeedServer, content_length: bool) -> None:
    server.huge("/big", 50 * MIB, content_length=content_length)
    err = fetch_error(server.url("/big"), max_bytes=MIB)
    assert err.kind == "hard" and f"response larger than {MIB} bytes" in str(err)
    server.stop()   # let the handler finish writing before reading its final count
    assert server.bytes_sent("/big") < 20 * MIB


def _bomb(coding: str) -> bytes:
    zeros = bytes(50 * MIB)
    if coding == "gzip":
        return gzip.compress(zeros, compresslevel=9)
    if coding == "br":
        packed: bytes = brotli.compress(zeros, quality=5)
        return packed
    return zlib.compress(zeros, 9)


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate"])
def test_compression_bombs_refused_at_the_cap(server: FeedServer, coding: str) -> None:
    bomb = _bomb(coding)
    assert len(bomb) < 100_000
    url = server.set_body("/bomb", bomb, headers={"Content-Encoding": coding})
    err = fetch_error(url, max_bytes=MIB)
    assert err.kind == "hard" and "larger than" in str(err)


def test_decoder_bounds_each_step() -> None:
    decoder = BodyDecoder("br", 1000)
    assert not decoder.feed(brotli.compress(bytes(10 * MIB)))
    assert len(decoder.body()) <= 1000 + 1 + 65536   # never the whole 10 MiB


@pytest.mark.parametrize("mode", ["gzip", "brotli"])
def test_compressed_feed_is_decoded(server: FeedServer, mode: str) -> None:
    url = server.add_feed("/feed", ITEMS)
    plain = fetch(url).body
    getattr(server, mode)("/feed")
    result = fetch(url)
    assert result.body == plain
    assert result.headers["content-encoding"] == ("gzip" if mode == "gzip" else "br")
    assert server.requests_for("/feed")[-1].headers["accept-encoding"] == "gzip, deflate, br"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_zlib_and_raw(server: FeedServer, wbits: int) -> None:
    doc = b"<rss version='2.0'><channel><title>x</title></channel></rss>" * 50
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    body = packer.compress(doc) + packer.flush()
    url = server.set_body("/deflate", body, headers={"Content-Encoding": "deflate"})
    assert fetch(url).body == doc


def test_unknown_content_encoding_refused(server: FeedServer) -> None:
    url = server.set_body("/odd", b"xxxx", headers={"Content-Encoding": "compress"})
    err = fetch_error(url)
    assert err.kind == "hard" and "unsupported content-encoding" in str(err)


def test_corrupt_gzip_is_an_error(server: FeedServer) -> None:
    url = server.set_body("/bad", b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"})
    assert "corrupt gzip body" in str(fetch_error(url))


# -- concurrency -------------------------------------------------------------------

def test_per_host_limit_respected(server: FeedServer) -> None:
    url = server.add_feed("/slow", ITEMS)
    release = server.hang("/slow", threading.Event())

    async def scenario(f: Fetcher) -> list[FetchResult]:
        tasks = [asyncio.create_task(f.fetch(url)) for _ in range(5)]
        while server.in_flight("/slow") < 2:
            await asyncio.sleep(0.01)
        # Give the other three every chance to arrive: they must not.
        await asyncio.wait(tasks, timeout=0.3)
        assert server.hits("/slow") == 2 and server.in_flight("/slow") == 2
        release.set()
        return await asyncio.gather(*tasks)

    results = run(scenario, per_host=2, max_connections=10)
    assert [r.status for r in results] == [200] * 5
    assert server.max_concurrent("/slow") == 2 and server.hits("/slow") == 5


# -- connections are reused ----------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def with_raw_server(handle: Handler, use: Callable[[str], Awaitable[T]]) -> T:
    """use(url) while a hand-written HTTP server (`handle`) answers on 127.0.0.1."""
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        return await use(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/feed")
    finally:
        srv.close()


def test_one_connection_serves_200s_304s_redirects_and_errors(server: FeedServer) -> None:
    """Unwanted bodies (304, redirect, 404) are read to their end, so the connection goes
    back to the pool instead of being closed: a round of 304s costs no new connections."""
    url = server.add_feed("/a", ITEMS)
    server.redirect("/old", url, status=302)
    server.fail("/missing", 404, n=None)

    async def scenario(f: Fetcher) -> list[int]:
        first = await f.fetch(url)
        statuses = [first.status]
        for _ in range(3):
            again = await f.fetch(url, etag=first.etag, last_modified=first.last_modified)
            statuses.append(again.status)
        statuses.append((await f.fetch(server.url("/old"))).status)
        with pytest.raises(FetchError):
            await f.fetch(server.url("/missing"))
        return statuses

    assert run(scenario) == [200, 304, 304, 304, 200]
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    """The pool asks each idle connection whether it is readable (httpcore's own check): a
    server that closed it must cost a new connection, not an error."""
    body = b"<rss><channel><title>t</title></channel></rss>"
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    accepted: list[asyncio.StreamWriter] = []
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()               # keep-alive promised, then closed while idle
        await writer.wait_closed()
        closed.set()

    async def use(url: str) -> list[int]:
        async with Fetcher() as f:
            first = await f.fetch(url)
            await asyncio.wait_for(closed.wait(), 5)
            second = await f.fetch(url)
            return [first.status, second.status]

    assert asyncio.run(with_raw_server(handle, use)) == [200, 200]
    assert len(accepted) == 2


def test_an_error_page_that_never_ends_still_reports_its_status() -> None:
    """The unwanted body of a 404 is drained for at most DRAIN_SECONDS: the answer is the
    404, not a timeout."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1000\r\n\r\nnot fo")
        await writer.drain()
        await asyncio.sleep(30)      # the other 994 bytes never come

    async def use(url: str) -> FetchError:
        async with Fetcher(total_timeout=10) as f:
            with pytest.raises(FetchError) as caught:
                await f.fetch(url)
            return caught.value

    error = asyncio.run(with_raw_server(handle, use))
    assert error.kind == "hard" and error.status == 404, error


# -- errors never leak credentials -----------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_credentials_never_in_messages(server: FeedServer) -> None:
    secret_url = f"http://alice:s3cr3t-pw@127.0.0.1:{server.port}"
    server.redirect("/private", "/missing", 302)
    errors = [fetch_error(secret_url + "/private"), fetch_error(secret_url + "/missing"),
              fetch_error(f"http://alice:s3cr3t-pw@127.0.0.1:{_closed_port()}/feed")]
    assert [e.kind for e in errors] == ["hard", "hard", "transient"]
    assert "connection refused" in str(errors[2])
    for err in errors:
        assert "s3cr3t" not in str(err) and "alice" not in str(err)
        assert "127.0.0.1" in str(err)


def test_credentials_are_sent_and_kept_on_same_host_redirects(server: FeedServer) -> None:
    server.add_feed("/feed", ITEMS)
    server.redirect("/old", "/feed", 301)
    result = fetch(f"http://alice:pw@127.0.0.1:{server.port}/old")
    assert result.final_url == f"http://alice:pw@127.0.0.1:{server.port}/feed"
    assert all(r.headers["authorization"].startswith("Basic ") for r in server.requests)


def test_transport_error_descriptions() -> None:
    dns = httpx.ConnectError("[Errno -2] Name or service not known")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert describe_transport_error(dns, connect=10, read=20) == ("DNS lookup failed",
                                                                  "transient")
    timeout = httpx.ConnectTimeout("")
    assert describe_transport_error(timeout, connect=10, read=20) == (
        "connection timed out after 10s", "soft")
    assert describe_transport_error(httpx.ReadTimeout(""), connect=10, read=2.5) == (
        "timed out after 2.5s", "soft")


def test_bad_urls_are_hard() -> None:
    assert fetch_error("ftp://example.org/feed").kind == "hard"
    assert fetch_error("not a url").kind == "hard"


# -- TLS ---------------------------------------------------------------------------

def test_tls_certificates_are_verified_with_the_shared_context() -> None:
    """One TLS context is made per process (the fork server's workers inherit it): it
    still refuses a certificate that no trusted authority signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)   # an unknown authority
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes: list[str] = []

    def serve() -> None:
        with listener, listener.accept()[0] as raw:
            try:
                with context.wrap_socket(raw, server_side=True):
                    handshakes.append("completed")
            except (ssl.SSLError, OSError) as exc:   # the client gave up: as it must
                handshakes.append(type(exc).__name__)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    error = fetch_error(f"https://127.0.0.1:{listener.getsockname()[1]}/feed")
    thread.join(5)
    assert (error.kind, str(error).split(": ", 1)[1]) == ("transient", "TLS handshake failed")
    assert handshakes and handshakes != ["completed"]
