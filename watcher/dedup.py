"""Duplicate decisions: canonical URLs, durable item keys and story clustering.

Pure: no I/O, no clock. The pipeline asks three questions here:
- `item_key`: the durable per-feed key of an item (guid, else canonical URL, else content hash);
- `canonical_url`: the URL two copies of one page share (tracking, AMP and scheme noise removed);
- `story_signature` / `find_story`: does a new item tell a story alerted in the last 48 hours?

The rules and the measured precision/recall of the threshold are in README.md ("Duplicates").
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

from watcher.text import HASHING, html_to_text

# ---------------------------------------------------------------- canonical URLs

# Parameters that only say how a reader arrived, never which page it is. Each is set by an
# analytics or ad system on links it hands out (README.md, "Duplicates", says who sets which).
TRACKING_PREFIXES = ("utm_",)  # Google Analytics campaign tags: utm_source, utm_medium, ...
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "twclid", "ttclid",
    "li_fat_id", "yclid", "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "ref_src",
    "ref_url", "cmpid", "cmp", "ncid", "ocid", "sr_share", "spm", "xtor", "icid", "smid",
    "smtyp", "mkt_tok", "_hsenc", "_hsmi", "s_cid", "soc_src", "soc_trk", "guccounter",
    "guce_referrer", "guce_referrer_sig", "wt.mc_id", "at_medium", "at_campaign",
    "at_custom1", "at_custom2", "at_custom3", "at_custom4", "at_link", "at_ptr_name",
    "amp",  # ?amp, ?amp=1: the AMP rendering of the same article
})
_AMP_PATH = re.compile(r"(?:/amp|\.amp)$", re.IGNORECASE)


def _is_tracking(key: str) -> bool:
    k = key.strip().lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    """Drop tracking and AMP parameters (names compared case-insensitively)."""
    pairs = [p for p in re.split(r"[&;]", query) if p]
    kept = [p for p in pairs if p.partition("=")[0].lower() != "outputtype"
            or p.partition("=")[2].lower() != "amp"]
    drop = sorted({p.partition("=")[0] for p in kept if _is_tracking(p.partition("=")[0])})
    return url_query_cleaner("?" + "&".join(kept), drop, remove=True, unique=False)[1:]


# A plain link (no query, no escapes, no dot segments): canonical_url's full path would only
# lower-case the scheme and host. Most article links are like this; the short cut gives the
# same answer, about ten times faster (tests/test_dedup.py checks both agree).
_PLAIN_URL = re.compile(r"(?i:https?://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z][a-z0-9-]*"
                        r"[a-z0-9]\.?))(?::(\d{1,5}))?(/[A-Za-z0-9_~/-]*(?:\.[A-Za-z0-9_~-]+"
                        r"[A-Za-z0-9_~/-]*)*)?")


def canonical_url(url: str) -> str:
    """The form two links to one page share; never raises (garbage comes back stripped)."""
    raw = url.strip()
    plain = _PLAIN_URL.fullmatch(raw)
    if plain is not None:
        host, port, path = plain.group(1).lower(), plain.group(2), plain.group(3) or "/"
        if port is None or int(port) in (80, 443):
            port = ""
        elif int(port) < 65536:
            port = f":{int(port)}"
        else:
            port = None
        if port is not None:
            return f"https://{_fold_host(host + port)}{_fold_path(path)}"
    return _canonical_url(raw)


def _canonical_url(raw: str) -> str:
    try:
        parts = urlsplit(raw)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return raw
        # http and https are folded together, so both default ports are the default
        port = "" if parts.port in (None, 80, 443) else f":{parts.port}"
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        rebuilt = urlunsplit(("https", host + port, parts.path, parts.query, ""))
        # sorts the query, %-encodes (decoding "%75tm_" first: clean after it), punycode
        canon = urlsplit(canonicalize_url(rebuilt))
        if not canon.netloc:  # a "host" such as "\\" that w3lib dissolves
            return raw
        return urlunsplit(("https", _fold_host(canon.netloc), _fold_path(canon.path),
                           _clean_query(canon.query), ""))
    except ValueError:  # UnicodeError (bad IDNA) is one too
        return raw


def _fold_host(netloc: str) -> str:
    """Drop "www." and "amp." prefixes and a trailing dot: the same site serves them all."""
    host, colon, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not colon or not port.isdigit():
        host, colon, port = netloc, "", ""
    host = host.rstrip(".")
    while host.startswith(("www.", "amp.")) and host.count(".") > 1:
        host = host[4:]
    return host + colon + port


def _fold_path(path: str) -> str:
    """Drop trailing slashes and AMP suffixes ("/amp", "/amp/", ".amp"); the root stays "/"."""
    while True:
        folded = _AMP_PATH.sub("", path.rstrip("/"))
        if folded == path:
            return path or "/"
        path = folded


# ---------------------------------------------------------------- content hashes

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_DESIGNATOR = re.compile(rf"\b([^\W\d_]{{1,4}})[-{_DASHES}](\d+[^\W\d_]?|[^\W\d_])\b")
_NON_WORD = re.compile(r"[\W_]+")
_DASHES_ALL = "-" + _DASHES
# ASCII characters that are not letters or digits, each to a space
_ASCII_NON_WORD = {c: " " for c in range(128) if not chr(c).isalnum()}


@functools.cache
def _combining_marks() -> dict[int, None]:
    """str.translate table deleting every combining mark (built once, on first use)."""
    return {cp: None for cp in range(0x300, sys.maxunicode + 1)
            if unicodedata.combining(chr(cp))}


def fold_for_hash(text: str) -> str:
    """Folded text, as content hashes and story words compare it: NFKC, casefold (Turkish I
    to i), no accents, words and spaces only.

    A designator's dash is dropped (S-400, TF-X → s400, tfx) so it stays one word. Markup
    left in the text (a title that shows a tag as "&lt;b&gt;") is decoded once more, with
    the frozen rules stored hashes were made with (`watcher.text.HASHING`).
    """
    text = html_to_text(text, HASHING)
    if text.isascii():   # most news text: NFKC, NFD and accents change nothing
        text = text.lower()
        if "-" in text:
            text = _DESIGNATOR.sub(r"\1\2", text)
        return " ".join(text.translate(_ASCII_NON_WORD).split())
    text = unicodedata.normalize("NFKC", text).casefold().replace("ı", "i")
    text = unicodedata.normalize("NFD", text).translate(_combining_marks())
    if any(dash in text for dash in _DASHES_ALL):
        text = _DESIGNATOR.sub(r"\1\2", text)
    return _NON_WORD.sub(" ", text).strip()


def content_hash(title: str, text: str) -> str:
    """sha256 of folded title and text: markup, case, accents and spacing do not count."""
    return hashlib.sha256(f"{fold_for_hash(title)}\n{fold_for_hash(text)}".encode()).hexdigest()


def item_key(guid: str | None, link: str | None, title: str, text: str) -> str:
    """Durable per-feed key: the guid, else the canonical link, else the content hash."""
    if guid and guid.strip():
        return "id:" + guid.strip()
    if link and link.strip():
        return "url:" + canonical_url(link)
    return "hash:" + content_hash(title, text)


# ---------------------------------------------------------------- story signatures

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just may me
might more most my new now of off on once only or other our out over own same
said say says she should so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who whom
why will with would you your
reuters ap afp bloomberg upi dpa aa anadolu xinhua tass
""".split())  # negations (no, nor, not) stay: "will not activate" is news
# A dateline the outlet puts before wire text: "ANKARA, March 3 (Reuters) -", "(Bloomberg) --".
_DATELINE = re.compile(
    r"^\s*(?:[A-ZÇĞİÖŞÜ][A-ZÇĞİÖŞÜ .,'/]{1,40}(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*)?"
    rf"(?:\([^()]{{1,40}}\)\s*)?[-:{_DASHES}]{{1,2}}\s+")
