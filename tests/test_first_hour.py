"""Issue 17, the first hour with watcher: every point through the real CLI (subprocesses,
the local feed and Slack servers), on SQLite.

Terminal behaviour (progress line, bold) is tested with standard error or output on a
pseudo-terminal (the `pty` module); the same commands with pipes must show none of it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SHARED, Daemon, Watcher
from tests.servers.feeds import FeedServer
from tests.servers.slack import SlackServer

pytestmark = pytest.mark.slow
ODD = SHARED / "feeds" / "odd"
TZ = "Europe/Istanbul"   # +03 all year: an offset that shows
NEWS = [{"guid": "n1", "title": "Turkey tests its S-400 batteries near Ankara",
         "link": "https://n.example/1", "summary": "The Triumf systems were switched on."},
        {"guid": "n2", "title": "KAAN fighter engine tests begin", "link": "https://n.example/2",
         "summary": "TEI leads the engine work."},
        {"guid": "n3", "title": "Weather in Izmir", "link": "https://n.example/3",
         "summary": "Sunny."}]


def fresh(items: list[dict[str, object]], hours_ago: float = 1.0) -> list[dict[str, object]]:
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    return [{**i, "published": when} for i in items]


def write(watcher: Watcher, feeds: list[str], *, profiles: str = "", extra: str = "",
          slack: SlackServer | None = None) -> None:
    feed_lines = "\n".join(f'[[feeds]]\nurl = "{u}"\n' for u in feeds)
    channels = '[channels.console]\ntype = "console"\n'
    if slack is not None:
        channels += (f'[channels.slack]\ntype = "slack"\ntoken = "xoxb-test-token"\n'
                     f'channel = "#a"\napi_url = "{slack.api_url}"\n')
    watcher.write(f"""
[watcher]
state = "{watcher.state}"
timezone = "{TZ}"
interval = "10m"
{extra}
[aliases]
s400 = ["S-400", "Triumf"]
{feed_lines}
[[profiles]]
name = "S-400"
query = '@s400 AND (Turkey OR Ankara)'
[[profiles]]
name = "KAAN engine"
query = 'KAAN AND engine'
{profiles}
{channels}
""")


def on_terminal(watcher: Watcher, *args: str, stdout_too: bool = False,
                timeout: float = 90) -> tuple[int, str, str]:
    """Run watcher with standard error (and output, if asked) on a pseudo-terminal:
    (exit code, what the terminal showed, standard output if it was a pipe)."""
    master, slave = pty.openpty()
    out_path = watcher.tmp / "terminal-stdout.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "watcher", *args, "-c", str(watcher.config)],
                                stdin=subprocess.DEVNULL, stdout=slave if stdout_too else out,
                                stderr=slave, env=watcher.env, cwd=watcher.tmp)
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:   # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        code = proc.wait(timeout)
    return code, b"".join(chunks).decode("utf-8", "replace"), out_path.read_text()


# -- 2 and 3: the poll summary and the exit code ----------------------------------------------

def test_first_poll_on_quiet_feeds_says_why_nothing_was_sent(
        watcher: Watcher, feed_server: FeedServer) -> None:
    quiet = feed_server.add_feed("/quiet", fresh(NEWS, hours_ago=72))
    write(watcher, [quiet])
    run = watcher("poll", check=True)
    assert run.out == ""
    [summary] = [line for line in run.err.splitlines() if " INFO poll: " in line]
    as_json = watcher("poll", "--log-format", "json", check=True).err.splitlines()
    assert json.loads(as_json[-1])["message"].startswith("poll: 1 feed polled")
    assert "1 feed polled (1 ok, 0 not modified, 0 failed)" in summary
    assert "3 new items, 3 of them older than backfill (24h, [watcher] backfill)" in summary
    assert "0 alerts queued, 0 sent" in summary
    again = watcher("poll", check=True)
    assert "(0 ok, 1 not modified, 0 failed); 0 new items;" in again.err
    backtest = watcher("backtest", "S-400", "--since", "1d", check=True).out
    assert "1 of 3 stored item(s) would alert" in backtest
    assert "1 of them did not alert when stored: older than backfill (24h" in backtest


def test_poll_counts_alerts_sent_and_exits_1_when_any_feed_failed(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    good = feed_server.add_feed("/good", fresh(NEWS))
    missing = feed_server.url("/missing")
    write(watcher, [good, missing], slack=slack_server)
    run = watcher("poll")
    assert run.code == 1, run.err
    assert f"feed {missing}: " in run.err and "404" in run.err
    assert "(1 ok, 0 not modified, 1 failed)" in run.err
    assert "4 alerts queued, 4 sent" in run.err   # two stories, each to console and Slack
    write(watcher, [good], slack=slack_server)
    assert watcher("poll").code == 0


def test_run_logs_one_summary_per_round(watcher: Watcher, feed_server: FeedServer,
                                        daemons: list[Daemon]) -> None:
    urls = [feed_server.add_feed(f"/f{i}", fresh(NEWS[i:i + 1])) for i in range(3)]
    write(watcher, urls)
    daemons.append(daemon := Daemon(watcher))
    line = daemon.wait_for_log("round: ", timeout=60)
    assert "3 feeds polled (3 ok, 0 not modified, 0 failed); 3 new items" in line
    assert len([x for x in daemon.lines if "round: " in x]) == 1


# -- 4: an HTML page as a feed URL ------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Defence news</title>
<link rel="stylesheet" href="/style.css">
<LINK REL="alternate" TYPE="application/rss+xml" title="RSS" href="/feed.xml">
</head><body><p>Hello <b>there</p></body></html>"""


