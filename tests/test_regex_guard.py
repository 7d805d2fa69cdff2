"""A user's /regex/ cannot stall polling: the time bound, what a slow term counts as, the
report once in the log and in `watcher status`, and the `watcher check` warning."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from tests.conftest import Watcher
from tests.servers.feeds import FeedServer
from tests.servers.postgres import pg_database, pg_server  # noqa: F401
from tests.servers.slack import SlackServer
from watcher.query import Document, Matcher
from watcher.query.guard import BOUND, RegexTimeout, nested_quantifier, user_regex
from watcher.store import SQLiteStore, is_postgres, open_store
from watcher.store.postgres import PostgresStore

HOSTILE = "a" * 200_000 + "!"  # (a+)+$ and (\w+\s?)*$ backtrack for ever on it with re
SLOW = (r"/(a+)+$/", r"/(\w+\s?)*$/")


@pytest.mark.parametrize("pattern", [p.strip("/") for p in SLOW])
def test_a_backtracking_pattern_stops_at_the_bound(pattern: str) -> None:
    with pytest.raises(RegexTimeout):
        user_regex(pattern).spans(HOSTILE)


def test_a_normal_pattern_finds_every_non_empty_match() -> None:
    assert user_regex(r"s-?\d+").spans("S400 and s-500, not s-") == [(0, 4), (9, 14)]
    assert user_regex(r"x*").spans("abc") == []  # empty matches never count
    assert user_regex(r"\bürk").spans("türkiye ürkmek") == [(8, 11)]  # Unicode \b, as in re


def test_equal_patterns_are_one_object() -> None:
    assert user_regex("abc+") is user_regex("abc+")


@pytest.mark.parametrize(("pattern", "nested"), [
    (r"(a+)+$", True), (r"(\w+\s?)*$", True), (r"(?:x|y+)*z", True), (r"((ab)+x)*", True),
    (r"(a*)*", True), (r"(?=(a+)+)b", True),
    (r"\bs-?400\b", False), (r"(ab)+", False), (r"(a{2})+", False), (r"a+b+c*", False),
    (r"(?>a+)+", False), (r"(a++)+", False), (r"[a+]+", False), (r"\(a+\)+", False),
])
def test_nested_quantifiers_are_read_from_the_parse(pattern: str, nested: bool) -> None:
    assert nested_quantifier(pattern) is nested


def test_a_slow_term_counts_as_not_matching_and_the_other_profiles_still_match() -> None:
    matcher = Matcher({"slow": "/(a+)+$/", "slow and word": "frigate /(a+)+$/",
                       "slow or word": "frigate OR /(\\w+\\s?)*$/", "not slow": "frigate -/(a+)+$/",
                       "plain": "frigate", "fine regex": "/frig\\w+/"})
    doc = Document(title="New frigate ordered!", summary=HOSTILE)
    start = time.monotonic()
    run = matcher.run(doc)
    elapsed = time.monotonic() - start
    assert sorted(m.profile for m in run.matches) == [
        "fine regex", "not slow", "plain", "slow or word"]
    assert sorted((s.profile, s.pattern) for s in run.slow) == [
        ("not slow", "/(a+)+$/"), ("slow", "/(a+)+$/"), ("slow and word", "/(a+)+$/"),
        ("slow or word", "/(\\w+\\s?)*$/")]
    # two distinct slow patterns, each run to its bound once, whatever shares it; generous
    # (a busy machine), but far below what re takes (minutes)
    assert elapsed < 60 * BOUND


def test_an_ordinary_item_reports_no_slow_regex() -> None:
    matcher = Matcher({"slow": "/(a+)+$/", "plain": "frigate"})
    run = matcher.run(Document(title="New frigate ordered", summary="aaaa!"))
    assert [m.profile for m in run.matches] == ["plain"] and run.slow == ()


@pytest.mark.slow
def test_check_warns_about_a_nested_quantifier_and_only_that(watcher: Watcher) -> None:
    watcher.write(f"""
        [watcher]
        state = "{watcher.state}"
        [[feeds]]
        url = "http://127.0.0.1:9/feed"
        [[profiles]]
        name = "fine"
        query = 'frigate /s-?400/'
        [[profiles]]
        name = "risky"
        query = 'frigate OR /(\\w+\\s?)*$/'
        [channels.console]
        type = "console"
    """)
    run = watcher("check")
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if "nested quantifier" in line]
    assert len(warnings) == 1, run.err
    assert "profiles[1] (risky).query: regex /(\\w+\\s?)*$/" in warnings[0]


@pytest.fixture(params=["sqlite", "postgres"])
def dsn(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")  # type: ignore[operator]
    return str(request.getfixturevalue("pg_database"))


def test_slow_regexes_migrate_in_record_once_and_are_pruned(dsn: str) -> None:
    old = PostgresStore(dsn, target_version=3) if is_postgres(dsn) else SQLiteStore(
        dsn, target_version=3)
    old.close()
    store = open_store(dsn)
    try:
        assert store.schema_version >= 6
        t = 1_700_000_000.0
        assert store.record_slow_regex("p", "/(a+)+$/", "https://f/rss", "id:1", "T", t)
        assert not store.record_slow_regex("p", "/(a+)+$/", "https://f/rss", "id:1", "T", t + 5)
        assert store.record_slow_regex("q", "/(a+)+$/", "https://f/rss", "id:1", "T", t + 9)
        assert [(r["profile"], r["seen_at"]) for r in store.slow_regexes()] == [
            ("q", t + 9), ("p", t)]
        store.prune(t + 1)
        assert [r["profile"] for r in store.slow_regexes()] == ["q"]
    finally:
        store.close()


def _items() -> list[dict[str, object]]:
    now = datetime.now(UTC)
    # the parser keeps 100,000 chars of a summary (parse.MAX_TEXT): 200 KB would lose the "!"
    # and become all letters, which the patterns match at once
    hostile = {"guid": "hostile", "title": "Long one!", "link": "https://news.example/hostile",
               "summary": "a" * 99_000 + "!", "published": now}
    words = ["anchor beacon cobalt", "delta ember falcon", "garnet harbor indigo",
             "jasper kelvin lumen", "meteor nickel onyx"]
    normal = [{"guid": f"n{i}", "title": f"Frigate {w} {i}.", "link": f"https://news.example/{i}",
               "summary": f"{w} ({i})", "published": now} for i, w in enumerate(words)]
    return [hostile, *normal]


@pytest.mark.slow
def test_a_poll_with_a_backtracking_profile_finishes_and_delivers_the_rest(
        watcher: Watcher, feed_server: FeedServer, slack_server: SlackServer) -> None:
    url = feed_server.add_feed("/news", _items())
    url2 = feed_server.add_feed("/more", [{"guid": "m1", "title": "Second feed frigate news.",
                                           "link": "https://other.example/m1",
                                           "published": datetime.now(UTC)}])
    watcher.write(f"""
        [watcher]
        state = "{watcher.state}"
        backfill = "1d"
        [[feeds]]
        url = "{url}"
        [[feeds]]
        url = "{url2}"
        [[profiles]]
        name = "Backtracker"
        query = '/(a+)+$/ OR /(\\w+\\s?)*$/'
        [[profiles]]
        name = "Frigates"
        query = 'frigate'
        [channels.slack]
        type = "slack"
        token = "xoxb-test-token"
        channel = "#alerts"
        api_url = "{slack_server.api_url}"
        flood_threshold = 100
    """)
    # with re this poll runs for hours; the deadline is generous for a busy machine
    proc = subprocess.run([sys.executable, "-m", "watcher", "poll", "-c", str(watcher.config)],
                          capture_output=True, text=True, timeout=120, env=watcher.env)
    assert proc.returncode == 0, proc.stderr
    texts = [str(m["text"]) for m in slack_server.messages]
    assert len(texts) == 6 and all(t.startswith("Frigates:") for t in texts), texts
    logged = [line for line in proc.stderr.splitlines() if "counted as not matching" in line]
    assert len(logged) == 2, proc.stderr  # each pattern of the profile, once
    assert all("Backtracker" in line and "hostile" in line for line in logged)

    status = json.loads(watcher("status", "--json", check=True).out)
    assert sorted(r["pattern"] for r in status["slow_regexes"]) == [r"/(\w+\s?)*$/", "/(a+)+$/"]
    assert {(r["profile"], r["item_key"]) for r in status["slow_regexes"]} == {
        ("Backtracker", "id:hostile")}
    text = watcher("status", check=True).out
    assert "SLOW REGEXES" in text and "profile Backtracker: /(a+)+$/ on 'id:hostile'" in text

    # the item is known now: a second poll neither re-matches nor re-reports it
    again = watcher("poll", check=True, timeout=120)
    assert "counted as not matching" not in again.err
    assert len(slack_server.messages) == 6