# WordPress feeds append "The post X appeared first on Y."; others "Read more", "[…]".
_TRAILER = re.compile(r"(?:\s*The post .{0,300} appeared first on .{0,100}$"
                      r"|\s*(?:read more|continue reading|\[(?:…|\.\.\.)\]|…|\.\.\.)\W*$)",
                      re.IGNORECASE)
MAX_TITLE_TOKENS = 40
MAX_SUMMARY_TOKENS = 120
_MIN_SHINGLES = 8  # fewer word pairs ("Minister Hulusi Akar said on Friday" is 4) prove nothing


def _stem(word: str) -> str:
    """Fold English plurals and 3rd-person -s: batches → batch, S-400s → s400, says → say."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def story_tokens(text: str, limit: int) -> tuple[str, ...]:
    """The first `limit` words of a text that tell its story: folded, stemmed, stop words out
    (all of them kept if that leaves none)."""
    words = fold_for_hash(text).split()
    kept = [_stem(w) for w in words if w not in STOP_WORDS] or words
    return tuple(kept[:limit])


@dataclass(frozen=True)
class StorySignature:
    """The words of a title and its summary, folded, stemmed and without stop words."""

    title: tuple[str, ...]
    summary: tuple[str, ...]

    def dumps(self) -> str:
        """One line for the store: `1<TAB>title words<TAB>summary words`."""
        return f"1\t{' '.join(self.title)}\t{' '.join(self.summary)}"

    @classmethod
    def loads(cls, s: str) -> StorySignature:
        version, title, summary = s.split("\t")  # ValueError on anything else
        if version != "1":
            raise ValueError(f"unknown story signature version {version!r}")
        return cls(tuple(title.split()), tuple(summary.split()))

    @property
    def empty(self) -> bool:
        return not self.title and not self.summary

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(self.title) | frozenset(self.summary)

    @cached_property
    def shingles(self) -> frozenset[tuple[str, str]]:
        return frozenset(zip(self.summary, self.summary[1:], strict=False))


def story_signature(title: str, summary: str) -> StorySignature:
    """The signature of one item; `summary` may be HTML, with a dateline or a "read more"."""
    text = _TRAILER.sub("", html_to_text(summary, HASHING))
    return StorySignature(story_tokens(title, MAX_TITLE_TOKENS),
                          story_tokens(_DATELINE.sub("", text, count=1), MAX_SUMMARY_TOKENS))


# Measured on tests/data/stories.json (tests/bench/dedup_threshold.py): copies of one story
# score 0.53 or more, different stories 0.32 or less. Set nearer the top of that gap because
# merging two stories hides news while a missed merge only costs one extra alert.
DEFAULT_THRESHOLD = 0.45


def _containment(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> float:
    return len(a & b) / min(len(a), len(b))


def similarity(a: StorySignature, b: StorySignature) -> float:
    """How surely two items tell one story, 0..1 (symmetric).

    When both summaries have 8+ pairs of adjacent words, it is the share of the shorter
    summary's pairs found in the other: a trimmed copy, or one with a dateline or another
    lead sentence, keeps most pairs, while a different story on the same subject shares only
    names. Otherwise (title-only feeds) it is the Jaccard index of all their words.
    """
    if len(a.shingles) >= _MIN_SHINGLES and len(b.shingles) >= _MIN_SHINGLES:
        return _containment(a.shingles, b.shingles)
    union = a.words | b.words
    return len(a.words & b.words) / len(union) if union else 0.0


def find_story(sig: StorySignature, recent: Iterable[tuple[int, StorySignature]],
               threshold: float = DEFAULT_THRESHOLD) -> int | None:
    """The story id of the most similar recent item scoring at least `threshold`, else None.

    `recent` holds (story id, signature) of the items alerted or joined to a story in the last
    48 hours; a story may appear once per item. Ties go to the lower (older) story id.
    """
    best: tuple[float, int] | None = None
    for story_id, other in recent:
        score = similarity(sig, other)
        if score >= threshold and (best is None or (-score, story_id) < (-best[0], best[1])):
            best = (score, story_id)
    return None if best is None else best[1]