def test_an_html_page_is_named_and_its_advertised_feed_followed(
        watcher: Watcher, feed_server: FeedServer) -> None:
    feed = feed_server.add_feed("/feed.xml", fresh(NEWS))
    page = feed_server.set_body("/news", PAGE.encode(), content_type="text/html; charset=utf-8")
    bare = feed_server.set_body("/bare", b"<html><body>no feed here</body></html>",
                                content_type="text/html")
    write(watcher, [page, bare])
    check = watcher("check", "--online")
    assert check.code == 1
    assert (f"the URL serves an HTML page, not a feed; the page advertises the feed {feed} "
            "(use that URL)") in check.out
    assert "the page advertises no feed" in check.out
    assert "not well-formed" not in check.out

    run = watcher("poll")
    assert run.code == 1   # the bare page failed
    assert f"polling the feed it advertises from now on: {feed}" in run.err
    assert "S-400" in run.out and "KAAN" in run.out   # the advertised feed's alerts
    status = watcher("status", check=True).out
    assert f"polled at {feed} (the feed this page advertises; put it in the config)" in status
    assert "the URL serves an HTML page, not a feed (the page advertises no feed)" in status
    data = {f["url"]: f for f in json.loads(watcher("status", "--json", check=True).out)["feeds"]}
    assert data[page]["polled_at"] == feed and data[page]["items"] == 3
    explain = watcher("explain", "S-400", page, "--json")
    assert explain.code == 1
    assert json.loads(explain.out)["error"]["kind"] == "parse"


# -- 5: JSON Feed -----------------------------------------------------------------------------

def json_feed(items: list[dict[str, Any]]) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "JSON news",
                       "items": [{"id": i["guid"], "url": i["link"], "title": i["title"],
                                  "content_text": i["summary"], "tags": ["defence"],
                                  "date_published": i["published"].isoformat()}
                                 for i in items]}).encode()


