"""Hostile feeds through the real `watcher poll`: the process survives, memory stays bounded,
the bad feed is marked unhealthy with a clear reason, the good feed still alerts, and no
local file content or secret leaks into an alert, the console or the store.

Every document in ../shared/feeds/hostile/ is served by the local feed server next to
generated ones (entity bombs, XXE to a local secret file, a 1 GB body, a 1-byte-per-second
body, gzip bombs, invalid UTF-8, 100k-deep nesting, 100,000 items, 1 MB titles, NUL bytes,
script and javascript: links). Caps in the test config keep it fast: max_bytes 16 MiB,
timeout 2s (so a fetch ends after at most 4s).
"""

from __future__ import annotations

import functools
import gzip
import json
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.conftest import SHARED, Run, Watcher
from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer

HOSTILE = SHARED / "feeds" / "hostile"
TOKEN = "xoxb-hostile-token-VALUE-4471"
MARKER = "SECRET-MARKER-7f3a9c"
PEAK_RSS_LIMIT_MIB = 300
MAX_BYTES = 16 * 1024 * 1024

_WRAPPER = """
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[2:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"code": proc.returncode, "out": proc.stdout, "err": proc.stderr,
               "peak_kib": peak}, out)
"""


def run_measured(watcher: Watcher, *args: str, timeout: float = 120) -> tuple[Run, int]:
    """(the run, its peak RSS in KiB) of `watcher ARGS -c CONFIG`.

    A wrapper process starts `watcher`, waits for it and reports
    getrusage(RUSAGE_CHILDREN).ru_maxrss: the peak of that one child only.
    """
    report = watcher.tmp / "measure.json"
    cmd = [sys.executable, "-c", _WRAPPER, str(report),
           sys.executable, "-m", "watcher", *args, "-c", str(watcher.config)]
    subprocess.run(cmd, env=watcher.env, cwd=watcher.tmp, timeout=timeout, check=True)
    data = json.loads(report.read_text(encoding="utf-8"))
    return Run(data["code"], data["out"], data["err"]), int(data["peak_kib"])


def rss(items: str, *, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel>'
            f"<title>hostile</title><link>https://h.example/</link>{items}</channel></rss>"
            ).encode()


