"""Fetch one feed URL over HTTP: the only module that talks to httpx.

Conditional GET (If-None-Match / If-Modified-Since), manual redirects (so a
permanent move can be remembered), a bounded connection pool plus a per-host
limit, connect/read timeouts and a total deadline, and a hard cap on the body
size enforced on the raw bytes *and* while decompressing (gzip, deflate, br):
httpx's own decoders hand over whole decompressed chunks, so a 500-byte brotli
bomb would already be 300 MiB before we could count it.

Every failure becomes `watcher.errors.FetchError` with a `FetchErrorKind`:
"hard" (4xx, redirect loop, too large, unsupported), "soft" (429/5xx, timeouts:
the server is there but unwilling or slow), "transient" (connection, DNS, TLS).
Transport failures are classed by the exception's type in httpx's hierarchy, and
for a ConnectError by the types of its causes (`describe_transport_error`), never
by message text. Messages name the URL without its userinfo, never the credentials.

httpx is used through its public API only: its own transport and connection pool.
That pool asks each idle connection "is_readable" whenever a request starts or ends,
and anyio answers by building every socket attribute: measured on 2 busy cores (load
12-14), 1,000 conditional GETs answered 304 over 5 pooled connections took 1.34-1.36 s
of CPU against 0.99-1.17 s with a custom network backend polling the socket (main at
2bbf770). tests/bench/polling.py --feeds 1000 saw no difference through its noise (warm
round 2.78 s of CPU before, 2.87 s after, medians of 3 at load 19-26), so no private hook.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from watcher.errors import FetchError, FetchErrorKind
from watcher.models import FetchResult

try:
    import brotli

    # Only brotli >= 1.2 can bound its output (output_buffer_limit); older: no "br".
    brotli.Decompressor().process(b"", output_buffer_limit=1)
    HAS_BROTLI = True
    _DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, brotli.error)
except (ImportError, TypeError):  # pragma: no cover - depends on the installed brotli
    HAS_BROTLI = False
    _DECODE_ERRORS = (zlib.error,)

REDIRECTS = (301, 302, 303, 307, 308)
PERMANENT = (301, 308)
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml, "
          "application/feed+json, application/xml;q=0.9, text/xml;q=0.9, "
          "application/json;q=0.8, */*;q=0.5")


@dataclass(frozen=True)
class Wanted:
    """What one fetch takes: its Accept header, its size cap, the content types it reads."""

    accept: str = ACCEPT
    max_bytes: int | None = None            # None: the fetcher's own cap
    types: tuple[str, ...] = ()             # empty: any content type


class NotHTML(FetchError):
    """A page fetched for its article is not HTML (a PDF, an image, a feed)."""


FEED = Wanted()
# an article page (watcher/article): HTML only, and a smaller cap than feeds
PAGE = Wanted(accept="text/html, application/xhtml+xml;q=0.9", max_bytes=5 * 1024 * 1024,
              types=("text/html", "application/xhtml+xml"))


class Fetcher:
    """A pool of HTTP connections shared by every feed; use one per process."""

    def __init__(self, *, max_connections: int = 10, per_host: int = 2,
                 connect_timeout: float = 10.0, read_timeout: float = 20.0,
                 total_timeout: float = 60.0, max_bytes: int = 10 * 1024 * 1024,
                 max_redirects: int = 5,
                 user_agent: str = "watcher/0.1 (+https://github.com/watcher)",
                 observe: Callable[[int, float], None] | None = None) -> None:
        """`observe(status, seconds)` is called once per fetch that got an HTTP answer."""
        self.observe = observe
        self.per_host = per_host
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections)
        http2 = importlib.util.find_spec("h2") is not None
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(verify=TLS_CONTEXT, limits=limits, http2=http2),
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                  write=read_timeout, pool=total_timeout),
            # no cookie is ever kept, so none is ever sent (to the host that set it or another)
            follow_redirects=False, cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            headers={"User-Agent": user_agent, "Accept": ACCEPT,
                     "Accept-Encoding": ", ".join(supported_encodings())},
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, etag: str | None = None,
                    last_modified: str | None = None, want: Wanted = FEED) -> FetchResult:
        """GET `url` (conditionally); raise FetchError unless the answer is 2xx or 304."""
        started = asyncio.get_running_loop().time()
        try:
            result = await self._fetch(url, etag, last_modified, want)
        except FetchError as exc:
            if self.observe is not None and exc.status is not None:
                self.observe(exc.status, asyncio.get_running_loop().time() - started)
            raise
        if self.observe is not None:
            self.observe(result.status, result.elapsed)
        return result

    async def _fetch(self, url: str, etag: str | None, last_modified: str | None,
                     want: Wanted) -> FetchResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        budget = self.total_timeout
        current, permanent, seen = url, True, {url}
        for _hop in range(self.max_redirects + 1):
            t0 = loop.time()
            result = await self._one_hop(url, current, etag, last_modified, budget, want)
            budget -= loop.time() - t0
            if isinstance(result, FetchResult):
                return _finish(result, url, permanent, loop.time() - started)
            status, target = result
            permanent = permanent and status in PERMANENT
            if target in seen:
                raise FetchError(f"{redact(url)}: redirect loop at {redact(target)}", kind="hard",
                                 status=status)
            seen.add(target)
            current = target
        raise FetchError(f"{redact(url)}: more than {self.max_redirects} redirects",
                         kind="hard")

    async def _one_hop(self, url: str, current: str, etag: str | None,
                       last_modified: str | None, budget: float, want: Wanted
                       ) -> FetchResult | tuple[int, str]:
        """One request: a result, or (status, absolute target) for a redirect."""
        headers = {} if want.accept == ACCEPT else {"Accept": want.accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            request = self._client.build_request("GET", current, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
            raise FetchError(f"{redact(current)}: invalid URL", kind="hard") from None
        if request.url.scheme not in ("http", "https"):
            raise FetchError(f"{redact(current)}: unsupported URL scheme", kind="hard")
        slot = self._host_slots.setdefault(request.url.host.lower(),
                                           asyncio.Semaphore(self.per_host))
        async with slot:
            try:
                async with asyncio.timeout(max(budget, 0.001)):
                    return await self._exchange(url, current, request, etag, last_modified,
                                                want)
            except TimeoutError:
                raise FetchError(f"{redact(url)}: timed out after {self.total_timeout:g}s",
                                 kind="soft") from None
            except httpx.TransportError as exc:
                message, kind = describe_transport_error(
                    exc, connect=self.connect_timeout, read=self.read_timeout)
                raise FetchError(f"{redact(url)}: {message}", kind=kind) from exc

    async def _exchange(self, url: str, current: str, request: httpx.Request,
                        etag: str | None, last_modified: str | None, want: Wanted
                        ) -> FetchResult | tuple[int, str]:
        response = await self._client.send(request, stream=True)
        try:
            status = response.status_code
            if status in REDIRECTS and "location" in response.headers:
                await _drain(response)
                return status, _redirect_target(current, response.headers["location"])
            headers = {k.lower(): v for k, v in response.headers.items()}
            new_etag = headers.get("etag")
            new_modified = headers.get("last-modified")
            if status == 304:
                await _drain(response)
                return FetchResult(url=url, final_url=current, status=304, headers=headers,
                                   etag=new_etag or etag,
                                   last_modified=new_modified or last_modified)
            if not 200 <= status < 300:
                await _drain(response)
                raise status_error(redact(url), status, response.reason_phrase,
                                   retry_after_seconds(headers.get("retry-after"), time.time()))
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if want.types and kind not in want.types:
                await _drain(response)
                raise NotHTML(f"{redact(url)}: not an HTML page ({kind or 'no content type'})",
                              kind="hard")
            body = await self._read_body(url, response, headers,
                                         min(want.max_bytes or self.max_bytes, self.max_bytes))
            return FetchResult(url=url, final_url=current, status=status, body=body,
                               headers=headers, etag=new_etag, last_modified=new_modified)
        finally:
            await response.aclose()

    async def _read_body(self, url: str, response: httpx.Response,
                         headers: dict[str, str], limit: int) -> bytes:
        too_large = FetchError(f"{redact(url)}: response larger than {limit} bytes",
                               kind="hard", status=response.status_code)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        try:
            decoder = BodyDecoder(headers.get("content-encoding", ""), limit)
        except ValueError as exc:
            raise FetchError(f"{redact(url)}: {exc}", kind="hard") from None
        received = 0
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > limit or not decoder.feed(chunk):
                    raise too_large
            if not decoder.finish():
                raise too_large
        except ValueError as exc:   # corrupt compressed stream
            raise FetchError(f"{redact(url)}: {exc}", kind="soft") from None
        return decoder.body()


# httpx's default TLS context (system defaults plus certifi's CA bundle), made once per
# process at import: loading the CA bundle costs ~40 ms of CPU. The fork server imports
# this module, so every fetch worker inherits the context ready-made.
TLS_CONTEXT = httpx.create_ssl_context()


DRAIN_LIMIT = 64 * 1024
DRAIN_SECONDS = 1.0


async def _drain(response: httpx.Response) -> None:
    """Read a short unwanted body to its end, so the connection goes back to the pool.

    A response closed before its end closes its connection too: every 304 would then cost
    a new connection. A body past DRAIN_LIMIT or DRAIN_SECONDS, or a broken one, is not
    worth it: the connection is dropped and the answer stands.
    """
    received = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > DRAIN_LIMIT:
                    return
    except (TimeoutError, httpx.HTTPError):
        return


def _redirect_target(current: str, location: str) -> str:
    """Absolute redirect target; same-host hops keep the original userinfo."""
    base = httpx.URL(current)
    try:
        target = base.join(location.strip())
    except (httpx.InvalidURL, ValueError):
        raise FetchError(f"{redact(current)}: invalid redirect target", kind="hard") from None
    if base.userinfo and not target.userinfo and target.host == base.host:
        target = target.copy_with(userinfo=base.userinfo)
    return str(target)


def _finish(result: FetchResult, url: str, permanent: bool, elapsed: float) -> FetchResult:
    moved = result.final_url != url
    return FetchResult(url=url, final_url=result.final_url, status=result.status,
                       body=result.body, headers=result.headers, etag=result.etag,
                       last_modified=result.last_modified,
                       permanent_redirect=moved and permanent, elapsed=elapsed)



def supported_encodings() -> list[str]:
    """Content codings we can decompress with a bound, for Accept-Encoding."""
    return ["gzip", "deflate", "br"] if HAS_BROTLI else ["gzip", "deflate"]


class BodyDecoder:
    """Undo one Content-Encoding while refusing output beyond `limit` bytes.

    feed()/finish() return False as soon as the decoded body would pass the limit;
    a corrupt stream raises ValueError; an unknown coding raises ValueError at once.
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in supported_encodings()
                                and codings[0] != "x-gzip"):
            raise ValueError(f"unsupported content-encoding {content_encoding!r}")
        self.coding = codings[0] if codings else ""
        self.limit = limit
        self._out = bytearray()
        self._zlib: Any = None
        self._brotli: Any = None
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "br":
            self._brotli = brotli.Decompressor()
        self._first = True

    def feed(self, chunk: bytes) -> bool:
        room = self.limit - len(self._out)
        try:
            if not self.coding:
                data = chunk
            elif self._brotli is not None:
                data = self._brotli.process(chunk, output_buffer_limit=room + 1)
                while len(data) <= room and not self._brotli.can_accept_more_data():
                    data += self._brotli.process(b"", output_buffer_limit=room + 1 - len(data))
            else:
                data = self._inflate(chunk, room + 1)
        except _DECODE_ERRORS as exc:
            raise ValueError(f"corrupt {self.coding} body ({exc})") from None
        self._out += data
        return len(self._out) <= self.limit

    def _inflate(self, chunk: bytes, max_length: int) -> bytes:
        if self._zlib is None:   # deflate: zlib-wrapped as the RFC says, or raw as IIS sends
            self._zlib = zlib.decompressobj()
        try:
            data: bytes = self._zlib.decompress(chunk, max_length)
        except zlib.error:
            if not (self._first and self.coding == "deflate"):
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            data = self._zlib.decompress(chunk, max_length)
        self._first = False
        return data

    def finish(self) -> bool:
        if self._zlib is not None and not self._zlib.unconsumed_tail:
            self._out += self._zlib.flush()
        return len(self._out) <= self.limit

    def body(self) -> bytes:
        return bytes(self._out)


