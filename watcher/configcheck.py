"""Checks across sections of a parsed config: references, channel needs, queries, OPML."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from watcher.config import (
    ChannelConfig,
    Config,
    EmailChannel,
    FeedConfig,
    SlackChannel,
    _Root,
)
from watcher.errors import ConfigError


def validate(path: Path, root: _Root, warnings: list[str]) -> Config:
    problems: list[str] = []
    feeds = list(root.feeds)
    for i, opml in enumerate(root.opml):
        try:
            feeds.extend(read_opml(path.parent / opml.path))
        except ConfigError as exc:
            problems.extend(f"{path}: opml[{i}].path: {p}" for p in exc.problems)
    feeds = _unique_feeds(feeds, path, problems)
    channels = dict(root.channels)
    for name, channel in channels.items():
        problems.extend(f"{path}: channels.{name}: {p}" for p in _channel_problems(channel))
    _check_profiles(path, root, feeds, channels, problems, warnings)
    for name in root.watcher.health:
        if name not in channels and name not in _switched_off(warnings):
            problems.append(f"{path}: watcher.health: unknown channel {name!r}")
    if not problems:
        problems.extend(_query_problems(path, root, warnings))
    if problems:
        raise ConfigError(problems)
    return Config(path=path, settings=root.watcher, aliases=dict(root.aliases), feeds=tuple(feeds),
                  profiles=root.profiles, channels=channels, warnings=tuple(warnings))


def _switched_off(warnings: list[str]) -> set[str]:
    return {w.split("'")[1] for w in warnings if w.startswith("channel '")}


def _unique_feeds(feeds: list[FeedConfig], path: Path, problems: list[str]) -> list[FeedConfig]:
    seen: dict[str, int] = {}
    names: dict[str, int] = {}
    out: list[FeedConfig] = []
    for i, feed in enumerate(feeds):
        if feed.url in seen:
            continue  # the same URL listed twice (e.g. in OPML and in the file) is polled once
        seen[feed.url] = i
        if feed.name:
            if feed.name in names:
                problems.append(f"{path}: feeds[{i}].name: {feed.name!r} is used by another feed")
            names[feed.name] = i
        out.append(feed)
    return out


def _channel_problems(channel: ChannelConfig) -> list[str]:
    problems: list[str] = []
    if channel.mode == "digest" and not channel.digest:
        problems.append('mode = "digest" needs digest = ["HH:MM", ...]')
    if isinstance(channel, SlackChannel):
        token = channel.token.get_secret_value() if channel.token else ""
        hook = channel.webhook_url.get_secret_value() if channel.webhook_url else ""
        if not token and not hook:
            problems.append("a Slack channel needs token or webhook_url")
        if token and not channel.channel:
            problems.append("channel is required with a bot token (name or ID, e.g. \"#alerts\")")
        if hook and not hook.startswith(("https://", "http://")):
            problems.append("webhook_url is not an http(s) URL")
    if isinstance(channel, EmailChannel):
        for addr in (*channel.to, channel.from_):
            if "@" not in addr or any(c in addr for c in "\r\n<>"):
                problems.append(f"not an email address: {addr!r}")
    return problems


def _check_profiles(path: Path, root: _Root, feeds: list[FeedConfig],
                    channels: dict[str, ChannelConfig], problems: list[str],
                    warnings: list[str]) -> None:
    off = _switched_off(warnings)
    selectors = {f.name for f in feeds if f.name} | {f.url for f in feeds}
    selectors |= {tag for f in feeds for tag in f.tags}
    names: set[str] = set()
    for i, profile in enumerate(root.profiles):
        where = f"{path}: profiles[{i}] ({profile.name})"
        if profile.name in names:
            problems.append(f"{where}.name: duplicate profile name")
        names.add(profile.name)
        for name in profile.channels:
            if name not in channels and name not in off:
                problems.append(f"{where}.channels: unknown channel {name!r}")
        for sel in profile.feeds:
            if sel not in selectors:
                problems.append(f"{where}.feeds: {sel!r} is no feed name, URL or tag")


def _query_problems(path: Path, root: _Root, warnings: list[str]) -> list[str]:
    from watcher.query import Matcher
    from watcher.query.guard import BOUND

    try:
        matcher = Matcher({p.name: p.query for p in root.profiles}, dict(root.aliases))
    except ConfigError as exc:
        return [f"{path}: profiles: {p}" for p in exc.problems]
    index = {p.name: i for i, p in enumerate(root.profiles)}
    for name, pattern in matcher.nested_quantifiers():
        warnings.append(f"{path}: profiles[{index[name]}] ({name}).query: regex {pattern}"
                        " repeats a part that itself repeats (a nested quantifier): it can"
                        f" backtrack for ever on some text; it gets {BOUND:g}s per item, then"
                        " counts as not matching it")
    return []


def read_opml(path: Path) -> list[FeedConfig]:
    """Feeds of an OPML subscription list (every outline with an xmlUrl)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if b"<!ENTITY" in data[:4096]:
        raise ConfigError(f"{path}: declares XML entities (refused)")
    try:
        tree = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ConfigError(f"{path}: not valid OPML: {exc}") from None
    feeds: list[FeedConfig] = []
    for outline in tree.iter("outline"):
        url = outline.get("xmlUrl")
        if not url or not url.startswith(("http://", "https://")):
            continue
        category = outline.get("category") or ""
        tags = tuple(t.strip().strip("/") for t in category.split(",") if t.strip().strip("/"))
        feeds.append(FeedConfig(url=url, name=outline.get("title") or outline.get("text") or None,
                                tags=tags))
    return feeds
