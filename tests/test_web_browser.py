"""The dashboard in a real browser (Debian's chromium, driven by Playwright), over a store
filled by polling every document of ../shared/feeds/hostile and ../shared/feeds/real through
the local feed server with `watcher poll`.

On every page: no dialog opens and nothing is logged to the console (a script from a feed
that ran, or markup the CSP blocked, would show there); the overview's chart renders; the
query tester, through htmx, returns results and shows a parse error with its caret. The
screenshots in docs/ (README, "Dashboard") are taken here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED, Watcher
from tests.servers.feeds import FeedServer
from watcher.config import load_config
from watcher.web.server import WebServer, open_web

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
CORPORA = [SHARED / "feeds" / "hostile", SHARED / "feeds" / "real"]
DOCS = REPO / "docs"
PAGES = ("/", "/alerts", "/feeds", "/profiles", "/tester")


def _skip_reason() -> str | None:
    if not all(c.is_dir() for c in CORPORA):
        return f"the feed corpora are absent ({SHARED / 'feeds'}: hostile/, real/)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return f"chromium is not installed ({CHROMIUM}): apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed: pip install playwright"
    return None


if (_reason := _skip_reason()) is not None:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import (  # noqa: E402
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    sync_playwright,
)


def _config(watcher: Watcher, server: FeedServer) -> str:
    lines = ["[watcher]", f'state = "{watcher.tmp / "state.db"}"', 'interval = "1h"',
             'backfill = "36500d"', 'retention = "36500d"', 'timeout = "2s"',
             f"max_bytes = {16 * 1024 * 1024}",
             "concurrency = 16", "per_host = 16", "",
             "[aliases]", 'ships = ["frigate", "submarine", "navy", "warship"]', ""]
    for corpus in CORPORA:
        for doc in sorted(corpus.iterdir()):
            if doc.is_file():
                path = f"/{corpus.name}/{doc.name}"
                server.serve_file(path, doc)
                lines += ["[[feeds]]", f'url = "{server.url(path)}"',
                          f'name = "{corpus.name}: {doc.stem}"', ""]
    profiles = {"navy": "@ships OR S-400", "turkey": "turkey OR türkiye OR erdogan",
                "hostile": "foo OR nokia OR café OR battleship OR entity OR feedparser",
                "world": "china OR ukraine OR president OR election"}
    for name, query in profiles.items():
        lines += ["[[profiles]]", f'name = "{name}"', f'query = "{query}"',
                  'channels = ["desk"]', ""]
    lines += ["[channels.desk]", 'type = "console"', 'mode = "digest"', 'digest = ["08:00"]']
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    tmp = tmp_path_factory.mktemp("browser")
    watcher = Watcher(tmp)
    with FeedServer() as server:
        watcher.write(_config(watcher, server))
        got = watcher("poll", timeout=600)
        assert got.code in (0, 1), got.err[-3000:]
    config = load_config(watcher.config, env={})
    web = open_web(lambda: config, "127.0.0.1:0", "--listen").start()
    yield web
    web.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser_page(dashboard: WebServer, browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1200, "height": 780})

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(msg: ConsoleMessage) -> None:
        problems.append(f"console {msg.type}: {msg.text}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield page, problems
    page.close()


def test_every_page_loads_with_no_dialog_and_no_console_message(
        dashboard: WebServer, browser_page: tuple[Page, list[str]]) -> None:
    page, problems = browser_page
    for path in PAGES:
        answer = page.goto(dashboard.url.rstrip("/") + path, wait_until="load")
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.htmx") == "object"   # the vendored file loaded
        assert problems == [], f"{path}: {problems}"
    # the hostile corpus did reach the pages (as text)
    page.goto(dashboard.url + "alerts?profile=hostile")
    assert page.locator("li.alert").count() > 0
    assert "hostile: " in page.locator("ol.alerts").inner_text()
    assert problems == []


def test_the_overview_chart_renders(dashboard: WebServer,
                                    browser_page: tuple[Page, list[str]]) -> None:
    page, problems = browser_page
    page.goto(dashboard.url)
    chart = page.locator("#alerts-chart > svg")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    lines = page.locator("#alerts-chart polyline.series")
    assert lines.count() == 4
    assert any(len((lines.nth(i).get_attribute("points") or "").split()) == 30
               for i in range(lines.count()))
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "dashboard-overview.png"))
    assert problems == []


def test_the_tester_returns_results_and_shows_a_parse_error_with_its_caret(
        dashboard: WebServer, browser_page: tuple[Page, list[str]]) -> None:
    page, problems = browser_page
    page.goto(dashboard.url + "tester")
    page.fill("#q", "@ships AND NOT sport")
    page.fill("input[name=period]", "30d")
    page.click("button[type=submit]")
    summary = page.locator("#tester-summary")
    summary.wait_for(timeout=60_000)
    text = summary.inner_text()
    assert "stored item(s) in the last 30d match" in text and not text.startswith("0 of")
    assert page.url.rstrip("/").endswith("/tester")        # htmx swapped, no navigation
    assert page.locator("ol.results > li").count() > 0
    assert page.locator("ul.hits li").count() > 0
    page.screenshot(path=str(DOCS / "dashboard-tester.png"))

    page.fill("#q", "navy AND (frigate")
    page.click("button[type=submit]")
    caret = page.locator(".parse-error pre.caret")
    caret.wait_for(timeout=60_000)
    line, marker = caret.inner_text().split("\n")[:2]
    assert line == "navy AND (frigate" and marker.strip() == "^"
    assert problems == []


def test_the_tester_works_without_javascript(dashboard: WebServer, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(dashboard.url + "tester")
    page.fill("#q", "turkey")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "match;" in page.locator("#tester-summary").inner_text()
    context.close()


def test_screenshots_are_small() -> None:
    for name in ("dashboard-overview.png", "dashboard-tester.png"):
        path = Path(DOCS / name)
        assert path.exists(), f"{path} (written by the tests above)"
        assert path.stat().st_size < 400_000
