"""Fuzzing with hypothesis: the query parser, the config loader and the feed-to-alert path.

* `compile_query` on any text raises nothing but QueryError;
* `load_config` on generated TOML (valid-looking and mangled) raises nothing but ConfigError;
* random and byte-mutated RSS / Atom / RDF documents: `parse_feed` raises nothing but
  ParseError, and `Pipeline.record` on an in-memory store with a real Router never raises.

Bounded for CI (100 examples each). A longer campaign:

    WATCHER_FUZZ_EXAMPLES=20000 /work/venv/bin/python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import os
import random
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers.feeds import render_feed
from watcher.config import FeedConfig, load_config
from watcher.engine import local_source
from watcher.errors import ConfigError, ParseError, QueryError
from watcher.parse import parse_feed
from watcher.pipeline import Pipeline
from watcher.query import compile_query
from watcher.routing import Router
from watcher.store import open_store

EXAMPLES = int(os.environ.get("WATCHER_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="WATCHER_FUZZ_EXAMPLES" not in
                os.environ, suppress_health_check=[HealthCheck.too_slow,
                                                    HealthCheck.function_scoped_fixture])

QUERY_WORDS = ["S-400", "submarine", "Türkiye", "TF-X", '"second batch"', "submarin*", "AND",
               "OR", "NOT", "-", "(", ")", "NEAR/3", "NEAR/", "title:", "feed:", "/s.?400/",
               "/(/", "@s400", "@nope", '"', "*", ":", "İ", "ı", "\u2011", "NEAR/0", "a"]


@FUZZ
@given(st.one_of(st.text(max_size=80),
                 st.lists(st.sampled_from(QUERY_WORDS), max_size=12).map(" ".join)))
def test_query_parser_raises_only_query_error(query: str) -> None:
    try:
        compile_query(query, {"s400": ["S-400", "Triumf"]})
    except QueryError:
        pass


TOML_KEYS = {
    "watcher": ["state", "interval", "timezone", "backfill", "retention", "max_bytes",
                "timeout", "concurrency", "per_host", "health", "colour"],
    "feeds": ["url", "name", "interval", "tags", "bogus"],
    "profiles": ["name", "query", "channels", "feeds", "priority"],
    "channels.c": ["type", "channel", "token", "to", "from", "smtp_host", "smtp_port",
                   "security", "mode", "digest", "optional", "quiet", "webhook_url"],
}
TOML_VALUES = st.one_of(
    st.sampled_from(['"10m"', '"0s"', '"-1s"', '"soon"', '"Europe/Istanbul"', '"Mars/Base"',
                     '"https://x.example/rss"', '"ftp://x"', '"slack"', '"email"', '"console"',
                     '"digest"', '["08:00"]', '["25:00"]', '"${NOPE}"', '"${NOPE:-x}"',
                     '"S-400 OR ("', '"submarine"', "0", "-5", "10", "1e309", "true", "[]",
                     '["c"]', '"22:00-07:00"', '"22:00-22:00"', "{ a = 1 }", '"\\u0000"']),
    st.integers().map(str), st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "\\\\")
                                                     .replace('"', '\\"') + '"'))


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    lines = []
    for table, keys in TOML_KEYS.items():
        if not draw(st.booleans()):
            continue
        header = f"[[{table}]]" if table in ("feeds", "profiles") else f"[{table}]"
        lines.append(header)
        for key in draw(st.lists(st.sampled_from(keys), max_size=6, unique=True)):
            lines.append(f"{key} = {draw(TOML_VALUES)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):   # mangle it
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.text(max_size=5)) + text[pos + 1:]
    return text


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


@FUZZ
@given(text=toml_documents())
def test_config_loader_raises_only_config_error(text: str, config_dir: Path) -> None:
    path = config_dir / "watcher.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path, env={})
    except ConfigError:
        pass


ITEM = st.fixed_dictionaries({
    "title": st.one_of(st.none(), st.text(max_size=60),
                       st.sampled_from(["S-400 batch", "Submarine news", "<!channel> x"])),
    "summary": st.one_of(st.none(), st.text(max_size=120)),
    "link": st.one_of(st.none(), st.sampled_from(["https://n.example/a?utm_source=x",
                                                  "javascript:alert(1)", "/relative", "", "http://[::1"])),
    "guid": st.one_of(st.none(), st.text(max_size=20)),
    "author": st.one_of(st.none(), st.text(max_size=20)),
    "published": st.one_of(st.none(), st.datetimes(min_value=datetime(1971, 1, 1),
                                                   max_value=datetime(2100, 1, 1),
                                                   timezones=st.just(UTC))),
})


def _xml_safe(item: dict[str, Any]) -> dict[str, Any]:
    """Text XML 1.0 can carry at all (the mutations below break documents anyway)."""
    def ok(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return "".join(c for c in value if c in "\t\n\r" or " " <= c <= "\ud7ff"
                       or "\ue000" <= c <= "\ufffd")
    return {k: ok(v) for k, v in item.items()}


@st.composite
def feed_documents(draw: st.DrawFn) -> bytes:
    items = [_xml_safe(i) for i in draw(st.lists(ITEM, max_size=6))]
    kind = draw(st.sampled_from(["rss", "atom", "rdf"]))
    body, _ = render_feed(items=items, title=draw(st.text(max_size=20)), kind=kind,
                          link="https://feed.example/")
    data = bytearray(body)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 8))):      # byte mutations
        op = rng.randrange(4)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice([b"\0", b"<", b"&", b"]]>", b"<!ENTITY", b"\xff\xfe",
                                        b"<item>", b"</channel>", b"&#0;", b"\x1f\x8b"])
        elif op == 2:
            del data[pos:pos + rng.randrange(1, 40)]
        else:
            data = data[:pos]
    return bytes(data)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    path = tmp_path_factory.mktemp("fuzz-pipeline") / "watcher.toml"
    path.write_text("""
        [watcher]
        state = ":memory:"
        [aliases]
        s400 = ["S-400", "Triumf"]
        [[feeds]]
        url = "https://feed.example/rss"
        [[profiles]]
        name = "s400"
        query = "@s400 OR submarin*"
        [[profiles]]
        name = "any"
        query = "/./ NOT zzzz"
        [channels.console]
        type = "console"
        [channels.mail]
        type = "email"
        to = ["a@example.org"]
        from = "w@example.org"
        smtp_host = "127.0.0.1"
        """.replace("\n        ", "\n"), encoding="utf-8")
    config = load_config(path, env={})
    store = open_store(":memory:")
    source = local_source(config)
    yield Pipeline(Router(config), store, source)
    asyncio.run(source.aclose())
    store.close()


@FUZZ
@given(doc=feed_documents(), first_sight=st.booleans())
def test_random_feed_documents_reach_the_store_without_raising(
        doc: bytes, first_sight: bool, pipeline: Pipeline) -> None:
    try:
        parsed = parse_feed(doc, headers={"content-type": "application/xml"},
                            url="https://feed.example/rss")
    except ParseError:
        return
    feed = FeedConfig(url="https://feed.example/rss")
    with pipeline.store.transaction():
        done = pipeline.record(feed, parsed, datetime.now(UTC).timestamp(), first_sight)
    assert 0 <= done.old_items <= done.new_items <= len(parsed.items) and done.alerts >= 0


def test_the_document_strategy_makes_valid_feeds_too() -> None:
    """Guard against a fuzzer that only ever tests the error path."""
    body, _ = render_feed(items=[{"title": "S-400 batch", "guid": "1",
                                  "published": datetime.now(UTC)}],
                          title="t", kind="rss", link="https://feed.example/")
    assert len(parse_feed(body, headers={}, url="https://feed.example/rss").items) == 1
    assert tomllib.loads('[watcher]\ninterval = "10m"\n')