def test_json_feed_is_polled_matched_deduplicated_and_alerted(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.set_body("/feed.json", json_feed(fresh(NEWS)),
                               content_type="application/feed+json")
    write(watcher, [url], slack=slack_server)
    watcher("poll", check=True)
    texts = [m["text"] for m in slack_server.wait_for(2, timeout=20)]
    assert any("Turkey tests its S-400" in t for t in texts)
    assert any("KAAN fighter engine" in t for t in texts)
    feed_server.set_body("/feed.json", json_feed(fresh(NEWS)), content_type="application/json")
    watcher("poll", check=True)   # the same items again (another content type): no alert
    assert len(slack_server.messages) == 2


@pytest.mark.parametrize("name", ["jsonfeed-real.json", "jsonfeed-feedjira.json",
                                  "jsonfeed-escaped-uris.json"])
def test_explain_reads_the_real_json_feeds(watcher: Watcher, feed_server: FeedServer,
                                           name: str) -> None:
    path = ODD / name
    if not path.exists():
        pytest.skip(f"{ODD} is absent (the shared feed corpus)")
    items = len(json.loads(path.read_bytes())["items"])
    write(watcher, [], profiles="[[profiles]]\nname = \"any\"\nquery = 'the OR a'\n")
    local = json.loads(watcher("explain", "any", str(path), "--json", check=True).out)
    assert len(local["items"]) == items and local["matched"] > 0
    url = feed_server.serve_file(f"/{name}", path, content_type="application/feed+json")
    served = json.loads(watcher("explain", "any", url, "--json", check=True).out)
    assert served["items"] == local["items"]
    assert all(i["link"] and i["link"].startswith("http") for i in served["items"])


# -- 6: the command line ----------------------------------------------------------------------

def test_global_options_before_or_after_the_command_and_version(watcher: Watcher) -> None:
    write(watcher, [])
    before = subprocess.run([sys.executable, "-m", "watcher", "-c", str(watcher.config),
                             "--log-format", "json", "status", "--json"], capture_output=True,
                            text=True, env=watcher.env, cwd=watcher.tmp, timeout=60)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["feeds"] == []
    version = subprocess.run([sys.executable, "-m", "watcher", "--version"], capture_output=True,
                             text=True, env=watcher.env, timeout=60)
    assert re.fullmatch(r"watcher \d+\.\d+\.\d+\n", version.stdout)


@pytest.mark.parametrize("command", ["run", "poll", "check", "test-alert", "status", "hits",
                                     "explain", "backtest"])
def test_every_command_has_a_description_and_every_option_help(watcher: Watcher,
                                                               command: str) -> None:
    write(watcher, [])
    text = watcher(command, "--help", check=True).out
    description = text.split("\n\n")[1]
    assert len(description) > 30 and not description.startswith(("usage", "options")), text
    options = re.split(r"\n(?=  -)", text.split("\noptions:\n")[1])
    assert len(options) >= 4   # -h, -c, --log-format, --debug at least
    for option in options:
        if not option.lstrip().startswith("-h,"):
            assert "(default: " in option, f"watcher {command}: no default in {option!r}"
    if "positional arguments:" in text:
        for arg in re.split(r"\n(?=  \S)", text.split("positional arguments:\n")[1]
                            .split("\n\n")[0]):
            assert len(arg.split()) > 1, f"watcher {command}: no help for {arg!r}"


def test_a_closed_pipe_ends_quietly(watcher: Watcher) -> None:
    feeds = [f"https://feeds{i}.example.org/rss" for i in range(1500)]   # > a pipe's buffer
    write(watcher, feeds)
    done = subprocess.run(f'"{sys.executable}" -m watcher status -c "{watcher.config}" | head -n 1',
                          shell=True, capture_output=True, text=True, env=watcher.env,
                          cwd=watcher.tmp, timeout=120)
    assert done.stdout.startswith("FEED")
    assert done.stderr == "", done.stderr


# -- 7: mistakes said, not swallowed ----------------------------------------------------------

def test_unknown_profile_in_hits_and_mistyped_profile_in_backtest(
        watcher: Watcher, feed_server: FeedServer) -> None:
    write(watcher, [feed_server.add_feed("/f", fresh(NEWS))])
    watcher("poll", check=True)
    hits = watcher("hits", "--profile", "Nope")
    assert hits.code == 2 and "no profile 'Nope'" in hits.err
    assert "known: S-400, KAAN engine" in hits.err
    typo = watcher("backtest", "S400")
    assert typo.code == 2 and "did you mean 'S-400'?" in typo.err and "--query" in typo.err
    meant = watcher("backtest", "S400", "--query", "--json", check=True)
    assert json.loads(meant.out)["profile"] == "(inline query)"
    word = watcher("backtest", "Izmir", check=True)
    assert "'Izmir' is no profile name" in word.err and "running it as a query" in word.err
    assert "1 of 3 stored item(s) would alert" in word.out


def test_check_warns_about_lower_case_operators(watcher: Watcher) -> None:
    write(watcher, [], profiles="[[profiles]]\nname = \"low\"\n"
                                "query = 'turkey or ankara and \"not\" near/3 x'\n")
    run = watcher("check", check=True)
    assert "'or' at column 8 is matched as a word; did you mean OR?" in run.err
    assert "did you mean AND?" in run.err and "did you mean NEAR/3?" in run.err
    assert "did you mean NOT?" not in run.err   # "not" in quotes is a word on purpose
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+03 WARNING ", run.err, re.MULTILINE)


def test_check_shows_every_error_at_once(watcher: Watcher) -> None:
    write(watcher, [], extra='intervall = "5m"\nconcurrency = 0',
          profiles="[[profiles]]\nname = \"broken\"\nquery = '(S-400 OR Triumf'\n")
    run = watcher("check")
    assert run.code == 2
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert any("watcher.intervall: unknown key" in e for e in errors), run.err
    assert any("watcher.concurrency" in e for e in errors), run.err
    assert any('profile "broken": unclosed' in e for e in errors), run.err


# -- 8: one rule for times --------------------------------------------------------------------

def test_times_in_the_configured_zone_and_published_time_in_backtest(
        watcher: Watcher, feed_server: FeedServer) -> None:
    published = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    write(watcher, [feed_server.add_feed("/f", [{**i, "published": published} for i in NEWS])])
    watcher("poll", check=True)
    local = published.astimezone(ZoneInfo(TZ))
    shown = local.strftime("%Y-%m-%d %H:%M +03")
    backtest = watcher("backtest", "S-400", check=True).out
    assert f"  {shown}  " in backtest
    data = json.loads(watcher("backtest", "S-400", "--json", check=True).out)
    assert data["hits"][0]["published"] == local.isoformat()
    hits = json.loads(watcher("hits", "--json", check=True).out)
    assert all(h["time"].endswith("+03:00") for h in hits)
    assert {h["published"] for h in hits} == {local.isoformat()}
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d \+03  ", line)
               for line in watcher("hits", check=True).out.splitlines())


