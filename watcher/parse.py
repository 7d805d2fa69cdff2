"""Feed document (bytes + HTTP headers) → `ParsedFeed` of `Item`s, via feedparser.

Pure: no network, no clock. Hostile input is bounded here:

* documents declaring XML entities in their prolog are refused before parsing
  (billion laughs, quadratic blow-up, XXE), as are empty documents;
* items past `MAX_ITEMS` are cut out of the bytes before parsing (head and closing tags
  kept, so the document stays well-formed), then a document with more than
  `MAX_ELEMENTS` start tags, or nested deeper than `MAX_DEPTH`, is refused: feedparser's
  cost grows with the number of elements (figures in the README, "Performance");
* UTF-16 bodies (with or without a byte-order mark) are re-encoded to UTF-8 first, and
  an 8-bit document declaring a 16- or 32-bit encoding is read as the UTF-8 it must be;
* a gzip body served without Content-Encoding is unpacked, up to a size cap;
* NUL and control characters are stripped from every text field, each field is
  capped, and at most `MAX_ITEMS` entries (the first ones, in document order) are kept;
* only http(s) item links survive (`javascript:` and friends become None).

The document is decoded once, by feedparser's own rules, and feedparser then reads that
UTF-8 text: the whole document, or for a changed feed the document without the items
seen before (watcher/delta.py), so that both read the same characters.

feedparser's HTML sanitising and relative-URI resolution are off: watcher never renders
feed HTML (summaries and contents become plain text, script and style dropped, before
they are matched, stored or shown, and every alert escapes that text for its channel).
Item links are resolved against the feed URL here, and only http(s) ones are kept.
A process that parses calls `install_feedparser_patches` once, first.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import re
import zlib
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.encodings
import feedparser.mixin

from watcher import delta
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
# the declared encoding as feedparser reads it (feedparser.encodings.RE_XML_PI_ENCODING)
_DECLARED_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
_WIDE_ENCODINGS = frozenset({"u16", "utf-16", "utf16", "utf_16", "utf-16le", "utf-16be",
                             "u32", "utf-32", "utf32", "utf_32", "utf-32le", "utf-32be",
                             "iso-10646-ucs-2", "iso-10646-ucs-4", "csucs4", "csunicode",
                             "ucs-2", "ucs-4"})
# what feedparser is told of the text it is given: UTF-8 (decoded here), XML
_DECODED = "application/xml; charset=utf-8"


def install_feedparser_patches() -> None:
    """Patch feedparser for speed; call once where a process starts parsing (idempotent).

    feedparser recomputes the document's base URI (`make_safe_absolute_uri`, a urljoin and
    a scheme check) at every element, almost always with the same arguments. That
    function is pure, so it is memoised, which changes no result (a test compares).
    """
    original = getattr(feedparser.mixin, "make_safe_absolute_uri", None)
    if callable(original) and not hasattr(original, "cache_info"):
        feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=1024)(original)


def body_hash(body: bytes) -> str:
    """SHA-256 hex of a body: lets the pipeline skip feeds whose servers ignore validators."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class _Decoded:
    """A document as feedparser's parsers will read it, and what the whole of it decided."""

    data: bytes                   # UTF-8, declared so
    headers: dict[str, str]       # for feedparser: the response's, Content-Type = _DECODED
    encoding_problem: Any         # feedparser's complaint about the encoding, or None
    scan: delta.Scan              # the whole document's well-formedness and items


def parse_feed(body: bytes, *, headers: Mapping[str, str], url: str,
               feed_name: str | None = None,
               known_items: Set[str] = frozenset()) -> ParsedFeed:
    """Parse one feed document; raise ParseError when nothing at all can be read.

    `known_items` are the `item_digests` of the feed's previous document: items whose bytes
    are unchanged are left out of the parse (and of the result), see watcher/delta.py.
    """
    body = _unpacked(body)
    from watcher import discover, jsonfeed  # late: both import this module's helpers

    if jsonfeed.looks_like_json(body, headers):
        return jsonfeed.parse_json_feed(body, url=url, feed_name=feed_name)
    if discover.looks_like_html(body):
        return discover.html_page(body, url)
    doc = _decoded(body, headers, url)
    spans = doc.scan.spans
    digests = delta.digests(doc.data, spans)
    if known_items and spans and doc.scan.well_formed:
        cut = delta.cut_known(doc.data, spans, digests, known_items)
        if cut is not None:
            result = _delta_parse(doc, cut, url, feed_name, digests)
            if result is not None:
                return result
    parsed = _feedparser(doc.data, doc.headers)
    kept = delta.verified(digests, entries=len(parsed.get("entries", [])),
                          strict=not parsed.get("bozo"))
    return _result(parsed, url, feed_name, doc.encoding_problem, kept, 0)


