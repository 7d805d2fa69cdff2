"""An article page's main text, by trafilatura: the story without menus, rails, comments,
ads and footers.

Pure (no I/O, no clock), but heavy: importing this module imports trafilatura (about
0.5 s and 40 MB), so only worker processes import it. trafilatura was chosen by
measurement on ../shared/articles (README, "The whole story"; tests/bench/articles.py):
`fast=True` skips its readability/jusText fallbacks, which cost a third of the time and
gained nothing on those pages.

Outcomes: "ok" (text to match), "empty" (no main text: not HTML, a gallery, a script-only
page), "paywall" (the page says it is not free, schema.org isAccessibleForFree, and
only a stub came out), "too_large" (more than MAX_ELEMENTS elements: trafilatura's time
grows with them, about 0.15 ms each and faster than linearly past 20,000, while the 121
real pages of ../shared/articles have at most 1,709, median 800). Only "ok" carries
text; the identity URL comes with every outcome of a page that parses as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import trafilatura
from lxml.html import HtmlElement

from watcher.article.page import decode_html, identity_url, marked_not_free

MAX_HTML_BYTES = 5 * 1024 * 1024   # the article fetch's own size cap; more is not read
MAX_TEXT_BYTES = 100_000           # extracted text kept per item (UTF-8)
MAX_ELEMENTS = 15_000   # a page with more elements is not extracted: "too_large" (below)
MIN_CHARS = 100                    # less main text than this: "empty"
STUB_CHARS = 1_000                 # a page marked not free with less than this: "paywall"


class Outcome(StrEnum):
    OK = "ok"
    EMPTY = "empty"
    PAYWALL = "paywall"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class Extracted:
    outcome: Outcome
    text: str = ""                 # the main text, paragraphs on their own lines ("ok" only)
    identity: str | None = None    # canonical URL that may join the item's identity
    truncated: bool = False        # text was cut at MAX_TEXT_BYTES


def cap_text(text: str, limit: int = MAX_TEXT_BYTES) -> tuple[str, bool]:
    """At most `limit` UTF-8 bytes of `text`, cut at a white space when one is near."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    cut = raw[:limit].decode("utf-8", errors="ignore")
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > 0 and space > len(cut) - 200:
        cut = cut[:space]
    return cut.rstrip(), True


def _main_text(tree: HtmlElement, url: str) -> str:
    text = trafilatura.extract(tree, url=url or None, fast=True, include_comments=False,
                               include_tables=True, deduplicate=False)
    return text.strip() if text else ""


def _more_elements_than(tree: HtmlElement, limit: int) -> bool:
    for count, _ in enumerate(tree.iter(), 1):
        if count > limit:
            return True
    return False


def extract(html: bytes, url: str, headers: Mapping[str, str]) -> Extracted:
    """The main text of the page `html` fetched from `url` (its final URL, after redirects);
    `headers` are the response's, lower-case keys (for the charset)."""
    decoded = decode_html(html[:MAX_HTML_BYTES], headers)
    tree = trafilatura.load_html(decoded) if decoded.strip() else None
    if tree is None:
        return Extracted(Outcome.EMPTY)
    identity = identity_url(tree, url) if url else None
    if _more_elements_than(tree, MAX_ELEMENTS):
        return Extracted(Outcome.TOO_LARGE, identity=identity)
    not_free = marked_not_free(tree)  # read before trafilatura walks the tree
    text = _main_text(tree, url)
    if len(text) < MIN_CHARS:
        return Extracted(Outcome.EMPTY, identity=identity)
    if len(text) < STUB_CHARS and not_free:
        return Extracted(Outcome.PAYWALL, identity=identity)
    capped, truncated = cap_text(text)
    return Extracted(Outcome.OK, capped, identity, truncated)
