"""What the pipeline needs of each parsed item, computed once, where the item was parsed.

An item's plain texts, durable key, canonical link and content hash, and, for an item
whose matches can matter (published inside the `MatchWindow` its request gave), what the
profiles found in it and, when some matched, its story print. The worker processes
(watcher/fetchpool.py) compute these `ItemFacts` beside parsing, on every core, so the
daemon's process only reads the store, decides and writes (issue 14: its CPU per item
is the round's critical path). Pure: no I/O, no clock.

`Prepared.of` turns an item into what the pipeline decides on; it uses the item's facts,
or computes them itself for an item that has none (a test handing parsed items straight
to `Pipeline.record`). An item whose linked page was fetched since keeps its facts' texts
and keys but not their match run: its article joins what is matched, and may give it
another identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from watcher.decisions import Candidate, MatchWindow
from watcher.dedup import canonical_url, content_hash, item_key
from watcher.models import Item, ParsedFeed
from watcher.query import Document, Matcher
from watcher.query.matcher import MatchRun
from watcher.storyindex import StoryPrint, story_print
from watcher.text import plain_text


@dataclass(frozen=True)
class Profiles:
    """The config's queries and aliases, as a worker process receives them to build its
    own matcher (a compiled matcher does not cross processes)."""

    queries: dict[str, str]
    aliases: dict[str, list[str]]

    def matcher(self) -> Matcher:
        return Matcher(self.queries, self.aliases)


@dataclass(frozen=True)
class ItemFacts:
    """An item's texts and identities, and what matching it found (if it was matched)."""

    key: str
    link_url: str | None          # the canonical form of its link
    content_hash: str
    title: str                    # plain text
    summary: str                  # plain text
    content: str                  # plain text
    published: float | None       # epoch seconds
    run: MatchRun | None = None   # every profile that matched, before feed scoping
    story_print: StoryPrint | None = None   # when some profile matched


def facts_of(item: Item, matcher: Matcher | None = None,
             window: MatchWindow | None = None) -> ItemFacts:
    """The facts of one item; matched (and printed, if it matches) when a matcher is given
    and the window covers it."""
    summary, content, title = _plain(item.summary), _plain(item.content), _plain(item.title)
    text = f"{summary}\n{content}"
    published = item.published.timestamp() if item.published else None
    run = prt = None
    if matcher is not None and window is not None and window.covers(published):
        run = matcher.run(document(item))
        prt = story_print(title, summary) if run.matches else None
    return ItemFacts(key=item_key(item.guid, item.link, title, text),
                     link_url=canonical_url(item.link) if item.link else None,
                     content_hash=content_hash(title, text), title=title, summary=summary,
                     content=content, published=published, run=run, story_print=prt)


def _plain(raw: str) -> str:
    """plain_text, returning `raw` itself when it is plain already: the one string then
    crosses from the worker once (pickle sends an object it has sent as a reference)."""
    plain = plain_text(raw)
    return raw if plain == raw else plain


def with_facts(parsed: ParsedFeed, matcher: Matcher | None,
               window: MatchWindow | None) -> ParsedFeed:
    """A parsed document whose items carry their facts."""
    return replace(parsed, items=tuple(replace(item, facts=facts_of(item, matcher, window))
                                       for item in parsed.items))


def document(item: Item) -> Document:
    """The item as the matcher reads it (its article's text included, if it has one)."""
    article = item.article
    return Document(title=item.title, summary=item.summary, content=item.content,
                    author=item.author, categories=item.categories, feed=item.feed_name,
                    article=article.text if article else "")


@dataclass
class Prepared:
    """An item with its facts and its candidate for watcher.decisions."""

    item: Item
    facts: ItemFacts
    candidate: Candidate

    @property
    def summary(self) -> str:
        return self.facts.summary

    @property
    def content(self) -> str:
        return self.facts.content

    @property
    def run(self) -> MatchRun | None:
        """What matching found where the item was parsed; None if it was not matched."""
        return self.facts.run

    @cached_property
    def doc(self) -> Document:
        return document(self.item)

    @classmethod
    def of(cls, item: Item) -> Prepared:
        facts = item.facts or facts_of(item)
        if item.article is not None and facts.run is not None:
            # the article's text changes what matches (its texts and keys stay the feed's)
            facts = replace(facts, run=None, story_print=None)
        # the page's own canonical URL (same site, not its home page) is the item's identity
        article = item.article
        page = canonical_url(article.identity) if article and article.identity else None
        link = facts.link_url
        return cls(item, facts, Candidate(
            key=facts.key, canonical_url=page or link,
            other_url=link if page and page != link else None,
            content_hash=facts.content_hash, title=facts.title, summary=facts.summary,
            published=facts.published))