def redact(url: str) -> str:
    """The URL without user:password@ (and without anything unparsable)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    except ValueError:
        return "<invalid URL>"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def status_error(url: str, status: int, reason: str, retry_after: float | None) -> FetchError:
    """The FetchError for a non-2xx, non-304, non-redirect HTTP answer."""
    try:
        phrase = reason or HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    message = f"{url}: HTTP {status} {phrase}".rstrip()
    if status in (429, 503) or status >= 500:
        return FetchError(message, kind="soft", status=status, retry_after=retry_after)
    return FetchError(message, kind="hard", status=status)


def describe_transport_error(exc: httpx.TransportError, *, connect: float,
                             read: float) -> tuple[str, FetchErrorKind]:
    """(short message, kind) for an httpx transport failure, by its type and its causes' types.

    httpx raises ConnectError alike for a failed DNS lookup, a refused connection and a failed
    TLS handshake; what failed is the type of the exception below it (socket.gaierror,
    ConnectionRefusedError, ssl.SSLError), which httpx and httpcore chain with `from`.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection timed out after {connect:g}s", "soft"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {read:g}s", "soft"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported URL scheme", "hard"
    causes = list(_causes(exc))
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "DNS lookup failed", "transient"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused", "transient"
    if any(isinstance(c, ssl.SSLError) for c in causes):   # certificate checks too
        return "TLS handshake failed", "transient"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "server closed the connection or broke the protocol", "transient"
    return "connection failed", "transient"


def _causes(exc: BaseException, limit: int = 20) -> Iterator[BaseException]:
    """`exc` and what it was raised from, through exception groups too (anyio raises one
    for a host whose every address failed); at most `limit` of them."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < limit:
        cause = todo.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        todo += [c for c in (cause.__cause__, cause.__context__) if c is not None]
        if isinstance(cause, BaseExceptionGroup):
            todo += cause.exceptions
