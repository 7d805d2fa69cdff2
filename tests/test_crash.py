"""Crash safety: SIGKILL at each crash point (watcher/faults.py), then a normal run.

After the crash and the recovery run, every matching item has reached Slack, no
message is repeated except (only for after_send) the one in flight when the process
died, and the store passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.support.configs import profile, slack_channel, write_config
from tests.support.runner import Watcher
from tests.support.waiting import DEADLINE, wait_until

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

STORIES = ["Submarine Alpha-7 launched at Golcuk yard", "Frigate Kilo-3 submarine hunter trials"]
MARKS = ["Alpha-7", "Kilo-3"]


def items() -> list[dict[str, object]]:
    return [{"title": title, "summary": f"{title}. Officials confirmed the news.",
             "link": f"https://crash.example/{n}", "guid": f"c{n}",
             "published": datetime.now(UTC)} for n, title in enumerate(STORIES)]


def config(watcher: Watcher, url: str, slack: SlackServer, extra: str = "") -> None:
    write_config(watcher, interval="1s", timezone="UTC", feeds=[url],
                 profiles=[profile("subs", "submarine")],
                 channels=[slack_channel(slack, "#crash", extra=extra)])


def crash_run(watcher: Watcher, *args: str, timeout: float = DEADLINE) -> int:
    """Run `watcher ARGS` in its own session until it exits; then kill what it left behind.

    Killing the whole process group after the crash is what systemd does to a unit's
    cgroup; see test_a_killed_poll_leaves_no_processes_behind for why it is needed.
    """
    with open(watcher.tmp / "crash.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "watcher", *args, "-c",
                                 str(watcher.config)], stdout=log, stderr=log, env=watcher.env,
                                cwd=watcher.tmp, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        finally:
            kill_group(proc.pid)
            proc.wait()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def integrity(watcher: Watcher) -> str:
    conn = sqlite3.connect(watcher.tmp / "state.db")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def delivered(slack: SlackServer) -> Counter[str]:
    """How many messages mention each story (in their text or blocks)."""
    return Counter(m for msg in slack.messages for m in MARKS if m in json.dumps(msg))


@pytest.mark.parametrize("point", ["after_fetch", "mid_transaction", "before_send",
                                   "after_send", "after_send:2"])
def test_poll_killed_at_a_crash_point_loses_nothing(
        point: str, watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/crash", items())
    config(watcher, url, slack_server)
    watcher.env["WATCHER_CRASH_AT"] = point

    assert crash_run(watcher, "poll") == -signal.SIGKILL
    assert integrity(watcher) == "ok"
    before = len(slack_server.messages)

    del watcher.env["WATCHER_CRASH_AT"]
    watcher("poll", check=True)
    watcher("poll", check=True)   # and nothing more the time after

    counts = delivered(slack_server)
    assert set(counts) == set(MARKS), counts
    repeated = [m for m, n in counts.items() if n > 1]
    if point.startswith("after_send"):
        assert len(repeated) <= 1 and all(counts[m] == 2 for m in repeated), counts
        assert before >= 1
    else:
        assert repeated == [], counts
    assert integrity(watcher) == "ok"


def crash_during_digest(watcher: Watcher, feed_server: FeedServer,
                        slack_server: SlackServer) -> None:
    """Queue the alerts for a digest whose slot has passed; kill `watcher run` sending it."""
    url = feed_server.add_feed("/crash", items())
    config(watcher, url, slack_server, extra='mode = "digest"\n        digest = ["03:00"]')
    watcher("poll", check=True)              # queues the alerts; poll sends no digest
    slot = datetime.now(UTC) + timedelta(seconds=1)
    config(watcher, url, slack_server, extra=f"""mode = "digest"
        digest = ["{slot:%H:%M:%S}"]""")
    wait_until(lambda: datetime.now(UTC) > slot + timedelta(seconds=0.2),
               what="the digest slot to pass")
    watcher.env["WATCHER_CRASH_AT"] = "during_digest"
    assert crash_run(watcher, "run") == -signal.SIGKILL
    del watcher.env["WATCHER_CRASH_AT"]
    assert slack_server.messages == []
    assert integrity(watcher) == "ok"


def test_daemon_killed_during_a_digest_keeps_every_alert(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    crash_during_digest(watcher, feed_server, slack_server)
    status = json.loads(watcher("status", "--json", check=True).out)
    assert [(c["channel"], c["pending"]) for c in status["channels"]] == [("slack", 2)]


def test_daemon_killed_during_a_digest_sends_it_once_after_restart(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    crash_during_digest(watcher, feed_server, slack_server)
    proc = watcher.popen("run")
    try:
        slack_server.wait_for(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert len(slack_server.messages) == 1
    assert all(count == 1 for count in delivered(slack_server).values())
    assert set(delivered(slack_server)) == set(MARKS)
    assert integrity(watcher) == "ok"


def test_a_killed_poll_leaves_no_processes_behind(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/crash", items())
    config(watcher, url, slack_server)
    watcher.env["WATCHER_CRASH_AT"] = "mid_transaction"
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "poll", "-c", str(watcher.config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=watcher.env, cwd=watcher.tmp, start_new_session=True)
    try:
        assert proc.wait(timeout=DEADLINE) == -signal.SIGKILL
        wait_until(lambda: not group_members(proc.pid), what="the killed poll's group to end")
    finally:
        kill_group(proc.pid)
