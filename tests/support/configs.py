"""Configs for the real `watcher` command, pointed at the local servers.

`write_config(watcher, feeds=..., profiles=..., channels=..., **settings)` writes the file;
the section builders return TOML text to pass to it:

    write_config(watcher, feeds=[url], profiles=[profile("subs", "submarine")],
                 channels=[slack_channel(slack_server)], interval="1s")

Every value goes through `toml_value`, so feed text, queries and paths need no quoting by
hand. `extra` (raw TOML) is appended where a test needs something unusual.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.servers.slack import SlackServer
from tests.servers.smtp import SmtpServer
from tests.support.runner import Watcher

TOKEN = "xoxb-test-token"   # the slack_server fixture's bot token


def toml_value(value: Any) -> str:
    """A TOML value: strings (JSON escapes are TOML escapes), numbers, booleans, arrays and
    inline tables."""
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def table(header: str, values: Mapping[str, Any], extra: str = "") -> str:
    """`[header]` (or `[[header]]` when given so) with its keys; None values are left out."""
    lines = [header if header.startswith("[") else f"[{header}]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in values.items()
              if value is not None]
    return "\n".join(lines) + "\n" + (extra.strip() + "\n" if extra.strip() else "")


def feed(url: str, **options: Any) -> str:
    return table("[[feeds]]", {"url": url, **options})


def profile(name: str, query: str, **options: Any) -> str:
    return table("[[profiles]]", {"name": name, "query": query, **options})


def slack_channel(slack: SlackServer | None, channel: str | None = "#alerts", *,
                  name: str = "slack",
                  token: str | None = TOKEN, extra: str = "", **options: Any) -> str:
    """A Slack channel on the local Slack API server (bot token unless token=None)."""
    api_url = slack.api_url if slack is not None else None
    return table(f"channels.{name}", {"type": "slack", "token": token, "channel": channel,
                                      "api_url": api_url, **options}, extra)


def email_channel(smtp: SmtpServer, to: Sequence[str] = ("a@example.org",), *,
                  name: str = "mail", sender: str = "w@example.org", extra: str = "",
                  **options: Any) -> str:
    """An email channel on the local SMTP server, without TLS."""
    return table(f"channels.{name}", {"type": "email", "to": list(to), "from": sender,
                                      "smtp_host": smtp.host, "smtp_port": smtp.port,
                                      "security": "none", **options}, extra)


def console_channel(name: str = "console", **options: Any) -> str:
    return table(f"channels.{name}", {"type": "console", **options})


def config_text(*, feeds: Iterable[str] = (), profiles: Iterable[str] = (),
                channels: Iterable[str] = (), aliases: Mapping[str, Any] | None = None,
                extra: str = "", **settings: Any) -> str:
    """A whole config: `[watcher]` from `settings`, then aliases, feeds (URLs, or sections
    from `feed`), profiles and channels."""
    parts = [table("watcher", settings)]
    if aliases:
        parts.append(table("aliases", aliases))
    parts += [f if f.lstrip().startswith("[") else feed(f) for f in feeds]
    parts += [*profiles, *channels]
    return "\n".join(parts) + ("\n" + extra.strip() + "\n" if extra.strip() else "")


def write_config(watcher: Watcher, **sections: Any) -> Path:
    """Write `config_text(**sections)` as the watcher's config; `state` defaults to its
    store."""
    sections.setdefault("state", watcher.state)
    return watcher.write(config_text(**sections))
