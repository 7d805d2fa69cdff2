"""Feed document (bytes + HTTP headers) → `ParsedFeed` of `Item`s, via feedparser.

Pure: no network, no clock. Hostile input is bounded here:

* documents declaring XML entities in their prolog are refused before parsing
  (billion laughs, quadratic blow-up, XXE), as are empty documents;
* feedparser's cost grows with the number of elements (~30-90 us each, ~170 us per
  item): items past `MAX_ITEMS` are cut out of the bytes *before* parsing (the head
  and the closing tags are kept, so the document stays well-formed), then a
  document with more than `MAX_ELEMENTS` start tags, or nested deeper than
  `MAX_DEPTH` (checked by a quick expat pass with no entity or DTD handling), is
  refused; so parse time stays around a second at the fetcher's size cap;
* UTF-16 bodies (with or without a byte-order mark) are re-encoded to UTF-8 first,
  so the byte-level checks above see them;
* a gzip body served without Content-Encoding is unpacked, up to a size cap;
* NUL and control characters are stripped from every text field, each field is
  capped, and at most `MAX_ITEMS` entries (the first ones, in document order) are kept;
* only http(s) item links survive (`javascript:` and friends become None).

Decision on feedparser's options: HTML sanitising and relative-URI resolution are
OFF. They cost about 40% of parse time (measured on the 75 real corpus feeds, 5.1 MB:
4.2 s with them, 2.6 s without), and watcher never renders feed HTML: summaries and
contents become plain text (script and style dropped) before they are matched, stored
or shown, and every alert escapes that text for its channel. Item links are resolved
against the feed URL here, and only http(s) ones are kept.

feedparser recomputes the document's base URI (`make_safe_absolute_uri`, a urljoin and
a scheme check) at every element, almost always with the same two arguments: a quarter
of its parse time. That function is pure, so it is memoised here (`_memoise_base_uri`),
which changes no result (a test compares against the original).
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

import feedparser
import feedparser.mixin

from watcher.errors import ParseError
from watcher.models import Item, ParsedFeed

MAX_ITEMS = 1_000
MAX_TITLE = 1_000
MAX_TEXT = 100_000
MAX_SHORT = 1_000          # author, one category
MAX_CATEGORIES = 50
MAX_UNGZIPPED = 10 * 1024 * 1024
MAX_ELEMENTS = 100_000     # real feeds in the corpus: at most ~3,600
MAX_DEPTH = 256            # real feeds: under 20

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_FIRST_ELEMENT = re.compile(rb"<\w")
_COMMENT_OR_PI = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_EBCDIC_MARKER = b"\x4c\x6f\xa7\x94"   # "<?xm" in EBCDIC
_GZIP_MAGIC = b"\x1f\x8b"
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
_START_TAG = re.compile(rb"<[A-Za-z_]")
_CDATA_OR_COMMENT = re.compile(rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.DOTALL)


def _memoise_base_uri() -> None:
    """Memoise feedparser's per-element base-URI computation (see the module docstring)."""
    original = getattr(feedparser.mixin, "make_safe_absolute_uri", None)
    if callable(original) and not hasattr(original, "cache_info"):
        feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=1024)(original)


_memoise_base_uri()


def body_hash(body: bytes) -> str:
    """SHA-256 hex of a body: lets the pipeline skip feeds whose servers ignore validators."""
    return hashlib.sha256(body).hexdigest()


