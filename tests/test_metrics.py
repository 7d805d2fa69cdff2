"""metrics.py: the registry, /metrics and /healthz, and what the engine counts (304s, parses)."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import prometheus_client
import pytest

from tests.servers.feeds import FeedServer
from tests.support.runner import Daemon, Watcher
from tests.support.waiting import wait_until
from tests.test_daemon import config, engine_for, item
from watcher.engine import Engine
from watcher.metrics import Metrics, MetricsServer, parse_address


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_own_registry_not_the_global_one() -> None:
    metrics = Metrics()
    metrics.polls.labels(result="not modified").inc()
    assert b'watcher_polls_total{result="not modified"} 1.0' in metrics.render()
    assert prometheus_client.REGISTRY.get_sample_value("watcher_polls_total",
                                                       {"result": "not modified"}) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9108", ("127.0.0.1", 9108)), (":9108", ("127.0.0.1", 9108)),
    ("[::1]:9108", ("::1", 9108)), ("0.0.0.0:0", ("0.0.0.0", 0))])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9108", "host:", "host:http", "h:70000"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ADDR:PORT"):
        parse_address(text)


def test_healthz_answers_503_when_unhealthy() -> None:
    state = {"ok": False}
    server = MetricsServer(Metrics(), lambda: (state["ok"], "scheduler not running"),
                           "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(base + "/healthz") == (503, "scheduler not running\n")
        state["ok"] = True
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/nothing")[0] == 404
    finally:
        server.stop()


def _poll_twice(engine: Engine) -> list[str]:
    async def go() -> list[str]:
        try:
            first = await engine.poll(engine.config.feeds)
            second = await engine.poll(engine.config.feeds)
            return [o.status for o in first + second]
        finally:
            await engine.aclose()
    try:
        return asyncio.run(go())
    finally:
        engine.store.close()


@pytest.mark.slow
def test_a_304_is_not_parsed_again(watcher: Watcher, feed_server: FeedServer) -> None:
    config(watcher, [feed_server.add_feed("/rss", [item(1), item(2)])])
    engine = engine_for(watcher)
    assert isinstance(engine, Engine)
    assert _poll_twice(engine) == ["new items", "not modified"]
    value = engine.metrics.registry.get_sample_value
    assert value("watcher_parses_total") == 1
    assert value("watcher_items_parsed_total") == 2
    assert value("watcher_fetch_responses_total", {"code": "200"}) == 1
    assert value("watcher_fetch_responses_total", {"code": "304"}) == 1
    assert value("watcher_fetch_seconds_count") == 2
    assert value("watcher_matches_total", {"profile": "S-400"}) == 2


@pytest.mark.slow
def test_an_identical_body_is_not_parsed_again(watcher: Watcher, feed_server: FeedServer) -> None:
    config(watcher, [feed_server.add_feed("/rss", [item(1)])])
    feed_server.ignore_validators("/rss")
    engine = engine_for(watcher)
    assert isinstance(engine, Engine)
    assert _poll_twice(engine) == ["new items", "unchanged"]
    assert engine.metrics.registry.get_sample_value("watcher_parses_total") == 1
    assert engine.metrics.registry.get_sample_value(
        "watcher_fetch_responses_total", {"code": "200"}) == 2


@pytest.mark.slow
def test_a_changed_document_parses_only_its_new_and_edited_items(
        watcher: Watcher, feed_server: FeedServer) -> None:
    """The second poll of a feed that gained one item and saw one edited parses those two:
    the other items' bytes match the digests stored by the first poll."""
    items = [item(n) for n in range(1, 7)]
    url = feed_server.add_feed("/rss", items[:5])
    config(watcher, [url])
    engine = engine_for(watcher)
    assert isinstance(engine, Engine)
    store = engine.store

    async def go() -> list[int]:
        try:
            first = await engine.poll(engine.config.feeds)
            before = store.item(url, "id:g-3")
            items[2] = {**items[2], "summary": "Ankara and Moscow talk again, an aide said."}
            feed_server.add_feed("/rss", items)
            second = await engine.poll(engine.config.feeds)
            after = store.item(url, "id:g-3")
            assert before is not None and after is not None
            assert before.content_hash != after.content_hash   # the edit was seen
            return [first[0].items, second[0].items, second[0].new_items]
        finally:
            await engine.aclose()
    try:
        assert asyncio.run(go()) == [5, 6, 1]
        state = store.feed(url)
        assert state is not None and state.item_digests is not None
        assert len(state.item_digests.split()) == 6
    finally:
        store.close()
    value = engine.metrics.registry.get_sample_value
    assert value("watcher_parses_total") == 2
    assert value("watcher_items_parsed_total") == 5 + 2   # all, then the new and the edited


@pytest.mark.slow
def test_running_daemon_serves_metrics_and_healthz(
        watcher: Watcher, feed_server: FeedServer) -> None:
    config(watcher, [feed_server.add_feed("/rss", [item(1)])])
    port = free_port()
    run = Daemon(watcher, "--metrics", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    try:
        run.wait_for_log("metrics on")
        assert wait_until(lambda: get(base + "/healthz")[0] == 200, what="/healthz 200")
        wait_until(lambda: 'watcher_fetch_responses_total{code="304"}' in get(base + "/metrics")[1],
                   what="a 304 counted")
        wait_until(lambda: 'watcher_alerts_sent_total{channel="console"} 1.0'
                   in get(base + "/metrics")[1], what="an alert counted as sent")
        text = get(base + "/metrics")[1]
        for name in ("watcher_polls_total", "watcher_fetch_seconds_bucket",
                     "watcher_items_parsed_total", 'watcher_matches_total{profile="S-400"} 1.0',
                     'watcher_alerts_pending{channel="console"}', "watcher_alerts_failed_total",
                     'watcher_fetch_responses_total{code="200"} 1.0'):
            assert name in text, name
    finally:
        assert run.stop() == 0
    with pytest.raises(OSError):   # the server went away with the daemon
        urllib.request.urlopen(base + "/healthz", timeout=2)  # noqa: S310
