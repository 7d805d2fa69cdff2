"""`watcher web` and `watcher run --web` as the user runs them: the loopback-or-token rule
(exit 2 with one line), the token over real HTTP, the [web] table, and the daemon's
dashboard beside /metrics."""

from __future__ import annotations

import re
import signal
import subprocess

import httpx
import pytest

from tests.conftest import Daemon, Watcher

pytestmark = pytest.mark.slow

BASE = """
[watcher]
state = "state.db"

[[feeds]]
url = "http://127.0.0.1:9/rss"
name = "Nowhere"

[[profiles]]
name = "navy"
query = "frigate"
channels = ["desk"]

[channels.desk]
type = "console"
"""


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("args", "web", "where"), [
    (("web", "--listen", "0.0.0.0:8080"), "", "--listen"),
    (("web",), '[web]\nlisten = "0.0.0.0:8080"\n', "web.listen"),
    (("web", "--listen", "[::]:8080"), "", "--listen"),
    (("web", "--listen", "example.org:8080"), "", "--listen"),
    (("run", "--web", "0.0.0.0:8080"), "", "--web"),
    (("web", "--listen", "0.0.0.0:8080"), '[web]\ntoken = "${WATCHER_WEB_TOKEN:-}"\n',
     "--listen"),
])
def test_beyond_loopback_without_a_token_is_refused_with_exit_2(
        watcher: Watcher, args: tuple[str, ...], web: str, where: str) -> None:
    watcher.write(BASE + web)
    got = watcher(*args, timeout=60)
    assert got.code == 2, got.err
    line = _one_line(got.err)
    assert where in line and "without a token" in line and "[web] token" in line


@pytest.mark.parametrize(("web", "problem"), [
    ('[web]\nlisten = "127.0.0.1:8080"\nbogus = 1\n', "web.bogus: unknown key"),
    ('[web]\nlisten = "localhost"\n', "web.listen: listen 'localhost': expected ADDR:PORT"),
])
def test_the_web_table_is_checked(watcher: Watcher, web: str, problem: str) -> None:
    watcher.write(BASE + web)
    got = watcher("check")
    assert got.code == 2 and problem in got.err, got.err


def _url(line: str) -> str:
    found = re.search(r"dashboard on (http://\S+)", line)
    assert found, line
    return found.group(1)


class WebProcess(Daemon):
    """`watcher web ...` read like a daemon (its standard error line by line)."""

    def __init__(self, watcher: Watcher, *args: str, env: dict[str, str] | None = None) -> None:
        import sys
        import threading

        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.stdout_path = watcher.tmp / f"web-{id(self)}.out"
        self._stdout = self.stdout_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "web", *args, "-c", str(watcher.config)],
            stdout=self._stdout, stderr=subprocess.PIPE, text=True,
            env={**watcher.env, **(env or {})}, cwd=watcher.tmp)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def test_watcher_web_serves_with_a_token_on_loopback(watcher: Watcher) -> None:
    watcher.write(BASE + '[web]\nlisten = "127.0.0.1:0"\ntoken = "${WATCHER_WEB_TOKEN}"\n')
    web = WebProcess(watcher, env={"WATCHER_WEB_TOKEN": "tok-3f9a-secret"})
    try:
        url = _url(web.wait_for_log("dashboard on", timeout=60))
        assert httpx.get(url, timeout=30).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer nope"},
                         timeout=30).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer tok-3f9a-secret"}, timeout=30)
        assert ok.status_code == 200 and "Alerts per day per profile" in ok.text
        with httpx.Client(timeout=30, follow_redirects=True) as client:
            login = client.get(url + "login", params={"token": "tok-3f9a-secret"})
            assert login.status_code == 200 and login.url.path == "/"
            assert client.get(url + "tester?q=frigate").status_code == 200
    finally:
        code = web.stop()
    assert code == 0, "\n".join(web.lines)
    assert not any("tok-3f9a-secret" in line for line in web.lines)


def test_run_web_serves_the_dashboard_beside_metrics(watcher: Watcher) -> None:
    watcher.write(BASE)
    daemon = Daemon(watcher, "--web", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
    try:
        url = _url(daemon.wait_for_log("dashboard on", timeout=60))
        daemon.wait_for_log("watcher running", timeout=60)
        metrics = re.search(r"metrics on (http://\S+)/metrics",
                            daemon.wait_for_log("metrics on", timeout=60))
        assert metrics is not None
        feeds = httpx.get(url + "feeds", timeout=30)
        assert feeds.status_code == 200 and "Nowhere" in feeds.text
        assert "watcher_polls" in httpx.get(metrics.group(1) + "/metrics", timeout=30).text
        assert httpx.get(metrics.group(1) + "/healthz", timeout=30).status_code in (200, 503)
    finally:
        code = daemon.stop()
    assert code == 0, "\n".join(daemon.lines)


def test_run_web_on_a_port_in_use_is_one_clear_line(watcher: Watcher) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        watcher.write(BASE)
        got = watcher("run", "--web", f"127.0.0.1:{port}", timeout=60)
    assert got.code == 1
    assert f"--web 127.0.0.1:{port}: cannot listen" in _one_line(got.err)


def test_sigint_stops_watcher_web(watcher: Watcher) -> None:
    watcher.write(BASE + '[web]\nlisten = "127.0.0.1:0"\n')
    web = WebProcess(watcher)
    try:
        web.wait_for_log("dashboard on", timeout=60)
        web.signal(signal.SIGINT)
        assert web.proc.wait(30) == 0
    finally:
        web.stop()
