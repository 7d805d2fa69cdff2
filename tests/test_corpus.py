"""Every document of the shared feed corpus through parse_feed (and a few through the fetcher).

The corpus lives beside the repository: <repo>/../shared/feeds/{real,hostile}/ with a
MANIFEST.tsv (file, ..., items, notes). Without it these tests are skipped.
"""

from __future__ import annotations

import asyncio
import csv
import time

import pytest

from tests.servers.feeds import FeedServer
from tests.support.corpus import SHARED, absent
from watcher.errors import ParseError
from watcher.fetch import Fetcher
from watcher.parse import parse_feed

CORPUS = SHARED / "feeds"
URL = "https://feeds.example.org/feed.xml"
SECONDS_PER_DOCUMENT = 60.0    # a hang guard: the slowest takes about 1 s on a laptop
PASSWD_MARKERS = ("root:x:0:0", "/bin/bash", "/usr/sbin/nologin", "root:")


def _manifest() -> dict[str, int]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["file"]: int(row["items"] or 0)
                for row in csv.DictReader(fh, delimiter="\t")}


MANIFEST = _manifest()
DOCUMENTS = sorted(p.relative_to(CORPUS).as_posix()
                   for folder in ("real", "hostile") if (CORPUS / folder).is_dir()
                   for p in (CORPUS / folder).iterdir() if p.is_file())
ABSENT = pytest.mark.skip(reason=absent(CORPUS))


def _is_entity_attack(name: str) -> bool:
    base = name.rpartition("/")[2]
    return base.startswith(("entity-", "xxe-")) or "billion-laughs" in base


@pytest.mark.parametrize("name", DOCUMENTS or [pytest.param("none", marks=ABSENT)])
def test_document_parses_or_raises_parse_error(name: str) -> None:
    body = (CORPUS / name).read_bytes()
    started = time.perf_counter()
    try:
        feed = parse_feed(body, headers={}, url=URL)
    except ParseError:
        assert not name.startswith("real/"), f"{name}: a real feed must parse"
        return
    finally:
        assert time.perf_counter() - started < SECONDS_PER_DOCUMENT, f"{name}: too slow"
    assert not _is_entity_attack(name), f"{name}: entity declarations must be refused"
    expected = MANIFEST.get(name, 0)
    if name.startswith("real/"):
        assert feed.items, f"{name}: no items"
        if expected > 0:
            assert len(feed.items) == expected, f"{name}: {len(feed.items)} items, not {expected}"
    for item in feed.items:
        assert item.link is None or item.link.startswith(("http://", "https://"))
        text = " ".join((item.title, item.summary, item.content, item.author))
        assert "\x00" not in text
        if name.startswith("hostile/"):
            assert not any(marker in text for marker in PASSWD_MARKERS), f"{name}: {item.title}"


ATTACKS = [n for n in DOCUMENTS if _is_entity_attack(n)]


@pytest.mark.parametrize("name", ATTACKS or [pytest.param("none", marks=ABSENT)])
def test_entity_attacks_refused(name: str) -> None:
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed((CORPUS / name).read_bytes(), headers={}, url=URL)


@pytest.mark.skipif(not DOCUMENTS, reason=absent(CORPUS))
def test_manifest_lists_every_document() -> None:
    assert set(DOCUMENTS) <= set(MANIFEST)
    assert len(ATTACKS) >= 5


@pytest.mark.skipif(not DOCUMENTS, reason=absent(CORPUS))
def test_served_charset_beats_a_lying_declaration() -> None:
    """A windows-1251 feed whose XML declaration claims UTF-8, fetched then parsed."""
    body = (CORPUS / "real" / "oren-ru-windows-1251-rss2.xml").read_bytes()
    body = body.replace(b'encoding="windows-1251"', b'encoding="utf-8"', 1)

    async def fetch(url: str) -> bytes:
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(url)
        return result.body

    with FeedServer() as server:
        server.set_body("/oren", body, content_type="application/rss+xml; charset=windows-1251")
        server.gzip("/oren")
        url = server.url("/oren")
        fetched = asyncio.run(fetch(url))
    feed = parse_feed(fetched, headers={"content-type": "text/xml; charset=windows-1251"},
                      url=url)
    assert feed.title.startswith("Новости Оренбурга")
    assert len(feed.items) == MANIFEST["real/oren-ru-windows-1251-rss2.xml"]