# -- 9: progress, network down, due now -------------------------------------------------------

def test_progress_on_a_terminal_only(watcher: Watcher, feed_server: FeedServer) -> None:
    feeds = [feed_server.add_feed(f"/p{i}", fresh(NEWS)) for i in range(3)]
    write(watcher, [*feeds, feed_server.url("/missing")])
    code, terminal, _ = on_terminal(watcher, "poll")
    assert code == 1   # the missing feed
    assert "polling: 4 of 4 feeds, 9 items" in terminal
    for line in terminal.split("\n"):   # log lines and the summary start on a clean line
        if "WARNING" in line or "poll: " in line:
            shown = line.rstrip("\r").rsplit("\r", 1)[-1].removeprefix("\x1b[K")
            assert shown.startswith(("20", "feed ")), repr(line)
    write(watcher, feeds)
    code, terminal, _ = on_terminal(watcher, "backtest", "S-400")
    assert code == 0 and "backtest: 9 of 9 items scanned" in terminal
    code, terminal, _ = on_terminal(watcher, "poll", "--log-format", "json")
    assert "polling:" not in terminal and "\x1b" not in terminal
    piped = watcher("poll")
    assert "polling:" not in piped.err and "\x1b" not in piped.err


def test_status_says_due_now_for_feeds_never_polled(watcher: Watcher) -> None:
    write(watcher, ["https://never.example.org/rss"])
    row = watcher("status", check=True).out.splitlines()[1]
    assert row.split()[1] == "never" and row.endswith("due now") and "ago" not in row


def test_network_down_says_when_it_tries_again(watcher: Watcher, daemons: list[Daemon]) -> None:
    import socket

    with socket.socket() as s:   # a port that refuses: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write(watcher, [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"])
    daemons.append(daemon := Daemon(watcher))
    line = daemon.wait_for_log("network down: every feed fails; tries again at", timeout=60)
    assert re.search(r"tries again at \d\d:\d\d:\d\d \+03 \(in \d", line), line


# -- 10: small defects ------------------------------------------------------------------------

def test_test_alert_bolds_test_on_slack_and_the_console_bolds_on_a_terminal(
        watcher: Watcher, slack_server: SlackServer) -> None:
    write(watcher, [], slack=slack_server)
    watcher("test-alert", "slack", check=True)
    [message] = slack_server.wait_for(1)
    assert "*test*" in json.dumps(message) and "s*ent b*y" not in json.dumps(message)
    code, terminal, _ = on_terminal(watcher, "test-alert", "console", stdout_too=True)
    assert code == 0 and "\x1b[1mtest\x1b[22m alert sent by" in terminal
    piped = watcher("test-alert", "console", check=True).out
    assert "a test alert sent by" in piped and "**" not in piped and "\x1b" not in piped


def test_a_clean_stop_leaves_no_claims_to_release(watcher: Watcher, feed_server: FeedServer,
                                                  daemons: list[Daemon]) -> None:
    write(watcher, [feed_server.add_feed("/f", fresh(NEWS))])
    first = Daemon(watcher)
    daemons.append(first)
    first.wait_for_log("round: ", timeout=60)
    first.signal(signal.SIGINT)   # Ctrl-C
    assert first.stop() == 0
    second = Daemon(watcher)
    daemons.append(second)
    second.wait_for_log("watcher running", timeout=60)
    assert second.stop() == 0
    assert not [line for line in second.lines if "releasing the claims" in line]


def test_explain_json_prints_an_error_object(watcher: Watcher, tmp_path: Path) -> None:
    write(watcher, [])
    missing = watcher("explain", "S-400", str(tmp_path / "nope.xml"), "--json")
    assert missing.code == 1
    error = json.loads(missing.out)["error"]
    assert error["kind"] == "error" and "cannot read" in error["message"]
    unknown = watcher("explain", "Nope", str(tmp_path / "nope.xml"), "--json")
    assert unknown.code == 2 and json.loads(unknown.out)["error"]["kind"] == "config"
