"""When a new item's linked page is worth fetching: the teaser rule of `article = "auto"`.

Pure: no I/O, no clock. A feed that carries the whole story gives nothing more to
match, so in "auto" mode only teasers are fetched: items whose text (the longer of
summary and content, HTML stripped) has fewer than TEASER_WORDS words. An item whose
`content:encoded` holds the full body has more than that and is left alone; a feed that
puts its teaser in `content:encoded` still counts as a teaser. "always" fetches for every
new item, "never" for none. Without an http(s) link there is nothing to fetch.
"""

from __future__ import annotations

import re

from watcher.models import ArticleMode, Item
from watcher.text import plain_text

__all__ = ["TEASER_WORDS", "ArticleMode", "count_words", "is_teaser", "needs_article"]

TEASER_WORDS = 150   # fewer words of item text than this: a teaser (README, "The whole story")
_LOOK = 50_000       # characters of a field read to count them: 150 words fit many times over
_WORD = re.compile(r"\w+")
_HTTP = re.compile(r"https?://[^\s/]+", re.IGNORECASE)


def count_words(text: str, limit: int) -> int:
    """Words (runs of letters/digits) of `text`, counting stops at `limit`."""
    count = 0
    for _ in _WORD.finditer(text):
        count += 1
        if count >= limit:
            break
    return count


def is_teaser(item: Item) -> bool:
    """Does the item's own text fall short of a story (fewer than TEASER_WORDS words)?"""
    longest = max(count_words(plain_text(item.summary[:_LOOK]), TEASER_WORDS),
                  count_words(plain_text(item.content[:_LOOK]), TEASER_WORDS))
    return longest < TEASER_WORDS


def needs_article(item: Item, mode: ArticleMode) -> bool:
    """Should the page behind this new item be fetched and extracted?"""
    if mode == "never" or not item.link or not _HTTP.match(item.link):
        return False
    return mode == "always" or is_teaser(item)
