"""TOML + ${ENV} → validated, frozen config objects.

Every problem is reported as one line naming the file, the key and what is
wrong; all problems are collected before `ConfigError` is raised, so a user
fixes a config in one pass. Secrets (tokens, passwords, webhook URLs) are held
as `SecretStr` and never appear in an error or a summary.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from watcher.errors import ConfigError
from watcher.models import ArticleMode
from watcher.timeparse import parse_clock, parse_duration, parse_window

DEFAULT_PATHS = (Path("config/watcher.toml"), Path("/etc/watcher/watcher.toml"))
AUTO = "auto"   # interval = "auto": adaptive polling between min_interval and max_interval
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: str, *, minimum: float = 1.0) -> float:
    seconds = parse_duration(value)
    if seconds < minimum:
        raise ValueError(f"must be at least {minimum:g}s")
    return seconds


class WatcherSettings(_Model):
    state: str = "watcher.db"
    interval: str = "10m"
    timezone: str = "UTC"
    backfill: str = "24h"
    retention: str = "90d"
    story_window: str = "48h"
    health: tuple[str, ...] = ()
    flood_threshold: int = Field(default=5, ge=1)
    concurrency: int = Field(default=10, ge=1, le=200)
    per_host: int = Field(default=2, ge=1, le=50)
    timeout: str = "30s"
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    min_interval: str = "2m"     # bounds of interval = "auto"
    max_interval: str = "6h"
    parse_workers: int = Field(default=0, ge=0, le=64)   # 0: one fetch+parse worker per core
    lease: str = "2m"            # how long a daemon's claim on a feed or an alert lasts
    article: ArticleMode = "auto"   # fetch the page of new teaser items (README, "The whole story")

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: str) -> str:
        if value.strip() != AUTO:
            _duration(value)
        return value

    @field_validator("backfill", "retention", "story_window", "timeout", "min_interval",
                     "max_interval", "lease")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        _duration(value, minimum=0 if value.strip() in {"0", "0s"} else 1)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def interval_seconds(self) -> float:
        """The default interval; with "auto", where adaptive polling starts (10m, in bounds)."""
        if self.interval.strip() == AUTO:
            return self.auto_start_seconds
        return parse_duration(self.interval)

    @property
    def interval_bounds(self) -> tuple[float, float]:
        lo, hi = parse_duration(self.min_interval), parse_duration(self.max_interval)
        return (lo, max(lo, hi))

    @property
    def auto_start_seconds(self) -> float:
        lo, hi = self.interval_bounds
        return min(max(600.0, lo), hi)

    @property
    def backfill_seconds(self) -> float:
        return parse_duration(self.backfill)

    @property
    def retention_seconds(self) -> float:
        return parse_duration(self.retention)

    @property
    def story_window_seconds(self) -> float:
        return parse_duration(self.story_window)

    @property
    def lease_seconds(self) -> float:
        """A claim must outlive the slowest poll (two fetch timeouts plus parsing)."""
        return max(parse_duration(self.lease), 2 * self.timeout_seconds + 10)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


class FeedConfig(_Model):
    url: str
    name: str | None = None
    interval: str | None = None
    tags: tuple[str, ...] = ()
    article: ArticleMode | None = None   # default: [watcher] article

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: str | None) -> str | None:
        if value is not None and value.strip() != AUTO:
            _duration(value)
        return value

    @property
    def label(self) -> str:
        return self.name or self.url


class OpmlConfig(_Model):
    path: str


class ProfileConfig(_Model):
    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    channels: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    priority: Literal["normal", "urgent"] = "normal"


class ChannelBase(_Model):
    optional: bool = False
    mode: Literal["instant", "digest"] = "instant"
    digest: tuple[str, ...] = ()
    quiet: str | None = None
    on_update: Literal["ignore", "thread"] = "ignore"
    flood_threshold: int | None = Field(default=None, ge=1)

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for clock in value:
            parse_clock(clock)
        return value

    @field_validator("quiet")
    @classmethod
    def _check_quiet(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value


class SlackChannel(ChannelBase):
    type: Literal["slack"]
    channel: str | None = None
    token: SecretStr | None = None
    webhook_url: SecretStr | None = None
    api_url: str | None = None
    unfurl_links: bool = False


class EmailChannel(ChannelBase):
    type: Literal["email"]
    to: tuple[str, ...] = Field(min_length=1)
    from_: str = Field(alias="from")
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: str = "30s"


class ConsoleChannel(ChannelBase):
    type: Literal["console"]


class WebSettings(_Model):
    """The dashboard (`watcher web`, `watcher run --web`)."""

    listen: str = "127.0.0.1:8080"
    token: SecretStr | None = None

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        from watcher.metrics import parse_address

        parse_address(value, option="listen")
        return value

    @property
    def token_value(self) -> str | None:
        """The token, or None when unset or empty."""
        return (self.token.get_secret_value() if self.token else "") or None


ChannelConfig = SlackChannel | EmailChannel | ConsoleChannel
_AnyChannel = Annotated[ChannelConfig, Field(discriminator="type")]


class _Root(_Model):
    watcher: WatcherSettings = WatcherSettings()
    aliases: dict[str, tuple[str, ...]] = {}
    feeds: tuple[FeedConfig, ...] = ()
    opml: tuple[OpmlConfig, ...] = ()
    profiles: tuple[ProfileConfig, ...] = ()
    channels: dict[str, _AnyChannel] = {}
    web: WebSettings = WebSettings()


@dataclass(frozen=True)
class Config:
    """A validated config. `channels` holds only the channels that are switched on."""

    path: Path
    settings: WatcherSettings
    aliases: Mapping[str, tuple[str, ...]]
    feeds: tuple[FeedConfig, ...]
    profiles: tuple[ProfileConfig, ...]
    channels: Mapping[str, ChannelConfig]
    warnings: tuple[str, ...] = ()
    web: WebSettings = WebSettings()

    @property
    def state(self) -> str:
        """The state store: a postgresql:// URL, or an SQLite path resolved against the config."""
        state = self.settings.state
        if state.startswith(("postgresql://", "postgres://")) or state == ":memory:":
            return state
        path = Path(state).expanduser()
        return str(path if path.is_absolute() else self.path.parent / path)

    def feed_interval(self, feed: FeedConfig) -> float:
        """The feed's fixed interval, or where an adaptive ("auto") one starts."""
        value = (feed.interval or self.settings.interval).strip()
        return self.settings.auto_start_seconds if value == AUTO else parse_duration(value)

    def article_mode(self, feed: FeedConfig) -> ArticleMode:
        """The feed's `article` mode, else the [watcher] default."""
        return feed.article or self.settings.article

    def is_adaptive(self, feed: FeedConfig) -> bool:
        """interval = "auto" on the feed, or globally and the feed sets none."""
        return (feed.interval or self.settings.interval).strip() == AUTO


