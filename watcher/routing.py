"""Which profiles read a feed, and which channels hear about a set of matches (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watcher.config import Config, FeedConfig, ProfileConfig
from watcher.models import Match
from watcher.query import Matcher


@dataclass(frozen=True)
class Route:
    """One channel's share of an item: the profiles that matched and route to it."""

    channel: str
    matches: tuple[Match, ...]
    urgent: bool

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(m.profile for m in self.matches)


class Router:
    """Config compiled for the pipeline: one matcher, profile scopes and channel routes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.matcher = Matcher({p.name: p.query for p in config.profiles}, dict(config.aliases))
        self.profiles: dict[str, ProfileConfig] = {p.name: p for p in config.profiles}

    def reads(self, profile: ProfileConfig, feed: FeedConfig) -> bool:
        """Whether a profile looks at a feed (no `feeds` list: every feed)."""
        if not profile.feeds:
            return True
        names = {feed.url, *feed.tags}
        if feed.name:
            names.add(feed.name)
        return any(sel in names for sel in profile.feeds)

    def scoped(self, matches: Sequence[Match], feed: FeedConfig) -> list[Match]:
        return [m for m in matches if self.reads(self.profiles[m.profile], feed)]

    def channels_of(self, profile: ProfileConfig) -> tuple[str, ...]:
        """A profile's channels that are on (none listed: every channel but health-only)."""
        on = self.config.channels
        if profile.channels:
            return tuple(c for c in profile.channels if c in on)
        health_only = set(self.config.settings.health)
        return tuple(c for c in on if c not in health_only)

    def routes(self, matches: Sequence[Match]) -> list[Route]:
        """Group matches by channel: one route (one alert) per channel, naming every profile."""
        by_channel: dict[str, list[Match]] = {}
        for match in matches:
            for channel in self.channels_of(self.profiles[match.profile]):
                by_channel.setdefault(channel, []).append(match)
        return [Route(channel, tuple(ms),
                      any(self.profiles[m.profile].priority == "urgent" for m in ms))
                for channel, ms in by_channel.items()]
