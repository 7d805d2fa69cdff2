"""Secrets never reach logs or output; the state files are private.

The Slack token, the webhook URL and the SMTP password come from the environment;
`watcher poll`, `watcher check --online`, `watcher test-alert` and a daemon reload
(SIGHUP) run against a Slack that refuses the token and an SMTP server that refuses
the login, and every byte they print is searched for the secret values. The store
and its directory are created 0600 / 0700 even under umask 000, and SQLite's
-wal / -shm files follow the database's mode.
"""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.configs import email_channel, profile, slack_channel, write_config
from tests.support.runner import Watcher
from tests.support.waiting import DEADLINE, wait_until

pytestmark = pytest.mark.slow   # these tests start `watcher` as a subprocess

BAD_TOKEN = "xoxb-leak-canary-TOKEN-93a1f"
PASSWORD = "pw-leak-canary-5c2e8d"
WEBHOOK_SECRET = "XXXXSECRET"   # the local Slack's webhook path ends with it


def secure_config(watcher: Watcher, url: str, slack: SlackServer, smtp: SmtpServer) -> None:
    write_config(watcher, state=watcher.tmp / "private" / "state.db", interval="1s",
                 feeds=[url], profiles=[profile("subs", "submarine")], channels=[
                     slack_channel(slack, "#sec", token="${SLACK_BOT_TOKEN}"),
                     slack_channel(None, None, name="hook", token=None,
                                   webhook_url="${SLACK_WEBHOOK_URL}"),
                     email_channel(smtp, username="watcher", password="${SMTP_PASSWORD}")])
    watcher.env.update({"SLACK_BOT_TOKEN": BAD_TOKEN, "SMTP_PASSWORD": PASSWORD,
                        "SLACK_WEBHOOK_URL": slack.webhook_url})


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (BAD_TOKEN, PASSWORD, WEBHOOK_SECRET):
            assert secret not in text, f"{secret!r} leaked in:\n{text}"


def test_secrets_never_appear_in_output_even_when_credentials_fail(
        watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/news", [{"title": "Submarine news", "guid": "s1",
                                          "link": "https://sec.example/1",
                                          "published": datetime.now(UTC)}])
    with SlackServer(token="xoxb-the-right-one") as slack, \
            SmtpServer(username="watcher", password="another-password") as smtp:
        secure_config(watcher, url, slack, smtp)
        runs = [watcher("poll"), watcher("poll", "--debug"), watcher("check"),
                watcher("check", "--online"), watcher("test-alert", "slack"),
                watcher("test-alert", "mail"), watcher("status"), watcher("hits"),
                watcher("poll", "--log-format", "json")]
        proc = watcher.popen("run")
        try:
            for step in range(3):   # start; reload (valid config); reload (broken config)
                seen = feed_server.hits("/news")
                wait_until(lambda seen=seen: feed_server.hits("/news") > seen, alive=proc,
                           what="the next poll")
                if step == 1:
                    watcher.config.write_text(watcher.config.read_text() + "\n[oops\n")
                proc.send_signal(signal.SIGHUP)
            hook_sent = slack.wait_for(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=DEADLINE)
        refused_logins = len(smtp.logins) == 0
    # The failures really happened, and were reported...
    joined = "\n".join(r.out + r.err for r in runs) + out + err
    assert "invalid_auth" in joined
    assert "login refused" in joined or "535" in joined
    assert refused_logins and hook_sent[0]["via"] == "webhook"
    # ...without the secrets.
    assert_no_secret(joined)
    assert "Traceback" not in joined
    assert "config reloaded" in err and "reload refused" in err


UMASK_RUN = ("import os, sys; os.umask(0); "
             "os.execv(sys.executable, [sys.executable, '-m', 'watcher', *sys.argv[1:]])")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_files_are_private_even_under_umask_0(
        watcher: Watcher, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/news", [])
    state = watcher.tmp / "deep" / "state" / "watcher.db"
    watcher.write(f"""
        [watcher]
        state = "{state}"
        interval = "1s"
        [[feeds]]
        url = "{url}"
        [[profiles]]
        name = "subs"
        query = "submarine"
        [channels.console]
        type = "console"
        """)
    proc = subprocess.Popen([sys.executable, "-c", UMASK_RUN, "run", "-c", str(watcher.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=watcher.env, cwd=watcher.tmp)
    try:
        wal, shm = Path(f"{state}-wal"), Path(f"{state}-shm")
        wait_until(lambda: feed_server.hits("/news") >= 2 and wal.exists() and shm.exists(),
                   alive=proc, what="two polls and the WAL files")
        modes = {p.name: mode(p) for p in (state, wal, shm)}
        dirs = {p.name: mode(p) for p in (state.parent, state.parent.parent)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=DEADLINE)
    assert modes == {"watcher.db": 0o600, "watcher.db-wal": 0o600, "watcher.db-shm": 0o600}
    assert dirs["state"] == 0o700


def test_intermediate_state_directories_are_private_too(watcher: Watcher) -> None:
    state = watcher.tmp / "a" / "b" / "watcher.db"
    watcher.write(f"""
        [watcher]
        state = "{state}"
        [channels.console]
        type = "console"
        """)
    subprocess.run([sys.executable, "-c", UMASK_RUN, "status", "-c", str(watcher.config)],
                   env=watcher.env, cwd=watcher.tmp, capture_output=True, check=True,
                   timeout=DEADLINE)
    assert mode(state) == 0o600 and mode(state.parent) == 0o700
    assert mode(state.parent.parent) == 0o700
