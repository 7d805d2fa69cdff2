"""Checks across sections of a parsed config: references, channel needs, queries, OPML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any
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


def validate(path: Path, root: _Root, switched_off: Mapping[str, Sequence[str]],
             problems: list[str] | None = None, unset: Set[str] = frozenset()) -> Config:
    """The config, or ConfigError listing every problem (`problems`: found before this;
    `unset`: channels missing an environment variable, already reported). `switched_off`
    names the optional channels left off (each with the environment variables it misses):
    references to them are no error."""
    warnings = [f"channel {name!r} is off: environment variable {', '.join(missing)} not set"
                for name, missing in switched_off.items()]
    off = set(switched_off)
    problems = list(problems or ())
    feeds = list(root.feeds)
    for i, opml in enumerate(root.opml):
        try:
            feeds.extend(read_opml(path.parent / opml.path))
        except ConfigError as exc:
            problems.extend(f"{path}: opml[{i}].path: {p}" for p in exc.problems)
    feeds = _unique_feeds(feeds, path, problems)
    channels = dict(root.channels)
    for name, channel in channels.items():
        if name in unset:
            continue
        problems.extend(f"{path}: channels.{name}: {p}" for p in _channel_problems(channel))
    _check_profiles(path, root, feeds, channels, problems, off)
    for name in root.watcher.health:
        if name not in channels and name not in off:
            problems.append(f"{path}: watcher.health: unknown channel {name!r}")
    profiles = [(p.name, p.query) for p in root.profiles]
    bad_queries = query_problems(path, profiles, dict(root.aliases))
    problems.extend(bad_queries)
    warnings.extend(operator_warnings(path, profiles))
    if not bad_queries:
        warnings.extend(regex_warnings(path, profiles, dict(root.aliases)))
    if problems:
        raise ConfigError(problems)
    return Config(path=path, settings=root.watcher, aliases=dict(root.aliases), feeds=tuple(feeds),
                  profiles=root.profiles, channels=channels, warnings=tuple(warnings),
                  web=root.web)


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
                    off: set[str]) -> None:
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


def query_problems(path: Path, profiles: Sequence[tuple[str, str]],
                   aliases: Mapping[str, Sequence[str]]) -> list[str]:
    """Every query that does not compile (each named by its profile, with a caret)."""
    from watcher.query import Matcher

    try:
        Matcher(dict(profiles), aliases)
    except ConfigError as exc:
        return [f"{path}: profiles: {p}" for p in exc.problems]
    return []


def raw_query_problems(path: Path, raw: Mapping[str, Any]) -> list[str]:
    """The query problems of a config that failed validation elsewhere, so that a bad
    query is reported with the other problems, not after they are fixed. Profiles without
    a string name and query are left to the validator's messages; with malformed
    aliases, queries that use aliases are left out."""
    aliases = raw.get("aliases", {})
    ok_aliases = isinstance(aliases, dict) and all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in aliases.values())
    profiles = [(p["name"], p["query"]) for p in raw.get("profiles", [])
                if isinstance(p, dict) and isinstance(p.get("name"), str)
                and isinstance(p.get("query"), str) and p["query"]
                and (ok_aliases or "@" not in p["query"])]
    return query_problems(path, profiles, aliases if ok_aliases else {})


_OPERATORS = {"or": "OR", "and": "AND", "not": "NOT"}


def operator_warnings(path: Path, profiles: Sequence[tuple[str, str]]) -> list[str]:
    """Lower-case or/and/not/near/n in a query are words, not operators: say so."""
    from watcher.query.lexer import lex

    out: list[str] = []
    for i, (name, query) in enumerate(profiles):
        try:
            lexemes = lex(query)
        except ConfigError:
            continue   # reported as a problem
        for lexeme in lexemes:
            word = lexeme.value
            upper = _OPERATORS.get(word.lower())
            if upper is None and word.lower().startswith("near/"):
                upper = "NEAR/" + word[5:]
            if lexeme.kind == "WORD" and upper is not None:
                out.append(f"{path}: profiles[{i}] ({name}).query: {word!r} at column "
                           f"{lexeme.pos + 1} is matched as a word; did you mean {upper}? "
                           f'(operators are upper case; write "{word}" in quotes to '
                           "keep the word)")
    return out


def regex_warnings(path: Path, profiles: Sequence[tuple[str, str]],
                   aliases: Mapping[str, Sequence[str]]) -> list[str]:
    """A `/regex/` with a nested quantifier (`(a+)+`) can backtrack for ever: say so, and
    what the guard does about it (query/guard.py). The queries are known to compile."""
    from watcher.query import Matcher
    from watcher.query.guard import BOUND

    index = {name: i for i, (name, _) in enumerate(profiles)}
    return [f"{path}: profiles[{index[name]}] ({name}).query: regex {pattern} repeats a"
            " part that itself repeats (a nested quantifier): it can backtrack for ever on"
            f" some text; it gets {BOUND:g}s per item, then counts as not matching it"
            for name, pattern in Matcher(dict(profiles), aliases).nested_quantifiers()]


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
