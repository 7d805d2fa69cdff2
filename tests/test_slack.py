"""Slack rendering (escaping, limits) and sending against a real local Slack server."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.servers.slack import SlackServer
from watcher.deliver.slack import (
    MAX_BLOCKS,
    SECTION_LIMIT,
    SlackMessage,
    SlackSender,
    escape_mrkdwn,
    render_alert,
    render_digest,
    render_reply,
    render_summary,
    trim_mrkdwn,
)
from watcher.errors import PermanentDeliveryError, TransientDeliveryError
from watcher.models import Alert, Snippet

TZ = ZoneInfo("Europe/Istanbul")
TOKEN = "xoxb-secret-token-123"
HOSTILE = ["<!channel>", "<!here>", "<@U123>", "<http://evil|click>", "<!subteam^S1>"]


def make_alert(**kw: Any) -> Alert:
    base = Alert(id=7, channel="defense-slack", kind="new", profiles=("S-400",),
                 title="Turkey receives second S-400 batch",
                 link="https://example.org/a?x=1&y=2", feed="Defense News",
                 published=datetime(2024, 5, 1, 11, 3, tzinfo=UTC),
                 snippet=Snippet("Ankara took delivery of the S-400 system.", ((28, 33),)),
                 terms=("S-400",))
    return replace(base, **kw)


def all_text(msg: SlackMessage) -> str:
    """Every string Slack will parse as mrkdwn in a message."""
    return msg.text + "\n" + json.dumps(msg.blocks, ensure_ascii=False)


def block_texts(msg: SlackMessage) -> list[str]:
    out = []
    for b in msg.blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [e["text"] for e in b.get("elements", [])]
    return out


def assert_within_limits(msg: SlackMessage) -> None:
    assert len(msg.blocks) <= MAX_BLOCKS
    assert all(0 < len(t) <= SECTION_LIMIT for t in block_texts(msg))
    assert 0 < len(msg.text) <= 40_000
    assert sum(map(len, block_texts(msg))) <= 12_000
    for t in block_texts(msg) + [msg.text]:  # nothing cut in half
        assert t.count("<") == t.count(">")
        assert not re.search(r"&[a-z]*$", t.removesuffix("…"))
        assert t.count("*") % 2 == 0


# --- rendering ----------------------------------------------------------------

def test_alert_has_profile_linked_title_feed_local_time_bold_snippet_terms() -> None:
    msg = render_alert(make_alert(), TZ)
    text = "\n".join(block_texts(msg))
    assert "*S-400*" in text
    assert "<https://example.org/a?x=1&amp;y=2|Turkey receives second S-400 batch>" in text
    assert "Defense News" in text
    assert "2024-05-01 14:03 +03" in text  # 11:03 UTC in Istanbul
    assert "\u200b*S-400*\u200b system" in text
    assert "matched: S-400" in text
    assert "Turkey receives second S-400 batch" in msg.text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_mentions_and_links_in_feed_text_arrive_escaped(hostile: str) -> None:
    alert = make_alert(title=f"x {hostile} y", feed=hostile, profiles=(hostile,),
                       snippet=Snippet(f"a {hostile} b", ((2, 4),)), terms=(hostile,))
    for msg in (render_alert(alert, TZ), render_summary([alert] * 3, TZ),
                render_digest([alert], TZ, heading=hostile),
                render_reply(replace(alert, kind="also"), TZ)):
        text = all_text(msg)
        assert hostile not in text
        assert "<!" not in text and "<@" not in text and "<http://evil" not in text
        assert "&lt;" in text


def test_escape_order_and_controls() -> None:
    assert escape_mrkdwn("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"
    assert escape_mrkdwn("bell\x07 esc\x1b[31mred\r\nnext") == "bell escred next"


def test_markers_in_title_do_not_open_formatting() -> None:
    msg = render_alert(make_alert(title="*bold _it ~strike `code"), TZ)
    for t in block_texts(msg) + [msg.text]:
        # the only markers left are renderer-made bold pairs
        assert not re.search(r"[_~`]", t.replace("https://example.org/a?x=1&amp;y=2", ""))
        assert t.count("*") % 2 == 0
    assert "∗bold ˍit ∼strike ˋcode" in msg.blocks[0]["text"]["text"]


@pytest.mark.parametrize("link", ["javascript:alert(1)", "data:text/html,x", "ftp://x/y",
                                  "", "/relative", "http://a b"])
def test_non_web_links_are_shown_as_text(link: str) -> None:
    msg = render_alert(make_alert(link=link), TZ)
    assert "<" not in "".join(block_texts(msg)).replace("&lt;", "")
    assert "Turkey receives" in msg.blocks[0]["text"]["text"]


def test_pipe_and_angle_in_url_cannot_end_the_link() -> None:
    msg = render_alert(make_alert(link="https://x.org/a|b>c"), TZ)
    assert "<https://x.org/a%7Cb%3Ec|Turkey" in msg.blocks[0]["text"]["text"]


def test_kinds() -> None:
    assert "(update)" in render_alert(make_alert(kind="update"), TZ).blocks[0]["text"]["text"]
    test = render_alert(make_alert(kind="test"), TZ)
    assert "TEST ALERT" in test.blocks[0]["text"]["text"] and test.text.startswith("[TEST]")
    also = render_reply(make_alert(kind="also", feed="Reuters"), TZ)
    assert also.text.startswith("also reported by Reuters: <https://example.org/")
    edit = render_reply(make_alert(kind="edit", title="New <b>"), TZ)
    assert edit.text == "title changed: <https://example.org/a?x=1&amp;y=2|New &lt;b&gt;>"


@pytest.mark.parametrize(("kind", "title", "icon"), [
    ("health", "Feed failing: Feed recovered daily — HTTP 500 (3 times)", ":warning:"),
    ("health", "Network down? All 3 feeds fail at once", ":warning:"),
    ("recovered", "Feed recovered: Defense News", ":white_check_mark:"),
    ("recovered", "Network back: feeds answer again", ":white_check_mark:"),
    ("recovered", "Whatever the title says", ":white_check_mark:"),
])
def test_health_icon_comes_from_the_kind_not_the_title(kind: str, title: str, icon: str) -> None:
    msg = render_alert(make_alert(kind=kind, title=title, profiles=("health",)), TZ)
    head = msg.blocks[0]["text"]["text"]
    assert head.startswith(f"{icon} *watcher health*\n"), head
    assert msg.text.startswith("[watcher health] ")


def test_huge_title_stays_within_limits() -> None:
    alert = make_alert(title="&<" * 500_000, snippet=Snippet("x" * 1_000_000, ((0, 900_000),)))
    for msg in (render_alert(alert, TZ), render_summary([alert], TZ),
                render_digest([alert], TZ, heading="H"), render_reply(alert, TZ)):
        assert_within_limits(msg)


@pytest.mark.parametrize("render", ["summary", "digest"])
def test_500_alerts_stay_within_limits_and_count_the_rest(render: str) -> None:
    alerts = [make_alert(id=i, title=f"Story {i} & <more> " + "w" * 200,
                         profiles=(f"P{i % 7}", "S-400")) for i in range(500)]
    msg = (render_summary(alerts, TZ) if render == "summary"
           else render_digest(alerts, TZ, heading="Morning digest"))
    assert_within_limits(msg)
    assert "500" in msg.blocks[0]["text"]["text"]
    assert "more not shown" in msg.blocks[-1]["elements"][0]["text"]


def test_small_summary_lists_everything() -> None:
    msg = render_summary([make_alert(id=1, title="One"), make_alert(id=2, title="Two")], TZ)
    text = "\n".join(block_texts(msg))
    assert "2 new alerts" in text and "|One>" in text and "|Two>" in text
    assert "more not shown" not in text


def test_digest_groups_by_profile() -> None:
    alerts = [make_alert(id=1, title="A", profiles=("S-400",)),
              make_alert(id=2, title="B", profiles=("TF-X", "S-400"))]
    text = "\n".join(block_texts(render_digest(alerts, TZ, heading="Evening")))
    assert "*S-400* (2)" in text and "*TF-X* (1)" in text
    assert text.index("*S-400*") < text.index("|A>") < text.index("*TF-X*")


@pytest.mark.parametrize("s", ["&amp;&amp;&amp;&amp;", "ab <https://x|lbl> cd",
                               "x \u200b*bold words*\u200b y", "plain text that is long"])
def test_trim_never_cuts_escapes_links_or_bold(s: str) -> None:
    for limit in range(1, len(s) + 2):
        out = trim_mrkdwn(s, limit)
        assert len(out) <= limit or out == "…"
        body = out.removesuffix("…")
        assert s.startswith(body)
        assert body.count("<") == body.count(">") and body.count("*") % 2 == 0
        assert not re.search(r"&[a-z]*$", body)


# --- sending ------------------------------------------------------------------

@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN) as server:
        yield server


def bot(server: SlackServer, channel: str = "#defense") -> SlackSender:
    return SlackSender(channel=channel, token=TOKEN, api_url=server.api_url, timeout=5)


def test_bot_send_posts_channel_text_blocks_and_returns_ts(slack: SlackServer) -> None:
    msg = render_alert(make_alert(), TZ)
    ts = bot(slack).send(msg)
    [got] = slack.wait_for(1)
    assert ts is not None and ts == got["ts"] and re.fullmatch(r"\d{10}\.\d{6}", ts)
    assert got["channel"] == "#defense" and got["text"] == msg.text
    assert got["blocks"] == msg.blocks and got["thread_ts"] is None
    assert got["unfurl_links"] is False
    assert slack.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_thread_reply_carries_thread_ts(slack: SlackServer) -> None:
    sender = bot(slack)
    first = sender.send(render_alert(make_alert(), TZ))
    second = sender.send(render_reply(make_alert(kind="also"), TZ), thread_ts=first)
    got = slack.wait_for(2)
    assert got[1]["thread_ts"] == first and second is not None and second > str(first)
    assert sender.threads


def test_webhook_mode(slack: SlackServer) -> None:
    sender = SlackSender(channel="#x", webhook_url=slack.webhook_url)
    assert not sender.threads
    assert sender.send(render_alert(make_alert(), TZ), thread_ts="1.2") is None
    [got] = slack.wait_for(1)
    assert got["via"] == "webhook" and got["blocks"]
    assert "thread_ts" not in slack.requests[0].payload
    assert sender.auth_test().startswith("webhook")


def test_auth_test(slack: SlackServer) -> None:
    assert bot(slack).auth_test() == "team Test Team as user watcher"


def test_429_is_transient_with_retry_after(slack: SlackServer) -> None:
    slack.rate_limit_next(1, retry_after=2)
    with pytest.raises(TransientDeliveryError) as err:
        bot(slack).send(render_alert(make_alert(), TZ))
    assert err.value.retry_after == 2
    assert len(slack.requests) == 1  # slack_sdk did not retry on its own


@pytest.mark.parametrize("status", [500, 502])
def test_5xx_and_down_are_transient(slack: SlackServer, status: int) -> None:
    slack.fail_next(1, status=status)
    with pytest.raises(TransientDeliveryError):
        bot(slack).send(render_alert(make_alert(), TZ))
    slack.set_down(True)
    with pytest.raises(TransientDeliveryError):
        bot(slack).send(render_alert(make_alert(), TZ))
    slack.set_down(False)
    assert bot(slack).send(render_alert(make_alert(), TZ))


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = SlackSender(channel="#x", token=TOKEN, api_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(TransientDeliveryError) as err:
        sender.send(render_alert(make_alert(), TZ))
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("error,hint", [("channel_not_found", "#defense"),
                                        ("not_in_channel", "invite"),
                                        ("invalid_auth", "token"),
                                        ("is_archived", "archived"),
                                        ("missing_scope", "chat:write")])
def test_permanent_errors_say_what_to_do(slack: SlackServer, error: str, hint: str) -> None:
    slack.error_next(1, error)
    with pytest.raises(PermanentDeliveryError) as err:
        bot(slack).send(render_alert(make_alert(), TZ))
    assert hint in str(err.value) and error in str(err.value)
    assert TOKEN not in str(err.value)


def test_wrong_token_is_permanent_and_secret_free(slack: SlackServer) -> None:
    sender = SlackSender(channel="#x", token="xoxb-wrong-999", api_url=slack.api_url)
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(render_alert(make_alert(), TZ))
    with pytest.raises(PermanentDeliveryError) as err2:
        sender.auth_test()
    for e in (err.value, err2.value):
        assert "invalid_auth" in str(e) and "xoxb-wrong-999" not in str(e)


def test_unknown_error_is_transient_and_persistent_error_clears(slack: SlackServer) -> None:
    slack.set_error("fatal_error")
    with pytest.raises(TransientDeliveryError):
        bot(slack).send(render_alert(make_alert(), TZ))
    slack.clear_error()
    assert bot(slack).send(render_alert(make_alert(), TZ))


def test_refused_blocks_fall_back_to_plain_text(slack: SlackServer) -> None:
    slack.error_next(1, "invalid_blocks")
    assert bot(slack).send(render_alert(make_alert(), TZ))
    [got] = slack.wait_for(1)
    assert "blocks" not in got and got["text"]


def test_webhook_errors(slack: SlackServer) -> None:
    sender = SlackSender(channel="#x", webhook_url=slack.webhook_url)
    slack.error_next(1, "no_service")
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(render_alert(make_alert(), TZ))
    assert "webhook" in str(err.value) and slack.webhook_url not in str(err.value)
    slack.rate_limit_next(1, retry_after=3)
    with pytest.raises(TransientDeliveryError) as terr:
        sender.send(render_alert(make_alert(), TZ))
    assert terr.value.retry_after == 3


def test_500_alert_summary_is_accepted_by_the_server(slack: SlackServer) -> None:
    alerts = [make_alert(id=i, title=f"Story {i} " + "w" * 100) for i in range(500)]
    for msg in (render_summary(alerts, TZ), render_digest(alerts, TZ, heading="D")):
        bot(slack).send(msg)
    got = slack.wait_for(2)
    assert all(m.get("blocks") for m in got)  # no plain-text fallback was needed


def test_server_refuses_oversized_blocks(slack: SlackServer) -> None:
    huge = SlackMessage(text="t", blocks=[{"type": "section",
                                           "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    bot(slack).send(huge)  # refused, then sent again as plain text
    [got] = slack.wait_for(1)
    assert "blocks" not in got and [r.payload.get("blocks") is None for r in slack.requests] == \
        [False, True]


def test_server_wait_for_times_out(slack: SlackServer) -> None:
    with pytest.raises(TimeoutError):
        slack.wait_for(1, timeout=0.05)


def test_a_snippet_from_the_article_is_marked_and_escaped() -> None:
    text = "…dubbed TF-X <!channel> & more…"
    msg = render_alert(make_alert(snippet=Snippet(text, ((8, 12),), "article")), TZ)
    snippet = block_texts(msg)[2]
    assert snippet.startswith("_in the article:_ …dubbed ")
    assert "*TF-X*" in snippet and "&lt;!channel&gt; &amp; more" in snippet
    assert "<!channel>" not in all_text(msg)
    plain = render_alert(make_alert(snippet=Snippet(text, ((8, 12),), "summary")), TZ)
    assert "in the article" not in all_text(plain)