def find_config(explicit: str | None) -> Path:
    """The config path: -c, else $WATCHER_CONFIG, else the first default that exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("WATCHER_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_PATHS:
        if candidate.exists():
            return candidate
    return DEFAULT_PATHS[0]


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate a config file; raise ConfigError listing every problem."""
    # late import: configcheck imports this module
    from watcher.configcheck import raw_query_problems, validate

    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    problems: list[str] = []
    switched_off: dict[str, tuple[str, ...]] = {}
    unset: set[str] = set()   # channels with a variable unset: their other checks would mislead
    raw = _substitute_all(raw, env, path, problems, switched_off, unset)
    try:
        root = _Root.model_validate(raw)
    except ValidationError as exc:
        problems.extend(f"{path}: {_loc(err['loc'])}: {_message(err)}" for err in exc.errors())
        problems.extend(raw_query_problems(path, raw))   # every problem at once
        raise ConfigError(problems) from None
    return validate(path, root, switched_off, problems, unset)


def _substitute_all(raw: dict[str, Any], env: Mapping[str, str], path: Path,
                    problems: list[str], switched_off: dict[str, tuple[str, ...]],
                    unset: set[str]) -> dict[str, Any]:
    """Replace ${VAR} everywhere; an optional channel missing a variable is switched off
    (`switched_off` gets its name and the variables it misses); a channel missing one
    otherwise is a problem, and goes into `unset`."""
    channels = raw.get("channels")
    if isinstance(channels, dict):
        kept: dict[str, Any] = {}
        for name, body in channels.items():
            missing: list[str] = []
            value = _substitute(body, env, missing)
            optional = isinstance(body, dict) and body.get("optional") is True
            if missing and optional:
                switched_off[name] = tuple(sorted(set(missing)))
                continue
            for var in missing:
                problems.append(f"{path}: channels.{name}: environment variable {var} is not set")
                unset.add(name)
            kept[name] = value
        raw = {**raw, "channels": kept}
    missing_rest: list[str] = []
    rest = {k: _substitute(v, env, missing_rest) for k, v in raw.items() if k != "channels"}
    for var in missing_rest:
        problems.append(f"{path}: environment variable {var} is not set")
    if "channels" in raw:
        rest["channels"] = raw["channels"]
    return rest


def _substitute(value: Any, env: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, fallback = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if fallback is not None:
                return fallback
            missing.append(name)
            return ""
        return _ENV.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, env, missing) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, env, missing) for k, v in value.items()}
    return value


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif i == 2 and loc[0] == "channels" and part in {"slack", "email", "console"}:
            continue  # pydantic's union tag, not a key the user wrote
        elif part == "from_":
            parts.append(".from")
        else:
            parts.append(f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def _message(err: Any) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return 'type must be "slack", "email" or "console"'
    return msg.removeprefix("Value error, ")
