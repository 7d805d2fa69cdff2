"""Email channel: render alerts as multipart messages (pure) and send them by SMTP (I/O).

Feed text never reaches a header raw: titles lose control characters (so no
CR/LF can start a header), subjects are capped at ~200 characters, and
`policy.default` encodes non-ASCII words. The HTML part escapes every feed
string and links only http(s) URLs. Message-IDs derive from the alert id
and channel, so a retried send carries the same id and mail clients can
drop the duplicate. Renderers take `now` for the Date header (pure code
never reads the clock); the sender adds Date when it is missing.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from zoneinfo import ZoneInfo

from watcher.deliver.text import (
    clean,
    format_time,
    one_line,
    profiles_label,
    snippet_parts,
    snippet_source,
    terms_label,
    trim,
    web_link,
)
from watcher.errors import PermanentDeliveryError, TransientDeliveryError
from watcher.models import Alert

log = logging.getLogger(__name__)
SUBJECT_LIMIT = 200
_ID_CHARS = re.compile(r"[^A-Za-z0-9-]+")


def message_id(channel: str, key: str, domain: str) -> str:
    """`<watcher.CHANNEL.KEY@DOMAIN>` with every part reduced to safe characters."""
    chan = _ID_CHARS.sub("-", channel).strip("-") or "channel"
    dom = re.sub(r"[^A-Za-z0-9.-]+", "-", domain).strip(".-") or "watcher.local"
    return f"<watcher.{chan}.{_ID_CHARS.sub('-', key)}@{dom}>"


def _subject(prefix: str, title: str, suffix: str = "") -> str:
    room = SUBJECT_LIMIT - len(prefix) - len(suffix)
    return prefix + trim(clean(title), max(room, 10)) + suffix


def _envelope(subject: str, text: str, body_html: str, *, sender: str, to: Sequence[str],
              msgid: str, now: datetime | None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Message-ID"] = msgid
    if now is not None:
        msg["Date"] = format_datetime(now)
    msg["Auto-Submitted"] = "auto-generated"
    # quoted-printable: 7-bit safe for any server, and no line is ever too long
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(f"<!doctype html>\n<html><body>\n{body_html}\n</body></html>\n",
                        subtype="html", cte="quoted-printable")
    return msg


def _a(alert: Alert) -> str:
    """The alert's title as an HTML link (plain escaped text when the URL is not http(s))."""
    title = html.escape(one_line(alert.title, 300) or "(untitled)")
    href = web_link(alert.link)
    return f'<a href="{html.escape(href, quote=True)}">{title}</a>' if href else title


def _link_line(alert: Alert) -> str:
    return web_link(alert.link) or "(no web link)"


def render_alert_email(alert: Alert, tz: ZoneInfo, *, sender: str, to: Sequence[str],
                       domain: str = "watcher.local", now: datetime | None = None
                       ) -> EmailMessage:
    """One story: subject "[watcher] PROFILE: TITLE", text and HTML bodies."""
    profiles = profiles_label(alert)
    suffix = " (update)" if alert.kind == "update" else ""
    prefix = {"test": "[watcher] TEST: ", "health": "[watcher] ", "recovered": "[watcher] "
              }.get(alert.kind, f"[watcher] {profiles}: ")
    subject = _subject(prefix, alert.title, suffix)
    when = format_time(alert.published, tz)
    parts = snippet_parts(alert.snippet)
    snippet_text = "".join(t for t, _ in parts)
    snippet_html = "".join(f"<b>{html.escape(t)}</b>" if b else html.escape(t) for t, b in parts)
    source = snippet_source(alert.snippet)
    if source and parts:
        snippet_text = f"{source}: {snippet_text}"
        snippet_html = f"<i>{html.escape(source)}:</i> {snippet_html}"
    terms = terms_label(alert.terms)
    feed = one_line(alert.feed, 200)
    lines = []
    if alert.kind == "test":
        lines.append("TEST ALERT from watcher: not a real hit, no action needed.\n")
    lines += [f"{one_line(alert.title, 1000)}{suffix}", _link_line(alert), "",
              f"Profiles: {profiles}", f"Feed: {feed}"]
    lines += [f"Published: {when}"] if when else []
    lines += ["", snippet_text] if snippet_text else []
    lines += ["", f"Matched: {terms}"] if terms else []
    rows = [("Profiles", html.escape(profiles)), ("Feed", html.escape(feed))]
    rows += [("Published", html.escape(when))] if when else []
    rows += [("Matched", html.escape(terms))] if terms else []
    body = (("<p><strong>TEST ALERT from watcher</strong>: not a real hit.</p>\n"
             if alert.kind == "test" else "")
            + f"<h2>{_a(alert)}{html.escape(suffix)}</h2>\n"
            + (f"<p>{snippet_html}</p>\n" if snippet_html else "")
            + "<table>" + "".join(f"<tr><th align=left>{k}</th><td>{v}</td></tr>"
                                  for k, v in rows) + "</table>")
    return _envelope(subject, "\n".join(lines) + "\n", body, sender=sender, to=to,
                     msgid=message_id(alert.channel, str(alert.id), domain), now=now)