@functools.cache
def gzip_of_zeros(nbytes: int) -> bytes:
    """A gzip stream of `nbytes` zero bytes, built in chunks (never holds the plain body)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    out = [comp.compress(chunk) for _ in range(nbytes // len(chunk))]
    out.append(comp.flush())
    return b"".join(out)


def stored_text(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


@dataclass
class Case:
    path: str
    reason: str | None = None   # substring of last_error when the feed must fail


def generated(feeds: FeedServer, secret: Path) -> list[Case]:
    """Serve the generated hostile documents; the cases to check."""
    cases: list[Case] = []

    def body(path: str, data: bytes, reason: str | None, **kw: object) -> None:
        feeds.set_body(path, data, **kw)  # type: ignore[arg-type]
        cases.append(Case(path, reason))

    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body("/gen/billion-laughs", rss("<item><title>submarine &lol9;</title></item>",
         prolog=f'<!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]>'), "entities")
    big = "A" * 100_000
    body("/gen/quadratic", rss("<item><title>submarine" + "&a;" * 2_000 + "</title></item>",
         prolog=f'<!DOCTYPE rss [<!ENTITY a "{big}">]>'), "entities")
    uri = secret.as_uri()
    body("/gen/xxe-file", rss("<item><title>submarine &xxe;</title>"
                              "<description>&xxe;</description></item>",
         prolog=f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>'), "entities")
    body("/gen/xxe-parameter", rss("<item><title>submarine news</title></item>",
         prolog=f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{uri}"> %p;]>'), "entities")
    body("/gen/xxe-after-comment", b'<?xml version="1.0"?>\n<!-- hi -->\n'
         + rss("<item><title>&x;</title></item>",
               prolog=f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{uri}">]>')[21:], "entities")
    # An external DTD subset (no <!ENTITY>): neither expat nor feedparser may load it.
    body("/gen/xxe-external-dtd", rss("<item><title>submarine dtd</title>"
                                      "<guid>dtd-1</guid></item>",
         prolog=f'<!DOCTYPE rss SYSTEM "{uri}">'), None)
    feeds.set_body("/gen/huge", b"")
    feeds.huge("/gen/huge", 1 << 30)
    cases.append(Case("/gen/huge", "larger than"))
    feeds.set_body("/gen/huge-chunked", b"")
    feeds.huge("/gen/huge-chunked", 1 << 30, content_length=False)
    cases.append(Case("/gen/huge-chunked", "larger than"))
    body("/gen/slow", rss("<item><title>slow</title></item>" * 20), "timed out")
    feeds.slow_body("/gen/slow", 1)
    bomb = gzip_of_zeros(256 * 1024 * 1024)
    body("/gen/gzip-bomb", bomb, "larger than", headers={"Content-Encoding": "gzip"})
    body("/gen/gzip-bomb-plain", bomb, "gzip")
    body("/gen/gzip-in-gzip", gzip.compress(bomb), "gzip",
         headers={"Content-Encoding": "gzip"})
    body("/gen/invalid-utf8", rss("<item><title>cafXX submarine XX</title><guid>u8</guid>"
                                  "</item>").replace(b"XX", b"\xff\xfe\xc3("), None)
    deep = 100_000
    body("/gen/nested-100k", rss("<item><title>x</title>" + "<a>" * deep + "</a>" * deep
                                 + "</item>"), "elements")
    body("/gen/nested-1000", rss("<item><title>x</title>" + "<a>" * 1000 + "</a>" * 1000
                                 + "</item>"), "nested")
    many = "".join(f"<item><title>filler {i}</title><guid>m{i}</guid></item>"
                   for i in range(100_000))
    body("/gen/items-100k", rss(many), None)
    body("/gen/title-1mb", rss("<item><title>submarine " + "W" * 1_000_000
                               + "</title><guid>t1</guid>"
                               "<link>https://h.example/title</link></item>"), None)
    body("/gen/nul-bytes", rss("<item><title>sub\0marine nul</title><guid>n\0ul</guid>"
                               "<description>a\0b</description></item>"), None)
    body("/gen/scripts", rss(
        "<item><title>submarine script story</title><guid>js1</guid>"
        "<link>javascript:alert(document.cookie)</link><description>"
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=\"javascript:alert(2)\"&gt;x&lt;/a&gt;"
        "&lt;img src=x onerror=alert(3)&gt; submarine</description></item>"), None)
    return cases


def write_config(watcher: Watcher, urls: list[str], slack: SlackServer) -> None:
    lines = ["[watcher]", f'state = "{watcher.tmp / "state.db"}"', 'interval = "1h"',
             f"max_bytes = {MAX_BYTES}", 'timeout = "2s"', "concurrency = 16", "per_host = 16",
             ""]
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"', ""]
    lines += ["[[profiles]]", 'name = "subs"', 'query = "submarine"', "",
              "[channels.slack]", 'type = "slack"', 'token = "${SLACK_BOT_TOKEN}"',
              'channel = "#hostile"', f'api_url = "{slack.api_url}"', "",
              "[channels.console]", 'type = "console"', ""]
    watcher.write("\n".join(lines))
    watcher.env["SLACK_BOT_TOKEN"] = TOKEN


def test_hostile_feeds_do_not_hurt_the_poll_or_the_other_feeds(
        watcher: Watcher, feed_server: FeedServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARKER} root:x:0:0\n", encoding="utf-8")
    cases = generated(feed_server, secret)
    shared = sorted(HOSTILE.iterdir()) if HOSTILE.is_dir() else []
    for doc in shared:
        feed_server.serve_file(f"/shared/{doc.name}", doc)
        cases.append(Case(f"/shared/{doc.name}",
                          "entities" if doc.name.startswith(("entity-", "xxe-", "billion-"))
                          else None))
    good = feed_server.add_feed("/good", [{"title": "Turkey's new submarine launched",
                                           "summary": "The submarine was launched today.",
                                           "link": "https://good.example/1", "guid": "g1",
                                           "published": datetime.now(UTC)}])
    with SlackServer(token=TOKEN) as slack:
        write_config(watcher, [good, *(feed_server.url(c.path) for c in cases)], slack)
        started = time.monotonic()
        run, peak_kib = run_measured(watcher, "poll")
        elapsed = time.monotonic() - started
        print(f"{len(cases)} hostile feeds + 1 good: peak RSS {peak_kib // 1024} MiB, "
              f"{elapsed:.1f}s")
        payloads = json.dumps(slack.messages, ensure_ascii=False)
        good_alerts = [m for m in slack.messages if "new submarine launched" in m["text"]]

    assert "Traceback" not in run.err
    assert peak_kib < PEAK_RSS_LIMIT_MIB * 1024, f"peak RSS {peak_kib // 1024} MiB"
    assert elapsed < 60
    assert len(good_alerts) == 1
    status = json.loads(watcher("status", "--json", check=True).out)
    failed = any(f["result"] in ("error", "gone") for f in status["feeds"])
    assert run.code == (1 if failed else 0), run.err   # poll exits 1 when any feed failed
    by_url = {f["url"]: f for f in status["feeds"]}
    assert by_url[good]["result"] not in ("error", "gone")
    for case in cases:
        feed = by_url[feed_server.url(case.path)]
        error = feed["last_error"]
        if case.reason is not None:
            assert feed["result"] == "error", (case.path, feed)
            assert error and case.reason in error, (case.path, error)
        if error:  # any failure is one clear line naming the problem
            assert "\n" not in error and len(error) < 300, (case.path, error)
            assert "Traceback" not in error
    everything = payloads + run.out + run.err + stored_text(watcher.tmp / "state.db")
    assert MARKER not in everything
    assert TOKEN not in everything
    assert "javascript:" not in payloads and "<script" not in payloads.lower()
    assert shared or pytest.skip(f"{HOSTILE} is absent: only generated documents were tried")


def test_items_beyond_the_cap_and_huge_titles_still_alert_within_slack_limits(
        watcher: Watcher, feed_server: FeedServer) -> None:
    date = format_datetime(datetime.now(UTC))
    many = "".join(f"<item><title>submarine {i} unique{i}x</title><guid>m{i}</guid>"
                   f"<link>https://m.example/{i}</link><pubDate>{date}</pubDate></item>"
                   for i in range(3))
    many += "".join(f"<item><title>filler {i}</title><guid>f{i}</guid></item>"
                    for i in range(100_000))
    url = feed_server.set_body("/many", rss(many))
    big = feed_server.set_body("/big-title", rss(
        "<item><title>submarine " + "W" * 1_000_000 + "</title><guid>t1</guid>"
        f"<link>https://h.example/title</link><pubDate>{date}</pubDate></item>"))
    with SlackServer(token=TOKEN) as slack:
        write_config(watcher, [url, big], slack)
        run, peak_kib = run_measured(watcher, "poll")
        print(f"100,000 items + 1 MB title: peak RSS {peak_kib // 1024} MiB")
        messages = list(slack.messages)
        refused = [r for r in slack.requests if r.path.endswith("postMessage")]
    assert run.code == 0, run.err
    assert peak_kib < PEAK_RSS_LIMIT_MIB * 1024
    assert len(refused) == len(messages)      # nothing bounced off Slack's limits
    text = " ".join(m["text"] for m in messages)
    assert all(f"unique{i}x" in text for i in range(3))
    assert "WWWW" in text and len(max((m["text"] for m in messages), key=len)) <= 4000
    status = json.loads(watcher("status", "--json", check=True).out)
    assert all(f["last_error"] is None for f in status["feeds"])


def test_daemon_stays_up_through_hostile_feeds_and_alerts_on_time(
        watcher: Watcher, feed_server: FeedServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(MARKER, encoding="utf-8")
    cases = [c for c in generated(feed_server, secret)
             if c.path in ("/gen/huge-chunked", "/gen/slow", "/gen/gzip-bomb",
                           "/gen/xxe-file", "/gen/nested-100k")]
    good = feed_server.add_feed("/good", [])
    with SlackServer(token=TOKEN) as slack:
        write_config(watcher, [good, *(feed_server.url(c.path) for c in cases)], slack)
        watcher.write(watcher.config.read_text().replace('interval = "1h"', 'interval = "2s"'))
        proc = watcher.popen("run")
        try:
            deadline = time.monotonic() + 30
            while (not all(feed_server.hits(c.path) for c in cases)
                   and time.monotonic() < deadline):
                assert proc.poll() is None
                time.sleep(0.1)
            feed_server.add_item("/good", {"title": "Submarine programme news", "guid": "d1",
                                           "link": "https://good.example/d1",
                                           "published": datetime.now(UTC)})
            added = time.monotonic()
            slack.wait_for(1, timeout=20)
            latency = time.monotonic() - added
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        payloads = json.dumps(slack.messages)
    assert proc.returncode == 0, err
    assert latency < 15
    assert "Traceback" not in err
    assert MARKER not in payloads + out + err and TOKEN not in payloads + out + err
