"""`watcher run` end to end: SIGHUP reload, SIGTERM drain, JSON logs; polite polling via the CLI.

Each daemon test starts the real `watcher run` as a subprocess against the local feed
server and reads its standard error and output while it runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.conftest import Watcher
from tests.servers.feeds import FeedServer
from watcher.store import SQLiteStore

pytestmark = pytest.mark.slow


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll `check` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


class Running:
    """A `watcher run` subprocess whose output is collected by two reader threads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(proc.stderr, self.err)),
                         threading.Thread(target=self._read, args=(proc.stdout, self.out))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def log(self) -> str:
        return "".join(self.err)

    def stdout(self) -> str:
        return "".join(self.out)

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        wait_until(lambda: text in self.log() or self.proc.poll() is not None, timeout, text)
        assert text in self.log(), f"{text!r} not logged; the log:\n{self.log()}"

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for t in self._threads:
            t.join(5)
        return code


def start(watcher: Watcher, *args: str) -> Running:
    return Running(watcher.popen("run", *args))


def config(watcher: Watcher, feeds: list[str], *, extra: str = "",
           query: str = "S-400 OR Triumf") -> None:
    lines = ["[watcher]", f'state = "{watcher.tmp / "state.db"}"', 'interval = "1s"',
             'timeout = "30s"', ""]
    for i, url in enumerate(feeds):
        lines += ["[[feeds]]", f'url = "{url}"', f'name = "Feed {i}"', ""]
    lines += ["[[profiles]]", 'name = "S-400"', f"query = {json.dumps(query)}", "",
              "[channels.console]", 'type = "console"', ""]
    watcher.write("\n".join(lines) + extra)


def item(n: int, title: str = "Turkey weighs a second S-400 batch") -> dict[str, object]:
    return {"title": f"{title} ({n})", "link": f"https://news.example.org/{n}",
            "guid": f"g-{n}", "summary": "Ankara and Moscow talk again.",
            "published": datetime.now(UTC)}