def _list_id(alerts: Sequence[Alert], extra: str = "") -> str:
    ids = ",".join(str(a.id) for a in sorted(alerts, key=lambda a: a.id))
    return hashlib.sha256(f"{extra}|{ids}".encode()).hexdigest()[:16]


def _listing(alerts: Sequence[Alert], tz: ZoneInfo, *, profiles: bool) -> tuple[str, str]:
    text, items = [], []
    for a in alerts:
        meta = [profiles_label(a)] if profiles else []
        meta += [x for x in (one_line(a.feed, 200), format_time(a.published, tz)) if x]
        text.append(f"- {one_line(a.title, 300)}\n  {_link_line(a)}\n  {' · '.join(meta)}")
        items.append(f"<li>{_a(a)} <small>{html.escape(' · '.join(meta))}</small></li>")
    return "\n".join(text), "<ul>\n" + "\n".join(items) + "\n</ul>"


def render_summary_email(alerts: Sequence[Alert], tz: ZoneInfo, *, sender: str,
                         to: Sequence[str], domain: str = "watcher.local",
                         now: datetime | None = None) -> EmailMessage:
    """Flood control: one email listing a burst of alerts."""
    n = len(alerts)
    names = list(dict.fromkeys(p for a in alerts for p in a.profiles))
    heading = f"{n} new alert{'' if n == 1 else 's'}"
    subject = _subject(f"[watcher] {heading}: ", ", ".join(names))
    text, body = _listing(alerts, tz, profiles=True)
    channel = alerts[0].channel if alerts else "summary"
    return _envelope(subject, f"{heading}\n\n{text}\n", f"<h2>{heading}</h2>\n{body}",
                     sender=sender, to=to, now=now,
                     msgid=message_id(channel, "summary." + _list_id(alerts), domain))


def render_digest_email(alerts: Sequence[Alert], tz: ZoneInfo, *, sender: str,
                        to: Sequence[str], domain: str = "watcher.local", heading: str,
                        now: datetime | None = None) -> EmailMessage:
    """One email with every alert of a digest period, grouped by profile."""
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        for p in a.profiles or ("watcher",):
            groups.setdefault(p, []).append(a)
    title = f"{one_line(heading, 100)}: {len(alerts)} alert{'' if len(alerts) == 1 else 's'}"
    text, body = [title, ""], [f"<h2>{html.escape(title)}</h2>"]
    for profile, items in groups.items():
        t, h = _listing(items, tz, profiles=False)
        name = one_line(profile, 100)
        text += [f"{name} ({len(items)})", t, ""]
        body += [f"<h3>{html.escape(name)} ({len(items)})</h3>", h]
    if not alerts:
        text.append("No new alerts.")
        body.append("<p>No new alerts.</p>")
    channel = alerts[0].channel if alerts else "digest"
    return _envelope(_subject("[watcher] ", title), "\n".join(text) + "\n", "\n".join(body),
                     sender=sender, to=to, now=now,
                     msgid=message_id(channel, "digest." + _list_id(alerts, heading), domain))