def parse_feed(body: bytes, *, headers: Mapping[str, str], url: str,
               feed_name: str | None = None,
               known_items: frozenset[str] = frozenset()) -> ParsedFeed:
    """Parse one feed document; raise ParseError when nothing at all can be read.

    `known_items` are the `item_digests` of the feed's previous document: items whose bytes
    are unchanged are left out of the parse (and of the result), see `item_spans`.
    """
    if not body or not body.strip():
        raise ParseError("empty document")
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip(body)
    # Blank lines before "<?xml" make strict XML parsers give up on the whole document.
    body = body.lstrip(b" \t\r\n")
    from watcher import discover, jsonfeed  # late: both import this module's helpers

    if jsonfeed.looks_like_json(body, headers):
        return jsonfeed.parse_json_feed(body, url=url, feed_name=feed_name)
    if discover.looks_like_html(body):
        return discover.html_page(body, url)
    response_headers = {k.lower(): v for k, v in headers.items()}
    if body[:2] in (b"<\x00", b"\x00<", b"\xff\xfe", b"\xfe\xff"):
        # UTF-16 (feedparser only sniffs it without a BOM after "<?"): UTF-8 from here on.
        codec = {b"<\x00": "utf-16-le", b"\x00<": "utf-16-be"}.get(body[:2], "utf-16")
        body = body.decode(codec, "replace").encode()
        response_headers["content-type"] = "application/xml; charset=utf-8"
    if declares_entities(body):
        raise ParseError("document declares XML entities (refused)")
    body = trim_items(body, MAX_ITEMS)
    if len(_START_TAG.findall(body)) > MAX_ELEMENTS:
        raise ParseError(f"document has more than {MAX_ELEMENTS} elements (refused)")
    if nested_deeper_than(body, MAX_DEPTH):
        raise ParseError(f"elements nested more than {MAX_DEPTH} deep (refused)")

    response_headers["content-location"] = url
    # Content-Encoding was already undone by the fetcher; feedparser must not try again.
    response_headers.pop("content-encoding", None)
    spans = item_spans(body)
    digests = tuple(item_digest(body[start:end]) for start, end in spans or ())
    if known_items and spans:
        keep = [d not in known_items for d in digests]
        if not all(keep):
            parsed = _feedparser(_only(body, spans, keep), response_headers)
            entries = parsed.get("entries", [])
            if len(entries) == sum(keep):   # else the spans were wrong after all: parse all
                return _result(parsed, url, feed_name, digests, len(keep) - sum(keep))
    return _result(_feedparser(body, response_headers), url, feed_name, digests, 0)


def _feedparser(body: bytes, response_headers: dict[str, str]) -> Any:
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=response_headers,
                                sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # a feedparser bug must only cost this one document
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}"[:200]) from exc


def _result(parsed: Any, url: str, feed_name: str | None, digests: tuple[str, ...],
            unchanged: int) -> ParsedFeed:
    problem = _bozo_reason(parsed)
    feed = parsed.get("feed", {})
    title = clean_text(feed.get("title"), MAX_TITLE)
    entries = parsed.get("entries", [])
    if not entries and not title and not parsed.get("version"):
        raise ParseError(problem or "not a feed (no entries, no title, unknown format)")

    name = feed_name or title or url
    items = tuple(_item(entry, url, name) for entry in entries[:MAX_ITEMS])
    return ParsedFeed(title=title, items=items, problem=problem, item_digests=digests,
                      unchanged=unchanged)


def item_spans(body: bytes) -> list[tuple[int, int]] | None:
    """Where each item (RSS) or entry (Atom) lies in the document, as (start, end) offsets;
    None when they cannot be told apart with certainty: tags unpaired, nested or
    overlapping, or an item tag inside a CDATA section or a comment.

    Most polls of a changed feed bring one new item among dozens already seen: the pipeline
    keeps a digest of each item's bytes (`item_digest`), and the next parse leaves out the
    items whose bytes it has seen (what lies between items, the feed's own elements, is
    kept), so feedparser reads a document of the new items only. An unchanged item was
    recorded when it was first seen, and its bytes say nothing new; a changed one is
    parsed again, and the pipeline sees the edit. If the shortened document does not give
    exactly the items kept, the whole document is parsed.
    """
    starts = [m.start() for m in _ITEM_START.finditer(body)]
    ends = [m.end() for m in _ITEM_END.finditer(body)]
    if not starts or len(starts) != len(ends):
        return None
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if end <= start or (i + 1 < len(starts) and starts[i + 1] < end):
            return None
    if b"<!" in body:
        for hidden in _CDATA_OR_COMMENT.finditer(body):
            text = hidden.group()
            if _ITEM_START.search(text) or _ITEM_END.search(text):
                return None
    return list(zip(starts, ends, strict=True))


def item_digest(chunk: bytes) -> str:
    """A short hash of one item's bytes (64 bits: collisions within one feed are moot)."""
    return hashlib.blake2b(chunk, digest_size=8).hexdigest()


def _only(body: bytes, spans: list[tuple[int, int]], keep: list[bool]) -> bytes:
    """The document without the items not kept (everything between items stays)."""
    pieces, last = [], 0
    for (start, end), kept in zip(spans, keep, strict=True):
        pieces.append(body[last:start])
        if kept:
            pieces.append(body[start:end])
        last = end
    pieces.append(body[last:])
    return b"".join(pieces)