def test_sighup_with_a_broken_config_keeps_the_old_one(
        watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/rss", [item(1)])
    config(watcher, [url])
    run = start(watcher)
    try:
        wait_until(lambda: "(1)" in run.stdout(), what="the first alert")
        watcher.config.write_text(watcher.config.read_text() + "\n[watcher.typo]\nx = 1\n"
                                  "[[profiles]]\nname = 'bad'\nquery = '(unclosed'\n")
        run.signal(signal.SIGHUP)
        run.wait_log("reload refused, keeping the running config")
        feed_server.add_item("/rss", item(2, "Second S-400 delivery could start next year"))
        wait_until(lambda: "Second S-400 delivery" in run.stdout(), what="alert after reload")
        assert run.proc.poll() is None
    finally:
        code = run.stop()
    assert code == 0, run.log()


def test_sighup_with_a_good_config_applies_it(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/rss", [item(1)])
    config(watcher, [url])
    run = start(watcher)
    try:
        wait_until(lambda: "(1)" in run.stdout(), what="the first alert")
        config(watcher, [url], query="submarine")
        run.signal(signal.SIGHUP)
        run.wait_log("config reloaded: 1 feed(s), 1 profile(s)")
        feed_server.add_item("/rss", item(2, "New submarine programme announced"))
        feed_server.add_item("/rss", item(3, "Another S-400 story"))
        wait_until(lambda: "New submarine programme" in run.stdout(), what="the new profile")
        assert "Another S-400 story" not in run.stdout()
    finally:
        assert run.stop() == 0


def test_sigterm_during_a_hanging_fetch_exits_0_quickly_and_keeps_the_store(
        watcher: Watcher, feed_server: FeedServer) -> None:
    good = feed_server.add_feed("/good", [item(1)])
    slow = feed_server.add_feed("/slow", [item(2)])
    feed_server.hang("/slow")
    config(watcher, [good, slow])
    run = start(watcher)
    try:
        wait_until(lambda: feed_server.in_flight("/slow") == 1, what="the hanging fetch")
        wait_until(lambda: "(1)" in run.stdout(), what="the good feed's alert")
        t0 = time.monotonic()
        run.signal(signal.SIGTERM)
        code = run.proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        run.stop()
    assert code == 0, run.log()
    assert elapsed < 5.0, f"took {elapsed:.1f}s to stop"
    assert "stopped" in run.log()
    store = SQLiteStore(str(watcher.tmp / "state.db"))
    try:
        assert store.integrity_check() == "ok"
        counts = store.outbox_counts()
        assert counts["console"].get("sent", 0) == 1 and not counts["console"].get("pending")
        good_state = store.feed(good)
        assert good_state is not None and good_state.items_total == 1
    finally:
        store.close()


def test_json_logs_are_one_object_per_line_with_feed_names(
        watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/rss", [item(1)])
    feed_server.fail("/broken", 500, n=None)
    config(watcher, [url, feed_server.url("/broken")])
    run = start(watcher, "--log-format", "json")
    try:
        wait_until(lambda: "Feed 1" in run.log(), what="a log line about the broken feed")
    finally:
        assert run.stop() == 0
    records = [json.loads(line) for line in run.err]   # every line is one JSON object
    assert all({"time", "level", "message"} <= set(r) for r in records)
    assert any(r.get("feed") == "Feed 1" and "HTTP 500" in r["message"] for r in records)
    assert any(r["message"] == "stopped" for r in records)


# -- polite polling through `watcher poll` and `watcher status --json` ------------------------

def status_of(watcher: Watcher) -> dict[str, object]:
    data = json.loads(watcher("status", "--json", check=True).out)
    feed: dict[str, object] = data["feeds"][0]
    feed["_now"] = data["now"]
    return feed


def test_retry_after_moves_the_next_poll_out(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/rss", [item(1)])
    feed_server.fail("/rss", 429, n=1, headers={"Retry-After": "120"})
    config(watcher, [url])
    watcher("poll")
    feed = status_of(watcher)
    assert feed["errors_in_a_row"] == 1 and "429" in str(feed["last_error"])
    next_poll, polled = float(feed["next_poll"]), float(feed["last_poll"])  # type: ignore[arg-type]
    assert next_poll - polled >= 120.0


def test_gone_feed_is_disabled_and_says_so(watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.url("/gone")
    feed_server.fail("/gone", 410, n=None)
    ok = feed_server.add_feed("/rss", [item(1)])
    config(watcher, [url, ok])
    first = watcher("poll")
    assert "410" in first.err
    data = json.loads(watcher("status", "--json", check=True).out)
    gone = next(f for f in data["feeds"] if f["url"] == url)
    assert gone["gone"] is True and gone["result"] == "gone"
    fine = next(f for f in data["feeds"] if f["url"] == ok)
    assert fine["items_per_day"] == 1.0 and fine["last_success"] is not None
    assert fine["interval"] == 1.0 and gone["last_success"] is None
    watcher("poll")
    assert feed_server.hits("/gone") == 1            # not fetched again
    assert "GONE (410)" in watcher("status", check=True).out


def test_permanent_redirect_updates_the_feed_url(
        watcher: Watcher, feed_server: FeedServer) -> None:
    new = feed_server.add_feed("/new", [item(1)])
    feed_server.redirect("/old", new, 301)
    config(watcher, [feed_server.url("/old")])
    first = watcher("poll", check=True)
    assert "moved permanently" in first.err
    watcher("poll", check=True)
    assert feed_server.hits("/old") == 1 and feed_server.hits("/new") == 2
    assert feed_server.requests_for("/new")[-1].if_none_match is not None


# -- the engine in-process: fetch processes, feed health, network down ----------------------

def engine_for(watcher: Watcher, clock: Callable[[], float] | None = None) -> object:
    from watcher.config import load_config
    from watcher.engine import Engine
    from watcher.metrics import Metrics
    from watcher.store import open_store

    cfg = load_config(watcher.config)
    return Engine(cfg, open_store(cfg.state), clock=clock or time.time, metrics=Metrics())


def test_a_crashed_fetch_process_fails_one_feed_and_the_pool_comes_back(
        watcher: Watcher, feed_server: FeedServer) -> None:
    import asyncio
    import os

    from watcher.engine import Engine
    from watcher.fetchpool import FetchPool

    release = feed_server.hang("/bad", threading.Event())
    feed_server.add_feed("/bad", [item(2)])
    good = feed_server.add_feed("/good", [item(1)])
    config(watcher, [feed_server.url("/bad"), good])
    engine = engine_for(watcher)
    assert isinstance(engine, Engine) and isinstance(engine.source, FetchPool)
    pool, cfg = engine.source, engine.config

    async def go() -> tuple[object, object]:
        try:
            polling = asyncio.create_task(engine.poll([cfg.feeds[0]]))
            deadline = time.monotonic() + 60
            while feed_server.in_flight("/bad") < 1:
                assert time.monotonic() < deadline, "the fetch never reached the server"
                await asyncio.sleep(0.01)
            worker = next(w for w in pool._workers if w is not None and w.pending)
            os.kill(worker.process.pid, signal.SIGKILL)   # as the OOM killer would
            bad = (await polling)[0]
            release.set()
            ok = (await engine.poll([cfg.feeds[1]]))[0]
            return bad, ok
        finally:
            release.set()
            await engine.aclose()

    bad, ok = asyncio.run(go())
    engine.store.close()
    assert not bad.ok and "fetch process crashed" in str(bad.error)  # type: ignore[attr-defined]
    assert ok.ok and ok.new_items == 1                                 # type: ignore[attr-defined]
    value = engine.metrics.registry.get_sample_value
    assert value("watcher_feed_errors_total", {"kind": "transient"}) == 1


def _health_alerts(engine: object) -> list[str]:
    rows = engine.store.pending("ops")  # type: ignore[attr-defined]
    assert all(r.urgent for r in rows)
    back = ("Feed recovered", "Network back")   # the kind says it, for the renderers
    assert [r.kind for r in rows] == [
        "recovered" if r.alert.title.startswith(back) else "health" for r in rows]
    return [r.alert.title for r in rows]


def test_a_failing_feed_is_reported_once_to_the_health_channel_and_its_recovery_once(
        watcher: Watcher, feed_server: FeedServer) -> None:
    import asyncio

    url = feed_server.add_feed("/rss", [item(1)])
    feed_server.fail("/rss", 404, n=5)
    other = feed_server.add_feed("/other", [item(2)])
    config(watcher, [url, other], extra='\n[channels.ops]\ntype = "console"\n')
    watcher.config.write_text(watcher.config.read_text().replace(
        'timeout = "30s"', 'timeout = "30s"\nhealth = ["ops"]'))
    engine = engine_for(watcher)

    async def go() -> None:
        try:
            for _ in range(6):
                await engine.poll(engine.config.feeds)  # type: ignore[attr-defined]
        finally:
            await engine.aclose()  # type: ignore[attr-defined]

    asyncio.run(go())
    alerts = _health_alerts(engine)
    engine.store.close()  # type: ignore[attr-defined]
    assert len(alerts) == 2, alerts
    assert alerts[0].startswith("Feed failing: Feed 0 — HTTP 404 Not Found (3 times since ")
    assert alerts[1] == "Feed recovered: Feed 0"


def test_when_every_feed_fails_the_network_is_blamed_once(
        watcher: Watcher, feed_server: FeedServer) -> None:
    import asyncio
    import socket

    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feeds = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
    config(watcher, feeds, extra='\n[channels.ops]\ntype = "console"\n')
    watcher.config.write_text(watcher.config.read_text().replace(
        'timeout = "30s"', 'timeout = "30s"\nhealth = ["ops"]'))
    now = [time.time()]
    engine = engine_for(watcher, clock=lambda: now[0])

    async def go() -> None:
        try:
            for _ in range(4):   # hours of failures: still no feed is blamed
                await engine.poll(engine.config.feeds)  # type: ignore[attr-defined]
                now[0] += 3 * 3600
        finally:
            await engine.aclose()  # type: ignore[attr-defined]

    asyncio.run(go())
    alerts = _health_alerts(engine)
    engine.store.close()  # type: ignore[attr-defined]
    assert alerts == ["Network down? All 2 feeds fail at once"]
