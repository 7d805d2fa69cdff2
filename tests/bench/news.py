"""Synthetic news feeds for the polling benchmark: what the default config's users read.

About one item in six is on the seed topics of config/watcher.toml's profiles (Turkey's
S-400s, the TF-X/KAAN engine, Turkish submarines), its title and teaser built from those
profiles' terms. Topic items are wire stories syndicated across feeds: each story appears
in several feeds, lightly edited (a few words changed, retitled, or its teaser trimmed), as
outlets republish agency copy. Other items are unrelated news. Words come from a Zipf-like
vocabulary of made-up words, so unrelated texts share common words and pairs as real ones
do, and nothing matches a profile by accident. Items are published over the last three
days, so the default `backfill = "24h"` records some silently and alerts the others.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

TOPIC_SHARE = 6          # one item in six is on a seed topic
COPIES_PER_STORY = 6     # feeds carrying each wire story, on average
_SYLLABLES = ("ka", "lo", "mer", "tin", "vas", "du", "ri", "pel", "sor", "ne", "bal", "gu",
              "fe", "zan", "mi", "tok", "ra", "wel")
VOCABULARY = ["".join(p) for p in itertools.product(_SYLLABLES, repeat=3)][:4000]
_CUM_WEIGHTS = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(VOCABULARY))))

# (title pieces, teaser pieces) per seed profile, from the default profiles' terms
TOPICS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("Turkey", "S-400"), ("Turkish", "S-400 air defence systems", "Ankara", "Triumf")),
    (("KAAN", "engine"), ("TF-X", "engine", "TEI", "turbofan", "National Combat Aircraft")),
    (("Turkish", "submarine"), ("Turkey", "Reis-class submarine", "navy", "Type 214")),
]


def words(rng: random.Random, n: int) -> list[str]:
    return rng.choices(VOCABULARY, cum_weights=_CUM_WEIGHTS, k=n)


def _with_terms(rng: random.Random, text: list[str], terms: tuple[str, ...],
                every: int) -> list[str]:
    """`text` with the topic's terms put in about every `every` words (so NEAR/15 holds)."""
    out = list(text)
    for at in range(0, len(out), every):
        out.insert(at + rng.randrange(min(every, len(out) - at) or 1), rng.choice(terms))
    return out


class Newsroom:
    """Makes the items of N feeds, deterministic for a seed."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.stories: list[dict[str, Any]] = []

    def _story(self) -> dict[str, Any]:
        """A wire story: a new one, or (mostly) one other feeds carry already."""
        rng = self.rng
        if self.stories and rng.random() > 1 / COPIES_PER_STORY:
            return rng.choice(self.stories)
        title_terms, text_terms = rng.choice(TOPICS)
        title = words(rng, 7)
        title.insert(rng.randrange(3), title_terms[0])
        title.insert(rng.randrange(4, 8), title_terms[1])
        text = _with_terms(rng, words(rng, rng.randint(50, 130)), text_terms, 12)
        story = {"title": title, "text": text, "number": len(self.stories),
                 "published": self.now - timedelta(hours=rng.uniform(0, 72))}
        self.stories.append(story)
        return story

    def item(self, n: int, fresh: bool = False) -> dict[str, Any]:
        """Item number `n` (unique across feeds); `fresh`: published now."""
        return self.topic_item(n, fresh) if self.rng.randrange(TOPIC_SHARE) == 0 else (
            self._item(n, fresh, *self._unrelated()))

    def topic_item(self, n: int, fresh: bool = False) -> dict[str, Any]:
        """A copy of a wire story on a seed topic, as one outlet edits it."""
        rng = self.rng
        story = self._story()
        title, text = list(story["title"]), list(story["text"])
        for _ in range(rng.randint(0, 3)):               # an outlet's light edits
            text[rng.randrange(len(text))] = words(rng, 1)[0]
        if rng.random() < 0.3:                           # retitled
            title[rng.randrange(len(title))] = words(rng, 1)[0]
        if rng.random() < 0.3:                           # a teaser of the story
            text = text[:rng.randint(20, len(text))]
        item = self._item(n, fresh, title, text,
                          story["published"] + timedelta(minutes=rng.uniform(0, 180)))
        item["story"] = story["number"]   # the label: which wire story this copies
        return item

    def _unrelated(self) -> tuple[list[str], list[str], datetime]:
        rng = self.rng
        return (words(rng, rng.randint(7, 11)), words(rng, rng.randint(60, 150)),
                self.now - timedelta(hours=rng.uniform(0, 72)))

    def _item(self, n: int, fresh: bool, title: list[str], text: list[str],
              published: datetime) -> dict[str, Any]:
        return {"title": " ".join(title).capitalize(), "link": f"https://news.example.org/{n}",
                "guid": f"item-{n}", "summary": " ".join(text),
                "published": (self.now if fresh else min(published, self.now)).isoformat(),
                "author": "Staff", "categories": ["defence"]}
