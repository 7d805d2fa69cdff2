"""What to do with each item of a document: the README's Duplicates rules as one pure step.

The pipeline reads what the store knows of a document's items (`Knowledge`), calls
`decide`, and applies the returned `Decision`s in its one transaction. Nothing here reads
the store or the clock (`now` is in `Rules`), so every rule is tested in memory
(tests/test_decisions.py). The rules, in the order they are tried for each item:

1. a key already decided in this document: ignored ("repeated"; the first copy counts);
2. a key tombstoned by pruning: ignored, never alerted again ("tombstone");
3. a key stored with the same content: ignored ("unchanged");
4. a key stored with other content: an edit. It alerts, as an update, only the profiles
   it did not match before ("newly_matching"); otherwise, when its title changed, its
   story's channels with `on_update = "thread"` get an edit reply ("edited_title");
   otherwise it is recorded silently ("edited");
5. a new key whose canonical URL or content is stored under another key (here or in any
   feed, or earlier in this document): recorded silently with that item's profiles and
   story ("known_elsewhere");
6. a new item older than `backfill` (or undated) on a feed's first poll, or older than
   `retention`: recorded silently ("too_old");
7. a new item that matches no profile: recorded ("no_match");
8. a new matching item near-identical to a recent story's item joins it: "also reported
   by" replies to the channels the story reached, a first alert to the others
   ("joins_story"); else it starts a story and alerts every channel of its routes
   ("new_story").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from watcher.dedup import DEFAULT_THRESHOLD, StorySignature, find_story
from watcher.models import Match
from watcher.routing import Route
from watcher.storyindex import StoryPrint, story_print

Action = Literal["ignore", "record", "alert"]
Reason = Literal["repeated", "tombstone", "unchanged", "newly_matching", "edited_title",
                 "edited", "known_elsewhere", "too_old", "no_match", "joins_story",
                 "new_story"]
AlertKind = Literal["new", "also", "update", "edit"]

# Stories started in this document have no id yet: they are numbered from here, and the
# pipeline maps each to the id the store gives it (see `is_new_story`).
NEW_STORY_BASE = 1 << 62


def is_new_story(story_id: int | None) -> bool:
    return story_id is not None and story_id >= NEW_STORY_BASE


@dataclass(frozen=True)
class Candidate:
    """One item of the document, as the pipeline prepared it (plain texts, keys)."""

    key: str
    canonical_url: str | None     # its identity: the article page's own, else its link's
    content_hash: str
    title: str                    # plain text
    summary: str                  # plain text
    published: float | None       # epoch seconds
    matches: tuple[Match, ...] = ()   # after feed scoping; filled only where `needs_matching`
    story_print: StoryPrint | None = None   # computed once an item matched (the pipeline)
    other_url: str | None = None  # its link's canonical URL, when the page names another

    @property
    def print(self) -> StoryPrint:
        return self.story_print or story_print(self.title, self.summary)

    @property
    def identity(self) -> str:
        """What the store's unique (channel, dedupe key) holds once for a new alert."""
        return f"url:{self.canonical_url}" if self.canonical_url else f"hash:{self.content_hash}"


@dataclass(frozen=True)
class Known:
    """An item the store holds (under this key, or under the same URL or content)."""

    id: int
    content_hash: str
    title: str
    matched: tuple[str, ...]
    story_id: int | None