def declares_entities(body: bytes) -> bool:
    """True when `<!ENTITY` occurs in the prolog, i.e. before the root element starts."""
    head = body
    if head[:4] == _EBCDIC_MARKER:
        head = head.decode("cp037", "replace").encode("ascii", "replace")
    # UTF-16/32 put NULs between ASCII characters: drop them for this check.
    head = head.replace(b"\x00", b"")
    pos = head.lower().find(b"<!entity")
    if pos < 0:
        return False
    prefix = _COMMENT_OR_PI.sub(b"", head[:pos])
    return _FIRST_ELEMENT.search(prefix) is None


def trim_items(body: bytes, limit: int) -> bytes:
    """The document without its items/entries past the first `limit` (head and tail kept)."""
    starts = _ITEM_START.finditer(body)
    cut = next(itertools.islice(starts, limit, None), None)
    if cut is None:
        return body
    last_end = -1
    for match in _ITEM_END.finditer(body, cut.start()):
        last_end = match.end()
    tail = body[last_end:] if last_end >= 0 else b""
    return body[:cut.start()] + tail


class _TooDeep(Exception):
    pass


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """True when expat sees elements nested more than `limit` deep (False if it cannot parse).

    Only start/end handlers are set: no DTD, no entity expansion, nothing fetched.
    """
    parser = expat.ParserCreate()
    depth = 0

    def start(_name: str, _attrs: object) -> None:
        nonlocal depth
        depth += 1
        if depth > limit:
            raise _TooDeep

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except _TooDeep:
        return True
    except (expat.ExpatError, ValueError, LookupError):
        return False
    return False


def clean_text(value: object, limit: int) -> str:
    """A feed string without NUL/control characters (keeps \\n and \\t), capped at `limit`."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.replace("\r\n", "\n")
    return _CONTROL.sub("", text)[:limit].strip()


def safe_link(value: object, base: str) -> str | None:
    """An absolute http(s) link, or None for anything else (javascript:, data:, mailto: ...)."""
    if not isinstance(value, str):
        return None
    value = _CONTROL.sub("", value).strip()
    if not value:
        return None
    try:
        link = urljoin(base, value)
        scheme = urlsplit(link).scheme.lower()
    except ValueError:
        return None
    return link[:8_192] if scheme in ("http", "https") else None


def _item(entry: Mapping[str, Any], url: str, feed_name: str) -> Item:
    contents = entry.get("content") or []
    content = "\n".join(c.get("value", "") for c in contents if isinstance(c, Mapping))
    tags = entry.get("tags") or []
    categories = tuple(
        term for term in (clean_text(t.get("term"), MAX_SHORT) for t in tags[:MAX_CATEGORIES]
                          if isinstance(t, Mapping))
        if term
    )
    guid = clean_text(entry.get("id"), MAX_TITLE) or None
    return Item(
        feed_url=url,
        feed_name=feed_name,
        guid=guid,
        link=safe_link(entry.get("link"), url),
        title=clean_text(entry.get("title"), MAX_TITLE),
        summary=clean_text(entry.get("summary"), MAX_TEXT),
        content=clean_text(content, MAX_TEXT),
        author=clean_text(entry.get("author"), MAX_SHORT),
        categories=categories,
        published=_when(entry.get("published_parsed") or entry.get("updated_parsed")),
    )


def _when(parsed: Any) -> datetime | None:
    """feedparser's UTC struct_time → aware UTC datetime (None if absent or absurd)."""
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in parsed[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _bozo_reason(parsed: Mapping[str, Any]) -> str | None:
    """Why feedparser set bozo, in one short line; None for mere wrong Content-Type."""
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "not well-formed"
    if isinstance(exc, feedparser.NonXMLContentType):
        return None  # text/html or no Content-Type for a fine feed: common, harmless
    get_message = getattr(exc, "getMessage", None)
    get_line = getattr(exc, "getLineNumber", None)
    if callable(get_message) and callable(get_line):
        reason = f"not well-formed XML: {get_message()} at line {get_line()}"
    else:
        reason = str(exc) or type(exc).__name__
    return clean_text(reason.replace("\n", " "), 200)


def _gunzip(body: bytes) -> bytes:
    """A gzip file served as a plain body: unpack it, refusing more than MAX_UNGZIPPED."""
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decomp.decompress(body, MAX_UNGZIPPED + 1)
    except zlib.error as exc:
        raise ParseError(f"body looks gzip-compressed but is corrupt: {exc}") from exc
    if len(out) > MAX_UNGZIPPED or decomp.unconsumed_tail:
        raise ParseError(f"gzip body larger than {MAX_UNGZIPPED} bytes when unpacked")
    if not out.strip():
        raise ParseError("empty document")
    return out
