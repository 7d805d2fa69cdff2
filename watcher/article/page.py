"""One fetched HTML page: its text (charset as for feeds), its identity URL, its paywall mark.

Pure: no I/O, no clock. The charset comes, in order, from a byte-order mark, the HTTP
Content-Type, the page's own `<meta charset>` / `http-equiv`, else UTF-8 when the bytes
are valid UTF-8, else windows-1252 (the web's default); w3lib applies the browsers'
overrides (latin-1 read as windows-1252, ...). Undecodable bytes become U+FFFD.

The identity URL is the page's `<link rel="canonical">`, else its `og:url`, when that is
an http(s) URL on the same site as the page (same registrable domain, by the public
suffix list) and not the site's home page (a common template mistake that would make
every page of the site one item).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement
from tld import get_fld
from w3lib.encoding import html_to_unicode

from watcher.dedup import canonical_url

_HOME_PATHS = frozenset(("/index.html", "/index.htm", "/index.php", "/home"))
_NOT_FREE_JSON = re.compile(r"""["']isAccessibleForFree["']\s*:\s*["']?false""", re.IGNORECASE)


def _guess_charset(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def decode_html(body: bytes, headers: Mapping[str, str]) -> str:
    """The page's text, decoded as a browser would (see the module docstring)."""
    content_type = headers.get("content-type")
    _, text = html_to_unicode(content_type, body, auto_detect_fun=_guess_charset)
    return text


def site_of(url: str) -> str:
    """The registrable domain of an http(s) URL (bbc.co.uk for www.bbc.co.uk), else its host."""
    fld = get_fld(url, fail_silently=True)
    if isinstance(fld, str) and fld:
        return fld.lower()
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def is_home_page(url: str) -> bool:
    """Is this the site's front page (/, /index.html, /home), with no query?"""
    parts = urlsplit(url)
    path = parts.path.lower().rstrip("/")
    return not parts.query and (not path or path in _HOME_PATHS)


def _declared(tree: HtmlElement) -> list[str]:
    """The canonical link's href, then og:url's content, as written (may be relative)."""
    out: list[str] = []
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rel and href:
            out.append(href)
            break
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").strip().lower() == "og:url":
            content = (meta.get("content") or "").strip()
            if content:
                out.append(content)
                break
    return out


def identity_url(tree: HtmlElement, page_url: str) -> str | None:
    """The page's canonical URL (dedup.canonical_url form) when it may join the item's
    identity (see the module docstring), else None."""
    for written in _declared(tree):
        try:
            absolute = urljoin(page_url, written)
            scheme = urlsplit(absolute).scheme.lower()
        except ValueError:  # a malformed URL (bad IPv6 literal, ...)
            continue
        if scheme not in ("http", "https"):
            continue
        if site_of(absolute) != site_of(page_url) or is_home_page(absolute):
            continue
        return canonical_url(absolute)
    return None


def marked_not_free(tree: HtmlElement) -> bool:
    """Does the page say (schema.org isAccessibleForFree, in JSON-LD or microdata) that it
    is behind a paywall?"""
    for meta in tree.iter("meta"):
        if (meta.get("itemprop") or "").strip() == "isAccessibleForFree":
            if (meta.get("content") or "").strip().lower() in ("false", "0", "no"):
                return True
    for script in tree.iter("script"):
        if "ld+json" in (script.get("type") or "").lower() and script.text:
            if _NOT_FREE_JSON.search(script.text):
                return True
    return False
