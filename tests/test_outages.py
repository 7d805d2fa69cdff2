"""Outage drills through the real command: each ends with everything delivered, once.

Slack down then back, SMTP refusing connections then back (both with a running
daemon), one feed's host not resolving (`.invalid` never does), the state store's
disk full (RLIMIT_FSIZE), and the config file deleted under a running daemon
followed by SIGHUP.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import Run, Watcher
from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer

TOKEN = "xoxb-test-token"  # the slack_server fixture's


WORDS = ("navy ankara frigate golcuk radar moscow sanctions budget drone engine yard trials "
         "rescue crew tender contract delay export missile sonar").split()


def story(n: int, word: str = "submarine") -> dict[str, object]:
    """A matching item whose words differ from every other n (so no two form one story)."""
    own = " ".join(WORDS[(n * 7 + k) % len(WORDS)] for k in range(4))
    return {"title": f"q{n}z {word} {own}", "summary": f"{own} {word} report {n}",
            "link": f"https://outage.example/{n}", "guid": f"o{n}", "published": datetime.now(UTC)}


def config(watcher: Watcher, urls: list[str], *, slack: SlackServer | None = None,
           smtp: SmtpServer | None = None, interval: str = "1s") -> None:
    lines = ["[watcher]", f'state = "{watcher.tmp / "state.db"}"', f'interval = "{interval}"',
             'timeout = "5s"', ""]
    for url in urls:
        lines += ["[[feeds]]", f'url = "{url}"', ""]
    lines += ["[[profiles]]", 'name = "subs"', 'query = "submarine"', ""]
    if slack:
        lines += ["[channels.slack]", 'type = "slack"', f'token = "{TOKEN}"',
                  'channel = "#outage"', f'api_url = "{slack.api_url}"', ""]
    if smtp:
        lines += ["[channels.mail]", 'type = "email"', 'to = ["a@example.org"]',
                  'from = "w@example.org"', f'smtp_host = "{smtp.host}"',
                  f"smtp_port = {smtp.port}", 'security = "none"', ""]
    if not slack and not smtp:
        lines += ["[channels.console]", 'type = "console"', ""]
    watcher.write("\n".join(lines))


def wait_until(condition: Callable[[], bool], timeout: float, proc: subprocess.Popen[str]
               ) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the daemon exited"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    return out, err


def per_story(texts: list[str], n: int) -> Counter[int]:
    return Counter(i for t in texts for i in range(n) if f"q{i}z" in t)


def test_slack_down_for_a_while_then_back(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/news", [])
    config(watcher, [url], slack=slack_server)
    slack_server.set_down(True)
    proc = watcher.popen("run")
    try:
        wait_until(lambda: feed_server.hits("/news") >= 1, 15, proc)
        for n in range(3):
            feed_server.add_item("/news", story(n))
        wait_until(lambda: sum(r.path.endswith("postMessage") for r in slack_server.requests)
                   >= 3, 20, proc)
        slack_server.set_down(False)
        slack_server.wait_for(3, timeout=20)
    finally:
        stop(proc)
    assert per_story([json.dumps(m) for m in slack_server.messages], 3) == {0: 1, 1: 1, 2: 1}


def test_smtp_refusing_connections_then_back(
        watcher: Watcher, feed_server: FeedServer, smtp_server: SmtpServer) -> None:
    url = feed_server.add_feed("/news", [])
    config(watcher, [url], smtp=smtp_server)
    smtp_server.stop()
    proc = watcher.popen("run")
    try:
        wait_until(lambda: feed_server.hits("/news") >= 1, 15, proc)
        feed_server.add_item("/news", story(0))
        feed_server.add_item("/news", story(1))
        def failed_once() -> bool:   # both queued, and a delivery was refused
            hits = json.loads(watcher("hits", "--json", check=True).out)
            return len(hits) == 2 and any(h["error"] for h in hits)
        wait_until(failed_once, 20, proc)
        smtp_server.start()
        smtp_server.wait_for(2, timeout=20)
    finally:
        _, err = stop(proc)
    assert "refused" in err or "cannot reach" in err
    subjects = [str(r.message["Subject"]) for r in smtp_server.received]
    assert per_story(subjects, 2) == {0: 1, 1: 1}


def test_a_feed_whose_host_does_not_resolve_fails_alone(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    good = feed_server.add_feed("/news", [story(0)])
    bad = "http://feeds.watcher-test.invalid/rss"
    config(watcher, [bad, good], slack=slack_server)
    run = watcher("poll")
    assert run.code == 1, run.err   # a feed failed: poll says so (README, "Commands")
    assert "feeds.watcher-test.invalid" in run.err and "1 failed" in run.err
    assert "Traceback" not in run.err
    assert len(slack_server.messages) == 1
    feeds = {f["url"]: f for f in json.loads(watcher("status", "--json", check=True).out)["feeds"]}
    assert feeds[bad]["result"] == "error" and "DNS" in feeds[bad]["last_error"]
    assert feeds[good]["last_error"] is None


def limited_run(watcher: Watcher, fsize: int, *args: str) -> Run:
    """`watcher ARGS` with RLIMIT_FSIZE set (through a tiny exec wrapper, not preexec_fn)."""
    wrapper = ("import os, resource, sys; "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1]))); "
               "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")
    proc = subprocess.run([sys.executable, "-c", wrapper, str(fsize), "-m", "watcher", *args,
                           "-c", str(watcher.config)], capture_output=True, text=True,
                          env=watcher.env, cwd=watcher.tmp, timeout=60)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def count_items(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])


def fill_disk(watcher: Watcher, feed_server: FeedServer) -> tuple[Run, Path, int]:
    """A normal poll, then 59 new items polled with the store's file size capped."""
    url = feed_server.add_feed("/news", [story(0)])
    config(watcher, [url])
    watcher("poll", check=True)
    db = watcher.tmp / "state.db"
    before = count_items(db)
    for n in range(1, 60):   # a transaction far bigger than the limit below
        feed_server.add_item("/news", {**story(n), "summary": f"submarine {n} " + "x" * 2000})
    return limited_run(watcher, db.stat().st_size + 8 * 1024, "poll"), db, before


