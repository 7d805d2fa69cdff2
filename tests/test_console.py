"""Console rendering (readable lines, no terminal escapes) and the stream sender."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from watcher.deliver.console import (
    ConsoleSender,
    render_console,
    render_console_digest,
    render_console_summary,
)
from watcher.deliver.text import clean, format_time, snippet_parts, trim, web_link
from watcher.errors import TransientDeliveryError
from watcher.models import Alert, Snippet

TZ = ZoneInfo("Europe/Istanbul")
ESCAPES = ["\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "\x1b]8;;http://evil\x1b\\", "\x9b31m",
           "\x1bP+q\x1b\\", "\x07", "\x08\x08\x08", "\r", "\u202e", "\x1bc"]


def make_alert(**kw: Any) -> Alert:
    base = Alert(id=1, channel="terminal", kind="new", profiles=("S-400", "TF-X"),
                 title="Turkey receives second S-400 batch", link="https://example.org/a",
                 feed="Defense News", published=datetime(2024, 5, 1, 11, 3, tzinfo=UTC),
                 snippet=Snippet("took delivery of the S-400 system", ((21, 26),)),
                 terms=("S-400",))
    return replace(base, **kw)


def test_alert_lines() -> None:
    out = render_console(make_alert(), TZ)
    assert out.splitlines() == [
        "[S-400, TF-X] Turkey receives second S-400 batch",
        "  https://example.org/a",
        "  Defense News · 2024-05-01 14:03 +03",
        "  took delivery of the S-400 system",
        "  matched: S-400",
    ]
    assert "(update)" in render_console(make_alert(kind="update"), TZ).splitlines()[0]
    assert render_console(make_alert(kind="test"), TZ).startswith("[TEST ALERT] ")
    for kind in ("health", "recovered"):
        health = make_alert(kind=kind, title="Feed recovered: Defense News", profiles=("health",))
        assert render_console(health, TZ).startswith("[HEALTH] Feed recovered: Defense News\n")


@pytest.mark.parametrize("seq", ESCAPES)
def test_no_control_characters_reach_the_terminal(seq: str) -> None:
    alert = make_alert(title=f"A{seq}B", feed=f"F{seq}", profiles=(f"P{seq}",),
                       link=f"https://x.org/{seq}", snippet=Snippet(f"s{seq}t", ((0, 1),)),
                       terms=(f"t{seq}",))
    for text in (render_console(alert, TZ), render_console_summary([alert], TZ),
                 render_console_digest([alert], TZ, heading=f"H{seq}")):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text), repr(text)
        assert "pwned" not in text and "evil" not in text


def test_non_web_link_is_marked() -> None:
    out = render_console(make_alert(link="javascript:alert(1)"), TZ)
    assert "(not a web link: javascript:alert(1))" in out


def test_summary_and_digest() -> None:
    alerts = [make_alert(id=1, title="One", profiles=("S-400",)),
              make_alert(id=2, title="Two", profiles=("TF-X",))]
    summary = render_console_summary(alerts, TZ)
    assert summary.startswith("[watcher] 2 new alerts\n- One") and "- Two" in summary
    digest = render_console_digest(alerts, TZ, heading="Morning")
    assert digest.splitlines()[0] == "[watcher] Morning: 2 alerts"
    assert digest.index("S-400 (1)") < digest.index("- One") < digest.index("TF-X (1)")
    assert "No new alerts." in render_console_digest([], TZ, heading="x")


def test_sender_writes_and_flushes_and_strips() -> None:
    stream = io.StringIO()
    ConsoleSender(stream).send("a\x1b[31m red\n  indented")
    assert stream.getvalue() == "a red\n  indented\n\n"


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal (as sys.stdout on a tty does)."""

    def isatty(self) -> bool:
        return True


def test_bold_only_on_a_terminal_and_only_bold_gets_through() -> None:
    alert = make_alert(title="T\x1b[1m\x1b[31mX", snippet=Snippet("the S-400 deal", ((4, 9),)))
    text = render_console(alert, TZ, bold=True)
    assert "the \x1b[1mS-400\x1b[22m deal" in text and "\x1b[31m" not in text
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        sender = ConsoleSender(stream)
        sender.send(render_console(alert, TZ, bold=sender.terminal))
        sender.send("a \x1b[1mbold never closed\ue000\n  \x1b[31mred")
    assert "the \x1b[1mS-400\x1b[22m deal" in terminal.getvalue()
    assert "a \x1b[1mbold never closed\x1b[22m\n  red" in terminal.getvalue()
    assert "\x1b" not in pipe.getvalue() and "**" not in pipe.getvalue()
    assert "the S-400 deal" in pipe.getvalue() and "\ue000" not in pipe.getvalue()


def test_sender_replaces_what_the_terminal_cannot_encode() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    ConsoleSender(stream).send("Türkiye")
    assert raw.getvalue() == b"T?rkiye\n\n"
    stream.detach()


def test_sender_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleSender().send("hello")
    assert capsys.readouterr().out == "hello\n\n"


def test_sender_write_failure_is_transient() -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(TransientDeliveryError):
        ConsoleSender(stream).send("x")


# --- shared text helpers ----------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("a\tb\n\nc", "a b c"), ("  x  ", "x"), ("\x1b[1;31mred\x1b[0m", "red"),
    ("ok\x1b]0;title\x07done", "okdone"), ("lone \x9d rest", "lone rest"),
    ("unterminated \x1b]0;keeps text", "unterminated 0;keeps text"),
])
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_trim_and_links_and_time() -> None:
    assert trim("abcdef", 4) == "abc…" and trim("abc", 4) == "abc"
    assert web_link("HTTPS://x.org/a") == "HTTPS://x.org/a"
    for bad in ("javascript:x", "https:///nohost", "http://x/a\nb", "mailto:a@b", ""):
        assert web_link(bad) is None
    assert format_time(None, TZ) == ""
    assert format_time(datetime(2024, 1, 1, 0, 0, tzinfo=UTC), ZoneInfo("UTC")) == \
        "2024-01-01 00:00 UTC"


def test_snippet_parts_clip_bad_spans() -> None:
    parts = snippet_parts(Snippet("abc def ghi", ((4, 8), (6, 20), (-3, 1))))
    assert parts == [("a", True), ("bc ", False), ("def", True), (" ", False), ("ghi", True)]
    assert snippet_parts(Snippet("")) == []
    assert sum(len(t) for t, _ in snippet_parts(Snippet("x" * 10_000), limit=50)) <= 50


@pytest.mark.parametrize(("field", "line"), [
    ("article", "  in the article: …the engine for Turkey's future fighter, dubbed TF-X…"),
    ("summary", "  …the engine for Turkey's future fighter, dubbed TF-X…"),
    (None, "  …the engine for Turkey's future fighter, dubbed TF-X…"),
])
def test_a_snippet_from_the_article_is_marked(field: Any, line: str) -> None:
    text = "…the engine for Turkey's future fighter, dubbed TF-X…"
    alert = make_alert(snippet=Snippet(text, ((48, 52),), field))
    assert render_console(alert, TZ).splitlines()[3] == line
    bold = line.replace("TF-X", "\x1b[1mTF-X\x1b[22m")   # on a terminal
    assert render_console(alert, TZ, bold=True).splitlines()[3] == bold