@dataclass(frozen=True)
class Knowledge:
    """What the store knows of a document's items, read before deciding."""

    stored: Mapping[str, Known] = field(default_factory=dict)       # this feed, by key
    elsewhere: Mapping[str, Known] = field(default_factory=dict)    # new keys: same URL/content
    tombstoned: frozenset[str] = frozenset()                        # keys pruned long ago
    stories: Sequence[tuple[int, StorySignature]] = ()   # items of candidate stories
    story_channels: Mapping[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """The config's part in the decisions, and the time."""

    now: float
    first_sight: bool             # the feed's first successful poll
    backfill: float               # seconds
    retention: float              # seconds
    thread_edits: frozenset[str] = frozenset()   # channels with on_update = "thread"
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class PlannedAlert:
    channel: str
    kind: AlertKind
    matches: tuple[Match, ...]
    urgent: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    candidate: Candidate
    existing: Known | None = None         # the stored item an edit changes
    matches: tuple[Match, ...] = ()       # every profile that matches it now
    matched: tuple[str, ...] = ()         # the profiles the stored item carries after this
    story_id: int | None = None           # its story (see is_new_story)
    story_print: StoryPrint | None = None   # recorded with the item when it is in a story
    starts_story: bool = False            # story_id is a story this decision starts
    alerts: tuple[PlannedAlert, ...] = ()

    @property
    def is_new(self) -> bool:
        """A new item (stored now), not an edit or a known one."""
        return self.existing is None and self.action != "ignore"


RouteFunc = Callable[[Sequence[Match]], Sequence[Route]]


def needs_matching(c: Candidate, knowledge: Knowledge, rules: Rules) -> bool:
    """Whether an item's matches can make a difference: an edit, or a new item that is
    neither known elsewhere nor too old (the pipeline matches only these)."""
    if c.key in knowledge.tombstoned:
        return False
    existing = knowledge.stored.get(c.key)
    if existing is not None:
        return existing.content_hash != c.content_hash
    return c.key not in knowledge.elsewhere and not too_old(c.published, rules)


@dataclass(frozen=True)
class MatchWindow:
    """The items worth matching where they are parsed: published since `since` (epoch
    seconds), and undated ones when `undated` (`match_window`)."""

    since: float
    undated: bool

    def covers(self, published: float | None) -> bool:
        return self.undated if published is None else published >= self.since


def match_window(rules: Rules) -> MatchWindow:
    """The items that are not `too_old`: the ones worth matching before deciding."""
    if rules.first_sight:
        return MatchWindow(rules.now - min(rules.backfill, rules.retention), undated=False)
    return MatchWindow(rules.now - rules.retention, undated=True)


def too_old(published: float | None, rules: Rules) -> bool:
    """Older than the backfill (or undated) on a first poll, or older than the retention."""
    if rules.first_sight and (published is None or published < rules.now - rules.backfill):
        return True
    return published is not None and published < rules.now - rules.retention


def decide(candidates: Sequence[Candidate], knowledge: Knowledge, rules: Rules,
           routes: RouteFunc) -> list[Decision]:
    """One decision per candidate, in document order. `routes` groups matches by channel
    (watcher.routing.Router.routes)."""
    return _Deciding(knowledge, rules, routes).run(candidates)


class _Deciding:
    """One document's decisions, remembering what earlier items of it decided."""

    def __init__(self, knowledge: Knowledge, rules: Rules, routes: RouteFunc) -> None:
        self.k, self.rules, self.routes = knowledge, rules, routes
        self.keys: set[str] = set()
        self.by_identity: dict[str, Decision] = {}    # canonical URL / content → decision
        self.stories = list(knowledge.stories)
        self.channels = {sid: set(chs) for sid, chs in knowledge.story_channels.items()}
        self.started = 0

    def run(self, candidates: Sequence[Candidate]) -> list[Decision]:
        out = []
        for c in candidates:
            decision = self.one(c)
            self.keys.add(c.key)
            if decision.is_new:
                for ident in _identities(c):
                    self.by_identity.setdefault(ident, decision)
            for alert in decision.alerts:
                if alert.kind in ("new", "update") and decision.story_id is not None:
                    self.channels.setdefault(decision.story_id, set()).add(alert.channel)
            out.append(decision)
        return out

    def one(self, c: Candidate) -> Decision:
        if c.key in self.keys:
            return Decision("ignore", "repeated", c)
        if c.key in self.k.tombstoned:
            return Decision("ignore", "tombstone", c)
        existing = self.k.stored.get(c.key)
        if existing is not None:
            if existing.content_hash == c.content_hash:
                return Decision("ignore", "unchanged", c, existing)
            return self.edited(c, existing)
        known = self.known_elsewhere(c)
        if known is not None:
            return Decision("record", "known_elsewhere", c, matched=known[0], story_id=known[1])
        if too_old(c.published, self.rules):
            return Decision("record", "too_old", c)
        matches = c.matches
        if not matches:
            return Decision("record", "no_match", c)
        return self.story(c, matches)

    def known_elsewhere(self, c: Candidate) -> tuple[tuple[str, ...], int | None] | None:
        """(profiles, story) of an item with the same URL or content, stored or decided."""
        for ident in _identities(c):
            earlier = self.by_identity.get(ident)
            if earlier is not None:
                return earlier.matched, earlier.story_id
        known = self.k.elsewhere.get(c.key)
        return None if known is None else (known.matched, known.story_id)

    def story(self, c: Candidate, matches: tuple[Match, ...]) -> Decision:
        prt = c.print
        sig = prt.signature
        profiles = tuple(m.profile for m in matches)
        story_id = find_story(sig, self.stories, self.rules.threshold)
        routes = self.routes(matches)
        if story_id is None:
            story_id = self.new_story()
            alerts = tuple(PlannedAlert(r.channel, "new", r.matches, r.urgent) for r in routes)
            self.stories.append((story_id, sig))
            return Decision("alert", "new_story", c, matches=matches, matched=profiles,
                            story_id=story_id, story_print=prt, starts_story=True,
                            alerts=alerts)
        self.stories.append((story_id, sig))
        reached = self.channels.get(story_id, set())
        also = [PlannedAlert(ch, "also", matches) for ch in sorted(reached)]
        first = [PlannedAlert(r.channel, "new", r.matches, r.urgent)
                 for r in routes if r.channel not in reached]
        return Decision("alert", "joins_story", c, matches=matches, matched=profiles,
                        story_id=story_id, story_print=prt, alerts=tuple(also + first))

    def edited(self, c: Candidate, existing: Known) -> Decision:
        matches = c.matches
        matched = tuple(dict.fromkeys([*existing.matched, *(m.profile for m in matches)]))
        fresh = [m for m in matches if m.profile not in existing.matched]
        story_id = existing.story_id
        if fresh:
            starts = story_id is None
            prt = c.print if starts else None
            if starts:
                story_id = self.new_story()
            alerts = tuple(PlannedAlert(r.channel, "update", r.matches, r.urgent)
                           for r in self.routes(fresh))
            return Decision("alert", "newly_matching", c, existing, matches, matched, story_id,
                            prt, starts, alerts)
        if c.title != existing.title and story_id is not None:
            alerts = tuple(PlannedAlert(ch, "edit", matches)
                           for ch in sorted(self.channels.get(story_id, set()))
                           if ch in self.rules.thread_edits)
            if alerts:
                return Decision("alert", "edited_title", c, existing, matches, matched,
                                story_id, alerts=alerts)
        return Decision("record", "edited", c, existing, matches, matched, story_id)

    def new_story(self) -> int:
        self.started += 1
        return NEW_STORY_BASE + self.started - 1


def _identities(c: Candidate) -> list[str]:
    urls = [u for u in (c.canonical_url, c.other_url) if u]
    return [f"url:{u}" for u in urls] + [f"hash:{c.content_hash}"]