def test_disk_full_fails_the_run_and_loses_nothing(
        watcher: Watcher, feed_server: FeedServer) -> None:
    full, db, before = fill_disk(watcher, feed_server)

    assert full.code != 0
    assert "disk I/O error" in full.err or "full" in full.err, full.err
    assert count_items(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    again = watcher("poll", check=True)
    assert count_items(db) == before + 59
    assert per_story(again.out.splitlines(), 60)[59] >= 1


def test_disk_full_is_reported_in_one_line_without_a_traceback(
        watcher: Watcher, feed_server: FeedServer) -> None:
    full, _, _ = fill_disk(watcher, feed_server)
    assert full.code != 0
    assert "Traceback" not in full.err, full.err
    errors = [line for line in full.err.splitlines() if "error" in line.lower()]
    assert 1 <= len(errors) <= 2 and all(len(line) < 300 for line in errors), errors


def test_config_deleted_then_sighup_keeps_the_running_config(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/news", [])
    config(watcher, [url], slack=slack_server)
    proc = watcher.popen("run")
    try:
        wait_until(lambda: feed_server.hits("/news") >= 1, 15, proc)
        watcher.config.unlink()
        proc.send_signal(signal.SIGHUP)
        feed_server.add_item("/news", story(0))
        slack_server.wait_for(1, timeout=15)
        assert proc.poll() is None
    finally:
        _, err = stop(proc)
    refused = [line for line in err.splitlines() if "reload" in line]
    assert len(refused) == 1 and "keeping" in refused[0] and "not found" in refused[0], err
    assert per_story([json.dumps(m) for m in slack_server.messages], 1) == {0: 1}