# --- sending --------------------------------------------------------------------

class EmailSender:
    """Sends EmailMessages through one SMTP server ("none", "starttls" or "ssl")."""

    def __init__(self, *, host: str, port: int, security: str = "starttls",
                 username: str | None = None, password: str | None = None,
                 timeout: float = 20.0) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"security must be none, starttls or ssl, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self._password, self.timeout = username, password, timeout

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to the addresses of its To header (only those)."""
        if "Date" not in message:
            message["Date"] = formatdate(localtime=False, usegmt=True)
        to = [a.addr_spec for a in message["To"].addresses] if message["To"] else []
        if not to:
            raise PermanentDeliveryError(self._say("the message has no recipient: set `to`"))
        with self._translate("sending"):
            with self._connect() as smtp:
                refused = smtp.send_message(message, to_addrs=to)
        if refused:
            log.warning("smtp %s: some recipients refused: %s", self.host, sorted(refused))

    def check(self) -> str:
        """Connect, STARTTLS and log in as configured, then QUIT (for `check --online`)."""
        with self._translate("checking"), self._connect() as smtp:
            smtp.noop()
        login = f" as {self.username}" if self.username else ""
        return f"smtp {self.host}:{self.port} ({self.security}){login}: ok"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()  # verifies certificates and host names
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _say(self, text: str) -> str:
        text = f"smtp {self.host}:{self.port}: {text}"
        return text.replace(self._password, "***") if self._password else text

    def _translate(self, doing: str) -> _Translate:
        return _Translate(self, doing)


class _Translate:
    """Context manager turning smtplib/ssl/socket errors into DeliveryErrors."""

    def __init__(self, sender: EmailSender, doing: str) -> None:
        self.sender, self.doing = sender, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        say = self.sender._say
        security = self.sender.security
        error: Exception
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            error = _by_code(exc.smtp_code, say(
                f"login refused for user {self.sender.username} ({exc.smtp_code}): "
                "check username and password"))
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            error = PermanentDeliveryError(say(
                f"the server does not support what security = {security!r} needs ({exc}): "
                "check security and port, or remove username"))
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            error = _by_code(min(codes, default=550), say(
                f"recipients refused ({', '.join(sorted(exc.recipients))}): check `to`"))
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            error = _by_code(exc.smtp_code, say(
                f"sender {exc.sender} refused ({exc.smtp_code}): check `from`"))
        elif isinstance(exc, smtplib.SMTPResponseException):
            reply = clean(exc.smtp_error.decode("utf-8", "replace")
                          if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error))
            error = _by_code(exc.smtp_code, say(
                f"server answered {exc.smtp_code} {trim(reply, 200)} while {self.doing}"))
        elif isinstance(exc, ssl.SSLCertVerificationError):
            error = PermanentDeliveryError(say(
                f"TLS certificate not trusted ({exc.verify_message}): fix the server's "
                "certificate or smtp_host"))
        elif isinstance(exc, ssl.SSLError) and not isinstance(
                exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            error = PermanentDeliveryError(say(
                f"TLS failed ({exc.reason}): check security (ssl is usually port 465, "
                "starttls 587)"))
        elif isinstance(exc, OSError | smtplib.SMTPException):
            error = TransientDeliveryError(say(f"cannot reach the server: {exc}"))
        else:
            return
        raise error from None


def _by_code(code: int, message: str) -> Exception:
    """5xx replies are permanent, everything else (4xx, odd codes) is worth a retry."""
    if 500 <= code < 600:
        return PermanentDeliveryError(message)
    return TransientDeliveryError(message)