def _delta_parse(doc: _Decoded, cut: delta.Cut, url: str, feed_name: str | None,
                 digests: tuple[str, ...]) -> ParsedFeed | None:
    """The parse of the document without its known items, or None when it cannot stand for
    the whole one (the caller then parses the whole document; a failure here is no
    failure of the feed)."""
    try:
        parsed = _feedparser(cut.body, doc.headers)
        if not delta.accept(cut, entries=len(parsed.get("entries", [])),
                            strict=not parsed.get("bozo")):
            return None
        return _result(parsed, url, feed_name, doc.encoding_problem, digests, cut.left_out)
    except ParseError:
        return None


def _unpacked(body: bytes) -> bytes:
    """The document, gunzipped if it came gzipped, without leading blank lines."""
    if not body or not body.strip():
        raise ParseError("empty document")
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip(body)
    # Blank lines before "<?xml" make strict XML parsers give up on the whole document.
    return body.lstrip(b" \t\r\n")


def _decoded(body: bytes, headers: Mapping[str, str], url: str) -> _Decoded:
    """Guards, then the XML document decoded once by feedparser's rules (ParseError if
    refused)."""
    response_headers = {k.lower(): v for k, v in headers.items()}
    wide = body[:2] in (b"<\x00", b"\x00<", b"\xff\xfe", b"\xfe\xff")
    if wide:
        # UTF-16 (feedparser only sniffs it without a BOM after "<?"): UTF-8 from here on.
        codec = {b"<\x00": "utf-16-le", b"\x00<": "utf-16-be"}.get(body[:2], "utf-16")
        body = body.decode(codec, "replace").encode()
        response_headers["content-type"] = "application/xml; charset=utf-8"
    if declares_entities(body):
        raise ParseError("document declares XML entities (refused)")
    body, declared = _believable_declaration(body)
    response_headers["content-location"] = url
    # Content-Encoding was already undone by the fetcher; feedparser must not try again.
    response_headers.pop("content-encoding", None)
    found: dict[str, Any] = {}
    data = feedparser.encodings.convert_to_utf8(response_headers, body, found)
    if not found.get("encoding"):   # unreachable: feedparser's last resort decodes any byte
        raise ParseError("document encoding unknown")
    problem = found.get("bozo_exception")
    if declared and not wide and (problem is None
                                  or isinstance(problem, feedparser.NonXMLContentType)):
        # what feedparser says when its attempt at the declared encoding fails
        problem = f"document declared as {declared}, but parsed as {found['encoding']}"
    data = trim_items(data, MAX_ITEMS)
    if len(_START_TAG.findall(data)) > MAX_ELEMENTS:
        raise ParseError(f"document has more than {MAX_ELEMENTS} elements (refused)")
    scan = delta.scan(data, MAX_DEPTH)
    if scan.too_deep:
        raise ParseError(f"elements nested more than {MAX_DEPTH} deep (refused)")
    return _Decoded(data, {**response_headers, "content-type": _DECODED}, problem, scan)


def _believable_declaration(body: bytes) -> tuple[bytes, str | None]:
    """An 8-bit document (its first bytes are "<?" in ASCII) cannot be in the 16- or
    32-bit encoding it declares: feedparser would try that first, and whether the attempt
    fails (as it should) or gives garbage depends on the byte count's parity. Declare
    UTF-8 instead (feedparser falls back from it as usual when the bytes are not); the
    encoding declared, when it was replaced."""
    match = _DECLARED_ENCODING.match(body)
    declared = match.group(1).decode("ascii", "replace").lower() if match else ""
    if match is None or declared not in _WIDE_ENCODINGS:
        return body, None
    start, end = match.span(1)
    return body[:start] + b"utf-8" + body[end:], declared


def _feedparser(body: bytes, response_headers: dict[str, str]) -> Any:
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=response_headers,
                                sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # a feedparser bug must only cost this one document
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}"[:200]) from exc


def _result(parsed: Any, url: str, feed_name: str | None, encoding_problem: Any,
            digests: tuple[str, ...], unchanged: int) -> ParsedFeed:
    # feedparser read decoded UTF-8: its own complaint is about the XML, else the
    # decoding's complaint stands (as when feedparser decodes the document itself)
    if parsed.get("bozo"):
        problem = _problem(parsed.get("bozo_exception"))
    else:
        problem = None if encoding_problem is None else _problem(encoding_problem)
    feed = parsed.get("feed", {})
    title = clean_text(feed.get("title"), MAX_TITLE)
    entries = parsed.get("entries", [])
    if not entries and not title and not parsed.get("version"):
        raise ParseError(problem or "not a feed (no entries, no title, unknown format)")

    name = feed_name or title or url
    items = tuple(_item(entry, url, name) for entry in entries[:MAX_ITEMS])
    return ParsedFeed(title=title, items=items, problem=problem, item_digests=digests,
                      unchanged=unchanged)


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


def _problem(exc: object) -> str | None:
    """What feedparser complained of, in one short line; None for a mere wrong
    Content-Type."""
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
