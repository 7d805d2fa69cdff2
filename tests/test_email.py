"""Email rendering (headers, multipart, injection) and SMTP sending to a real local server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.servers.smtp import SmtpServer, free_port
from watcher.deliver.email import (
    EmailSender,
    render_alert_email,
    render_digest_email,
    render_summary_email,
)
from watcher.errors import PermanentDeliveryError, TransientDeliveryError
from watcher.models import Alert, Snippet

TZ = ZoneInfo("Europe/Istanbul")
FROM = "watcher@example.org"
TO = ["analyst@example.org", "lead@example.org"]
PASSWORD = "s3cret-pass"


def make_alert(**kw: Any) -> Alert:
    base = Alert(id=42, channel="analysts", kind="new", profiles=("S-400",),
                 title="Turkey receives second S-400 batch", link="https://example.org/a?b=1&c=2",
                 feed="Defense News", published=datetime(2024, 5, 1, 11, 3, tzinfo=UTC),
                 snippet=Snippet("took delivery of the S-400 system", ((21, 26),)),
                 terms=("S-400", "Triumf"))
    return replace(base, **kw)


def render(alert: Alert | None = None, **kw: Any) -> EmailMessage:
    return render_alert_email(alert or make_alert(), TZ, sender=FROM, to=TO, **kw)


def reparse(msg: EmailMessage) -> EmailMessage:
    """The message as a receiver sees it: serialised, then parsed again."""
    out = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(out, EmailMessage)
    return out


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


# --- rendering ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["health", "recovered"])
def test_health_subjects_carry_no_profile(kind: str) -> None:
    alert = make_alert(kind=kind, title="Feed recovered: Defense News", profiles=("health",))
    assert reparse(render(alert))["Subject"] == "[watcher] Feed recovered: Defense News"


def test_multipart_text_and_html_with_subject_and_headers() -> None:
    msg = reparse(render(now=datetime(2024, 5, 1, 12, 0, tzinfo=UTC)))
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "[watcher] S-400: Turkey receives second S-400 batch"
    assert msg["From"] == FROM and msg["To"] == ", ".join(TO)
    assert msg["Message-ID"] == "<watcher.analysts.42@watcher.local>"
    assert msg["Date"] == "Wed, 01 May 2024 12:00:00 +0000"
    text, html = bodies(msg)
    assert "https://example.org/a?b=1&c=2" in text and "2024-05-01 14:03 +03" in text
    assert "Matched: S-400, Triumf" in text and "Feed: Defense News" in text
    assert '<a href="https://example.org/a?b=1&amp;c=2">' in html
    assert "<b>S-400</b> system" in html


def test_subject_variants() -> None:
    assert render(make_alert(profiles=("S-400", "TF-X")))["Subject"].startswith(
        "[watcher] S-400, TF-X: Turkey")
    assert render(make_alert(kind="update"))["Subject"].endswith("batch (update)")
    assert render(make_alert(kind="test"))["Subject"].startswith("[watcher] TEST: ")
    long = render(make_alert(title="word " * 1000, kind="update"))["Subject"]
    assert len(long) <= 200 and long.endswith("… (update)")


def test_message_id_is_stable_and_sanitised() -> None:
    assert render()["Message-ID"] == render()["Message-ID"]
    assert render(make_alert(id=43))["Message-ID"] != render()["Message-ID"]
    odd = render(make_alert(channel="a b@c>\r\nX: y"), domain="ex.org")["Message-ID"]
    assert odd == "<watcher.a-b-c-X-y.42@ex.org>"
    alerts = [make_alert(id=1), make_alert(id=2)]
    one = render_summary_email(alerts, TZ, sender=FROM, to=TO)
    two = render_summary_email(alerts[::-1], TZ, sender=FROM, to=TO)
    assert one["Message-ID"] == two["Message-ID"] != render()["Message-ID"]


def test_html_escapes_feed_text_and_refuses_script_links() -> None:
    alert = make_alert(title='<script>alert("x")</script> & co', feed="<i>Feed</i>",
                       link="javascript:alert(1)", snippet=Snippet("<img src=x onerror=y>"))
    _, html = bodies(reparse(render(alert)))
    assert "<script>" not in html and "<img" not in html and "<i>Feed" not in html
    assert "javascript:" not in html and "&lt;script&gt;" in html


def test_header_injection_in_title_adds_no_header() -> None:
    msg = reparse(render(make_alert(title="Hello\r\nBcc: x@evil.example\r\n\r\nbody")))
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"] == "[watcher] S-400: Hello Bcc: x@evil.example body"


def test_non_ascii_subject_is_encoded_and_decodes_back() -> None:
    msg = render(make_alert(title="Türkiye: İstanbul'da denizaltı", profiles=("Türkiye",)))
    raw = msg.as_bytes()
    assert raw.isascii()  # encoded words in headers, transfer encoding in the bodies
    assert reparse(msg)["Subject"] == "[watcher] Türkiye: Türkiye: İstanbul'da denizaltı"
    assert "denizaltı" in bodies(reparse(msg))[0]


def test_summary_and_digest() -> None:
    alerts = [make_alert(id=1, title="One", profiles=("S-400",)),
              make_alert(id=2, title="Two", profiles=("TF-X", "S-400"))]
    summary = reparse(render_summary_email(alerts, TZ, sender=FROM, to=TO))
    assert summary["Subject"] == "[watcher] 2 new alerts: S-400, TF-X"
    text, html = bodies(summary)
    assert "- One" in text and "- Two" in text and html.count("<li>") == 2
    digest = reparse(render_digest_email(alerts, TZ, sender=FROM, to=TO, heading="Morning"))
    assert digest["Subject"] == "[watcher] Morning: 2 alerts"
    text, html = bodies(digest)
    assert text.index("S-400 (2)") < text.index("TF-X (1)")
    assert "<h3>TF-X (1)</h3>" in html
    empty = render_digest_email([], TZ, sender=FROM, to=TO, heading="Evening")
    assert "No new alerts." in bodies(empty)[0]


# --- sending ------------------------------------------------------------------

@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_auth() -> Iterator[SmtpServer]:
    with SmtpServer(username="watcher", password=PASSWORD) as server:
        yield server


def plain(server: SmtpServer, **kw: Any) -> EmailSender:
    return EmailSender(host=server.host, port=server.port, security="none", timeout=5, **kw)


def test_send_delivers_to_the_to_addresses(smtp: SmtpServer) -> None:
    plain(smtp).send(render())
    [got] = smtp.wait_for(1)
    assert got.mail_from == FROM and got.rcpt_tos == TO
    assert got.message["Subject"] == "[watcher] S-400: Turkey receives second S-400 batch"
    assert got.message["Date"]  # added by the sender
    assert got.message.get_body(("html",)) is not None


def test_injected_bcc_reaches_no_one(smtp: SmtpServer) -> None:
    plain(smtp).send(render(make_alert(title="Hi\r\nBcc: x@evil.example")))
    [got] = smtp.wait_for(1)
    assert got.rcpt_tos == TO and "evil" not in " ".join(got.rcpt_tos)
    assert got.message["Bcc"] is None


def test_non_ascii_subject_survives_smtp(smtp: SmtpServer) -> None:
    plain(smtp).send(render(make_alert(title="Türkiye’s KAAN engine")))
    [got] = smtp.wait_for(1)
    assert got.message["Subject"] == "[watcher] S-400: Türkiye’s KAAN engine"


def test_login_with_auth(smtp_auth: SmtpServer) -> None:
    sender = plain(smtp_auth, username="watcher", password=PASSWORD)
    assert "ok" in sender.check()
    sender.send(render())
    smtp_auth.wait_for(1)
    assert smtp_auth.logins == ["watcher", "watcher"]


def test_bad_password_is_permanent_and_secret_free(smtp_auth: SmtpServer) -> None:
    sender = plain(smtp_auth, username="watcher", password="wrong-" + PASSWORD)
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(render())
    assert "535" in str(err.value) and "password" in str(err.value)
    assert PASSWORD not in str(err.value)


def test_server_down_is_transient() -> None:
    sender = EmailSender(host="127.0.0.1", port=free_port(), security="none", timeout=5,
                         username="u", password=PASSWORD)
    with pytest.raises(TransientDeliveryError) as err:
        sender.send(render())
    assert PASSWORD not in str(err.value)
    with pytest.raises(TransientDeliveryError):
        sender.check()


def test_stopped_server_refuses_then_restarts_on_the_same_port(smtp: SmtpServer) -> None:
    smtp.stop()
    with pytest.raises(TransientDeliveryError):
        plain(smtp).send(render())
    smtp.start()
    plain(smtp).send(render())
    assert len(smtp.wait_for(1)) == 1


def test_550_is_permanent_451_transient(smtp: SmtpServer) -> None:
    smtp.reject_next(1, "550 5.7.1 message refused")
    with pytest.raises(PermanentDeliveryError) as err:
        plain(smtp).send(render())
    assert "550" in str(err.value)
    smtp.reject_next(1, "451 4.3.0 try again later")
    with pytest.raises(TransientDeliveryError):
        plain(smtp).send(render())
    plain(smtp).send(render())
    assert len(smtp.wait_for(1)) == 1


def test_every_recipient_refused_is_permanent(smtp: SmtpServer) -> None:
    for address in TO:
        smtp.reject_rcpt(address)
    with pytest.raises(PermanentDeliveryError) as err:
        plain(smtp).send(render())
    assert "analyst@example.org" in str(err.value) and "`to`" in str(err.value)


def test_starttls_against_a_server_without_it_is_permanent(smtp: SmtpServer) -> None:
    sender = EmailSender(host=smtp.host, port=smtp.port, security="starttls", timeout=5)
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(render())
    assert "security" in str(err.value)


def test_ssl_against_a_plain_server_fails_with_a_hint(smtp: SmtpServer) -> None:
    sender = EmailSender(host=smtp.host, port=smtp.port, security="ssl", timeout=5)
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(render())
    assert "465" in str(err.value)


def test_a_snippet_from_the_article_is_marked_and_escaped() -> None:
    snippet = Snippet("…dubbed TF-X <script>x</script>…", ((8, 12),), "article")
    msg = reparse(render(make_alert(snippet=snippet)))
    text = msg.get_body(("plain",))
    body = msg.get_body(("html",))
    assert text is not None and body is not None
    assert "in the article: …dubbed TF-X <script>x</script>…" in text.get_content()
    html_part = body.get_content()
    assert "<i>in the article:</i> …dubbed <b>TF-X</b> &lt;script&gt;" in html_part
    assert "<script>" not in html_part
    plain = reparse(render(make_alert(snippet=replace(snippet, field="summary"))))
    assert "in the article" not in plain.as_string()
