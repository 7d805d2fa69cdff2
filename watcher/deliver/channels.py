"""One shape for every channel: build a sender from config, render and send each kind of message.

Each adapter joins a channel module's pure renderers to its sender; the outbox worker
only sees `Channel`. All methods block (they run in a worker thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from watcher.config import ChannelConfig, ConsoleChannel, EmailChannel, SlackChannel
from watcher.deliver import console, email, slack  # noqa: F401
from watcher.models import Alert
from watcher.timeparse import parse_duration


class Channel(Protocol):
    name: str
    min_gap: float       # seconds to keep between two messages

    @property
    def threads(self) -> bool: ...   # can reply in a thread under an earlier message

    def send_alert(self, alert: Alert) -> str | None: ...
    def send_reply(self, alert: Alert, thread_ts: str) -> str | None: ...
    def send_summary(self, alerts: Sequence[Alert]) -> str | None: ...
    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None: ...
    def check(self) -> str: ...
    def describe(self) -> str: ...


@dataclass
class SlackAdapter:
    name: str
    cfg: SlackChannel
    tz: ZoneInfo
    min_gap: float = 1.0
    sender: slack.SlackSender = field(init=False)

    def __post_init__(self) -> None:
        self.sender = slack.SlackSender(
            channel=self.cfg.channel or "",
            token=self.cfg.token.get_secret_value() if self.cfg.token else None,
            webhook_url=self.cfg.webhook_url.get_secret_value() if self.cfg.webhook_url else None,
            api_url=self.cfg.api_url, unfurl_links=self.cfg.unfurl_links)

    @property
    def threads(self) -> bool:
        return self.sender.threads

    def send_alert(self, alert: Alert) -> str | None:
        return self.sender.send(slack.render_alert(alert, self.tz))

    def send_reply(self, alert: Alert, thread_ts: str) -> str | None:
        return self.sender.send(slack.render_reply(alert, self.tz), thread_ts=thread_ts)

    def send_summary(self, alerts: Sequence[Alert]) -> str | None:
        return self.sender.send(slack.render_summary(alerts, self.tz))

    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None:
        return self.sender.send(slack.render_digest(alerts, self.tz, heading=heading))

    def check(self) -> str:
        return self.sender.auth_test()

    def describe(self) -> str:
        if self.cfg.token:
            return f"slack {self.cfg.channel} (bot token)"
        return "slack (incoming webhook: no threads, replies become plain messages)"


@dataclass
class EmailAdapter:
    name: str
    cfg: EmailChannel
    tz: ZoneInfo
    min_gap: float = 0.0
    threads: bool = False
    sender: email.EmailSender = field(init=False)

    def __post_init__(self) -> None:
        self.sender = email.EmailSender(
            host=self.cfg.smtp_host, port=self.cfg.smtp_port, security=self.cfg.security,
            username=self.cfg.username or None,
            password=self.cfg.password.get_secret_value() if self.cfg.password else None,
            timeout=parse_duration(self.cfg.timeout))

    def send_alert(self, alert: Alert) -> str | None:
        self.sender.send(email.render_alert_email(alert, self.tz, sender=self.cfg.from_,
                                                  to=self.cfg.to))
        return None

    def send_reply(self, alert: Alert, thread_ts: str) -> str | None:
        return self.send_summary([alert])

    def send_summary(self, alerts: Sequence[Alert]) -> str | None:
        self.sender.send(email.render_summary_email(alerts, self.tz, sender=self.cfg.from_,
                                                    to=self.cfg.to))
        return None

    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None:
        self.sender.send(email.render_digest_email(alerts, self.tz, sender=self.cfg.from_,
                                                   to=self.cfg.to, heading=heading))
        return None

    def check(self) -> str:
        return self.sender.check()

    def describe(self) -> str:
        return (f"email to {', '.join(self.cfg.to)} via {self.cfg.smtp_host}:{self.cfg.smtp_port}"
                f" ({self.cfg.security})")


@dataclass
class ConsoleAdapter:
    name: str
    cfg: ConsoleChannel
    tz: ZoneInfo
    min_gap: float = 0.0
    threads: bool = False
    sender: console.ConsoleSender = field(default_factory=console.ConsoleSender)

    def send_alert(self, alert: Alert) -> str | None:
        self.sender.send(console.render_console(alert, self.tz, bold=self.sender.terminal))
        return None

    def send_reply(self, alert: Alert, thread_ts: str) -> str | None:
        return self.send_summary([alert])

    def send_summary(self, alerts: Sequence[Alert]) -> str | None:
        self.sender.send(console.render_console_summary(alerts, self.tz))
        return None

    def send_digest(self, alerts: Sequence[Alert], heading: str) -> str | None:
        self.sender.send(console.render_console_digest(alerts, self.tz, heading=heading))
        return None

    def check(self) -> str:
        return "standard output"

    def describe(self) -> str:
        return "console (standard output)"


def build_channel(name: str, cfg: ChannelConfig, tz: ZoneInfo) -> Channel:
    if isinstance(cfg, SlackChannel):
        return SlackAdapter(name, cfg, tz)
    if isinstance(cfg, EmailChannel):
        return EmailAdapter(name, cfg, tz)
    return ConsoleAdapter(name, cfg, tz)
